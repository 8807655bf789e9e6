"""What several commands share: writing files safely, `--out`, the options that name a stack.

Imports only the standard library and model.errors: every command module imports this at parser-build time.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from minnova_idp.model.errors import ConfigError, Problem


def stack_arguments(parser: argparse.ArgumentParser) -> None:
    """What `status` and `plan` read a stack from: its file, the project, the git cache of app repositories."""
    from minnova_idp.cli.stacks import add_stack_option

    add_stack_option(parser, "stack name (reads Pulumi.<STACK>.yaml; default: $PULUMI_STACK, else the stack "
                             "selected with `pulumi stack select`)")
    parser.add_argument("--project-dir", default=".", help="directory holding Pulumi.yaml (default: .)")
    parser.add_argument("--cache-dir", help="git cache (default: $MINNOVA_IDP_CACHE_DIR or ~/.cache/minnova-idp)")


def emit(text: str, out: str | None) -> None:
    """The whole text on stdout, or into --out (atomically, only once everything succeeded)."""
    if out is None:
        sys.stdout.write(text)
        return
    target = Path(out)
    check_writable("--out", target)
    write_atomically(target, text)
    print(f"Wrote {target}.", file=sys.stderr)


def check_writable(flag: str, target: Path) -> None:
    if target.is_dir():
        raise ConfigError([Problem(flag, message=f"{target} is a directory", hint="give a file name")])
    if not target.parent.is_dir():
        raise ConfigError([Problem(flag, message=f"the directory {target.parent} does not exist")])


def write_atomically(path: Path, text: str, mode: int = 0o644) -> None:
    """A new file beside `path`, renamed over it: a reader sees the old file or the new one, never half of one.
    A symlink at `path` is replaced, never written through."""
    import contextlib
    import tempfile

    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
