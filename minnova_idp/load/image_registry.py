"""Deploy only what CI built: before a new image tag is declared, ask its registry whether the image exists.

The check is the OCI distribution API's `HEAD /v2/<name>/manifests/<tag>` (one request, no body), with the stack's
pull credentials, a short timeout, and every app environment checked at once (a thread pool). Standard library
only (urllib), so the offline plan and `status` stay dependency-free.

Stack setting `minnova:imageGate` (default `keep`) decides what a missing image means. Only *new* tags are checked:
a component whose requested tag is the one it deployed last (`imageTags[<app>-<env>][0]`, newest first) is already
running it and is not asked about again (an image deleted by a registry's retention policy does not stop a run that
changes nothing). For every other component:

- `keep` (the default): an image that exists is deployed. A missing one (404) keeps the tag deployed last, with a
  note for the run's output ("<component>: kept <old> because <repo>:<new> is not in the registry yet"); with nothing
  deployed before (a first deploy) it is a problem and the run stops.
- `wait`: a missing image is a problem ("<repo>:<new> is not built yet; re-run when CI pushed it").
- `off`: no request is made; every requested tag is deployed.
- In `keep` and `wait`, a registry that cannot answer (down, timeout, 5xx, 429, refused credentials) is a problem
  naming the registry: it is never read as "missing", and never lets a tag through unchecked.

A problem is never a silent deploy: the caller raises it like every other load problem, before a single resource is
registered. A note goes to the run's output. The stack's `imageTags` output must record the tags actually deployed
(`tags_to_deploy`), so that a kept tag stays "the last deployed" until CI pushes the new one.

Registry addressing follows Docker's reference rules: the first path part is the registry host when it has a `.`
or a `:` or is `localhost`; otherwise the image is on Docker Hub (API host registry-1.docker.io, single names under
`library/`). Registries are reached over https; only loopback hosts (`localhost`, `127.0.0.0/8`, `::1`) use plain
http, which is what local development registries and this module's tests use.

Authentication follows the Docker registry token specification: on `401` with `WWW-Authenticate: Bearer realm=...,
service=...,scope=...` a token is fetched from the realm (with the registry host's basic credentials, when the stack
has some) and the request is retried with it; a `Basic` challenge is answered with the credentials directly. No
error message ever contains a credential or a token.
"""

from __future__ import annotations

import base64
import binascii
import http.client
import json
import re
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Hashable, Literal, Mapping, Sequence

from minnova_idp.model.images import ImageGateError, Registry, is_loopback, normalize_registry_host, parse_repository
from minnova_idp.policy.image_gate import ImageCheck

GateMode = Literal["wait", "keep", "off"]
DEFAULT_MODE: GateMode = "keep"
DEFAULT_TIMEOUT = 10.0  # seconds, for each request of one check
DEFAULT_WORKERS = 8


# The manifest media types a pull may resolve a tag to. The client SHOULD send Accept with the types it supports
# (opencontainers/distribution-spec spec.md, "Pulling manifests"); the CNCF distribution registry 2.8 answers 404
# MANIFEST_UNKNOWN for an OCI manifest or index when Accept does not list its type (distribution v2.8.2
# registry/handlers/manifests.go:168-177, "OCI manifest found, but accept header does not support OCI manifests"),
# so without these an image CI pushed in OCI format would read as missing.
MANIFEST_MEDIA_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
_MAX_TOKEN_RESPONSE = 1 << 20  # a token response is a small JSON document
_USER_AGENT = "minnova-idp-imagegate"


class CredentialsError(ValueError):
    """A dockerconfigjson that cannot be read. The message names hosts and keys, never a secret."""


def credentials_from_dockerconfigjson(text: str | bytes) -> dict[str, tuple[str, str]]:
    """`{host: (user, password)}` from a `.dockerconfigjson` (the format of `docker login`'s config.json and of
    Kubernetes `kubernetes.io/dockerconfigjson` Secrets): `auths.<host>.auth` is base64 of `user:password`, or
    `username` and `password` are given as fields. Hosts are normalized (normalize_registry_host)."""
    try:
        document = json.loads(text)
    except UnicodeDecodeError:
        raise CredentialsError("the registry credentials are not UTF-8 text") from None
    except json.JSONDecodeError as exc:  # its message has a position, never the content
        raise CredentialsError(f"the registry credentials are not JSON (line {exc.lineno}, column {exc.colno}); "
                               "expected a .dockerconfigjson: {\"auths\": {\"<host>\": {\"auth\": \"...\"}}}") from None
    if not isinstance(document, dict) or not isinstance(document.get("auths"), dict):
        raise CredentialsError("the registry credentials have no `auths` object; expected a .dockerconfigjson: "
                               "{\"auths\": {\"<host>\": {\"auth\": \"<base64 of user:password>\"}}}")
    credentials: dict[str, tuple[str, str]] = {}
    for key, entry in document["auths"].items():
        host = normalize_registry_host(key)
        where = f"auths.{host}"
        if not host:
            raise CredentialsError("auths: an entry has an empty registry host")
        if not isinstance(entry, dict):
            raise CredentialsError(f"{where}: must be an object with `auth` or `username` and `password`")
        if entry.get("auth"):
            encoded = entry["auth"]
            try:
                decoded = base64.b64decode(encoded if isinstance(encoded, (str, bytes)) else b"?", validate=True)
                user, colon, password = decoded.decode("utf-8").partition(":")
            except (binascii.Error, ValueError):
                colon = ""
            if not colon or not user:
                raise CredentialsError(f"{where}.auth: is not base64 of `user:password` (the value is not shown)")
        elif isinstance(entry.get("username"), str) and isinstance(entry.get("password"), str) and entry["username"]:
            user, password = entry["username"], entry["password"]
        elif entry.get("identitytoken") or entry.get("registrytoken"):
            raise CredentialsError(f"{where}: identity and registry tokens are not supported; give `auth` "
                                   "(base64 of user:password) or `username` and `password`")
        else:
            raise CredentialsError(f"{where}: has neither `auth` nor `username` and `password`")
        if host in credentials and credentials[host] != (user, password):
            raise CredentialsError(f"{where}: is listed twice with different credentials (e.g. `{host}` and "
                                   f"`https://{host}`); keep one")
        credentials[host] = (user, password)
    return credentials


def credentials_for(host: str, credentials: Mapping[str, tuple[str, str]] | None) -> tuple[str, str] | None:
    """The stack's credentials for a registry host (keys as normalize_registry_host makes them)."""
    if not credentials:
        return None
    found = credentials.get(host)
    if found is None:
        found = next((value for key, value in credentials.items() if normalize_registry_host(key) == host), None)
    return found


# --- HTTP -----------------------------------------------------------------------------------------------------------

class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects, but carries the Authorization header only to the same scheme and host, and never from
    https down to http (urllib alone would drop it everywhere, as an unredirected header)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is None:
            return None
        before, after = urllib.parse.urlsplit(req.full_url), urllib.parse.urlsplit(new.full_url)
        if before.scheme == "https" and after.scheme != "https":
            raise ImageGateError(f"registry {before.netloc} redirected to plain http ({after.netloc}); refused",
                                 before.netloc)
        authorization = req.unredirected_hdrs.get("Authorization")
        if authorization and (before.scheme, before.netloc) == (after.scheme, after.netloc):
            new.add_unredirected_header("Authorization", authorization)
        return new


_OPENER = urllib.request.build_opener(_Redirects)  # honours HTTPS_PROXY/NO_PROXY like docker does
_LOOPBACK_OPENER = urllib.request.build_opener(_Redirects, urllib.request.ProxyHandler({}))  # never via a proxy


@dataclass(frozen=True)
class _Response:
    status: int
    headers: object  # email.message.Message: get_all() for repeated headers
    body: bytes


def _request(url: str, method: str, headers: dict[str, str], authorization: str | None, timeout: float,
             registry_host: str, what: str, read_body: bool = False) -> _Response:
    """One request; any status is returned; network failures become an ImageGateError naming `what`."""
    request = urllib.request.Request(url, method=method, headers={"User-Agent": _USER_AGENT, **headers})
    if authorization:
        request.add_unredirected_header("Authorization", authorization)
    netloc = urllib.parse.urlsplit(url).netloc
    opener = _LOOPBACK_OPENER if is_loopback(netloc) else _OPENER
    try:
        with opener.open(request, timeout=timeout) as response:
            body = response.read(_MAX_TOKEN_RESPONSE + 1) if read_body else b""
            return _Response(response.status, response.headers, body)
    except urllib.error.HTTPError as exc:
        with exc:
            body = exc.read(_MAX_TOKEN_RESPONSE + 1) if read_body else b""
            return _Response(exc.code, exc.headers, body)
    except ImageGateError:
        raise
    except urllib.error.URLError as exc:
        raise ImageGateError(_network_reason(what, exc.reason, timeout), registry_host) from None
    except (OSError, ValueError, http.client.HTTPException) as exc:
        raise ImageGateError(_network_reason(what, exc, timeout), registry_host) from None


def _network_reason(what: str, error: object, timeout: float) -> str:
    if isinstance(error, (TimeoutError, socket.timeout)) or "timed out" in str(error):
        return f"{what} did not answer within {timeout:g} s"
    if isinstance(error, ConnectionRefusedError):
        return f"{what} refused the connection (is it running, and is this the right host and port?)"
    if isinstance(error, socket.gaierror):
        return f"{what}: the host name does not resolve"
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"{what}: its TLS certificate is not trusted ({error.verify_message})"
    if isinstance(error, ssl.SSLError):
        return f"{what}: TLS failed ({error.reason or type(error).__name__})"
    if isinstance(error, ConnectionError):
        return f"{what} closed the connection ({type(error).__name__})"
    if isinstance(error, OSError) and error.strerror:
        return f"{what} cannot be reached: {error.strerror}"
    return f"{what} cannot be reached ({type(error).__name__})"


_AUTH_PARAM = re.compile(r'([A-Za-z][A-Za-z0-9_-]*)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)')


def parse_challenges(values: Sequence[str]) -> dict[str, dict[str, str]]:
    """`WWW-Authenticate` values as {scheme: {param: value}}, scheme in lower case (RFC 7235 auth-params, one
    challenge per header value, as registries send them; the token specification's example:
    `Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull"`).
    """
    challenges: dict[str, dict[str, str]] = {}
    for value in values:
        scheme, _, rest = value.strip().partition(" ")
        if not scheme:
            continue
        params = {}
        for name, raw in _AUTH_PARAM.findall(rest):
            params[name.lower()] = re.sub(r"\\(.)", r"\1", raw[1:-1]) if raw.startswith('"') else raw
        challenges.setdefault(scheme.lower(), params)
    return challenges


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def _fetch_token(challenge: dict[str, str], registry: Registry, credentials: tuple[str, str] | None,
                 timeout: float) -> str:
    """A Bearer token from the challenge's realm (distribution docs/spec/auth/token.md, "Requesting a Token":
    GET <realm>?service=<service>&scope=<scope> for each scope, basic credentials if the client has some; the
    answer's `token`, or `access_token` for OAuth 2.0 compatibility)."""
    where = f"registry {registry.host}"
    realm = challenge.get("realm", "")
    parts = urllib.parse.urlsplit(realm)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise ImageGateError(f"{where} asked for a token from an unusable realm", registry.host)
    if parts.scheme != "https" and not is_loopback(parts.netloc):
        raise ImageGateError(f"{where} asked for a token over plain http from {parts.netloc}; refused",
                             registry.host)
    query = [("service", challenge["service"])] if challenge.get("service") else []
    scopes = (challenge.get("scope") or f"repository:{registry.name}:pull").split()
    query += [("scope", scope) for scope in scopes]
    separator = "&" if parts.query else "?"
    url = realm + (separator + urllib.parse.urlencode(query) if query else "")
    response = _request(url, "GET", {"Accept": "application/json"}, _basic(*credentials) if credentials else None,
                        timeout, registry.host, f"the token service {parts.netloc} of registry {registry.host}",
                        read_body=True)
    if response.status in (401, 403):
        raise ImageGateError(
            f"the token service {parts.netloc} of registry {registry.host} refused "
            + ("the stack's credentials for it" if credentials else "an anonymous token (the repository may be "
               f"private: give pull credentials for {registry.host})"), registry.host)
    if response.status != 200:
        raise ImageGateError(f"the token service {parts.netloc} of registry {registry.host} answered HTTP "
                             f"{response.status}", registry.host)
    try:
        document = json.loads(response.body[:_MAX_TOKEN_RESPONSE])
        token = document.get("token") or document.get("access_token")
    except (ValueError, AttributeError):
        token = None
    if not isinstance(token, str) or not token:
        raise ImageGateError(f"the token service {parts.netloc} of registry {registry.host} answered without a "
                             "token", registry.host)
    return token


def image_exists(repository: str, tag: str, credentials: Mapping[str, tuple[str, str]] | None = None,
                 timeout: float = DEFAULT_TIMEOUT) -> bool:
    """Whether `repository:tag` is in its registry (_manifest_head)."""
    return _manifest_head(repository, tag, credentials, timeout) is not None


_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def manifest_digest(repository: str, tag: str, credentials: Mapping[str, tuple[str, str]] | None = None,
                    timeout: float = DEFAULT_TIMEOUT) -> str:
    """The digest `repository:tag` points at now (`Docker-Content-Digest` of the manifest HEAD: the index of a
    multi-platform image, the digest `image@sha256:` pins name; distribution-spec spec.md "Pulling manifests").
    What scripts/refresh_image_digests.py pins the platform's images to."""
    response = _manifest_head(repository, tag, credentials, timeout)
    if response is None:
        raise ImageGateError(f"{repository}:{tag} does not exist", parse_repository(repository).host)
    digest = response.headers.get("Docker-Content-Digest") or ""
    if not _DIGEST.fullmatch(digest):
        raise ImageGateError(f"registry {parse_repository(repository).host} gave no sha256 digest for "
                             f"{repository}:{tag}", parse_repository(repository).host)
    return digest


def _manifest_head(repository: str, tag: str, credentials: Mapping[str, tuple[str, str]] | None,
                   timeout: float) -> _Response | None:
    """The manifest HEAD of `repository:tag` (a tag or a `sha256:` digest), None when it does not exist:
    `HEAD /v2/<name>/manifests/<tag>` answers 200 for an existing manifest and 404 when there is none (opencontainers/distribution-spec spec.md,
    "Checking if content exists in the registry"; endpoint end-3). Anything else raises ImageGateError.
    `timeout` applies to each request (at most three: the HEAD, a token, the HEAD again)."""
    registry = parse_repository(repository)
    where = f"registry {registry.host}"
    url = registry.manifest_url(tag)
    accept = {"Accept": ", ".join(MANIFEST_MEDIA_TYPES)}
    own = credentials_for(registry.host, credentials)
    response = _request(url, "HEAD", accept, None, timeout, registry.host, where)
    if response.status == 401:
        challenges = parse_challenges(response.headers.get_all("WWW-Authenticate") or [])
        if "bearer" in challenges:
            authorization = f"Bearer {_fetch_token(challenges['bearer'], registry, own, timeout)}"
        elif "basic" in challenges:
            if own is None:
                raise ImageGateError(f"{where} needs credentials to read {registry.name} and the stack has none "
                                     f"for {registry.host}", registry.host)
            authorization = _basic(*own)
        else:
            raise ImageGateError(f"{where} asked for an authentication this check does not speak "
                                 f"({', '.join(sorted(challenges)) or 'no WWW-Authenticate challenge'})",
                                 registry.host)
        response = _request(url, "HEAD", accept, authorization, timeout, registry.host, where)
    if response.status == 200:
        return response
    if response.status == 404:
        return None
    if response.status in (401, 403):
        if own is not None:
            raise ImageGateError(f"{where} refused the stack's credentials for {registry.host} to read "
                                 f"{registry.name} (HTTP {response.status})", registry.host)
        raise ImageGateError(f"{where} refused to let an anonymous client read {registry.name} (HTTP "
                             f"{response.status}; private? give pull credentials for {registry.host})",
                             registry.host)
    if response.status == 429:
        raise ImageGateError(f"{where} is rate limiting (HTTP 429); retry later", registry.host)
    raise ImageGateError(f"{where} answered HTTP {response.status} for {registry.name}:{tag}", registry.host)


# --- many at once -----------------------------------------------------------------------------------------------------


def check_images(requests: Sequence[ImageCheck], credentials: Mapping[str, tuple[str, str]] | None = None,
                 timeout: float = DEFAULT_TIMEOUT, max_workers: int = DEFAULT_WORKERS
                 ) -> dict[Hashable, bool | ImageGateError]:
    """Each request's answer (True, False, or the ImageGateError it raised), every image asked once and all of them
    at once: the wall time is about that of the slowest registry, not of the sum."""
    images = sorted({(request.repository, request.tag) for request in requests})

    def one(image: tuple[str, str]) -> bool | ImageGateError:
        try:
            return image_exists(image[0], image[1], credentials, timeout)
        except ImageGateError as exc:
            return exc
        except Exception as exc:  # noqa: BLE001 - a check must answer; its message may not carry secrets
            return ImageGateError(f"checking {image[0]}:{image[1]} failed ({type(exc).__name__})")

    answers: dict[tuple[str, str], bool | ImageGateError] = {}
    if images:
        with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(images))),
                                thread_name_prefix="imagegate") as pool:
            answers = dict(zip(images, pool.map(one, images)))
    return {request.key: answers[(request.repository, request.tag)] for request in requests}


# --- the gate ---------------------------------------------------------------------------------------------------------


