"""tests/support/pod_security.py: the checker refuses what "restricted" refuses."""

from __future__ import annotations

from tests.support.pod_security import restricted_problems


def test_the_checker_refuses_what_restricted_refuses():
    good = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    pod = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    assert restricted_problems(pod, {"c": good}) == []
    assert restricted_problems({"fsGroup": 1001}, {"c": good}) == [
        "c: runAsNonRoot is not true", "c: no seccompProfile RuntimeDefault or Localhost"]
    assert restricted_problems(pod, {"c": {**good, "runAsNonRoot": False}}) == ["c: runAsNonRoot is not true"]
    assert restricted_problems(pod, {"c": None}) == ["c: allowPrivilegeEscalation is not false",
                                                    "c: capabilities.drop lacks ALL"]
    assert restricted_problems(pod, {"c": {**good, "capabilities": {"drop": ["ALL"], "add": ["SYS_ADMIN"]}}}) == [
        "c: capabilities.add beyond NET_BIND_SERVICE"]
