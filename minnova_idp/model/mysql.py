"""`mysql:` in `.minnova/app.yaml`: a MySQL-compatible database (MariaDB, run by mariadb-operator; ADR 0013).

One block per engine, beside PostgreSQL's `database:` and Redis's `redis:`. The names every MariaDB object
derives from live here too (one concept per module; `names.py` holds the names every app has).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema

from minnova_idp.model import versions
from minnova_idp.model.fields import Quantity, StrictModel
from minnova_idp.model.quantity import parse_quantity
from minnova_idp.model.resources import ResourceList, Resources
from minnova_idp.model.mysql_data import MysqlRestore, MysqlSeed, ServerName, _mysql_retention

# `config: "AppConfig"` below is only a name: app_config imports this module, and an import back (even for type
# checking) would be a cycle (tests/test_architecture.py).

MYSQL_SIZE_MAX = "64Ti"
MYSQL_PORT = 3306
MYSQL_INSTANCES_MAX = 5
# What the platform injects from the app's MariaDB (render/mysql.py); an app setting one itself is refused.
MYSQL_ENV_VARS = ("MYSQL_URL", "MYSQL_HOST", "MYSQL_PORT", "MYSQL_USER", "MYSQL_PASSWORD", "MYSQL_DATABASE")


def _mysql_size(value: str) -> str:
    if parse_quantity(value) > parse_quantity(MYSQL_SIZE_MAX):
        raise ValueError(f"'{value}' is more than a MySQL volume may be ({MYSQL_SIZE_MAX})")
    return value


def _version_text(value: object) -> object:
    """`version: 11.8` is a YAML float; the versions are names (`10.11` is not `10.1`), so take the float's text."""
    if isinstance(value, float):
        return repr(value)
    return value


MysqlVersion = Annotated[
    Literal["10.11", "11.8"],  # the keys of versions.MARIADB_IMAGES (a test keeps them equal)
    BeforeValidator(_version_text),
    WithJsonSchema({"enum": [*versions.MARIADB_IMAGES, *(float(v) for v in versions.MARIADB_IMAGES)],
                    "description": "MariaDB long-term-support series"}),
]


class Mysql(StrictModel):
    enabled: bool = Field(
        default=False, description="a MySQL-compatible database (MariaDB, mariadb-operator) per environment, "
        "reachable only from the app's pods; the app gets `MYSQL_URL` (`mysql://user:password@host:3306/db`) and "
        "`MYSQL_HOST`, `MYSQL_PORT`, `MYSQL_USER`, `MYSQL_PASSWORD`, `MYSQL_DATABASE` (docs/mysql.md)")
    version: MysqlVersion = Field(
        default=versions.DEFAULT_MARIADB_VERSION,
        description="MariaDB long-term-support series: `\"10.11\"` or `\"11.8\"` (pinned images, see "
                    "`minnova_idp/model/versions.py`); can move up, never down; 10.11 to 11.8 runs "
                    "`mariadb-upgrade` on the new server (docs/mysql.md \"Upgrades\")")
    size: Annotated[Quantity, AfterValidator(_mysql_size)] = Field(
        default="1Gi", description="storage per instance, as a Kubernetes quantity (`5Gi`, not `5GB`); can grow, "
                                   f"never shrink; at most {MYSQL_SIZE_MAX}")
    resources: Resources = Field(
        default=Resources(requests=ResourceList(cpu="100m", memory="256Mi"), limits=ResourceList(memory="1Gi")),
        description="MariaDB's resources (each instance)")
    database_url: bool = Field(
        default=False, description="also set `DATABASE_URL` to the `mysql://` URL (for frameworks that read only "
        "that); refused when `database.enabled` is true, which sets it to PostgreSQL's")

    # The data half (model/mysql_data.py, docs/mysql-data.md).
    backup_retention: Annotated[str, AfterValidator(_mysql_retention)] = Field(
        default="30d", description="how long full backups (and binary logs) are kept: a number and `d` or `w`")
    restore_drill: bool = Field(
        default=True, description="restore the latest full backup into a throwaway server on the stack's schedule "
                                  "(`minnova:restoreDrillSchedule`) and run a check query (`SELECT 1`) against it; "
                                  "see docs/mysql-data.md \"Restore drills\"")
    seed: MysqlSeed | None = Field(
        default=None, description="`{files: [seed/mysql.sql], environments: [dev]}`: SQL run once when a preview's "
        "MySQL is created (and in `environments`), by the mariadb client in sandbox mode (no shell escapes, no "
        "local files); see docs/mysql-data.md \"Seed data\"")


class EnvironmentMysql(StrictModel):
    instances: int = Field(
        default=1, ge=1, le=MYSQL_INSTANCES_MAX,
        description=f"1–{MYSQL_INSTANCES_MAX}; more than one is high availability: a primary and replicas "
                    "(semi-synchronous MariaDB replication, automatic failover by the operator); previews always run "
                    "one; see docs/mysql.md \"High availability\"")
    server_name: ServerName | None = Field(
        default=None, description="the MariaDB this environment runs, and its backups' prefix (default "
        "`<app>-mysql`; change it only to restore, see docs/mysql-data.md \"Restoring\")")
    restore: MysqlRestore | None = Field(
        default=None, description="`{fromBackup: <server>, targetTime: <RFC 3339>, sourceGone: false}`: create the "
        "new server `serverName` from the running server's backups, only when it is created; the source stays "
        "until removed on purpose; `sourceGone: true` when it no longer runs (docs/mysql-data.md \"Restoring\")")


def mysql_problems(config: "AppConfig") -> list[tuple[tuple[str, ...], str]]:
    """Rules across fields for `mysql:` (AppConfig.cross_field_problems reports them with file and line)."""
    problems = []
    mysql = config.mysql
    scopes = [(("env",), config.env)] + [(("environments", env_name, "env"), environment.env)
                                         for env_name, environment in config.environments.items()]
    if mysql.enabled:
        for where, values in scopes:
            for name in MYSQL_ENV_VARS:
                if name in values:
                    problems.append(((*where, name), "is set by the platform from the app's MySQL "
                                     "(mysql.enabled is true); remove it"))
            if mysql.database_url and "DATABASE_URL" in values:
                problems.append(((*where, "DATABASE_URL"), "is set by the platform from the app's MySQL "
                                 "(mysql.databaseUrl is true); remove it"))
    if mysql.enabled and config.name == "mariadb":
        problems.append((("name",), "'mariadb' is the label of MariaDB's own pods (app.kubernetes.io/name), which "
                         "keeps them apart from the app's: rename the app to use mysql"))
    if mysql.database_url:
        if not mysql.enabled:
            problems.append((("mysql", "databaseUrl"), "is true but the app has no MySQL (mysql.enabled is false)"))
        elif config.database.enabled:
            problems.append((("mysql", "databaseUrl"), "DATABASE_URL is already PostgreSQL's (database.enabled is "
                             "true); use MYSQL_URL for MySQL, or turn one of them off"))
    for env_name, environment in config.environments.items():
        if environment.mysql is not None and not mysql.enabled:
            problems.append((("environments", env_name, "mysql"),
                             "is set but the app has no MySQL (mysql.enabled is false)"))
    return problems


def mysql_instances(config: "AppConfig", environment: str) -> int:
    settings = config.environments[environment].mysql
    return settings.instances if settings else 1


# ---- names ------------------------------------------------------------------------------------
# MariaDB's name is `<app>-mysql` (≤ 36 characters: the operator derives `<name>-primary`, `<name>-secondary`,
# `<name>-internal`, `storage-<name>-<n>` from it, all DNS labels). The database and user are the app's name with
# '-' as '_' (MariaDB identifiers; a user name is at most 80 characters, MariaDB 10.6+).

def mysql_server(app: str) -> str:
    return f"{app}-mysql"


def mysql_database(app: str) -> str:
    return app.replace("-", "_")


def mysql_user(app: str) -> str:
    return app.replace("-", "_")


def mysql_root_secret(app: str) -> str:
    return f"{app}-mysql-root"


def mysql_app_secret(app: str) -> str:
    """The app user's password (and the connection details the app reads), in the app's namespace only."""
    return f"{app}-mysql-app"
