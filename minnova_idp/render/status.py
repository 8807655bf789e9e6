"""What a stack deploys, from its config and the registry alone (no cluster, no Pulumi): `minnova-idp status`."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from minnova_idp.model.inputs import (
    DATABASE_CLUSTERS_OUTPUT,
    DATABASE_SIZES_OUTPUT,
    MONGODB_CLUSTERS_OUTPUT,
    MONGODB_SIZES_OUTPUT,
    MYSQL_INSTANCES_OUTPUT,
    MYSQL_SIZES_OUTPUT,
    MYSQL_VERSIONS_OUTPUT,
    ProgramInputs,
)
from minnova_idp.model.mysql import mysql_server
from minnova_idp.model.names import storage_bucket
from minnova_idp.policy.guards import ROWS
from minnova_idp.render.mysql_status import mysql_data_status
from minnova_idp.policy.previews import preview_apps


@dataclass(frozen=True)
class AppStatus:
    app: str
    environment: str
    url: str
    image: str
    tag: str | None
    tag_source: str  # where the tag comes from: imageTag, image.tag, commit, or a rollback pin
    database: str | None  # "5Gi x3 (PostgreSQL 17, cluster oracle-db)", or None; MongoDB's after it (`; `)
    previews: bool
    source: str  # where the config was read: repo@commit or the local directory
    # The environment's other hosts (environments.<env>.aliases): {"url": "https://…", "redirect": true|false}.
    aliases: tuple[dict, ...] = ()
    mysql: str | None = None  # "1Gi x3 (MariaDB 11.8, replication, server ledger-mysql)", or None
    storage: str | None = None  # "bucket minnova-storefront-dev-objectstorage" (docs/storage.md), or None

    @property
    def databases(self) -> str | None:
        """The DATABASE column: PostgreSQL's (and MongoDB's), MariaDB's and the object storage bucket, when the app
        has them."""
        return "; ".join(each for each in (self.database, self.mysql, self.storage) if each) or None


def stack_status(inputs: ProgramInputs) -> list[AppStatus]:
    with_previews = {app.name for app in preview_apps(inputs)} if inputs.stack.settings.previews else set()
    rows = []
    for app, environment in inputs.deployed():
        config, env = app.config, app.config.environments[environment]
        tag, source = inputs.image_tag(app, environment)
        database = None
        if config.database.enabled:  # the guarded values (policy/guards.py), as the stack's outputs would record them
            size, cluster = (ROWS[output].declared(config, environment, inputs.recorded)
                             for output in (DATABASE_SIZES_OUTPUT, DATABASE_CLUSTERS_OUTPUT))
            database = (f"{size} x{config.database_instances(environment)} (PostgreSQL "
                        f"{config.database.version}, cluster {cluster})")
        mysql = None
        if config.mysql.enabled:  # the guarded values too (policy/mysql_guards.py)
            size, version, instances = (ROWS[output].declared(config, environment, inputs.recorded) for output in
                                        (MYSQL_SIZES_OUTPUT, MYSQL_VERSIONS_OUTPUT, MYSQL_INSTANCES_OUTPUT))
            topology = ", replication" if int(instances) > 1 else ""
            mysql = f"{size} x{instances} (MariaDB {version}{topology}, server {mysql_server(app.name)})"
            mysql = mysql_data_status(config, environment, inputs, mysql, int(instances))
        if config.mongodb.enabled:
            size, cluster = (ROWS[output].declared(config, environment, inputs.recorded)
                             for output in (MONGODB_SIZES_OUTPUT, MONGODB_CLUSTERS_OUTPUT))
            mongodb = (f"{size} x{config.mongodb_instances(environment)} (MongoDB {config.mongodb.version}, "
                       f"cluster {cluster})")
            database = f"{database}; {mongodb}" if database else mongodb
        # The bucket's name, as the stack's storageBuckets output records it.
        storage = (f"bucket {storage_bucket(inputs.stack.settings.deployment, app.name, environment)}"
                   if config.storage.enabled else None)
        rows.append(AppStatus(app=app.name, environment=environment, url=f"https://{env.host}",
                              image=config.image.repository, tag=tag, tag_source=source, database=database, mysql=mysql,
                              storage=storage,
                              previews=app.name in with_previews,
                              source=app.config_file.removesuffix("/.minnova/app.yaml").removesuffix(".minnova/app.yaml")
                              or ".",
                              aliases=tuple({"url": f"https://{alias.host}", "redirect": alias.redirect}
                                            for alias in env.aliases)))
    return rows


def as_json(rows: list[AppStatus]) -> list[dict]:
    return [asdict(row) for row in rows]


def as_table(rows: list[AppStatus]) -> str:
    header = ("APP", "ENV", "URL", "IMAGE:TAG", "DATABASE", "PREVIEWS")
    lines = [header] + [(r.app, r.environment, urls_text(r), f"{r.image}:{r.tag} ({r.tag_source})", r.databases or "-",
                         "yes" if r.previews else "no") for r in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in lines)


def urls_text(row: AppStatus) -> str:
    """The URL, then each alias's host, marked `->` when it redirects to the URL."""
    return ", ".join([row.url, *(alias["url"].removeprefix("https://") + (" ->" if alias["redirect"] else "")
                                 for alias in row.aliases)])
