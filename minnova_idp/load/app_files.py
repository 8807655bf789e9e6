"""An app's own files: its .minnova/app.yaml, and its SQL files.

Seed data runs once when a preview's (or a chosen environment's) database is created. The files come from the
commit being deployed (for a preview, the pull request's own files, so a PR can change its seed) and reach
PostgreSQL through a ConfigMap a Job runs with psql as the database owner (`<cluster>-app`), in one transaction, once per database (minnova_idp/render/database.py `render_seed_job`). Not CloudNativePG's initdb
`postInitApplicationSQLRefs`: that runs as a superuser, and a superuser's `COPY ... FROM PROGRAM` runs commands
in the database's pod. Read as untrusted files: regular files only, bounded, UTF-8.

No backslash, anywhere: psql runs every file the platform hands it (seed, mask, restore check) and treats a
backslash outside a quoted literal as a meta-command, and `\\!`, `\\o |cmd`, `\\g |cmd`, `\\copy ... program` and
backquotes in meta-command arguments run programs in the client's container (postgres
REL_17_STABLE src/bin/psql/command.c exec_command_shell_escape, and psqlscan.l's backslash rule). Telling a
quoted backslash from a meta-command needs psql's own lexer state (standard_conforming_strings can change in the
middle of a file), so none is accepted: the rule cannot disagree with psql. Without a backslash no meta-command
exists, and without a meta-command no backquote runs. A literal that needs a backslash is written chr(92).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from minnova_idp.load.yamlsafe import FileRefused, read_regular_file, read_text_file
from minnova_idp.model import names
from minnova_idp.model.app_config import AppConfig
from minnova_idp.model.errors import ConfigError, Problem
from minnova_idp.model.names import APP_CONFIG
from minnova_idp.render.drill import CHECK_FILE, MAX_CHECK_BYTES
from minnova_idp.render.origin import MASK_FILE, MASK_MAX_BYTES

if TYPE_CHECKING:  # an annotation only: render-preview reads an app.yaml without the registry's models
    from minnova_idp.model.loaded import LoadedApp

MAX_FILE_BYTES = 256 * 1024
MAX_REPORTED_LINES = 5
MAX_TOTAL_BYTES = 900 * 1024  # one ConfigMap holds at most 1 MiB


def load_app_config(path_text: str) -> tuple[Path, AppConfig]:
    """An app.yaml, or the .minnova/app.yaml of an app repository given as a directory, validated by its model."""
    from minnova_idp.load.validation import validate_document
    from minnova_idp.load.yamlsafe import load_yaml_file

    path = Path(path_text)
    target = path / APP_CONFIG if path.is_dir() else path
    return target, validate_document(AppConfig, load_yaml_file(target, str(target)))


def meta_command_problems(text: str, shown: str) -> list[Problem]:
    """A Problem per line of app SQL holding a backslash (first MAX_REPORTED_LINES): see the module docstring."""
    lines = [number for number, line in enumerate(text.split("\n"), 1) if "\\" in line]
    return [Problem(shown, line=number, message="holds a backslash: psql meta-commands (\\!, \\o, \\copy, \\i, ...) "
                    "are refused in app SQL, they can run programs",
                    hint="write plain SQL only; for a backslash inside a literal use chr(92)")
            for number in lines[:MAX_REPORTED_LINES]]


def _plain_sql(text: str | None, shown: str) -> str | None:
    if text is not None and (problems := meta_command_problems(text, shown)):
        raise ConfigError(problems)
    return text


def read_seed(app: AppConfig, directory: Path, shown: str) -> tuple[tuple[str, str], ...]:
    """(ConfigMap key, SQL) per seed file, in order. `directory` holds .minnova/; `shown` prefixes messages."""
    return _read_seed(app.database.seed, "database", directory, shown, plain_sql=True)


def read_mysql_seed(app: AppConfig, directory: Path, shown: str) -> tuple[tuple[str, str], ...]:
    """`mysql.seed`'s files, read like `database.seed`'s. Backslashes stay: MySQL's string literals use them, and
    the mariadb client runs the files in sandbox mode (render/mysql_data.py), not psql."""
    return _read_seed(app.mysql.seed, "mysql", directory, shown, plain_sql=False)


def _read_seed(seed, block: str, directory: Path, shown: str, plain_sql: bool) -> tuple[tuple[str, str], ...]:
    if seed is None:
        return ()
    problems, files, total = [], [], 0
    for index, relative in enumerate(seed.files):
        path = directory / APP_CONFIG.parent / relative
        where = f"{shown}{APP_CONFIG.parent}/{relative}"
        field = f"{block}.seed.files[{index}]"
        if any(part.is_symlink() for part in path.parents if part.is_relative_to(directory)):
            problems.append(Problem(where, message="must be a regular file", hint=f"named by {field}"))
            continue
        try:
            content = read_regular_file(path, MAX_FILE_BYTES, follow_symlinks=False, truncate=True)
        except FileRefused as exc:
            problems.append(Problem(where, message="does not exist" if exc.kind == "missing" else
                                    "must be a regular file" if exc.kind in ("symlink", "special") else exc.reason,
                                    hint=f"named by {field} in {APP_CONFIG}"))
            continue
        if len(content) > MAX_FILE_BYTES:
            problems.append(Problem(where, message=f"is larger than {MAX_FILE_BYTES // 1024} KiB, the limit for a "
                                    "seed file", hint="seed a little realistic data; load bulk data another way"))
            continue
        total += len(content)
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError:
            problems.append(Problem(where, message="is not UTF-8 text"))
            continue
        if plain_sql:
            problems += meta_command_problems(text, where)
        files.append((relative.rsplit("/", 1)[-1], text))
    if total > MAX_TOTAL_BYTES:
        problems.append(Problem(f"{shown}{APP_CONFIG}", f"{block}.seed.files", f"the seed files hold {total} bytes; "
                                f"at most {MAX_TOTAL_BYTES} fit in the ConfigMap that carries them"))
    if problems:
        raise ConfigError(problems)
    return tuple(files)


def read_restore_check(app: LoadedApp) -> str | None:
    """The app's `.minnova/restore-check.sql`: UTF-8 text, a regular file, at most MAX_CHECK_BYTES."""
    if app.directory is None or not app.config.database.enabled:
        return None
    relative = names.APP_CONFIG.parent / CHECK_FILE
    shown = app.shown(relative)
    return _plain_sql(read_text_file(app.directory / relative, shown, MAX_CHECK_BYTES, f"{MAX_CHECK_BYTES} bytes",
                                     too_large_hint="a restore check is a few queries that prove the data is there",
                                     empty_hint="remove it to run `select 1`"), shown)


def read_mask(directory: Path, shown_root: str) -> str:
    """`.minnova/seed/mask.sql` of the checkout: required (fail closed), a regular UTF-8 file, bounded."""
    from minnova_idp.load.yamlsafe import read_text_file

    relative = names.APP_CONFIG.parent / MASK_FILE
    shown = f"{shown_root}{relative}"
    path = directory / relative
    if any(part.is_symlink() for part in path.parents if part.is_relative_to(directory)):  # as seed.read_seed
        raise ConfigError([Problem(shown, message="is reached through a symbolic link; the mask must be a regular "
                                   "file of the app's repository")])
    text = read_text_file(path, shown, MASK_MAX_BYTES, f"{MASK_MAX_BYTES // 1024} KiB",
                          empty="is empty: a preview of real data needs masking",
                          empty_hint="write the UPDATEs that replace personal data")
    if text is None:
        raise ConfigError([Problem(shown, message="is required with preview.database.from: previews copy real "
                                   "data and are never started unmasked",
                                   hint="write the UPDATEs that replace personal data (emails, names, tokens), "
                                        "or remove preview.database")])
    return _plain_sql(text, shown)
