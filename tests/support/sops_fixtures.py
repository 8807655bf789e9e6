"""Files the real sops CLI wrote (../shared/fixtures/sops, or MINNOVA_SOPS_FIXTURES): tests that read one skip,
saying how to provide them, where they are absent (a fresh clone)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import PROJECT_DIR
from tests.support import shared

SOPS_FIXTURES = Path(os.environ.get("MINNOVA_SOPS_FIXTURES") or PROJECT_DIR.parent / "shared" / "fixtures" / "sops")


def sops_fixture(name: str) -> Path:
    shared.record("sops_fixture")
    path = SOPS_FIXTURES / name
    if not path.is_file():
        pytest.skip(f"sops fixture {name} not found in {SOPS_FIXTURES} (set MINNOVA_SOPS_FIXTURES to the "
                    "fixtures directory)")
    return path
