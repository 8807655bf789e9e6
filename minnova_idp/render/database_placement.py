"""Where an app environment's database runs and archives: its placement, its backup target, and a preview's origin."""

from __future__ import annotations

from dataclasses import dataclass, field

from minnova_idp.model.app_config import DatabaseRestore, Resources


@dataclass(frozen=True)
class BackupTarget:
    """Where an environment's database archives: an R2 bucket (one per app environment; each Cluster archives
    under its own name as the server name, so a restored Cluster's timeline never mixes with its source's)."""

    bucket: str
    account_id: str
    retention: str
    # The R2 token the credentials come from: this environment's own (`<component>-backups`), for its bucket only.
    token_name: str = ""
    token_buckets: tuple[str, ...] = ()

    @property
    def endpoint(self) -> str:
        return r2_endpoint(self.account_id)


@dataclass(frozen=True)
class Origin:
    """Where a preview's database is copied from: an environment's archive, and read-only credentials to it."""

    environment: str
    server_name: str  # the Cluster name the environment archives under (its backupName)
    bucket: str
    endpoint: str
    access_key_id: str = field(repr=False)
    secret_access_key: str = field(repr=False)
    # The app's .minnova/seed/mask.sql as the stack read it from the app's registered branch: never the pull
    # request's, which could weaken it or copy the data aside before it runs.
    mask: str = field(default="", repr=False)


@dataclass(frozen=True)
class DatabasePlacement:
    instances: int
    size: str
    version: int
    resources: Resources
    backup: BackupTarget | None = None
    restore: DatabaseRestore | None = None
    # The Cluster's name, which is also the server name it archives under: `backupName`, default <app>-db.
    cluster: str = ""
    drill_schedule: str | None = None  # when its backups are restored and checked (drill.py); None: never
    drill_check: str | None = None  # the app's .minnova/restore-check.sql; None: `select 1`
    seed: tuple[tuple[str, str], ...] = ()  # (file name, SQL) run once when the Cluster is created (seed.py)
    # A preview's copy of another environment (origin.py): recovered from its archive (`restore` names its server),
    # then masked with its `mask` before anything of the app runs.
    origin: Origin | None = None
    # The server name the Cluster archives under, when it is not the Cluster's name: a major upgrade starts a new
    # archive path (policy/guards.py archive_server).
    server_name: str = ""

    @property
    def archive_server(self) -> str:
        return self.server_name or self.cluster

    def __post_init__(self) -> None:
        if not self.cluster:
            raise ValueError("a database placement needs its cluster name")


def r2_endpoint(account_id: str) -> str:
    return f"https://{account_id}.r2.cloudflarestorage.com"
