"""Creating what the core declared: one Pulumi resource per declaration, nothing decided here.

The lifecycle becomes ResourceOptions as it is; Secret values become Pulumi secrets and
FromToken values are computed from the token's outputs (and are secret too).
"""

from __future__ import annotations

from typing import Any

import pulumi

from components import kubernetes
from components.cloudflare import CloudflareAccount
from minnova_idp.render.resources import (
    AccountToken,
    Declared,
    DnsRecord,
    FromToken,
    HelmRelease,
    KubernetesObject,
    R2Bucket,
    Secret,
)


class ResourceCreator:
    """Creates declarations in order, remembering each by key so later ones can depend on it."""

    def __init__(self, kubernetes_provider: pulumi.ProviderResource, cloudflare: CloudflareAccount | None):
        self.kubernetes_provider = kubernetes_provider
        self.cloudflare = cloudflare
        self.created: dict[str, pulumi.Resource] = {}

    def create(self, declared: Declared, parent: pulumi.Resource) -> pulumi.Resource:
        lifecycle = declared.lifecycle
        opts = pulumi.ResourceOptions(
            parent=parent,
            depends_on=[self.created[key] for key in lifecycle.depends_on],
            protect=lifecycle.protect,
            retain_on_delete=lifecycle.retain_on_delete,
            ignore_changes=list(lifecycle.ignore_changes) or None,
        )
        if isinstance(declared, KubernetesObject):
            opts.provider = self.kubernetes_provider
            resource = kubernetes.create_object(declared, self._with_secrets(declared.manifest), opts)
        elif isinstance(declared, HelmRelease):
            opts.provider = self.kubernetes_provider
            resource = kubernetes.create_release(declared, opts)
        elif isinstance(declared, R2Bucket):
            resource = self._cloudflare(declared).bucket(declared, opts)
        elif isinstance(declared, AccountToken):
            resource = self._cloudflare(declared).token(declared, opts)
        elif isinstance(declared, DnsRecord):
            resource = self._cloudflare(declared).record(declared, opts)
        else:
            raise TypeError(f"cannot create {declared!r}")
        self.created[declared.key] = resource
        return resource

    def _cloudflare(self, declared: Declared) -> CloudflareAccount:
        if self.cloudflare is None:
            raise TypeError(f"{declared.key} is a Cloudflare resource, but the stack has no Cloudflare account")
        return self.cloudflare

    def _with_secrets(self, value: Any) -> Any:
        """`value` with its Secret and FromToken values as Pulumi secrets. What holds none is returned as it is,
        not copied: most manifests hold none, and each copy stayed alive until the plan's registrations completed
        (docs/benchmarks.md). Sharing is safe: nothing downstream writes to it (KubernetesObject copies the top
        level before wrapping a Secret's fields; the SDK's serialize_property builds new values, pulumi v3.272.0
        sdk/python/lib/pulumi/runtime/rpc.py)."""
        if isinstance(value, Secret):
            return pulumi.Output.secret(value.value)
        if isinstance(value, FromToken):
            token = self.created[value.token]
            return pulumi.Output.secret(pulumi.Output.all(token.id, token.value).apply(lambda parts: value.recipe(*parts)))
        if not _holds_secret(value):
            return value
        if isinstance(value, dict):
            return {key: self._with_secrets(item) for key, item in value.items()}
        return [self._with_secrets(item) for item in value]


def _holds_secret(value: Any) -> bool:
    if isinstance(value, (Secret, FromToken)):
        return True
    if isinstance(value, dict):
        return any(_holds_secret(item) for item in value.values())
    if isinstance(value, list):
        return any(_holds_secret(item) for item in value)
    return False
