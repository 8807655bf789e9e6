"""What the platform fetches of an app's `.minnova/`: at most MAX_FILES regular files, none over MAX_FILE_BYTES, all
together at most MAX_TOTAL_BYTES. One function per limit, called by the fetch (load/git.py) and by `validate` of an
app repository (cli/validate.py), so `validate` never passes a `.minnova/` the fetch refuses (rv24v).

The fetch counts the blobs git lists under `.minnova/` (regular and executable files; links and submodules are
skipped: `git ls-tree` modes 100644/100755); `validate` counts the regular files of the checkout the same way, so a
file git would not track (an editor's backup) counts there too: stricter, never looser.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from minnova_idp.load.yamlsafe import MAX_BYTES

CONFIG_DIR_NAME = ".minnova"
# `.minnova/` holds config, secrets and SQL: every file the platform reads is bounded by yamlsafe.MAX_BYTES, so
# nothing bigger is ever fetched.
MAX_FILE_BYTES = MAX_BYTES
MAX_FILES = 64
MAX_TOTAL_BYTES = 1024 * 1024


def count_refused(config_dir: str, count: int) -> str | None:
    """Why `count` files under `config_dir` are refused, or None."""
    if count > MAX_FILES:
        return f"{config_dir}/ holds {count} files; the limit is {MAX_FILES} (it is for config, secrets and SQL only)"
    return None


def sizes_refused(config_dir: str, sizes: dict[str, int], shown=lambda name: name) -> str | None:
    """Why files of these sizes ({path relative to config_dir: bytes}) are refused, or None."""
    too_large = sorted(name for name, size in sizes.items() if size > MAX_FILE_BYTES)
    if too_large:
        listed = ", ".join(shown(f"{config_dir}/{name}") for name in too_large[:3])
        more = f" and {len(too_large) - 3} more" if len(too_large) > 3 else ""
        return (f"{listed}{more}: larger than the limit of {MAX_FILE_BYTES} bytes per file, so not fetched "
                f"({CONFIG_DIR_NAME}/ is for config, secrets and SQL only)")
    total = sum(sizes.values())
    if total > MAX_TOTAL_BYTES:
        return (f"the files under {config_dir}/ add up to {total} bytes; the limit is {MAX_TOTAL_BYTES} "
                f"({CONFIG_DIR_NAME}/ is for config, secrets and SQL only)")
    return None


def checkout_refused(config_dir: Path) -> str | None:
    """`validate`: why the platform's fetch would refuse this checkout's `.minnova/`, or None. Files as git tracks
    them: regular files (links, and what is under a linked directory, are not followed)."""
    sizes: dict[str, int] = {}
    for directory, subdirectories, files in os.walk(config_dir):
        subdirectories[:] = [name for name in subdirectories if name != ".git"]
        for name in files:
            path = Path(directory) / name
            mode = os.lstat(path)
            if stat.S_ISREG(mode.st_mode):
                sizes[str(path.relative_to(config_dir))] = mode.st_size
    return count_refused(str(config_dir), len(sizes)) or sizes_refused(str(config_dir), sizes)
