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
    problems += _service_name_problems(config)
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
                environment = config.environments[env_name]
                written = ("mysql", "serverName") if (environment.mysql is not None and environment.mysql.server_name
                                                      and (environment.database is None
                                                           or not environment.database.backup_name)) \
                    else ("database", "backupName")  # the field the file sets
                problems.append((("environments", env_name, *written),
                                 f"'{config.backup_name(env_name)}' is also the app's MySQL server: their drills and "
                                 "backups would share names; pick another name"))
            if config.backup_name(env_name) == MYSQL_BACKUP_ROOT:
                problems.append((("environments", env_name, "database", "backupName"),
                                 f"'{MYSQL_BACKUP_ROOT}' is where the app's MySQL backups are kept in the same bucket; "
                                 "pick another name"))
    return problems


# The operator names a MariaDB's Services after it: `<server>` and, with replication, `<server>-primary`,
# `-secondary`, `-internal` (mariadb-operator@v26.6.0 internal/controller/mariadb_controller.go:638-639 names the
# default Service by the MariaDB's key; api/v1alpha1/mariadb_keys.go:203-233 the others), and its ServiceReconciler takes over a Service of that name that exists, overwriting its
# selector (pkg/controller/service/controller.go:35-55): one named like an app's own Service would silently send
# the app's traffic to MariaDB, or MariaDB's to the app.
_OPERATOR_SERVICE_SUFFIXES = ("primary", "secondary", "internal")


def _service_name_problems(config: "AppConfig") -> list[tuple[tuple[str, ...], str]]:  # noqa: F821
    if not config.mysql.enabled:
        return []
    problems = []
    for process in config.processes:
        if process.startswith("mysql-"):
            problems.append((("processes", process), f"'{process}' is reserved while mysql.enabled is true: "
                             f"`{config.name}-{process}` is a name of the app's MariaDB's own objects "
                             f"({config.name}-mysql-primary, -secondary, -internal, -drill); pick another name"))
    from minnova_idp.model.operator_services import operator_services  # here: it imports model/mysql.py

    own = {config.name: "the app's own Service", f"{config.name}-redis": "the app's Redis Service",
           **{f"{config.name}-{process}": f"the Service of process '{process}'" for process in config.processes},
           # PostgreSQL's and MongoDB's operators' Services (their operators refuse a Service they do not own,
           # cloudnative-pg@v1.30.0 internal/controller/cluster_create.go:416-417): DATABASE_URL would reach MariaDB.
           **{name: f"a Service of {owner}" for name, owner in operator_services(config).items()
              if not owner.startswith("mariadb-operator")}}
    for env_name, environment in config.environments.items():
        settings = environment.mysql
        if settings is None or settings.server_name is None:
            continue
        server = settings.server_name
        field = ("environments", env_name, "mysql", "serverName")
        taken = [f"'{name}' would be {what}" for name, what in own.items()
                 if name == server or any(name == f"{server}-{suffix}" for suffix in _OPERATOR_SERVICE_SUFFIXES)]
        if taken:
            problems.append((field, f"'{server}' names the MariaDB's Services ({server}, {server}-primary, ...): "
                             f"{'; '.join(taken)}; pick another name"))
        if server.endswith("-drill"):
            problems.append((field, f"'{server}' ends in -drill, the name of another server's restore drill; "
                             "pick another name"))
    return problems
