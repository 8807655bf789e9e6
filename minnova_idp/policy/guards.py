"""Guarded values: what a stack records about each app environment in its outputs, and the checks the next run
makes against that record before it registers anything.

One table (`GUARDED`): each row is a stack output (component -> value), the app.yaml field the value comes from,
how the value is read from an app environment, what a recorded value must look like (`plan --previous-outputs`)
and the check against the recorded value. The stack's outputs, the guards in components/program.py, the checks of
`plan --previous-outputs` and `minnova-idp status` all come from it.
"""

from __future__ import annotations

import json

from dataclasses import dataclass
from typing import Callable, Mapping

from minnova_idp.model import names
from minnova_idp.model.app_config import AppConfig
from minnova_idp.model.errors import Problem
from minnova_idp.model.inputs import (
    DATABASE_CLUSTERS_OUTPUT,
    DATABASE_SERVERS_OUTPUT,
    DATABASE_SIZES_OUTPUT,
    DATABASE_UPGRADED_FROM_OUTPUT,
    DATABASE_VERSIONS_OUTPUT,
    MONGODB_CLUSTERS_OUTPUT,
    MONGODB_INSTANCES_OUTPUT,
    MONGODB_RESOURCES_OUTPUT,
    MONGODB_SIZES_OUTPUT,
    MONGODB_VERSIONS_OUTPUT,
    MYSQL_BACKUP_BUCKETS_OUTPUT,
    MYSQL_BACKUP_RETENTIONS_OUTPUT,
    MYSQL_INSTANCES_OUTPUT,
    MYSQL_SERVERS_OUTPUT,
    MYSQL_SIZES_OUTPUT,
    MYSQL_VERSIONS_OUTPUT,
    REDIS_SIZES_OUTPUT,
    STORAGE_BUCKETS_OUTPUT,
    ProgramInputs,
)
from minnova_idp.model.loaded import LoadedApp
from minnova_idp.model.quantity import QuantityError, parse_quantity
from minnova_idp.policy import mysql_data_guards, mysql_guards

# output name -> component -> the value this stack recorded at its last update
Recorded = Mapping[str, Mapping[str, str]]


@dataclass(frozen=True)
class Guarded:
    output: str  # the stack output (component -> value)
    field: str  # the app.yaml field the value comes from (what a Problem names)
    # The value an app environment declares (None: it has none), given what the stack recorded last.
    declared: Callable[[AppConfig, str, Recorded], str | None]
    # Problems of one app environment whose value was `before` (recorded) and is `now` (declared).
    check: Callable[[LoadedApp, str, str, str], list[Problem]]
    # Why a recorded value is unusable (a malformed outputs file), or None.
    malformed: Callable[[str], str | None] = lambda value: None
    # Read even when minnova:databaseStorageGuard is off: what the next run's resources depend on (archive_server).
    state: bool = False
    # Read whenever this holds for a deployed app environment (default: it declares a value with nothing recorded).
    needed: Callable[[AppConfig], bool] | None = None
    # For a value that also depends on the stack's deployment name (a bucket name): used instead of `declared`.
    declared_in: Callable[[AppConfig, str, str], str | None] | None = None

    def value(self, config: AppConfig, environment: str, recorded: Recorded, deployment: str) -> str | None:
        if self.declared_in is not None:
            return self.declared_in(config, environment, deployment)
        return self.declared(config, environment, recorded)


def _volume_size(value: str) -> str | None:
    try:
        # a zero or negative size would make the shrink check moot
        return None if parse_quantity(value) > 0 else f"'{value[:40]}' is not a volume size"
    except QuantityError as exc:
        return str(exc)


def _shrinks(field_name: str, what: str):
    def check(app: LoadedApp, environment: str, before: str, now: str) -> list[Problem]:
        if parse_quantity(now) >= parse_quantity(before):
            return []
        return [Problem(app.config_file, field_name,
                        f"'{now}' is smaller than the {before} deployed in {environment}; {what} volumes can grow "
                        "but never shrink", hint=f"keep {before} or more")]
    return check


def _replaced(app: LoadedApp, environment: str, before: str, now: str) -> list[Problem]:
    """An app's database is the Cluster this stack last deployed for it, unless a restore from that Cluster is
    declared: a changed `backupName` alone would give the app a new, empty database."""
    settings = app.config.environments[environment].database
    restore = settings.restore if settings else None
    if now == before or (restore is not None and restore.from_backup == before):
        return []
    return [Problem(app.config_file, f"environments.{environment}.database.backupName",
                    f"'{now}' would give the app a new, empty database in place of '{before}', which {environment} runs",
                    hint=f"keep backupName: {before}, or restore into '{now}' with restore.fromBackup: {before} "
                         "(docs/databases.md: Disaster recovery)")]


def _database_size(config: AppConfig, environment: str, recorded: Recorded) -> str | None:
    return config.database.size if config.database.enabled else None


def _database_cluster(config: AppConfig, environment: str, recorded: Recorded) -> str | None:
    return config.backup_name(environment) if config.database.enabled else None


def _redis_size(config: AppConfig, environment: str, recorded: Recorded) -> str | None:
    persistence = config.redis.persistence
    return persistence.size if config.redis.enabled and persistence.enabled else None


def _database_version(config: AppConfig, environment: str, recorded: Recorded) -> str | None:
    return str(config.database.version) if config.database.enabled else None


def _version_change(app: LoadedApp, environment: str, before: str, now: str) -> list[Problem]:
    """Minor updates come with the pinned images (versions.py) and need nothing. A major upgrade is CNPG's in-place
    `pg_upgrade` (cloudnative-pg@v1.30.0 internal/webhook/v1/cluster_webhook.go:1367-1410 allows upgrades, refuses
    downgrades), archived under a new server name (archive_server). A downgrade cannot be done in place at all."""
    if not before.isdigit() or int(now) == int(before):
        return []
    if int(now) < int(before):
        return [Problem(app.config_file, "database.version",
                        f"PostgreSQL {now} is older than the {before} that environments.{environment} runs; a "
                        "database cannot be downgraded in place (its files are in the newer format)",
                        hint=f"keep version: {before}; to go back, restore a backup taken before the upgrade into a "
                             "new backupName (docs/databases.md: Major upgrades)")]
    settings = app.config.environments[environment].database
    if settings is not None and settings.restore is not None:
        return [Problem(app.config_file, "database.version",
                        f"environments.{environment} declares a restore and an upgrade from PostgreSQL {before} to "
                        f"{now} at once", hint=f"keep version: {before} until the restore is done, then upgrade "
                                               "(docs/databases.md: Major upgrades)")]
    return []


def archive_server(config: AppConfig, environment: str, recorded: Recorded) -> str:
    """The server name an environment's Cluster archives under.

    Today's name stays for the version that is deployed: the Cluster's own name (what every Cluster archived under
    before major upgrades existed), or what the stack recorded for it. A major upgrade (the declared version is newer
    than the recorded one) starts `<cluster>-pg<major>`: pg_upgrade starts a new system at timeline 1, and in the old
    path a restore would follow the old system's later timelines and fail ("requested timeline N is not a child of
    this server's history", tests/render/test_backup_engine.py). The stack records the name (databaseServers), so
    the next runs keep it. A new Cluster (a restore into a new backupName) starts with its own name.
    """
    cluster = config.backup_name(environment)
    component = names.component_name(config.name, environment)
    if (recorded.get(DATABASE_CLUSTERS_OUTPUT) or {}).get(component, cluster) != cluster:
        return cluster
    server = (recorded.get(DATABASE_SERVERS_OUTPUT) or {}).get(component) or cluster
    before = (recorded.get(DATABASE_VERSIONS_OUTPUT) or {}).get(component, "")
    if before.isdigit() and config.database.version > int(before):
        return f"{cluster}-pg{config.database.version}"
    return server


def unrecorded_versions(inputs: ProgramInputs, previous: Recorded) -> list[str]:
    """Warnings for the first run after this version of minnova-idp: each deployed database (a `databaseClusters`
    entry in the stack's previous outputs) without a recorded `databaseVersions` entry. Its deployed major is
    unknown, so a database.version change in that very run cannot be seen: the run records the declared version and
    keeps the archive path it had (archive_server plans no new one without a recorded version). Said loudly by
    `plan` and `pulumi up`, because an upgrade in that run would pg_upgrade under the old path."""
    clusters = previous.get(DATABASE_CLUSTERS_OUTPUT) or {}
    versions = previous.get(DATABASE_VERSIONS_OUTPUT) or {}
    warnings = []
    for app, environment in inputs.deployed():
        component = names.component_name(app.name, environment)
        if app.config.database.enabled and component in clusters and component not in versions:
            warnings.append(
                f"{component}: its PostgreSQL major version is not recorded yet (first run of this minnova-idp "
                f"version); this run records {app.config.database.version} as deployed and keeps the archive path "
                f"'{(previous.get(DATABASE_SERVERS_OUTPUT) or {}).get(component) or clusters[component]}': "
                "do not change database.version in this run (docs/databases.md: Major upgrades)")
    return warnings


def _database_server(config: AppConfig, environment: str, recorded: Recorded) -> str | None:
    return archive_server(config, environment, recorded) if config.database.enabled else None


def _restore_of_upgraded(app: LoadedApp, environment: str, before: str, now: str) -> list[Problem]:
    """A restore keeps its source Cluster declared as it runs; one archiving under an upgrade's server name would,
    after the restore, be declared archiving under its own name again (the record follows the new Cluster): into
    the old system's path. Refused until that is supported: docs/databases.md names the manual recovery."""
    settings = app.config.environments[environment].database
    source = settings.restore.from_backup if settings and settings.restore else None
    if source is None or not (before.startswith(f"{source}-pg") and before.removeprefix(f"{source}-pg").isdigit()):
        return []
    return [Problem(app.config_file, f"environments.{environment}.database.restore",
                    f"'{source}' archives under '{before}' since its major upgrade; a declared restore of it is not "
                    "supported yet", hint="remove restore; recover by hand from server "
                                          f"'{before}' (docs/databases.md: Major upgrades)")]


def _upgraded_from(config: AppConfig, environment: str, recorded: Recorded) -> str | None:
    """What a rollback of the last major upgrade goes back to: `<major>/<server>` before it. Written by the run that
    plans the upgrade, kept by later runs, dropped by the rollback (apply_rollbacks)."""
    if not config.database.enabled:
        return None
    component = names.component_name(config.name, environment)
    before = (recorded.get(DATABASE_VERSIONS_OUTPUT) or {}).get(component, "")
    if before.isdigit() and config.database.version > int(before):
        server = (recorded.get(DATABASE_SERVERS_OUTPUT) or {}).get(component) or config.backup_name(environment)
        return f"{before}/{server}"
    return (recorded.get(DATABASE_UPGRADED_FROM_OUTPUT) or {}).get(component)


def _upgraded_from_value(value: str) -> str | None:
    major, _, server = value.partition("/")
    return _major(major) or _server_name(server)


def apply_rollbacks(inputs: ProgramInputs, recorded: Recorded) -> tuple[dict, list[Problem]]:
    """minnova:databaseUpgradeRollbacks: for each listed component, the record as it was before its last major
    upgrade (version and server name from databaseUpgradedFrom), so this run declares the old major and archives
    under the old server name again instead of refusing a downgrade. For a failed pg_upgrade: CNPG's rollback is
    the old image (cloudnative-pg@v1.30.0 pkg/reconciler/majorupgrade/reconciler.go:387-412 handleRollbackIfNeeded
    deletes the upgrade Job when the requested major is no longer higher than the data's). The platform team's
    stack setting, for one run: a listed component with nothing to roll back (or another version) is refused."""
    listed = inputs.stack.settings.database_upgrade_rollbacks
    if not listed:
        return dict(recorded), []
    record = {output: dict(values) for output, values in recorded.items()}
    previous_of = record.setdefault(DATABASE_UPGRADED_FROM_OUTPUT, {})
    declared = {names.component_name(app.name, environment): app for app, environment in inputs.deployed()
                if app.config.database.enabled}
    field = "minnova:databaseUpgradeRollbacks"
    problems = []
    for component in listed:
        app, previous = declared.get(component), previous_of.get(component)
        if app is None or previous is None or _upgraded_from_value(previous):
            problems.append(Problem(inputs.stack.file, field, f"'{component}' has no recorded major upgrade to roll "
                                    "back (databaseUpgradedFrom)", hint=f"remove '{component}' (a rollback is for "
                                    "one run: after it, remove it)"))
            continue
        major, _, server = previous.partition("/")
        if app.config.database.version != int(major):
            problems.append(Problem(app.config_file, "database.version",
                                    f"{field} rolls '{component}' back to PostgreSQL {major}, but "
                                    f"{app.config.database.version} is declared", hint=f"declare version: {major} "
                                    f"for this run, or remove '{component}' from {field}"))
            continue
        record.setdefault(DATABASE_VERSIONS_OUTPUT, {})[component] = major
        record.setdefault(DATABASE_SERVERS_OUTPUT, {})[component] = server
        del previous_of[component]
    return record, problems


def _storage_bucket(config: AppConfig, environment: str, deployment: str) -> str | None:
    return names.storage_bucket(deployment, config.name, environment) if config.storage.enabled else None


def _bucket_replaced(app: LoadedApp, environment: str, before: str, now: str) -> list[Problem]:
    """An app's bucket is the one this stack last deployed for it: a new name (a renamed deployment, a changed
    naming rule) would give the app a new, empty bucket while its objects stay in the old one."""
    if now == before:
        return []
    return [Problem(app.config_file, "storage.enabled",
                    f"{environment} would store objects in a new, empty bucket '{now}' in place of '{before}', which "
                    "holds its objects", hint=f"copy the objects from '{before}' to '{now}' first, then run with "
                    "minnova:databaseStorageGuard false once (docs/storage.md: Moving a bucket)")]


def _bucket_name(value: str) -> str | None:
    if 3 <= len(value) <= names.BUCKET_NAME_MAX and names.DNS_LABEL_RE.fullmatch(value):
        return None
    return f"'{value[:70]}' is not a bucket name this stack writes"


def _server_name(value: str) -> str | None:
    if len(value) <= names.SERVER_NAME_MAX and names.APP_NAME_RE.fullmatch(value):
        return None
    return f"'{value[:40]}' is not a server name this stack writes"


def _major(value: str) -> str | None:
    return None if value.isdigit() and len(value) <= 3 else f"'{value[:40]}' is not a PostgreSQL major version"


def _mongodb_size(config: AppConfig, environment: str, recorded: Recorded) -> str | None:
    return config.mongodb.size if config.mongodb.enabled else None


def _mongodb_version(config: AppConfig, environment: str, recorded: Recorded) -> str | None:
    return config.mongodb.version if config.mongodb.enabled else None


def _mongodb_cluster(config: AppConfig, environment: str, recorded: Recorded) -> str | None:
    return config.mongodb_cluster(environment) if config.mongodb.enabled else None


def _mongodb_instances(config: AppConfig, environment: str, recorded: Recorded) -> str | None:
    return str(config.mongodb_instances(environment)) if config.mongodb.enabled else None


def _mongodb_resources(config: AppConfig, environment: str, recorded: Recorded) -> str | None:
    if not config.mongodb.enabled:
        return None
    return json.dumps(config.mongodb.resources.as_kubernetes(), sort_keys=True, separators=(",", ":"))


def _mongodb_restoring(field_name: str, what: str, then=None):
    """During a MongoDB restore the source is rendered from the app's current settings (render/mongodb.py keeps it
    "as it runs"): a change would reach the running source too, mid-restore. Refused until the restore is removed;
    `then`: the row's own check otherwise."""
    def check(app: LoadedApp, environment: str, before: str, now: str) -> list[Problem]:
        settings = app.config.environments[environment].mongodb
        if before != now and settings is not None and settings.restore is not None:
            shown = field_name.replace("<env>", environment)
            return [Problem(app.config_file, shown,
                            f"environments.{environment} declares a MongoDB restore, and {what} changed from {before} "
                            f"to {now}: the change would reach the restore's source, '{settings.restore.from_cluster}',"
                            " while it is being restored from",
                            hint=f"keep {shown} as deployed until the restore is done and `restore:` removed")]
        return then(app, environment, before, now) if then else []
    return check


def _mongodb_major(value: str) -> tuple[int, int] | None:
    major, dot, minor = value.partition(".")
    return (int(major), int(minor)) if dot and major.isdigit() and minor.isdigit() else None


def _mongodb_version_value(value: str) -> str | None:
    return None if _mongodb_major(value) and len(value) <= 6 else f"'{value[:40]}' is not a MongoDB version"


# MongoDB upgrades one release series at a time (percona-server-mongodb-operator@v1.22.0 pkg/controller/
# perconaservermongodb/version.go:140-163 canUpgradeVersion: 6.0 -> 7.0 -> 8.0); a downgrade needs the feature
# compatibility version lowered first, which setFCV (render/mongodb.py) has already raised: never in place.
MONGODB_SERIES = ("6.0", "7.0", "8.0")


def _mongodb_version_change(app: LoadedApp, environment: str, before: str, now: str) -> list[Problem]:
    if _mongodb_major(before) is None or before == now:
        return []
    if _mongodb_major(now) < _mongodb_major(before):
        return [Problem(app.config_file, "mongodb.version",
                        f"MongoDB {now} is older than the {before} that environments.{environment} runs; a MongoDB "
                        "cannot be downgraded in place (its feature compatibility version is already raised)",
                        hint=f"keep version: \"{before}\"; to go back, restore a backup into a new clusterName "
                             "(docs/mongodb.md: Restore)")]
    if before in MONGODB_SERIES and now in MONGODB_SERIES and \
            MONGODB_SERIES.index(now) - MONGODB_SERIES.index(before) > 1:
        return [Problem(app.config_file, "mongodb.version",
                        f"MongoDB upgrades one release series at a time: {before} to {now} skips one",
                        hint="upgrade to the next series first, deploy, then to the one after")]
    settings = app.config.environments[environment].mongodb
    if settings is not None and settings.restore is not None:
        return [Problem(app.config_file, "mongodb.version",
                        f"environments.{environment} declares a MongoDB restore and an upgrade from {before} to "
                        f"{now} at once", hint=f"keep version: \"{before}\" until the restore is done")]
    return []


def _mongodb_replaced(app: LoadedApp, environment: str, before: str, now: str) -> list[Problem]:
    """The app's MongoDB is the cluster this stack last deployed, unless a restore from it into `now` is declared."""
    settings = app.config.environments[environment].mongodb
    restore = settings.restore if settings else None
    if now == before or (restore is not None and restore.from_cluster == before):
        return []
    return [Problem(app.config_file, f"environments.{environment}.mongodb.clusterName",
                    f"'{now}' would give the app a new, empty MongoDB in place of '{before}', which {environment} runs",
                    hint=f"keep clusterName: {before}, or restore into '{now}' with restore.fromCluster: {before} "
                         "(docs/mongodb.md: Restore)")]


GUARDED: tuple[Guarded, ...] = (
    Guarded(DATABASE_SIZES_OUTPUT, "database.size", _database_size, _shrinks("database.size", "database"),
            _volume_size),
    Guarded(DATABASE_CLUSTERS_OUTPUT, "environments.<env>.database.backupName", _database_cluster, _replaced),
    Guarded(REDIS_SIZES_OUTPUT, "redis.persistence.size", _redis_size, _shrinks("redis.persistence.size", "Redis"),
            _volume_size),
    Guarded(DATABASE_VERSIONS_OUTPUT, "database.version", _database_version, _version_change, _major, state=True),
    # Not a guard but state: the server name follows from the versions (archive_server), and must stay put.
    Guarded(DATABASE_SERVERS_OUTPUT, "environments.<env>.database.backupName", _database_server,
            _restore_of_upgraded, _server_name, state=True),
    Guarded(DATABASE_UPGRADED_FROM_OUTPUT, "database.version", _upgraded_from, lambda *args: [],
            _upgraded_from_value, state=True, needed=lambda config: config.database.enabled),
    # The bucket an environment stores its objects in (storage.enabled): what `pulumi up` last deployed.
    Guarded(STORAGE_BUCKETS_OUTPUT, "storage.enabled", lambda *args: None, _bucket_replaced, _bucket_name,
            declared_in=_storage_bucket),
    Guarded(MONGODB_SIZES_OUTPUT, "mongodb.size", _mongodb_size,
            _mongodb_restoring("mongodb.size", "the size", _shrinks("mongodb.size", "MongoDB")), _volume_size),
    Guarded(MONGODB_INSTANCES_OUTPUT, "environments.<env>.mongodb.instances", _mongodb_instances,
            _mongodb_restoring("environments.<env>.mongodb.instances", "the number of members")),
    Guarded(MONGODB_RESOURCES_OUTPUT, "mongodb.resources", _mongodb_resources,
            _mongodb_restoring("mongodb.resources", "the members' resources")),
    Guarded(MONGODB_VERSIONS_OUTPUT, "mongodb.version", _mongodb_version, _mongodb_version_change,
            _mongodb_version_value),
    Guarded(MONGODB_CLUSTERS_OUTPUT, "environments.<env>.mongodb.clusterName", _mongodb_cluster, _mongodb_replaced,
            _server_name),
    # The app's MariaDB (mysql.enabled, ADR 0013): its volumes, its series and its topology.
    Guarded(MYSQL_SIZES_OUTPUT, "mysql.size", mysql_guards.declared_size, _shrinks("mysql.size", "MySQL"),
            _volume_size),
    Guarded(MYSQL_VERSIONS_OUTPUT, "mysql.version", mysql_guards.declared_version, mysql_guards.version_change,
            mysql_guards.malformed_version),
    Guarded(MYSQL_INSTANCES_OUTPUT, "environments.<env>.mysql.instances", mysql_guards.declared_instances,
            mysql_guards.instances_change, mysql_guards.malformed_instances),
    # Its data half (docs/mysql-data.md): the server it runs, the bucket and retention of its backups.
    Guarded(MYSQL_SERVERS_OUTPUT, "environments.<env>.mysql.serverName", mysql_data_guards.declared_server,
            mysql_data_guards.server_replaced, mysql_data_guards.malformed_server),
    Guarded(MYSQL_BACKUP_BUCKETS_OUTPUT, "mysql.enabled", lambda *args: None, mysql_data_guards.bucket_replaced,
            mysql_data_guards.malformed_bucket, declared_in=mysql_data_guards.declared_bucket),
    Guarded(MYSQL_BACKUP_RETENTIONS_OUTPUT, "mysql.backupRetention", mysql_data_guards.declared_retention,
            mysql_data_guards.retention_shortened, mysql_data_guards.malformed_retention),
)
ROWS = {row.output: row for row in GUARDED}


def declared_outputs(instances, recorded: Recorded = {}, deployment: str = "") -> dict[str, dict[str, str]]:
    """Each guarded output: component -> value, for `instances` ((component, AppConfig, environment) triples)."""
    outputs: dict[str, dict[str, str]] = {}
    for row in GUARDED:
        values = {}
        for component, config, environment in instances:
            value = row.value(config, environment, recorded, deployment)
            if value is not None:
                values[component] = value
        outputs[row.output] = values
    return outputs


# Read even with the storage guard off, though not checked then: archive_server tells a restored (new) Cluster
# from the deployed one by it, so without it a restore would archive into its source's path (re-review of issue 22).
READ_FOR_STATE = frozenset({DATABASE_CLUSTERS_OUTPUT})


def outputs_to_read(inputs: ProgramInputs) -> list[str]:
    """The guarded outputs this run compares with: the rows some deployed app environment has a value for."""
    guard = inputs.stack.settings.database_storage_guard
    return [row.output for row in GUARDED if (guard or row.state or row.output in READ_FOR_STATE)
            and any((row.needed(app.config) if row.needed else
                     row.value(app.config, environment, {}, inputs.stack.settings.deployment) is not None)
                    for app, environment in inputs.deployed())]


def checked_rows(inputs: ProgramInputs) -> tuple[Guarded, ...]:
    """The rows this run checks: every row with the storage guard on; with it off (minnova:databaseStorageGuard
    false) only state, whatever else was read (READ_FOR_STATE) refuses nothing."""
    guard = inputs.stack.settings.database_storage_guard
    return tuple(row for row in GUARDED if guard or row.state)


def guard_problems(inputs: ProgramInputs, recorded: Recorded, rows: tuple[Guarded, ...] = GUARDED) -> list[Problem]:
    """Every app environment whose declared value fails its row's check against what the stack recorded."""
    problems = []
    for row in rows:
        before_of = recorded.get(row.output) or {}
        for app, environment in inputs.deployed():
            now = row.value(app.config, environment, recorded, inputs.stack.settings.deployment)
            before = before_of.get(names.component_name(app.name, environment))
            if now is not None and before:
                problems += row.check(app, environment, before, now)
    return problems


def malformed_recorded(output: str, value: str) -> str | None:
    """Why `value`, recorded in `output`, is unusable; None when it is fine (or the output is not guarded)."""
    row = ROWS.get(output)
    return row.malformed(value) if row else None


def database_replacements(inputs: ProgramInputs, deployed_clusters: dict[str, str]) -> list[Problem]:
    return guard_problems(inputs, {DATABASE_CLUSTERS_OUTPUT: deployed_clusters}, (ROWS[DATABASE_CLUSTERS_OUTPUT],))


def storage_shrinks(inputs: ProgramInputs, deployed_sizes: dict[str, str]) -> list[Problem]:
    """A database volume can grow, never shrink: compare with what this stack last deployed."""
    return guard_problems(inputs, {DATABASE_SIZES_OUTPUT: deployed_sizes}, (ROWS[DATABASE_SIZES_OUTPUT],))


def redis_shrinks(inputs: ProgramInputs, deployed_sizes: dict[str, str]) -> list[Problem]:
    """A Valkey volume can grow, never shrink (Kubernetes refuses a smaller claim, half-way through an update)."""
    return guard_problems(inputs, {REDIS_SIZES_OUTPUT: deployed_sizes}, (ROWS[REDIS_SIZES_OUTPUT],))
