"""The README's test command on a fresh clone: no ../shared beside it, and no test may fail for that.

Every way into ../shared goes through tests/support/ (k8s_strict.py, helm.py, sops_fixtures.py), which records the
test that used it (tests/support/shared.py). This test runs last and reruns exactly those tests with the three
directories missing: each must pass or skip naming what is missing. The other tests never read ../shared, so they
behave the same either way (test_no_test_reaches_for_shared_but_through_support holds that).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from tests.conftest import PROJECT_DIR, SELECT_ENV
from tests.support import shared

pytestmark = pytest.mark.integration

MISSING = {"MINNOVA_CRDS_DIR": "/nonexistent/crds", "MINNOVA_CHARTS_DIR": "/nonexistent/charts",
           "MINNOVA_SOPS_FIXTURES": "/nonexistent/sops"}
SUPPORT = {"k8s_strict.py", "helm.py", "sops_fixtures.py", "shared.py"}
# When this file runs alone, nothing was recorded: these reach for each of the three directories.
FALLBACK = ["tests/support/test_k8s_strict.py", "tests/render/test_argocd.py", "tests/sops/test_document.py"]
_REACHES = re.compile(r"MINNOVA_(CRDS|CHARTS)_DIR|MINNOVA_SOPS_FIXTURES|\.\./shared|[\"']shared[\"']")


def test_no_test_reaches_for_shared_but_through_support():
    """So the recorded tests are all the tests that can differ without ../shared."""
    offenders = [str(path.relative_to(PROJECT_DIR)) for path in (PROJECT_DIR / "tests").rglob("*.py")
                 if path.name not in SUPPORT and path.name != "test_fresh_clone.py"
                 and _REACHES.search(re.sub(r"#.*", "", path.read_text()))]
    assert offenders == []


def test_every_test_that_used_shared_passes_or_skips_with_a_reason_without_it(tmp_path):
    if os.environ.get("MINNOVA_FRESH_CLONE_RUN"):  # this very run, nested: nothing more to prove
        return
    recorded = sorted(shared.USED)
    arguments = sorted({node.split("::")[0] for node in recorded}) if recorded else FALLBACK
    selection = tmp_path / "selected.json"
    selection.write_text(json.dumps(recorded))
    env = {**os.environ, **MISSING, "MINNOVA_FRESH_CLONE_RUN": "1", **({SELECT_ENV: str(selection)} if recorded else {})}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", *arguments,
         "--basetemp", str(tmp_path / "run")],
        cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=900)
    summary = result.stdout.strip().splitlines()[-1]
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " skipped" in summary, summary
    # Each skip names what is missing and how to provide it.
    skips = [line for line in result.stdout.splitlines() if line.startswith("SKIPPED")]
    for variable in MISSING:
        assert any(variable in line for line in skips), variable
    if recorded:  # exactly the recorded tests ran
        counts = {word: int(number) for number, word in re.findall(r"(\d+) (passed|skipped|failed|error)", summary)}
        assert counts.get("passed", 0) + counts.get("skipped", 0) == len(recorded), (summary, len(recorded))
