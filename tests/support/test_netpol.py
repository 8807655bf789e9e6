"""The NetworkPolicy evaluator the isolation tests trust (tests/support/netpol.py)."""

from __future__ import annotations

from tests.support.netpol import Cluster, Pod, policy_types

NAMESPACES = [{"kind": "Namespace", "metadata": {"name": name}} for name in ("a", "b")]


def _policy(spec: dict) -> dict:
    return {"kind": "NetworkPolicy", "metadata": {"name": "p", "namespace": "a"}, "spec": {"podSelector": {}, **spec}}


def test_without_policy_types_an_egress_section_isolates_egress():
    """kubernetes/api@v0.33.13 networking/v1/types.go:92-99: "policies that contain an egress section are assumed to
    affect egress"; the evaluator took every policy without policyTypes as ingress-only."""
    cluster = Cluster([_policy({"egress": [{"to": [{"podSelector": {"matchLabels": {"x": "y"}}}]}]}), *NAMESPACES])
    source, target = Pod("a", {}, "10.0.0.1"), Pod("b", {}, "10.0.0.2", {"http": 80})
    assert not cluster.egress_allows(source, target, 80)
    assert cluster.egress_allows(source, Pod("a", {"x": "y"}, "10.0.0.3", {"http": 80}), 80)  # the rule's peer
    # ingress is isolated too (every policy affects ingress), with no ingress rule: nothing in
    assert not cluster.ingress_allows(Pod("b", {}, "10.0.0.4"), Pod("a", {}, "10.0.0.5", {"http": 80}), 80)


def test_policy_types_default_and_explicit():
    assert policy_types({}) == ["Ingress"]
    assert policy_types({"egress": []}) == ["Ingress"]  # an empty section is no egress rule
    assert policy_types({"ingress": [{}], "egress": [{}]}) == ["Ingress", "Egress"]
    assert policy_types({"egress": [{}], "policyTypes": ["Egress"]}) == ["Egress"]
    # an explicit egress-only policy leaves ingress open
    cluster = Cluster([_policy({"egress": [{}], "policyTypes": ["Egress"]}), *NAMESPACES])
    assert cluster.ingress_allows(Pod("b", {}, "10.0.0.4"), Pod("a", {}, "10.0.0.5", {"http": 80}), 80)
