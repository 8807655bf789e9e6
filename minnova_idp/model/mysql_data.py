"""The data half of `mysql:`: backups, restores, drills and seed data of an app's MariaDB (docs/mysql-data.md).

`mysql.backupRetention`, `mysql.restoreDrill`, `mysql.seed` and `environments.<env>.mysql.{serverName, restore}`,
shaped like PostgreSQL's `database` counterparts so an app developer who knows one knows the other. The names
every backup object derives from live here too (one concept per module).
"""

from __future__ import annotations

import re
from typing import ClassVar

from pydantic import Field

from minnova_idp.model.fields import StrictModel, server_name
from minnova_idp.model.seed import DatabaseSeed, Timestamp

# A MariaDB's name: the operator derives `<name>-primary`, `<name>-secondary`, `<name>-internal`, `storage-<name>-<n>`
# and `<name>-daily`-style children from it (model/mysql.py: at most 36 characters, DNS labels).
SERVER_NAME_MAX = 36
_RETENTION_RE = re.compile(r"^([1-9][0-9]{0,3})([dw])$")
_RETENTION_HOURS = {"d": 24, "w": 7 * 24}


def _mysql_retention(value: str) -> str:
    if not _RETENTION_RE.fullmatch(value):
        raise ValueError(f"'{value}' is not a retention period: a number and d or w (e.g. 30d, 4w); months are not "
                         "a fixed duration, which the operator's maxRetention is")
    return value


ServerName = server_name(SERVER_NAME_MAX, "the MariaDB and its backups' prefix")


def retention_duration(retention: str) -> str:
    """`30d` as the operator's `maxRetention` (a Go duration: hours; mariadb-operator@v26.6.0
    api/v1alpha1/physicalbackup_types.go:205-209, metav1.Duration)."""
    count, unit = _RETENTION_RE.fullmatch(retention).groups()
    return f"{int(count) * _RETENTION_HOURS[unit]}h"


class MysqlRestore(StrictModel):
    documented_as_one_value: ClassVar[bool] = True

    from_backup: ServerName = Field(
        description="the server whose backups to restore (its serverName, by default <app>-mysql)")
    target_time: Timestamp | None = Field(
        default=None, description="point in time to recover to (RFC 3339): with binary logs archived (2 or more "
        "instances) to that second; otherwise the last full backup taken at or before it; default: now")
    source_gone: bool = Field(
        default=False, description="the source server no longer runs (disaster recovery): restore straight from its "
        "backups in the bucket (the last full backup at or before targetTime; no binary-log replay) and declare "
        "nothing of it, so nothing recreates it as an empty server backing up into the prefix being restored from; "
        "it must be a server this environment ran (docs/mysql-data.md \"Restoring\")")


MysqlSeed = DatabaseSeed  # the same files and rules as PostgreSQL's seed (model/seed.py)



# ---- names ---------------------------------------------------------------------------------------------------------
# Every backup of an app environment shares its one backup bucket (render/database.backup_target) with PostgreSQL's
# archive: MariaDB's under `mysql/<server>/` (full backups) and `mysql/<server>/binlogs/` (binary logs), so neither
# engine ever lists, prunes or overwrites the other's objects.
MYSQL_BACKUP_ROOT = "mysql"


def mysql_backup_prefix(server: str) -> str:
    return f"{MYSQL_BACKUP_ROOT}/{server}/"


def mysql_binlog_prefix(server: str) -> str:
    return f"{MYSQL_BACKUP_ROOT}/{server}/binlogs/"


def mysql_physical_backup(server: str) -> str:
    return f"{server}-daily"


def mysql_pitr(server: str) -> str:
    return f"{server}-pitr"


def mysql_seed(server: str) -> str:
    return f"{server}-seed"


def mysql_drill(server: str) -> str:
    return f"{server}-drill"
