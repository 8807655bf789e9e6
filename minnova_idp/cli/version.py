"""`minnova-idp --version`: the package version and, from a git checkout, the exact commit (so an app developer can
compare their CLI with the platform's)."""

from __future__ import annotations

import subprocess
from pathlib import Path

GIT_TIMEOUT = 2.0  # seconds: --version must answer promptly even on a slow or locked repository


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("minnova-idp")
    except PackageNotFoundError:  # run from a checkout without installing
        return "unknown (not installed)"


def checkout_commit(directory: Path | None = None) -> str | None:
    """The commit of the git checkout holding this package (`+dirty` with local changes), or None: not a checkout
    (an installed wheel), git missing, or git too slow. Never raises."""
    directory = directory or Path(__file__).resolve().parent
    try:
        top = _git(directory, "rev-parse", "--show-toplevel")
        if top is None or not (Path(top) / "minnova_idp").is_dir():
            return None  # some other repository that happens to contain a site-packages
        commit = _git(directory, "rev-parse", "--short=12", "HEAD")
        if commit is None:
            return None
        dirty = _git(directory, "status", "--porcelain", "--untracked-files=no", "--", "minnova_idp", "components")
        return f"{commit}+dirty" if dirty else commit
    except Exception:  # noqa: BLE001 - a version string must never fail the command
        return None


def version_text() -> str:
    commit = checkout_commit()
    return f"minnova-idp {package_version()}" + (f" (commit {commit})" if commit else "")


def _git(directory: Path, *args: str) -> str | None:
    try:
        result = subprocess.run(["git", "-C", str(directory), *args], capture_output=True, text=True,
                                timeout=GIT_TIMEOUT, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() if result.returncode == 0 else None
