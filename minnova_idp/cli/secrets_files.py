"""`secrets encrypt`, `edit` and `rotate`: files the real sops CLI opens, written without the sops CLI."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from minnova_idp.cli.common import check_writable, write_atomically
from minnova_idp.cli.editor import run_editor
from minnova_idp.cli.recipients import check_names, no_recipient, recipient_flags
from minnova_idp.model.errors import ConfigError, Problem


def is_dotenv(name: str) -> bool:
    return name == ".env" or name.endswith(".env")


def read_if_present(path: Path) -> bytes | None:
    """A secrets file's bytes, None when there is none yet (a new file); any other refusal (a link, a FIFO, too big)
    is a ConfigError naming the file."""
    from minnova_idp.load.yamlsafe import FileRefused, read_regular_file

    try:
        return read_regular_file(path, follow_symlinks=False)
    except FileRefused as exc:
        if not exc.missing:
            raise ConfigError([Problem(str(path), message=exc.reason)]) from None
        return None


class _SecretsTarget:
    """A secrets file and what its app repository says about it: the app (if .minnova/app.yaml is there), the
    environment (from `.minnova/secrets/<env>.enc.yaml` or --env), and the published recipients."""

    def __init__(self, path: Path, args: argparse.Namespace):
        from minnova_idp.load.app_files import load_app_config
        from minnova_idp.load.secrets import SECRETS_DIR
        from minnova_idp.model.names import APP_CONFIG

        self.path = path
        self.shown = str(path)
        inside = path.parent.name == SECRETS_DIR.name and path.parent.parent.name == SECRETS_DIR.parent.name
        self.inside = inside
        self.root = path.parent.parent.parent if inside else Path(getattr(args, "app_dir", None) or ".")
        self.config = None
        if (self.root / APP_CONFIG).is_file():
            _, self.config = load_app_config(str(self.root))
        environment = getattr(args, "env", None)
        if environment:
            check_names("app", environment)
            known = [*self.config.environments, "preview"] if self.config is not None else [environment]
            if environment not in known:
                import difflib

                close = difflib.get_close_matches(environment, known, n=1)
                raise ConfigError([Problem("--env", message=f"there is no environment '{environment}' in "
                                           f"{self.root / APP_CONFIG} ({', '.join(known)})",
                                           hint=f"did you mean {close[0]}?" if close else None)])
        elif inside and path.name.endswith(".enc.yaml"):
            environment = path.name[:-len(".enc.yaml")]
        self.environment = environment

    @property
    def database(self) -> bool | None:
        from minnova_idp.load.secrets import platform_database_url

        return platform_database_url(self.config) if self.config is not None else None

    @property
    def mysql(self) -> bool:
        return self.config is not None and self.config.mysql.enabled

    @property
    def redis(self) -> bool:
        return self.config is not None and self.config.redis.enabled

    @property
    def storage(self) -> bool:
        return self.config is not None and self.config.storage.enabled

    def check_name(self) -> None:
        """Inside .minnova/secrets/, only a name the platform reads (before any work is done)."""
        from minnova_idp.load.secrets import PREVIEW, file_name_problem

        if not self.inside:
            return
        environments = list(self.config.environments) if self.config is not None else []
        if self.config is None:  # without app.yaml, any well-formed <env>.enc.yaml
            stem = self.path.name.split(".", 1)[0]
            environments = [stem] if stem and stem != PREVIEW else []
        problem = file_name_problem(self.path.name, environments, self.shown)
        if problem is not None:
            raise ConfigError([problem])

    def published(self):
        """The app repository's .minnova/recipients.yaml (None when there is none); an invalid one is an error."""
        from minnova_idp.load.recipients import read_published
        from minnova_idp.load.secrets import published_problems

        if self.config is None:
            return read_published(self.root)
        problems, published = published_problems(self.root, self.config.name)
        if problems:
            raise ConfigError(problems)
        return published

    def recipients(self, flags: Sequence[str] | None, required: bool = True) -> list[str]:
        """--recipient flags, else the recipients published for the file's environment ([] when not required and
        there are none)."""
        from minnova_idp.load.recipients import RECIPIENTS_FILE

        given = recipient_flags(flags)
        if given:
            return given
        if not self.environment:
            if not required:
                return []
            raise ConfigError([Problem(self.shown, message="cannot tell the environment from the file name (only "
                                       ".minnova/secrets/<env>.enc.yaml says it)",
                                       hint="pass --env ENV, or --recipient age1...")])
        published = self.published()
        where = str(self.root / RECIPIENTS_FILE)
        found = published.for_environment(self.environment) if published is not None else []
        if found or not required:
            return found
        if published is None:
            raise ConfigError([Problem(where, message="not found: no recipients to encrypt for",
                                       hint="commit the file the platform team prints with `minnova-idp secrets "
                                            "publish APP`, or pass --recipient age1...")])
        raise no_recipient(where, published.app, self.environment)


def _parse_plaintext(content: bytes, shown: str, dotenv: bool):
    from minnova_idp.sops import document as sops

    try:
        return sops.plaintext_dotenv(content, shown) if dotenv else sops.plaintext_yaml(content, shown)
    except sops.SopsError as exc:
        raise exc.config_error() from None


def _plaintext_problems(document, shown: str, dotenv: bool, database: bool | None, redis: bool = False,
                        storage: bool = False, mysql: bool = False) -> None:
    """The platform's checks of the values, before they are encrypted (names never values in messages)."""
    from minnova_idp.load.secrets import secret_values

    if dotenv:
        if not isinstance(document, dict):
            raise ConfigError([Problem(shown, message="is not a dotenv file")])
        document = {"stringData": document}
    secret_values(document, shown, database=database, redis=redis, storage=storage, mysql=mysql)


def _encrypt_document(document, recipients: Sequence[str], dotenv: bool) -> str:
    from minnova_idp.sops import document as sops

    try:
        return sops.encrypt_dotenv(document, recipients) if dotenv else sops.encrypt_yaml(document, recipients)
    except sops.SopsError as exc:
        raise exc.config_error() from None


def _self_check(text: str, target: "_SecretsTarget", recipients: Sequence[str], dotenv: bool) -> None:
    """What was encrypted passes the same offline checks as `validate` and `pulumi up` (never written otherwise)."""
    from minnova_idp.load.secrets import check_encrypted

    if dotenv:
        return
    problems = check_encrypted(text.encode("utf-8"), target.shown, database=target.database, redis=target.redis,
                               storage=target.storage, mysql=target.mysql,
                               recipients=recipients,
                               recipients_from="the recipients it was encrypted for")
    if problems:
        raise ConfigError(problems)


def run_encrypt(args: argparse.Namespace) -> int:
    from minnova_idp.load.yamlsafe import MAX_BYTES, FileRefused, read_regular_file
    from minnova_idp.sops import document as sops

    from_stdin = args.file == "-"
    if from_stdin and not args.out:
        raise ConfigError([Problem("--out", message="is required when the plaintext comes from stdin ('-')")])
    target_path = Path(args.out) if args.out else Path(args.file)
    if args.out:
        _check_target("--out", target_path)
        if (target_path.exists() or target_path.is_symlink()) and not args.force:
            raise ConfigError([Problem("--out", message=f"{target_path} exists",
                                       hint="pass --force to replace it (its old values are not kept)")])
    else:
        _check_target(args.file, target_path)
    target = _SecretsTarget(target_path, args)
    target.check_name()
    recipients = target.recipients(args.recipient)
    shown = "<stdin>" if from_stdin else args.file
    if from_stdin:
        content = sys.stdin.buffer.read(MAX_BYTES + 1)
        if len(content) > MAX_BYTES:
            raise ConfigError([Problem(shown, message=f"is larger than the limit of {MAX_BYTES} bytes")])
    else:
        try:
            content = read_regular_file(Path(args.file), follow_symlinks=False)
        except FileRefused as exc:
            raise ConfigError([Problem(shown, message=exc.reason)]) from None
    if sops.is_encrypted(content):
        raise ConfigError([Problem(shown, message="is already encrypted (it has sops metadata)",
                                   hint="change it with: minnova-idp secrets edit FILE; re-encrypt it for new "
                                        "recipients with: minnova-idp secrets rotate FILE")])
    input_dotenv = args.input_type == "dotenv" if args.input_type else (not from_stdin and is_dotenv(args.file))
    output_dotenv = is_dotenv(target_path.name)
    document = _parse_plaintext(content, shown, input_dotenv)
    if input_dotenv and not output_dotenv:
        document = {"apiVersion": "v1", "kind": "Secret", "stringData": document}
    elif output_dotenv and not input_dotenv:
        raise ConfigError([Problem("--out", message=f"{target_path} is a dotenv name; a YAML Secret is written to "
                                   "a .yaml file", hint="e.g. --out .minnova/secrets/prod.enc.yaml")])
    _plaintext_problems(document, shown, output_dotenv, target.database, target.redis, target.storage,
                        target.mysql)
    text = _encrypt_document(document, recipients, output_dotenv)
    _self_check(text, target, recipients, output_dotenv)
    _make_secrets_dir(target_path)
    write_atomically(target_path, text)
    print(f"Encrypted {target_path} for {', '.join(recipients)}. Commit it; `minnova-idp validate .` checks it.")
    return 0


def _secrets_parent(path: Path) -> bool:
    return path.parent.name == "secrets" and path.parent.parent.name == ".minnova"


def overlays_of(path: Path):
    """The overlays of a main secrets file `.minnova/secrets/<env>.enc.yaml` ([] for any other file)."""
    from minnova_idp.load.secret_overlays import read_overlays
    from minnova_idp.load.secrets import SECRETS_SUFFIX

    if not (_secrets_parent(path) and path.name.endswith(SECRETS_SUFFIX)):
        return []
    return read_overlays(path.parent.parent.parent, path.name[:-len(SECRETS_SUFFIX)])


def remove_overlays(path: Path, overlays) -> None:
    """After folding: the overlays folded in are deleted (and their directory, when empty)."""
    for overlay in overlays:
        Path(overlay.shown).unlink(missing_ok=True)
    directory = path.parent / (path.name[:-len(".enc.yaml")] + ".d")
    try:
        directory.rmdir()
    except OSError:
        pass


def _check_target(flag: str, path: Path) -> None:
    """Where an encrypted file goes: `.minnova/secrets/` may be created (when `.minnova/` exists), any other
    directory must exist already. Checked before any work."""
    if not (_secrets_parent(path) and path.parent.parent.is_dir() and not path.parent.exists()):
        check_writable(flag, path)


def _make_secrets_dir(path: Path) -> None:
    if not path.parent.exists() and _secrets_parent(path) and path.parent.parent.is_dir():
        path.parent.mkdir()


_NEW_SECRETS = """\
# New secrets file {shown}: values under stringData, one NAME: value per line (quote numbers and booleans).
# When the editor exits it is encrypted for {recipients}; this plaintext copy is then overwritten and deleted.
apiVersion: v1
kind: Secret
stringData:
  # API_TOKEN: replace-me
"""


def run_edit(args: argparse.Namespace) -> int:
    from minnova_idp.load.secret_overlays import merge_decrypted
    from minnova_idp.sops import document as sops

    path = Path(args.file)
    target = _SecretsTarget(path, args)
    dotenv = is_dotenv(path.name)
    content = read_if_present(path)
    identities, recipients, overlays = [], [], []
    if content is None:  # a new file: nothing to decrypt, so no identity needed
        target.check_name()
        _check_target(str(path), path)
        recipients = target.recipients(args.recipient)
        plaintext = ("# API_TOKEN=replace-me\n" if dotenv else
                     _NEW_SECRETS.format(shown=path, recipients=", ".join(recipients)))
        overlays = overlays_of(path)
        if overlays:  # only overlays so far (`secrets set`): they would win over the new file, so it starts from them
            try:
                identities = sops.identities_from_environment(Path(args.identity) if args.identity else None)
            except sops.SopsError as exc:
                raise ConfigError([Problem(str(path), message=f"does not exist, but {len(overlays)} overlay(s) of it "
                                           f"do ({', '.join(o.name for o in overlays)}): a new file written without "
                                           "their key would lose to them wherever the platform merges",
                                           hint="pass --identity KEYFILE to start from them (saving folds them in), "
                                                "or change one value with: minnova-idp secrets set NAME=...")]) \
                    from exc
            document = merge_decrypted(None, overlays, identities)
            plaintext = sops.dump_plaintext_yaml(document)
            print(f"Creating {path} from its {len(overlays)} overlay(s) ({', '.join(o.name for o in overlays)}); "
                  "saving folds them into it.", file=sys.stderr)
    else:
        if args.recipient:
            raise ConfigError([Problem("--recipient", message="only for a new file; an existing one keeps its "
                                       "recipients", hint=f"re-encrypt it for others with: minnova-idp secrets rotate "
                                                          f"{path} --recipient ...")])
        if not sops.is_encrypted(content):
            raise ConfigError([Problem(str(path), message="is not encrypted (no sops metadata)",
                                       hint=f"encrypt it first: minnova-idp secrets encrypt {path}")])
        try:
            identities = sops.identities_from_environment(Path(args.identity) if args.identity else None)
            document = sops.decrypt(content, identities, str(path))
        except sops.SopsError as exc:
            raise exc.config_error() from None
        overlays = overlays_of(path)
        if overlays:  # shown merged, as the platform reads it; saved, they are folded in (else they would win)
            document = merge_decrypted(document, overlays, identities)
            print(f"Editing {path} merged with {len(overlays)} overlay(s) ({', '.join(o.name for o in overlays)}); "
                  "saving folds them into it.", file=sys.stderr)
        plaintext = sops.dotenv_text(document) if dotenv else sops.dump_plaintext_yaml(document)
    shown = f"{path} (as edited)"
    while True:
        edited = run_editor(plaintext, path.name, str(path))
        if edited == plaintext.encode("utf-8"):
            print(f"No changes: {path} is left as it was" + (f" (and its overlays too; fold them with: minnova-idp "
                  f"secrets fold {path})." if overlays else "."))
            return 0
        try:
            document = _parse_plaintext(edited, shown, dotenv)
            if not dotenv and document is None:
                raise ConfigError([Problem(shown, message="is empty: nothing was written",
                                           hint=f"to remove the secrets, delete {path}")])
            _plaintext_problems(document, shown, dotenv, target.database, target.redis, target.storage,
                                target.mysql)
            break
        except ConfigError as exc:
            # What was typed is never discarded: edit it again, or it is kept encrypted (never in plain text).
            if _reopen(exc):
                plaintext = edited.decode("utf-8", errors="replace")
                continue
            kept_for = recipients or list(sops.recipients(content, str(path)))
            kept = _keep_rejected_edit(edited, path, kept_for)
            raise ConfigError([*exc.problems, Problem(
                str(kept), message=f"what you typed is kept here, encrypted for {', '.join(kept_for)}; "
                                   f"{path} was not changed",
                hint=f"minnova-idp secrets decrypt {kept} --identity KEYFILE; fix it, then edit again")]) from None
    if content is None:
        text = _encrypt_document(document, recipients, dotenv)
    else:
        try:
            text = sops.reencrypt(content, document, identities, str(path))
        except sops.SopsError as exc:
            raise exc.config_error() from None
        recipients = list(sops.recipients(text, str(path)))
    _self_check(text, target, recipients, dotenv)
    _make_secrets_dir(path)
    write_atomically(path, text)
    if overlays:
        remove_overlays(path, overlays)
        print(f"Folded {len(overlays)} overlay(s) into {path}.")
    print(f"Encrypted {path} for {', '.join(recipients)}.")
    return 0


def _reopen(error: ConfigError) -> bool:
    """At a terminal: show the problems and ask whether to edit again (default yes)."""
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        return False
    print(error.render(), file=sys.stderr)
    try:
        answer = input("Edit again? [Y/n] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("", "y", "yes")


def _keep_rejected_edit(edited: bytes, path: Path, recipients: Sequence[str]) -> Path:
    """The rejected text, encrypted whole for the file's own recipients, beside .minnova/secrets/ (not in it: that
    directory holds only <env>.enc.yaml files) as <name>.rejected-edit.enc.yaml."""
    from minnova_idp.sops import document as sops

    parent = path.parent.parent if _secrets_parent(path) else path.parent
    kept = parent / f"{path.name}.rejected-edit.enc.yaml"
    text = sops.encrypt_yaml({"rejectedEdit": edited.decode("utf-8", errors="replace")}, recipients,
                             encrypted_regex=None)
    write_atomically(kept, text, 0o600)
    return kept


def run_rotate(args: argparse.Namespace) -> int:
    """A new data key, for the published recipients (or --recipient, or the file's own): `sops --rotate` and
    `sops updatekeys` in one. The values are not changed (rotate those too if the old key may have leaked)."""
    from minnova_idp.load.yamlsafe import FileRefused, read_regular_file
    from minnova_idp.sops import document as sops

    path = Path(args.file)
    target = _SecretsTarget(path, args)
    try:
        content = read_regular_file(path, follow_symlinks=False)
    except FileRefused as exc:
        raise ConfigError([Problem(str(path), message=exc.reason)]) from None
    # --recipient, else the published ones (--env must have some), else the file's own.
    recipients = target.recipients(args.recipient, required=bool(args.env)) or None
    try:
        identities = sops.identities_from_environment(Path(args.identity) if args.identity else None)
        document = sops.decrypt(content, identities, str(path))
        text = sops.reencrypt(content, document, identities, str(path), recipients=recipients, fresh_key=True)
        written_for = sops.recipients(text, str(path))
    except sops.SopsError as exc:
        raise exc.config_error() from None
    rotated = _rotate_overlays(path, identities, recipients)  # all checked before anything is written
    write_atomically(path, text)
    for overlay_path, overlay_text in rotated:
        write_atomically(overlay_path, overlay_text)
    print(f"Rotated {path}{f' and its {len(rotated)} overlay(s)' if rotated else ''}: a new data key, encrypted for "
          f"{', '.join(written_for)}.")
    return 0


def _rotate_overlays(path: Path, identities, recipients) -> list[tuple[Path, str]]:
    """The one-value overlays of a main file (`secrets set`), re-encrypted like it: after a key rotation an overlay
    left for the old key would be refused by the platform."""
    from minnova_idp.sops import document as sops

    rotated = []
    for overlay in overlays_of(path):
        if overlay.content is None:
            continue
        try:
            document = sops.decrypt(overlay.content, identities, overlay.shown)
            rotated.append((Path(overlay.shown), sops.reencrypt(overlay.content, document, identities, overlay.shown,
                                                                recipients=recipients, fresh_key=True)))
        except sops.SopsError as exc:
            raise exc.config_error() from None
    return rotated
