"""Declared Kubernetes objects and Helm releases as pulumi_kubernetes resources.

Objects are registered through one thin class, `KubernetesObject`, not pulumi_kubernetes' typed classes:
the engine and the provider receive the same request (type token, inputs, provider, version, secret
wrapping; tests/plan/test_recorder.py compares them), without the typed classes' per-object cost (input and
output type metadata, and alias specs). The one difference is those aliases: the typed classes alias
every kind to its older API versions (`kubernetes:apps/v1beta1:Deployment`...), so that a stack created
under them is not replaced. This program has only ever created these kinds under the versions below,
so no stack of it holds a resource under an older type and the aliases can never match (why, and the
numbers: docs/benchmarks.md, "The thin registration path").
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from minnova_idp.plan.pulumi_internals import kubernetes_sdk_version
from minnova_idp.render.resources import HelmRelease
from minnova_idp.render.resources import KubernetesObject as DeclaredObject

# The built-in kinds we create, with the older API versions pulumi_kubernetes' typed class for each aliases
# (read in pulumi_kubernetes 4.34.2, e.g. apps/v1/Deployment.py); the thin path sends none of them.
BUILT_IN: dict[tuple[str, str], tuple[str, ...]] = {
    ("v1", "Namespace"): (),
    ("v1", "Service"): (),
    ("v1", "Secret"): (),
    ("apps/v1", "Deployment"): ("apps/v1beta1", "apps/v1beta2", "extensions/v1beta1"),
    ("networking.k8s.io/v1", "Ingress"): ("extensions/v1beta1", "networking.k8s.io/v1beta1"),
    ("policy/v1", "PodDisruptionBudget"): ("policy/v1beta1",),
    ("v1", "ConfigMap"): (),
    ("v1", "PersistentVolumeClaim"): (),
    ("v1", "ServiceAccount"): (),
    ("rbac.authorization.k8s.io/v1", "Role"): ("rbac.authorization.k8s.io/v1alpha1", "rbac.authorization.k8s.io/v1beta1"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): ("rbac.authorization.k8s.io/v1alpha1",
                                                      "rbac.authorization.k8s.io/v1beta1"),
    ("batch/v1", "CronJob"): ("batch/v1beta1", "batch/v2alpha1"),
    ("v1", "ResourceQuota"): (),
    ("v1", "LimitRange"): (),
    ("networking.k8s.io/v1", "NetworkPolicy"): ("extensions/v1beta1",),
    ("batch/v1", "Job"): (),
    ("autoscaling/v2", "HorizontalPodAutoscaler"): ("autoscaling/v1", "autoscaling/v2beta1", "autoscaling/v2beta2"),
    ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy"): ("admissionregistration.k8s.io/v1alpha1",
                                                                        "admissionregistration.k8s.io/v1beta1"),
    ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding"): ("admissionregistration.k8s.io/v1alpha1",
                                                                               "admissionregistration.k8s.io/v1beta1"),
}

# Custom resources we create (as apiextensions.CustomResource registers them: no aliases).
# Anything else, built-in or custom, is a mistake worth failing on.
CUSTOM = {
    ("postgresql.cnpg.io/v1", "Cluster"),
    ("postgresql.cnpg.io/v1", "ScheduledBackup"),
    ("postgresql.cnpg.io/v1", "Backup"),  # a major upgrade's first base backup (render/database.py)
    ("barmancloud.cnpg.io/v1", "ObjectStore"),
    ("psmdb.percona.com/v1", "PerconaServerMongoDB"),
    ("psmdb.percona.com/v1", "PerconaServerMongoDBRestore"),
    ("cert-manager.io/v1", "ClusterIssuer"),
    ("cert-manager.io/v1", "Certificate"),
    ("argoproj.io/v1alpha1", "AppProject"),
    ("argoproj.io/v1alpha1", "ApplicationSet"),
    # mariadb-operator's (render/mysql.py)
    ("k8s.mariadb.com/v1alpha1", "MariaDB"),
    ("k8s.mariadb.com/v1alpha1", "Database"),
    ("k8s.mariadb.com/v1alpha1", "User"),
    ("k8s.mariadb.com/v1alpha1", "Grant"),
    ("k8s.mariadb.com/v1alpha1", "PhysicalBackup"),
    ("k8s.mariadb.com/v1alpha1", "PointInTimeRecovery"),
    # Traefik's, a redirecting host alias (render/host_aliases.py)
    ("traefik.io/v1alpha1", "Middleware"),
}

# What the typed Secret class wraps whole as a secret and declares among its secret outputs.
SECRET_FIELDS = ("data", "stringData")
# The version every pulumi_kubernetes resource sends (its default resource options).
VERSION = kubernetes_sdk_version()


def type_token(api_version: str, kind: str) -> str:
    """An object's Pulumi type, as pulumi_kubernetes names it ("v1" is "core/v1"); part of every URN."""
    return f"kubernetes:{'core/v1' if api_version == 'v1' else api_version}:{kind}"


class KubernetesObject(pulumi.CustomResource):
    """A Kubernetes object: its manifest as it is sent (camelCase keys), under its pulumi_kubernetes type.

    `opts` becomes the resource's own (it gets the version and, for a Secret, its secret outputs).
    Nothing reads its outputs.
    """

    def __init__(self, resource_name: str, manifest: dict[str, Any], opts: pulumi.ResourceOptions):
        key = (manifest["apiVersion"], manifest["kind"])
        if key not in BUILT_IN and key not in CUSTOM:
            raise TypeError(f"no resource type for {key[0]} {key[1]}; add it to components/kubernetes.py")
        props = dict(manifest)
        if key == ("v1", "Secret"):
            for field in SECRET_FIELDS:
                if props.get(field) is not None:
                    props[field] = pulumi.Output.secret(props[field])
            opts.additional_secret_outputs = [*(opts.additional_secret_outputs or []), *SECRET_FIELDS]
        if opts.version is None:
            opts.version = VERSION
        super().__init__(type_token(*key), resource_name, props, opts)


def create_object(declared: DeclaredObject, manifest: dict[str, Any],
                  opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
    """`manifest`: the declared manifest with its secret values already turned into Pulumi secrets."""
    return KubernetesObject(declared.name, manifest, opts)


def create_release(declared: HelmRelease, opts: pulumi.ResourceOptions) -> k8s.helm.v3.Release:
    chart = declared.chart
    return k8s.helm.v3.Release(
        declared.name,
        name=chart.release_name,
        chart=chart.name,
        version=chart.version,
        namespace=chart.namespace,
        create_namespace=True,
        repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repository),
        values=declared.values,
        opts=opts,
    )
