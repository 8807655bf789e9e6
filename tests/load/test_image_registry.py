"""Deploy only what CI built (minnova_idp/load/image_registry.py): against a real OCI registry on 127.0.0.1.

The end-to-end tests start Debian's CNCF distribution registry (`docker-registry`, 2.8) on a free loopback port
with its storage in a temporary directory, push tiny OCI images built here (no network) with `skopeo`, and ask the
gate. They skip, saying why, where those tools are absent (a fresh clone; `.ci/run` installs them as root). The
rest of this file needs nothing but Python: small loopback servers stand in for what a registry cannot be made
to do on demand (hang, fail, be slow).
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import io
import json
import shutil
import socket
import subprocess
import sys
import tarfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from minnova_idp.load.image_registry import (
    MANIFEST_MEDIA_TYPES,
    CredentialsError,
    check_images,
    credentials_for,
    credentials_from_dockerconfigjson,
    image_exists,
    parse_challenges,
)
from minnova_idp.model.images import DOCKER_HUB_HOST, ImageGateError, parse_repository
from minnova_idp.policy.image_gate import ImageCheck, checks_for, gate, offline_report

from tests.conftest import PROJECT_DIR, stop_process

pytestmark = pytest.mark.integration  # an OCI registry on 127.0.0.1

REGISTRY_BIN = shutil.which("docker-registry")
SKOPEO = shutil.which("skopeo")
HTPASSWD = shutil.which("htpasswd")
needs_registry = pytest.mark.skipif(
    not (REGISTRY_BIN and SKOPEO),
    reason="needs a local OCI registry: Debian packages docker-registry and skopeo are not installed "
           "(apt-get install docker-registry skopeo; .ci/run installs them when run as root)")
needs_htpasswd = pytest.mark.skipif(
    not HTPASSWD, reason="htpasswd (Debian apache2-utils) is not installed: the registry's basic auth needs a "
                         "bcrypt htpasswd file and Python has no bcrypt here")

USER, PASSWORD = "ci-reader", "s3cret-Pa:ss"  # a colon in the password: user:password splits at the first one


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- a real registry ------------------------------------------------------------------------------------------------

@dataclass
class LocalRegistry:
    host: str  # 127.0.0.1:<port>
    process: subprocess.Popen
    log: Path

    def repository(self, name: str) -> str:
        return f"{self.host}/{name}"


@contextmanager
def running_registry(workdir: Path, storage: Path, auth: dict | None = None):
    """docker-registry serving `storage` on 127.0.0.1 only; stopped (and reaped) on exit."""
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    config = {"version": 0.1, "log": {"level": "warn", "accesslog": {"disabled": True}},
              "storage": {"filesystem": {"rootdirectory": str(storage)}, "delete": {"enabled": True}},
              "http": {"addr": f"127.0.0.1:{port}", "secret": "test-only-not-a-secret"}}
    if auth:
        config["auth"] = auth
    config_file = workdir / "config.yml"
    config_file.write_text(json.dumps(config))  # JSON is YAML
    log = workdir / "registry.log"
    with log.open("wb") as out:
        process = subprocess.Popen([REGISTRY_BIN, "serve", str(config_file)], stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
    registry = LocalRegistry(f"127.0.0.1:{port}", process, log)
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                pytest.fail(f"docker-registry exited with {process.returncode}:\n{log.read_text()}")
            try:
                with urllib.request.urlopen(f"http://{registry.host}/v2/", timeout=1):
                    break
            except urllib.error.HTTPError as exc:
                if exc.code == 401:  # up, and asking for credentials
                    break
                raise
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    pytest.fail(f"docker-registry did not answer /v2/ within 20 s:\n{log.read_text()}")
                time.sleep(0.05)
        yield registry
    finally:
        stop_process(process, timeout=10)


def _blob(layout: Path, data: bytes, media_type: str) -> dict:
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}


def oci_layout(layout: Path, images: dict[str, str]) -> None:
    """An OCI image layout holding one tiny image per tag (a config and one uncompressed layer of one file), and
    `multi`: an image index over the first of them (what multi-platform builds push)."""
    (layout / "blobs" / "sha256").mkdir(parents=True)
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    entries, first = [], None
    for tag, content in images.items():
        tar = io.BytesIO()
        with tarfile.open(fileobj=tar, mode="w", format=tarfile.PAX_FORMAT) as archive:
            data = content.encode()
            info = tarfile.TarInfo("hello.txt")
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            archive.addfile(info, io.BytesIO(data))
        layer = _blob(layout, tar.getvalue(), "application/vnd.oci.image.layer.v1.tar")
        config = _blob(layout, json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                                           "rootfs": {"type": "layers", "diff_ids": [layer["digest"]]}}).encode(),
                       "application/vnd.oci.image.config.v1+json")
        manifest = _blob(layout, json.dumps({"schemaVersion": 2, "mediaType": MANIFEST_MEDIA_TYPES[1],
                                             "config": config, "layers": [layer]}).encode(), MANIFEST_MEDIA_TYPES[1])
        first = first or manifest
        entries.append({**manifest, "annotations": {"org.opencontainers.image.ref.name": tag}})
    index = _blob(layout, json.dumps({"schemaVersion": 2, "mediaType": MANIFEST_MEDIA_TYPES[0], "manifests": [
        {**first, "platform": {"architecture": "amd64", "os": "linux"}}]}).encode(), MANIFEST_MEDIA_TYPES[0])
    entries.append({**index, "annotations": {"org.opencontainers.image.ref.name": "multi"}})
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "mediaType": MANIFEST_MEDIA_TYPES[0],
                                                   "manifests": entries}))


def push(layout: Path, tag: str, destination: str, home: Path) -> None:
    """skopeo copy from the layout to the registry, as app CI would push (plain http: --dest-tls-verify=false)."""
    result = subprocess.run(
        [SKOPEO, "--insecure-policy", "copy", "--all", "--dest-tls-verify=false", "--quiet", f"oci:{layout}:{tag}",
         f"docker://{destination}"], capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
        env={"PATH": "/usr/bin:/bin:/usr/local/bin", "HOME": str(home), "XDG_RUNTIME_DIR": str(home)})
    assert result.returncode == 0, f"skopeo copy {tag} -> {destination} failed:\n{result.stderr}"


@pytest.fixture(scope="module")
def storage(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("registry-storage")


@pytest.fixture(scope="module")
def registry(tmp_path_factory, storage):
    """A registry without auth holding team/app:v1, :v2 and :multi (an index) and other/svc:1.0."""
    if not (REGISTRY_BIN and SKOPEO):
        pytest.skip("docker-registry or skopeo is not installed")
    work = tmp_path_factory.mktemp("registry")
    layout = work / "layout"
    oci_layout(layout, {"v1": "one\n", "v2": "two\n"})
    with running_registry(work / "plain", storage) as server:
        for tag, destination in (("v1", "team/app:v1"), ("v2", "team/app:v2"), ("multi", "team/app:multi"),
                                 ("v1", "other/svc:1.0")):
            push(layout, tag, server.repository(destination), work)
        yield server


@pytest.fixture(scope="module")
def basic_auth_registry(tmp_path_factory, storage, registry):
    """The same images behind htpasswd (basic) auth: a second registry process on the same storage."""
    if not HTPASSWD:
        pytest.skip("htpasswd (apache2-utils) is not installed")
    work = tmp_path_factory.mktemp("registry-basic")
    htpasswd = work / "htpasswd"
    subprocess.run([HTPASSWD, "-Bbc", str(htpasswd), USER, PASSWORD], check=True, capture_output=True)
    with running_registry(work, storage, {"htpasswd": {"realm": "minnova-test", "path": str(htpasswd)}}) as server:
        yield server


class TokenService(http.server.ThreadingHTTPServer):
    """A token service (the realm of a Bearer challenge): hands out a token for USER:PASSWORD, records requests."""

    def __init__(self):
        self.requests: list[dict] = []
        super().__init__(("127.0.0.1", 0), _TokenHandler)

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/token"


class _TokenHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        authorization = self.headers.get("Authorization")
        self.server.requests.append({"query": query, "authorization": authorization})
        if authorization != "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode():
            self.send_response(401)
            self.end_headers()
            return
        body = json.dumps({"access_token": "token-for-tests", "expires_in": 60}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@contextmanager
def serving(server: http.server.HTTPServer):
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture(scope="module")
def token_registry(tmp_path_factory, storage, registry):
    """The same images behind a Bearer challenge. The registry's `silly` access controller (compiled into
    docker-registry 2.8; registry/auth/silly/access.go) answers 401 with `Bearer realm=...,service=...,scope=...`
    to a request without an Authorization header; our token service decides who gets a token."""
    work = tmp_path_factory.mktemp("registry-token")
    with serving(TokenService()) as tokens:
        auth = {"silly": {"realm": tokens.realm, "service": "minnova-test-registry"}}
        with running_registry(work, storage, auth) as server:
            yield server, tokens


# --- end to end against the real registry ------------------------------------------------------------------------

@needs_registry
def test_an_image_ci_pushed_exists_and_one_it_did_not_does_not(registry):
    app = registry.repository("team/app")
    assert image_exists(app, "v1", None, timeout=5) is True
    assert image_exists(app, "v2", None, timeout=5) is True
    assert image_exists(app, "v3", None, timeout=5) is False
    assert image_exists(registry.repository("team/never-pushed"), "v1", None, timeout=5) is False
    digest = "sha256:" + "0" * 64
    assert image_exists(app, digest, None, timeout=5) is False


@needs_registry
def test_multi_platform_indexes_are_found_and_accept_headers_are_why(registry):
    assert image_exists(registry.repository("team/app"), "multi", None, timeout=5) is True
    # Without Accept, distribution 2.8 hides OCI manifests and indexes (404 MANIFEST_UNKNOWN): the media types sent
    # are what makes an image CI pushed in OCI format count as built.
    for tag in ("v1", "multi"):
        request = urllib.request.Request(f"http://{registry.host}/v2/team/app/manifests/{tag}", method="HEAD")
        with pytest.raises(urllib.error.HTTPError) as raised:
            urllib.request.urlopen(request, timeout=5)
        assert raised.value.code == 404


@needs_registry
def test_keep_deploys_what_was_built_and_keeps_the_last_deployed_tag_for_the_rest(registry):
    app, svc = registry.repository("team/app"), registry.repository("other/svc")
    requested = {"app-dev": (app, "v2"), "app-prod": (app, "v3"), "svc-prod": (svc, "1.0"), "app-staging": (app, "v1")}
    previous = {"app-dev": ["v1"], "app-prod": ["v2", "v1"], "app-staging": ["v1", "v0"]}
    checks = checks_for("keep", requested, previous)
    assert [check.key for check in checks] == ["app-dev", "app-prod", "svc-prod"]  # staging runs v1 already
    results = check_images(checks, None, timeout=5)
    assert results == {"app-dev": True, "app-prod": False, "svc-prod": True}
    tags, notes, problems = gate("keep", requested, previous, results)
    assert tags == {"app-dev": "v2", "app-prod": "v2", "svc-prod": "1.0", "app-staging": "v1"}
    assert notes == [f"app-prod: kept v2 because {app}:v3 is not in the registry yet"]
    assert problems == []


@needs_registry
def test_a_first_deploy_without_an_image_is_refused(registry):
    app = registry.repository("team/app")
    requested = {"app-prod": (app, "v3")}
    results = check_images(checks_for("keep", requested, {}), None, timeout=5)
    tags, notes, problems = gate("keep", requested, {}, results)
    assert notes == []
    assert problems == [f"app-prod: {app}:v3 has no image yet and nothing was deployed before; push it (the app's "
                        "CI) or pin a tag that exists, then re-run"]


@needs_registry
def test_wait_stops_until_ci_pushed_the_image(registry, tmp_path):
    app = registry.repository("team/app")
    requested, previous = {"app-prod": (app, "v9")}, {"app-prod": ["v1"]}
    _, _, problems = gate("wait", requested, previous, check_images(checks_for("wait", requested, previous), None, 5))
    assert problems == [f"app-prod: {app}:v9 is not built yet; re-run when CI pushed it (minnova:imageGate is wait)"]
    layout = tmp_path / "layout"  # CI pushes it; the re-run deploys it
    oci_layout(layout, {"v9": "nine\n"})
    push(layout, "v9", f"{app}:v9", tmp_path)
    tags, notes, problems = gate("wait", requested, previous,
                                 check_images(checks_for("wait", requested, previous), None, 5))
    assert (tags, notes, problems) == ({"app-prod": "v9"}, [], [])


@needs_registry
def test_concurrent_checks_against_the_registry_ask_each_image_once(registry):
    app = registry.repository("team/app")
    checks = [ImageCheck(f"c{i}", app, ("v1", "v2", "nope")[i % 3]) for i in range(30)]
    results = check_images(checks, None, timeout=5, max_workers=8)
    assert [results[f"c{i}"] for i in range(30)] == [True, True, False] * 10


@needs_registry
@needs_htpasswd
def test_basic_auth_uses_the_stacks_credentials_and_never_shows_them(basic_auth_registry):
    app = basic_auth_registry.repository("team/app")
    host = basic_auth_registry.host
    config = json.dumps({"auths": {f"http://{host}": {"auth": base64.b64encode(f"{USER}:{PASSWORD}".encode())
                                                      .decode()}}})
    credentials = credentials_from_dockerconfigjson(config)
    assert credentials == {host: (USER, PASSWORD)}
    assert image_exists(app, "v1", credentials, timeout=5) is True
    assert image_exists(app, "v3", credentials, timeout=5) is False
    with pytest.raises(ImageGateError) as anonymous:
        image_exists(app, "v1", None, timeout=5)
    assert anonymous.value.reason == f"registry {host} needs credentials to read team/app and the stack has none " \
                                     f"for {host}"
    with pytest.raises(ImageGateError) as wrong:
        image_exists(app, "v1", {host: (USER, "wrong-Password-123")}, timeout=5)
    assert f"registry {host} refused the stack's credentials for {host}" in wrong.value.reason
    assert "wrong-Password-123" not in str(wrong.value) and USER not in str(wrong.value)
    # Through the gate: a refused login is a problem, never a deploy and never a "kept" note.
    requested = {"app-prod": (app, "v2")}
    _, notes, problems = gate("keep", requested, {"app-prod": ["v1"]},
                              check_images(checks_for("keep", requested, {"app-prod": ["v1"]}),
                                           {host: (USER, "wrong-Password-123")}, 5))
    assert notes == [] and len(problems) == 1 and "wrong-Password-123" not in problems[0]


@needs_registry
def test_bearer_challenge_gets_a_token_from_the_realm_with_the_credentials(token_registry):
    server, tokens = token_registry
    app = server.repository("team/app")
    assert image_exists(app, "v1", {server.host: (USER, PASSWORD)}, timeout=5) is True
    assert image_exists(app, "v3", {server.host: (USER, PASSWORD)}, timeout=5) is False
    request = tokens.requests[-1]
    assert request["query"] == {"service": ["minnova-test-registry"], "scope": ["repository:team/app:pull"]}
    assert request["authorization"] == "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    with pytest.raises(ImageGateError) as anonymous:
        image_exists(app, "v1", None, timeout=5)
    assert "refused an anonymous token" in anonymous.value.reason and f"pull credentials for {server.host}" in \
        anonymous.value.reason
    with pytest.raises(ImageGateError) as wrong:
        image_exists(app, "v1", {server.host: (USER, "not-it-42")}, timeout=5)
    assert "refused the stack's credentials" in wrong.value.reason and "not-it-42" not in str(wrong.value)


# --- registries that fail ---------------------------------------------------------------------------------------------

def test_a_registry_that_is_down_stops_the_run_with_its_name():
    host = f"127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(ImageGateError) as raised:
        image_exists(f"{host}/team/app", "v2", None, timeout=2)
    assert raised.value.reason == f"registry {host} refused the connection (is it running, and is this the right " \
                                  "host and port?)"
    assert raised.value.host == host
    requested, previous = {"app-prod": (f"{host}/team/app", "v2")}, {"app-prod": ["v1"]}
    for mode in ("keep", "wait"):
        tags, notes, problems = gate(mode, requested, previous,
                                     check_images(checks_for(mode, requested, previous), None, 2))
        assert notes == []
        assert problems == [f"app-prod: cannot check that {host}/team/app:v2 exists: registry {host} refused the "
                            f"connection (is it running, and is this the right host and port?) (minnova:imageGate "
                            f"is {mode}; nothing is deployed unchecked)"]


def test_off_asks_no_registry():
    host = f"127.0.0.1:{free_port()}"
    requested = {"app-prod": (f"{host}/team/app", "v2")}
    assert checks_for("off", requested, {"app-prod": ["v1"]}) == []
    assert gate("off", requested, {"app-prod": ["v1"]}, {}) == ({"app-prod": "v2"}, [], [])


def test_a_registry_that_never_answers_times_out():
    with socket.socket() as silent:  # accepts connections (the kernel's backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        host = f"127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        with pytest.raises(ImageGateError) as raised:
            image_exists(f"{host}/team/app", "v1", None, timeout=0.5)
        assert time.monotonic() - started < 5
    assert raised.value.reason == f"registry {host} did not answer within 0.5 s"


class _Scripted(http.server.BaseHTTPRequestHandler):
    """Answers every request with the server's `status` (and `headers`) after `delay` seconds."""

    def do_HEAD(self):
        self.server.seen.append((self.path, dict(self.headers)))
        time.sleep(self.server.delay)
        self.send_response(self.server.status)
        for name, value in self.server.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@contextmanager
def scripted(status: int, headers=(), delay: float = 0.0):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Scripted)
    server.status, server.headers, server.delay, server.seen = status, list(headers), delay, []
    with serving(server):
        yield server, f"127.0.0.1:{server.server_address[1]}"


def test_server_errors_are_errors_not_missing_images():
    for status, reason in ((503, "answered HTTP 503 for team/app:v1"), (429, "is rate limiting (HTTP 429)"),
                           (403, "refused to let an anonymous client read team/app (HTTP 403")):
        with scripted(status) as (_, host):
            with pytest.raises(ImageGateError) as raised:
                image_exists(f"{host}/team/app", "v1", None, timeout=2)
            assert raised.value.reason.startswith(f"registry {host} ") and reason in raised.value.reason


def test_the_request_is_a_head_with_every_manifest_type_accepted():
    with scripted(200) as (server, host):
        assert image_exists(f"{host}/team/app", "sha256:" + "a" * 64, None, timeout=2) is True
    path, headers = server.seen[0]
    assert path == "/v2/team/app/manifests/sha256:" + "a" * 64
    assert [media.strip() for media in headers["Accept"].split(",")] == list(MANIFEST_MEDIA_TYPES)
    assert "Authorization" not in headers


def test_no_token_over_plain_http_from_a_remote_realm():
    challenge = ("WWW-Authenticate", 'Bearer realm="http://auth.example.com/token",service="x"')
    with scripted(401, [challenge]) as (_, host):
        with pytest.raises(ImageGateError) as raised:
            image_exists(f"{host}/team/app", "v1", {host: (USER, PASSWORD)}, timeout=2)
    assert raised.value.reason == f"registry {host} asked for a token over plain http from auth.example.com; refused"


def test_checks_run_concurrently():
    with scripted(200, delay=0.4) as (server, host):
        started = time.monotonic()
        results = check_images([ImageCheck(i, f"{host}/team/app", f"t{i}") for i in range(8)], None, timeout=5)
        elapsed = time.monotonic() - started
    assert results == {i: True for i in range(8)} and len(server.seen) == 8
    assert elapsed < 8 * 0.4 / 2, f"8 checks of 0.4 s took {elapsed:.2f} s: not concurrent"


# --- pure rules -------------------------------------------------------------------------------------------------------

def test_registry_hosts_follow_dockers_reference_rules():
    cases = {
        "registry.example.com/team/app": ("registry.example.com", "team/app", "https"),
        "ghcr.io/acme/oracle": ("ghcr.io", "acme/oracle", "https"),
        "registry.example.com:5000/app": ("registry.example.com:5000", "app", "https"),
        "nginx": (DOCKER_HUB_HOST, "library/nginx", "https"),
        "acme/app": (DOCKER_HUB_HOST, "acme/app", "https"),
        "docker.io/nginx": (DOCKER_HUB_HOST, "library/nginx", "https"),
        "index.docker.io/acme/app": (DOCKER_HUB_HOST, "acme/app", "https"),
        # loopback registries (local development, these tests) are plain http
        "localhost:5000/team/app": ("localhost:5000", "team/app", "http"),
        "localhost/app": ("localhost", "app", "http"),
        "127.0.0.1:5000/team/app": ("127.0.0.1:5000", "team/app", "http"),
        "[::1]:5000/app": ("[::1]:5000", "app", "http"),
    }
    for repository, (host, name, scheme) in cases.items():
        registry = parse_repository(repository)
        assert (registry.host, registry.name, registry.scheme) == (host, name, scheme), repository
    for bad in ("", "https://ghcr.io/a/b", "user:pw@ghcr.io/a", "ghcr.io/", "ghcr.io//a"):
        with pytest.raises(ImageGateError):
            parse_repository(bad)


def test_dockerconfigjson_credentials():
    def auth(value: str) -> str:
        return base64.b64encode(value.encode()).decode()

    config = {"auths": {
        "ghcr.io": {"auth": auth("octo:ghp_token:with:colons")},
        "https://registry.example.com/v1/": {"username": "bot", "password": "pw"},
        "https://index.docker.io/v1/": {"auth": auth("hubuser:hubpass")},
        "localhost:5000": {"auth": auth("dev:dev"), "email": "ignored@example.com"},
    }}
    credentials = credentials_from_dockerconfigjson(json.dumps(config))
    assert credentials == {"ghcr.io": ("octo", "ghp_token:with:colons"), "registry.example.com": ("bot", "pw"),
                           DOCKER_HUB_HOST: ("hubuser", "hubpass"), "localhost:5000": ("dev", "dev")}
    assert credentials_for(parse_repository("nginx").host, credentials) == ("hubuser", "hubpass")
    assert credentials_for("quay.io", credentials) is None
    assert credentials_for("ghcr.io", {"https://ghcr.io": ("a", "b")}) == ("a", "b")


def test_dockerconfigjson_errors_never_echo_the_secret():
    secret = "hunter2-VERY-secret"
    cases = {
        f'{{"auths": {{"ghcr.io": {{"auth": "{secret}"}}}}}}': "auths.ghcr.io.auth: is not base64 of `user:password`",
        json.dumps({"auths": {"ghcr.io": {"auth": base64.b64encode(secret.encode()).decode()}}}):
            "auths.ghcr.io.auth: is not base64 of `user:password`",  # no colon
        json.dumps({"auths": {"ghcr.io": {"identitytoken": secret}}}): "identity and registry tokens are not supported",
        json.dumps({"auths": {"ghcr.io": {"password": secret}}}): "has neither `auth` nor `username` and `password`",
        json.dumps({"ghcr.io": {"auth": secret}}): "no `auths` object",
        '{"auths": {"ghcr.io": {"auth": "' + secret: "are not JSON (line 1",
        json.dumps({"auths": {"ghcr.io": {"username": "a", "password": secret},
                              "https://ghcr.io": {"username": "a", "password": "other"}}}): "is listed twice",
    }
    for text, expected in cases.items():
        with pytest.raises(CredentialsError) as raised:
            credentials_from_dockerconfigjson(text)
        assert expected in str(raised.value) and secret not in str(raised.value), text


def test_www_authenticate_challenges():
    assert parse_challenges(['Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
                             'scope="repository:samalba/my-app:pull,push"', 'Basic realm="a \\"b\\""']) == {
        "bearer": {"realm": "https://auth.docker.io/token", "service": "registry.docker.io",
                   "scope": "repository:samalba/my-app:pull,push"},
        "basic": {"realm": 'a "b"'}}


def test_gate_rules():
    repo = "ghcr.io/acme/app"
    requested = {"a-dev": (repo, "new"), "a-prod": (repo, "new"), "b-prod": (repo, "b2"), "c-prod": (repo, "same")}
    previous = {"a-prod": ["old", "older"], "b-prod": ["b1"], "c-prod": ["same"], "a-dev": []}
    assert [check.key for check in checks_for("keep", requested, previous)] == ["a-dev", "a-prod", "b-prod"]
    down = ImageGateError("registry ghcr.io did not answer within 10 s", "ghcr.io")
    results = {"a-dev": False, "a-prod": False, "b-prod": down}
    tags, notes, problems = gate("keep", requested, previous, results)
    assert tags == {"a-dev": "new", "a-prod": "old", "b-prod": "b2", "c-prod": "same"}
    assert notes == [f"a-prod: kept old because {repo}:new is not in the registry yet"]
    assert problems == [
        f"a-dev: {repo}:new has no image yet and nothing was deployed before; push it (the app's CI) or pin a tag "
        "that exists, then re-run",
        f"b-prod: cannot check that {repo}:b2 exists: registry ghcr.io did not answer within 10 s (minnova:imageGate "
        "is keep; nothing is deployed unchecked)"]
    # A new tag the caller forgot to check is never deployed silently.
    assert gate("keep", {"x-prod": (repo, "n")}, {"x-prod": ["o"]}, {}).problems == [
        f"x-prod: {repo}:n was not checked (minnova:imageGate is keep)"]
    assert gate("wait", {"x-prod": (repo, "n")}, {"x-prod": ["o"]}, {"x-prod": True}) == ({"x-prod": "n"}, [], [])
    with pytest.raises(ValueError, match="not one of wait, keep, off"):
        gate("skip", requested, previous, results)


def test_offline_plan_reports_what_would_be_checked():
    requested = {"a-dev": ("127.0.0.1:5000/team/app", "v2"), "a-prod": ("ghcr.io/acme/app", "v2"),
                 "b-prod": ("nginx", "1.27")}
    previous = {"a-prod": ["v1"], "b-prod": ["1.27"]}
    assert offline_report("keep", requested, previous) == [
        "image gate keep (minnova:imageGate): `pulumi up` checks 2 images first (offline: not checked)",
        "  a-dev: HEAD http://127.0.0.1:5000/v2/team/app/manifests/v2 (if missing: stops (nothing deployed before))",
        "  a-prod: HEAD https://ghcr.io/v2/acme/app/manifests/v2 (if missing: keeps v1)"]
    assert offline_report("off", requested, previous) == ["image gate off (minnova:imageGate): no image is checked"]


# ---- the gate in the Pulumi program ------------------------------------------------------------------------------

def _program_with(previous_tags: dict, exists: dict, mode: str = "keep"):
    """The example prod stack's program with a stand-in registry: `exists` maps repository:tag to True/False."""
    from components.program import program
    from minnova_idp.load.inputs import load_inputs
    from minnova_idp.load.stack import from_stack_file
    from minnova_idp.plan.recorder import record
    from tests.conftest import PROJECT_DIR

    raw, secret_keys, file = from_stack_file(PROJECT_DIR, "prod")
    raw["minnova:imageGate"] = mode
    inputs = load_inputs(PROJECT_DIR, raw, secret_keys, file)
    asked = []

    def check_images(checks, credentials):
        asked.extend(checks)
        return {check.key: exists[f"{check.repository}:{check.tag}"] for check in checks}

    async def run():
        return await program(inputs, check_images=check_images)

    resources, outputs = record(run, project="minnova-idp", stack="prod", config=raw, secret_keys=secret_keys,
                                stack_outputs={"imageTags": previous_tags})
    images = {r.inputs["metadata"]["name"]: r.inputs["spec"]["template"]["spec"]["containers"][0]["image"]
              for r in resources if r.type == "kubernetes:apps/v1:Deployment"}
    return images, outputs, asked


def test_the_program_keeps_the_last_tag_while_the_new_image_is_missing():
    previous = {"oracle-prod": ["1.4.1"], "storefront-prod": ["2.0.1"], "catalog-prod": ["0.3.0"],
                "ledger-prod": ["0.9.0"]}
    images, outputs, asked = _program_with(previous, {"registry.minnova.io/oracle:1.4.2": False})
    assert images["oracle"] == "registry.minnova.io/oracle:1.4.1"  # kept
    assert images["storefront"] == "registry.minnova.io/storefront:2.0.1"  # unchanged tag: not even asked
    assert [f"{c.repository}:{c.tag}" for c in asked] == ["registry.minnova.io/oracle:1.4.2"]
    assert outputs["imageTags"]["oracle-prod"][0] == "1.4.1"  # what really runs is what the stack records
    images, _, _ = _program_with(previous, {"registry.minnova.io/oracle:1.4.2": True})
    assert images["oracle"] == "registry.minnova.io/oracle:1.4.2"


def test_the_program_stops_on_a_first_deploy_without_an_image_and_in_wait_mode():
    import pulumi

    with pytest.raises(Exception, match="has no image yet"):
        _program_with({"storefront-prod": ["2.0.1"], "catalog-prod": ["0.3.0"],
                       "ledger-prod": ["0.9.0"]},
                      {"registry.minnova.io/oracle:1.4.2": False})
    with pytest.raises(Exception, match="not built yet"):
        _program_with({"oracle-prod": ["1.4.1"], "storefront-prod": ["2.0.1"], "catalog-prod": ["0.3.0"],
                       "ledger-prod": ["0.9.0"]},
                      {"registry.minnova.io/oracle:1.4.2": False}, mode="wait")
    assert pulumi  # the run stops with the run's own error, before any resource


def test_the_gate_asks_with_the_credentials_each_apps_pods_pull_with():
    """An app with its own pull credentials (minnova:appRegistryCredentials) is checked with them, the others with
    the stack's: one robot account per app can see only its own repositories."""
    from components.program import program
    from minnova_idp.load.inputs import load_inputs
    from minnova_idp.load.stack import from_stack_file
    from minnova_idp.plan.recorder import record
    from tests.conftest import PROJECT_DIR

    raw, secret_keys, file = from_stack_file(PROJECT_DIR, "prod")
    raw["minnova:registryCredentials"] = '{"auths": {"registry.minnova.io": {"username": "stack", "password": "s"}}}'
    raw["minnova:appRegistryCredentials"] = json.dumps(
        {"oracle": '{"auths": {"registry.minnova.io": {"username": "oracle-robot", "password": "o"}}}'})
    secret_keys = secret_keys | {"minnova:registryCredentials", "minnova:appRegistryCredentials"}
    inputs = load_inputs(PROJECT_DIR, raw, secret_keys, file)
    asked = {}

    def check_images(checks, credentials):
        for check in checks:
            asked[check.repository] = credentials["registry.minnova.io"][0]
        return {check.key: True for check in checks}

    async def run():
        return await program(inputs, check_images=check_images)

    record(run, project="minnova-idp", stack="prod", config=raw, secret_keys=secret_keys,
           stack_outputs={"imageTags": {"oracle-prod": ["0.0.1"], "storefront-prod": ["0.0.1"],
                                                "ledger-prod": ["0.0.1"]}})
    assert asked == {"registry.minnova.io/oracle": "oracle-robot", "registry.minnova.io/storefront": "stack",
                     "registry.minnova.io/catalog": "stack", "registry.minnova.io/ledger": "stack"}


# ---- pinning the platform's own images by digest (issue 25, item 7): scripts/refresh_image_digests.py ---------------

REFRESH = PROJECT_DIR / "scripts/refresh_image_digests.py"


def test_the_refresh_script_pins_a_tag_to_the_digest_of_what_the_registry_serves(registry):
    """The digest printed is the sha256 of the manifest the registry serves for the tag (read here independently),
    a stale pin is reported and fails --check, and a missing tag fails cleanly."""
    with urllib.request.urlopen(urllib.request.Request(
            f"http://{registry.host}/v2/team/app/manifests/v1",
            headers={"Accept": ", ".join(MANIFEST_MEDIA_TYPES)}), timeout=5) as response:
        served = "sha256:" + hashlib.sha256(response.read()).hexdigest()
    image = registry.repository("team/app:v1")

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(REFRESH), *args], capture_output=True, text=True, timeout=60)

    result = run("--image", f"app={image}")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"app = {image}@{served}  (newly pinned)\n"
    assert run("--check", "--image", f"app={image}@{served}").returncode == 0
    stale = run("--check", "--image", f"app={image}@sha256:{'0' * 64}")
    assert stale.returncode == 1 and f"was sha256:{'0' * 64}: the tag moved" in stale.stdout
    missing = run("--image", f"app={registry.repository('team/app:nope')}")
    assert missing.returncode == 1 and "does not exist" in missing.stderr and "Traceback" not in missing.stderr
    # A multi-platform image is pinned by its index (what `image@sha256:` must name to stay multi-platform).
    multi = run("--image", f"app={registry.repository('team/app:multi')}")
    with urllib.request.urlopen(urllib.request.Request(
            f"http://{registry.host}/v2/team/app/manifests/multi",
            headers={"Accept": ", ".join(MANIFEST_MEDIA_TYPES)}), timeout=5) as response:
        assert json.loads(response.read())["mediaType"] == MANIFEST_MEDIA_TYPES[0]
        assert response.headers["Docker-Content-Digest"] in multi.stdout
