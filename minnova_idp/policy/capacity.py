"""What a stack's namespaces and its Cloudflare account can hold: quotas and token counts, checked before anything
is created (a pod over quota is refused by Kubernetes long after `pulumi up` said yes).
"""

from __future__ import annotations

from typing import Any

from minnova_idp.model import names
from minnova_idp.model.app_config import ResourceList
from minnova_idp.model.errors import Problem
from minnova_idp.model.inputs import ProgramInputs
from minnova_idp.model.loaded import LoadedApp
from minnova_idp.model.quantity import parse_quantity
from minnova_idp.policy.previews import preview_origins, preview_storage_apps


def backup_problems(inputs: ProgramInputs) -> list[Problem]:
    cloudflare = inputs.stack.settings.cloudflare
    # MySQL's and MongoDB's backups go to the same bucket as PostgreSQL's (render/mysql_data.py, mongodb.py)
    backed_up = [(app, env) for app, env in inputs.deployed() if backed_up_environment(app.config)]
    stored = [(app, env) for app, env in inputs.deployed() if app.config.storage.enabled]
    if cloudflare is None:
        problems = []
        if backed_up:
            problems.append(Problem(inputs.stack.file, "minnova:cloudflare",
                                    f"required: databases are backed up to Cloudflare R2 (apps with a database, "
                                    f"MySQL or MongoDB: "
                                    f"{', '.join(sorted({app.name for app, _ in backed_up}))})",
                                    hint="set minnova:cloudflare.accountId and .zoneId"))
        if stored:
            problems.append(Problem(inputs.stack.file, "minnova:cloudflare",
                                    f"required: object storage is a Cloudflare R2 bucket (apps with storage: "
                                    f"{', '.join(sorted({app.name for app, _ in stored}))})",
                                    hint="set minnova:cloudflare.accountId and .zoneId"))
        return problems
    if cloudflare.backup_tokens == "perApp":
        # Its credentials Secret sits in every environment's namespace: a dev pod could write (delete) prod's backups.
        return [Problem(inputs.stack.file, "minnova:cloudflare.backupTokens",
                        "perApp is no longer allowed: one token that can write every environment's backups would "
                        "sit in each environment's namespace (a dev pod could delete prod's backups)",
                        hint="remove it (one token per backed-up app environment, each for its own bucket); after "
                             "`pulumi up` the old per-app tokens are retained: revoke them in Cloudflare")]
    # Checked before anything is created: past the account's quota, `pulumi up` would fail half-way through.
    tokens = account_tokens(inputs)
    if tokens <= cloudflare.max_account_tokens:
        return []
    return [Problem(inputs.stack.file, "minnova:cloudflare.maxAccountTokens",
                    f"this stack would create {tokens} Cloudflare account API tokens (one per backed-up app "
                    f"environment{', per app environment with storage' if stored else ''} and cert-manager's), more than the {cloudflare.max_account_tokens} it may create",
                    hint="ask Cloudflare to raise the account's token quota, then raise "
                         "minnova:cloudflare.maxAccountTokens, or split the registry over more accounts")]


def backed_up_environment(config) -> bool:
    """An app environment with a backup bucket and token: PostgreSQL, MySQL and MongoDB share them (each engine
    under its own prefix, render/mysql_data.py, render/mongodb.py)."""
    return config.database.enabled or config.mysql.enabled or config.mongodb.enabled


def account_tokens(inputs: ProgramInputs) -> int:
    """The Cloudflare account API tokens the stack creates for `inputs.apps` (with a Cloudflare account set). Also
    what `policy publish` counts for the stack's other apps (otherAccountTokens), so validate checks the sum."""
    deployed = inputs.deployed()
    return (1  # cert-manager's
            + sum(1 for app, _ in deployed if backed_up_environment(app.config))  # one per backed-up app environment
            + len(preview_origins(inputs))  # + one read-only token per app whose previews copy an environment
            + sum(1 for app, _ in deployed if app.config.storage.enabled)  # + one per app environment with storage
            + len(preview_storage_apps(inputs)))  # + one per app whose previews store objects


def quota_problems(inputs: ProgramInputs) -> list[Problem]:
    """What each app environment asks for must fit its namespace's quota, with room for a rollout's extra pod and a
    restore drill's extra database instance: pods over the quota are refused by Kubernetes at admission, long after
    `pulumi up` said yes."""
    quota = inputs.stack.settings.namespace_quota
    if quota is None:
        return []
    problems = []
    limits = {"cpu": quota.cpu, "memory": quota.memory, "storage": quota.storage, "pods": str(quota.pods)}
    for app, environment, need in namespace_needs(inputs):
        for key, needed in need.items():
            if needed > parse_quantity(limits[key]):
                problems.append(Problem(
                    app.config_file, f"environments.{environment}",
                    f"asks for about {_shown(needed, key)} {key} in its namespace (replicas + 1 for rollouts"
                    f"{', database instances + 1 for the restore drill' if app.config.database.enabled else ''}"
                    f"{', MySQL instances' if app.config.mysql.enabled else ''}), "
                    f"more than the {limits[key]} its quota allows ({inputs.stack.file}: "
                    f"minnova:namespaceQuota.{key})",
                    hint="ask for less, or the platform team raises the stack's minnova:namespaceQuota"))
    return problems


def namespace_needs(inputs: ProgramInputs) -> list[tuple[LoadedApp, str, dict[str, Any]]]:
    """(app, environment, need) for each app environment: the most cpu and memory requested, storage claimed and pods run at once in its namespace.

    Replicas, resources and instances are the renderer's decisions (its placement and process functions), read
    here, never re-derived; tests/policy/test_capacity.py compares these numbers with the rendered objects."""
    from minnova_idp.render.app import DEFAULT_CONTAINER_REQUEST, process_replicas, process_resources, web_pods_at_most
    from minnova_idp.render.database import database_placement
    from minnova_idp.render.drill import DRILL_POD_REQUESTS, DRILL_PODS
    from minnova_idp.render.mongodb import mongodb_members, mongodb_placement
    from minnova_idp.render.mysql import mysql_placement, sidecars
    from minnova_idp.render.placement import build_placement

    needs = []
    default = {key: parse_quantity(value) for key, value in DEFAULT_CONTAINER_REQUEST.items()}

    def add(need: dict, pods: int, requests) -> None:
        """`pods` pods whose one container asks for `requests` (the namespace's default request where unset)."""
        need["cpu"] += pods * _quantity_or(requests.cpu, default["cpu"])
        need["memory"] += pods * _quantity_or(requests.memory, default["memory"])
        need["pods"] += pods

    for app, environment in inputs.deployed():
        config, env = app.config, app.config.environments[environment]
        placement = build_placement(config, environment, names.namespace(app.name, environment), env.host,
                                    image_tag="", replicas=env.replicas)
        need = {"cpu": parse_quantity("0"), "memory": parse_quantity("0"), "storage": parse_quantity("0"), "pods": 0}
        add(need, web_pods_at_most(placement) + 1, placement.resources.requests)  # + a rollout's extra pod
        for process in config.processes:  # workers, with a rollout's extra pod each
            add(need, process_replicas(config, placement, process) + 1,
                process_resources(config, placement, process).requests)
        database = database_placement(config, environment, backup=None)
        if database is not None:
            instances = database.instances + 1  # the restore drill's
            if database.restore is not None and not database.restore.source_gone:
                instances += database.instances  # the source Cluster stays until retired
            # Each instance also runs the backup plugin's sidecar, which gets the namespace's default request.
            add(need, instances, database.resources.requests)
            need["cpu"] += instances * default["cpu"]
            need["memory"] += instances * default["memory"]
            need["storage"] += instances * parse_quantity(database.size)
            add(need, DRILL_PODS, ResourceList(**DRILL_POD_REQUESTS))  # the drill's own pods (render/drill.py)
        mysql = mysql_placement(config, environment, password_key=None)
        if mysql is not None:  # each MariaDB instance, the operator's sidecars in it, and its volume (render/mysql.py)
            add(need, mysql.instances, mysql.resources.requests)
            need["cpu"] += mysql.instances * sidecars(mysql) * default["cpu"]
            need["memory"] += mysql.instances * sidecars(mysql) * default["memory"]
            need["storage"] += mysql.instances * parse_quantity(mysql.size)
            if config.mysql.enabled and inputs.stack.settings.cloudflare is not None:  # backed up (mysql_data.py)
                add(need, 1, ResourceList())  # the daily PhysicalBackup Job's pod: the namespace's default request
                settings = env.mysql
                if settings is not None and settings.restore is not None:  # the source server stays until retired
                    add(need, mysql.instances, mysql.resources.requests)
                    need["cpu"] += mysql.instances * sidecars(mysql) * default["cpu"]
                    need["memory"] += mysql.instances * sidecars(mysql) * default["memory"]
                    need["storage"] += mysql.instances * parse_quantity(mysql.size)
                if config.mysql.restore_drill and inputs.stack.settings.restore_drill_schedule:
                    # the drill's throwaway server (one instance), its kubectl pod and its check Job (mysql_drill.py)
                    add(need, 1, mysql.resources.requests)
                    need["storage"] += parse_quantity(mysql.size)
                    add(need, DRILL_PODS, ResourceList(**DRILL_POD_REQUESTS))
        if config.redis.enabled:  # one Valkey pod (Recreate: never two), and its volume
            add(need, 1, config.redis.resources.requests)
            if config.redis.persistence.enabled:
                need["storage"] += parse_quantity(config.redis.persistence.size)
        mongodb = mongodb_placement(config, environment, names.namespace(app.name, environment), "-", None)
        if mongodb is not None:
            # Each member runs mongod and, when backed up, PBM's agent beside it (no resources set: the namespace's
            # default; percona-server-mongodb-operator@v1.22.0 pkg/psmdb/statefulset.go:341-346).
            members = mongodb_members(mongodb)
            add(need, members, mongodb.resources.requests)
            need["cpu"] += members * default["cpu"]
            need["memory"] += members * default["memory"]
            need["storage"] += members * parse_quantity(mongodb.size)
        needs.append((app, environment, need))
    return needs


def _quantity_or(value: str | None, default):
    return parse_quantity(value) if value else default


def _shown(amount, key: str) -> str:
    if key == "memory" or key == "storage":
        return f"{amount / 2**30:.1f}Gi"
    return f"{amount.normalize():f}" if hasattr(amount, "normalize") else str(amount)
