"""`secrets set`, `unset`, `list` (one secret at a time, no private key needed) and `fold` (a key holder folds the
overlays into the main file). The file layout and merge rule: minnova_idp/load/secret_overlays.py."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from minnova_idp.cli.common import write_atomically
from minnova_idp.model.errors import ConfigError, Problem


def register(add, identity_option) -> None:
    """Adds the commands to `secrets` (`add(name, handler, help, example)` from secrets.register)."""

    def environment_options(command, recipients: bool = False) -> None:
        command.add_argument("--env", required=True, metavar="ENV", help="the environment (or preview)")
        command.add_argument("--app-dir", default=".", help="the app repository, holding .minnova/ (default: .)")
        if recipients:
            command.add_argument("--recipient", action="append", metavar="AGE1...",
                                 help="encrypt for this age recipient (repeatable) instead of the published ones")

    set_ = add("set", run_set, "set one secret without the private key: writes "
               ".minnova/secrets/<env>.d/<NAME>.enc.yaml for the published recipients (NAME=- reads the value "
               "from stdin)", "printf %s \"$TOKEN\" | minnova-idp secrets set API_TOKEN=- --env prod")
    set_.add_argument("assignment", metavar="NAME=VALUE")
    set_.add_argument("--base64", action="store_true",
                      help="VALUE (or stdin) is base64: written to the Secret's `data` as is, for a value that is not "
                           "UTF-8 text (base64 < key.der | minnova-idp secrets set KEY=- --base64 --env prod)")
    environment_options(set_, recipients=True)
    unset = add("unset", run_unset, "remove one secret without the private key: writes the tombstone "
                ".minnova/secrets/<env>.d/<NAME>.unset", "minnova-idp secrets unset OLD_TOKEN --env prod")
    unset.add_argument("name", metavar="NAME")
    environment_options(unset)
    list_ = add("list", run_list, "list the names of an environment's secrets after the overlays (no values, "
                "no key needed)", "minnova-idp secrets list --env prod")
    environment_options(list_)
    list_.add_argument("--json", action="store_true", help="print the result as JSON")
    fold = add("fold", run_fold, "fold an environment's overlays into its main secrets file (needs its key)",
               "minnova-idp secrets fold .minnova/secrets/prod.enc.yaml --identity key.txt")
    fold.add_argument("file", help=".minnova/secrets/<env>.enc.yaml (created if only overlays exist)")
    identity_option(fold)
    fold.add_argument("--app-dir", help="the app repository (default: from the file's path)")


def _target(args: argparse.Namespace):
    from minnova_idp.cli.secrets_files import _SecretsTarget
    from minnova_idp.load.secrets import secrets_file

    target = _SecretsTarget(Path(args.app_dir) / secrets_file(args.env), args)
    if target.config is None:
        raise ConfigError([Problem(str(Path(args.app_dir) / ".minnova/app.yaml"), message="not found",
                                   hint="run in the app repository, or pass --app-dir")])
    return target


def _name_problems(name: str, target, shown: str) -> None:
    from minnova_idp.load.secrets import _ENV_VAR_RE, MAX_NAME_LENGTH, reserved_names

    reserved = reserved_names(target.database, target.redis, target.storage, target.mysql)
    why = ("is not a valid environment variable name (letters, digits and '_', not starting with a digit)"
           if not _ENV_VAR_RE.fullmatch(name) else f"is longer than {MAX_NAME_LENGTH} characters"
           if len(name) > MAX_NAME_LENGTH else reserved.get(name))
    if why:
        raise ConfigError([Problem(shown, message=f"{name[:80]!r} {why}" if not name.isidentifier() else
                                   f"{name} {why}")])


def run_set(args: argparse.Namespace) -> int:
    from minnova_idp.cli.secrets_files import _encrypt_document, _plaintext_problems, _self_check
    from minnova_idp.load.secret_overlays import overlay_file, tombstone_file

    name, separator, value = args.assignment.partition("=")
    target = _target(args)
    _name_problems(name, target, "NAME=VALUE")
    if not separator:
        raise ConfigError([Problem("NAME=VALUE", message=f"no value for {name}",
                                   hint=f"{name}=VALUE, or {name}=- to read it from stdin (keeps it out of the "
                                        "shell history)")])
    shown = "stdin" if value == "-" else "NAME=VALUE"
    value = _text(_stdin_bytes() if value == "-" else value, shown, args.base64)
    if args.base64:
        import base64
        import binascii

        value = "".join(value.split())  # `base64` wraps its output at 76 columns
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ConfigError([Problem(shown, message=f"the value of {name} is not base64 (--base64)")]) from None
        document = {"apiVersion": "v1", "kind": "Secret", "data": {name: value}}
    else:
        document = {"apiVersion": "v1", "kind": "Secret", "stringData": {name: value}}
    _plaintext_problems(document, f"{name}=<value>", False, target.database, target.redis,
                        target.storage, target.mysql)  # empty, sizes, names
    recipients = target.recipients(args.recipient)
    path = target.root / overlay_file(args.env, name)
    _refuse_links(target.root, args.env)
    target.shown = str(path)
    text = _encrypt_document(document, recipients, dotenv=False)
    _self_check(text, target, recipients, dotenv=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, text)
    tombstone = target.root / tombstone_file(args.env, name)
    if tombstone.exists() or tombstone.is_symlink():
        tombstone.unlink()
    print(f"Set {name} in {args.env}: wrote {path}, encrypted for {', '.join(recipients)}. Commit it; the platform "
          f"merges it over {target.path}.")
    return 0


def _stdin_bytes() -> bytes:
    stream = getattr(sys.stdin, "buffer", None)
    return stream.read() if stream is not None else sys.stdin.read().encode("utf-8", "surrogateescape")


def _text(value: str | bytes, shown: str, base64: bool) -> str:
    """The value as text: UTF-8 (a Secret's stringData is a string), one final newline (LF or CRLF, as `echo` or a
    Windows editor leaves it) removed. Not UTF-8 (bytes from stdin, or an argument the shell passed as undecodable
    bytes): a clear error, never a traceback."""
    raw = value if isinstance(value, bytes) else value.encode("utf-8", "surrogateescape")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError([Problem(shown, message=f"the value is not UTF-8 text (byte {exc.start})",
                                   hint="pass it base64-encoded with --base64 (it is then written to `data`)"
                                   if not base64 else "--base64 takes base64 text")]) from None
    if shown == "stdin":
        text = text.removesuffix("\n").removesuffix("\r") if text.endswith("\n") else text
    return text


def _refuse_links(root: Path, environment: str) -> None:
    """Never write (or delete) through a link: `.minnova/secrets/` and `<env>.d/` must be real directories (or not
    exist yet), checked with lstat before anything is written."""
    import os
    import stat

    from minnova_idp.load.secret_overlays import overlay_dir
    from minnova_idp.load.secrets import SECRETS_DIR

    for relative in (SECRETS_DIR.parent, SECRETS_DIR, overlay_dir(environment)):
        try:
            mode = os.lstat(root / relative).st_mode
        except FileNotFoundError:
            return
        if not stat.S_ISDIR(mode):
            raise ConfigError([Problem(str(root / relative), message="must be a directory" + (
                " (it is a symbolic link: nothing is written through it)" if stat.S_ISLNK(mode) else ""))])


def run_unset(args: argparse.Namespace) -> int:
    from minnova_idp.load.secret_overlays import merged_names, overlay_file, tombstone_file, tombstone_text
    from minnova_idp.load.secrets import read_secrets_file

    target = _target(args)
    name = args.name
    _name_problems(name, target, "NAME")
    names = dict(merged_names(target.root, args.env))
    if name not in names:
        raise ConfigError([Problem("NAME", message=f"{name} is not one of {args.env}'s secrets "
                                   f"({', '.join(names) or 'none'})")])
    overlay = target.root / overlay_file(args.env, name)
    _refuse_links(target.root, args.env)
    main = read_secrets_file(target.root, args.env)
    from minnova_idp.load.secret_overlays import encrypted_names

    in_main = main is not None and name in encrypted_names(main, str(target.path))
    if overlay.exists():
        overlay.unlink()
    if in_main:
        path = target.root / tombstone_file(args.env, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, tombstone_text(name, args.env))
        print(f"Unset {name} in {args.env}: wrote {path} (its value stays in {target.path} until a key holder "
              f"folds: minnova-idp secrets fold {target.path}). Commit it.")
    else:
        print(f"Unset {name} in {args.env}: removed {overlay}. Commit it.")
    return 0


def run_list(args: argparse.Namespace) -> int:
    from minnova_idp.load.secret_overlays import merged_names

    target = _target(args)
    found = merged_names(target.root, args.env)
    if args.json:
        print(json.dumps({"ok": True, "environment": args.env,
                          "secrets": [{"name": name, "file": file} for name, file in found]}, indent=2))
        return 0
    width = max([len(name) for name, _ in found] or [0])
    for name, file in found:
        print(f"{name.ljust(width)}  {file}")
    if not found:
        print(f"{args.env} has no secrets.", file=sys.stderr)
    return 0


def run_fold(args: argparse.Namespace) -> int:
    from minnova_idp.cli.secrets_files import (
        _encrypt_document,
        _plaintext_problems,
        _SecretsTarget,
        _self_check,
        overlays_of,
        read_if_present,
        remove_overlays,
    )
    from minnova_idp.load.secret_overlays import merge_decrypted, overlay_summary
    from minnova_idp.sops import document as sops

    path = Path(args.file)
    target = _SecretsTarget(path, args)
    target.check_name()
    overlays = overlays_of(path)
    if not overlays:
        print(f"Nothing to fold: {path} has no overlays.")
        return 0
    content = read_if_present(path)
    try:
        identities = sops.identities_from_environment(Path(args.identity) if args.identity else None)
        document = sops.decrypt(content, identities, str(path)) if content is not None else None
    except sops.SopsError as exc:
        raise exc.config_error() from None
    merged = merge_decrypted(document, overlays, identities)
    _plaintext_problems(merged, f"{path} (merged)", False, target.database, target.redis, target.storage,
                        target.mysql)
    if content is None:
        recipients = target.recipients(None)
        text = _encrypt_document(merged, recipients, dotenv=False)
    else:
        try:
            text = sops.reencrypt(content, merged, identities, str(path))
        except sops.SopsError as exc:
            raise exc.config_error() from None
        recipients = list(sops.recipients(text, str(path)))
    _self_check(text, target, recipients, dotenv=False)
    write_atomically(path, text)
    remove_overlays(path, overlays)
    print(f"Folded {len(overlays)} overlay(s) into {path} ({overlay_summary(overlays)}); commit both. Their values "
          "were written with the public recipient only: check them before you commit (minnova-idp secrets decrypt "
          f"{path}).")
    return 0
