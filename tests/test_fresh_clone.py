"""The README's test command on a fresh clone: no ../shared beside it, and no test may fail for that."""

from __future__ import annotations

import os
import subprocess
import sys

from .conftest import PROJECT_DIR

MISSING = {"MINNOVA_CRDS_DIR": "/nonexistent/crds", "MINNOVA_CHARTS_DIR": "/nonexistent/charts",
           "MINNOVA_SOPS_FIXTURES": "/nonexistent/sops"}


def test_every_test_passes_or_skips_with_a_reason_without_the_shared_inputs(tmp_path):
    """Runs the suite (but this file) as a user who cloned the repository has it: optional inputs missing."""
    if os.environ.get("MINNOVA_FRESH_CLONE_RUN"):  # this very run, nested: nothing more to prove
        return
    env = {**os.environ, **MISSING, "MINNOVA_FRESH_CLONE_RUN": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs",
         "--deselect", "tests/test_fresh_clone.py", "--basetemp", str(tmp_path / "run")],
        cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=900)
    summary = result.stdout.strip().splitlines()[-1]
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in summary and " skipped" in summary, summary
    # Each skip names what is missing and how to provide it.
    skips = [line for line in result.stdout.splitlines() if line.startswith("SKIPPED")]
    for variable in MISSING:
        assert any(variable in line for line in skips), variable
