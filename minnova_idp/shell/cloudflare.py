"""Declared Cloudflare resources (R2 buckets, scoped tokens, DNS records) as pulumi_cloudflare resources.

pulumi_cloudflare takes seconds to import, so it is imported only when one of these is created.
"""

from __future__ import annotations

import json
from typing import Sequence

import pulumi

from ..core.resources import AccountToken, DnsRecord, R2Bucket


class CloudflareAccount:
    """The stack's Cloudflare provider and account; permission groups looked up once per set of names."""

    def __init__(self, provider: pulumi.ProviderResource, account_id: str):
        self.provider = provider
        self.account_id = account_id
        self._groups: dict[tuple[str, ...], pulumi.Output[list[str]]] = {}

    def permission_groups(self, names: Sequence[str]) -> pulumi.Output[list[str]]:
        """IDs of API-token permission groups, looked up by name: IDs differ between accounts and API versions."""
        import pulumi_cloudflare as cloudflare

        names = tuple(names)
        if names not in self._groups:
            lookups = [
                cloudflare.get_account_api_token_permission_groups_list_output(
                    account_id=self.account_id, name=name, opts=pulumi.InvokeOptions(provider=self.provider))
                for name in names
            ]
            self._groups[names] = pulumi.Output.all(*(lookup.results for lookup in lookups)).apply(
                lambda results: [_group_id(name, found) for name, found in zip(names, results)])
        return self._groups[names]

    def bucket(self, declared: R2Bucket, opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
        import pulumi_cloudflare as cloudflare  # large (seconds to import): only when there are backups

        return cloudflare.R2Bucket(declared.name, account_id=self.account_id, name=declared.bucket,
                                   opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(provider=self.provider)))

    def token(self, declared: AccountToken, opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
        """An account token that can do what its groups allow on its resource and nothing else; its value stays secret."""
        import pulumi_cloudflare as cloudflare

        return cloudflare.AccountToken(
            declared.name,
            account_id=self.account_id,
            name=declared.display_name,
            policies=[cloudflare.AccountTokenPolicyArgs(
                effect="allow",
                permission_groups=self.permission_groups(declared.permission_groups).apply(
                    lambda ids: [{"id": i} for i in ids]),
                resources=json.dumps({declared.resource: "*"}),
            )],
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(
                provider=self.provider, additional_secret_outputs=["value"])),
        )

    def record(self, declared: DnsRecord, opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
        import pulumi_cloudflare as cloudflare

        return cloudflare.DnsRecord(
            declared.name,
            zone_id=declared.zone_id,
            name=declared.host,
            type=declared.record_type,
            content=declared.content,
            ttl=declared.ttl,
            proxied=declared.proxied,
            comment=declared.comment,
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(provider=self.provider)),
        )


def _group_id(group: str, results) -> str:
    for result in results or []:
        if (result["name"] if isinstance(result, dict) else result.name) == group:
            return result["id"] if isinstance(result, dict) else result.id
    raise ValueError(f"Cloudflare has no API token permission group named '{group}'")
