"""MinnovaApp: one app in one environment, as Kubernetes resources rendered by minnova_idp.core.renderer.

With a database it also owns the database's backup storage: an R2 bucket, an API token
that can touch that bucket alone, and the S3 credentials derived from the token.
Everything that holds data is retained when removed from the program, and protected
in protected environments: losing it takes an explicit step (see the README).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import pulumi

from minnova_idp.core import database, names
from minnova_idp.core.app_config import AppConfig
from minnova_idp.core.renderer import Placement, RenderSettings, common_labels, render_app, url

from . import kubernetes
from .cloudflare import CloudflareAccount, DnsTarget, ingress_record, scoped_token

TYPE = "minnova:index:MinnovaApp"
# Bootstrap only matters when CNPG creates a cluster; a restore is declared before the
# cluster is recreated (README: disaster recovery), never applied to a live one.
CLUSTER_CREATION_ONLY_FIELDS = ["spec.bootstrap", "spec.externalClusters"]


@dataclass(frozen=True)
class BackupInfrastructure:
    """What the Platform provides for backups to Cloudflare R2."""

    account: CloudflareAccount
    permission_group_ids: pulumi.Output[list[str]]  # R2 object read and write, looked up once per stack


@dataclass(frozen=True)
class MinnovaAppArgs:
    app: AppConfig
    placement: Placement
    settings: RenderSettings
    protected: bool = False
    operators: Sequence[pulumi.Resource] = field(default_factory=tuple)  # Helm releases installing the CRDs
    backups: BackupInfrastructure | None = None
    dns: DnsTarget | None = None


class MinnovaApp(pulumi.ComponentResource):
    url: pulumi.Output[str]
    namespace: pulumi.Output[str]

    def __init__(self, name: str, args: MinnovaAppArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE, name, None, opts)
        placement, holds_data = args.placement, args.placement.database is not None
        protect = args.protected and holds_data
        namespace_manifest, *namespaced = render_app(args.app, placement, args.settings)
        # Deleting a namespace deletes everything in it, retained databases included: never let Pulumi do it.
        namespace = kubernetes.create(
            name, namespace_manifest, pulumi.ResourceOptions(parent=self, retain_on_delete=True, protect=protect))

        credentials = None
        if placement.database is not None and placement.database.backup is not None:
            if args.backups is None:
                raise ValueError(f"{name}: the database is backed up but the Platform gave no backup infrastructure")
            credentials = self._backup_credentials(name, args, placement.database.backup, namespace, protect)

        created: dict[str, pulumi.CustomResource] = {}
        for manifest in namespaced:
            kind = manifest["kind"]
            depends_on: list[pulumi.Resource] = [namespace]
            options: dict[str, Any] = {}
            if kind == "ObjectStore":
                depends_on += [*args.operators, credentials]
                options = {"protect": protect, "retain_on_delete": True}
            elif kind == "Cluster":
                depends_on += [*args.operators, *([created["ObjectStore"]] if "ObjectStore" in created else [])]
                options = {"protect": protect, "retain_on_delete": True, "ignore_changes": CLUSTER_CREATION_ONLY_FIELDS}
            elif kind == "ScheduledBackup":
                depends_on += [created["Cluster"]]
            elif kind == "Secret":
                # Values become Pulumi secrets: encrypted in state, "[secret]" in previews and plans.
                manifest = {**manifest, **{section: pulumi.Output.secret(manifest[section])
                                           for section in ("stringData", "data") if section in manifest}}
            elif kind == "Deployment" and "Secret" in created:
                depends_on += [created["Secret"]]
            created[kind] = kubernetes.create(
                name, manifest, pulumi.ResourceOptions(parent=self, depends_on=depends_on, **options))

        if args.dns is not None:
            ingress_record(f"{name}-dns", args.dns, placement.host,
                           f"minnova-idp {args.settings.deployment}: {name}", parent=self)

        self.url = pulumi.Output.from_input(url(placement))
        self.namespace = pulumi.Output.from_input(placement.namespace)
        self.register_outputs({"url": self.url, "namespace": self.namespace})

    def _backup_credentials(self, name: str, args: MinnovaAppArgs, backup: database.BackupTarget,
                            namespace: pulumi.Resource, protect: bool) -> pulumi.CustomResource:
        import pulumi_cloudflare as cloudflare  # large (seconds to import): only when there are backups

        account = args.backups.account
        data_options = pulumi.ResourceOptions(parent=self, provider=account.provider, protect=protect,
                                              retain_on_delete=True)
        bucket = cloudflare.R2Bucket(f"{name}-backups", account_id=account.account_id, name=backup.bucket,
                                     opts=data_options)
        token = scoped_token(
            f"{name}-backups", account, f"minnova-idp {args.settings.deployment}/{name}: database backups",
            args.backups.permission_group_ids, database.r2_bucket_resource(account.account_id, backup.bucket),
            pulumi.ResourceOptions.merge(data_options, pulumi.ResourceOptions(depends_on=[bucket])))
        string_data = pulumi.Output.secret(
            pulumi.Output.all(token.id, token.value).apply(lambda parts: database.r2_s3_credentials(*parts)))
        manifest = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": names.backup_credentials_secret(args.app.name),
                         "namespace": args.placement.namespace,
                         "labels": common_labels(args.app, args.placement, args.settings)},
            "type": "Opaque",
            "stringData": string_data,
        }
        return kubernetes.create(name, manifest, pulumi.ResourceOptions(
            parent=self, depends_on=[namespace], protect=protect, retain_on_delete=True))
