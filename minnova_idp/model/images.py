"""Image references: which registry a repository names (Docker's rules), and the image gate's modes.

Pure: the registry client in minnova_idp/load/image_registry.py speaks HTTP; this only parses names.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

MODES: tuple[str, ...] = ("wait", "keep", "off")


# Docker Hub: references name it docker.io (or index.docker.io), its API answers at registry-1.docker.io, and the
# docker CLI stores its credentials under https://index.docker.io/v1/ (moby/moby registry/config.go:
# DefaultRegistryHost, IndexHostname, IndexServer, getAuthConfigKey).
DOCKER_HUB_HOST = "registry-1.docker.io"
_DOCKER_HUB_ALIASES = {"docker.io", "index.docker.io", "registry-1.docker.io"}


class ImageGateError(Exception):
    """A registry could not say whether an image exists. `reason` names the registry; never a credential."""

    def __init__(self, reason: str, host: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.host = host


@dataclass(frozen=True)
class Registry:
    """Where a repository lives: the host the API answers on, the repository's name there, http or https."""

    host: str  # host[:port], e.g. registry.example.com, 127.0.0.1:5000, registry-1.docker.io
    name: str  # e.g. team/app, library/nginx
    scheme: str  # https; http only for loopback hosts

    def manifest_url(self, tag: str) -> str:
        # A tag matches [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}; a digest is algorithm:hex. Both are path-safe with ':'.
        return f"{self.scheme}://{self.host}/v2/{self.name}/manifests/{_path_safe(tag)}"


def _hostname(host: str) -> str:
    """`host` without its port (`[::1]:5000` -> `::1`)."""
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def is_loopback(host: str) -> bool:
    name = _hostname(host).lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def parse_repository(repository: str) -> Registry:
    """The registry of an image repository (without tag), by Docker's rules (distribution v2.8.2
    reference/normalize.go splitDockerDomain): a first part with '.' or ':', or `localhost`, is a host; anything
    else is on Docker Hub, where a single name means `library/<name>`."""
    if not repository or "://" in repository or "@" in repository or any(c.isspace() for c in repository):
        raise ImageGateError(f"'{repository}' is not an image repository (e.g. registry.example.com/team/app)")
    first, slash, rest = repository.partition("/")
    if slash and (("." in first or ":" in first) or first == "localhost"):
        host, name = first.lower(), rest
    else:
        host, name = "docker.io", repository
    if host in _DOCKER_HUB_ALIASES:
        host = DOCKER_HUB_HOST
        if "/" not in name:
            name = f"library/{name}"
    if not name or name.startswith("/") or name.endswith("/") or "//" in name:
        raise ImageGateError(f"'{repository}' is not an image repository (e.g. registry.example.com/team/app)")
    return Registry(host=host, name=name, scheme="http" if is_loopback(host) else "https")


def normalize_registry_host(key: str) -> str:
    """A dockerconfigjson `auths` key as the host image checks connect to: `https://ghcr.io/v1/` -> `ghcr.io`,
    Docker Hub's names (`https://index.docker.io/v1/`, `docker.io`) -> registry-1.docker.io."""
    host = key.strip()
    for scheme in ("https://", "http://"):
        if host.lower().startswith(scheme):
            host = host[len(scheme):]
    host = host.split("/", 1)[0].lower()
    return DOCKER_HUB_HOST if host in _DOCKER_HUB_ALIASES else host


_PATH_SAFE = re.compile(r"[A-Za-z0-9._:~-]")


def _path_safe(text: str) -> str:
    """`text` percent-encoded for a URL path, ':' kept (urllib.parse.quote(text, safe=':'), without urllib)."""
    return "".join(char if _PATH_SAFE.fullmatch(char) else "".join(f"%{byte:02X}" for byte in char.encode())
                   for char in text)
