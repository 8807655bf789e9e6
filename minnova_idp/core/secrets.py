"""App secrets: SOPS (age) files in app repos, opened by the platform with per-app keys.

Each app and environment has its own age identity (stack secret config) and public
recipient (plain stack config). A file is decrypted only with the identity of the app
and environment it is deployed for, so a file copied from another app's repo is refused.
The Secret's name and namespace are the platform's; the file cannot choose them.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Sequence

from . import names
from .errors import ConfigError, Problem
from .stackconfig import SECRET_PLACEHOLDER, StackConfig
from .yamlsafe import MAX_BYTES, FileRefused, load_yaml, read_regular_file

SECRETS_DIR = names.APP_CONFIG.parent / "secrets"
PREVIEW = names.PREVIEW_ENVIRONMENT
_ENV_VAR_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RESERVED = {"PORT", "DATABASE_URL"}
_SECRET_DOCUMENT_KEYS = {"apiVersion", "kind", "metadata", "type", "stringData", "data", "sops"}


def secrets_file(environment: str) -> PurePosixPath:
    return SECRETS_DIR / f"{environment}.enc.yaml"


@dataclass(frozen=True)
class SecretValues:
    """The decrypted values of one secrets file (repr hides them)."""

    source: str
    string_data: dict[str, str] = field(default_factory=dict, repr=False)
    data: dict[str, str] = field(default_factory=dict, repr=False)  # base64, as in a Secret's `data`
    decrypted: bool = True  # False in an offline plan without keys: the values are placeholders

    @property
    def keys(self) -> list[str]:
        return sorted({*self.string_data, *self.data})


@dataclass(frozen=True)
class AppKey:
    """The age key an app environment's secrets must be encrypted for."""

    recipient: str
    identity: str | None = field(default=None, repr=False)  # None or a placeholder when only the public half is known
    shared: bool = False

    @property
    def can_decrypt(self) -> bool:
        return bool(self.identity) and self.identity != SECRET_PLACEHOLDER


def app_key(stack: StackConfig, app: str, environment: str) -> AppKey | None:
    own = stack.settings.secrets_recipients.get(app, {}).get(environment)
    if own:
        return AppKey(own, stack.secrets.secrets_keys.get(app, {}).get(environment))
    if stack.settings.secrets_shared_recipient:
        return AppKey(stack.settings.secrets_shared_recipient, stack.secrets.secrets_shared_key, shared=True)
    return None


def key_problems(stack: StackConfig) -> list[Problem]:
    """Identities without a public recipient are a config mistake: nothing could be checked offline."""
    problems = []
    for app, envs in sorted(stack.secrets.secrets_keys.items()):
        for environment in sorted(envs):
            if environment not in stack.settings.secrets_recipients.get(app, {}):
                problems.append(Problem(stack.file, f"minnova:secretsKeys.{app}.{environment}",
                                        "has no public recipient in minnova:secretsRecipients",
                                        hint=f"minnova-idp secrets new-key {app} {environment} prints both commands"))
    if stack.secrets.secrets_shared_key and not stack.settings.secrets_shared_recipient:
        problems.append(Problem(stack.file, "minnova:secretsSharedKey", "is set without minnova:secretsSharedRecipient"))
    return problems


def load_secret_values(content: bytes, shown: str, app: str, environment: str, key: AppKey | None,
                       stack_file: str, identities: Sequence[Any] | None = None) -> SecretValues:
    """Checks a secrets file is meant for this app environment, then opens it with that key alone.

    `identities` (from --identity in an offline plan) replace the stack's identity; only one whose
    recipient is the app environment's is used.
    """
    from . import sops

    if len(content) > MAX_BYTES:
        raise ConfigError([Problem(shown, message=f"file is larger than the limit of {MAX_BYTES} bytes")])
    if key is None:
        raise ConfigError([Problem(shown, message=f"there is no age key for {app}/{environment}",
                                   hint=f"minnova-idp secrets new-key {app} {environment}")])
    try:
        encrypted_for = sops.recipients(content, shown)
    except sops.SopsError as exc:
        raise ConfigError([Problem(shown, message=exc.reason)]) from None
    if key.recipient not in encrypted_for:
        whose = "the shared key" if key.shared else f"{app}/{environment}'s key"
        raise ConfigError([Problem(
            shown, message=f"is encrypted for {', '.join(encrypted_for) or 'no age recipient'}, not for {whose} "
                           f"{key.recipient}",
            hint=f"sops --encrypt --age {key.recipient} (see: minnova-idp secrets recipients {app} {environment})")])
    _refuse_unauthenticated(content, shown)

    if identities is not None:
        usable = [identity for identity in identities if identity.recipient == key.recipient]
    elif key.can_decrypt:
        where = f"{stack_file}: minnova:{'secretsSharedKey' if key.shared else f'secretsKeys.{app}.{environment}'}"
        try:
            usable = sops.parse_identities(key.identity, where)
        except sops.SopsError as exc:
            raise ConfigError([Problem(where, message=exc.reason)]) from None
        if [identity.recipient for identity in usable] != [key.recipient]:
            raise ConfigError([Problem(where, message=f"is not the identity of recipient {key.recipient}",
                                       hint="the secret key and the public recipient must be one key pair")])
    else:
        usable = []
    if not usable:
        return _names_only(content, shown)
    try:
        document = sops.decrypt(content, usable, shown)
    except sops.SopsError as exc:
        raise ConfigError([Problem(shown, message=exc.reason)]) from None
    return secret_values(document, shown)


def _refuse_unauthenticated(content: bytes, shown: str) -> None:
    """Every value given to the app must be one the key holder encrypted: sops's MAC does not cover an
    empty value (nor one its rules leave in clear), so anyone who can push to the app repo could add
    `NODE_OPTIONS: ""` to a file that still decrypts and verifies. Checked before decrypting, so an offline
    plan without the key refuses it too. Messages name the key, never a value."""
    from . import sops

    try:
        found = sops.unauthenticated_values(content, shown, sections=_VALUE_SECTIONS)
    except sops.SopsError as exc:
        raise ConfigError([Problem(shown, message=exc.reason)]) from None
    if found:
        raise ConfigError([Problem(shown, path, why, hint="remove it, or give it a value and encrypt the file "
                                                       "again with sops (values are encrypted under stringData "
                                                       "and data)") for path, why in found])


_VALUE_SECTIONS = ("stringData", "data")


def secret_values(document: Any, shown: str) -> SecretValues:
    """The values of a decrypted Kubernetes Secret document, checked for use with envFrom."""
    problems: list[Problem] = []
    if not isinstance(document, dict):
        raise ConfigError([Problem(shown, message="must be a Kubernetes Secret (a YAML mapping)")])
    for key in document:
        if key not in _SECRET_DOCUMENT_KEYS:
            problems.append(Problem(shown, key, "unknown key in a Secret", hint="put values under stringData"))
    if document.get("kind", "Secret") != "Secret":
        problems.append(Problem(shown, "kind", "must be Secret"))
    string_data: dict[str, str] = {}
    data: dict[str, str] = {}
    for section in ("stringData", "data"):
        values = document.get(section) or {}
        if not isinstance(values, dict):
            problems.append(Problem(shown, section, "must be a mapping of names to values"))
            continue
        for name, value in values.items():
            field_name = f"{section}.{name}"
            if not _ENV_VAR_RE.match(name):
                problems.append(Problem(shown, field_name, "is not a valid environment variable name "
                                        "(the values are given to the app with envFrom)"))
            elif name in _RESERVED:
                problems.append(Problem(shown, field_name, "is set by the platform"))
            elif name in string_data or name in data:
                problems.append(Problem(shown, field_name, "is defined in both stringData and data"))
            elif isinstance(value, (dict, list)) or value is None:
                problems.append(Problem(shown, field_name, "must be a single value"))
            elif value == "":
                problems.append(Problem(shown, field_name, "is empty; sops neither encrypts nor authenticates empty "
                                        "values, so anyone could have added it", hint="remove it or give it a value"))
            elif section == "data":
                if not _is_base64(value):
                    problems.append(Problem(shown, field_name, "is not base64 (use stringData for plain values)"))
                else:
                    data[name] = value
            else:
                string_data[name] = _as_text(value)
    if problems:
        raise ConfigError(problems)
    return SecretValues(source=shown, string_data=string_data, data=data)


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _is_base64(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        base64.b64decode(value, validate=True)
        return True
    except (binascii.Error, ValueError):
        return False


def _names_only(content: bytes, shown: str) -> SecretValues:
    """Without a key (an offline plan) the names are still known: sops encrypts values, not keys."""
    document = load_yaml(content, shown).data
    if not isinstance(document, dict):
        raise ConfigError([Problem(shown, message="must be a Kubernetes Secret (a YAML mapping)")])
    masked = {section: {name: SECRET_PLACEHOLDER for name in (document.get(section) or {})}
              for section in ("stringData", "data") if isinstance(document.get(section), dict)}
    return SecretValues(source=shown, string_data={**masked.get("stringData", {}), **masked.get("data", {})},
                        decrypted=False)


def read_secrets_file(directory: Path, environment: str) -> bytes | None:
    """The file's bytes, None when there is none; a symlink, FIFO, device or directory is refused (never
    opened or followed), and at most MAX_BYTES + 1 bytes are read (load_secret_values refuses more)."""
    path = directory / secrets_file(environment)
    try:
        return read_regular_file(path, MAX_BYTES, follow_symlinks=False, truncate=True)
    except FileRefused as exc:
        if exc.missing:
            return None
        raise ConfigError([Problem(str(path), message=exc.reason)]) from None
