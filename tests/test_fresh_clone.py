"""The README's test command on a fresh clone: no ../shared beside it, and no test may fail for that."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from tests.conftest import PROJECT_DIR

# A test file can behave differently without ../shared only if it reaches for it: through tests/support/helm.py or
# tests/support/k8s_strict.py, one of the variables, or the path itself. Only those run nested (the rest gives the same
# result either way, and running it twice would double the suite's time).
_USES_SHARED = re.compile(r"from (tests)?\.(helm|k8s_strict|sops_fixtures) import|MINNOVA_(CRDS_DIR|CHARTS_DIR|SOPS_FIXTURES)|\.\./shared"
                          r"|\"shared\"")
MISSING = {"MINNOVA_CRDS_DIR": "/nonexistent/crds", "MINNOVA_CHARTS_DIR": "/nonexistent/charts",
           "MINNOVA_SOPS_FIXTURES": "/nonexistent/sops"}


def test_every_test_passes_or_skips_with_a_reason_without_the_shared_inputs(tmp_path):
    """Runs every test file that uses the shared inputs as a user who cloned the repository has it: missing."""
    if os.environ.get("MINNOVA_FRESH_CLONE_RUN"):  # this very run, nested: nothing more to prove
        return
    env = {**os.environ, **MISSING, "MINNOVA_FRESH_CLONE_RUN": "1"}
    files = sorted(f"tests/{path.name}" for path in (PROJECT_DIR / "tests").glob("test_*.py")
                   if path.name != "test_fresh_clone.py" and _USES_SHARED.search(path.read_text()))
    assert len(files) >= 10, files  # the selection itself can break: it must find the files that use ../shared
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", *files,
         "--basetemp", str(tmp_path / "run")],
        cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=900)
    summary = result.stdout.strip().splitlines()[-1]
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in summary and " skipped" in summary, summary
    # Each skip names what is missing and how to provide it.
    skips = [line for line in result.stdout.splitlines() if line.startswith("SKIPPED")]
    for variable in MISSING:
        assert any(variable in line for line in skips), variable
