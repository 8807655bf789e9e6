"""The data half of `mysql:`: backups, restores, drills and seed data of an app's MariaDB (docs/mysql-data.md).

`mysql.backupRetention`, `mysql.restoreDrill`, `mysql.seed` and `environments.<env>.mysql.{serverName, restore}`,
shaped like PostgreSQL's `database` counterparts so an app developer who knows one knows the other. The names
every backup object derives from live here too (one concept per module).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, ClassVar

from pydantic import AfterValidator, Field

from minnova_idp.model.fields import StrictModel

if TYPE_CHECKING:
    from minnova_idp.model.app_config import AppConfig

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
    from minnova_idp.model.app_config import _timestamp as rfc3339

    return rfc3339(value)


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


def mysql_server_name(config: "AppConfig", environment: str) -> str:
    """The MariaDB an app environment runs: `serverName`, default `<app>-mysql` (model/mysql.py mysql_server)."""
    from minnova_idp.model.mysql import mysql_server

    settings = config.environments[environment].mysql if environment in config.environments else None
    return (settings.server_name if settings is not None and settings.server_name else None) or mysql_server(config.name)


def mysql_data_problems(config: "AppConfig") -> list[tuple[tuple[str, ...], str]]:
    """Rules across fields for the data half of `mysql:` (reported with file and line by AppConfig)."""
    problems = []
    mysql = config.mysql
    if mysql.seed is not None:
        if not mysql.enabled:
            problems.append((("mysql", "seed"), "is set but the app has no MySQL (mysql.enabled is false)"))
        for index, env_name in enumerate(mysql.seed.environments):
            if env_name not in config.environments:
                problems.append((("mysql", "seed", "environments", index),
                                 f"'{env_name}' is not one of this app's environments"))
    for env_name, environment in config.environments.items():
        settings = environment.mysql
        if settings is None or settings.restore is None:
            continue
        if settings.restore.from_backup == mysql_server_name(config, env_name):
            problems.append((("environments", env_name, "mysql", "restore", "fromBackup"),
                             f"'{settings.restore.from_backup}' is also the server this environment runs; a restore "
                             "creates a new server: set environments." + env_name + ".mysql.serverName to a new "
                             "name (docs/mysql-data.md \"Restoring\")"))
    if mysql.enabled and config.database.enabled:
        # PostgreSQL archives at the bucket's root under its server names (<backupName>/base, /wals); MariaDB's
        # backups live under `mysql/` in the same bucket: a PostgreSQL server named `mysql` would share that prefix.
        for env_name, environment in config.environments.items():
            if config.backup_name(env_name) == MYSQL_BACKUP_ROOT:
                problems.append((("environments", env_name, "database", "backupName"),
                                 f"'{MYSQL_BACKUP_ROOT}' is where the app's MySQL backups are kept in the same bucket; "
                                 "pick another name"))
    return problems


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
