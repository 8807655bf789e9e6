"""A small NetworkPolicy evaluator: given every rendered policy and namespace, may a pod reach another on a port?

It follows the API's own words (kubernetes/api@v0.33.13 networking/v1/types.go), nothing a CNI adds:
- a pod is isolated for a direction when a policy in its namespace selects it (podSelector; empty selects every pod)
  and lists that direction in policyTypes (61-104); a pod no policy isolates allows everything that way (70-91);
- an isolated pod allows a connection when at least one rule of any policy selecting it matches: the rules of all
  such policies combine additively (62-68, 70-91);
- a rule matches when the traffic matches one of its ports (none: every port) AND one of its peers (none: every
  peer) (107-150); a port is the pod's port, by number or by the container port's name, protocol TCP by default,
  `endPort` for ranges (152-172);
- a peer with podSelector only selects pods of the policy's own namespace; with namespaceSelector only, every pod of
  those namespaces; with both, those pods in those namespaces; ipBlock matches the pod's IP within cidr and outside
  every except (174-216);
- a connection needs the source's egress AND the destination's ingress to allow it.
Label selectors: matchLabels and matchExpressions (In, NotIn, Exists, DoesNotExist) are ANDed
(kubernetes/apimachinery pkg/apis/meta/v1/types.go LabelSelector); an empty selector matches everything.
Namespaces carry `kubernetes.io/metadata.name` (set by the API server since 1.21).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any, Iterable

Manifest = dict[str, Any]


@dataclass(frozen=True)
class Pod:
    namespace: str
    labels: dict[str, str]
    ip: str
    ports: dict[str, int] = field(default_factory=dict)  # container port name -> number


def selects(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    if selector is None:
        return False
    if any(labels.get(key) != value for key, value in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
        if operator not in ("In", "NotIn", "Exists", "DoesNotExist"):
            raise ValueError(f"unknown selector operator {operator}")
    return True


def policy_types(spec: dict) -> list[str]:
    """policyTypes, or Kubernetes' default without it: Ingress always, Egress when the policy has egress rules
    (kubernetes/api@v0.33.13 networking/v1/types.go:92-99)."""
    if "policyTypes" in spec:
        return spec["policyTypes"]
    return ["Ingress", *(["Egress"] if spec.get("egress") else [])]


class Cluster:
    def __init__(self, manifests: Iterable[Manifest], extra_namespaces: Iterable[str] = ("kube-system",)):
        manifests = list(manifests)
        self.policies = [m for m in manifests if m["kind"] == "NetworkPolicy"]
        self.namespaces: dict[str, dict[str, str]] = {
            m["metadata"]["name"]: {**m["metadata"].get("labels", {}),
                                    "kubernetes.io/metadata.name": m["metadata"]["name"]}
            for m in manifests if m["kind"] == "Namespace"}
        for name in extra_namespaces:
            self.namespaces.setdefault(name, {"kubernetes.io/metadata.name": name})

    def add_namespace(self, name: str, labels: dict[str, str]) -> None:
        self.namespaces[name] = {**labels, "kubernetes.io/metadata.name": name}

    def _peer_matches(self, peer: dict[str, Any], policy_namespace: str, other: Pod) -> bool:
        if "ipBlock" in peer:
            block, ip = peer["ipBlock"], ipaddress.ip_address(other.ip)
            return (ip in ipaddress.ip_network(block["cidr"])
                    and not any(ip in ipaddress.ip_network(e) for e in block.get("except", [])))
        if "namespaceSelector" in peer:
            if not selects(peer["namespaceSelector"], self.namespaces[other.namespace]):
                return False
        elif other.namespace != policy_namespace:
            return False
        return selects(peer.get("podSelector", {}), other.labels)

    @staticmethod
    def _port_matches(rule_ports: list[dict[str, Any]] | None, target: Pod, port: int, protocol: str) -> bool:
        if not rule_ports:
            return True
        for item in rule_ports:
            if item.get("protocol", "TCP") != protocol:
                continue
            if "port" not in item:
                return True
            wanted = item["port"]
            number = target.ports.get(wanted) if isinstance(wanted, str) else wanted
            if number is not None and number <= port <= item.get("endPort", number):
                return True
        return False

    def _allowed(self, pod: Pod, direction: str, other: Pod, port: int, protocol: str, target: Pod) -> bool:
        key, peers = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
        selecting = [p for p in self.policies if p["metadata"]["namespace"] == pod.namespace
                     and selects(p["spec"]["podSelector"], pod.labels)
                     and direction in policy_types(p["spec"])]
        if not selecting:
            return True
        return any(self._port_matches(rule.get("ports"), target, port, protocol)
                   and (not rule.get(peers) or any(self._peer_matches(peer, p["metadata"]["namespace"], other)
                                                    for peer in rule[peers]))
                   for p in selecting for rule in p["spec"].get(key, []))

    def egress_allows(self, source: Pod, destination: Pod, port: int, protocol: str = "TCP") -> bool:
        """The source's side alone: its namespace's policies let it out to `destination` on `port`."""
        return self._allowed(source, "Egress", destination, port, protocol, destination)

    def ingress_allows(self, source: Pod, destination: Pod, port: int, protocol: str = "TCP") -> bool:
        """The destination's side alone: its namespace's policies let `source` in on `port`."""
        return self._allowed(destination, "Ingress", source, port, protocol, destination)

    def can_reach(self, source: Pod, destination: Pod, port: int, protocol: str = "TCP") -> bool:
        return (self.egress_allows(source, destination, port, protocol)
                and self.ingress_allows(source, destination, port, protocol))
