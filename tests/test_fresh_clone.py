"""The README's test command on a fresh clone: no ../shared beside it, and no test may fail for that.

Every way into ../shared goes through tests/support/ (k8s_strict.py, helm.py, sops_fixtures.py), which records the
test that used it and through which entry point (tests/support/shared.py). This test runs last. Without the three
directories, in a nested pytest run, it reruns:
- for each entry point that skips when its directory is absent (shared.SKIPS_WHEN_ABSENT), the cheapest recorded test
  that used it: it must skip with a reason naming the variable to set. Every other test whose accesses all went
  through those entry points, with no handler on the stack able to catch pytest's skip, skips at its first access
  the same way: what runs before that access read nothing of ../shared and passed in this session.
- every other recorded test (one that called an entry point returning instead of skipping, e.g. crds_dir(), or with
  a handler on the stack that could catch the skip): it must pass, or skip naming what is missing.
The other tests never read ../shared, so they behave the same either way (test_no_test_reaches_for_shared_but_through_
support holds that). Rerunning every recorded test instead took about half the suite's time, for the same proof.
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
from tests.support.outcomes import OUTCOMES_ENV

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


def what_to_rerun(used: dict[str, shared.Access], durations: dict[str, float]) -> tuple[dict[str, str], list[str]]:
    """({entry point: its cheapest test that skips at its first access, made through it}, [tests rerun whole])."""
    whole = sorted(node for node, access in used.items() if not access.skips_at_first_access)
    representatives: dict[str, str] = {}
    for node, access in sorted(used.items(), key=lambda item: (durations.get(item[0], 0.0), item[0])):
        if access.skips_at_first_access:
            representatives.setdefault(access.kinds[0], node)
    return representatives, whole


def run_without_shared(tmp_path, arguments: list[str], selected: list[str] | None) -> tuple[dict, str]:
    """The outcome of each test run in a nested pytest with the three directories missing, and pytest's output."""
    outcomes = tmp_path / "outcomes.json"
    env = {**os.environ, **MISSING, "MINNOVA_FRESH_CLONE_RUN": "1", OUTCOMES_ENV: str(outcomes)}
    if selected is not None:
        selection = tmp_path / "selected.json"
        selection.write_text(json.dumps(selected))
        env[SELECT_ENV] = str(selection)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.support.outcomes", "-rs",
         *arguments, "--basetemp", str(tmp_path / "run")],
        cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return json.loads(outcomes.read_text()), result.stdout


def test_every_test_that_used_shared_passes_or_skips_with_a_reason_without_it(tmp_path):
    if os.environ.get("MINNOVA_FRESH_CLONE_RUN"):  # this very run, nested: nothing more to prove
        return
    if not shared.USED:  # run alone: the fallback files, whole
        outcomes, output = run_without_shared(tmp_path, FALLBACK, None)
        assert {o["outcome"] for o in outcomes.values()} <= {"passed", "skipped"}, output[-4000:]
        reasons = [o["reason"] for o in outcomes.values() if o["outcome"] == "skipped"]
        for variable in MISSING:  # each skip names what is missing and how to provide it
            assert any(variable in reason for reason in reasons), (variable, output[-4000:])
        return

    representatives, whole = what_to_rerun(shared.USED, shared.DURATIONS)
    selected = sorted(set(representatives.values()) | set(whole))
    print(f"{len(shared.USED)} tests reached for ../shared; rerun without it: one per entry point {representatives}, "
          f"and {len(whole)} whole: {whole}")
    outcomes, output = run_without_shared(tmp_path, sorted({node.split("::")[0] for node in selected}), selected)

    assert sorted(outcomes) == selected, output[-4000:]  # exactly those ran
    for kind, node in representatives.items():  # each entry point skips, naming its variable
        assert outcomes[node]["outcome"] == "skipped", (kind, node, outcomes[node])
        assert shared.SKIPS_WHEN_ABSENT[kind] in outcomes[node]["reason"], (kind, node, outcomes[node])
    for node in whole:
        outcome = outcomes[node]
        assert outcome["outcome"] == "passed" or (
            outcome["outcome"] == "skipped" and any(variable in outcome["reason"] for variable in MISSING)), \
            (node, outcome)
    reasons = [o["reason"] for o in outcomes.values() if o["outcome"] == "skipped"]
    for variable in MISSING:
        assert any(variable in reason for reason in reasons), variable
