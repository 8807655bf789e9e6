"""The data half of an app's MariaDB (docs/mysql-data.md): scheduled full backups to R2 with retention, binary-log
archiving for point-in-time recovery where the operator supports it, a restore into a new server, and seed data.
Pure: no Pulumi import. render/mysql.py (the MariaDB CR) merges `mariadb_data_spec` into the MariaDB's spec.

Backups (mariadb-operator@v26.6.0): a `PhysicalBackup` (mariadb-backup, api/v1alpha1/physicalbackup_types.go) on a
cron schedule, not the logical `Backup` (mariadb-dump): a physical backup restores by copying files back
(pkg/command/backup.go:427-477 `mbstream -x`, `mariadb-backup --prepare`, `--copy-back`), in minutes rather than
replaying every statement, it is consistent without locking, and it is the only base a `PointInTimeRecovery` takes
(api/v1alpha1/pointintimerecovery_types.go:9-13 physicalBackupRef). The Job runs `mariadb-backup --backup
--stream=xbstream --databases-exclude='lost+found'` against the chosen pod's data volume (pkg/command/backup.go:
258-298, 628-651; pkg/builder/batch_builder.go:158-317 mounts that pod's PVC, on its node), then `mariadb-operator
backup` compresses, uploads `physicalbackup-<YYYYMMDDhhmmss>.xb.gz` under the prefix and deletes what is older
than `maxRetention` under that prefix only (pkg/command/backup.go:323-359; pkg/backup/processor.go:236-251;
internal/controller/physicalbackup_controller_job.go:416-426; pkg/minio/minio.go:289-306 prefixes every key).

Point-in-time recovery: the operator archives binary logs only in the replication topology
(api/v1alpha1/mariadb_types.go:1047-1053 IsPointInTimeRecoveryEnabled requires replication; docs/pitr.md
"Supported MariaDB versions and topologies"), and replication needs 2 or more instances
(internal/webhook/v1alpha1/mariadb_webhook.go:93-112). So an environment with `instances >= 2` gets a
`PointInTimeRecovery` and `spec.pointInTimeRecoveryRef` (binlogs under `mysql/<server>/binlogs/`, strict mode:
a target time past the last archived binlog fails instead of silently restoring an earlier state, docs/pitr.md
"Strict mode"); a single instance (dev, by default) can be restored only to a full backup: what was written
after the last one is lost (docs/mysql-data.md "What is backed up, where, and for how long").

Where: the environment's backup bucket and token (render/database.backup_target, backup_storage: one bucket per app
environment, one token that can touch that bucket only), shared with PostgreSQL's archive under its own prefix
`mysql/<server>/` (model/mysql_data.py). No credential in a namespace opens another environment's or app's bucket.

Restore: a new MariaDB (`serverName`) bootstrapped from the source's prefix (`bootstrapFrom.s3` with
`backupContentType: Physical` and `targetRecoveryTime`: the operator picks the closest full backup at or before the
time, pkg/backup/processor.go:198-234) or, when both servers replicate, from the source's PointInTimeRecovery
(`bootstrapFrom.pointInTimeRecoveryRef`, replaying binlogs up to the time; internal/controller/
mariadb_controller_init.go:36-70). The source stays declared as it runs until the restore is removed on purpose.

Seed data: a Job of our own, not the operator's `SqlJob`: its Job builder (pkg/builder/batch_builder.go:978-1063,
pkg/command/sql.go:55-70) runs `mariadb --user --password=${...} ... < file` with no `--sandbox` and no
`--local-infile=0`, as the service account `default` with its token mounted (no automountServiceAccountToken), and
ignores `args`. Ours runs the mariadb client from the server's own image, as the app's user (no FILE privilege: its
grants are on its database only), with `--sandbox` (MariaDB 10.5.25/10.6.18/10.11.8/11.0.6+, MDEV-21778: refuses
`system`/`\\!`, `source`/`\\.`, `tee`/`\\T`, `pager` with a program), `--local-infile=0` (LOAD DATA LOCAL refused
by the client) and `EDITOR`/`VISUAL` set to /bin/false (sandbox mode leaves `edit`/`\\e` on, and the client runs
`$EDITOR`, default `vi`, even in batch mode: tests/render/test_mysql_engine.py), with no token, as the app's pods.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from minnova_idp.model import versions
from minnova_idp.model.app_config import AppConfig
from minnova_idp.model.mysql_data import (
    mysql_backup_prefix,
    mysql_binlog_prefix,
    mysql_physical_backup,
    mysql_pitr,
    mysql_seed,
    retention_duration,
)
from minnova_idp.model import names
from minnova_idp.render.database import ACCESS_KEY_ID, SECRET_ACCESS_KEY
from minnova_idp.render.database_placement import BackupTarget
from minnova_idp.render.mysql import CLIENT_LABEL, mysql_env, render_mariadb, render_policy
from minnova_idp.render.mysql_placement import MysqlData, MysqlPlacement
from minnova_idp.render.resources import KubernetesObject, Lifecycle, kubernetes_object
from minnova_idp.render.sql_jobs import hardened_container_security, token_less_job_pod
from minnova_idp.render.waves import (
    HOOK_ANNOTATION,
    HOOK_DELETE_POLICY_ANNOTATION,
    SEED_SYNC_WAVE,
    SYNC_WAVE_ANNOTATION,
)

Manifest = dict[str, Any]

API_VERSION = "k8s.mariadb.com/v1alpha1"
# The operator's cron parser takes five fields (robfig/cron standard parser; api/v1alpha1 CronParser): 03:00 UTC,
# the hour PostgreSQL's base backups run (render/database.py DAILY_BACKUP_SCHEDULE).
DAILY_BACKUP_CRON = "0 3 * * *"
# gzip: the operator compresses the stream before the upload (pkg/compression/compressor.go:46-63, Go's
# compress/gzip); minio-go uploads it in equal parts, which R2's multipart rule needs.
COMPRESSION = "gzip"
R2_REGION = "auto"
# A backup of a large database takes longer than the operator's default hour (physicalbackup_types.go:17-19).
BACKUP_TIMEOUT = "4h"
# mysql user and group of the MariaDB images (pkg/builder: mysqlUser, mysqlGroup = 999): the backup Job reads the
# data volume as the server's owner. Explicit, with the rest of the restricted Pod Security Standard, because the
# app namespace enforces it (render/app.py render_namespace) and the operator sets only runAsNonRoot, user, group
# and fsGroup when we set nothing (pkg/builder/securitycontext_builder.go:45-67).
MYSQL_UID = 999
# What the seed and the drill's check take of the app's MYSQL_* (render/mysql.py mysql_env).
APP_SECRET_KEYS = ("MYSQL_HOST", "MYSQL_PORT", "MYSQL_USER", "MYSQL_PASSWORD", "MYSQL_DATABASE")
# A key no seed file can have (those end in .sql): the Job's own script.
SEED_SCRIPT_KEY = "minnova-seed.sh"
# TLS: every MariaDB has it on by default, optional for clients (mariadb-operator@v26.6.0 api/v1alpha1/
# mariadb_types.go:991-995 sets `tls.enabled: true`; docs/tls.md "MariaDB configuration": TLS and plain both
# accepted), with a CA of the operator's in the Secret `<server>-ca-bundle`, key `ca.crt` (api/v1alpha1/
# mariadb_keys.go:71-79), and a server certificate naming each Service as `<service>.<namespace>.svc`, the host
# MYSQL_HOST gives (api/v1alpha1/mariadb_types.go:1292-1301, pkg/statefulset/statefulset.go:30-37). The client is
# told that CA and to verify the server against it: the same flags mean the same for the 10.11 client (where TLS is
# off unless asked) and the 11.8 one (11.4+ verifies by default; not run here: only 10.11 is installed), and a
# server that cannot prove its name is refused rather than trusted (tests/render/test_mysql_engine.py runs both cases).
TLS_CA_DIR = "/tls"
TLS_CA_KEY = "ca.crt"  # pkg/pki/keypair.go:16 CACertKey


def tls_ca_secret(server: str) -> str:
    return f"{server}-ca-bundle"


# The mariadb client, hardened: no option files (an image's my.cnf could turn local-infile back on), sandbox mode,
# no LOAD DATA LOCAL, batch output, TLS verified against the server's CA (above). The password comes from MYSQL_PWD
# (the client's documented variable), never argv.
CLIENT_OPTIONS = ("--no-defaults", "--sandbox", "--local-infile=0", "--batch", "--ssl",
                  f"--ssl-ca={TLS_CA_DIR}/{TLS_CA_KEY}", "--ssl-verify-server-cert")
# Sandbox mode leaves `edit` (\e) on: the client would run $EDITOR (then $VISUAL, then `vi`) on a temporary file.
SAFE_CLIENT_ENV = (("EDITOR", "/bin/false"), ("VISUAL", "/bin/false"), ("HOME", "/tmp"))


def mysql_data(app: AppConfig, environment: str, server: str, backup: BackupTarget | None,
               seed: tuple[tuple[str, str], ...] = (), preview: bool = False, drill_schedule: str | None = None,
               drill_check: str | None = None) -> MysqlData | None:
    if not app.mysql.enabled:
        return None
    settings = app.environments[environment].mysql if environment in app.environments else None
    instances = 1 if preview or settings is None else settings.instances
    restore = None if preview or settings is None else settings.restore
    backup = None if preview else backup
    return MysqlData(server=server, version=app.mysql.version, instances=instances, backup=backup,
                     retention=app.mysql.backup_retention, restore=restore, seed=seed,
                     drill_schedule=drill_schedule if backup is not None and app.mysql.restore_drill else None,
                     drill_check=drill_check)


def attach_data(mysql: MysqlPlacement | None, app: AppConfig, environment: str, backup: BackupTarget | None,
                seed: tuple[tuple[str, str], ...] = (), drill_schedule: str | None = None,
                drill_check: str | None = None) -> MysqlPlacement | None:
    """`mysql` (render/mysql.py's placement) with its data half: backups to `backup`, the restore, the seed files
    where this environment is seeded (`mysql.seed.environments`; a preview always is)."""
    if mysql is None:
        return None
    seeded = mysql.preview or (app.mysql.seed is not None and environment in app.mysql.seed.environments)
    data = mysql_data(app, environment, mysql.server, backup, seed if seeded else (), preview=mysql.preview,
                      drill_schedule=drill_schedule, drill_check=drill_check)
    return replace(mysql, data=data)


def render_physical_backup(app: AppConfig, data: MysqlData, namespace: str, labels: dict[str, str]) -> Manifest:
    """The daily full backup of `data.server` to its prefix, kept `retention`; the first one at once."""
    assert data.backup is not None
    return {
        "apiVersion": API_VERSION, "kind": "PhysicalBackup",
        "metadata": {"name": mysql_physical_backup(data.server), "namespace": namespace, "labels": labels},
        "spec": {
            "mariaDbRef": {"name": data.server},
            # The operator's default target is `Replica` (physicalbackup_types.go:334-337): a single instance has
            # none and would never be backed up. PreferReplica: a replica when there is one, else the primary.
            "target": "PreferReplica",
            "schedule": {"cron": DAILY_BACKUP_CRON, "suspend": False, "immediate": True},
            "maxRetention": retention_duration(data.retention),
            "compression": COMPRESSION,
            "timeout": BACKUP_TIMEOUT,
            "storage": {"s3": _backup_s3(app, data.backup, mysql_backup_prefix(data.server))},
            # The server's NetworkPolicy lets the platform's labelled clients in (render/mysql.py client_pods).
            "podMetadata": {"labels": {CLIENT_LABEL: data.server}},
            "podSecurityContext": {"runAsNonRoot": True, "runAsUser": MYSQL_UID, "runAsGroup": MYSQL_UID,
                                   "fsGroup": MYSQL_UID, "seccompProfile": {"type": "RuntimeDefault"}},
            "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                                "runAsNonRoot": True, "runAsUser": MYSQL_UID},
        },
    }


def _backup_s3(app: AppConfig, backup: BackupTarget, prefix: str) -> dict[str, Any]:
    secret = names.backup_credentials_secret(app.name)
    return {"bucket": backup.bucket, "prefix": prefix, "endpoint": backup.endpoint.removeprefix("https://"),
            "region": R2_REGION, "tls": {"enabled": True},
            "accessKeyIdSecretKeyRef": {"name": secret, "key": ACCESS_KEY_ID},
            "secretAccessKeySecretKeyRef": {"name": secret, "key": SECRET_ACCESS_KEY}}


def render_point_in_time_recovery(app: AppConfig, data: MysqlData, namespace: str, labels: dict[str, str]) -> Manifest:
    """Binary-log archiving of a replicated server, based on its daily PhysicalBackup. The binlog prefix must be
    empty when archiving starts (docs/pitr.md "Archival"): it is the server's own, and a new server (a restore) has
    a new one."""
    assert data.backup is not None
    return {
        "apiVersion": API_VERSION, "kind": "PointInTimeRecovery",
        "metadata": {"name": mysql_pitr(data.server), "namespace": namespace, "labels": labels},
        "spec": {"physicalBackupRef": {"name": mysql_physical_backup(data.server)},
                 "storage": {"s3": _backup_s3(app, data.backup, mysql_binlog_prefix(data.server))},
                 "compression": COMPRESSION, "archiveTimeout": "1h", "strictMode": True},
    }


def mariadb_data_spec(app: AppConfig, data: MysqlData) -> dict[str, Any]:
    """What the data half adds to the MariaDB's spec: binlog archiving (`pointInTimeRecoveryRef`) and, for a
    restore, `bootstrapFrom` (read by the operator only while the server is created; immutable after:
    api/v1alpha1/mariadb_types.go:202-241 `webhook:"inmutableinit"`)."""
    spec: dict[str, Any] = {}
    if data.point_in_time:
        spec["pointInTimeRecoveryRef"] = {"name": mysql_pitr(data.server)}
    if data.restore is not None:
        spec["bootstrapFrom"] = bootstrap_from(app, data)
    return spec


def bootstrap_from(app: AppConfig, data: MysqlData) -> dict[str, Any]:
    restore = data.restore
    assert restore is not None
    bootstrap: dict[str, Any]
    # The source ran in the same environment, with the same `instances` (declared as it runs, source_server below;
    # policy/mysql_data_guards.py refuses a source this environment does not record as running). A source that is
    # gone (`sourceGone`) has no PointInTimeRecovery object left to name: straight from its prefix.
    if data.point_in_time and not restore.source_gone:
        # Binlogs of the source, replayed onto its closest full backup up to the target (strict: never short of it).
        bootstrap = {"pointInTimeRecoveryRef": {"name": mysql_pitr(restore.from_backup)}}
    else:
        if data.backup is None:
            raise ValueError(f"{app.name}: a restore needs the environment's backup bucket")
        # Straight from the source's prefix: works even when the source's objects are gone.
        bootstrap = {"s3": _backup_s3(app, data.backup, mysql_backup_prefix(restore.from_backup)),
                     "backupContentType": "Physical"}
    if restore.target_time:
        bootstrap["targetRecoveryTime"] = restore.target_time
    return bootstrap


SEED_MARKER_TABLE = "minnova_seed"


def seed_script(files: tuple[str, ...]) -> str:
    """The seed Job's script (ours: no app input reaches the shell). Into a database with no table yet it writes the
    marker table `minnova_seed` (done = 0), then the app's files go to the client's stdin, in order (the client
    stops at the first failing statement), then done = 1: only after every file succeeded. A run again (a Job
    retry, a preview synced again) seeds nothing when the marker says done, and fails loudly when it does not: an
    earlier run failed half-way, and seeding on top would report a half-applied seed as done (review of issue 26,
    finding 3; docs/mysql-data.md "Seed data": a failed seed needs a fresh database). A database that already holds
    tables and no marker was never the seed's: nothing is seeded (adding a seed to a running environment)."""
    client = " ".join(CLIENT_OPTIONS)
    connect = '--host="$MYSQL_HOST" --port="$MYSQL_PORT" --user="$MYSQL_USER" --database="$MYSQL_DATABASE"'
    run = f"mariadb {client} {connect}"
    count = "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()"
    marker = SEED_MARKER_TABLE
    lines = [
        "set -eu",
        f'marked=$({run} --skip-column-names --execute="{count} AND TABLE_NAME = \'{marker}\'")',
        'if [ "$marked" != 0 ]; then',
        f'  done=$({run} --skip-column-names --execute="SELECT COALESCE(MAX(done), 0) FROM {marker}")',
        '  if [ "$done" = 1 ]; then echo "minnova-idp: already seeded"; exit 0; fi',
        '  echo "minnova-idp: an earlier seed failed half-way (minnova_seed.done is 0); not seeding on top: start'
        ' from a fresh database (docs/mysql-data.md: Seed data)" >&2',
        "  exit 1",
        "fi",
        f'tables=$({run} --skip-column-names --execute="{count}")',
        'if [ "$tables" != 0 ]; then echo "minnova-idp: the database already holds tables; not seeded"; exit 0; fi',
        f'{run} --execute="CREATE TABLE {marker} (done TINYINT NOT NULL, at TIMESTAMP NOT NULL DEFAULT '
        f'CURRENT_TIMESTAMP); INSERT INTO {marker} (done) VALUES (0)"',
        'for file in "$@"; do',
        '  echo "minnova-idp: seeding $file"',
        f'  {run} < "$file"',
        "done",
        f'{run} --execute="UPDATE {marker} SET done = 1"',
        'echo "minnova-idp: seeded"',
        "",
    ]
    return "\n".join(lines)


def render_seed(data: MysqlData, namespace: str, labels: dict[str, str]) -> Manifest:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": mysql_seed(data.server), "namespace": namespace, "labels": labels},
            "data": {**dict(data.seed), SEED_SCRIPT_KEY: seed_script(tuple(key for key, _ in data.seed))}}


def mariadb_client_env(app: AppConfig, mysql: MysqlPlacement, namespace: str, host: str | None = None
                       ) -> list[dict[str, Any]]:
    """What the app's containers get (render/mysql.py mysql_env), the password as MYSQL_PWD (read by the client,
    never on its command line), no URL; `host`: another server's (the drill's)."""
    env = []
    for entry in mysql_env(app, mysql, namespace):
        if entry["name"] not in APP_SECRET_KEYS:
            continue
        if entry["name"] == "MYSQL_PASSWORD":
            entry = {"name": "MYSQL_PWD", "valueFrom": entry["valueFrom"]}
        elif entry["name"] == "MYSQL_HOST" and host is not None:
            entry = {"name": "MYSQL_HOST", "value": host}
        env.append(entry)
    return env + [{"name": name, "value": value} for name, value in SAFE_CLIENT_ENV]


TLS_CA_MOUNT = {"name": "tls-ca", "mountPath": TLS_CA_DIR, "readOnly": True}


def tls_ca_volume(server: str) -> dict[str, Any]:
    """The server's CA (its public certificate only) for the client's --ssl-ca."""
    return {"name": "tls-ca", "secret": {"secretName": tls_ca_secret(server),
                                         "items": [{"key": TLS_CA_KEY, "path": TLS_CA_KEY}]}}


def render_seed_job(app: AppConfig, mysql: MysqlPlacement, namespace: str, labels: dict[str, str]) -> Manifest:
    """The seed files, run once, as the app's user, by the hardened client (module docstring), with no token: a pod
    of the app's (its labels: the app's egress policy, and the server's ingress policy lets it in)."""
    data = mysql.data
    assert data is not None
    name = mysql_seed(data.server)
    metadata: dict[str, Any] = {"name": name, "namespace": namespace, "labels": labels}
    if mysql.preview:  # as PostgreSQL's seed (render/sql_jobs.py _sql_job): a Sync hook in the seed's wave
        metadata["annotations"] = {SYNC_WAVE_ANNOTATION: str(SEED_SYNC_WAVE), HOOK_ANNOTATION: "Sync",
                                   HOOK_DELETE_POLICY_ANNOTATION: "BeforeHookCreation"}
    pod_labels = {**labels, "app.kubernetes.io/instance": f"{labels['app.kubernetes.io/instance']}-mysql-seed"}
    files = [f"/seed/{key}" for key, _ in data.seed]
    return {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": metadata,
        "spec": {
            "backoffLimit": 2 if mysql.preview else 10,
            "activeDeadlineSeconds": 600 if mysql.preview else 1800,
            "template": {"metadata": {"labels": pod_labels}, "spec": {
                **token_less_job_pod(app.run_as_user),
                "volumes": [{"name": "seed", "configMap": {"name": name}}, {"name": "tmp", "emptyDir": {}},
                            tls_ca_volume(data.server)],
                "containers": [{
                    "name": "seed",
                    "image": versions.MARIADB_IMAGES[data.version],  # the server's client, same series
                    "command": ["bash", f"/seed/{SEED_SCRIPT_KEY}", *files],
                    "env": mariadb_client_env(app, mysql, namespace),
                    "securityContext": hardened_container_security(),
                    "volumeMounts": [{"name": "seed", "mountPath": "/seed", "readOnly": True},
                                     {"name": "tmp", "mountPath": "/tmp"}, TLS_CA_MOUNT],
                    "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
                }],
            }},
        },
    }


def mysql_data_objects(prefix: str, app: AppConfig, mysql: MysqlPlacement, namespace: str, labels: dict[str, str],
                       keep: Lifecycle, after: tuple[str, ...], server_key: str | None = None,
                       ready_key: str | None = None, app_pods: dict[str, str] | None = None) -> list[KubernetesObject]:
    """For a restore, the source server as it runs (its MariaDB and backups, never its bootstrap); the
    PhysicalBackup and PointInTimeRecovery (kept like the server: retained, protected where the environment is);
    then the seed's ConfigMap and Job (once the app's user can use its database: `ready_key`). `after`: the
    namespace, the operator's releases and the backup credentials Secret; `server_key`: the MariaDB's key."""
    data = mysql.data
    if data is None:
        return []
    objects = []
    servers = [data]
    source_server = None
    if data.restore is not None and not data.restore.source_gone:
        # A gone source (`sourceGone`) is never declared: it would come back as a new, empty server whose
        # PhysicalBackup (immediate) writes into the very prefix being restored from, and whose retention then
        # prunes the real backups there.
        # Kept declared exactly as it was (same name, spec and backups): `pulumi up` changes nothing on it until the
        # restore is removed on purpose (docs/mysql-data.md "Restoring"); its data stays for what the restore lost.
        source = replace(data, server=data.restore.from_backup, restore=None, seed=())
        source_mysql = replace(mysql, server=source.server, data=source)
        source_server = kubernetes_object(prefix, render_mariadb(app, source_mysql, namespace, labels,
                                                                 mariadb_data_spec(app, source)),
                                          replace(keep, depends_on=after))
        objects.append(source_server)
        servers.insert(0, source)
        if app_pods is not None:
            # Its own ingress policy too: the namespace-wide one leaves MariaDB's pods out (render/mysql.py).
            objects.append(kubernetes_object(prefix, render_policy(source_mysql, namespace, labels, app_pods),
                                             Lifecycle(depends_on=after)))
    for each in servers:
        if each.backup is None:
            continue
        owner = source_server.key if each is not data and source_server is not None else server_key
        backup = kubernetes_object(prefix, render_physical_backup(app, each, namespace, labels),
                                   replace(keep, depends_on=(*after, *filter(None, [owner]))))
        objects.append(backup)
        if each.point_in_time:
            objects.append(kubernetes_object(prefix, render_point_in_time_recovery(app, each, namespace, labels),
                                             replace(keep, depends_on=(*after, backup.key))))
    if data.seed and data.restore is None:
        seed = kubernetes_object(prefix, render_seed(data, namespace, labels), Lifecycle(depends_on=after))
        objects += [seed, kubernetes_object(prefix, render_seed_job(app, mysql, namespace, labels),
                                            Lifecycle(depends_on=(*after, seed.key, *filter(None, [ready_key]))))]
    return objects
