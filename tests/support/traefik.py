"""Traefik's source at the tag the redirect of a host alias was read in (minnova_idp/render/host_aliases.py): a bare
git mirror brought by the search tool's fetch, or any clone (MINNOVA_TRAEFIK_GIT). Absent: callers skip, or leave
Traefik's objects unchecked and say so."""

from __future__ import annotations

import functools
import os
import pathlib
import shutil
import subprocess
import tempfile

TRAEFIK_TAG = "v3.7.9"
TRAEFIK_GIT = pathlib.Path(os.environ.get("MINNOVA_TRAEFIK_GIT", "/work/.mirror/traefik+traefik/repo"))
MIDDLEWARE_CRD = "docs/content/reference/dynamic-configuration/traefik.io_middlewares.yaml"
MIDDLEWARE_GVK = ("traefik.io", "v1alpha1", "Middleware")


def traefik_source_missing() -> str | None:
    """Why Traefik's source cannot be read here, or None."""
    if not (TRAEFIK_GIT / "HEAD").exists() or shutil.which("git") is None:
        return f"traefik's git mirror not found at {TRAEFIK_GIT} (set MINNOVA_TRAEFIK_GIT to a clone)"
    return None


def traefik_file(path: str) -> str:
    """A file of Traefik's source at TRAEFIK_TAG (the caller checked traefik_source_missing())."""
    return subprocess.run(["git", "-C", str(TRAEFIK_GIT), "show", f"{TRAEFIK_TAG}:{path}"], check=True,
                          capture_output=True, text=True).stdout


@functools.lru_cache(maxsize=None)
def middleware_crd() -> pathlib.Path | None:
    """The Middleware CRD of TRAEFIK_TAG in a directory of its own, or None without Traefik's source."""
    if traefik_source_missing():
        return None
    directory = pathlib.Path(tempfile.mkdtemp(prefix="traefik-crd-"))
    crd = directory / "traefik.io_middlewares.yaml"
    crd.write_text(traefik_file(MIDDLEWARE_CRD))
    return crd
