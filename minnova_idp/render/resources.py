"""What the program declares, as plain data: every resource with its lifecycle.

The core decides each resource (its Pulumi name, its inputs, what it waits for, whether it is
protected, retained or partly ignored, which values are secret); the Pulumi shell
(minnova_idp/shell) only turns these into Pulumi resources, in the order given, without looking
inside them. Pure data, no Pulumi import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Union

from minnova_idp.model.secrets import SECRET_PLACEHOLDER
from minnova_idp.model.versions import HelmChart

Manifest = dict[str, Any]


@dataclass(frozen=True)
class Secret:
    """A value that must stay secret: the shell makes it a Pulumi secret (encrypted in state, "[secret]" in
    plans). Wherever it stands in a manifest, only it is hidden: a Secret's keys and neighbours stay readable."""

    value: Any = field(repr=False)


@dataclass(frozen=True)
class FromToken:
    """Secret data computed from a Cloudflare API token declared alongside, whose id and value exist only once
    Cloudflare has created it: `recipe(token_id, token_value)` gives the data; the result is secret."""

    token: str  # key of the AccountToken
    recipe: Callable[[str, str], dict[str, str]]


@dataclass(frozen=True)
class Lifecycle:
    """How Pulumi must treat a resource. `depends_on` names other declared resources by key."""

    depends_on: tuple[str, ...] = ()
    protect: bool = False  # `pulumi destroy` and removal from the program fail until unprotected
    retain_on_delete: bool = False  # removed from the program: forgotten by Pulumi, kept in the cluster/cloud
    ignore_changes: tuple[str, ...] = ()  # inputs Pulumi never updates on a live resource


class _Declared:
    name: str  # the Pulumi resource name: part of the URN, so renaming it replaces the live resource
    lifecycle: Lifecycle

    @property
    def key(self) -> str:
        """Unique among everything declared (names repeat across types: a bucket and its token)."""
        return f"{type(self).__name__}/{self.name}"


@dataclass(frozen=True)
class KubernetesObject(_Declared):
    name: str
    manifest: Manifest  # may hold Secret and FromToken values
    lifecycle: Lifecycle = Lifecycle()


@dataclass(frozen=True)
class HelmRelease(_Declared):
    chart: HelmChart
    values: dict[str, Any]
    lifecycle: Lifecycle = Lifecycle()

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.chart.release_name


@dataclass(frozen=True)
class R2Bucket(_Declared):
    name: str
    bucket: str
    lifecycle: Lifecycle = Lifecycle()


@dataclass(frozen=True)
class AccountToken(_Declared):
    """A Cloudflare account API token allowed `permission_groups` (looked up by name) on `resources` alone."""

    name: str
    display_name: str
    permission_groups: tuple[str, ...]
    resources: tuple[str, ...]
    lifecycle: Lifecycle = Lifecycle()

    @staticmethod
    def key_for(name: str) -> str:
        return f"AccountToken/{name}"


@dataclass(frozen=True)
class DnsRecord(_Declared):
    name: str
    zone_id: str
    host: str
    record_type: str
    content: str
    ttl: int
    proxied: bool
    comment: str
    lifecycle: Lifecycle = Lifecycle()


Declared = Union[KubernetesObject, HelmRelease, R2Bucket, AccountToken, DnsRecord]


def kubernetes_object(prefix: str, manifest: Manifest, lifecycle: Lifecycle = Lifecycle()) -> KubernetesObject:
    """A Kubernetes object named `<prefix>-<kind>-<name>` in Pulumi: unique in the stack, stable while the
    object keeps its kind and name (tests/golden/urns-*.txt pin these names)."""
    name = f"{prefix}-{manifest['kind'].lower()}-{manifest['metadata']['name']}"
    return KubernetesObject(name=name, manifest=manifest, lifecycle=lifecycle)


def keys(*declared: Declared | None) -> tuple[str, ...]:
    """Keys of the given resources, skipping absent ones: for `Lifecycle.depends_on`."""
    return tuple(d.key for d in declared if d is not None)


def plain(value: Any) -> Any:
    """`value` with every Secret replaced by what it holds: for output that is not Pulumi state (previews).

    A FromToken's data exists only once Cloudflare has made the token (under Pulumi): its keys are shown, each
    value as SECRET_PLACEHOLDER, as the plan shows it."""
    if isinstance(value, Secret):
        return plain(value.value)
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, FromToken):
        return {key: SECRET_PLACEHOLDER for key in value.recipe("", "")}
    return value
