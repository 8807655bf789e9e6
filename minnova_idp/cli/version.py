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


def installed_commit() -> str | None:
    """The commit pip installed this package from, when it came from a git URL (`pip install "minnova-idp @
    git+https://…"`, pipx alike): pip records it in the distribution's `direct_url.json` as `vcs_info.commit_id`
    (PEP 610, packaging.python.org "Recording the Direct URL Origin of installed distributions"). None otherwise."""
    import json
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        text = distribution("minnova-idp").read_text("direct_url.json")
        commit = json.loads(text)["vcs_info"]["commit_id"] if text else None
    except (PackageNotFoundError, ValueError, KeyError, TypeError):
        return None
    return commit[:12] if isinstance(commit, str) and commit else None


def version_text() -> str:
    commit = checkout_commit() or installed_commit()
    return f"minnova-idp {package_version()}" + (f" (commit {commit})" if commit else "")


def _git(directory: Path, *args: str) -> str | None:
    try:
        result = subprocess.run(["git", "-C", str(directory), *args], capture_output=True, text=True,
                                timeout=GIT_TIMEOUT, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() if result.returncode == 0 else None
