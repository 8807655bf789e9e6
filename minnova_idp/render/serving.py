"""How an app instance is reached: its Services (web and internal), Ingress and redirects, autoscaler and
disruption budget. Pure, like render/app.py, which lists them among the app's objects."""

from __future__ import annotations

from typing import Any

from minnova_idp.model import names
from minnova_idp.model.app_config import AppConfig
from minnova_idp.render.app_meta import (
    CONTAINER_PORT_NAME,
    SERVICE_PORT,
    common_labels,
    metadata,
    process_selector,
    selector_labels,
)
from minnova_idp.render.host_aliases import (
    redirecting_hosts,
    render_redirect_ingress,
    render_redirect_middleware,
    serving_hosts,
)
from minnova_idp.render.placement import Placement, RenderSettings

Manifest = dict[str, Any]


def render_service(app: AppConfig, placement: Placement, settings: RenderSettings) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(app, placement, settings),
        "spec": {
            "type": "ClusterIP",
            "selector": selector_labels(app, placement),
            "ports": [{"name": CONTAINER_PORT_NAME, "port": SERVICE_PORT,
                       "targetPort": CONTAINER_PORT_NAME, "protocol": "TCP"}],
        },
    }


def render_internal_service(app: AppConfig, placement: Placement, settings: RenderSettings, process: str) -> Manifest:
    """An internal service `<app>-<process>`: ClusterIP on the process's own port (what callers' URLs and the
    NetworkPolicies name: a policy's port is the pod's, so the Service keeps the two equal)."""
    port = app.processes[process].port
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {**metadata(app, placement, settings), "name": names.process(app.name, process)},
        "spec": {
            "type": "ClusterIP",
            "selector": process_selector(app, placement, process),
            "ports": [{"name": CONTAINER_PORT_NAME, "port": port, "targetPort": CONTAINER_PORT_NAME, "protocol": "TCP"}],
        },
    }


def render_ingress(app: AppConfig, placement: Placement, settings: RenderSettings) -> Manifest:
    # Every host of the environment is on its one certificate, the redirecting aliases too (host_aliases.py).
    hosts = [placement.host, *(alias for alias, _ in placement.aliases)]
    if settings.cluster_issuer:
        ingress_metadata = metadata(app, placement, settings,
                                    annotations={"cert-manager.io/cluster-issuer": settings.cluster_issuer})
        tls = {"hosts": hosts, "secretName": names.tls_secret(app.name)}
    else:
        ingress_metadata, tls = metadata(app, placement, settings), {"hosts": hosts}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": ingress_metadata,
        "spec": {
            "ingressClassName": settings.ingress_class,
            "tls": [tls],
            "rules": [{
                "host": host,
                "http": {"paths": [{
                    "path": "/",
                    "pathType": "Prefix",
                    "backend": _ingress_backend(app),
                }]},
            } for host in serving_hosts(placement.host, placement.aliases)],
        },
    }


def _ingress_backend(app: AppConfig) -> dict[str, Any]:
    return {"service": {"name": app.name, "port": {"name": CONTAINER_PORT_NAME}}}


def render_redirect(app: AppConfig, placement: Placement, settings: RenderSettings) -> list[Manifest]:
    """The Middleware and Ingress of the aliases that redirect to the environment's host (none: no objects)."""
    hosts = redirecting_hosts(placement.aliases)
    if not hosts:
        return []
    labels = common_labels(app, placement, settings)
    return [render_redirect_middleware(app.name, placement.namespace, labels, placement.host),
            render_redirect_ingress(app.name, placement.namespace, labels, settings.ingress_class, hosts,
                                    names.tls_secret(app.name) if settings.cluster_issuer else None,
                                    _ingress_backend(app))]


def render_autoscaler(app: AppConfig, placement: Placement, settings: RenderSettings) -> Manifest:
    scale = placement.autoscale
    return {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": metadata(app, placement, settings),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": app.name},
            "minReplicas": scale.min,
            "maxReplicas": scale.max,
            "metrics": [{"type": "Resource", "resource": {
                "name": "cpu", "target": {"type": "Utilization", "averageUtilization": scale.cpu}}}],
        },
    }


def render_pod_disruption_budget(app: AppConfig, placement: Placement, settings: RenderSettings) -> Manifest:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(app, placement, settings),
        "spec": {
            "maxUnavailable": 1,
            "selector": {"matchLabels": selector_labels(app, placement)},
            # A crash-looping pod must not block node drains.
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
        },
    }
