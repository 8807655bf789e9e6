"""DNS and TLS objects of a stack, written once as pure functions (no Pulumi import).

Certificates come from Let's Encrypt through cert-manager, with DNS-01 challenges answered
in Cloudflare by a token that can edit DNS in the stack's zone and nothing else.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

from minnova_idp.model import names, versions

if TYPE_CHECKING:  # annotations only: render-preview renders without loading the stack models
    from minnova_idp.model.stack_settings import StackSettings

Manifest = dict[str, Any]

ACME_SERVERS = {
    "letsencrypt-prod": "https://acme-v02.api.letsencrypt.org/directory",
    "letsencrypt-staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
}
DNS_TOKEN_SECRET = "cloudflare-api-token"
DNS_TOKEN_KEY = "api-token"
PLATFORM_NAMESPACE = "minnova-system"
PREVIEW_CERTIFICATE = "preview-wildcard"
PREVIEW_TLS_SECRET = "preview-wildcard-tls"
# Cloudflare permission groups the DNS-01 token needs, looked up by name (cert-manager's documented set).
DNS_PERMISSION_GROUPS = ("DNS Write", "Zone Read")
AUTOMATIC_TTL = 1  # Cloudflare's "auto"


def record_type(address: str) -> str:
    """A for an IPv4 address, AAAA for IPv6, CNAME for a host name."""
    try:
        return "A" if ipaddress.ip_address(address).version == 4 else "AAAA"
    except ValueError:
        return "CNAME"


def in_zone(host: str, zone: str) -> bool:
    return host == zone or host.endswith(f".{zone}")


def zone_resource(zone_id: str) -> str:
    """The API-token resource naming exactly one zone."""
    return f"com.cloudflare.api.account.zone.{zone_id}"


def dns_token_data(token_id: str, token_value: str) -> dict[str, str]:
    """The DNS-01 token as cert-manager's Cloudflare solver reads it (the id is not needed)."""
    return {DNS_TOKEN_KEY: token_value}


def render_dns_token_secret(data: Any) -> Manifest:
    """Where the ClusterIssuers find the DNS-01 token: cert-manager's own namespace. `data`: its stringData."""
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": DNS_TOKEN_SECRET, "namespace": versions.CERT_MANAGER.namespace},
            "type": "Opaque", "stringData": data}


def render_cluster_issuers(settings: StackSettings) -> list[Manifest]:
    """Let's Encrypt production and staging issuers (Ingresses name one: minnova:clusterIssuer).

    The token secret they name lives in cert-manager's own namespace, where ClusterIssuers look.
    """
    issuers = []
    for name, server in ACME_SERVERS.items():
        acme: dict[str, Any] = {
            "server": server,
            "privateKeySecretRef": {"name": f"{name}-account-key"},
            "solvers": [{
                "selector": {"dnsZones": [settings.base_domain]},
                "dns01": {"cloudflare": {"apiTokenSecretRef": {"name": DNS_TOKEN_SECRET, "key": DNS_TOKEN_KEY}}},
            }],
        }
        if settings.acme_email:
            acme["email"] = settings.acme_email
        issuers.append({"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer",
                        "metadata": {"name": name, "labels": names.managed_labels()},
                        "spec": {"acme": acme}})
    return issuers


def render_preview_certificate(settings: StackSettings) -> Manifest:
    """One wildcard certificate for every preview host: no per-preview issuance, no rate limits.

    It lives in the platform namespace; make it the ingress controller's default certificate
    (docs/dns-tls.md: "Preview TLS"), since preview Ingresses name their host but no secret.
    """
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": PREVIEW_CERTIFICATE, "namespace": PLATFORM_NAMESPACE,
                     "labels": names.managed_labels()},
        "spec": {
            "secretName": PREVIEW_TLS_SECRET,
            "dnsNames": [f"*.{settings.preview_domain}"],
            "issuerRef": {"name": settings.cluster_issuer, "kind": "ClusterIssuer", "group": "cert-manager.io"},
        },
    }


def render_platform_namespace() -> Manifest:
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": PLATFORM_NAMESPACE, "labels": names.managed_labels()}}
