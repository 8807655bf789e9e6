"""Loading every registered app's config, each on its own.

If one app's config could not be loaded and we went on without it, Pulumi would see that app's resources as no
longer wanted and delete them. So a failed app is never just left out: load/inputs.py keeps it at its last good
config (load/kept.py) or, never deployed, leaves it out (ADR 0004). `load_apps` is the all-or-nothing path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from minnova_idp.load.git import (
    DEFAULT_TIMEOUT,
    TIMEOUT_ENV,
    CacheDirError,
    FetchedSource,
    FetchError,
    RepoSpec,
    default_cache_dir,
    fetch_sources,
)
from minnova_idp.load.git_auth import GitAuth
from minnova_idp.load.registry import Registered, read_registry
from minnova_idp.load.validation import validate_document
from minnova_idp.load.yamlsafe import load_yaml_file
from minnova_idp.model import names
from minnova_idp.model.app_config import AppConfig
from minnova_idp.model.errors import ConfigError, Problem, raise_if_any
from minnova_idp.model.host_aliases import host_locations
from minnova_idp.model.loaded import LoadedApp
from minnova_idp.model.stack import StackConfig

APP_CONFIG = names.APP_CONFIG


def git_auth(stack: StackConfig) -> GitAuth:
    git = stack.settings.git
    return GitAuth(
        token=stack.secrets.git_token,
        token_username=git.username,
        token_url_prefix=git.base_url,
        ssh_private_key=stack.secrets.git_ssh_private_key,
        ssh_known_hosts=stack.git_known_hosts,
    )


def git_timeout(environ=None) -> float:
    """Seconds one git call may take: MINNOVA_IDP_GIT_TIMEOUT, default 120."""
    text = (os.environ if environ is None else environ).get(TIMEOUT_ENV)
    if not text:
        return DEFAULT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 1 <= value <= 3600:
        raise ConfigError([Problem(TIMEOUT_ENV, message=f"'{text[:20]}' is not a number of seconds from 1 to 3600")])
    return value


@dataclass(frozen=True)
class Candidates:
    """Every registered app loaded on its own: `apps` by name, and `failed` (name -> its problems) for each app whose
    fetch or config failed. The registry itself is the platform's: a problem there stops the run (load_candidates)."""

    registered: dict[str, Registered]
    apps: dict[str, LoadedApp]
    failed: dict[str, list[Problem]]


def load_candidates(project_dir: Path, stack: StackConfig, cache_dir: Path | None = None,
                    auth: GitAuth | None = None, progress=None, registry_problems: list[Problem] | None = None
                    ) -> Candidates:
    """`progress(result)`: told of each repository as its fetch ends (FetchedSource or FetchError).
    `registry_problems`: given, the registry's problems are added to it instead of raised."""
    registered, problems = read_registry(project_dir, stack.settings.registry_dir)
    if registry_problems is None:
        raise_if_any(problems)
    else:
        registry_problems.extend(problems)
    remote = [r for r in registered if r.entry.local is None]
    specs = [RepoSpec(url=r.entry.repo, ref=r.entry.ref, path=r.entry.path or "") for r in remote]
    cache = cache_dir or default_cache_dir()
    try:
        results = fetch_sources(specs, cache, auth or git_auth(stack), timeout=git_timeout(), progress=progress)
    except CacheDirError as exc:
        raise ConfigError([Problem("--cache-dir" if cache_dir else "MINNOVA_IDP_CACHE_DIR", message=f"the git cache "
                                   f"cannot be used: {exc}", hint="point it at a writable directory")]) from None
    fetched = {item.entry.name: result for item, result in zip(remote, results)}
    apps: dict[str, LoadedApp] = {}
    failed: dict[str, list[Problem]] = {}
    for item in registered:
        try:
            apps[item.entry.name] = _load_one(project_dir, item, fetched.get(item.entry.name))
        except ConfigError as exc:
            failed[item.entry.name] = exc.problems
    return Candidates({item.entry.name: item for item in registered}, apps, failed)


def load_apps(project_dir: Path, stack: StackConfig, cache_dir: Path | None = None,
              auth: GitAuth | None = None, progress=None) -> list[LoadedApp]:
    """Every registered app, all or nothing: any problem raises (the strict path: tests and checks of one stack)."""
    problems: list[Problem] = []
    candidates = load_candidates(project_dir, stack, cache_dir, auth, progress, registry_problems=problems)
    for app_problems in candidates.failed.values():
        problems.extend(app_problems)
    apps = list(candidates.apps.values())
    problems.extend(_cross_app_problems(apps))
    if problems:
        raise ConfigError(problems)
    return sorted(apps, key=lambda app: app.name)


def load_kept(item: Registered, directory: Path, commit: str | None, shown: str) -> LoadedApp:
    """An app loaded back from the record of its last good config (load/kept.py), as a fetched one is loaded."""
    return _load_from(item, directory, commit, shown)


def _load_one(project_dir: Path, item: Registered, source: FetchedSource | FetchError | None) -> LoadedApp:
    entry = item.entry
    if isinstance(source, FetchError):
        raise ConfigError([Problem(item.file, "repo", f"cannot fetch {entry.repo}: {source.reason}")])
    if source is not None:
        base, commit = source.directory, source.commit
        inside = f"{entry.path}/{APP_CONFIG}" if entry.path else str(APP_CONFIG)
        shown = f"{entry.repo}@{commit[:12]}:{inside}"
    else:
        base, commit = project_dir / entry.local, None
        shown = f"{entry.local}/{APP_CONFIG}"
    return _load_from(item, base, commit, shown)


def _load_from(item: Registered, base: Path, commit: str | None, shown: str) -> LoadedApp:
    entry = item.entry
    config_path = base / APP_CONFIG
    if not config_path.is_file():
        raise ConfigError([Problem(shown, message="app config not found",
                                   hint=f"registered in {item.file}; the app repo must hold {APP_CONFIG}")])
    config = validate_document(AppConfig, load_yaml_file(config_path, shown))
    app = LoadedApp(entry=entry, config=config, commit=commit, config_file=shown, directory=base)
    problems = entry_problems(app, item.file)
    if problems:
        raise ConfigError(problems)
    return app


def entry_problems(app: LoadedApp, registry_file: str) -> list[Problem]:
    """An app config read for a registry entry: named as registered, with an image tag in every environment.
    Also what `validate` checks against a published entry (load/app_policy.py)."""
    problems = []
    if app.config.name != app.entry.name:
        problems.append(Problem(app.config_file, "name", f"'{app.config.name}' does not match the registry entry "
                                f"'{app.entry.name}'", hint=f"registered as {registry_file}"))
    for environment in app.config.environments:
        if app.image_tag(environment) is None:
            problems.append(Problem(app.config_file, f"environments.{environment}.imageTag",
                                    "no image tag: a local source has no commit to default to",
                                    hint="set image.tag or environments.<env>.imageTag"))
    return problems


def host_claims(app: LoadedApp) -> list[tuple[str, str, str, str, str]]:
    """(app, environment, host, config file, field) of every host `app` claims: each environment's host and its
    aliases (model/host_aliases.py)."""
    return [(app.name, env_name, host, app.config_file, field)
            for env_name, environment in app.config.environments.items()
            for host, field in host_locations(env_name, environment)]


def host_claim_problems(claims: list[tuple[str, str, str, str, str]], first: frozenset[str] = frozenset(),
                        deployed: Mapping[str, str] | None = None) -> list[Problem]:
    """A host belongs to one app: a second claim would take over the first app's traffic. The app that serves it
    keeps it (`deployed`: host -> the app the stack's last update deployed it for, ADR 0012), so a claim on a
    running app's host is the one refused, whatever the names; then the apps in `first` (what runs: deployed or kept
    at their last good config), then the first by name. `claims` from `host_claims`; `validate` adds the other
    apps' from the published policy."""
    served = deployed or {}
    owners: dict[str, tuple[str, str]] = {}
    problems = []
    for app, env_name, host, file, field in sorted(claims, key=lambda claim: (
            served.get(claim[2], claim[0]) != claim[0], claim[0] not in first, claim[0])):
        if host in owners:
            owner, owner_env = owners[host]
            problems.append(Problem(file, field, f"'{host}' is already the host of app "
                                    f"'{owner}' ({owner_env}); two apps can never share a host"))
        else:
            owners[host] = (app, env_name)
    return problems


def _cross_app_problems(apps: list[LoadedApp], first: frozenset[str] = frozenset(),
                        deployed: Mapping[str, str] | None = None) -> list[Problem]:
    return host_claim_problems([claim for app in apps for claim in host_claims(app)], first, deployed)
