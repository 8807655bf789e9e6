"""Everything a stack declares resources from, loaded and checked: all or nothing.

Loading comes first and is all-or-nothing: a problem anywhere stops the run before
a single resource is registered (see minnova_idp/load/apps.py for why). Every check across apps,
environments and the stack's settings lives here; the Pulumi shell only creates.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

from minnova_idp.load.app_files import read_mask, read_restore_check, read_seed
from minnova_idp.load.apps import load_apps
from minnova_idp.load.git_auth import GitAuth
from minnova_idp.load.secret_overlays import merged_secret_values, read_overlays
from minnova_idp.load.secrets import (
    app_key,
    key_problems,
    loaded_app_secrets_problems,
    read_secrets_file,
    secrets_file,
)
from minnova_idp.load.stack import parse_stack_config
from minnova_idp.model.errors import ConfigError, Problem, raise_if_any
from minnova_idp.model.inputs import ProgramInputs
from minnova_idp.model.loaded import LoadedApp
from minnova_idp.model.secrets import SecretValues
from minnova_idp.policy.capacity import backup_problems, quota_problems
from minnova_idp.policy.hosts import dns_problems
from minnova_idp.policy.images import image_problems
from minnova_idp.policy.passwords import password_key_problems
from minnova_idp.policy.previews import origin_problems, preview_origins, preview_problems


def load_inputs(project_dir: Path, raw: dict[str, str], secret_keys: set[str], file: str,
                cache_dir: Path | None = None, auth: GitAuth | None = None,
                identities: Sequence[Any] | None = None, progress=None,
                apps: list[LoadedApp] | None = None) -> ProgramInputs:
    """`identities`: age identities to open secrets with instead of the stack's (the offline plan's --identity);
    `progress`: told of each app repository as its fetch ends (loader.load_apps); `apps`: already loaded apps
    instead of the registry's (`validate` in an app repository: load/app_policy.py)."""
    stack = parse_stack_config(raw, secret_keys, file)
    raise_if_any(key_problems(stack))
    if apps is None:
        apps = load_apps(project_dir, stack, cache_dir=cache_dir, auth=auth, progress=progress)
    inputs = ProgramInputs(stack=stack, apps=apps)
    problems = (backup_problems(inputs) + dns_problems(inputs) + preview_problems(inputs) + quota_problems(inputs)
                + password_key_problems(inputs) + origin_problems(inputs) + image_problems(inputs))
    problems.extend(loaded_app_secrets_problems(inputs.apps, stack))  # misnamed files: checked without keys
    secrets: dict[tuple[str, str], SecretValues] = {}
    for app, environment in inputs.deployed():
        if app.directory is None:
            continue
        try:  # the main file merged with its one-value overlays (load/secret_overlays.py)
            values = merged_secret_values(
                read_secrets_file(app.directory, environment), read_overlays(app.directory, environment, app.shown),
                app.shown(secrets_file(environment)), app.name, environment,
                app_key(stack, app.name, environment), stack.file, identities,
                database=app.config.database.enabled, redis=app.config.redis.enabled,
                storage=app.config.storage.enabled)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        if values is not None:
            secrets[(app.name, environment)] = values
    restore_checks = {}
    for app in inputs.apps:
        try:
            check = read_restore_check(app)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        if check is not None:
            restore_checks[app.name] = check
    seeds = {}
    for app in inputs.apps:
        seed = app.config.database.seed
        if seed is None or app.directory is None or not set(seed.environments) & set(inputs.environments_of(app)):
            continue  # seeded only where this stack creates a seeded environment's database
        try:
            seeds[app.name] = read_seed(app.config, app.directory, app.shown(""))
        except ConfigError as exc:
            problems.extend(exc.problems)
    masks = {}
    for app, _ in preview_origins(inputs):
        # From the registered branch, as the stack read it: what every preview copy of this app is masked with.
        if app.directory is None:
            problems.append(Problem(app.config_file, "preview.database", "the app's files were not read, so its "
                                    "mask.sql cannot be: previews would copy unmasked data"))
            continue
        try:
            masks[app.name] = read_mask(app.directory, app.shown(""))
        except ConfigError as exc:
            problems.extend(exc.problems)
    raise_if_any(problems)
    return replace(inputs, secrets=secrets, restore_checks=restore_checks, seeds=seeds, masks=masks)


