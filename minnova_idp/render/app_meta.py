"""The names, labels and metadata every object of an app instance carries (render/app.py, serving.py)."""

from __future__ import annotations

from typing import Any

from minnova_idp.model import names
from minnova_idp.model.app_config import AppConfig
from minnova_idp.render.placement import Placement, RenderSettings

CONTAINER_PORT_NAME = "http"
SERVICE_PORT = 80


def app_code_pods(app: AppConfig) -> dict[str, str]:
    """Every pod that runs the app's code (web, workers, cron jobs, release): not the database's, not the drill's."""
    return {"app.kubernetes.io/name": app.name}


def selector_labels(app: AppConfig, placement: Placement) -> dict[str, str]:
    return {"app.kubernetes.io/name": app.name, "app.kubernetes.io/instance": placement.instance}


def common_labels(app: AppConfig, placement: Placement, settings: RenderSettings) -> dict[str, str]:
    return {
        **selector_labels(app, placement),
        names.MANAGED_BY_LABEL: names.MANAGED_BY,
        "app.kubernetes.io/part-of": settings.deployment,
        "minnova.io/environment": placement.environment,
    }


def metadata(app: AppConfig, placement: Placement, settings: RenderSettings, **extra: Any) -> dict[str, Any]:
    return {"name": app.name, "namespace": placement.namespace,
            "labels": common_labels(app, placement, settings), **extra}


def process_selector(app: AppConfig, placement: Placement, process: str) -> dict[str, str]:
    """A process's own pods: never the web Deployment's (its selector is name + instance, immutable)."""
    return {"app.kubernetes.io/name": app.name, "app.kubernetes.io/instance": f"{placement.instance}-{process}"}
