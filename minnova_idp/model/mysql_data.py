"""The data half of `mysql:`: backups, restores, drills and seed data of an app's MariaDB (docs/mysql-data.md).

`mysql.backupRetention`, `mysql.restoreDrill`, `mysql.seed` and `environments.<env>.mysql.{serverName, restore}`,
shaped like PostgreSQL's `database` counterparts so an app developer who knows one knows the other. The names
every backup object derives from live here too (one concept per module).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, ClassVar

from pydantic import AfterValidator, Field, field_validator

from minnova_idp.model.fields import EnvironmentName, StrictModel

# A MariaDB's name: the operator derives `<name>-primary`, `<name>-secondary`, `<name>-internal`, `storage-<name>-<n>`
# and `<name>-daily`-style children from it (model/mysql.py: at most 36 characters, DNS labels).
SERVER_NAME_MAX = 36
_SERVER_NAME_RE = re.compile(r"^[a-z]([a-z0-9-]*[a-z0-9])?$")
_RETENTION_RE = re.compile(r"^([1-9][0-9]{0,3})([dw])$")
_RETENTION_HOURS = {"d": 24, "w": 7 * 24}


def _server_name(value: str) -> str:
    if len(value) > SERVER_NAME_MAX or not _SERVER_NAME_RE.fullmatch(value):
        raise ValueError(f"'{value}' must be lowercase letters, digits and '-', start with a letter, at most "
                         f"{SERVER_NAME_MAX} characters (it names the MariaDB and its backups' prefix)")
    return value


def _mysql_retention(value: str) -> str:
    if not _RETENTION_RE.fullmatch(value):
        raise ValueError(f"'{value}' is not a retention period: a number and d or w (e.g. 30d, 4w); months are not "
                         "a fixed duration, which the operator's maxRetention is")
    return value


def _timestamp(value: str) -> str:
    """RFC 3339 with a zone, as PostgreSQL's restore takes it (the operator's targetRecoveryTime is a metav1.Time)."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"'{value}' is not an RFC 3339 timestamp (e.g. 2026-11-20T09:30:00Z)") from None
    if parsed.tzinfo is None:
        raise ValueError(f"'{value}' has no time zone; add Z or an offset such as +01:00")
    return value


_SEED_FILE_RE = re.compile(r"^seed/[A-Za-z0-9][A-Za-z0-9._-]{0,99}\.sql$")


def _seed_file(value: str) -> str:
    if not _SEED_FILE_RE.fullmatch(value) or ".." in value:
        raise ValueError(f"'{value}' must be a .sql file in .minnova/seed/, written relative to .minnova/ "
                         "(e.g. seed/mysql.sql)")
    return value


ServerName = Annotated[str, AfterValidator(_server_name)]


def retention_duration(retention: str) -> str:
    """`30d` as the operator's `maxRetention` (a Go duration: hours; mariadb-operator@v26.6.0
    api/v1alpha1/physicalbackup_types.go:205-209, metav1.Duration)."""
    count, unit = _RETENTION_RE.fullmatch(retention).groups()
    return f"{int(count) * _RETENTION_HOURS[unit]}h"


class MysqlRestore(StrictModel):
    documented_as_one_value: ClassVar[bool] = True

    from_backup: ServerName = Field(
        description="the server whose backups to restore (its serverName, by default <app>-mysql)")
    target_time: Annotated[str, AfterValidator(_timestamp)] | None = Field(
        default=None, description="point in time to recover to (RFC 3339): with binary logs archived (2 or more "
        "instances) to that second; otherwise the last full backup taken at or before it; default: now")
    source_gone: bool = Field(
        default=False, description="the source server no longer runs (disaster recovery): restore straight from its "
        "backups in the bucket (the last full backup at or before targetTime; no binary-log replay) and declare "
        "nothing of it, so nothing recreates it as an empty server backing up into the prefix being restored from; "
        "it must be a server this environment ran (docs/mysql-data.md \"Restoring\")")


class MysqlSeed(StrictModel):
    """`database.seed`'s shape (model/app_config.py DatabaseSeed), for MySQL's own files."""

    documented_as_one_value: ClassVar[bool] = True

    files: list[Annotated[str, AfterValidator(_seed_file)]] = Field(
        min_length=1, max_length=20, description="SQL files in .minnova/seed/, applied in order")
    environments: list[EnvironmentName] = Field(
        default_factory=list, description="environments seeded too when their MySQL is created (e.g. [dev])")

    @field_validator("files")
    @classmethod
    def _distinct_names(cls, files: list[str]) -> list[str]:
        seen = [f.rsplit("/", 1)[-1] for f in files]
        if len(set(seen)) != len(seen):
            raise ValueError("each seed file may be listed once")
        return files


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
