"""Cloudflare pieces the components share: the account, narrowly scoped tokens, records to the ingress.

pulumi_cloudflare takes seconds to import, so it is imported only when one of these is used.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Sequence

import pulumi

from minnova_idp.core import tls


@dataclass(frozen=True)
class CloudflareAccount:
    provider: pulumi.ProviderResource
    account_id: str

    def permission_groups(self, names: Sequence[str]) -> pulumi.Output[list[str]]:
        """IDs of API-token permission groups, looked up by name: IDs differ between accounts and API versions."""
        import pulumi_cloudflare as cloudflare

        lookups = [
            cloudflare.get_account_api_token_permission_groups_list_output(
                account_id=self.account_id, name=name, opts=pulumi.InvokeOptions(provider=self.provider))
            for name in names
        ]
        return pulumi.Output.all(*(lookup.results for lookup in lookups)).apply(
            lambda results: [_group_id(name, found) for name, found in zip(names, results)])


@dataclass(frozen=True)
class DnsTarget:
    """Where the Platform points hosts: the stack's Cloudflare zone and ingress address."""

    provider: pulumi.ProviderResource
    zone_id: str
    address: str
    proxied: bool = False


def scoped_token(resource_name: str, account: CloudflareAccount, display_name: str,
                 permission_group_ids: pulumi.Output[list[str]], resource: str,
                 opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
    """An account token that can do what the groups allow on `resource` and nothing else; its value stays secret."""
    import pulumi_cloudflare as cloudflare

    return cloudflare.AccountToken(
        resource_name,
        account_id=account.account_id,
        name=display_name,
        policies=[cloudflare.AccountTokenPolicyArgs(
            effect="allow",
            permission_groups=permission_group_ids.apply(lambda ids: [{"id": i} for i in ids]),
            resources=json.dumps({resource: "*"}),
        )],
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(
            provider=account.provider, additional_secret_outputs=["value"])),
    )


def ingress_record(resource_name: str, target: DnsTarget, host: str, comment: str, parent: pulumi.Resource,
                   proxied: bool | None = None) -> pulumi.CustomResource:
    """A record pointing `host` at the ingress: A/AAAA for an address, CNAME for a host name."""
    import pulumi_cloudflare as cloudflare

    return cloudflare.DnsRecord(
        resource_name,
        zone_id=target.zone_id,
        name=host,
        type=tls.record_type(target.address),
        content=target.address,
        ttl=tls.AUTOMATIC_TTL,
        proxied=target.proxied if proxied is None else proxied,
        comment=comment,
        opts=pulumi.ResourceOptions(parent=parent, provider=target.provider),
    )


def _group_id(group: str, results) -> str:
    for result in results or []:
        if (result["name"] if isinstance(result, dict) else result.name) == group:
            return result["id"] if isinstance(result, dict) else result.id
    raise ValueError(f"Cloudflare has no API token permission group named '{group}'")
