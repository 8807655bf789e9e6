"""Rules across fields for the data half of `mysql:` (model/mysql_data.py), and which server an environment runs.

Apart from model/mysql_data.py because they read `mysql.py` (the server's default name), which imports the field
types there: one direction, no cycle (tests/test_architecture.py).
"""

from __future__ import annotations

from minnova_idp.model.mysql import mysql_server
from minnova_idp.model.mysql_data import MYSQL_BACKUP_ROOT

# `config: "AppConfig"` is only a name: app_config imports this module.


def mysql_server_name(config: "AppConfig", environment: str) -> str:  # noqa: F821
    """The MariaDB an app environment runs: `serverName`, default `<app>-mysql` (model/mysql.py mysql_server)."""
    settings = config.environments[environment].mysql if environment in config.environments else None
    return (settings.server_name if settings is not None and settings.server_name else None) or mysql_server(config.name)


def mysql_data_problems(config: "AppConfig") -> list[tuple[tuple[str, ...], str]]:  # noqa: F821
    """Reported with file and line by AppConfig.cross_field_problems."""
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
                             f"creates a new server: set environments.{env_name}.mysql.serverName to a new name "
                             "(docs/mysql-data.md \"Restoring\")"))
    if mysql.enabled and config.database.enabled:
        # PostgreSQL archives at the bucket's root under its server names (<backupName>/base, /wals); MariaDB's
        # backups live under `mysql/` in the same bucket: a PostgreSQL server named `mysql` would share that prefix.
        for env_name in config.environments:
            if config.backup_name(env_name) == mysql_server_name(config, env_name):
                problems.append((("environments", env_name, "database", "backupName"),
                                 f"'{config.backup_name(env_name)}' is also the app's MySQL server: their drills and "
                                 "backups would share names; pick another name"))
            if config.backup_name(env_name) == MYSQL_BACKUP_ROOT:
                problems.append((("environments", env_name, "database", "backupName"),
                                 f"'{MYSQL_BACKUP_ROOT}' is where the app's MySQL backups are kept in the same bucket; "
                                 "pick another name"))
    return problems
