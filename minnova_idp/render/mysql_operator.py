"""mariadb-operator 26.6.0 on the platform (ADR 0013): its CRDs and the operator, with least-privilege values.

Two releases, as the project ships them (mariadb-operator@v26.6.0 deploy/charts, docs/helm.md:78-101): the CRDs in
their own chart, so the operator's chart can be upgraded or reinstalled without touching the CRDs (uninstalling a
chart that owns CRDs deletes every MariaDB, and its volumes' claims with it). Both protected and retained, like
CloudNativePG's (declaration.py). Pure: no Pulumi import.
"""

from __future__ import annotations

from typing import Any

from minnova_idp.model import versions
from minnova_idp.render.resources import HelmRelease, Lifecycle, keys

# The "restricted" Pod Security Standard for the operator's own pods (the chart sets nothing by default:
# deploy/charts/mariadb-operator/values.yaml `podSecurityContext: {}`, `securityContext: {}`).
POD_SECURITY = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
CONTAINER_SECURITY = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                      "readOnlyRootFilesystem": True, "runAsNonRoot": True}


def operator_values() -> dict[str, Any]:
    """The chart's values (rendered through the real chart in tests/render/test_mysql_operator.py)."""
    image = {"repository": "ghcr.io/mariadb-operator/mariadb-operator", "tag": versions.MARIADB_OPERATOR.version}
    return {
        # The CRDs come from their own release (mysql_operator_releases), never from this chart.
        "crds": {"enabled": False},
        "image": image,
        # Watches every namespace: the apps' MariaDBs live in their own (currentNamespaceOnly would confine it to
        # the operator's, templates/operator/rbac-namespace.yaml).
        "currentNamespaceOnly": False,
        # Not aggregated into the cluster's built-in view/edit roles (templates/operator/rbac-user.yaml): whoever
        # may edit a namespace would otherwise be able to create Users and Grants on any MariaDB in it.
        "rbac": {"enabled": True, "aggregation": {"enabled": False}},
        "metrics": {"enabled": False},
        "podSecurityContext": POD_SECURITY,
        "securityContext": CONTAINER_SECURITY,
        "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
        # The admission webhook refuses what the operator cannot do (a smaller volume, a changed immutable field:
        # internal/webhook/v1alpha1/mariadb_webhook.go:61-86). Its certificate from cert-manager, which the
        # platform runs already, so the chart's cert-controller (which patches webhook configurations cluster-wide,
        # templates/cert-controller/rbac.yaml) is not installed at all (its templates require
        # `not webhook.cert.certManager.enabled`).
        "webhook": {"enabled": True, "image": image, "cert": {"certManager": {"enabled": True}},
                    "podSecurityContext": POD_SECURITY, "securityContext": CONTAINER_SECURITY,
                    "resources": {"requests": {"cpu": "10m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}}},
        "certController": {"enabled": False},
        # What a MariaDB that names no image would run; ours always name one (versions.MARIADB_IMAGES).
        "config": {"mariadbImage": {"repository": "docker.io/library/mariadb",
                                    "tag": versions.MARIADB_IMAGES[versions.DEFAULT_MARIADB_VERSION].split(":")[-1]}},
    }


def mysql_operator_releases(cert_manager: HelmRelease) -> list[HelmRelease]:
    crds = HelmRelease(versions.MARIADB_OPERATOR_CRDS, {}, Lifecycle(protect=True, retain_on_delete=True))
    operator = HelmRelease(versions.MARIADB_OPERATOR, operator_values(),
                           Lifecycle(protect=True, retain_on_delete=True, depends_on=keys(cert_manager, crds)))
    return [crds, operator]
