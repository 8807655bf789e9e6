"""Who reached for ../shared in this session: the fresh-clone check reruns exactly those tests without it.

Every way into ../shared (CRDs, charts, sops fixtures) goes through tests/support/ (k8s_strict.py, helm.py,
sops_fixtures.py), and each of those calls `record()` there; tests/conftest.py says which test is running.
tests/test_fresh_clone.py runs last and reruns the recorded tests with the three directories missing.
"""

from __future__ import annotations

CURRENT: list[str] = []  # the node id of the test being set up or run (one element at most)
USED: set[str] = set()  # node ids of this session's tests that reached for ../shared
STICKY: set[str] = set()  # module- and session-scoped fixtures that reached for it (their users did too)


def record() -> None:
    if CURRENT:
        USED.add(CURRENT[0])
