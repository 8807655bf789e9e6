"""TODO docstring."""

from __future__ import annotations

from minnova_idp.model.errors import Problem
from minnova_idp.model.inputs import ProgramInputs
from minnova_idp.model.quantity import parse_quantity
from minnova_idp.policy.previews import preview_origins


def backup_problems(inputs: ProgramInputs) -> list[Problem]:
    cloudflare = inputs.stack.settings.cloudflare
    backed_up = [(app, env) for app, env in inputs.deployed() if app.config.database.enabled]
    if cloudflare is None:
        if not backed_up:
            return []
        return [Problem(inputs.stack.file, "minnova:cloudflare",
                        f"required: databases are backed up to Cloudflare R2 (apps with a database: "
                        f"{', '.join(sorted({app.name for app, _ in backed_up}))})",
                        hint="set minnova:cloudflare.accountId and .zoneId")]
    if cloudflare.backup_tokens == "perApp":
        # Its credentials Secret sits in every environment's namespace: a dev pod could write (delete) prod's backups.
        return [Problem(inputs.stack.file, "minnova:cloudflare.backupTokens",
                        "perApp is no longer allowed: one token that can write every environment's backups would "
                        "sit in each environment's namespace (a dev pod could delete prod's backups)",
                        hint="remove it (one token per backed-up app environment, each for its own bucket); after "
                             "`pulumi up` the old per-app tokens are retained: revoke them in Cloudflare")]
    # Checked before anything is created: past the account's quota, `pulumi up` would fail half-way through.
    tokens = (1 + len(backed_up)  # one per backed-up app environment, + cert-manager's
              + len(preview_origins(inputs)))  # + one read-only token per app whose previews copy an environment
    if tokens <= cloudflare.max_account_tokens:
        return []
    return [Problem(inputs.stack.file, "minnova:cloudflare.maxAccountTokens",
                    f"this stack would create {tokens} Cloudflare account API tokens (one per backed-up app "
                    f"environment and cert-manager's), more than the {cloudflare.max_account_tokens} it may create",
                    hint="ask Cloudflare to raise the account's token quota, then raise "
                         "minnova:cloudflare.maxAccountTokens, or split the registry over more accounts")]


def quota_problems(inputs: ProgramInputs) -> list[Problem]:
    """What each app environment asks for must fit its namespace's quota, with room for a rollout's extra pod and a
    restore drill's extra database instance: pods over the quota are refused by Kubernetes at admission, long after
    `pulumi up` said yes."""
    from minnova_idp.render.app import DEFAULT_CONTAINER_REQUEST

    quota = inputs.stack.settings.namespace_quota
    if quota is None:
        return []
    problems = []
    default = {key: parse_quantity(value) for key, value in DEFAULT_CONTAINER_REQUEST.items()}
    for app, environment in inputs.deployed():
        config, env = app.config, app.config.environments[environment]
        requests = (env.resources or config.resources).requests
        web = (env.autoscale.max if env.autoscale else env.replicas) + 1
        need = {"cpu": web * _quantity_or(requests.cpu, default["cpu"]),
                "memory": web * _quantity_or(requests.memory, default["memory"]),
                "storage": parse_quantity("0"), "pods": web}
        for name, process in config.processes.items():  # workers, with a rollout's extra pod each
            count = (env.processes[name].replicas if name in env.processes else process.replicas) + 1
            wanted = (process.resources or env.resources or config.resources).requests
            need["cpu"] += count * _quantity_or(wanted.cpu, default["cpu"])
            need["memory"] += count * _quantity_or(wanted.memory, default["memory"])
            need["pods"] += count
        if config.database.enabled:
            instances = config.database_instances(environment) + 1  # the restore drill's
            settings = env.database
            if settings is not None and settings.restore is not None:
                instances += config.database_instances(environment)  # the source Cluster stays until retired
            db = config.database.resources.requests
            # Each instance also runs the backup plugin's sidecar, which gets the namespace's default request.
            need["cpu"] += instances * (_quantity_or(db.cpu, default["cpu"]) + default["cpu"])
            need["memory"] += instances * (_quantity_or(db.memory, default["memory"]) + default["memory"])
            need["storage"] += instances * parse_quantity(config.database.size)
            need["pods"] += instances + 1  # and the drill's Job
        if config.redis.enabled:  # one Valkey pod (Recreate: never two), and its volume
            valkey = config.redis.resources.requests
            need["cpu"] += _quantity_or(valkey.cpu, default["cpu"])
            need["memory"] += _quantity_or(valkey.memory, default["memory"])
            need["pods"] += 1
            if config.redis.persistence.enabled:
                need["storage"] += parse_quantity(config.redis.persistence.size)
        limits = {"cpu": quota.cpu, "memory": quota.memory, "storage": quota.storage, "pods": str(quota.pods)}
        for key, needed in need.items():
            if needed > parse_quantity(limits[key]):
                problems.append(Problem(
                    app.config_file, f"environments.{environment}",
                    f"asks for about {_shown(needed, key)} {key} in its namespace (replicas + 1 for rollouts"
                    f"{', database instances + 1 for the restore drill' if config.database.enabled else ''}), more "
                    f"than the {limits[key]} its quota allows ({inputs.stack.file}: minnova:namespaceQuota.{key})",
                    hint="ask for less, or the platform team raises the stack's minnova:namespaceQuota"))
    return problems


def _quantity_or(value: str | None, default):
    return parse_quantity(value) if value else default


def _shown(amount, key: str) -> str:
    if key == "memory" or key == "storage":
        return f"{amount / 2**30:.1f}Gi"
    return f"{amount.normalize():f}" if hasattr(amount, "normalize") else str(amount)
