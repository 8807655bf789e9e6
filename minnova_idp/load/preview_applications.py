"""Every preview's Argo CD Application, read from the Kubernetes API by render-preview in its sidecar (the cap:
policy/preview_cap.py).

The repo server's ServiceAccount may list Applications in Argo CD's namespace, nothing else (argocd.chart_values,
`repoServer.rbac`, the chart's own example: argo-cd chart 10.1.1 values.yaml repoServer.rbac,
templates/argocd-repo-server/role.yaml); its token is mounted in every container of the pod, the plugin sidecar
included. It asks for metadata only (a PartialObjectMetadataList, the media type client-go's metadata client
and kube-rs kube-core request.rs JSON_METADATA_LIST_MIME send; served for custom resources too), so no
Application's spec or status reaches the sidecar; the full list, which a server without it answers instead, parses
the same. (Not run against a live API server here: no cluster.) Only names, one label, creation and deletion times are
kept. Standard library only: this runs on every preview render (issue 21 measures its start-up).
"""

from __future__ import annotations

import json
import os
import ssl
import urllib.parse
import urllib.request
from pathlib import Path

from minnova_idp.model.errors import ConfigError, Problem
from minnova_idp.policy.preview_cap import PreviewApplication

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
APP_LABEL, PREVIEW_LABEL = "minnova.io/app", "minnova.io/preview"  # argocd.render_application_set sets both
TIMEOUT_SECONDS = 10
# The metadata-only form first; plain JSON (the full list) where the server offers no other.
ACCEPT = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1, application/json"


def applications_url(environ: dict[str, str] | os._Environ, namespace: str) -> str:
    host, port = environ.get("KUBERNETES_SERVICE_HOST"), environ.get("KUBERNETES_SERVICE_PORT", "443")
    if not host:
        raise ConfigError([Problem("render-preview", message="KUBERNETES_SERVICE_HOST is not set: the preview cap "
                                   "reads Argo CD's Applications from inside the cluster")])
    host = f"[{host}]" if ":" in host else host
    selector = urllib.parse.quote(f"{PREVIEW_LABEL}=true", safe="")
    return (f"https://{host}:{port}/apis/argoproj.io/v1alpha1/namespaces/{urllib.parse.quote(namespace)}"
            f"/applications?labelSelector={selector}")


def parse_applications(body: bytes) -> list[PreviewApplication]:
    """A PartialObjectMetadataList's (or an ApplicationList's) previews; one without the app label or a creation
    time is not a preview of ours. A deletionTimestamp marks one being deleted (preview_cap: it holds no slot)."""
    items = json.loads(body).get("items") or []
    found = []
    for item in items:
        metadata = item.get("metadata") or {}
        app, created = (metadata.get("labels") or {}).get(APP_LABEL), metadata.get("creationTimestamp")
        if isinstance(metadata.get("name"), str) and isinstance(app, str) and isinstance(created, str):
            found.append(PreviewApplication(metadata["name"], app, created,
                                            deleting=bool(metadata.get("deletionTimestamp"))))
    return found


def applications_request(environ, namespace: str, token: str) -> urllib.request.Request:
    return urllib.request.Request(applications_url(environ, namespace),
                                  headers={"Authorization": f"Bearer {token}", "Accept": ACCEPT})


def read_preview_applications(environ=os.environ, account_dir: Path = SERVICE_ACCOUNT_DIR) -> list[PreviewApplication]:
    """Fails closed, naming what failed: a preview is never rendered past a cap it could not check."""
    try:
        token = (account_dir / "token").read_text().strip()
        namespace = (account_dir / "namespace").read_text().strip()
        context = ssl.create_default_context(cafile=str(account_dir / "ca.crt"))
        request = applications_request(environ, namespace, token)
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS, context=context) as response:  # noqa: S310
            return parse_applications(response.read())
    except ConfigError:
        raise
    except (OSError, ValueError, ssl.SSLError) as exc:  # URLError and HTTPError are OSErrors
        raise ConfigError([Problem("render-preview", message=f"could not list the preview Applications to check the "
                                   f"preview cap: {exc}", hint="the repo server's ServiceAccount needs list "
                                   "on applications.argoproj.io in Argo CD's namespace (the platform's chart values "
                                   "give it); the render is retried")]) from None
