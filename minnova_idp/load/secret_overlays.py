"""One secret at a time: overlays of an environment's secrets file, written without its private key (issue 24 item 6).

A sops file has one data key; each value is encrypted with it and the MAC over every value is encrypted with it too
(getsops/sops@v3.13.2 sops.go:520-535, Tree.Encrypt). Without the data key (so without the private key) no value can
be added to an existing file, but anyone with the public recipients can write a *new* file: age encryption needs only
the recipient (getsops/sops@v3.13.2 age/keysource.go:163-175, MasterKey.Encrypt). So one value is one new file:

    .minnova/secrets/<env>.enc.yaml              the main file (as before; optional once overlays exist)
    .minnova/secrets/<env>.d/<NAME>.enc.yaml     `secrets set NAME=...`: a sops Secret holding NAME alone, with its
                                                 own data key and MAC, for the same recipients
    .minnova/secrets/<env>.d/<NAME>.unset        `secrets unset NAME`: a tombstone (`unset: NAME`), no value

Each overlay is an ordinary sops file (`sops -d` opens it). The platform merges them wherever secrets are read
(`merged_secret_values`: load/inputs.py for plan and `pulumi up`, preview_plugin.py for previews): the main file's
values, then each overlay in name order replacing (or, a tombstone, removing) its one name in stringData or data.
Every overlay is checked like the main file (recipient, structure, reserved names, sizes, unauthenticated values) and
must hold exactly the value its name says. Conflict rule: a name both set and unset in `<env>.d/` (two branches
merged) is refused, naming both files: which one came last is not knowable from the files (their timestamps are
unauthenticated), so nothing is guessed; delete the one not wanted. Key holders fold overlays into the main file
(`secrets edit`, `secrets fold`). Overlays count towards the fetch limit of `.minnova/` (load/fetch_limits.py:
64 files in all, which `validate` checks): at most MAX_OVERLAYS per environment, and all of them together within it.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Sequence

from minnova_idp.load.secrets import SECRETS_DIR, SECRETS_SUFFIX, check_encrypted, load_secret_values
from minnova_idp.load.yamlsafe import MAX_BYTES, FileRefused, load_yaml, read_regular_file
from minnova_idp.model.errors import ConfigError, Problem, raise_if_any
from minnova_idp.model.secrets import SecretValues

OVERLAY_SUFFIX = ".d"
TOMBSTONE_SUFFIX = ".unset"
# A Secret's values together (decoded `data`, stringData being merged into it) hold at most 1 MiB: kubernetes
# pkg/apis/core/validation/validation.go ValidateSecret (totalSize > corev1.MaxSecretSize, 1 * 1024 * 1024).
# One file cannot reach it (yamlsafe.MAX_BYTES), overlays together can.
MAX_SECRET_BYTES = 1024 * 1024
MAX_OVERLAYS = 24  # per environment; the fetch's 64 files of .minnova/ in all are checked by load/fetch_limits.py
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def overlay_dir(environment: str) -> PurePosixPath:
    return SECRETS_DIR / f"{environment}{OVERLAY_SUFFIX}"


def overlay_file(environment: str, name: str) -> PurePosixPath:
    return overlay_dir(environment) / f"{name}{SECRETS_SUFFIX}"


def tombstone_file(environment: str, name: str) -> PurePosixPath:
    return overlay_dir(environment) / f"{name}{TOMBSTONE_SUFFIX}"


def tombstone_text(name: str, environment: str) -> str:
    return (f"# `minnova-idp secrets unset {name} --env {environment}`: {name} is removed from {environment}'s "
            f"secrets.\nunset: {name}\n")


@dataclass(frozen=True)
class Overlay:
    name: str  # the variable it sets or unsets
    shown: str
    content: bytes | None  # None: a tombstone


def read_overlays(directory: Path, environment: str,
                  shown: Callable[[PurePosixPath], str] | None = None) -> list[Overlay]:
    """The overlays of `environment` in the app checkout `directory` (holding .minnova/), in name order. Raises
    ConfigError with every problem: a link, a directory, a misnamed file, a conflict, too many."""
    show = shown or (lambda relative: str(directory / relative))
    relative = overlay_dir(environment)
    where = show(relative)
    try:
        mode = os.lstat(directory / relative).st_mode
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise ConfigError([Problem(where, message=f"cannot be read: {exc.strerror}")]) from None
    if not stat.S_ISDIR(mode):
        raise ConfigError([Problem(where, message="must be a directory of <NAME>.enc.yaml and <NAME>.unset files"
                                   + (" (it is a symbolic link)" if stat.S_ISLNK(mode) else ""))])
    with os.scandir(directory / relative) as scanned:
        entries = sorted(scanned, key=lambda entry: entry.name)
    problems: list[Problem] = []
    if len(entries) > MAX_OVERLAYS:
        raise ConfigError([Problem(where, message=f"holds {len(entries)} entries; at most {MAX_OVERLAYS} overlays "
                                   "per environment", hint="a key holder folds them into the main file: "
                                   f"minnova-idp secrets fold {SECRETS_DIR}/{environment}{SECRETS_SUFFIX}")])
    found: dict[str, Overlay] = {}
    for entry in entries:
        file = f"{where}/{entry.name}" if entry.name.isprintable() else f"{where}/{entry.name!r}"
        name, kind = _parse_name(entry.name)
        if name is None:
            problems.append(Problem(file, message=f"is not read: {relative}/ holds <NAME>{SECRETS_SUFFIX} (from "
                                    f"`secrets set`) and <NAME>{TOMBSTONE_SUFFIX} (from `secrets unset`) files, "
                                    "NAME an environment variable name"))
            continue
        if entry.is_symlink() or not entry.is_file(follow_symlinks=False):
            problems.append(Problem(file, message="must be a regular file (not a link or a directory)"))
            continue
        try:
            content = read_regular_file(Path(entry.path), MAX_BYTES, follow_symlinks=False, truncate=True)
        except FileRefused as exc:
            problems.append(Problem(file, message=exc.reason))
            continue
        if kind == TOMBSTONE_SUFFIX:
            problems += _tombstone_problems(content, file, name)
            overlay = Overlay(name, file, None)
        else:
            overlay = Overlay(name, file, content)
        if name in found:  # <NAME>.enc.yaml sorts before <NAME>.unset: the first is the value, this the tombstone
            problems.append(Problem(file, message=f"{name} is both set ({found[name].shown}) and unset (this file): "
                                    "which came last cannot be known from the files",
                                    hint="delete the one you do not want"))
            continue
        found[name] = overlay
    raise_if_any(problems)
    return [found[name] for name in sorted(found)]


def _parse_name(file_name: str) -> tuple[str | None, str]:
    for suffix in (SECRETS_SUFFIX, TOMBSTONE_SUFFIX):
        if file_name.endswith(suffix):
            name = file_name[:-len(suffix)]
            return (name, suffix) if _NAME_RE.fullmatch(name) else (None, suffix)
    return None, ""


def _tombstone_problems(content: bytes, file: str, name: str) -> list[Problem]:
    try:
        document = load_yaml(content, file).data
    except ConfigError as exc:
        return exc.problems
    if document != {"unset": name}:
        return [Problem(file, message=f"a tombstone holds `unset: {name}` only (what `secrets unset` writes)")]
    return []


def merged_secret_values(content: bytes | None, overlays: Sequence[Overlay], shown: str, app: str, environment: str,
                         key: Any, stack_file: str, identities: Sequence[Any] | None = None, *,
                         database: bool | None = None, redis: bool = False,
                         storage: bool = False, mysql: bool = False) -> SecretValues | None:
    """The main file's values with every overlay applied (None when there is neither). Each file is opened by
    `load_secret_values`, with its every check; every problem of every file is reported."""
    problems: list[Problem] = []

    def opened(data: bytes, where: str) -> SecretValues | None:
        try:
            return load_secret_values(data, where, app, environment, key, stack_file, identities,
                                      database=database, redis=redis, storage=storage, mysql=mysql)
        except ConfigError as exc:
            problems.extend(exc.problems)
            return None

    base = opened(content, shown) if content is not None else None
    layers: list[tuple[Overlay, SecretValues | None]] = []
    for overlay in overlays:
        if overlay.content is None:
            layers.append((overlay, None))
            continue
        values = opened(overlay.content, overlay.shown)
        if values is not None and values.keys != [overlay.name]:
            problems.append(Problem(overlay.shown, message=f"must hold exactly one value, {overlay.name} (its file "
                                    f"name); it holds {', '.join(values.keys) or 'none'}",
                                    hint=f"write it with: minnova-idp secrets set {overlay.name}=... --env "
                                         f"{environment}"))
        layers.append((overlay, values))
    raise_if_any(problems)
    if base is None and not any(values for _, values in layers):
        return None
    string_data = dict(base.string_data) if base else {}
    data = dict(base.data) if base else {}
    decrypted = base.decrypted if base else True
    for overlay, values in layers:
        string_data.pop(overlay.name, None)
        data.pop(overlay.name, None)
        if values is not None:
            string_data.update(values.string_data)
            data.update(values.data)
            decrypted = decrypted and values.decrypted
    source = shown if content is not None else str(PurePosixPath(shown).parent / f"{environment}{OVERLAY_SUFFIX}")
    total = secret_bytes(string_data, data) if decrypted else 0  # placeholders (no key) say nothing of sizes
    if total > MAX_SECRET_BYTES:
        raise ConfigError([Problem(source, message=f"the merged values of {environment} ({len(overlays)} overlay(s)) "
                                   f"add up to {total} bytes; a Kubernetes Secret holds at most {MAX_SECRET_BYTES}",
                                   hint="remove or shorten values (large files belong in the app's storage)")])
    return SecretValues(source=source, string_data=string_data, data=data, decrypted=decrypted)


def secret_bytes(string_data: dict[str, str], data: dict[str, str]) -> int:
    """The bytes Kubernetes counts of a Secret: every value, `data` decoded (keys are not counted)."""
    import base64
    import binascii

    total = sum(len(value.encode()) for value in string_data.values())
    for value in data.values():
        try:
            total += len(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            total += len(value)  # refused elsewhere as not base64; counted as written
    return total


def overlay_problems(root: Path, environment: str, recipients: Sequence[str], recipients_from: str, *,
                     database: bool | None, redis: bool, storage: bool, mysql: bool = False) -> list[Problem]:
    """`validate` in an app repository: every check of the overlays that needs no key (as `check_encrypted` for
    the main file), and that each holds the one name it is called."""
    try:
        overlays = read_overlays(root, environment)
    except ConfigError as exc:
        return exc.problems
    problems: list[Problem] = []
    for overlay in overlays:
        if overlay.content is None:
            continue
        found = check_encrypted(overlay.content, overlay.shown, database=database, redis=redis, storage=storage,
                                mysql=mysql,
                                recipients=recipients, recipients_from=recipients_from)
        problems += found
        if not found:
            names = encrypted_names(overlay.content, overlay.shown)
            if names != [overlay.name]:
                problems.append(Problem(overlay.shown, message=f"must hold exactly one value, {overlay.name} (its "
                                        f"file name); it holds {', '.join(names) or 'none'}"))
    return problems


def encrypted_names(content: bytes, shown: str) -> list[str]:
    """The value names of an encrypted Secret (sops encrypts values, not keys): no key needed."""
    document = load_yaml(content, shown).data
    if not isinstance(document, dict):
        return []
    return sorted({str(name) for section in ("stringData", "data") if isinstance(document.get(section), dict)
                   for name in document[section]})


def merged_names(root: Path, environment: str) -> list[tuple[str, str]]:
    """(name, where it comes from) of an environment's secrets after the overlays: `secrets list`, no key needed."""
    from minnova_idp.load.secrets import read_secrets_file, secrets_file

    found: dict[str, str] = {}
    content = read_secrets_file(root, environment)
    if content is not None:
        for name in encrypted_names(content, str(root / secrets_file(environment))):
            found[name] = str(secrets_file(environment))
    for overlay in read_overlays(root, environment):
        if overlay.content is None:
            found.pop(overlay.name, None)
        else:
            found[overlay.name] = str(overlay_file(environment, overlay.name))
    return sorted(found.items())


def overlay_summary(overlays: Sequence[Overlay]) -> str:
    """Which values come from overlays, for a key holder to review: each was written by someone with only the
    public recipient, so its value is unknown to a reviewer of the pull request (docs/security.md)."""
    set_ = [overlay.name for overlay in overlays if overlay.content is not None]
    unset = [overlay.name for overlay in overlays if overlay.content is None]
    parts = ([f"set {', '.join(set_)}"] if set_ else []) + ([f"unset {', '.join(unset)}"] if unset else [])
    return "; ".join(parts)


def merge_decrypted(document: dict | None, overlays: Sequence[Overlay], identities: Sequence[Any]) -> dict:
    """A key holder's view: the decrypted main document with every overlay applied (decrypted with `identities`,
    MAC checked), as `secrets decrypt`, `edit` and `fold` show and write it."""
    from minnova_idp.sops import document as sops

    merged = dict(document or {"apiVersion": "v1", "kind": "Secret"})
    sections = {section: dict(merged.get(section) or {}) for section in ("stringData", "data")}
    for overlay in overlays:
        for values in sections.values():
            values.pop(overlay.name, None)
        if overlay.content is None:
            continue
        try:
            opened = sops.decrypt(overlay.content, identities, overlay.shown)
        except sops.SopsError as exc:
            raise exc.config_error() from None
        for section in sections:
            if isinstance(opened.get(section), dict) and overlay.name in opened[section]:
                sections[section][overlay.name] = opened[section][overlay.name]
    for section, values in sections.items():
        if values:
            merged[section] = values
        else:
            merged.pop(section, None)
    return merged


def check_app_repo_overlays(app_yaml: Path, config: Any) -> list[Problem]:
    """`validate` of an app repository: the overlays of every environment (and preview), as `check_app_repo_secrets`
    checks the main files: for the recipients published in .minnova/recipients.yaml."""
    from minnova_idp.load.recipients import RECIPIENTS_FILE
    from minnova_idp.load.secrets import PREVIEW, platform_database_url, published_problems

    if app_yaml.parent.name != SECRETS_DIR.parent.name:
        return []
    root = app_yaml.parent.parent
    _, published = published_problems(root, config.name)  # its own problems: check_app_repo_secrets says them
    problems: list[Problem] = []
    for environment in [*config.environments, PREVIEW]:
        wanted = published.for_environment(environment) if published else []
        problems += overlay_problems(root, environment, wanted, f"published in {root / RECIPIENTS_FILE}: "
                                     f"recipients.{environment}", database=platform_database_url(config),
                                     redis=config.redis.enabled, storage=config.storage.enabled,
                                     mysql=config.mysql.enabled)
    return problems
