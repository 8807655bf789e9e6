"""An app's Redis (Valkey) per environment and per preview (issue 16): objects, password, isolation, and the rendered
config file run by a real server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from minnova_idp.load.validation import validate_document
from minnova_idp.load.yamlsafe import load_yaml
from minnova_idp.model.app_config import AppConfig
from minnova_idp.model.errors import ConfigError
from minnova_idp.model.secrets import SECRET_PLACEHOLDER
from minnova_idp.plan.recorder import run_plan, write_plan
from minnova_idp.render import redis as valkey
from minnova_idp.render.placement import RenderSettings, environment_placement
from minnova_idp.render.app import app_objects
from minnova_idp.render.preview import PreviewRequest, render_preview
from minnova_idp.render.resources import KubernetesObject, plain

from tests.conftest import PROJECT_DIR, app_config_problems, load_stack_inputs, project_copy, resource_named, stack_problems
from tests.support.k8s_strict import validate_objects

KEY = "k" * 64
SETTINGS = RenderSettings(deployment="acme", ingress_class="traefik", cluster_issuer=None, network_policies=True)
APP = """name: shop
image: {repository: ghcr.io/acme/shop}
port: 8080
redis: {enabled: true, persistence: {size: 2Gi}, resources: {requests: {memory: 64Mi}, limits: {memory: 100Mi}}}
processes:
  mailer: {command: [bin/mailer]}
cron:
  sweep: {schedule: "@hourly", command: [bin/sweep], previews: true}
release: {command: [bin/migrate]}
environments:
  dev: {host: shop.dev.acme.dev}
  prod: {host: shop.acme.dev}
"""
REQUEST = PreviewRequest(app="shop", pr_number=7, head_sha="a" * 40, preview_domain="preview.acme.dev",
                         deployment="acme", ingress_class="traefik")


def config(text: str = APP) -> AppConfig:
    return validate_document(AppConfig, load_yaml(text, "app.yaml"))


def declared(environment: str = "dev", protected: bool = False, text: str = APP) -> dict:
    app = config(text)
    placement = environment_placement(app, environment, "1.0.0", password_key=KEY)
    return {(o.manifest["kind"], o.manifest["metadata"]["name"]): o
            for o in app_objects(app, placement, SETTINGS, protected=protected) if isinstance(o, KubernetesObject)}


def preview(pr_number: int = 7) -> dict:
    request = PreviewRequest(**{**REQUEST.__dict__, "pr_number": pr_number})
    return {(o["kind"], o["metadata"]["name"]): o
            for o in render_preview(config(), request, None, password_key=valkey.preview_password_key(KEY))}


def secret_data(obj) -> dict:
    return plain(obj.manifest["stringData"] if isinstance(obj, KubernetesObject) else obj["stringData"])


def conf(text: str) -> dict[str, str]:
    """valkey.conf as directive -> arguments (one of each here)."""
    return dict(line.split(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))


def test_every_process_of_the_app_gets_redis_url_from_the_secret_and_waits_for_valkey():
    objects = declared()
    server = objects[("Deployment", "shop-redis")]
    for kind, name in [("Deployment", "shop"), ("Deployment", "shop-mailer"), ("CronJob", "shop-sweep")]:
        manifest = objects[(kind, name)].manifest
        pod = manifest["spec"]["jobTemplate"]["spec"]["template"] if kind == "CronJob" else manifest["spec"]["template"]
        env = {e["name"]: e for e in pod["spec"]["containers"][0]["env"]}
        assert env["REDIS_URL"] == {"name": "REDIS_URL", "valueFrom": {"secretKeyRef": {"name": "shop-redis",
                                                                                          "key": "url"}}}
        assert server.key in objects[(kind, name)].lifecycle.depends_on  # Pulumi waits for Valkey to be available
    (release,) = [o for (kind, name), o in objects.items() if kind == "Job" and name.startswith("shop-release-")]
    assert server.key in release.lifecycle.depends_on


def test_the_password_is_a_secret_derived_per_namespace_and_the_url_and_config_agree():
    dev, prod = (secret_data(declared(env)[("Secret", "shop-redis")]) for env in ("dev", "prod"))
    assert dev == secret_data(declared("dev")[("Secret", "shop-redis")])  # the same on every run
    assert dev["password"] != prod["password"] and len(dev["password"]) == 64
    assert dev["password"] == valkey.redis_password(KEY, "shop-dev")
    url = urlsplit(dev["url"])
    assert (url.scheme, url.password, url.hostname, url.port, url.path) == (
        "redis", dev["password"], "shop-redis.shop-dev.svc", 6379, "/0")
    directives = conf(dev["valkey.conf"])
    assert directives["requirepass"] == dev["password"]
    assert directives["maxmemory"] == str(100 * 1024 * 1024 * 80 // 100)
    assert directives["appendonly"] == "yes" and directives["maxmemory-policy"] == "noeviction"
    # Pulumi gets it as a secret: encrypted in state, [secret] in plans.
    assert type(declared()[("Secret", "shop-redis")].manifest["stringData"]).__name__ == "Secret"


def test_the_plan_shows_no_password(tmp_path, dev_plan):
    plan = dev_plan
    write_plan(plan, tmp_path / "plan")
    secret = resource_named(plan, "oracle-dev-secret-oracle-redis")
    assert set(secret.inputs["stringData"].values()) == {SECRET_PLACEHOLDER}
    # The example stack's key is a placeholder; the password derived from it appears nowhere in what was written.
    password = valkey.redis_password(SECRET_PLACEHOLDER, "oracle-dev")
    written = [p for p in (tmp_path / "plan").rglob("*") if p.is_file()]
    assert written and not any(password in p.read_text() for p in written)
    deployment = resource_named(plan, "oracle-dev-deployment-oracle-redis")
    assert secret.urn in deployment.dependencies
    assert resource_named(plan, "oracle-dev-deployment-oracle-redis").urn in resource_named(
        plan, "oracle-dev-deployment-oracle").dependencies


def test_the_volume_is_kept_and_protected_where_the_environment_is():
    claim = declared("prod", protected=True)[("PersistentVolumeClaim", "shop-redis")]
    assert claim.lifecycle.retain_on_delete and claim.lifecycle.protect
    assert claim.manifest["spec"]["resources"]["requests"]["storage"] == "2Gi"
    dev = declared("dev")[("PersistentVolumeClaim", "shop-redis")]
    assert dev.lifecycle.retain_on_delete and not dev.lifecycle.protect
    pod = declared("prod")[("Deployment", "shop-redis")].manifest["spec"]
    assert pod["strategy"] == {"type": "Recreate"} and pod["replicas"] == 1
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "shop-redis"}} in pod["template"]["spec"]["volumes"]
    memory_only = declared(text=APP.replace("persistence: {size: 2Gi}", "persistence: {enabled: false}"))
    assert ("PersistentVolumeClaim", "shop-redis") not in memory_only
    assert conf(secret_data(memory_only[("Secret", "shop-redis")])["valkey.conf"])["appendonly"] == "no"


def _selects(selector: dict, labels: dict) -> bool:
    """A LabelSelector (matchLabels, In/NotIn matchExpressions) against pod labels, as Kubernetes evaluates it."""
    if not all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        present = labels.get(expression["key"]) in expression["values"]
        if present != (expression["operator"] == "In"):
            return False
    return True


@pytest.mark.parametrize("where", ["dev", "preview"])
def test_only_the_apps_own_pods_reach_valkey_and_valkey_reaches_nothing(where):
    objects = ({key: o.manifest for key, o in declared().items()} if where == "dev" else preview())
    server_pod = objects[("Deployment", "shop-redis")]["spec"]["template"]["metadata"]["labels"]
    policies = {name: o["spec"] for (kind, name), o in objects.items() if kind == "NetworkPolicy"}
    selecting = {name for name, spec in policies.items() if _selects(spec["podSelector"], server_pod)}
    # Policies add up: were the namespace-wide one to select it, anything it admits would reach Valkey.
    assert selecting == {"shop-redis"}
    own = policies["shop-redis"]
    assert own["policyTypes"] == ["Ingress", "Egress"] and own["egress"] == []
    (rule,) = own["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 6379}]
    (source,) = rule["from"]
    assert "namespaceSelector" not in source  # this namespace only
    for (kind, name), manifest in objects.items():
        if kind in ("Deployment", "CronJob", "Job") and name != "shop-redis":
            spec = manifest["spec"]["jobTemplate"]["spec"] if kind == "CronJob" else manifest["spec"]
            assert _selects(source["podSelector"], spec["template"]["metadata"]["labels"]), name
    assert not _selects(source["podSelector"], server_pod)
    # Nor is Valkey an app pod: the web Service and the app's egress policy leave it alone.
    service = objects[("Service", "shop")]["spec"]["selector"]
    assert not _selects({"matchLabels": service}, server_pod)


def test_previews_get_a_memory_only_valkey_in_the_first_wave_with_a_stable_password():
    first, again, other = preview(7), preview(7), preview(8)
    assert first == again  # Argo CD re-renders on every refresh: nothing may change
    password = first[("Secret", "shop-redis")]["stringData"]["password"]
    assert password != other[("Secret", "shop-redis")]["stringData"]["password"]
    # The sidecar's key is derived for previews: what it opens, no stack environment's password is.
    assert password == valkey.redis_password(valkey.preview_password_key(KEY), "shop-pr-7")
    assert password != valkey.redis_password(KEY, "shop-pr-7")
    assert ("PersistentVolumeClaim", "shop-redis") not in first
    server = first[("Deployment", "shop-redis")]
    assert {"name": "data", "emptyDir": {"sizeLimit": "256Mi"}} in server["spec"]["template"]["spec"]["volumes"]
    assert "argocd.argoproj.io/sync-wave" not in server["metadata"].get("annotations", {})  # wave 0
    assert first[("Deployment", "shop")]["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"] == "3"
    validate_objects(list(first.values()))


def test_objects_are_strictly_valid_and_the_server_runs_hardened():
    objects = declared("prod", protected=True)
    validate_objects([plain(o.manifest) for o in objects.values()])
    pod = objects[("Deployment", "shop-redis")].manifest["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["runAsUser"] == 999
    (container,) = pod["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["image"] == "docker.io/valkey/valkey:9.0.4"
    assert container["command"] == ["valkey-server", "/etc/valkey/valkey.conf", "--dir", "/data"]


@pytest.mark.parametrize("change,field,message", [
    ("redis: {enabled: true, version: 7}\n", "redis.version", "8 or 9"),
    ("redis: {enabled: true, persistence: {size: 5GB}}\n", "redis.persistence.size", "5Gi"),
    ("redis: {enabled: true, persistence: {size: 1Ti}}\n", "redis.persistence.size", "more than a Redis volume"),
    ("redis: {enabled: true, resources: {limits: {memory: null}}}\n", "redis", "limits.memory is required"),
    ("redis: {enabled: true}\nenv: {REDIS_URL: redis://elsewhere}\n", "env.REDIS_URL", "is set by the platform"),
    ("processes:\n  redis: {command: [x]}\n", "processes.redis", "'redis' is reserved"),
])
def test_bad_redis_config_is_named(change, field, message):
    problems = app_config_problems(change)
    assert any(f"{field}: " in p and message in p for p in problems), problems


def test_a_stack_with_redis_needs_a_password_key(tmp_path):
    project = project_copy(tmp_path)
    stack = project / "Pulumi.dev.yaml"
    text = stack.read_text()
    start = text.index("  minnova:passwordKey:")
    stack.write_text(text[:start] + text[text.index("\n", text.index("secure:", start)) + 1:])
    (problem,) = [p for p in stack_problems(project) if "passwordKey" in p]
    assert ("Pulumi.dev.yaml: minnova:passwordKey: is required: the Redis, MySQL and MongoDB passwords of catalog, "
            "ledger, oracle derive from it") in problem
    weak = "short-but-secret"
    problems = stack_problems(project, extra={"minnova:passwordKey": weak}, secret={"minnova:passwordKey"})
    assert any("minnova:passwordKey: is shorter than 32 characters" in p for p in problems)
    assert not any(weak in p for p in problems)
    load_stack_inputs(project, extra={"minnova:passwordKey": KEY}, secret={"minnova:passwordKey"})


def test_a_preview_without_the_sidecar_key_is_refused():
    with pytest.raises(ConfigError) as caught:
        render_preview(config(), REQUEST, None, password_key=None)
    assert "redis.enabled: the preview needs a Redis password" in str(caught.value.problems[0])


# ---- the rendered config file, run by a real server ------------------------------------------------------------

def _server() -> str:
    """Valkey where installed; else Debian's redis-server 7.0, whose config grammar Valkey (a fork of Redis 7.2)
    keeps for every directive we write (valkey src/config.c)."""
    for name in ("valkey-server", "redis-server"):
        if shutil.which(name):
            return shutil.which(name)
    pytest.skip("neither valkey-server nor redis-server is installed (apt-get install redis-server; .ci/run does)")


def _command(sock: socket.socket, *words: str) -> bytes:
    sock.sendall(b"".join([f"*{len(words)}\r\n".encode(), *(f"${len(w)}\r\n{w}\r\n".encode() for w in words)]))
    reply = b""
    while not reply.endswith(b"\r\n") or (reply.startswith(b"*") and reply.count(b"\r\n") < 5):
        chunk = sock.recv(4096)
        if not chunk:
            break
        reply += chunk
    return reply


@pytest.mark.parametrize("where", ["preview", "dev"])
def test_the_rendered_config_runs_on_a_real_server_and_only_the_urls_password_opens_it(where):
    """The preview's config (memory only) and dev's (an append-only file), each run with the container's command.
    Only the listening address and port differ: a test server listens on 127.0.0.1 alone."""
    import tempfile

    server = _server()
    tmp_path = Path(tempfile.mkdtemp(prefix="minnova-valkey-"))  # not under pytest's root-only directory
    objects = preview() if where == "preview" else {key: plain(o.manifest) for key, o in declared().items()}
    data = objects[("Secret", "shop-redis")]["stringData"]
    (container,) = objects[("Deployment", "shop-redis")]["spec"]["template"]["spec"]["containers"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    conf_file = tmp_path / "valkey.conf"
    conf_file.write_text(data["valkey.conf"])
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    run_as = []
    if os.geteuid() == 0:  # as the image runs it: not as root
        if not shutil.which("runuser"):
            pytest.skip("running as root without runuser")
        run_as = ["runuser", "-u", "nobody", "--"]
        for path in (tmp_path, conf_file, data_dir):
            os.chown(path, 65534, 65534)
    # The container's command, its paths moved to the test's directories, plus a loopback address and a free port.
    moved = {f"{mounts['config']}/{valkey.CONFIG_KEY}": str(conf_file), mounts["data"]: str(data_dir),
             "valkey-server": server}
    command = [moved.get(word, word) for word in container["command"]]
    assert command[1:] == [str(conf_file), "--dir", str(data_dir)]
    process = subprocess.Popen([*run_as, *command, "--bind", "127.0.0.1", "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=2)
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the server did not start: {process.communicate()[0].decode()[-2000:]}")
                time.sleep(0.1)
        with sock:
            assert _command(sock, "PING").startswith(b"-NOAUTH")
            assert _command(sock, "AUTH", "wrong" * 10).startswith(b"-WRONGPASS")
            password = urlsplit(data["url"]).password
            assert _command(sock, "AUTH", password) == b"+OK\r\n"
            assert _command(sock, "SET", "k", "v") == b"+OK\r\n"
            maxmemory = _command(sock, "CONFIG", "GET", "maxmemory")
            limit = 128 if where == "preview" else 100
            assert str(limit * 1024 * 1024 * 80 // 100).encode() in maxmemory
            assert b"noeviction" in _command(sock, "CONFIG", "GET", "maxmemory-policy")
            appendonly = _command(sock, "CONFIG", "GET", "appendonly")
            assert (b"yes" if where == "dev" else b"no") in appendonly
            deadline = time.monotonic() + 10
            while where == "dev" and not any(data_dir.iterdir()) and time.monotonic() < deadline:
                time.sleep(0.1)  # the append-only file is created in the data directory
            assert any(data_dir.iterdir()) == (where == "dev")
            _command(sock, "SHUTDOWN", "NOSAVE")  # at once (SIGTERM through runuser takes seconds)
    finally:
        if process.poll() is None:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.terminate()
                process.wait(timeout=10)
        shutil.rmtree(tmp_path, ignore_errors=True)


def test_a_secret_named_redis_url_is_refused_only_beside_the_apps_own_redis():
    """Kubernetes lets `env` win over `envFrom`: with the app's own Redis, a REDIS_URL secret would be ignored. The
    same check runs wherever a secrets file is checked (validate, secrets encrypt, the stack, render-preview)."""
    from minnova_idp.load.secrets import document_problems

    document = {"apiVersion": "v1", "kind": "Secret", "stringData": {"REDIS_URL": "rediss://elsewhere"}}
    (problem,) = document_problems(document, ".minnova/secrets/dev.enc.yaml", database=False, redis=True)
    assert str(problem).startswith(".minnova/secrets/dev.enc.yaml: stringData.REDIS_URL: is set by the platform")
    assert "elsewhere" not in str(problem)
    assert document_problems(document, "x", database=False, redis=False) == []  # an outside Redis of the app's own


def test_validate_refuses_redis_url_in_the_secrets_of_an_app_with_redis(tmp_path):
    """validate checks encrypted files without keys: the names are readable in a sops file."""
    import sys

    repo = tmp_path / "app"
    shutil.copytree(PROJECT_DIR / "examples/oracle", repo)
    secrets = repo / ".minnova/secrets/dev.enc.yaml"
    secrets.write_text(secrets.read_text().replace("  SECRET_KEY_BASE: ENC[", "  REDIS_URL: ENC[", 1))
    result = subprocess.run([sys.executable, "-m", "minnova_idp.cli", "validate", str(repo)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 1 and "REDIS_URL: is set by the platform (the app has redis.enabled)" in result.stderr


def test_a_new_password_rolls_the_apps_long_running_processes_too():
    """Valkey restarts on a new config; the app's Deployments read REDIS_URL at start, so they must roll too."""
    def templates(key: str) -> dict:
        app = config()
        placement = environment_placement(app, "dev", "1.0.0", password_key=key)
        return {o.manifest["metadata"]["name"]: o.manifest["spec"]["template"]["metadata"].get("annotations", {})
                for o in app_objects(app, placement, SETTINGS)
                if isinstance(o, KubernetesObject) and o.manifest["kind"] == "Deployment"}

    before, after = templates(KEY), templates("z" * 64)
    assert set(before) == {"shop", "shop-mailer", "shop-redis"}
    for name in before:
        assert before[name] and before[name] != after[name], name
    assert before == templates(KEY)  # nothing rolls while the key stays


def test_a_smaller_redis_volume_than_deployed_is_refused_before_anything_registers():
    from minnova_idp.model.errors import ConfigError as Stop

    with pytest.raises(Stop) as caught:
        run_plan(PROJECT_DIR, "dev", previous_outputs={"redisSizes": {"oracle-dev": "5Gi"}})
    # No record of oracle's last good config to keep it at (ADR 0012): the run stops, as it always did.
    assert [str(p) for p in caught.value.problems][0] == (
        "examples/oracle/.minnova/app.yaml: redis.persistence.size: '2Gi' is smaller than the 5Gi deployed in dev; "
        "Redis volumes can grow but never shrink (hint: keep 5Gi or more)")
    assert [p.field for p in caught.value.problems] == ["redis.persistence.size", "oracle"]
    plan = run_plan(PROJECT_DIR, "dev", previous_outputs={"redisSizes": {"oracle-dev": "1Gi"}})  # growing is fine
    assert plan.outputs["redisSizes"] == {"oracle-dev": "2Gi"}
