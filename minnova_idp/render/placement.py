"""Where an app environment runs and with what: the one builder of placements (environments and previews), the
render settings a stack gives every app, and where DNS records point."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from minnova_idp.model import names
from minnova_idp.model.app_config import AppConfig, Autoscale, Resources
from minnova_idp.model.secrets import SecretValues
from minnova_idp.render import tls
from minnova_idp.render.database import database_placement
from minnova_idp.render.database_placement import BackupTarget, DatabasePlacement
from minnova_idp.render.internal_services import InternalAccess
from minnova_idp.render.mongodb import MongoPlacement, mongodb_placement
from minnova_idp.render.mysql import mysql_placement
from minnova_idp.render.mysql_data import attach_data
from minnova_idp.render.mysql_placement import MysqlPlacement
from minnova_idp.render.redis import RedisPlacement, redis_password
from minnova_idp.render.resources import DnsRecord, Lifecycle
from minnova_idp.render.storage import StoragePlacement


@dataclass(frozen=True)
class RenderSettings:
    """The part of the stack settings the renderer needs (previews build it from env vars)."""

    deployment: str
    ingress_class: str
    # None: no certificate per host; the ingress controller's default (wildcard) certificate serves it.
    cluster_issuer: str | None
    # Isolation of the namespace (isolation.py); previews add their own guard rails instead.
    network_policies: bool = False
    ingress_namespaces: tuple[str, ...] | None = None  # None: every namespace that is not an app's
    quota: tuple[tuple[str, str], ...] | None = None  # ResourceQuota `hard`, as pairs (hashable)


@dataclass(frozen=True)
class Placement:
    """Where and how one instance of an app runs: an environment of a stack, or a preview."""

    environment: str
    namespace: str
    host: str
    replicas: int
    image_tag: str
    env: dict[str, str] = field(default_factory=dict)
    resources: Resources = Resources()
    secrets: SecretValues | None = None
    database: DatabasePlacement | None = None
    autoscale: Autoscale | None = None  # then `replicas` is its minimum (PDB, quota)
    pull_secret: bool = False  # pods pull with the stack's registry credentials (Secret registry-credentials)
    redis: RedisPlacement | None = None
    storage: StoragePlacement | None = None  # its bucket (storage.py)
    # (host, redirect) of the environment's other hosts (render/host_aliases.py); a preview never has any.
    aliases: tuple[tuple[str, bool], ...] = ()
    internal: InternalAccess | None = None  # app-to-app paths (internal_services.py); previews: none
    mongodb: MongoPlacement | None = None  # its MongoDB (mongodb.py)
    mysql: MysqlPlacement | None = None  # its MariaDB (mysql.py)

    @property
    def instance(self) -> str:
        return self.namespace


@dataclass(frozen=True)
class DnsTarget:
    """Where a stack points its hosts: its Cloudflare zone and ingress address."""

    zone_id: str
    address: str
    proxied: bool = False

    def record(self, name: str, host: str, comment: str, proxied: bool | None = None,
               lifecycle: Lifecycle = Lifecycle()) -> DnsRecord:
        """A record pointing `host` at the ingress: A/AAAA for an address, CNAME for a host name."""
        return DnsRecord(name=name, zone_id=self.zone_id, host=host, record_type=tls.record_type(self.address), content=self.address,
                         ttl=tls.AUTOMATIC_TTL, proxied=self.proxied if proxied is None else proxied,
                         comment=comment, lifecycle=lifecycle)


def build_placement(app: AppConfig, environment: str, namespace: str, host: str, image_tag: str, replicas: int = 1,
                    secrets: SecretValues | None = None, database: DatabasePlacement | None = None,
                    pull_secret: bool = False, redis: RedisPlacement | None = None,
                    storage: StoragePlacement | None = None, mongodb: MongoPlacement | None = None,
                    mysql: MysqlPlacement | None = None) -> Placement:
    """The one builder of placements, for stack environments and previews alike. Env and resources come from
    the environment's own settings over the app's, when the app defines that environment (previews: not)."""
    settings = app.environments.get(environment)
    autoscale = settings.autoscale if settings else None
    return Placement(
        environment=environment,
        namespace=namespace,
        host=host,
        replicas=autoscale.min if autoscale else replicas,
        image_tag=image_tag,
        env={**app.env, **(settings.env if settings else {})},
        resources=(settings.resources if settings else None) or app.resources,
        secrets=secrets,
        database=database,
        autoscale=autoscale,
        pull_secret=pull_secret,
        redis=redis,
        storage=storage,
        mongodb=mongodb,
        mysql=mysql,
    )


def environment_placement(app: AppConfig, environment: str, image_tag: str, secrets: SecretValues | None = None,
                          backup: BackupTarget | None = None, drill_schedule: str | None = None,
                          drill_check: str | None = None, seed: tuple[tuple[str, str], ...] = (),
                          pull_secret: bool = False, password_key: str | None = None,
                          server_name: str = "", storage: StoragePlacement | None = None,
                          mongodb_backup: BackupTarget | None = None,
                          mysql_seed: tuple[tuple[str, str], ...] = ()) -> Placement:
    """`seed`: the app's seed files, used when this environment is among `database.seed.environments`;
    `password_key`: the stack's minnova:passwordKey, which the app's Redis and MySQL passwords are derived from;
    `server_name`: the server name the environment's Cluster archives under (policy/guards.py, major upgrades);
    `storage`: the environment's bucket (storage.storage_target), for an app with storage; `mongodb_backup`: where
    the app's MongoDB backs up (the environment's backup bucket)."""
    env = app.environments[environment]
    seeded = app.database.seed is not None and environment in app.database.seed.environments
    database = database_placement(app, environment, backup, drill_schedule, drill_check, seed if seeded else (),
                                  server_name=server_name)
    namespace = names.namespace(app.name, environment)
    redis = None
    if app.redis.enabled:
        if not password_key:
            raise ValueError(f"{app.name}: a Redis needs the stack's password key")
        persistence = app.redis.persistence
        redis = RedisPlacement(version=app.redis.version, resources=app.redis.resources,
                               password=redis_password(password_key, namespace),
                               size=persistence.size if persistence.enabled else None)
    mongodb = mongodb_placement(app, environment, namespace, password_key, mongodb_backup)
    mysql = attach_data(mysql_placement(app, environment, password_key), app, environment, backup, mysql_seed,
                        drill_schedule)
    placement = build_placement(app, environment, namespace, env.host, image_tag, replicas=env.replicas,
                                secrets=secrets, database=database, pull_secret=pull_secret, redis=redis,
                                storage=storage, mongodb=mongodb, mysql=mysql)
    return replace(placement, aliases=tuple((alias.host, alias.redirect) for alias in env.aliases))
