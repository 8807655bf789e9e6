"""Pull-request previews: the same renderer as dev and prod, plus guard rails for untrusted code.

Argo CD runs `minnova-idp render-preview` (a Config Management Plugin) on the PR's checkout;
this module decides what a preview is. Pure functions, no Pulumi import.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from . import names
from .database import DatabasePlacement
from .app_config import AppConfig, ResourceList, Resources
from .renderer import Manifest, Placement, RenderSettings, build_placement, common_labels, render_app
from .secrets import SecretValues

ENVIRONMENT = names.PREVIEW_ENVIRONMENT
MAX_PR_NUMBER = 10 ** names.MAX_PR_NUMBER_DIGITS - 1
_SHA_RE = re.compile(r"^[0-9a-f]{40}$")
PREVIEW_DATABASE_SIZE = "1Gi"
PREVIEW_DATABASE_RESOURCES = Resources(requests=ResourceList(cpu="50m", memory="128Mi"),
                                       limits=ResourceList(memory="512Mi"))
# What one preview may use in all; generous for an app and its database, small for a cluster.
QUOTA = {"requests.cpu": "2", "requests.memory": "4Gi", "limits.memory": "8Gi", "pods": "20",
         "persistentvolumeclaims": "4", "requests.storage": "10Gi", "services.loadbalancers": "0",
         "services.nodeports": "0"}
CONTAINER_DEFAULT_REQUEST = {"cpu": "50m", "memory": "64Mi"}
CONTAINER_DEFAULT_LIMIT = {"memory": "256Mi"}
CONTAINER_MAX = {"cpu": "2", "memory": "2Gi"}


@dataclass(frozen=True)
class PreviewRequest:
    """What the ApplicationSet tells the plugin: trusted, unlike the PR's own files."""

    app: str
    pr_number: int
    head_sha: str
    preview_domain: str
    deployment: str
    ingress_class: str

    def problems(self) -> list[tuple[str, str]]:
        found = []
        if (why := names.check_app_name(self.app)) is not None:
            found.append(("APP_NAME", why))
        if not 1 <= self.pr_number <= MAX_PR_NUMBER:
            found.append(("PR_NUMBER", f"{self.pr_number} is not a pull request number (1-{MAX_PR_NUMBER})"))
        if not _SHA_RE.match(self.head_sha):
            found.append(("HEAD_SHA", f"'{self.head_sha}' is not a full commit SHA (40 lowercase hex characters)"))
        return found

    @property
    def namespace(self) -> str:
        return names.preview_namespace(self.app, self.pr_number)

    @property
    def host(self) -> str:
        return names.preview_host(self.app, self.pr_number, self.preview_domain)


def preview_placement(app: AppConfig, request: PreviewRequest, secrets: SecretValues | None) -> Placement:
    database = None
    if app.database.enabled:
        # One small instance and no backups: a preview's data is disposable.
        database = DatabasePlacement(instances=1, size=PREVIEW_DATABASE_SIZE, version=app.database.version,
                                     resources=PREVIEW_DATABASE_RESOURCES)
    # app CI pushes <repository>:<head SHA> for pull requests
    return build_placement(app, ENVIRONMENT, request.namespace, request.host, request.head_sha, secrets=secrets,
                           database=database)


def render_preview(app: AppConfig, request: PreviewRequest, secrets: SecretValues | None) -> list[Manifest]:
    placement = preview_placement(app, request, secrets)
    settings = RenderSettings(deployment=request.deployment, ingress_class=request.ingress_class, cluster_issuer=None)
    namespace, *rest = render_app(app, placement, settings)
    labels = common_labels(app, placement, settings)
    namespace["metadata"]["labels"]["minnova.io/preview"] = "true"
    return [namespace, *guard_rails(placement.namespace, labels), *rest]


def guard_rails(namespace: str, labels: dict[str, str]) -> list[Manifest]:
    """A preview runs a pull request's code: cap what it can use and who can reach it."""
    metadata = {"namespace": namespace, "labels": labels}
    return [
        {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "preview-quota", **metadata},
         "spec": {"hard": dict(QUOTA)}},
        {"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "preview-limits", **metadata},
         "spec": {"limits": [{"type": "Container", "defaultRequest": dict(CONTAINER_DEFAULT_REQUEST),
                              "default": dict(CONTAINER_DEFAULT_LIMIT), "max": dict(CONTAINER_MAX)}]}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
         "metadata": {"name": "deny-other-apps", **metadata},
         "spec": {
             "podSelector": {},
             "policyTypes": ["Ingress"],
             "ingress": [{"from": [
                 {"podSelector": {}},  # this preview's own pods (the app and its database)
                 # Every namespace that is not an app's: the ingress controller, operators, monitoring.
                 {"namespaceSelector": {"matchExpressions": [
                     {"key": names.MANAGED_BY_LABEL, "operator": "NotIn", "values": [names.MANAGED_BY]}]}},
             ]}],
         }},
    ]


def to_yaml(objects: list[Manifest]) -> str:
    import yaml

    return yaml.safe_dump_all(objects, sort_keys=False, explicit_start=True)


def check_revision(head_sha: str, revision: str | None) -> list[tuple[str, str]]:
    """Argo CD checked out ARGOCD_APP_REVISION; it must be the head the preview is for."""
    if revision and revision != head_sha:
        return [("ARGOCD_APP_REVISION", f"checked out {revision}, but HEAD_SHA is {head_sha}")]
    return []

