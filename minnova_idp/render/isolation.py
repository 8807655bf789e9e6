"""What keeps one app from another, in every namespace the platform makes (environments and previews).

Network: ingress only from the namespace's own pods and from namespaces that are not apps' (the ingress
controller, the CloudNativePG operator, monitoring), or from a named list; the app's pods reach DNS, their own
namespace (their database) and public addresses, never private ranges (other apps' pods, services and
databases, nodes) or link-local ones (cloud metadata). Resources: a ResourceQuota caps what a namespace may
request, and a LimitRange gives containers that declare nothing (operator sidecars) a default. Pure: no Pulumi.
"""

from __future__ import annotations

from typing import Any

from minnova_idp.model import names
from minnova_idp.render.resources import Manifest

# Addresses an app may not reach: private ranges (pods, services, nodes, other apps' databases), carrier-grade
# NAT, loopback and link-local (cloud metadata at 169.254.169.254 and fd00:ec2::254 is inside fc00::/7), Azure's
# platform address 168.63.129.16 (wire server and DNS: reachable from every VM), and the NAT64 prefixes
# (64:ff9b::/96 of RFC 6052 and 64:ff9b:1::/48 of RFC 8215, which embed an IPv4 address: 64:ff9b::a00:1 is 10.0.0.1
# behind a NAT64 gateway) and IPv4-mapped addresses.
PRIVATE_RANGES = {"0.0.0.0/0": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16",
                                "127.0.0.0/8", "168.63.129.16/32"],
                  "::/0": ["fc00::/7", "fe80::/10", "::1/128", "64:ff9b::/96", "64:ff9b:1::/48", "::ffff:0:0/96"]}
# What the restore drill's kubectl pod may not reach: the metadata addresses (it must reach the API server, whose
# address is private and differs by provider).
METADATA_RANGES = {"0.0.0.0/0": ["169.254.0.0/16", "168.63.129.16/32"],
                   "::/0": ["fe80::/10", "fd00:ec2::/32"]}
# The cluster's resolver: CoreDNS keeps the kube-dns Service's pod label (kubeadm, EKS, GKE, AKS, k3s).
# NodeLocal DNSCache answers on a link-local address on the node, which this rule does not allow: a cluster
# running it lists that address here (docs/security.md "Security model").
DNS_PODS = {"namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}}
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"  # set by Kubernetes on every namespace (1.21+)


def ingress_policy(namespace: str, labels: dict[str, str], from_namespaces: list[str] | None = None,
                   own_policy: tuple[str, ...] | None = None,
                   also_own: tuple[tuple[str, str], ...] = ()) -> Manifest:
    """Who may connect to anything in `namespace`: its own pods, and namespaces that are not apps' (or exactly
    `from_namespaces`). Every app namespace carries the managed-by label this tells them apart by.
    `own_policy`: (label, value, ...) of pods left out, which a stricter policy of their own confines (NetworkPolicies
    add up, so this one selecting them too would let in everything it lets in); `also_own`: more such (label,
    value) pairs (MongoDB's pods, render/mongodb.py)."""
    if from_namespaces is None:
        others = {"namespaceSelector": {"matchExpressions": [
            {"key": names.MANAGED_BY_LABEL, "operator": "NotIn", "values": [names.MANAGED_BY]}]}}
    else:
        others = {"namespaceSelector": {"matchExpressions": [
            {"key": NAMESPACE_NAME_LABEL, "operator": "In", "values": sorted(from_namespaces)}]}}
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "deny-other-apps", "namespace": namespace, "labels": labels},
            "spec": {"podSelector": ({"matchExpressions": [
                *([{"key": own_policy[0], "operator": "NotIn", "values": list(own_policy[1:])}] if own_policy else []),
                *({"key": key, "operator": "NotIn", "values": [value]} for key, value in also_own)]}
                                     if own_policy or also_own else {}),
                     "policyTypes": ["Ingress"],
                     "ingress": [{"from": [{"podSelector": {}}, others]}]}}


def egress_policy(namespace: str, labels: dict[str, str], app_pods: dict[str, str], name: str) -> Manifest:
    """What the app's code may reach: DNS, its own namespace (its database), the internet; not other namespaces,
    not the cloud metadata address. It selects the app's pods only: the database's pods run the operator's image
    and must reach the Kubernetes API (a private address); the restore drill's must too."""
    return {
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "podSelector": {"matchLabels": dict(app_pods)},
            "policyTypes": ["Egress"],
            "egress": [
                _dns_rule(),  # the cluster's resolver only: port 53 to anywhere would be a tunnel out
                {"to": [{"podSelector": {}}]},  # the namespace's own pods: the app's database
                {"to": [{"ipBlock": {"cidr": cidr, "except": list(excluded)}}
                        for cidr, excluded in PRIVATE_RANGES.items()]},
            ],
        },
    }


def drill_egress_policy(namespace: str, labels: dict[str, str], name: str, drill_pods: dict[str, str]) -> Manifest:
    """The restore drill's kubectl pod (platform steps, no app input): the cluster's DNS and the Kubernetes API's
    ports (443 through the `kubernetes` Service, 6443 where the endpoint listens there), not the metadata
    addresses. The API server's address differs by provider, hence ports rather than addresses."""
    return {
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "podSelector": {"matchLabels": dict(drill_pods)},
            "policyTypes": ["Egress"],
            "egress": [
                _dns_rule(),
                {"to": [{"ipBlock": {"cidr": cidr, "except": list(excluded)}}
                        for cidr, excluded in METADATA_RANGES.items()],
                 "ports": [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 6443}]},
            ],
        },
    }


def dns_rule() -> dict[str, Any]:
    return _dns_rule()


def _dns_rule() -> dict[str, Any]:
    return {"to": [{"namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: DNS_PODS["namespace"]}},
                    "podSelector": {"matchLabels": dict(DNS_PODS["labels"])}}],
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}


def resource_quota(namespace: str, labels: dict[str, str], name: str, hard: dict[str, str]) -> Manifest:
    return {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": name, "namespace": namespace,
                                                                       "labels": labels},
            "spec": {"hard": dict(hard)}}


def limit_range(namespace: str, labels: dict[str, str], name: str, default_request: dict[str, str],
                default_limit: dict[str, str], maximum: dict[str, str] | None = None) -> Manifest:
    limits: dict[str, Any] = {"type": "Container", "defaultRequest": dict(default_request),
                              "default": dict(default_limit)}
    if maximum:
        limits["max"] = dict(maximum)
    return {"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": name, "namespace": namespace,
                                                                    "labels": labels},
            "spec": {"limits": [limits]}}
