"""`.minnova/app.yaml`: what an app developer writes, validated once at the edge."""

from __future__ import annotations

import re
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, ConfigDict, Field, field_validator, model_validator

from minnova_idp.model import names, versions
from minnova_idp.model.fields import (
    AppName,
    CronSchedule,
    EnvironmentName,
    EnvVarName,
    Hostname,
    HttpPath,
    ImageRepository,
    ImageTag,
    Quantity,
    StrictModel,
    default_shown_as,
    server_name,
)
from minnova_idp.model.host_aliases import alias_problems
from minnova_idp.model.mongodb import SYSTEM_DATABASES, EnvironmentMongoDB, MongoDB, mongodb_cluster
from minnova_idp.model.mysql import MYSQL_ENV_VARS, EnvironmentMysql, Mysql, mysql_problems
from minnova_idp.model.mysql_data_rules import mysql_data_problems
from minnova_idp.model.operator_services import operator_services
from minnova_idp.model.quantity import parse_quantity
from minnova_idp.model.seed import DatabaseSeed, Timestamp
# In their own module since model/mysql.py uses them too (app_config imports it); still importable from here.
from minnova_idp.model.resources import (  # noqa: F401
    CONTAINER_MAX,
    CONTAINER_MAX_TEXT,
    NAMESPACE_DEFAULT_LIMIT,
    ResourceList,
    Resources,
)


class Image(StrictModel):
    repository: ImageRepository = Field(description="image without tag, e.g. `registry.example.com/team/app`")
    tag: ImageTag | None = Field(
        default=None, json_schema_extra=default_shown_as("the commit SHA"),
        description="tag (or `sha256:` digest) for every environment; by default the SHA of the commit the config "
                    "was read at, which is what app CI pushes (`<repository>:<sha>`)")
    pull_policy: Literal["IfNotPresent", "Always"] = Field(default="IfNotPresent", description="or `Always`")


DATABASE_SIZE_MAX = "64Ti"


_RETENTION_RE = re.compile(r"^[1-9][0-9]*[dwm]$")  # the Barman Cloud plugin's format


def _retention(value: str) -> str:
    if not _RETENTION_RE.fullmatch(value):
        raise ValueError(f"'{value}' is not a retention period: a number and d, w or m (e.g. 30d, 4w, 6m)")
    return value


BackupName = server_name(names.CLUSTER_NAME_MAX, "the database Cluster")


def _database_size(value: str) -> str:
    if parse_quantity(value) > parse_quantity(DATABASE_SIZE_MAX):
        raise ValueError(f"'{value}' is more than a database volume may be ({DATABASE_SIZE_MAX})")
    return value


class Database(StrictModel):
    enabled: bool = Field(default=False, description="a PostgreSQL database (CloudNativePG) per environment, backed "
                                                     "up to Cloudflare R2; the app gets `DATABASE_URL`")
    size: Annotated[Quantity, AfterValidator(_database_size)] = Field(
        default="1Gi", description="storage per instance, as a Kubernetes quantity (`5Gi`, not `5GB`); can grow, "
                                   f"never shrink; at most {DATABASE_SIZE_MAX}")
    version: Literal[16, 17, 18] = Field(
        default=versions.DEFAULT_POSTGRES_VERSION,
        description="PostgreSQL major version: 16, 17 or 18 (pinned images, see `minnova_idp/model/versions.py`)")
    backup_retention: Annotated[str, AfterValidator(_retention)] = Field(
        default="30d", description="how long backups are kept: a number and `d`, `w` or `m`")
    resources: Resources = Field(default=Resources(requests=ResourceList(cpu="100m", memory="256Mi"),
                                                   limits=ResourceList(memory="1Gi")),
                                 description="PostgreSQL's resources")
    seed: DatabaseSeed | None = Field(
        default=None, description="`{files: [seed/schema.sql, seed/demo.sql], environments: [dev]}`: SQL run once when a "
        "preview's database is created (and in `environments`), from the pull request's own files; at most 256 KiB "
        "a file, 900 KiB in all; see docs/previews.md \"Seed data\"")
    restore_drill: bool = Field(
        default=True, description="restore the latest backup into a throwaway database on the stack's schedule "
                                  "(`minnova:restoreDrillSchedule`, weekly by default) and run `.minnova/"
                                  "restore-check.sql` (default `select 1`) against it; see docs/databases.md "
                                  "\"Restore drills\"")


REDIS_SIZE_MAX = "64Gi"


def _redis_size(value: str) -> str:
    if parse_quantity(value) > parse_quantity(REDIS_SIZE_MAX):
        raise ValueError(f"'{value}' is more than a Redis volume may be ({REDIS_SIZE_MAX})")
    return value


class RedisPersistence(StrictModel):
    documented_as_one_value: ClassVar[bool] = True

    enabled: bool = True
    size: Annotated[Quantity, AfterValidator(_redis_size)] = "1Gi"


class Redis(StrictModel):
    enabled: bool = Field(default=False, description="a Redis-compatible server (Valkey) per environment, reachable "
                                                     "only from the app's pods; the app gets `REDIS_URL`")
    version: Literal[8, 9] = Field(
        default=versions.DEFAULT_VALKEY_VERSION,
        description="Valkey major version: 8 or 9 (pinned images, see `minnova_idp/model/versions.py`)")
    persistence: RedisPersistence = Field(
        default=RedisPersistence(), description="`{enabled: true, size: 1Gi}`: an append-only file on a volume "
        "that survives restarts (can grow, never shrink); `enabled: false`: memory only (a cache). Previews are "
        "always memory only")
    resources: Resources = Field(default=Resources(requests=ResourceList(cpu="50m", memory="64Mi"),
                                                   limits=ResourceList(memory="256Mi")),
                                 description="Valkey's resources; `maxmemory` is 80% of limits.memory (which must "
                                             "be set), and writes past it fail (noeviction)")

    @model_validator(mode="after")
    def _memory_limit(self) -> "Redis":
        if self.enabled and not self.resources.limits.memory:
            raise ValueError("resources.limits.memory is required: Valkey's maxmemory is derived from it")
        return self


def _names(variables) -> str:
    return ", ".join(f"`{name}`" for name in variables)


# The variables the platform sets in the app's containers, named from the lists the renderers use, so the reference
# (docs/app-yaml.md) cannot fall behind them; app.yaml's `env` may not set them (the checks below).
PLATFORM_ENV_DESCRIPTION = (
    "The platform sets `PORT` always, and with each add-on enabled: `DATABASE_URL` (database; or mysql with "
    f"`databaseUrl`), `REDIS_URL` (redis), {_names(MYSQL_ENV_VARS)} (mysql), `{names.MONGODB_URL_ENV}` (mongodb), "
    f"{_names(names.STORAGE_ENV_VARS)} (storage); setting one of these here is refused. It also sets "
    "`<CALLEE>_<PROCESS>_URL` for each internal service the registry lets the app call, unless the app sets that "
    "name itself (its value wins).")


class Storage(StrictModel):
    enabled: bool = Field(
        default=False, description="an S3-compatible bucket (Cloudflare R2) per environment, and a token for that "
        f"bucket only; the app gets {_names(names.STORAGE_ENV_VARS)}: the endpoint under both names, the region "
        "(`auto`) under both names, the checksum settings R2 needs (`when_required`), `S3_PREFIX` empty (`pr-<number>/` "
        "in a preview, which writes to its app's previews bucket, never to an environment's); buckets are retained "
        "when this is turned off (docs/storage.md)")


class PreviewDatabase(StrictModel):
    documented_as_one_value: ClassVar[bool] = True

    from_: EnvironmentName = Field(
        alias="from", description="the environment whose latest backup each preview's database is recovered from")


class PreviewConfig(StrictModel):
    database: PreviewDatabase | None = Field(
        default=None, description="`{from: dev}`: each preview's database is a copy of dev's latest backup, masked "
        "by `.minnova/seed/mask.sql` of the registered branch (required) before the app starts; never a protected "
        "environment; the stack deploying it must run the previews (see docs/previews.md "
        "\"A masked copy of dev\")")


class DatabaseRestore(StrictModel):
    documented_as_one_value: ClassVar[bool] = True

    from_backup: BackupName = Field(
        description="Server name of the backup to restore (the backupName it was archived under, "
                    "by default <app>-db).")
    target_time: Timestamp | None = Field(
        default=None, description="Point in time to recover to (RFC 3339); default: the end of the WAL archive.")
    source_gone: bool = Field(
        default=False, description="The source Cluster no longer exists (disaster recovery): the program stops "
        "declaring it and its backups, so nothing can recreate it as an empty twin archiving into its path. Its "
        "resources are retained, never deleted; a protected environment needs them unprotected first.")


class EnvironmentDatabase(StrictModel):
    instances: int = Field(default=1, ge=1, le=5,
                           description="1–5; 2–3 for high availability (a primary and streaming standbys)")
    backup_name: BackupName | None = Field(
        default=None, json_schema_extra=default_shown_as("`<app>-db`"),
        description="the server name the database archives under in its bucket (change it only when restoring, "
                    "see docs/databases.md \"Disaster recovery\")")
    restore: DatabaseRestore | None = Field(
        default=None, description="`{fromBackup: <server name>, targetTime: <RFC 3339>, sourceGone: false}`: create "
                                  "the database from a backup, only when it is created; `sourceGone: true` when the "
                                  "source Cluster no longer exists (see docs/databases.md \"Disaster recovery\")")


class HealthCheck(StrictModel):
    path: HttpPath = Field(
        description="HTTP path for startup and readiness probes (e.g. `/healthz`), answering 2xx/3xx when the app is "
                    "ready; without it, probes check that the port accepts connections. Liveness always checks only "
                    "the port, so a failing dependency takes pods out of rotation without restarting them all.")


EnvVars = dict[EnvVarName, str]

_PROCESS_NAME_RE = re.compile(r"^[a-z]([a-z0-9-]{0,18}[a-z0-9])?$")
# A process's (or cron job's) pods are `app.kubernetes.io/instance: <namespace>-<name>` (render/app_meta.py
# process_selector); so are the platform's Jobs: the restore drills' checks (render/drill.py, render/mysql_drill.py)
# and the MySQL seed (render/mysql_data.py) too, so those names are the platform's.
RESERVED_PROCESS_NAMES = frozenset({"web", "release", "db", "drill", "seed", "mask", "redis", "storage-cleanup",
                                    "mysql", "drill-check", "mysql-seed", "mysql-drill-check"})


def _process_name(value: str) -> str:
    if not _PROCESS_NAME_RE.fullmatch(value) or "--" in value:
        raise ValueError(f"'{value}' must be lowercase letters, digits and '-', start with a letter, at most 20 "
                         "characters (it names Kubernetes objects)")
    if value in RESERVED_PROCESS_NAMES:
        raise ValueError(f"'{value}' is reserved; pick another name")
    return value


ProcessName = Annotated[str, AfterValidator(_process_name)]
_TIME_ZONE_RE = re.compile(r"^(UTC|Etc/[A-Za-z0-9+-]+|[A-Z][A-Za-z_]+(/[A-Za-z0-9_+-]+){1,2})$")


def _time_zone(value: str) -> str:
    """Kubernetes checks CronJob time zones against the tz database: so do we, where the system has one."""
    import zoneinfo

    known = zoneinfo.available_timezones()
    if not _TIME_ZONE_RE.fullmatch(value) or (known and value not in known):
        raise ValueError(f"'{value}' is not an IANA time zone name (e.g. Etc/UTC, Europe/Madrid)")
    return value


class Process(StrictModel):
    """A process beside the web one: same image, env, secrets and database. A worker has no port and no Service; an
    internal service (`port`) gets a ClusterIP Service `<app>-<process>` and probes, never a public host
    (docs/internal-services.md, ADR 0016)."""

    documented_as_one_value: ClassVar[bool] = True

    command: list[str] = Field(min_length=1, description="what it runs")
    args: list[str] | None = None
    replicas: int = Field(default=1, ge=0, le=50, description="default for every environment")
    resources: Resources | None = Field(default=None, description="default: the app's resources")
    port: int | None = Field(default=None, ge=1, le=65535,
                             description="an internal service: the port it listens on (also its `PORT`), served by a "
                                         "ClusterIP Service `<app>-<process>` on that port; no Ingress, DNS or "
                                         "certificate")
    health_check: HealthCheck | None = Field(default=None, description="like the app's `healthCheck`, for this "
                                                                       "process's probes (needs `port`)")

    @model_validator(mode="after")
    def _health_check_needs_a_port(self) -> "Process":
        if self.health_check is not None and self.port is None:
            raise ValueError("healthCheck probes the process's port: set `port` too (a worker has none)")
        return self


class CronJobConfig(StrictModel):
    documented_as_one_value: ClassVar[bool] = True

    schedule: CronSchedule
    command: list[str] = Field(min_length=1)
    args: list[str] | None = None
    time_zone: Annotated[str, AfterValidator(_time_zone)] = "Etc/UTC"
    concurrency_policy: Literal["Forbid", "Allow", "Replace"] = "Forbid"
    active_deadline_seconds: int = Field(default=3600, ge=30, le=86_400)
    successful_jobs_history_limit: int = Field(default=3, ge=0, le=10)
    failed_jobs_history_limit: int = Field(default=3, ge=0, le=10)
    environments: list[EnvironmentName] | None = Field(default=None, description="default: every environment")
    previews: bool = False
    resources: Resources | None = None


class Release(StrictModel):
    documented_as_one_value: ClassVar[bool] = True

    command: list[str] = Field(min_length=1)
    args: list[str] | None = None
    active_deadline_seconds: int = Field(default=900, ge=30, le=14_400)
    resources: Resources | None = None


class Autoscale(StrictModel):
    documented_as_one_value: ClassVar[bool] = True

    min: int = Field(ge=1, le=50)
    max: int = Field(ge=1, le=100)
    cpu: int = Field(default=70, ge=10, le=100, description="target CPU use, percent of requests.cpu")

    @model_validator(mode="after")
    def _ordered(self) -> "Autoscale":
        if self.max < self.min:
            raise ValueError(f"max ({self.max}) is below min ({self.min})")
        return self


class EnvironmentProcess(StrictModel):
    documented_as_one_value: ClassVar[bool] = True

    replicas: int = Field(ge=0, le=50)


MAX_ALIASES = 10  # per environment: with the host, 11 names on one certificate (Let's Encrypt allows 100)


class HostAlias(StrictModel):
    host: Hostname = Field(description="another host name of this environment (a bare FQDN); unique across "
                                       "environments and across all apps, allowed like `host`")
    redirect: bool = Field(default=True, description="`true`: a permanent redirect to `host`, keeping the path and "
                                                     "query; `false`: serves the app like `host`")


class Environment(StrictModel):
    replicas: int = Field(default=1, ge=0, le=50, description="0–50; with more than one, a PodDisruptionBudget keeps "
                                                             "all but one up during node drains")
    host: Hostname = Field(description="the environment's host name (a bare FQDN: no scheme, no wildcard); unique "
                                       "across environments and across all apps")
    aliases: list[HostAlias] = Field(
        default_factory=list, max_length=MAX_ALIASES,
        description=f"other hosts (at most {MAX_ALIASES}): `[{{host: www.example.com}}]` redirects to `host` "
                    "(permanent, keeping path and query); `{host: …, redirect: false}` serves the app too. Each gets "
                    "a DNS record and is on the environment's certificate; previews never get them")
    image_tag: ImageTag | None = Field(default=None, json_schema_extra=default_shown_as("`image.tag`"),
                                       description="pins this environment's tag")
    env: EnvVars = Field(default_factory=dict, description="merged over the top-level `env`")
    resources: Resources | None = Field(default=None, json_schema_extra=default_shown_as("top-level `resources`"),
                                        description="replaces them for this environment")
    database: EnvironmentDatabase | None = Field(default=None, description="database settings of this environment")
    mysql: EnvironmentMysql | None = Field(default=None, description="MySQL settings of this environment")
    autoscale: Autoscale | None = Field(
        default=None, description="`{min, max, cpu: 70}`: a HorizontalPodAutoscaler scales the web process between "
        "min and max replicas on CPU (percent of requests.cpu, which must be set); replaces `replicas`")
    processes: dict[ProcessName, EnvironmentProcess] = Field(
        default_factory=dict, description="`{<process>: {replicas: N}}`: this environment's replicas of a process")
    mongodb: EnvironmentMongoDB | None = Field(default=None, description="MongoDB settings of this environment")

    @property
    def hosts(self) -> tuple[str, ...]:
        """Every host of this environment, `host` (the canonical one) first."""
        return (self.host, *(alias.host for alias in self.aliases))


class AppConfig(StrictModel):
    """`.minnova/app.yaml` in an app's repository."""

    model_config = ConfigDict(title="Minnova app config (.minnova/app.yaml)")

    name: AppName = Field(description=f"DNS label: lowercase letters, digits, `-`; starts with a letter; at most "
                                      f"{names.APP_NAME_MAX} characters (so `<name>-pr-1234567`, `<name>-<env>` and "
                                      "database names always fit)")
    image: Image
    port: int = Field(ge=1, le=65535, description="the port the app listens on (1–65535); also given to the app as "
                                                  "`PORT`")
    database: Database = Database()
    redis: Redis = Redis()
    mysql: Mysql = Mysql()
    storage: Storage = Storage()
    mongodb: MongoDB = MongoDB()
    preview: PreviewConfig = Field(default=PreviewConfig(), description="what pull-request previews get")
    environments: dict[EnvironmentName, Environment] = Field(
        min_length=1, description=f"environment names: lowercase letters and digits, ≤ {names.ENV_NAME_MAX} "
                                  f"characters (`dev`, `staging`, `prod`); `{names.PREVIEW_ENVIRONMENT}` is reserved")
    env: EnvVars = Field(
        default_factory=dict,
        description="environment variables; names `[A-Za-z_][A-Za-z0-9_]*`, values strings (quote numbers and "
                    "booleans: `DEBUG: \"true\"`). " + PLATFORM_ENV_DESCRIPTION)
    health_check: HealthCheck | None = None
    resources: Resources = Field(
        default=Resources(), description="Kubernetes quantities; limits must not be below requests. No CPU limit by "
                                         "default (throttling hurts latency more than it protects neighbours).")
    command: list[str] | None = Field(default=None, min_length=1, json_schema_extra=default_shown_as("the image's"),
                                      description="replaces the image's ENTRYPOINT")
    args: list[str] | None = Field(default=None, json_schema_extra=default_shown_as("the image's"),
                                   description="replaces the image's CMD")
    run_as_user: int = Field(default=10001, ge=1, le=2**31 - 1,
                             description="non-root UID (and GID, fsGroup) the container runs as")
    processes: dict[ProcessName, Process] = Field(
        default_factory=dict, max_length=10,
        description="other processes (workers): `{worker: {command: [...], args, replicas, resources}}`, each a "
                    "Deployment `<app>-<process>` with the app's image, env, secrets and database, no Service; with "
                    "`port: 8080` (and optionally `healthCheck: {path}`) an internal service: a ClusterIP Service "
                    "`<app>-<process>` on that port, reachable from the app's own pods and from the apps its registry "
                    "entry's `allowFrom` names (docs/internal-services.md)")
    cron: dict[ProcessName, CronJobConfig] = Field(
        default_factory=dict, max_length=20,
        description="scheduled jobs: `{nightly: {schedule: \"0 2 * * *\", command: [...], timeZone, "
                    "concurrencyPolicy: Forbid, activeDeadlineSeconds: 3600, environments, previews: false}}`, each "
                    "a CronJob `<app>-<name>` with the app's image, env, secrets and database")
    release: Release | None = Field(
        default=None, description="`{command: [bin/migrate], activeDeadlineSeconds: 900}`: runs once per new version, "
        "with the app's env, secrets and database, before any pod of that version starts (a Job the Deployment "
        "waits for); a failed release leaves the running version untouched")

    @field_validator("environments")
    @classmethod
    def _hosts_are_distinct(cls, environments: dict[str, Environment]) -> dict[str, Environment]:
        seen: dict[str, str] = {}
        for env_name, environment in environments.items():
            if environment.host in seen:
                raise ValueError(f"environments {seen[environment.host]} and {env_name} share the host "
                                 f"'{environment.host}'; each environment needs its own host")
            seen[environment.host] = env_name
        return environments

    def cross_field_problems(self) -> list[tuple[tuple[str, ...], str]]:
        """Rules across fields, each with the location it is about (validation.py reports them)."""
        problems = alias_problems(self.environments)
        for env_name, environment in self.environments.items():
            if self.database.enabled:
                for where in (("env",), ("environments", env_name, "env")):
                    values = self.env if where == ("env",) else environment.env
                    if "DATABASE_URL" in values:
                        problems.append(((*where, "DATABASE_URL"), "is set by the platform from the app's "
                                         "database (database.enabled is true); remove it"))
            if environment.database is not None and not self.database.enabled:
                problems.append((("environments", env_name, "database"),
                                 "is set but the app has no database (database.enabled is false)"))
            restore = environment.database.restore if environment.database else None
            if restore is not None and restore.from_backup == self.backup_name(env_name):
                problems.append((
                    ("environments", env_name, "database", "restore", "fromBackup"),
                    f"'{restore.from_backup}' is also the name this database archives under; restoring into the "
                    f"same name would mix two timelines in one archive: set environments.{env_name}.database."
                    f"backupName to a new name (e.g. {self.name}-db-2)"))
        for env_name, environment in self.environments.items():
            for name in environment.processes:
                if name not in self.processes:
                    problems.append((("environments", env_name, "processes", name),
                                     f"is not one of the app's processes ({', '.join(self.processes) or 'none'})"))
            if environment.autoscale is not None and not (environment.resources or self.resources).requests.cpu:
                problems.append((("environments", env_name, "autoscale"),
                                 "scales on CPU use relative to requests.cpu, which this environment does not set"))
        owned = operator_services(self)
        for name, process in self.processes.items():
            service = names.process(self.name, name)
            if process.port is not None and service in owned:
                problems.append((("processes", name, "port"),
                                 f"the Service `{service}` would be a database's, {owned[service]}'s (its operator "
                                 "refuses a Service it does not own); pick another process name"))
        for name, job in self.cron.items():
            if name in self.processes:
                problems.append((("cron", name), f"is also a process's name: both would run pods labelled "
                                 f"app.kubernetes.io/instance <namespace>-{name}, and the process's Deployment (and "
                                 "its Service, NetworkPolicies) would select the cron job's pods; rename one"))
            for index, env_name in enumerate(job.environments or []):
                if env_name not in self.environments:
                    problems.append((("cron", name, "environments", index),
                                     f"'{env_name}' is not one of this app's environments"))
        if self.redis.enabled:
            for env_name, environment in self.environments.items():
                for where in (("env",), ("environments", env_name, "env")):
                    values = self.env if where == ("env",) else environment.env
                    if "REDIS_URL" in values:
                        problems.append(((*where, "REDIS_URL"), "is set by the platform from the app's Redis "
                                         "(redis.enabled is true); remove it"))
        if self.storage.enabled:
            for env_name, environment in self.environments.items():
                for where in (("env",), ("environments", env_name, "env")):
                    values = self.env if where == ("env",) else environment.env
                    for name in names.STORAGE_ENV_VARS:
                        if name in values:
                            problems.append(((*where, name), "is set by the platform from the app's bucket "
                                             "(storage.enabled is true); remove it"))
        problems += self._mongodb_problems()
        origin = self.preview.database
        if origin is not None:
            if not self.database.enabled:
                problems.append((("preview", "database"), "is set but the app has no database (database.enabled "
                                 "is false)"))
            if origin.from_ not in self.environments:
                problems.append((("preview", "database", "from"),
                                 f"'{origin.from_}' is not one of this app's environments"))
        seed = self.database.seed
        if seed is not None:
            if not self.database.enabled:
                problems.append((("database", "seed"), "is set but the app has no database (database.enabled is false)"))
            for index, env_name in enumerate(seed.environments):
                if env_name not in self.environments:
                    problems.append((("database", "seed", "environments", index),
                                     f"'{env_name}' is not one of this app's environments"))
        problems.extend(mysql_problems(self))
        problems.extend(mysql_data_problems(self))
        return sorted(set(problems))

    def _mongodb_problems(self) -> list[tuple[tuple[str, ...], str]]:
        problems = []
        if self.mongodb.enabled and self.name in SYSTEM_DATABASES:
            problems.append((("mongodb", "enabled"), f"the app's database is named after the app, and '{self.name}' "
                             "is a MongoDB system database (readWrite there reaches the system users and PBM's "
                             "settings, which hold the backup keys); an app with MongoDB needs another name"))
        for env_name, environment in self.environments.items():
            if self.mongodb.enabled:
                for where in (("env",), ("environments", env_name, "env")):
                    values = self.env if where == ("env",) else environment.env
                    if names.MONGODB_URL_ENV in values:
                        problems.append(((*where, names.MONGODB_URL_ENV), "is set by the platform from the app's "
                                         "MongoDB (mongodb.enabled is true); remove it"))
            elif environment.mongodb is not None:
                problems.append((("environments", env_name, "mongodb"),
                                 "is set but the app has no MongoDB (mongodb.enabled is false)"))
            restore = environment.mongodb.restore if environment.mongodb else None
            if restore is not None and restore.from_cluster == self.mongodb_cluster(env_name):
                problems.append((
                    ("environments", env_name, "mongodb", "restore", "fromCluster"),
                    f"'{restore.from_cluster}' is also this environment's cluster; a restore creates a new cluster: "
                    f"set environments.{env_name}.mongodb.clusterName to a new name (e.g. {self.name}-mongodb-2)"))
        return problems

    def mongodb_instances(self, environment: str) -> int:
        settings = self.environments[environment].mongodb
        return settings.instances if settings else 1

    def mongodb_cluster(self, environment: str) -> str:
        settings = self.environments[environment].mongodb
        return (settings.cluster_name if settings else None) or mongodb_cluster(self.name)

    def database_instances(self, environment: str) -> int:
        settings = self.environments[environment].database
        return settings.instances if settings else 1

    def backup_name(self, environment: str) -> str:
        settings = self.environments[environment].database
        return (settings.backup_name if settings else None) or names.database_cluster(self.name)

