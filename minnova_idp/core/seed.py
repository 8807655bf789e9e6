"""Seed data: an app's own SQL files, run once when a preview's (or a chosen environment's) database is created.

They come from the commit being deployed (for a preview, the pull request's own files, so a PR can change its
seed) and reach PostgreSQL through a ConfigMap a Job runs with psql as the database owner (`<cluster>-app`), in
one transaction, once per database (core/database.py `render_seed_job`). Not CloudNativePG's initdb
`postInitApplicationSQLRefs`: that runs as a superuser, and a superuser's `COPY ... FROM PROGRAM` runs commands
in the database's pod. Read as untrusted files: regular files only, bounded, UTF-8.
"""

from __future__ import annotations

from pathlib import Path

from .app_config import AppConfig
from .errors import ConfigError, Problem
from .names import APP_CONFIG
from .yamlsafe import FileRefused, read_regular_file

MAX_FILE_BYTES = 256 * 1024
MAX_TOTAL_BYTES = 900 * 1024  # one ConfigMap holds at most 1 MiB


def read_seed(app: AppConfig, directory: Path, shown: str) -> tuple[tuple[str, str], ...]:
    """(ConfigMap key, SQL) per seed file, in order. `directory` holds .minnova/; `shown` prefixes messages."""
    seed = app.database.seed
    if seed is None:
        return ()
    problems, files, total = [], [], 0
    for index, relative in enumerate(seed.files):
        path = directory / APP_CONFIG.parent / relative
        where = f"{shown}{APP_CONFIG.parent}/{relative}"
        field = f"database.seed.files[{index}]"
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
            files.append((relative.rsplit("/", 1)[-1], content.decode("utf-8")))
        except UnicodeDecodeError:
            problems.append(Problem(where, message="is not UTF-8 text"))
    if total > MAX_TOTAL_BYTES:
        problems.append(Problem(f"{shown}{APP_CONFIG}", "database.seed.files", f"the seed files hold {total} bytes; "
                                f"at most {MAX_TOTAL_BYTES} fit in the ConfigMap that carries them"))
    if problems:
        raise ConfigError(problems)
    return tuple(files)
