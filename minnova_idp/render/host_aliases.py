"""An environment's other hosts (app.yaml `environments.<env>.aliases`) as objects: the hosts the app's Ingress
serves and its certificate covers, and for the ones that redirect, a Traefik Middleware and an Ingress of their own.

The redirect is Traefik's RedirectRegex middleware (the ingress controller of the platform's stacks,
`minnova:ingressClass: traefik`), read in traefik/traefik@v3.7.9:
- pkg/middlewares/redirect/redirect_regex.go:23-48: the URL it matches is `scheme://host[:port]` + `req.RequestURI`,
  Go's unmodified request-target (path and query, net/http Request.RequestURI);
- pkg/middlewares/redirect/redirect.go:54-76: `ReplaceAllString(oldURL, replacement)`, then a redirect to the
  result; :100-105: `permanent` answers 301 (GET) or 308 (other methods, which keep their method and body);
- pkg/provider/kubernetes/crd/kubernetes.go:48-49,253,1493-1498: a Middleware is `<namespace>-<name>@kubernetescrd`,
  the name the Ingress annotation `traefik.ingress.kubernetes.io/router.middlewares` gives
  (pkg/provider/kubernetes/ingress/annotations.go:13,27).
The regex captures everything after the authority, so `https://www.example.com/a/b?x=1` goes to
`https://example.com/a/b?x=1` (tests/render/test_host_aliases.py runs it through Go's regexp).

One certificate covers every host: cert-manager's ingress-shim makes one Certificate per TLS `secretName` of an
annotated Ingress, its dnsNames the entry's hosts (cert-manager/cert-manager@v1.19.5
pkg/controller/certificate-shim/sync.go:309-320,399-412), with no limit on their number and no common name set
(internal/apis/certmanager/validation/certificate.go:124-136 limits only a common name, to 64 characters); Let's
Encrypt allows 100 names per certificate, app_config.MAX_ALIASES keeps far below. Only the app's own Ingress carries
the issuer annotation: the redirect Ingress names the same secret without it, so no second Certificate claims it.
"""

from __future__ import annotations

from typing import Any

Manifest = dict[str, Any]

TRAEFIK_MIDDLEWARES_ANNOTATION = "traefik.ingress.kubernetes.io/router.middlewares"
TRAEFIK_CRD_PROVIDER = "kubernetescrd"  # traefik@v3.7.9 pkg/provider/kubernetes/crd/kubernetes.go:48
# Everything after `scheme://authority` (path and query), traefik's rawURL (redirect_regex.go:23-48).
REDIRECT_REGEX = r"^https?://[^/]+(.*)$"


def redirect_name(app: str) -> str:
    """The redirecting Ingress and its Middleware (a process named `redirect` is a Deployment: another kind)."""
    return f"{app}-redirect"


def serving_hosts(host: str, aliases: tuple[tuple[str, bool], ...]) -> list[str]:
    """The hosts the app's Ingress routes to the app: its host and the aliases that do not redirect."""
    return [host, *(alias for alias, redirect in aliases if not redirect)]


def redirecting_hosts(aliases: tuple[tuple[str, bool], ...]) -> list[str]:
    return [alias for alias, redirect in aliases if redirect]


def redirect_replacement(host: str) -> str:
    """Go regexp replacement syntax: `${1}`, not `$1` (which Go would read as a group named `1` followed by more)."""
    return f"https://{host}${{1}}"


def render_redirect_middleware(app: str, namespace: str, labels: dict[str, str], host: str) -> Manifest:
    return {
        "apiVersion": "traefik.io/v1alpha1",
        "kind": "Middleware",
        "metadata": {"name": redirect_name(app), "namespace": namespace, "labels": labels},
        "spec": {"redirectRegex": {"regex": REDIRECT_REGEX, "replacement": redirect_replacement(host),
                                   "permanent": True}},
    }


def render_redirect_ingress(app: str, namespace: str, labels: dict[str, str], ingress_class: str,
                            hosts: list[str], tls_secret: str | None, backend: dict[str, Any]) -> Manifest:
    """Routes the redirecting aliases through the Middleware. The backend is never reached (every URL matches the
    regex) but an Ingress path needs one; it names the app's own Service, nothing another app has."""
    tls: dict[str, Any] = {"hosts": hosts}
    if tls_secret is not None:
        tls["secretName"] = tls_secret
    middleware = f"{namespace}-{redirect_name(app)}@{TRAEFIK_CRD_PROVIDER}"
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": redirect_name(app), "namespace": namespace, "labels": labels,
                     "annotations": {TRAEFIK_MIDDLEWARES_ANNOTATION: middleware}},
        "spec": {
            "ingressClassName": ingress_class,
            "tls": [tls],
            "rules": [{"host": host, "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]}}
                      for host in hosts],
        },
    }


def alias_record_name(prefix: str, host: str) -> str:
    """The Pulumi name of an alias's DNS record: by host, so adding or removing one alias leaves the others."""
    return f"{prefix}-dns-alias-{host}"

