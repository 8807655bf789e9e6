"""A pytest plugin for the nested fresh-clone run (`-p tests.support.outcomes`, tests/test_fresh_clone.py): each
test's outcome, and its skip reason, written as JSON to the file named by $MINNOVA_FRESH_CLONE_OUTCOMES."""

from __future__ import annotations

import json
import os

OUTCOMES_ENV = "MINNOVA_FRESH_CLONE_OUTCOMES"
_OUTCOMES: dict[str, dict] = {}


def pytest_runtest_logreport(report):
    found = _OUTCOMES.get(report.nodeid)
    if report.failed:
        _OUTCOMES[report.nodeid] = {"outcome": "failed", "when": report.when}
    elif report.skipped and found is None:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        _OUTCOMES[report.nodeid] = {"outcome": "skipped", "reason": reason}
    elif report.when == "call" and found is None:
        _OUTCOMES[report.nodeid] = {"outcome": "passed"}


def pytest_sessionfinish(session):
    with open(os.environ[OUTCOMES_ENV], "w") as out:
        json.dump(_OUTCOMES, out, indent=1, sort_keys=True)
