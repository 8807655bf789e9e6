"""Stack settings from Pulumi config (namespace `minnova`), from a live run or a stack file.

Pulumi hands config to a program as strings, structured values as JSON. Both the real
program and the offline plan turn their source into that form first, so there is one
validation path.
"""

from __future__ import annotations

import difflib
import json
import types
import typing
from pathlib import Path
from typing import Any, Mapping

import yaml
from pydantic import ValidationError

from minnova_idp.load.validation import problems_from
from minnova_idp.load.yamlsafe import load_yaml_file
from minnova_idp.model.errors import ConfigError, Problem
from minnova_idp.model.secrets import SECRET_PLACEHOLDER
from minnova_idp.model.stack import StackConfig, StackSecrets
from minnova_idp.model.stack_settings import PLAIN_EXTRA_KEYS, SECRET_KEYS, StackSettings
from minnova_idp.policy.rollback import KEY

NAMESPACE = "minnova"
PROJECT_NAMESPACE = "minnova-idp"  # Pulumi.yaml `name`: where un-namespaced keys go


def parse_stack_config(raw: Mapping[str, str], secret_keys: set[str], file: str) -> StackConfig:
    """`raw` maps full keys ("minnova:baseDomain") to Pulumi's string form of the value."""
    problems: list[Problem] = []
    values: dict[str, Any] = {}
    secrets: dict[str, str] = {}
    known_hosts = None
    model_keys = {f.alias or name: f for name, f in StackSettings.model_fields.items()}
    for full_key, text in sorted(raw.items()):
        namespace, _, key = full_key.partition(":")
        if namespace == PROJECT_NAMESPACE and (key in model_keys or key in SECRET_KEYS):
            # `pulumi config set baseDomain x` lands in the project's namespace, where we never look.
            problems.append(Problem(file, full_key, "is in the project namespace and would be ignored",
                                    hint=f"set it as {NAMESPACE}:{key}"))
        if namespace != NAMESPACE:
            continue
        shown = full_key
        if key in SECRET_KEYS:
            if full_key not in secret_keys:
                problems.append(Problem(file, shown, "holds a secret but is stored in plain text",
                                        hint=f"pulumi config set --secret {full_key} ..."))
            secrets[key] = text
        elif key in PLAIN_EXTRA_KEYS:
            known_hosts = text
        elif key in model_keys:
            values[key] = text if key in _STRING_SETTINGS else _json(text)
        else:
            known = sorted([*model_keys, *SECRET_KEYS, *PLAIN_EXTRA_KEYS])
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
            problems.append(Problem(file, shown, "unknown setting",
                                    hint=f"did you mean '{NAMESPACE}:{close[0]}'?" if close else None))
    secrets_keys = _secret_map(secrets.get("secretsKeys"), "secretsKeys", 2, file, problems)
    deploy_keys = _secret_map(secrets.get("gitDeployKeys"), "gitDeployKeys", 1, file, problems)
    project_tokens = _secret_map(secrets.get("gitlabProjectTokens"), "gitlabProjectTokens", 1, file, problems)
    status_tokens = _secret_map(secrets.get("previewStatusTokens"), "previewStatusTokens", 1, file, problems)
    settings = None
    try:
        settings = StackSettings.model_validate(values)
    except ValidationError as exc:
        problems.extend(problems_from(exc, StackSettings, file, field_prefix=f"{NAMESPACE}:"))
    if problems or settings is None:
        raise ConfigError(problems)
    return StackConfig(
        settings=settings,
        secrets=StackSecrets(git_token=secrets.get("gitToken"), git_ssh_private_key=secrets.get("gitSshPrivateKey"),
                             kubeconfig=secrets.get("kubeconfig"),
                             cloudflare_api_token=secrets.get("cloudflareApiToken"),
                             secrets_keys=secrets_keys, secrets_shared_key=secrets.get("secretsSharedKey"),
                             github_app_private_key=secrets.get("githubAppPrivateKey"),
                             git_deploy_keys=deploy_keys, gitlab_project_tokens=project_tokens,
                             preview_status_tokens=status_tokens,
                             webhook_secret=secrets.get("webhookSecret"),
                             registry_credentials=secrets.get("registryCredentials"),
                             password_key=secrets.get("passwordKey")),
        git_known_hosts=known_hosts,
        file=file,
    )


_SECRET_MAP_SHAPES = {1: "{app: value}", 2: "{app: {environment: value}}"}


def _secret_map(text: str | None, key: str, depth: int, file: str, problems: list[Problem]) -> dict:
    """A secret mapping such as {app: {env: identity}}; its values are checked where used, never echoed."""
    if text is None:
        return {}
    value = _json(text)

    def well_formed(node: Any, level: int) -> bool:
        if level == 0:
            return isinstance(node, str)
        return isinstance(node, dict) and all(isinstance(k, str) and well_formed(v, level - 1) for k, v in node.items())

    if not well_formed(value, depth):
        field_name = f"{NAMESPACE}:{key}"
        problems.append(Problem(file, field_name, f"must have the shape {_SECRET_MAP_SHAPES[depth]}",
                                hint=f"pulumi config set --secret --path '{field_name}.<app>"
                                     f"{'.<env>' if depth == 2 else ''}' ..."))
        return {}
    return value


def _is_text(annotation: Any) -> bool:
    """Whether a setting is text (optional or not): Pulumi's string is then the value, not JSON."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _is_text(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return all(_is_text(arg) for arg in typing.get_args(annotation) if arg is not type(None))
    return annotation is str


# Settings typed as text in the model; everything else arrives as JSON ("deployment: 123" stays "123").
_STRING_SETTINGS = frozenset(f.alias for f in StackSettings.model_fields.values() if _is_text(f.annotation))


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except (TypeError, json.JSONDecodeError):
        return text  # leave it to the model to say what type it wanted


def stack_names(project_dir: Path) -> list[str]:
    """The stacks with a Pulumi.<stack>.yaml in the project."""
    return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in project_dir.glob("Pulumi.*.yaml"))


def from_stack_file(project_dir: Path, stack: str) -> tuple[dict[str, str], set[str], str]:
    """Reads Pulumi.<stack>.yaml into Pulumi's string form; secure values become placeholders."""
    name = f"Pulumi.{stack}.yaml"
    path = project_dir / name
    if not path.exists():
        available = stack_names(project_dir)
        raise ConfigError([Problem(name, message="stack file not found",
                                   hint=f"stacks here: {', '.join(available)}" if available else None)])
    loaded = load_yaml_file(path, name)
    document = loaded.data or {}
    if not isinstance(document, dict):
        raise ConfigError([Problem(name, message="must be a YAML mapping")])
    config = document.get("config") or {}
    if not isinstance(config, dict):
        raise ConfigError([Problem(name, "config", "must be a mapping", line=loaded.line_of(("config",)))])
    raw, secret_keys = raw_config(config)
    return raw, secret_keys, name


def raw_config(config: Mapping[str, Any]) -> tuple[dict[str, str], set[str]]:
    """A stack file's `config:` mapping in Pulumi's string form, and the keys holding `secure:` values (masked).
    Also what `validate` reads a published app policy's config with (load/app_policy.py)."""
    raw: dict[str, str] = {}
    secret_keys: set[str] = set()
    for key, value in config.items():
        full_key = key if ":" in key else f"{PROJECT_NAMESPACE}:{key}"
        masked, had_secret = _mask_secure(value)
        if had_secret:
            secret_keys.add(full_key)
        raw[full_key] = masked if isinstance(masked, str) else json.dumps(masked)
    return raw, secret_keys


def _mask_secure(value: Any) -> tuple[Any, bool]:
    """Replaces `secure:` values (also nested ones, from `config set --path --secret`) with placeholders."""
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return SECRET_PLACEHOLDER, True
        items = {key: _mask_secure(item) for key, item in value.items()}
        return {key: item for key, (item, _) in items.items()}, any(secret for _, secret in items.values())
    if isinstance(value, list):
        items = [_mask_secure(item) for item in value]
        return [item for item, _ in items], any(secret for _, secret in items)
    return value, False


def pinned(stack_file: Path) -> dict[str, dict[str, str]]:
    document = yaml.safe_load(stack_file.read_text()) or {}
    pins = (document.get("config") or {}).get(KEY) or {}
    return {app: dict(envs) for app, envs in pins.items()}
