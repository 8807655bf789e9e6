"""What an app's database looks like in Kubernetes: CloudNativePG objects, written once.

Pure functions (no Pulumi import), used by MinnovaApp and by the preview renderer.
Backups go through the Barman Cloud plugin (CNPG-I); the in-core `barmanObjectStore`
is deprecated since CNPG 1.26.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any

from minnova_idp.model import names, versions
from minnova_idp.model.app_config import AppConfig, DatabaseRestore
from minnova_idp.render.database_placement import BackupTarget, DatabasePlacement, Origin
from minnova_idp.render.resources import (
    AccountToken,
    FromToken,
    KubernetesObject,
    Lifecycle,
    R2Bucket,
    kubernetes_object,
)
from minnova_idp.render.sql_jobs import render_mask, render_mask_job, render_seed, render_seed_job

Manifest = dict[str, Any]

BARMAN_CLOUD_PLUGIN = "barman-cloud.cloudnative-pg.io"
RECOVERY_SOURCE = "origin"
# CNPG schedules take six fields, seconds first: every day at 03:00 (cluster time zone, UTC by default).
DAILY_BACKUP_SCHEDULE = "0 0 3 * * *"
ACCESS_KEY_ID = "ACCESS_KEY_ID"
SECRET_ACCESS_KEY = "ACCESS_SECRET_KEY"
# Current AWS SDKs send checksums R2 does not accept; these restore the old behaviour.
R2_SIDECAR_ENV = (
    ("AWS_REQUEST_CHECKSUM_CALCULATION", "when_required"),
    ("AWS_RESPONSE_CHECKSUM_VALIDATION", "when_required"),
)


def r2_bucket_resource(account_id: str, bucket: str) -> str:
    """The API-token resource naming exactly one R2 bucket (jurisdiction "default")."""
    return f"com.cloudflare.edge.r2.bucket.{account_id}_default_{bucket}"


def r2_s3_credentials(token_id: str, token_value: str) -> dict[str, str]:
    """S3 credentials of an R2 API token, as Cloudflare documents: key id = token id,
    secret access key = SHA-256 (hex) of the token value."""
    return {ACCESS_KEY_ID: token_id, SECRET_ACCESS_KEY: hashlib.sha256(token_value.encode()).hexdigest()}


def backup_target(app: AppConfig, environment: str, deployment: str, account_id: str) -> BackupTarget:
    """One bucket and one token for it: no namespace holds a credential that can write another environment's
    backups (the former `backupTokens: perApp` is refused, policy/capacity.py)."""
    bucket = names.backup_bucket(deployment, app.name, environment)
    return BackupTarget(bucket=bucket, account_id=account_id, retention=app.database.backup_retention,
                        token_name=f"{names.component_name(app.name, environment)}-backups", token_buckets=(bucket,))


# Object read and write on one bucket: what the Barman Cloud plugin needs to archive and restore.
R2_PERMISSION_GROUPS = ("Workers R2 Storage Bucket Item Read", "Workers R2 Storage Bucket Item Write")


def backup_storage(component: str, app: AppConfig, backup: BackupTarget, namespace: str, labels: dict[str, str],
                   deployment: str, keep: Lifecycle, after_namespace: tuple[str, ...]) -> list:
    """The bucket a database archives to, the token that can touch that bucket and nothing else, and the S3 credentials derived from the token as a Secret beside
    the database (last). `keep`: how data holders are kept."""
    bucket = R2Bucket(name=f"{component}-backups", bucket=backup.bucket, lifecycle=keep)
    declared: list = [bucket]
    if backup.token_buckets:
        owner = component if backup.token_buckets == (backup.bucket,) else app.name
        declared.append(AccountToken(
            name=backup.token_name, display_name=f"minnova-idp {deployment}/{owner}: database backups",
            permission_groups=R2_PERMISSION_GROUPS,
            resources=tuple(r2_bucket_resource(backup.account_id, each) for each in backup.token_buckets),
            lifecycle=replace(keep, depends_on=(bucket.key,))))
    credentials = kubernetes_object(component, {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": names.backup_credentials_secret(app.name), "namespace": namespace, "labels": labels},
        "type": "Opaque",
        "stringData": FromToken(token=AccountToken.key_for(backup.token_name), recipe=r2_s3_credentials),
    }, replace(keep, depends_on=after_namespace))
    return [*declared, credentials]


def database_placement(app: AppConfig, environment: str, backup: BackupTarget | None,
                       drill_schedule: str | None = None, drill_check: str | None = None,
                       seed: tuple[tuple[str, str], ...] = (), server_name: str = "") -> DatabasePlacement | None:
    """`drill_schedule`: the stack's restore-drill schedule (kept only for an app with backups and drills on)."""
    if not app.database.enabled:
        return None
    settings = app.environments[environment].database
    return DatabasePlacement(
        instances=app.database_instances(environment),
        size=app.database.size,
        version=app.database.version,
        resources=app.database.resources,
        backup=backup,
        restore=settings.restore if settings else None,
        cluster=app.backup_name(environment),
        drill_schedule=drill_schedule if backup is not None and app.database.restore_drill else None,
        drill_check=drill_check,
        seed=seed,
        server_name=server_name if server_name != app.backup_name(environment) else "",
    )


def database_url_env(database: DatabasePlacement) -> dict[str, Any]:
    """DATABASE_URL straight from the secret CNPG generates for the Cluster (`<cluster>-app`, key `uri`): its value
    never passes through Pulumi. A restore declares a new Cluster, so this reference changes with it and the
    Deployment rolls out onto the restored database's credentials by itself."""
    return {"name": "DATABASE_URL",
            "valueFrom": {"secretKeyRef": {"name": names.cluster_app_secret(database.cluster), "key": "uri"}}}


# Bootstrap only matters when CNPG creates a cluster (CNPG 1.30 reads it only while the cluster has no instance,
# internal/controller/cluster_controller.go:1102-1103); never patch it onto a live one.
CLUSTER_CREATION_ONLY_FIELDS = ("spec.bootstrap", "spec.externalClusters")
# Pulumi waits for a custom resource only when asked (pulumi-kubernetes >= 4.18 `pulumi.com/waitFor`, kubectl-wait
# semantics; provider/pkg/await/condition/custom.go): CNPG sets Ready=True in the "Cluster in healthy state" phase
# (pkg/resources/status/transactions.go:34-56). The app's Deployment depends on the Cluster, so it is created only
# once its database (and the `<cluster>-app` Secret) exists, within these limits (default 10 minutes is too short
# for a recovery, which replays a whole base backup and its WAL).
WAIT_FOR_READY = {"pulumi.com/waitFor": "condition=Ready"}
CREATE_TIMEOUT_SECONDS = 30 * 60
RECOVERY_TIMEOUT_SECONDS = 6 * 60 * 60


def database_objects(prefix: str, app: AppConfig, database: DatabasePlacement, namespace: str,
                     labels: dict[str, str], keep: Lifecycle, after_namespace: tuple[str, ...],
                     operators: tuple[str, ...] = (), credentials: str | None = None, preview: bool = False
                     ) -> tuple[list[KubernetesObject], KubernetesObject]:
    """ObjectStore (when backed up), the Cluster, its ScheduledBackup (when backed up), each with its lifecycle;
    and the Cluster the app uses (what its Deployment waits for).

    A restore (docs/databases.md "Disaster recovery") declares a new Cluster named `backupName` that recovers from the
    source's archive and archives under its own name, and keeps the source Cluster declared exactly as it was
    (same name, spec and backups: `pulumi up` changes nothing on it) until the restore is removed on purpose.
    `keep`: how data holders are kept (retained, and protected where the environment is); `operators`: keys of
    the Helm releases that install the CRDs; `credentials`: key of the backup credentials Secret.
    """
    objects = []
    store = None
    if database.backup is not None:
        store = kubernetes_object(prefix, render_object_store(app, database.backup, namespace, labels),
                                  replace(keep, depends_on=(*after_namespace, *operators, *filter(None, [credentials]))))
        objects.append(store)
    if database.origin is not None:
        origin_credentials = kubernetes_object(prefix, render_origin_credentials(app.name, database.origin, namespace,
                                                                                 labels), Lifecycle(depends_on=after_namespace))
        store = kubernetes_object(prefix, render_origin_store(app.name, database.origin, namespace, labels), Lifecycle(
            depends_on=(*after_namespace, *operators, origin_credentials.key)))
        objects += [origin_credentials, store]
    clusters = [database]
    if database.restore is not None and database.origin is None and not database.restore.source_gone:
        # The source, as it runs: it archived under its own name, and its bootstrap is never reapplied. Gone
        # (`sourceGone`), it is not declared at all: a refresh would otherwise recreate it as an empty `initdb` twin
        # archiving into the path the recovery reads, and its first backup would become the "latest" a retried
        # recovery picks (plugin-barman-cloud@v0.14.0 internal/cnpgi/restore/restore.go:391-409).
        clusters.insert(0, replace(database, restore=None, cluster=database.restore.from_backup, server_name=""))
    for each in clusters:
        recovery_store = names.preview_origin(app.name) if each.origin is not None else None
        cluster = kubernetes_object(prefix, render_cluster(app, each, namespace, labels, recovery_store), replace(
            keep, depends_on=(*after_namespace, *operators, *([store.key] if store else [])),
            ignore_changes=CLUSTER_CREATION_ONLY_FIELDS))
        objects.append(cluster)
        if each.backup is not None:
            # Retained and protected like the Cluster: with backupOwnerReference `self` its Backup objects go with it.
            objects.append(kubernetes_object(prefix, render_scheduled_backup(each.cluster, namespace, labels),
                                             replace(keep, depends_on=(*after_namespace, cluster.key))))
            if each.server_name:
                # A new archive path (a major upgrade) has no base backup yet: nothing in it could be restored
                # until the next night. Created once the upgraded Cluster is Ready again (WAIT_FOR_READY).
                objects.append(kubernetes_object(prefix, render_first_backup(each, namespace, labels),
                                                 replace(keep, depends_on=(*after_namespace, cluster.key))))
    ready = cluster  # the last one declared is the app's
    if database.origin is not None:
        mask = kubernetes_object(prefix, render_mask(database, namespace, labels), Lifecycle(depends_on=after_namespace))
        ready = kubernetes_object(prefix, render_mask_job(app, database, namespace, labels, preview),
                                  Lifecycle(depends_on=(*after_namespace, mask.key, cluster.key)))
        objects += [mask, ready]
    elif database.seed and database.restore is None:
        seed = kubernetes_object(prefix, render_seed(database, namespace, labels), Lifecycle(depends_on=after_namespace))
        ready = kubernetes_object(prefix, render_seed_job(app, database, namespace, labels, preview),
                                  Lifecycle(depends_on=(*after_namespace, seed.key, cluster.key)))
        objects += [seed, ready]
    return objects, ready  # what the app's processes wait for: the database (seeded, when it is)


def render_object_store(app: AppConfig, backup: BackupTarget, namespace: str, labels: dict[str, str]) -> Manifest:
    credentials = names.backup_credentials_secret(app.name)
    return {
        "apiVersion": "barmancloud.cnpg.io/v1",
        "kind": "ObjectStore",
        "metadata": {"name": names.backup_object_store(app.name), "namespace": namespace, "labels": labels},
        "spec": {
            "retentionPolicy": backup.retention,
            "configuration": {
                "destinationPath": f"s3://{backup.bucket}/",
                "endpointURL": backup.endpoint,
                "s3Credentials": {
                    "accessKeyId": {"name": credentials, "key": ACCESS_KEY_ID},
                    "secretAccessKey": {"name": credentials, "key": SECRET_ACCESS_KEY},
                },
                "wal": {"compression": "zstd", "maxParallel": 2},
                # No compression for base backups: R2 rejects multipart uploads whose parts differ
                # in size, which compressed streams produce (EnterpriseDB/barman#954).
                "data": {"jobs": 2},
            },
            "instanceSidecarConfiguration": {
                "env": [{"name": name, "value": value} for name, value in R2_SIDECAR_ENV],
            },
        },
    }


def render_cluster(app: AppConfig, database: DatabasePlacement, namespace: str, labels: dict[str, str],
                   recovery_store: str | None = None) -> Manifest:
    """`recovery_store`: restore from this ObjectStore even though the cluster does not archive (drills)."""
    spec: dict[str, Any] = {
        "instances": database.instances,
        "imageName": versions.POSTGRES_IMAGES[database.version],
        "storage": {"size": database.size},
        "resources": database.resources.as_kubernetes(),
        # With one instance a PDB would block every node drain; with more, it keeps the primary up.
        "enablePDB": database.instances > 1,
        "primaryUpdateStrategy": "unsupervised",
        "primaryUpdateMethod": "switchover",
        "bootstrap": _bootstrap(app, database),
    }
    if database.restore is not None:
        if database.backup is None and recovery_store is None:
            raise ValueError(f"{app.name}: a restore needs the environment's backup store")
        spec["externalClusters"] = [{
            "name": RECOVERY_SOURCE,
            "plugin": {"name": BARMAN_CLOUD_PLUGIN, "parameters": {
                "barmanObjectName": recovery_store or names.backup_object_store(app.name),
                "serverName": database.restore.from_backup}},
        }]
    if database.backup is not None:
        spec["plugins"] = [{
            "name": BARMAN_CLOUD_PLUGIN,
            "isWALArchiver": True,
            # Each Cluster archives under its own name: the plugin reads this on every WAL archive
            # (plugin-barman-cloud v0.14.0 internal/cnpgi/common/wal.go:196), so it must never change on a live one.
            "parameters": {"barmanObjectName": names.backup_object_store(app.name),
                           "serverName": database.archive_server},
        }]
    timeout = RECOVERY_TIMEOUT_SECONDS if database.restore is not None else CREATE_TIMEOUT_SECONDS
    return {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Cluster",
        "metadata": {"name": database.cluster, "namespace": namespace, "labels": labels,
                     "annotations": {**WAIT_FOR_READY, "pulumi.com/timeoutSeconds": str(timeout)}},
        "spec": spec,
    }


def _bootstrap(app: AppConfig, database: DatabasePlacement) -> dict[str, Any]:
    owner = {"database": app.name, "owner": app.name}
    if database.restore is None:
        return {"initdb": owner}
    recovery: dict[str, Any] = {"source": RECOVERY_SOURCE, **owner}
    if database.restore.target_time:
        recovery["recoveryTarget"] = {"targetTime": database.restore.target_time}
    return {"recovery": recovery}


def render_scheduled_backup(cluster: str, namespace: str, labels: dict[str, str]) -> Manifest:
    return {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "ScheduledBackup",
        "metadata": {"name": names.scheduled_backup(cluster), "namespace": namespace, "labels": labels},
        "spec": {
            "schedule": DAILY_BACKUP_SCHEDULE,
            "immediate": True,  # a new database has a base backup at once, not only after the first night
            "backupOwnerReference": "self",
            "cluster": {"name": cluster},
            "method": "plugin",
            "pluginConfiguration": {"name": BARMAN_CLOUD_PLUGIN},
        },
    }


def render_first_backup(database: DatabasePlacement, namespace: str, labels: dict[str, str]) -> Manifest:
    """The base backup a new archive path starts with (cloudnative-pg@v1.30.0 docs/src/postgres_upgrades.md:215-237:
    after a major upgrade, change serverName with the image and take a new base backup)."""
    return {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Backup",
        "metadata": {"name": f"{database.archive_server}-first", "namespace": namespace, "labels": labels},
        "spec": {"cluster": {"name": database.cluster}, "method": "plugin",
                 "pluginConfiguration": {"name": BARMAN_CLOUD_PLUGIN}},
    }


def render_restore_drill(app: AppConfig, environment: str, namespace: str, labels: dict[str, str],
                         target_time: str | None = None, server: str | None = None) -> Manifest:
    """A throwaway Cluster recovering the environment's archive beside the real one.

    It has no `plugins` entry, so it never archives: a drill cannot write into the backups it tests.
    """
    source = server or app.backup_name(environment)  # the server the environment archives under
    drill = DatabasePlacement(
        instances=1, size=app.database.size, version=app.database.version, resources=app.database.resources,
        backup=None, restore=DatabaseRestore.model_validate({"fromBackup": source, "targetTime": target_time}),
        cluster=names.drill_cluster(app.backup_name(environment)))  # the name drill.py's Role allows
    return render_cluster(app, drill, namespace, labels, recovery_store=names.backup_object_store(app.name))


# ---- a preview's copy of another environment (origin.py decides when) ----

def render_origin_credentials(app: str, origin: Origin, namespace: str, labels: dict[str, str]) -> Manifest:
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": names.preview_origin_credentials(app), "namespace": namespace, "labels": labels},
            "type": "Opaque",
            "stringData": {ACCESS_KEY_ID: origin.access_key_id, SECRET_ACCESS_KEY: origin.secret_access_key}}


def render_origin_store(app: str, origin: Origin, namespace: str, labels: dict[str, str]) -> Manifest:
    """The origin's archive, read through the read-only credentials. No retentionPolicy: retention is enforced
    only for a store a Cluster archives to (plugin-barman-cloud v0.14.0 internal/cnpgi/instance/retention.go:93-105),
    and this one is never archived to."""
    credentials = names.preview_origin_credentials(app)
    return {
        "apiVersion": "barmancloud.cnpg.io/v1", "kind": "ObjectStore",
        "metadata": {"name": names.preview_origin(app), "namespace": namespace, "labels": labels},
        "spec": {
            "configuration": {
                "destinationPath": f"s3://{origin.bucket}/",
                "endpointURL": origin.endpoint,
                "s3Credentials": {"accessKeyId": {"name": credentials, "key": ACCESS_KEY_ID},
                                  "secretAccessKey": {"name": credentials, "key": SECRET_ACCESS_KEY}},
                "wal": {"maxParallel": 2},
            },
            "instanceSidecarConfiguration": {"env": [{"name": n, "value": v} for n, v in R2_SIDECAR_ENV]},
        },
    }
