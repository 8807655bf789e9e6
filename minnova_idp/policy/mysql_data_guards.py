"""The guarded values of a MariaDB's data half (docs/mysql-data.md): what policy/guards.py's table reads and checks.

Server: an environment's MariaDB is the server this stack last deployed for it (`mysqlServers`), unless a restore
from that server is declared: a changed `serverName` alone would give the app a new, empty database, and its
backups would start a new prefix beside the old one's.
Bucket: the backups' bucket is the one last deployed (`mysqlBackupBuckets`): a new name (a renamed deployment) would
back up into a new, empty bucket, leaving every earlier backup where no restore or drill of this server looks.
Retention: a shorter `backupRetention` makes the next backup Job delete every full backup older than the new
period under the server's prefix (mariadb-operator@v26.6.0 pkg/backup/processor.go:236-251, run by
`mariadb-operator backup --max-retention`, pkg/command/backup.go:323-359): refused until done on purpose with the
storage guard off for one run (minnova:databaseStorageGuard false).
"""

from __future__ import annotations

from typing import Any, Mapping

from minnova_idp.model import names
from minnova_idp.model.errors import Problem
from minnova_idp.model.loaded import LoadedApp
from minnova_idp.model.mysql_data import SERVER_NAME_MAX, retention_duration
from minnova_idp.model.mysql_data_rules import mysql_server_name

Recorded = Mapping[str, Mapping[str, str]]


def declared_server(config: Any, environment: str, recorded: Recorded) -> str | None:
    return mysql_server_name(config, environment) if config.mysql.enabled else None


def declared_bucket(config: Any, environment: str, deployment: str) -> str | None:
    return names.backup_bucket(deployment, config.name, environment) if config.mysql.enabled else None


def declared_retention(config: Any, environment: str, recorded: Recorded) -> str | None:
    return config.mysql.backup_retention if config.mysql.enabled else None


def server_replaced(app: LoadedApp, environment: str, before: str, now: str) -> list[Problem]:
    settings = app.config.environments[environment].mysql
    restore = settings.restore if settings else None
    if now == before or (restore is not None and restore.from_backup == before):
        return []
    return [Problem(app.config_file, f"environments.{environment}.mysql.serverName",
                    f"'{now}' would give the app a new, empty MySQL in place of '{before}', which {environment} runs",
                    hint=f"keep serverName: {before}, or restore into '{now}' with restore.fromBackup: {before} "
                         "(docs/mysql-data.md: Restoring)")]


def bucket_replaced(app: LoadedApp, environment: str, before: str, now: str) -> list[Problem]:
    if now == before:
        return []
    return [Problem(app.config_file, "mysql.enabled",
                    f"{environment} would back its MySQL up into a new, empty bucket '{now}' in place of '{before}', "
                    "which holds its backups and binary logs",
                    hint=f"copy mysql/ from '{before}' to '{now}' first, then run with minnova:databaseStorageGuard "
                         "false once (docs/mysql-data.md: What is backed up, where, and for how long)")]


def _hours(retention: str) -> int | None:
    try:
        return int(retention_duration(retention).removesuffix("h"))
    except (AttributeError, ValueError):
        return None


def retention_shortened(app: LoadedApp, environment: str, before: str, now: str) -> list[Problem]:
    old, new = _hours(before), _hours(now)
    if old is None or new is None or new >= old:
        return []
    return [Problem(app.config_file, "mysql.backupRetention",
                    f"'{now}' is shorter than the {before} {environment} keeps: the next backup would delete every "
                    f"full backup of {environment}'s MySQL older than {now}",
                    hint=f"keep backupRetention: {before}; to shorten it on purpose, run once with "
                         "minnova:databaseStorageGuard false (docs/mysql-data.md: Restoring)")]


def malformed_server(value: str) -> str | None:
    ok = 0 < len(value) <= SERVER_NAME_MAX and value.replace("-", "").isalnum() and value.islower()
    return None if ok else f"'{value[:40]}' is not a MariaDB name this stack writes"


def malformed_bucket(value: str) -> str | None:
    if 3 <= len(value) <= names.BUCKET_NAME_MAX and names.DNS_LABEL_RE.fullmatch(value):
        return None
    return f"'{value[:70]}' is not a bucket name this stack writes"


def malformed_retention(value: str) -> str | None:
    return None if _hours(value) is not None else f"'{value[:40]}' is not a backup retention"
