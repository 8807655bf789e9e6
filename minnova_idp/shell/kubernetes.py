"""Declared Kubernetes objects and Helm releases as typed pulumi_kubernetes resources."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from ..core.resources import HelmRelease, KubernetesObject

_RESOURCE_CLASSES: dict[tuple[str, str], type[pulumi.CustomResource]] = {
    ("v1", "Namespace"): k8s.core.v1.Namespace,
    ("v1", "Service"): k8s.core.v1.Service,
    ("v1", "Secret"): k8s.core.v1.Secret,
    ("apps/v1", "Deployment"): k8s.apps.v1.Deployment,
    ("networking.k8s.io/v1", "Ingress"): k8s.networking.v1.Ingress,
    ("policy/v1", "PodDisruptionBudget"): k8s.policy.v1.PodDisruptionBudget,
    ("v1", "ConfigMap"): k8s.core.v1.ConfigMap,
    ("v1", "ServiceAccount"): k8s.core.v1.ServiceAccount,
    ("rbac.authorization.k8s.io/v1", "Role"): k8s.rbac.v1.Role,
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): k8s.rbac.v1.RoleBinding,
    ("batch/v1", "CronJob"): k8s.batch.v1.CronJob,
    ("v1", "ResourceQuota"): k8s.core.v1.ResourceQuota,
    ("v1", "LimitRange"): k8s.core.v1.LimitRange,
    ("networking.k8s.io/v1", "NetworkPolicy"): k8s.networking.v1.NetworkPolicy,
    ("batch/v1", "Job"): k8s.batch.v1.Job,
    ("autoscaling/v2", "HorizontalPodAutoscaler"): k8s.autoscaling.v2.HorizontalPodAutoscaler,
}

# Custom resources we create; anything else is a mistake worth failing on.
_CUSTOM_RESOURCES = {
    ("postgresql.cnpg.io/v1", "Cluster"),
    ("postgresql.cnpg.io/v1", "ScheduledBackup"),
    ("barmancloud.cnpg.io/v1", "ObjectStore"),
    ("cert-manager.io/v1", "ClusterIssuer"),
    ("cert-manager.io/v1", "Certificate"),
    ("argoproj.io/v1alpha1", "AppProject"),
    ("argoproj.io/v1alpha1", "ApplicationSet"),
}


def create_object(declared: KubernetesObject, manifest: dict[str, Any],
                  opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
    """`manifest`: the declared manifest with its secret values already turned into Pulumi secrets."""
    key = (manifest["apiVersion"], manifest["kind"])
    fields = {_snake(name): value for name, value in manifest.items() if name not in ("apiVersion", "kind")}
    if key in _CUSTOM_RESOURCES:
        return k8s.apiextensions.CustomResource(declared.name, api_version=key[0], kind=key[1], opts=opts, **fields)
    try:
        cls = _RESOURCE_CLASSES[key]
    except KeyError:
        raise TypeError(f"no resource class for {key[0]} {key[1]}; add it to shell/kubernetes.py") from None
    return cls(declared.name, opts=opts, **fields)


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


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)
