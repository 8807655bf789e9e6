"""Declared Cloudflare resources (R2 buckets, scoped tokens, DNS records) as pulumi_cloudflare resources.

pulumi_cloudflare takes seconds to import, so it is imported only when one of these is created.
"""

from __future__ import annotations

import json
from typing import Sequence

import pulumi

from minnova_idp.render.resources import AccountToken, DnsRecord, R2Bucket

# Every pulumi_cloudflare input this module passes, with the first SDK release that has it in this form (read in
# pulumi/pulumi-cloudflare's sdk/python at each tag, v6.0.0-v6.17.0, and the installed 6.23.1). pyproject.toml's
# floor must be the newest of these: tests/render/test_database.py records what a plan passes and fails on anything
# missing here. AccountTokenPolicyArgs.resources became a JSON string in 6.12.0 (a map before).
SDK_INPUTS_SINCE = {
    ("Provider", "api_token"): "6.0.0",
    ("R2Bucket", "account_id"): "6.0.0", ("R2Bucket", "name"): "6.0.0",
    ("AccountToken", "account_id"): "6.0.0", ("AccountToken", "name"): "6.0.0", ("AccountToken", "policies"): "6.0.0",
    ("AccountTokenPolicyArgs", "effect"): "6.0.0", ("AccountTokenPolicyArgs", "permission_groups"): "6.0.0",
    ("AccountTokenPolicyArgs", "resources"): "6.12.0",
    ("get_account_api_token_permission_groups_list_output", "account_id"): "6.0.0",
    ("DnsRecord", "zone_id"): "6.0.0", ("DnsRecord", "name"): "6.0.0", ("DnsRecord", "type"): "6.0.0",
    ("DnsRecord", "content"): "6.0.0", ("DnsRecord", "ttl"): "6.0.0", ("DnsRecord", "proxied"): "6.0.0",
    ("DnsRecord", "comment"): "6.0.0",
}


class CloudflareAccount:
    """The stack's Cloudflare provider and account; permission groups looked up once per set of names."""

    def __init__(self, provider: pulumi.ProviderResource, account_id: str):
        self.provider = provider
        self.account_id = account_id
        self._all_groups: pulumi.Output[list] | None = None

    def permission_groups(self, names: Sequence[str]) -> pulumi.Output[list[str]]:
        """IDs of API-token permission groups, found by exact name: IDs differ between accounts and API versions.

        One unfiltered lookup per stack, filtered here: the data source's `name` filter wants a URL-encoded value
        (pulumi-cloudflare 6.23.1 get_account_api_token_permission_groups_list.py docstring) and exists only
        since 6.5.0; matching names client-side needs neither.
        """
        import pulumi_cloudflare as cloudflare

        if self._all_groups is None:
            self._all_groups = cloudflare.get_account_api_token_permission_groups_list_output(
                account_id=self.account_id, opts=pulumi.InvokeOptions(provider=self.provider)).results
        wanted = tuple(names)
        return self._all_groups.apply(lambda results: [_group_id(name, results) for name in wanted])

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
                resources=json.dumps({resource: "*" for resource in declared.resources}),
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
