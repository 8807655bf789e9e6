"""Guards against data loss across runs: compare what this run declares with what the stack last deployed."""

from __future__ import annotations

from minnova_idp.model import names
from minnova_idp.model.errors import Problem
from minnova_idp.model.inputs import ProgramInputs
from minnova_idp.model.quantity import parse_quantity


def database_replacements(inputs: ProgramInputs, deployed_clusters: dict[str, str]) -> list[Problem]:
    """An app's database is the Cluster this stack last deployed for it, unless a restore from that Cluster is
    declared: a changed `backupName` alone would give the app a new, empty database."""
    problems = []
    for app, environment in inputs.deployed():
        if not app.config.database.enabled:
            continue
        before = deployed_clusters.get(names.component_name(app.name, environment))
        now = app.config.backup_name(environment)
        settings = app.config.environments[environment].database
        restore = settings.restore if settings else None
        if before and now != before and (restore is None or restore.from_backup != before):
            problems.append(Problem(
                app.config_file, f"environments.{environment}.database.backupName",
                f"'{now}' would give the app a new, empty database in place of '{before}', which {environment} runs",
                hint=f"keep backupName: {before}, or restore into '{now}' with restore.fromBackup: {before} "
                     "(README: Disaster recovery)"))
    return problems


def storage_shrinks(inputs: ProgramInputs, deployed_sizes: dict[str, str]) -> list[Problem]:
    """A database volume can grow, never shrink: compare with what this stack last deployed."""
    return _volume_shrinks(inputs, deployed_sizes, "database.size", "database",
                           lambda config: config.database.size if config.database.enabled else None)


def redis_shrinks(inputs: ProgramInputs, deployed_sizes: dict[str, str]) -> list[Problem]:
    """A Valkey volume can grow, never shrink (Kubernetes refuses a smaller claim, half-way through an update)."""
    return _volume_shrinks(inputs, deployed_sizes, "redis.persistence.size", "Redis",
                           lambda config: config.redis.persistence.size
                           if config.redis.enabled and config.redis.persistence.enabled else None)


def _volume_shrinks(inputs: ProgramInputs, deployed_sizes: dict[str, str], field_name: str, what: str,
                    size_of) -> list[Problem]:
    """Each app environment whose volume (`size_of(config)`, None: it has none) is smaller than `deployed_sizes`
    (component -> size, a stack output) says this stack last deployed."""
    problems = []
    for app, environment in inputs.deployed():
        size, before = size_of(app.config), deployed_sizes.get(names.component_name(app.name, environment))
        if size and before and parse_quantity(size) < parse_quantity(before):
            problems.append(Problem(
                app.config_file, field_name,
                f"'{size}' is smaller than the {before} deployed in {environment}; {what} volumes can grow "
                "but never shrink", hint=f"keep {before} or more"))
    return problems
