"""Everything a stack declares resources from, validated (ProgramInputs), and the stack outputs it records."""

from __future__ import annotations

from dataclasses import dataclass, field

from minnova_idp.model import names
from minnova_idp.model.errors import Problem
from minnova_idp.model.loaded import LoadedApp
from minnova_idp.model.secrets import SecretValues
from minnova_idp.model.stack import StackConfig

STOP_HEADER = "Minnova IDP stopped before registering any resource (so nothing is deleted):"
DATABASE_SIZES_OUTPUT = "databaseSizes"
DATABASE_CLUSTERS_OUTPUT = "databaseClusters"
REDIS_SIZES_OUTPUT = "redisSizes"  # component -> the size of its Valkey volume, as declared last
DATABASE_VERSIONS_OUTPUT = "databaseVersions"  # component -> its PostgreSQL major version, as declared last
DATABASE_SERVERS_OUTPUT = "databaseServers"  # component -> the server name its Cluster archives under
# component -> "<major>/<server>" it ran and archived under before its last major upgrade (a rollback's target)
DATABASE_UPGRADED_FROM_OUTPUT = "databaseUpgradedFrom"
MONGODB_SIZES_OUTPUT = "mongodbSizes"  # component -> the size of each MongoDB member's volume, as declared last
MONGODB_VERSIONS_OUTPUT = "mongodbVersions"  # component -> its MongoDB version ("8.0"), as declared last
MONGODB_CLUSTERS_OUTPUT = "mongodbClusters"  # component -> the PerconaServerMongoDB the app uses
MONGODB_INSTANCES_OUTPUT = "mongodbInstances"  # component -> its replica set members, as declared last
MONGODB_RESOURCES_OUTPUT = "mongodbResources"  # component -> each member's resources (JSON), as declared last
STORAGE_BUCKETS_OUTPUT = "storageBuckets"  # component -> the R2 bucket it stores objects in (storage.enabled)
MYSQL_SIZES_OUTPUT = "mysqlSizes"  # component -> the size of each of its MariaDB volumes, as declared last
MYSQL_VERSIONS_OUTPUT = "mysqlVersions"  # component -> its MariaDB series (10.11, 11.8), as declared last
MYSQL_INSTANCES_OUTPUT = "mysqlInstances"  # component -> its MariaDB instances, as declared last
MYSQL_SERVERS_OUTPUT = "mysqlServers"  # component -> the MariaDB it runs (serverName), as declared last
MYSQL_BACKUP_BUCKETS_OUTPUT = "mysqlBackupBuckets"  # component -> the bucket its MariaDB backs up into
MYSQL_BACKUP_RETENTIONS_OUTPUT = "mysqlBackupRetentions"  # component -> its mysql.backupRetention, as declared last
IMAGE_TAGS_OUTPUT = "imageTags"  # component -> the tags it deployed, newest first (rollbacks)
IMAGE_TAG_HISTORY = 5
# app -> the record of the .minnova/ files its last good config was rendered from (load/kept.py): what an app whose
# config, secrets or fetch fails keeps running (ADR 0004).
APP_SOURCES_OUTPUT = "appSources"
DEGRADED_OUTPUT = "degradedApps"  # app -> why this run kept its last good config (or left it out) and what it runs
# component -> the https:// URLs of its other hosts (environments.<env>.aliases), only when some app has any: a
# host an app serves stays its own (load/inputs.py served_hosts), like the `urls` output's canonical hosts.
HOST_ALIASES_OUTPUT = "hostAliases"
INTERNAL_SERVICES_OUTPUT = "internalServices"  # component -> its internal services and what it may call (ADR 0016)
RELEASES_OUTPUT = "releases"  # component -> [time, tag, commit] deployed, newest first (`minnova-idp releases`)
# Kept in the stack's outputs, so in its state: 20 per app environment is 1.6 MB for 500 apps (docs/isolation.md).
RELEASE_HISTORY = 20


@dataclass(frozen=True)
class Degraded:
    """An app whose own inputs (config, secrets, fetch) failed this run, and what it runs instead (ADR 0004)."""

    app: str
    problems: tuple[Problem, ...]
    keeps: str  # what it keeps running, in a line
    kept: LoadedApp | None = None  # its last good config, re-rendered; None: the app is not added


@dataclass(frozen=True)
class ProgramInputs:
    """Everything the program declares resources from, validated; the Platform's args."""

    stack: StackConfig
    apps: list[LoadedApp]
    secrets: dict[tuple[str, str], SecretValues] = field(default_factory=dict)  # (app, environment)
    restore_checks: dict[str, str] = field(default_factory=dict)  # app -> its .minnova/restore-check.sql
    seeds: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)  # app -> its seed files
    mysql_seeds: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)  # app -> mysql.seed's files
    masks: dict[str, str] = field(default_factory=dict)  # app -> its .minnova/seed/mask.sql (preview copies)
    kept_tags: dict[str, str] = field(default_factory=dict)  # component -> the tag the image gate kept
    # The guarded outputs (policy/guards.py) of this stack's last update: output name -> component -> value.
    recorded: dict[str, dict[str, str]] = field(default_factory=dict)
    # app -> its record for the appSources output (load/kept.py); a kept app's is the record it was kept from.
    sources: dict[str, dict] = field(default_factory=dict)
    degraded: dict[str, Degraded] = field(default_factory=dict)  # app -> why its own inputs failed this run

    def deployed(self) -> list[tuple[LoadedApp, str]]:
        """(app, environment) pairs this stack deploys."""
        return [(app, env) for app in self.apps for env in self.stack.settings.environments
                if env in app.config.environments]

    def image_tag(self, app: LoadedApp, environment: str) -> tuple[str | None, str]:
        """The tag an app environment deploys, and why: the image gate's kept tag (the new image is not built yet),
        else a rollback pin (minnova:imagePins), else app.yaml."""
        kept = self.kept_tags.get(names.component_name(app.name, environment))
        if kept:
            return kept, "kept: new image not built yet (minnova:imageGate)"
        pinned = self.stack.settings.image_pins.get(app.name, {}).get(environment)
        if pinned:
            return pinned, "rollback pin (minnova:imagePins)"
        env = app.config.environments[environment]
        source = "imageTag" if env.image_tag else "image.tag" if app.config.image.tag else "commit"
        return app.image_tag(environment), source

    def environments_of(self, app: LoadedApp) -> tuple[str, ...]:
        """The environments of `app` this stack deploys, in the stack's order."""
        return tuple(env for env in self.stack.settings.environments if env in app.config.environments)
