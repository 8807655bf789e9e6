"""What an app's database looks like in Kubernetes: CloudNativePG objects, written once.

Pure functions (no Pulumi import), used by MinnovaApp and by the preview renderer.
Backups go through the Barman Cloud plugin (CNPG-I); the in-core `barmanObjectStore`
is deprecated since CNPG 1.26.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Any

from minnova_idp.model import names, versions
from minnova_idp.model.app_config import AppConfig, DatabaseRestore, Resources
from minnova_idp.render.resources import (
    AccountToken,
    FromToken,
    KubernetesObject,
    Lifecycle,
    R2Bucket,
    kubernetes_object,
)

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


@dataclass(frozen=True)
class BackupTarget:
    """Where an environment's database archives: an R2 bucket (one per app environment; each Cluster archives
    under its own name as the server name, so a restored Cluster's timeline never mixes with its source's)."""

    bucket: str
    account_id: str
    retention: str
    # The R2 token the credentials come from: this environment's own (`<component>-backups`), for its bucket only.
    token_name: str = ""
    token_buckets: tuple[str, ...] = ()

    @property
    def endpoint(self) -> str:
        return r2_endpoint(self.account_id)


@dataclass(frozen=True)
class Origin:
    """Where a preview's database is copied from: an environment's archive, and read-only credentials to it."""

    environment: str
    server_name: str  # the Cluster name the environment archives under (its backupName)
    bucket: str
    endpoint: str
    access_key_id: str = field(repr=False)
    secret_access_key: str = field(repr=False)
    # The app's .minnova/seed/mask.sql as the stack read it from the app's registered branch: never the pull
    # request's, which could weaken it or copy the data aside before it runs.
    mask: str = field(default="", repr=False)


@dataclass(frozen=True)
class DatabasePlacement:
    instances: int
    size: str
    version: int
    resources: Resources
    backup: BackupTarget | None = None
    restore: DatabaseRestore | None = None
    # The Cluster's name, which is also the server name it archives under: `backupName`, default <app>-db.
    cluster: str = ""
    drill_schedule: str | None = None  # when its backups are restored and checked (drill.py); None: never
    drill_check: str | None = None  # the app's .minnova/restore-check.sql; None: `select 1`
    seed: tuple[tuple[str, str], ...] = ()  # (file name, SQL) run once when the Cluster is created (seed.py)
    # A preview's copy of another environment (origin.py): recovered from its archive (`restore` names its server),
    # then masked with its `mask` before anything of the app runs.
    origin: Origin | None = None
    # The server name the Cluster archives under, when it is not the Cluster's name: a major upgrade starts a new
    # archive path (policy/guards.py archive_server).
    server_name: str = ""

    @property
    def archive_server(self) -> str:
        return self.server_name or self.cluster

    def __post_init__(self) -> None:
        if not self.cluster:
            raise ValueError("a database placement needs its cluster name")


def r2_endpoint(account_id: str) -> str:
    return f"https://{account_id}.r2.cloudflarestorage.com"


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


# A preview is applied by Argo CD in sync waves: each wave once the one before is healthy (argo-cd v3.4.4
# docs/user-guide/sync-waves.md, "How does it work"), a CNPG Cluster healthy when CNPG says so
# (resource_customizations/postgresql.cnpg.io/Cluster/health.lua, in Argo CD since v3.1), a Job healthy once
# complete (gitops-engine/pkg/health/health_job.go: Progressing until then). Everything is wave 0
# (the database with it), then the seed, then the release phase, then the app's processes.
SYNC_WAVE_ANNOTATION = "argocd.argoproj.io/sync-wave"
HOOK_ANNOTATION = "argocd.argoproj.io/hook"
HOOK_DELETE_POLICY_ANNOTATION = "argocd.argoproj.io/hook-delete-policy"
SEED_SYNC_WAVE, RELEASE_SYNC_WAVE, PROCESS_SYNC_WAVE = 1, 2, 3


def database_objects(prefix: str, app: AppConfig, database: DatabasePlacement, namespace: str,
                     labels: dict[str, str], keep: Lifecycle, after_namespace: tuple[str, ...],
                     operators: tuple[str, ...] = (), credentials: str | None = None, preview: bool = False
                     ) -> tuple[list[KubernetesObject], KubernetesObject]:
    """ObjectStore (when backed up), the Cluster, its ScheduledBackup (when backed up), each with its lifecycle;
    and the Cluster the app uses (what its Deployment waits for).

    A restore (README "Disaster recovery") declares a new Cluster named `backupName` that recovers from the
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


# The script the seed Job runs (a key no seed file can have: those end in .sql). It seeds only a database that
# holds no tables yet, so a seed added to an environment whose database exists, or a Job recreated because its
# files changed, never runs twice: psql `\gset` and `\if` (PostgreSQL 10+; `t` is a unique prefix of `true`),
# `\ir` relative to this file's directory. File names are `seed/[A-Za-z0-9][A-Za-z0-9._-]*.sql` (app_config.py).
SEED_SCRIPT_KEY = "minnova-seed.psql"
_SEED_EMPTY_CHECK = (
    "SELECT NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
    " WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
    " AND n.nspname NOT LIKE 'pg\\_%') AS minnova_seed_empty \\gset")


def seed_script(files: tuple[str, ...]) -> str:
    return "\n".join(["-- minnova-idp: the seed files, in order, into a database without tables of its own.",
                      _SEED_EMPTY_CHECK, "\\if :minnova_seed_empty", *(f"\\ir {name}" for name in files),
                      "\\else", "\\echo 'minnova-idp: the database already holds tables; not seeded'", "\\endif",
                      ""])


def render_seed(database: DatabasePlacement, namespace: str, labels: dict[str, str]) -> Manifest:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": names.seed(database.cluster), "namespace": namespace, "labels": labels},
            "data": {**dict(database.seed), SEED_SCRIPT_KEY: seed_script(tuple(key for key, _ in database.seed))}}


def render_seed_job(app: AppConfig, database: DatabasePlacement, namespace: str, labels: dict[str, str],
                    preview: bool) -> Manifest:
    """The seed files, run once per database with the app's own credentials (`<cluster>-app`: the database owner,
    not a superuser). Not CNPG's initdb postInit SQL, which runs as the superuser `postgres` (cloudnative-pg v1.30.0
    docs/src/bootstrap.md:362 and :382): a superuser can run programs in
    the database's pod (`COPY ... FROM PROGRAM`), whose egress is not the app's and whose service account talks to
    the Kubernetes API; a seed is the app's (or a pull request's) own SQL. The Job's spec does not depend on the
    files (the ConfigMap does), and its script seeds only a database without tables."""
    return _sql_job(app, database, namespace, labels, preview, "seed", names.seed(database.cluster), SEED_SCRIPT_KEY)


MASK_KEY = "mask.sql"
MASK_SCRIPT_KEY = "minnova-mask.psql"  # what the Job runs: the app's mask, then the statistics epilogue
# After the app's mask, in the same transaction: the copy's planner statistics still hold dev's values (most common
# values, histogram bounds in pg_stats, readable by the owner) until they are recomputed from the masked rows.
# Autovacuum never analyses a partitioned parent, and ANALYZE of a table left empty keeps its old statistics
# (PostgreSQL updates pg_statistic only from a non-empty sample): both reproduced in tests/render/test_seed_psql.py.
# So: ANALYZE every table the owner has (partitioned parents included); for a column that still has statistics in
# an empty table, rewrite it to its own type, which drops them (ALTER COLUMN TYPE); fail (the whole mask rolls back,
# the app never starts) when that is impossible or a table with statistics is not the owner's.
MASK_EPILOGUE = r"""
DO $minnova$
DECLARE
  rel regclass;
  col record;
  is_empty boolean;
  rewrote boolean := false;
  analyze_all text := $q$SELECT c.oid::regclass FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'm') AND pg_has_role(c.relowner, 'USAGE')
      AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%'$q$;
  stats text := $q$SELECT DISTINCT s.schemaname, s.tablename, s.attname, c.relkind, c.relowner,
      COALESCE(i.indrelid, c.oid)::regclass AS tbl,
      CASE WHEN c.relispartition THEN pg_partition_root(c.oid) ELSE c.oid END::regclass AS root,
      format_type(a.atttypid, a.atttypmod) AS type, a.attcollation, co.collname, cn.nspname AS collschema
    FROM pg_stats s
    JOIN pg_namespace n ON n.nspname = s.schemaname
    JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = s.tablename
    LEFT JOIN pg_index i ON i.indexrelid = c.oid
    LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = s.attname
    LEFT JOIN pg_collation co ON co.oid = a.attcollation
    LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace
    WHERE s.schemaname NOT IN ('pg_catalog', 'information_schema')$q$;
BEGIN
  FOR rel IN EXECUTE analyze_all LOOP EXECUTE format('ANALYZE %s', rel); END LOOP;
  FOR col IN EXECUTE stats LOOP
    IF NOT pg_has_role(col.relowner, 'USAGE') THEN
      RAISE EXCEPTION 'minnova mask: %.% is not the database owner''s: its statistics keep the copied values',
        col.schemaname, col.tablename;
    END IF;
    EXECUTE format('SELECT NOT EXISTS (SELECT FROM %s)', col.tbl) INTO is_empty;
    CONTINUE WHEN NOT is_empty OR col.relkind = 'i';
    BEGIN  -- a rewrite to its own type drops the column's statistics (and rebuilds the indexes on it)
      EXECUTE format('ALTER TABLE %s ALTER COLUMN %I TYPE %s%s', col.root, col.attname, col.type,
                     CASE WHEN col.attcollation <> 0
                          THEN format(' COLLATE %I.%I', col.collschema, col.collname) ELSE '' END);
      rewrote := true;
    EXCEPTION WHEN OTHERS THEN
      RAISE EXCEPTION 'minnova mask: %.% is empty after the mask but its statistics keep the copied values of %, '
        'which cannot be cleared (%); leave masked rows in it, or in the mask drop it (a partition) or what depends on the column',
        col.schemaname, col.tablename, col.attname, SQLERRM;
    END;
  END LOOP;
  IF rewrote THEN  -- the rewritten tables' other columns (and partitions) lost theirs too: recompute them
    FOR rel IN EXECUTE analyze_all LOOP EXECUTE format('ANALYZE %s', rel); END LOOP;
  END IF;
  FOR col IN EXECUTE stats LOOP  -- what is left must come from masked rows: none of an empty table
    EXECUTE format('SELECT NOT EXISTS (SELECT FROM %s)', col.tbl) INTO is_empty;
    IF is_empty THEN
      RAISE EXCEPTION 'minnova mask: %.% (%) is empty after the mask but its statistics keep the copied values',
        col.schemaname, col.tablename, col.attname;
    END IF;
  END LOOP;
END
$minnova$;
"""


def mask_script() -> str:
    """The mask Job's script: the app's mask (`\\ir`: relative to this file), then MASK_EPILOGUE."""
    return f"\\ir {MASK_KEY}\n{MASK_EPILOGUE.lstrip()}"


def render_mask(database: DatabasePlacement, namespace: str, labels: dict[str, str]) -> Manifest:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": names.mask(database.cluster), "namespace": namespace, "labels": labels},
            "data": {MASK_KEY: database.origin.mask, MASK_SCRIPT_KEY: mask_script()}}


def render_mask_job(app: AppConfig, database: DatabasePlacement, namespace: str, labels: dict[str, str],
                    preview: bool) -> Manifest:
    """The app's masking SQL (from its registered branch, origin.py) over a preview's copy of another environment,
    in one transaction, as the database owner (not a superuser, as the seed). It runs once, when Argo CD first applies it: the
    Job is not recreated for later commits. In the seed's sync wave, so the release phase and the app's processes
    (later waves) start only once it succeeded; a failing mask stops the sync there and the app never starts."""
    return _sql_job(app, database, namespace, labels, preview, "mask", names.mask(database.cluster), MASK_SCRIPT_KEY)


def _sql_job(app: AppConfig, database: DatabasePlacement, namespace: str, labels: dict[str, str], preview: bool,
             role: str, name: str, script: str) -> Manifest:
    """A Job running `script` from the ConfigMap `name` with psql as the database owner; `role` (seed, mask) names
    its container, volume and pod instance."""
    metadata: dict[str, Any] = {"name": name, "namespace": namespace, "labels": labels}
    if preview:
        # Argo CD applies it once the database is healthy (wave 0), and the release phase and processes after it.
        # A Sync hook deleted before each sync creates it again (argo-cd@v3.4.4 gitops-engine/pkg/sync/doc.go:38-41,
        # 62-67; common/types.go:137): a new commit gets a fresh run, a failed run fails that sync (and is reported)
        # without leaving a Failed Job that stops every later sync at this wave, and a field the pull request sets
        # (runAsUser, the psql version) never meets the immutable pod template of an old Job. The seed checks the
        # database is empty and the mask is applied to a copy made for it, so running again changes nothing.
        metadata["annotations"] = {SYNC_WAVE_ANNOTATION: str(SEED_SYNC_WAVE), HOOK_ANNOTATION: "Sync",
                                   HOOK_DELETE_POLICY_ANNOTATION: "BeforeHookCreation"}
    # Its own instance label (`seed` is a reserved process name): the app's Service and PDB select
    # name + instance, and must not pick up this pod; the app's egress policy (name only) still applies.
    pod_labels = {**labels, "app.kubernetes.io/instance": f"{labels['app.kubernetes.io/instance']}-{role}"}
    return {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": metadata,
        "spec": {
            "backoffLimit": 10,  # the database may still be starting: retried with backoff
            "activeDeadlineSeconds": 1800,
            "template": {
                "metadata": {"labels": pod_labels},
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": {"runAsNonRoot": True, "runAsUser": app.run_as_user,
                                        "runAsGroup": app.run_as_user, "seccompProfile": {"type": "RuntimeDefault"}},
                    "volumes": [{"name": role, "configMap": {"name": name}},
                                {"name": "tmp", "emptyDir": {}}],
                    "containers": [psql_container(
                        role, database.version, database.cluster, role, script,
                        {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
                        "--single-transaction")],
                },
            },
        },
    }


def hardened_container_security() -> dict[str, Any]:
    """A platform container's securityContext (the psql and kubectl ones): nothing to escalate, nothing to write."""
    return {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}}


def psql_container(name: str, version: int, cluster: str, volume: str, script: str, resources: dict[str, Any],
                   *options: str) -> dict[str, Any]:
    """A hardened container that runs `script` (a key of the ConfigMap volume `volume`, mounted at /<volume>) with
    psql as `cluster`'s owner (its `-app` Secret), stopping at the first error. Its image is the database's own
    PostgreSQL image: psql of the same major version. The pod needs the volume `volume` and an emptyDir `tmp`."""
    return {
        "name": name,
        "image": versions.POSTGRES_IMAGES[version],
        "command": ["psql", "$(DATABASE_URL)", "--no-psqlrc", "-v", "ON_ERROR_STOP=1", *options,
                    "-f", f"/{volume}/{script}"],
        "env": [{"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": names.cluster_app_secret(cluster),
                                                                        "key": "uri"}}},
                {"name": "HOME", "value": "/tmp"}],
        "securityContext": hardened_container_security(),
        "volumeMounts": [{"name": volume, "mountPath": f"/{volume}", "readOnly": True},
                         {"name": "tmp", "mountPath": "/tmp"}],
        "resources": resources,
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
