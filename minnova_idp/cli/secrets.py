"""`minnova-idp secrets`: age keys and SOPS files of app secrets, without the sops CLI.

Whom to encrypt for (`recipients`, `sops-config`, `publish`, `new-key`) and reading files (`check`, `decrypt`)
live here; writing them (`encrypt`, `edit`, `rotate`) in secrets_files.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from minnova_idp.cli.common import check_writable, emit
from minnova_idp.cli.recipients import (
    check_names,
    environment_recipient_flags,
    no_recipient,
    recipient_source,
    recipients_by_environment,
    stack_configs,
)
from minnova_idp.cli.secrets_files import is_dotenv, run_edit, run_encrypt, run_rotate
from minnova_idp.cli.stacks import check_known
from minnova_idp.model.errors import ConfigError, Problem


def register(commands) -> None:
    secrets = commands.add_parser(
        "secrets", help="age keys and SOPS files of app secrets",
        description="App secrets live in the app repo as SOPS (age) encrypted Kubernetes Secrets, "
                    ".minnova/secrets/<env>.enc.yaml, one age key per app and environment. The public recipients "
                    "are published to the app repo as .minnova/recipients.yaml; no sops CLI is needed.",
        epilog="examples:\n"
               "  minnova-idp secrets publish oracle > recipients.yaml      # platform team, infra repo\n"
               "  minnova-idp secrets edit .minnova/secrets/prod.enc.yaml   # app repo: create (or edit, with the key)\n"
               "  minnova-idp secrets encrypt .minnova/secrets/prod.enc.yaml  # app repo: encrypt a plaintext file\n"
               "  minnova-idp secrets recipients oracle prod                # what to encrypt for\n"
               "  minnova-idp secrets sops-config oracle --out .sops.yaml   # for the sops CLI, if you use it\n"
               "  minnova-idp secrets new-key oracle prod --stack prod      # platform team\n"
               "  minnova-idp secrets check .minnova/secrets/prod.enc.yaml --identity key.txt",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = secrets.add_subparsers(dest="secrets_command", metavar="COMMAND", required=True)

    def add(name: str, handler, help_text: str, example: str):
        command = sub.add_parser(name, help=help_text, description=help_text[0].upper() + help_text[1:] + ".",
                                 epilog=f"example:\n  {example}", formatter_class=argparse.RawDescriptionHelpFormatter)
        command.set_defaults(handler=handler)
        return command

    def source_options(command) -> None:
        command.add_argument("-s", "--stack", help="only this stack's config (default: the app repository's "
                                             ".minnova/recipients.yaml, else every Pulumi.<stack>.yaml)")
        command.add_argument("--project-dir", default=".", help="the infra repository (default: .)")
        command.add_argument("--app-dir", default=".", help="the app repository, holding .minnova/ (default: .)")

    def identity_option(command) -> None:
        command.add_argument("--identity", metavar="KEYFILE",
                             help="age identity file (default: $SOPS_AGE_KEY_FILE, then $SOPS_AGE_KEY)")

    def target_options(command, recipient_help: str) -> None:
        command.add_argument("--recipient", action="append", metavar="AGE1...", help=recipient_help)
        command.add_argument("--env", metavar="ENV", help="the environment whose published recipients to use "
                                                          "(default: from .minnova/secrets/<ENV>.enc.yaml)")
        command.add_argument("--app-dir", help="the app repository, for a file outside its .minnova/secrets/ "
                                               "(default: .)")

    recipients = add("recipients", run_recipients, "print the age recipient to encrypt an app's secrets for",
                     "minnova-idp secrets recipients oracle prod")
    recipients.add_argument("app")
    recipients.add_argument("environment", metavar="ENV", help="an environment, or preview")
    source_options(recipients)
    sops_config = add("sops-config", run_sops_config, "print a .sops.yaml with creation rules for an app repo",
                      "minnova-idp secrets sops-config oracle --out .sops.yaml")
    sops_config.add_argument("app")
    source_options(sops_config)
    sops_config.add_argument("--recipient", action="append", metavar="ENV=AGE1...",
                             help="an environment's recipient, instead of reading them (repeatable)")
    sops_config.add_argument("--out", metavar="FILE", help="write it here, only if everything succeeded (a shell "
                                                           "redirection truncates the file even when the command fails)")
    publish = add("publish", run_publish, "print an app's .minnova/recipients.yaml (public recipients of "
                  "every environment, from the stack config) for its repository",
                  "minnova-idp secrets publish oracle --stack dev --stack prod --out recipients.yaml")
    publish.add_argument("app")
    publish.add_argument("-s", "--stack", action="append", help="a stack to read (repeatable; default: every "
                                                          "Pulumi.<stack>.yaml)")
    publish.add_argument("--project-dir", default=".", help="the infra repository (default: .)")
    publish.add_argument("--out", metavar="FILE", help="write it here instead of stdout")
    new_key = add("new-key", run_new_key, "generate an age key for an app environment and print the "
                  "pulumi config commands that store it", "minnova-idp secrets new-key oracle prod --stack prod")
    new_key.add_argument("app")
    new_key.add_argument("environment", metavar="ENV", help="an environment, or preview")
    new_key.add_argument("-s", "--stack", help="the stack the commands set the key in (must have a "
                                               "Pulumi.<STACK>.yaml in --project-dir)")
    new_key.add_argument("--project-dir", default=".", help="the infra repository (default: .)")
    encrypt = add("encrypt", run_encrypt, "encrypt a plaintext Kubernetes Secret (YAML) or dotenv file, in "
                  "place or to --out, for the recipients published in .minnova/recipients.yaml (or --recipient)",
                  "minnova-idp secrets encrypt .minnova/secrets/prod.enc.yaml")
    encrypt.add_argument("file", help="the plaintext file, or - for stdin (then --out is required)")
    encrypt.add_argument("--out", metavar="FILE", help="write the encrypted file here (a .env name writes a sops "
                                                       "dotenv file; anything else a YAML Secret)")
    encrypt.add_argument("--force", action="store_true", help="replace an existing --out file")
    encrypt.add_argument("--input-type", choices=("yaml", "dotenv"),
                         help="the plaintext's format (default: dotenv for *.env, else YAML)")
    target_options(encrypt, "encrypt for this age recipient (repeatable) instead of the published ones")
    edit = add("edit", run_edit, "open a secrets file decrypted in $EDITOR and encrypt it again (a new file "
               "is created for the published recipients, without a key); no plaintext is left behind",
               "minnova-idp secrets edit .minnova/secrets/prod.enc.yaml --identity key.txt")
    edit.add_argument("file")
    identity_option(edit)
    target_options(edit, "a new file only: encrypt for this age recipient (repeatable)")
    rotate = add("rotate", run_rotate, "re-encrypt a secrets file with a new data key for the published "
                 "recipients (or --recipient): after a key rotation, or to drop a recipient",
                 "minnova-idp secrets rotate .minnova/secrets/prod.enc.yaml --identity old-key.txt")
    rotate.add_argument("file")
    identity_option(rotate)
    target_options(rotate, "encrypt for this age recipient (repeatable) instead of the published ones")
    for name, handler, help_text, example in (
            ("check", run_check, "check a SOPS file decrypts and its MAC holds; prints key names only",
             "minnova-idp secrets check .minnova/secrets/prod.enc.yaml --identity key.txt"),
            ("decrypt", run_decrypt, "print a SOPS file decrypted, like sops -d (for debugging)",
             "SOPS_AGE_KEY_FILE=key.txt minnova-idp secrets decrypt .minnova/secrets/prod.enc.yaml")):
        command = add(name, handler, help_text, example)
        command.add_argument("file")
        identity_option(command)
    from minnova_idp.cli import secrets_one

    secrets_one.register(add, identity_option)


def _known_stacks(args: argparse.Namespace) -> None:
    """Every --stack given names a stack file: a typo must not silently read (or print commands for) nothing."""
    given = args.stack if isinstance(args.stack, list) else [args.stack] if args.stack else []
    for stack in given:
        check_known(Path(args.project_dir), stack)


def run_recipients(args: argparse.Namespace) -> int:
    _known_stacks(args)
    check_names(args.app, args.environment)
    source, found = recipient_source(args, args.app)
    if not found.get(args.environment):
        raise no_recipient(source, args.app, args.environment)
    print(",".join(found[args.environment]))  # the form `sops --encrypt --age` takes
    return 0


def run_sops_config(args: argparse.Namespace) -> int:
    from minnova_idp.load.secrets import sops_config_text

    _known_stacks(args)
    check_names(args.app)
    if args.recipient:
        source, found = "--recipient", environment_recipient_flags(args.recipient)
    else:
        source, found = recipient_source(args, args.app)
    if not any(found.values()):
        raise ConfigError([Problem(source if source != "the stack config" else args.app,
                                   message=f"has no age recipients for {args.app}",
                                   hint=f"the platform team runs: minnova-idp secrets new-key {args.app} <env>")])
    if args.out:
        check_writable("--out", Path(args.out))
    emit(sops_config_text(args.app, found, source), args.out)
    return 0


def run_publish(args: argparse.Namespace) -> int:
    from minnova_idp.load.recipients import RECIPIENTS_FILE, published_text

    _known_stacks(args)
    check_names(args.app)
    if args.out:
        check_writable("--out", Path(args.out))
    configs = stack_configs(Path(args.project_dir), args.stack)
    found = recipients_by_environment(configs, args.app)
    if not found:
        raise ConfigError([Problem(args.app, message="has no age recipients in the stack config",
                                   hint=f"minnova-idp secrets new-key {args.app} <env> --stack <stack>")])
    emit(published_text(args.app, found, [name for name, _ in configs]), args.out)
    if args.out is None:
        print(f"# commit this as {RECIPIENTS_FILE} in {args.app}'s repository", file=sys.stderr)
    return 0


def run_new_key(args: argparse.Namespace) -> int:
    from minnova_idp.sops import document as sops

    _known_stacks(args)
    check_names(args.app, args.environment)
    identity = sops.generate_identity()
    stack = f" --stack {args.stack}" if args.stack else ""
    print(f"# A new age key for {args.app}/{args.environment}. The secret half is shown once: store it now.\n"
          f"pulumi config set{stack} --secret --path 'minnova:secretsKeys.{args.app}.{args.environment}' "
          f"{identity.secret}\n"
          f"pulumi config set{stack} --path 'minnova:secretsRecipients.{args.app}.{args.environment}' "
          f"{identity.recipient}\n"
          f"# App developers encrypt for: {identity.recipient} (publish it: minnova-idp secrets publish {args.app})")
    return 0


def _open_sops_file(args: argparse.Namespace):
    from minnova_idp.load.yamlsafe import FileRefused, read_regular_file
    from minnova_idp.sops import document as sops

    path = Path(args.file)
    try:
        content = read_regular_file(path)
    except FileRefused as exc:
        raise ConfigError([Problem(str(path), message=exc.reason)]) from None
    try:
        identities = sops.identities_from_environment(Path(args.identity) if args.identity else None)
        result = path, sops.recipients(content, str(path)), sops.decrypt(content, identities, str(path))
        # sops decrypts and verifies an empty or clear value (its MAC cannot see it): the platform refuses those,
        # so the debugging commands say so too.
        unprotected = sops.unauthenticated_values(content, str(path), sections=("stringData", "data"))
    except sops.SopsError as exc:
        raise exc.config_error() from None
    if unprotected:
        raise ConfigError([Problem(str(path), key, f"{why}; the platform refuses this file") for key, why in unprotected])
    return result


def _leaf_paths(value, prefix: str = "") -> list[str]:
    if isinstance(value, dict):
        return [path for key, item in value.items() for path in _leaf_paths(item, f"{prefix}.{key}" if prefix else key)]
    if isinstance(value, list):
        return [path for index, item in enumerate(value) for path in _leaf_paths(item, f"{prefix}[{index}]")]
    return [prefix]


def run_check(args: argparse.Namespace) -> int:
    path, recipients, document = _open_sops_file(args)
    keys = [p for p in _leaf_paths(document) if p.split(".")[0] in ("data", "stringData")] or _leaf_paths(document)
    print(f"{path}: decrypts, MAC verified; encrypted for {', '.join(recipients)}")
    for key in keys:
        print(f"  {key}")
    return 0


def run_decrypt(args: argparse.Namespace) -> int:
    import yaml

    from minnova_idp.sops import document as sops

    path = Path(args.file)
    if not path.exists() and not path.is_symlink() and _only_overlays(path):
        document = _with_overlays(path, None, args)  # the platform reads the overlays alone
    else:
        path, _, document = _open_sops_file(args)
        document = _with_overlays(path, document, args)
    if is_dotenv(path.name):  # as sops.decrypt chose the format: written back as sops -d writes a dotenv file
        sys.stdout.write(sops.dotenv_text(document))
    else:
        sys.stdout.write(yaml.safe_dump(document, sort_keys=False))
    return 0


def _with_overlays(path: Path, document, args: argparse.Namespace):
    """A main secrets file as the platform reads it: merged with its one-value overlays (load/secret_overlays.py)."""
    from minnova_idp.cli.secrets_files import overlays_of
    from minnova_idp.load.secret_overlays import merge_decrypted, overlay_summary
    from minnova_idp.sops import document as sops

    overlays = overlays_of(path)
    if not overlays or not (document is None or isinstance(document, dict)):
        return document
    try:
        identities = sops.identities_from_environment(Path(args.identity) if args.identity else None)
    except sops.SopsError as exc:
        raise exc.config_error() from None
    merged = merge_decrypted(document, overlays, identities)
    if document is None:
        print(f"# {path} does not exist: these are only its {len(overlays)} overlay(s), as the platform reads them; "
              f"a key holder creates it with: minnova-idp secrets fold {path}", file=sys.stderr)
    else:
        print(f"# merged with {len(overlays)} overlay(s), as the platform reads it; fold them in: minnova-idp "
              f"secrets fold {path}", file=sys.stderr)
    print(f"# from overlays ({overlay_summary(overlays)}): written with the public recipient only, so no reviewer "
          "has seen these values: check each", file=sys.stderr)
    return merged


def _only_overlays(path: Path) -> bool:
    from minnova_idp.cli.secrets_files import overlays_of

    return bool(overlays_of(path))
