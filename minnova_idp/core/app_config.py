"""`.minnova/app.yaml`: what an app developer writes, validated once at the edge."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, ConfigDict, Field, field_validator, model_validator

from . import names, versions
from .fields import AppName, EnvironmentName, EnvVarName, Hostname, HttpPath, ImageRepository, ImageTag, Quantity, StrictModel
from .quantity import parse_quantity


class Image(StrictModel):
    repository: ImageRepository
    tag: ImageTag | None = Field(
        default=None, description="Tag for every environment; default: the commit SHA the config was read at.")
    pull_policy: Literal["IfNotPresent", "Always"] = "IfNotPresent"


class ResourceList(StrictModel):
    cpu: Quantity | None = None
    memory: Quantity | None = None


class Resources(StrictModel):
    requests: ResourceList = ResourceList(cpu="100m", memory="128Mi")
    limits: ResourceList = ResourceList(memory="256Mi")

    def as_kubernetes(self) -> dict[str, dict[str, str]]:
        """The `resources` of a Kubernetes container or CNPG Cluster; empty sections left out."""
        out = {}
        for section in ("requests", "limits"):
            values = getattr(self, section).model_dump(exclude_none=True)
            if values:
                out[section] = values
        return out

    @model_validator(mode="after")
    def _limits_cover_requests(self) -> "Resources":
        for key in ("cpu", "memory"):
            request, limit = getattr(self.requests, key), getattr(self.limits, key)
            if request and limit and parse_quantity(limit) < parse_quantity(request):
                raise ValueError(f"limits.{key} ({limit}) is below requests.{key} ({request})")
        return self


_RETENTION_RE = re.compile(r"^[1-9][0-9]*[dwm]$")  # the Barman Cloud plugin's format


def _retention(value: str) -> str:
    if not _RETENTION_RE.match(value):
        raise ValueError(f"'{value}' is not a retention period: a number and d, w or m (e.g. 30d, 4w, 6m)")
    return value


def _backup_name(value: str) -> str:
    if len(value) > names.DNS_LABEL_MAX or not names.DNS_LABEL_RE.match(value):
        raise ValueError(f"'{value}' must be lowercase letters, digits and '-', at most 63 characters")
    return value


def _timestamp(value: str) -> str:
    from datetime import datetime

    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"'{value}' is not an RFC 3339 timestamp (e.g. 2026-11-20T09:30:00Z)") from None
    if parsed.tzinfo is None:
        raise ValueError(f"'{value}' has no time zone; add Z or an offset such as +01:00")
    return value


BackupName = Annotated[str, AfterValidator(_backup_name)]


class Database(StrictModel):
    enabled: bool = False
    size: Quantity = Field(default="1Gi", description="Storage per instance, e.g. 5Gi. Can grow, never shrink.")
    version: Literal[16, 17, 18] = Field(default=versions.DEFAULT_POSTGRES_VERSION,
                                         description="PostgreSQL major version.")
    backup_retention: Annotated[str, AfterValidator(_retention)] = Field(
        default="30d", description="How long backups are kept, e.g. 30d, 4w, 6m.")
    resources: Resources = Resources(requests=ResourceList(cpu="100m", memory="256Mi"),
                                     limits=ResourceList(memory="1Gi"))


class DatabaseRestore(StrictModel):
    from_backup: BackupName = Field(
        description="Server name of the backup to restore (the backupName it was archived under, "
                    "by default <app>-db).")
    target_time: Annotated[str, AfterValidator(_timestamp)] | None = Field(
        default=None, description="Point in time to recover to (RFC 3339); default: the end of the WAL archive.")


class EnvironmentDatabase(StrictModel):
    instances: int = Field(default=1, ge=1, le=5, description="PostgreSQL instances; 2-3 for high availability.")
    backup_name: BackupName | None = Field(
        default=None, description="Server name this database archives under in its bucket; default <app>-db.")
    restore: DatabaseRestore | None = Field(
        default=None, description="Create the database from a backup (only when it is created).")


class HealthCheck(StrictModel):
    path: HttpPath = Field(description="HTTP path answering 2xx/3xx when the app is ready, e.g. /healthz.")


EnvVars = dict[EnvVarName, str]


class Environment(StrictModel):
    replicas: int = Field(default=1, ge=0, le=50)
    host: Hostname
    image_tag: ImageTag | None = Field(default=None, description="Overrides image.tag for this environment.")
    env: EnvVars = Field(default_factory=dict, description="Merged over the top-level env.")
    resources: Resources | None = Field(default=None, description="Replaces the top-level resources.")
    database: EnvironmentDatabase | None = Field(default=None, description="Database settings of this environment.")


class AppConfig(StrictModel):
    """`.minnova/app.yaml` in an app's repository."""

    model_config = ConfigDict(title="Minnova app config (.minnova/app.yaml)")

    name: AppName
    image: Image
    port: int = Field(ge=1, le=65535)
    database: Database = Database()
    environments: dict[EnvironmentName, Environment] = Field(min_length=1)
    env: EnvVars = Field(default_factory=dict)
    health_check: HealthCheck | None = Field(
        default=None, description="HTTP health check; without it, probes check that the port accepts connections.")
    resources: Resources = Resources()
    command: list[str] | None = Field(default=None, min_length=1, description="Replaces the image's ENTRYPOINT.")
    args: list[str] | None = Field(default=None, description="Replaces the image's CMD.")
    run_as_user: int = Field(default=10001, ge=1, le=2**31 - 1, description="Non-root UID the container runs as.")

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
        problems = []
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
        return sorted(set(problems))

    def database_instances(self, environment: str) -> int:
        settings = self.environments[environment].database
        return settings.instances if settings else 1

    def backup_name(self, environment: str) -> str:
        settings = self.environments[environment].database
        return (settings.backup_name if settings else None) or names.database_cluster(self.name)

