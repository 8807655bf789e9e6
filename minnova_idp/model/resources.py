"""Kubernetes container resources as app.yaml writes them (requests and limits), with their sanity bounds."""

from __future__ import annotations

from typing import ClassVar

from pydantic import model_validator

from minnova_idp.model.fields import Quantity, StrictModel
from minnova_idp.model.quantity import parse_quantity


class ResourceList(StrictModel):
    cpu: Quantity | None = None
    memory: Quantity | None = None


# Sanity bounds per container, whatever a stack allows: a typo (500 CPUs) is an error, not a pending pod.
CONTAINER_MAX_TEXT = {"cpu": "64", "memory": "512Gi"}
CONTAINER_MAX = {key: parse_quantity(value) for key, value in CONTAINER_MAX_TEXT.items()}
# The limit the namespace's LimitRange gives a container that sets none (render/app.py, render/preview.py): a
# request above it without a limit of its own is refused by Kubernetes when the pod is created.
NAMESPACE_DEFAULT_LIMIT = {"memory": "256Mi"}


class Resources(StrictModel):
    documented_as_one_value: ClassVar[bool] = True  # one row in docs/app-yaml.md, not one per key

    requests: ResourceList = ResourceList(cpu="100m", memory="128Mi")
    limits: ResourceList = ResourceList(memory="256Mi")

    def as_kubernetes(self) -> dict[str, dict[str, str]]:
        """The `resources` of a Kubernetes container or CNPG Cluster; empty sections left out."""
        out = {}
        for section in ("requests", "limits"):
            values = getattr(self, section).model_dump(exclude_none=True)
            if values:
                out[section] = values
        return out

    @model_validator(mode="after")
    def _limits_cover_requests(self) -> "Resources":
        for key in ("cpu", "memory"):
            request, limit = getattr(self.requests, key), getattr(self.limits, key)
            if request and limit and parse_quantity(limit) < parse_quantity(request):
                raise ValueError(f"limits.{key} ({limit}) is below requests.{key} ({request})")
            default = NAMESPACE_DEFAULT_LIMIT.get(key)
            if request and not limit and default and parse_quantity(request) > parse_quantity(default):
                raise ValueError(f"requests.{key} ({request}) is above the {default} limit a container without "
                                 f"limits.{key} gets in its namespace (its LimitRange), so Kubernetes would refuse "
                                 f"the pod; set limits.{key} to {request} or more")
            for section, value in (("requests", request), ("limits", limit)):
                if value and parse_quantity(value) > CONTAINER_MAX[key]:
                    raise ValueError(f"{section}.{key} ({value}) is more than one container may have "
                                     f"({CONTAINER_MAX_TEXT[key]}); the stack's namespace quota caps the total")
        return self
