"""App secrets: SOPS (age) files in app repos, opened by the platform with per-app keys.

Each app and environment has its own age identity (stack secret config) and public
recipient (plain stack config). A file is decrypted only with the identity of the app
and environment it is deployed for, so a file copied from another app's repo is refused.
The Secret's name and namespace are the platform's; the file cannot choose them.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence

from minnova_idp.load.yamlsafe import MAX_BYTES, FileRefused, load_yaml, read_regular_file
from minnova_idp.model import names
from minnova_idp.model.errors import ConfigError, Problem, raise_if_any
from minnova_idp.model.mysql import MYSQL_ENV_VARS
from minnova_idp.model.secrets import SECRET_PLACEHOLDER, SecretValues

if TYPE_CHECKING:  # annotations only: render-preview decrypts without loading the stack models
    from minnova_idp.model.stack import StackConfig

SECRETS_DIR = names.APP_CONFIG.parent / "secrets"
SECRETS_SUFFIX = ".enc.yaml"
PREVIEW = names.PREVIEW_ENVIRONMENT
_ENV_VAR_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SECRET_DOCUMENT_KEYS = {"apiVersion", "kind", "metadata", "type", "stringData", "data", "sops"}
_VALUE_SECTIONS = ("stringData", "data")
# A Secret's keys are at most 253 characters (the API server's IsConfigMapKey); `pulumi up` would fail later.
MAX_NAME_LENGTH = 253
# One environment string: the kernel refuses an execve whose "NAME=value" string, with its NUL, is longer than
# MAX_ARG_STRLEN = PAGE_SIZE * 32 (include/uapi/linux/binfmts.h; fs/exec.c copy_strings -> valid_arg_len), i.e.
# 131072 bytes with 4 KiB pages (x86-64, most arm64): the container would fail to start with E2BIG.
MAX_ARG_STRLEN = 32 * 4096


def platform_database_url(config: Any) -> bool:
    """Whether DATABASE_URL is the platform's: PostgreSQL's, or MySQL's with mysql.databaseUrl (render/mysql.py)."""
    return config.database.enabled or (config.mysql.enabled and config.mysql.database_url)


def secrets_file(environment: str) -> PurePosixPath:
    return SECRETS_DIR / f"{environment}{SECRETS_SUFFIX}"


def reserved_names(database: bool | None, redis: bool = False, storage: bool = False,
                   mysql: bool = False) -> dict[str, str]:
    """Names the platform sets in every container, with why. `database=None` (not known): DATABASE_URL too.
    `redis`: the app has its own Redis (REDIS_URL is then the platform's; otherwise a secret may name an outside
    one); `storage`: the app has its own bucket (the S3 variables are the platform's, names.STORAGE_ENV_VARS);
    `mysql`: the app has its own MariaDB (the MYSQL_* variables are the platform's, model/mysql.py MYSQL_ENV_VARS;
    DATABASE_URL too with mysql.databaseUrl: pass `database` from `platform_database_url`).
    Kubernetes lets a container's `env` win over `envFrom`: a secret of a reserved name would be ignored."""
    reserved = {"PORT": "is set by the platform (to the app's `port:`)"}
    if redis:
        reserved["REDIS_URL"] = "is set by the platform (the app has redis.enabled)"
    if storage:
        reserved.update({name: "is set by the platform (the app has storage.enabled)"
                         for name in names.STORAGE_ENV_VARS})
    if mysql:
        reserved.update({name: "is set by the platform (the app has mysql.enabled)" for name in MYSQL_ENV_VARS})
    if database is not False:
        reserved["DATABASE_URL"] = ("is set by the platform (from the app's database)" if database else
                                    "is set by the platform when the app has a database")
    return reserved


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
                       stack_file: str, identities: Sequence[Any] | None = None, *,
                       database: bool | None = None, redis: bool = False, storage: bool = False,
                       mysql: bool = False) -> SecretValues:
    """Checks a secrets file is meant for this app environment, then opens it with that key alone.

    Everything that can be checked without the key is checked first, with or without one (`check_encrypted`:
    recipients, value names, structure, sizes, unauthenticated values), so the offline plan and
    `minnova-idp validate` refuse what `pulumi up` refuses. `identities` (from --identity in an offline plan)
    replace the stack's identity; only one whose recipient is the app environment's is used. `database`: whether
    the app has a database (DATABASE_URL is then the platform's); None when not known (DATABASE_URL refused).
    """
    from minnova_idp.sops import document as sops

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
    # the rest of what validate checks
    raise_if_any(check_encrypted(content, shown, database=database, redis=redis, storage=storage,
                                 mysql=mysql))
    document = _encrypted_document(content, shown)

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
        return _names_only(document, shown)
    try:
        decrypted = sops.decrypt(content, usable, shown)
    except sops.SopsError as exc:
        raise ConfigError([Problem(shown, message=exc.reason)]) from None
    return secret_values(decrypted, shown, database=database, redis=redis, storage=storage, mysql=mysql)


def check_encrypted(content: bytes, shown: str, *, database: bool | None = None, redis: bool = False,
                    storage: bool = False, mysql: bool = False,
                    recipients: Sequence[str] = (), recipients_from: str = "") -> list[Problem]:
    """Every problem of an encrypted secrets file that needs no key: what `minnova-idp validate` checks in an app
    repository, and what `load_secret_values` checks before it decrypts. `recipients`: the file must be encrypted
    for each of them (they are named in `recipients_from`, e.g. `.minnova/recipients.yaml: recipients.prod`)."""
    from minnova_idp.sops import document as sops

    if len(content) > MAX_BYTES:
        return [Problem(shown, message=f"file is larger than the limit of {MAX_BYTES} bytes")]
    try:
        encrypted_for = sops.recipients(content, shown)
    except sops.SopsError as exc:
        hint = None
        if not sops.is_encrypted(content):
            hint = ("encrypt it: minnova-idp secrets encrypt FILE; if it held real secrets they are now in clear in "
                    "this repository's history: rotate them")
        return [Problem(shown, message=exc.reason, hint=hint)]
    problems = []
    missing = [recipient for recipient in recipients if recipient not in encrypted_for]
    if missing:
        problems.append(Problem(shown, message=f"is encrypted for {', '.join(encrypted_for)}, not for "
                                               f"{', '.join(missing)} ({recipients_from})",
                                hint=f"with its key: minnova-idp secrets rotate {shown} --identity KEYFILE (it "
                                     "re-encrypts for the published recipients); without it, write the file again "
                                     "with minnova-idp secrets edit or encrypt"))
    try:
        _refuse_unauthenticated(content, shown)
    except ConfigError as exc:
        problems += exc.problems
    try:
        problems += document_problems(_encrypted_document(content, shown), shown, database=database, redis=redis,
                                      storage=storage, mysql=mysql,
                                      encrypted=True)
    except ConfigError as exc:
        problems += exc.problems
    return problems


def _encrypted_document(content: bytes, shown: str) -> Any:
    document = load_yaml(content, shown).data
    if not isinstance(document, dict):
        raise ConfigError([Problem(shown, message="must be a Kubernetes Secret (a YAML mapping)")])
    return document


def _refuse_unauthenticated(content: bytes, shown: str) -> None:
    """Every value given to the app must be one the key holder encrypted: sops's MAC does not cover an
    empty value (nor one its rules leave in clear), so anyone who can push to the app repo could add
    `NODE_OPTIONS: ""` to a file that still decrypts and verifies. Checked before decrypting, so an offline
    plan without the key refuses it too. Messages name the key, never a value."""
    from minnova_idp.sops import document as sops

    try:
        found = sops.unauthenticated_values(content, shown, sections=_VALUE_SECTIONS)
    except sops.SopsError as exc:
        raise ConfigError([Problem(shown, message=exc.reason)]) from None
    if found:
        raise ConfigError([Problem(shown, path, why, hint="remove it, or give it a value and encrypt the file "
                                                       "again with sops (values are encrypted under stringData "
                                                       "and data)") for path, why in found])


def document_problems(document: Any, shown: str, *, database: bool | None = None, redis: bool = False,
                      storage: bool = False, mysql: bool = False,
                      encrypted: bool = False) -> list[Problem]:
    """What a Secret document must be for envFrom, readable in clear in an encrypted file (sops encrypts values,
    not key names): a mapping with known keys, kind Secret, stringData and data mappings of environment
    variable names (not the platform's) to single values, each short enough to be one environment string.
    `encrypted`: the values are sops ENC[...] values, their plaintext size is read from the ciphertext."""
    from minnova_idp.sops import document as sops

    if not isinstance(document, dict):
        return [Problem(shown, message="must be a Kubernetes Secret (a YAML mapping)")]
    problems: list[Problem] = []
    for key in document:
        if key not in _SECRET_DOCUMENT_KEYS or (key == "sops" and not encrypted):
            problems.append(Problem(shown, str(key), "unknown key in a Secret", hint="put values under stringData"))
    kind = document.get("kind", "Secret")
    if kind != "Secret" and not (encrypted and sops.plaintext_length(kind) is not None):  # encrypted: checked later
        problems.append(Problem(shown, "kind", "must be Secret"))
    reserved = reserved_names(database, redis, storage, mysql)
    seen: set[str] = set()
    for section in _VALUE_SECTIONS:
        values = document.get(section)
        if values is None:
            continue
        if not isinstance(values, dict):
            problems.append(Problem(shown, section, f"must be a mapping of names to values, not {_kind(values)}",
                                    hint=f"{section}:\n  NAME: value"))
            continue
        for name, value in values.items():
            name = str(name)
            field_name = f"{section}.{name}" if name.isprintable() and len(name) <= 300 else f"{section}[{name[:80]!r}]"
            if not _ENV_VAR_RE.fullmatch(name):
                problems.append(Problem(shown, field_name, "is not a valid environment variable name "
                                        "(the values are given to the app with envFrom)",
                                        hint="letters, digits and '_', not starting with a digit"))
            elif len(name) > MAX_NAME_LENGTH:
                problems.append(Problem(shown, field_name, f"is {len(name)} characters; a Secret's keys are at most "
                                                           f"{MAX_NAME_LENGTH}"))
            elif name in reserved:
                problems.append(Problem(shown, field_name, reserved[name]))
            elif name in seen:
                problems.append(Problem(shown, field_name, "is defined in both stringData and data"))
            elif isinstance(value, (dict, list)):
                problems.append(Problem(shown, field_name, "must be a single value"))
            else:
                size = sops.plaintext_length(value) if encrypted else len(_mac_text(value).encode("utf-8"))
                if size is not None:
                    if section == "data":
                        size = size * 3 // 4  # the app gets the decoded bytes; at most 3/4 of the base64 text
                    string = len(name.encode()) + 1 + size + 1  # NAME=value and its NUL
                    if string > MAX_ARG_STRLEN:
                        problems.append(Problem(
                            shown, field_name, f"is too large for an environment variable: {name}=<value> would be "
                            f"{string} bytes with its NUL and Linux allows {MAX_ARG_STRLEN} (MAX_ARG_STRLEN), so the "
                            "container could not start", hint="keep large values (certificates, key stores) in a "
                            "mounted file or an object store, and pass a reference"))
            seen.add(name)
    return problems


def _kind(value: Any) -> str:
    return {list: "a list", str: "a string", bool: "a boolean", int: "a number", float: "a number"}.get(
        type(value), type(value).__name__)


def _mac_text(value: Any) -> str:
    """A plaintext value as sops encrypts it (its ciphertext has the same length)."""
    if isinstance(value, bool):
        return "True" if value else "False"
    return "" if value is None else str(value)


def secret_values(document: Any, shown: str, *, database: bool | None = None, redis: bool = False,
                  storage: bool = False, mysql: bool = False) -> SecretValues:
    """The values of a decrypted Kubernetes Secret document, checked for use with envFrom."""
    problems = document_problems(document, shown, database=database, redis=redis, storage=storage,
                                 mysql=mysql)
    if problems or not isinstance(document, dict):
        raise ConfigError(problems)
    string_data: dict[str, str] = {}
    data: dict[str, str] = {}
    for section in _VALUE_SECTIONS:
        for name, value in (document.get(section) or {}).items():
            field_name = f"{section}.{name}"
            if value is None or value == "":
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


def _names_only(document: dict, shown: str) -> SecretValues:
    """Without a key (an offline plan) the names are still known: sops encrypts values, not keys."""
    masked = {section: {name: SECRET_PLACEHOLDER for name in (document.get(section) or {})}
              for section in _VALUE_SECTIONS if isinstance(document.get(section), dict)}
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


# ---- the secrets directory of an app, and its published recipients --------------------------------------------

def file_name_problem(name: str, environments: Iterable[str], shown: str, content: bytes | None = None) -> Problem | None:
    """Why `name` is not a secrets file the platform reads for an app with these environments (None when it is):
    only `<env>.enc.yaml` for an environment of the app, or `preview.enc.yaml`, is ever deployed, so anything
    else would be silently ignored and the app deployed without its secrets. Never shows the content."""
    from minnova_idp.sops import document as sops

    known = [*dict.fromkeys([*environments, PREVIEW])]
    if name in {f"{env}{SECRETS_SUFFIX}" for env in known}:
        return None
    stem = name.split(".", 1)[0]
    close = stem if stem in known else next(iter(difflib.get_close_matches(stem, known, n=1, cutoff=0.6)), None)
    hint = f"did you mean {close}{SECRETS_SUFFIX}?" if close else \
        f"secrets files are {', '.join(f'{env}{SECRETS_SUFFIX}' for env in known)}; move anything else out of {SECRETS_DIR}/"
    if name.endswith(SECRETS_SUFFIX) and stem not in known:
        message = (f"there is no environment '{stem}' in the app's app.yaml (environments: "
                   f"{', '.join(e for e in known if e != PREVIEW)}; and {PREVIEW}), so this file would never be deployed")
        if not close:
            hint = "add the environment to app.yaml, or delete the file"
    else:
        message = f"is not read by the platform: it reads only <env>{SECRETS_SUFFIX} files, so this one would be ignored"
    if content and not sops.is_encrypted(content):
        message += "; and it is NOT encrypted"
        hint += ("; if it holds real secrets they are in clear in this repository (and its history): delete it, "
                 "rotate them, and encrypt with minnova-idp secrets encrypt")
    return Problem(shown, message=message, hint=hint)


_MAX_LISTED = 200


def secrets_directory_problems(app_dir: Path, environments: Iterable[str],
                               shown: Callable[[PurePosixPath], str] | None = None) -> list[Problem]:
    """Misnamed or unexpected entries of `<app_dir>/.minnova/secrets/` (the directory-level check; the files
    themselves are checked by `check_encrypted` / `load_secret_values`). Nothing is followed or executed."""
    show = shown or (lambda relative: str(app_dir / relative))
    directory = app_dir / SECRETS_DIR
    try:
        mode = os.lstat(directory).st_mode
    except FileNotFoundError:
        return []
    except OSError as exc:
        return [Problem(show(SECRETS_DIR), message=f"cannot be read: {exc.strerror}")]
    if stat.S_ISLNK(mode):
        return [Problem(show(SECRETS_DIR), message="is a symbolic link; it must be a directory in the repository")]
    if not stat.S_ISDIR(mode):
        return [Problem(show(SECRETS_DIR), message="is not a directory",
                        hint=f"secrets files live in {SECRETS_DIR}/<env>{SECRETS_SUFFIX}")]
    environments = list(environments)
    problems: list[Problem] = []
    with os.scandir(directory) as entries:
        listed = sorted(entries, key=lambda entry: entry.name)
    for entry in listed[:_MAX_LISTED]:
        name = entry.name
        relative = SECRETS_DIR / name
        where = show(relative) if name.isprintable() else f"{show(SECRETS_DIR)}/{name!r}"
        if entry.is_symlink():
            if file_name_problem(name, environments, where) is not None:  # a well-named link: read_secrets_file
                problems.append(Problem(where, message="is a symbolic link; secrets files must be regular files"))
        elif entry.is_dir(follow_symlinks=False) and name.endswith(".d") and \
                file_name_problem(name[:-2] + SECRETS_SUFFIX, environments, where) is None:
            continue  # an environment's overlays (secret_overlays.py), checked where they are read
        elif entry.is_dir(follow_symlinks=False):
            problems.append(Problem(where, message=f"is a directory; {SECRETS_DIR}/ holds only <env>{SECRETS_SUFFIX} "
                                                   "files and <env>.d/ overlays", hint=f"move it out of {SECRETS_DIR}/"))
        elif not entry.is_file(follow_symlinks=False):
            problems.append(Problem(where, message="is not a regular file"))
        else:
            problem = file_name_problem(name, environments, where, _head(Path(entry.path)))
            if problem is not None:
                problems.append(problem)
    if len(listed) > _MAX_LISTED:
        problems.append(Problem(show(SECRETS_DIR), message=f"holds {len(listed)} entries; only the first "
                                                           f"{_MAX_LISTED} were checked"))
    return problems


def _head(path: Path) -> bytes | None:
    try:
        return read_regular_file(path, MAX_BYTES, follow_symlinks=False, truncate=True)
    except FileRefused:
        return None


def published_problems(app_dir: Path, app_name: str, shown: Callable[[PurePosixPath], str] | None = None):
    """(problems, PublishedRecipients or None) of the app repository's `.minnova/recipients.yaml`."""
    from minnova_idp.load.recipients import RECIPIENTS_FILE, read_published

    show = shown or (lambda relative: str(app_dir / relative))
    where = show(RECIPIENTS_FILE)
    try:
        published = read_published(app_dir, where)
    except ConfigError as exc:
        return exc.problems, None
    if published is not None and published.app != app_name:
        return [Problem(where, "app", f"'{published.app}' is not this app ('{app_name}')",
                        hint=f"the platform team prints this app's file with: minnova-idp secrets publish "
                             f"{app_name}")], None
    return [], published


def check_app_repo_secrets(app_yaml: Path, config: Any) -> None:
    """`minnova-idp validate` of an app repository: everything about its secrets that needs no key, as `pulumi
    up` and the offline plan check it (`load_secret_values`), plus the directory: misnamed or unknown-environment
    files, and `.minnova/recipients.yaml`. Each file must be encrypted for the recipients published there for its
    environment. Raises ConfigError with every problem."""
    from minnova_idp.load.recipients import RECIPIENTS_FILE

    if app_yaml.parent.name != SECRETS_DIR.parent.name:
        return  # an app.yaml outside .minnova/: there is no secrets directory beside it
    root = app_yaml.parent.parent
    environments = list(config.environments)
    problems = secrets_directory_problems(root, environments)
    found, published = published_problems(root, config.name)
    problems += found
    for environment in [*environments, PREVIEW]:
        shown = str(root / secrets_file(environment))
        try:
            content = read_secrets_file(root, environment)
        except ConfigError as exc:
            problems += exc.problems
            continue
        if content is None:
            continue
        wanted = published.for_environment(environment) if published else []
        problems += check_encrypted(content, shown, database=platform_database_url(config),
                                    redis=config.redis.enabled, storage=config.storage.enabled,
                                    mysql=config.mysql.enabled,
                                    recipients=wanted,
                                    recipients_from=f"published in {root / RECIPIENTS_FILE}: recipients.{environment}")
    raise_if_any(problems)


def loaded_app_secrets_problems(apps: Iterable[Any], stack: StackConfig) -> list[Problem]:
    """The deploy path's directory-level checks of every loaded app (`inputs.load_inputs`): misnamed and
    unknown-environment secrets files, and a `.minnova/recipients.yaml` that is invalid, names another app, or
    no longer lists the key this stack decrypts an environment with (developers would encrypt for a stale key).
    The files themselves are checked by `load_secret_values`."""
    from minnova_idp.load.recipients import RECIPIENTS_FILE

    problems: list[Problem] = []
    for app in apps:
        if app.directory is None:
            continue
        problems += secrets_directory_problems(app.directory, app.config.environments, app.shown)
        found, published = published_problems(app.directory, app.name, app.shown)
        problems += found
        if published is None:
            continue
        for environment in sorted(published.recipients):
            key = app_key(stack, app.name, environment)
            if key is not None and key.recipient not in published.for_environment(environment):
                problems.append(Problem(
                    app.shown(RECIPIENTS_FILE), f"recipients.{environment}",
                    f"does not list {key.recipient}, the key {stack.file} decrypts {app.name}/{environment} with",
                    hint=f"the platform team runs: minnova-idp secrets publish {app.name}, and the app repository "
                         "commits it"))
    return problems


def sops_config_text(app: str, found: Mapping[str, Sequence[str]], source: str) -> str:
    """A `.sops.yaml` whose creation rules match exactly the files the platform reads: `<env>.enc.yaml` in
    `.minnova/secrets/` (at any depth, for monorepos). sops refuses to create any other name (`prod.enc.yml`,
    `prd.enc.yaml`: "no matching creation rules found"), instead of encrypting a file that would be ignored."""
    import yaml

    directory = re.escape(str(SECRETS_DIR))
    rules = [{"path_regex": rf"(^|/){directory}/{re.escape(environment)}{re.escape(SECRETS_SUFFIX)}$",
              "encrypted_regex": "^(data|stringData)$", "age": ",".join(recipients)}
             for environment, recipients in sorted(found.items()) if recipients]
    return (f"# .sops.yaml for {app}, from `minnova-idp secrets sops-config {app}` (recipients: {source}).\n"
            f"# Only {SECRETS_DIR}/<env>{SECRETS_SUFFIX} files match; encrypt with: minnova-idp secrets encrypt FILE\n"
            f"# (or sops --encrypt --in-place {SECRETS_DIR}/<env>{SECRETS_SUFFIX}).\n"
            + yaml.safe_dump({"creation_rules": rules}, sort_keys=False))
