"""Percona Operator for MongoDB: its Helm release at the pinned chart (ADR 0014). Pure: no Pulumi import.

Watch: every namespace (`watchAllNamespaces: true`). App namespaces come and go (an environment per app, a
namespace per preview, created by Argo CD), and the chart's only alternative, `watchNamespace: a,b,c`, renders a
ClusterRole just the same (psmdb-operator-1.22.0 templates/role.yaml:2-5, role-binding.yaml:14-17) and would need
a stack update for every preview. A namespace-scoped Role (the chart's default: the operator's own namespace only)
cannot reach app namespaces at all.
Least privilege otherwise: no telemetry (DISABLE_TELEMETRY, templates/deployment.yaml), a read-only root file
system (the chart then mounts /tmp, templates/deployment.yaml:57-61), no privilege escalation, all capabilities
dropped, non-root.
"""

from __future__ import annotations

from minnova_idp.model import versions
from minnova_idp.render.resources import HelmRelease, Lifecycle, keys

VALUES = {
    "watchAllNamespaces": True,
    "disableTelemetry": True,
    "podSecurityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
    "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]}},
    "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "512Mi"}},
}


def mongodb_operator(cert_manager: HelmRelease) -> HelmRelease:
    """Protected and retained like CloudNativePG: uninstalling the chart would leave every PerconaServerMongoDB
    unmanaged (no failover handling, no backups, no user changes). Its CRDs are not at stake: the chart ships them
    in crds/ (psmdb-operator-1.22.0 crds/crd.yaml), which Helm installs on the first install only and never
    upgrades or deletes; so a chart upgrade needs its CRDs applied first, by hand (docs/mongodb.md "For
    operators"). After cert-manager: the operator issues its clusters' TLS certificates through it when it is
    installed."""
    return HelmRelease(versions.PSMDB_OPERATOR, VALUES,
                       Lifecycle(protect=True, retain_on_delete=True, depends_on=keys(cert_manager)))
