"""Whom app secrets are encrypted for: names checked, recipients from flags, the app repository's
.minnova/recipients.yaml or the stack config (shared by the `secrets` commands)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from minnova_idp.model.errors import ConfigError, Problem


def stack_configs(project_dir: Path, stacks: str | Sequence[str] | None):
    """(stack name, StackConfig) of the given stacks, or of every Pulumi.<stack>.yaml here."""
    from minnova_idp.load.stack import from_stack_file, parse_stack_config, stack_names

    wanted = [stacks] if isinstance(stacks, str) else list(dict.fromkeys(stacks or []))
    wanted = wanted or stack_names(project_dir)
    if not wanted:
        raise ConfigError([Problem(str(project_dir), message="no Pulumi.<stack>.yaml here",
                                   hint="run in the infra repository, or pass --project-dir")])
    return [(name, parse_stack_config(*from_stack_file(project_dir, name))) for name in wanted]


def recipients_by_environment(configs, app: str) -> dict[str, list[str]]:
    """`app`'s public recipients per environment in the stack configs `stack_configs` gave."""
    from minnova_idp.load.secrets import app_key

    found: dict[str, list[str]] = {}
    for _, config in configs:
        environments = set(config.settings.secrets_recipients.get(app, {}))
        if config.settings.secrets_shared_recipient:
            environments |= {*config.settings.environments, "preview"}
        for environment in sorted(environments):
            key = app_key(config, app, environment)
            if key and key.recipient not in found.setdefault(environment, []):
                found[environment].append(key.recipient)
    return found


def check_names(app: str, environment: str | None = None) -> None:
    from minnova_idp.model.names import check_app_name, check_environment_name

    problems = [Problem("APP", message=why) for why in [check_app_name(app)] if why]
    if environment is not None and environment != "preview":
        problems += [Problem("ENV", message=why) for why in [check_environment_name(environment)] if why]
    if problems:
        raise ConfigError(problems)


def recipient_flags(values: Sequence[str] | None, flag: str = "--recipient") -> list[str]:
    """Public age recipients given on the command line; a secret key given by mistake is refused unseen."""
    from pydantic import TypeAdapter, ValidationError

    from minnova_idp.model.stack_settings import AgeRecipient

    adapter = TypeAdapter(AgeRecipient)
    found, problems = [], []
    for index, value in enumerate(values or [], start=1):
        try:
            found.append(adapter.validate_python(value.strip()))
        except ValidationError as exc:
            why = exc.errors(include_url=False)[0]["msg"].removeprefix("Value error, ")
            problems.append(Problem(flag, message=f"value {index} {why}"))
    if problems:
        raise ConfigError(problems)
    return list(dict.fromkeys(found))


def environment_recipient_flags(values: Sequence[str]) -> dict[str, list[str]]:
    """`--recipient ENV=age1...` flags (sops-config)."""
    found: dict[str, list[str]] = {}
    for index, value in enumerate(values, start=1):
        environment, separator, recipient = value.partition("=")
        if not separator:
            raise ConfigError([Problem("--recipient", message=f"value {index} is not ENV=age1...",
                                       hint="e.g. --recipient prod=age1...")])
        check_names("app", environment)
        found.setdefault(environment, []).extend(recipient_flags([recipient]))
    return found


def recipient_source(args: argparse.Namespace, app: str) -> tuple[str, dict[str, list[str]]]:
    """Where recipients come from, and them by environment: --stack; else the app repository's
    .minnova/recipients.yaml (in --app-dir); else every Pulumi.<stack>.yaml in --project-dir. Checked before
    anything is written."""
    from minnova_idp.load.recipients import RECIPIENTS_FILE
    from minnova_idp.load.secrets import published_problems
    from minnova_idp.load.stack import stack_names

    project_dir, app_dir = Path(args.project_dir), Path(args.app_dir)
    if args.stack:
        return "the stack config", recipients_by_environment(stack_configs(project_dir, args.stack), app)
    problems, published = published_problems(app_dir, app)
    if problems:
        raise ConfigError(problems)
    if published is not None:
        return str(app_dir / RECIPIENTS_FILE), {env: published.for_environment(env) for env in published.recipients}
    if stack_names(project_dir):
        return "the stack config", recipients_by_environment(stack_configs(project_dir, None), app)
    raise ConfigError([Problem(str(app_dir / RECIPIENTS_FILE), message=f"not found, and there is no "
                               f"Pulumi.<stack>.yaml in {project_dir} either",
                               hint=f"in the app repository, commit the file the platform team prints with "
                                    f"`minnova-idp secrets publish {app}` (or pass --recipient); in the infra "
                                    "repository, run here or pass --project-dir")])


def no_recipient(source: str, app: str, environment: str) -> ConfigError:
    if source == "the stack config":
        return ConfigError([Problem(f"{app}/{environment}", message="has no age recipient in the stack config",
                                    hint=f"the platform team runs: minnova-idp secrets new-key {app} {environment}")])
    return ConfigError([Problem(source, f"recipients.{environment}", "is not published",
                                hint=f"the platform team runs: minnova-idp secrets new-key {app} {environment}, then "
                                     f"minnova-idp secrets publish {app}")])
