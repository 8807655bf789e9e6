"""zizmor (PyPI), the GitHub Actions linter, finds nothing above informational in this repository's workflows and
the app-repo templates; every finding suppressed in place says why on the same line."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PROJECT_DIR

pytestmark = pytest.mark.integration  # runs zizmor

WORKFLOW_DIRS = (".github", "minnova_idp/authoring/app_ci")  # the app-repo templates, shipped in the package
# zizmor looks for .github/workflows under a directory it is given; the templates are given file by file.
TARGETS = (".github", *sorted(str(p.relative_to(PROJECT_DIR)) for p in (PROJECT_DIR / WORKFLOW_DIRS[1]).glob("*.yml")))


def zizmor() -> str:
    found = shutil.which("zizmor", path=str(Path(sys.executable).parent)) or shutil.which("zizmor")
    if found is None:
        pytest.skip("zizmor is not installed (pip install -e '.[dev]')")
    return found


def test_zizmor_finds_nothing_above_informational():
    # --offline: no GitHub API (its online audits need a token and the network); the audits of the files themselves.
    result = subprocess.run([zizmor(), "--offline", "--min-severity", "low", "--no-progress", *TARGETS],
                            cwd=PROJECT_DIR, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_every_suppression_says_why():
    ignores = [(path, line) for folder in WORKFLOW_DIRS for path in (PROJECT_DIR / folder).rglob("*.y*ml")
               for line in path.read_text().splitlines() if "zizmor: ignore" in line]
    assert len(ignores) >= 2  # the two pull_request_target triggers of the preview workflows
    for path, line in ignores:
        reason = re.search(r"zizmor: ignore\[[^\]]+\]\s*(.*)", line)
        assert reason and len(reason.group(1).split()) >= 4, f"{path}: {line.strip()}"
