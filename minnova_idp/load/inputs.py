"""Everything a stack declares resources from, loaded and checked; one app's failure isolated to that app.

The platform's own inputs (the stack's config, the registry) stop the run. An app whose own inputs fail (its fetch,
its config, its secrets, its SQL files, a check of its config against the stack or another app) keeps running what
it last deployed: its last good config, recorded in the stack's `appSources` output (load/kept.py) and loaded back
from there; an app never deployed is not added. Nothing is ever left out that is deployed: without a record to keep
it from, the run stops as before (ADR 0004). Every check across apps, environments and the stack's settings lives
here; the Pulumi shell only creates.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

from minnova_idp.load.app_files import read_mask, read_mysql_seed, read_restore_check, read_seed
from minnova_idp.load.apps import Candidates, _cross_app_problems, load_apps, load_candidates, load_kept
from minnova_idp.load.git import default_cache_dir
from minnova_idp.load.git_auth import GitAuth
from minnova_idp.load.kept import materialise, record_of
from minnova_idp.load.secret_overlays import merged_secret_values, read_overlays
from minnova_idp.load.secrets import (
    app_key,
    key_problems,
    loaded_app_secrets_problems,
    platform_database_url,
    read_secrets_file,
    secrets_file,
)
from minnova_idp.load.stack import parse_stack_config
from minnova_idp.model import names
from minnova_idp.model.errors import ConfigError, Problem, raise_if_any
from minnova_idp.model.inputs import (
    APP_SOURCES_OUTPUT,
    HOST_ALIASES_OUTPUT,
    IMAGE_TAGS_OUTPUT,
    RELEASES_OUTPUT,
    Degraded,
    ProgramInputs,
)
from minnova_idp.model.loaded import LoadedApp
from minnova_idp.model.secrets import SecretValues
from minnova_idp.model.stack import StackConfig
from minnova_idp.policy.capacity import backup_problems, quota_problems
from minnova_idp.policy.guards import GUARDED, apply_rollbacks, checked_rows, guard_problems
from minnova_idp.policy.hosts import dns_problems
from minnova_idp.policy.images import image_problems
from minnova_idp.policy.internal_access import allow_from_target_problems
from minnova_idp.policy.internal_names import url_name_problems
from minnova_idp.policy.offered import offered_problems
from minnova_idp.policy.passwords import password_key_problems
from minnova_idp.policy.previews import origin_problems, preview_origins, preview_problems


@dataclass(frozen=True)
class Isolation:
    """What the stack deployed at its last update (its outputs, as `pulumi stack output --json` prints them): given,
    an app whose own inputs fail keeps its recorded last good config instead of stopping the run. `known` False: no
    outputs were given (an offline plan or status without --previous-outputs), so nothing is known to be deployed."""

    outputs: Mapping[str, Any]
    known: bool = True


def load_inputs(project_dir: Path, raw: dict[str, str], secret_keys: set[str], file: str,
                cache_dir: Path | None = None, auth: GitAuth | None = None,
                identities: Sequence[Any] | None = None, progress=None,
                apps: list[LoadedApp] | None = None, isolation: Isolation | None = None) -> ProgramInputs:
    """`identities`: age identities to open secrets with instead of the stack's (the offline plan's --identity);
    `progress`: told of each app repository as its fetch ends (loader.load_apps); `apps`: already loaded apps
    instead of the registry's (`validate` in an app repository: load/app_policy.py), checked all or nothing;
    `isolation`: what the stack deployed last, to keep a failing app at (`pulumi up`, plan, status; ADR 0012);
    None: any problem stops (all or nothing)."""
    stack = parse_stack_config(raw, secret_keys, file)
    raise_if_any(key_problems(stack))
    if isolation is None or apps is not None:
        if apps is None:
            apps = load_apps(project_dir, stack, cache_dir=cache_dir, auth=auth, progress=progress)
        inputs, own, platform = _checked(stack, apps, identities, {}, cross_apps=False)
        raise_if_any([*platform, *(problem for problems in own.values() for problem in problems)])
        return inputs
    candidates = load_candidates(project_dir, stack, cache_dir=cache_dir, auth=auth, progress=progress)
    return _isolated(stack, candidates, isolation, identities, cache_dir or default_cache_dir())


def _isolated(stack: StackConfig, candidates: Candidates, isolation: Isolation, identities,
              cache_dir: Path) -> ProgramInputs:
    """Every app that passes, every failing app at its last good config (or left out when never deployed), checked
    again together until the set holds: a kept config must still pass every check across apps (hosts, capacity)."""
    records = isolation.outputs.get(APP_SOURCES_OUTPUT) or {}
    # Every app environment any output records (component -> value): deployed, so never left out.
    deployed = {component for output in (IMAGE_TAGS_OUTPUT, RELEASES_OUTPUT, "urls", *(row.output for row in GUARDED))
                if isinstance(isolation.outputs.get(output), dict) for component in isolation.outputs[output]}
    apps = dict(candidates.apps)
    degraded: dict[str, Degraded] = {}
    memo: dict = {}

    def kept_app(name: str) -> LoadedApp:
        """The app loaded back from its record (raises ValueError, ConfigError or OSError)."""
        key = ("kept", name)
        if key not in memo:
            record = records[name]
            directory = materialise(record, cache_dir)
            memo[key] = load_kept(candidates.registered[name], directory, record.get("commit"), record["configFile"])
        return memo[key]

    def platform_found(trial: Mapping[str, LoadedApp]) -> list[Problem]:
        """The problems every check reports on no app's files (the stack file's) for `trial` (name -> app); what
        the apps' files hold is read once per app (`memo`)."""
        return _checked(stack, [trial[name] for name in sorted(trial)], identities, memo, cross_apps=False,
                        recorded=isolation.outputs)[2]

    def new_config_causes(current: list[LoadedApp]) -> dict[str, list[Problem]]:
        """The stack-file problems (a missing passwordKey, a first database without Cloudflare, too many tokens)
        that apps' new configs cause, by app: with every app as it last deployed (its kept config; absent when never
        deployed) the stack has none, and adding the new configs one at a time in name order, each app whose own
        adds one is refused (ADR 0012). Empty: the configs as deployed cause them too, so the platform must act."""
        base, new = {}, []
        for app in current:
            record = records.get(app.name)
            written = _recorded(app, memo)
            if app.name in degraded or (record is None and app.name in running) or (
                    isinstance(written, dict) and isinstance(record, dict)
                    and written["sha256"] == record.get("sha256")):
                base[app.name] = app  # as deployed (or not revertible: it stays as it is)
                continue
            if record is not None:
                try:
                    base[app.name] = kept_app(app.name)
                except (ValueError, ConfigError, OSError):
                    base[app.name] = app
                    continue
            new.append(app)
        if platform_found(base):
            return {}
        causes: dict[str, list[Problem]] = {}

        def add(group: list[LoadedApp]) -> None:
            # As adding them one at a time would decide (a check finds more with more apps, never less), with a
            # group that adds nothing taken whole: about log2(new) checks per refused app, not one per new app.
            nonlocal base
            trial = {**base, **{app.name: app for app in group}}
            found = platform_found(trial)
            if not found:
                base = trial
            elif len(group) == 1:
                causes[group[0].name] = found
            else:
                add(group[:len(group) // 2])
                add(group[len(group) // 2:])

        if new:
            add(new)
        return causes

    def fall_back(name: str, problems: list[Problem]) -> None:
        if name in degraded:  # its kept config fails too (a rotated key, a new check): nothing safe is left
            raise ConfigError([*problems, Problem(APP_SOURCES_OUTPUT, name, "this is the app's last good config, "
                                                  "kept because its own inputs failed, and it fails too",
                                                  hint="fix the app's config on its branch; the run stops rather "
                                                       "than delete what it runs")])
        record = records.get(name)
        if record is None:
            if name in running:
                raise ConfigError([*problems, Problem(
                    APP_SOURCES_OUTPUT, name, "the app is deployed, but the stack's outputs hold no record of its "
                    "last good config to keep it at (the first run of this version records it)",
                    hint="fix the app's config; the run stops rather than delete what it runs")])
            apps.pop(name, None)
            keeps = ("not added (never deployed by this stack)" if isolation.known else
                     "not added here (no previous outputs given: pass --previous-outputs to see what it keeps)")
            degraded[name] = Degraded(name, tuple(problems), keeps)
            return
        try:
            kept = kept_app(name)
        except ValueError as exc:
            raise ConfigError([*problems, Problem(APP_SOURCES_OUTPUT, name, f"cannot be read back: {exc}")]) from None
        except ConfigError as exc:
            raise ConfigError([*problems, *exc.problems]) from None
        except OSError as exc:
            raise ConfigError([*problems, Problem(APP_SOURCES_OUTPUT, name, "cannot be written back to the cache: "
                                                  f"{exc.strerror or exc}")]) from None
        apps[name] = kept
        shown = kept.config_file.removesuffix(str(names.APP_CONFIG)).rstrip(":/") or "."
        degraded[name] = Degraded(name, tuple(problems), f"keeps its last good config ({shown})", kept)

    # What runs claims hosts first: a claim on the host a deployed app serves (the `urls` output) is the one refused,
    # then a new claim on a deployed (or kept) app's host.
    running = frozenset(name for name in candidates.registered
                        if any(names.component_name(name, env) in deployed for env in stack.settings.environments))
    served = served_hosts(isolation.outputs, candidates.registered, stack.settings.environments)
    for name, problems in sorted(candidates.failed.items()):
        fall_back(name, problems)
    for _ in range(len(candidates.registered) + 1):  # each round keeps or leaves out at least one more app
        inputs, own, platform = _checked(stack, sorted(apps.values(), key=lambda app: app.name), identities, memo,
                                         cross_apps=True, first=running | frozenset(degraded),
                                         recorded=isolation.outputs, served=served)
        for app in inputs.apps:  # a new record that cannot be written is the app's own problem: it keeps its last
            if app.name not in degraded and app.name not in own:
                written = _recorded(app, memo)
                if isinstance(written, ConfigError):
                    own[app.name] = written.problems
        if platform and not own:  # each app's own first: falling back may be what removes them
            own = new_config_causes(inputs.apps)
            raise_if_any(platform if not own else [])
        if not own:
            break
        for name, problems in sorted(own.items()):
            fall_back(name, problems)
    sources = {}
    for app in inputs.apps:
        kept = degraded.get(app.name)
        record = records.get(app.name) if kept is not None else _recorded(app, memo)
        if record is not None:
            sources[app.name] = record
    return replace(inputs, sources=sources, degraded=degraded)


def served_hosts(outputs: Mapping[str, Any], registered: Mapping[str, Any], environments: Sequence[str]
                 ) -> dict[str, str]:
    """host -> the app the stack's last update serves it for, from the `urls` output (component -> https://host)
    and the `hostAliases` output (component -> [https://host, ...]: its other hosts)."""
    urls = outputs.get("urls")
    if not isinstance(urls, dict):
        return {}
    aliases = outputs.get(HOST_ALIASES_OUTPUT)
    aliases = aliases if isinstance(aliases, dict) else {}
    served = {}
    for name in sorted(registered):
        for environment in environments:
            component = names.component_name(name, environment)
            others = aliases.get(component)
            for url in [urls.get(component), *(others if isinstance(others, list) else [])]:
                if isinstance(url, str) and url.startswith("https://"):
                    served.setdefault(url.removeprefix("https://"), name)
    return served


def _recorded(app: LoadedApp, memo: dict) -> dict[str, Any] | ConfigError | None:
    """The record of `app`'s config (load/kept.py record_of), or the ConfigError saying why it cannot be written."""
    key = ("record", id(app))
    if key not in memo:
        try:
            memo[key] = (app, record_of(app))
        except ConfigError as exc:
            memo[key] = (app, exc)
    return memo[key][1]


def _checked(stack: StackConfig, apps: list[LoadedApp], identities, memo: dict, cross_apps: bool,
             first: frozenset[str] = frozenset(), recorded: Mapping[str, Any] | None = None,
             served: Mapping[str, str] | None = None
             ) -> tuple[ProgramInputs, dict[str, list[Problem]], list[Problem]]:
    """The inputs of `apps` with their secrets and SQL files read, each app's own problems (by app name) and the
    platform's (any problem naming no app's file). `memo` keeps what was read across rounds (same app, same files).
    `recorded`: the stack's previous outputs, for the data guards (policy/guards.py) as the program checks them."""
    inputs = ProgramInputs(stack=stack, apps=apps)
    problems = _cross_app_problems(apps, first, served) if cross_apps else []
    problems += (backup_problems(inputs) + dns_problems(inputs) + preview_problems(inputs) + quota_problems(inputs)
                 + password_key_problems(inputs) + origin_problems(inputs) + image_problems(inputs)
                 + offered_problems(inputs) + allow_from_target_problems(apps) + url_name_problems(inputs))
    problems.extend(loaded_app_secrets_problems(inputs.apps, stack))  # misnamed files: checked without keys
    if recorded is not None:
        # The guards as components/program.py applies them, so a shrink or a replaced database is one app's problem.
        guarded = {row.output: recorded.get(row.output) or {} for row in GUARDED}
        guarded, rollback_problems = apply_rollbacks(inputs, guarded)
        problems += rollback_problems + guard_problems(inputs, guarded, checked_rows(inputs))
    own, platform = _by_app(apps, problems)

    def read(app: LoadedApp, what: str, reader):
        key = (what, id(app))
        if key not in memo:
            try:
                memo[key] = (app, reader(), None)
            except ConfigError as exc:
                memo[key] = (app, None, exc.problems)
        _, value, found = memo[key]
        if found:
            own.setdefault(app.name, []).extend(found)
        return value

    secrets: dict[tuple[str, str], SecretValues] = {}
    for app, environment in inputs.deployed():
        if app.directory is None:
            continue
        # the main file merged with its one-value overlays (load/secret_overlays.py)
        values = read(app, f"secrets:{environment}", lambda: merged_secret_values(
            read_secrets_file(app.directory, environment), read_overlays(app.directory, environment, app.shown),
            app.shown(secrets_file(environment)), app.name, environment,
            app_key(stack, app.name, environment), stack.file, identities,
            database=platform_database_url(app.config), redis=app.config.redis.enabled,
            storage=app.config.storage.enabled, mysql=app.config.mysql.enabled))
        if values is not None:
            secrets[(app.name, environment)] = values
    restore_checks = {}
    for app in inputs.apps:
        check = read(app, "restore-check", lambda: read_restore_check(app))
        if check is not None:
            restore_checks[app.name] = check
    seeds = {}
    for app in inputs.apps:
        seed = app.config.database.seed
        if seed is None or app.directory is None or not set(seed.environments) & set(inputs.environments_of(app)):
            continue  # seeded only where this stack creates a seeded environment's database
        files = read(app, "seed", lambda: read_seed(app.config, app.directory, app.shown("")))
        if files is not None:
            seeds[app.name] = files
    mysql_seeds = {}
    for app in inputs.apps:
        seed = app.config.mysql.seed
        if seed is None or app.directory is None or not set(seed.environments) & set(inputs.environments_of(app)):
            continue
        files = read(app, "mysql-seed", lambda: read_mysql_seed(app.config, app.directory, app.shown("")))
        if files is not None:
            mysql_seeds[app.name] = files
    masks = {}
    for app, _ in preview_origins(inputs):
        # From the registered branch, as the stack read it: what every preview copy of this app is masked with.
        if app.directory is None:
            own.setdefault(app.name, []).append(Problem(
                app.config_file, "preview.database", "the app's files were not read, so its mask.sql cannot be: "
                "previews would copy unmasked data"))
            continue
        mask = read(app, "mask", lambda: read_mask(app.directory, app.shown("")))
        if mask is not None:
            masks[app.name] = mask
    return (replace(inputs, secrets=secrets, restore_checks=restore_checks, seeds=seeds, masks=masks,
                    mysql_seeds=mysql_seeds), own,
            platform)


def _by_app(apps: list[LoadedApp], problems: list[Problem]) -> tuple[dict[str, list[Problem]], list[Problem]]:
    """Each problem to the app whose files it names (the longest prefix: apps of one monorepo share the repo's), or
    to the platform (the stack file, the registry) when it names none."""
    prefixes = sorted(((app.shown(""), app.name) for app in apps), key=lambda item: -len(item[0]))
    own: dict[str, list[Problem]] = {}
    platform = []
    for problem in problems:
        name = next((name for prefix, name in prefixes if prefix and problem.file.startswith(prefix)), None)
        if name is None:
            platform.append(problem)
        else:
            own.setdefault(name, []).append(problem)
    return own, platform


