"""`minnova-idp` as users run it: a new process, `python -m minnova_idp.cli`, for every test that needs one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.conftest import PROJECT_DIR


def _as_at_a_terminal() -> None:
    # Ctrl-C interrupts the CLI as it would at a terminal, even when the suite itself was started as a background
    # job of a non-interactive shell, which starts it with SIGINT ignored (and Python keeps an ignored SIGINT).
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def cli(*args: str, cwd: Path = PROJECT_DIR, env: dict | None = None, stdin: str | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess:
    """Exit code, stdout and stderr of `minnova-idp ARGS` in `cwd`. The caller's sops keys, editor and
    MINNOVA_IDP_DEBUG never leak in: only `env` adds to the environment."""
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith(("SOPS_", "MINNOVA_IDP_DEBUG")) and key not in ("EDITOR", "VISUAL")}
    return subprocess.run([sys.executable, "-m", "minnova_idp.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**environment, **(env or {})}, input=stdin,
                          preexec_fn=_as_at_a_terminal)
