"""minnova-idp render-preview, run the way Argo CD's plugin sidecar runs it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from minnova_idp.model import names
from minnova_idp.model.app_config import AppConfig
from minnova_idp.render.app import app_code_pods
from minnova_idp.policy.approval import APPROVAL_CONTEXT
from minnova_idp.render.argocd import PREVIEW_APP_PATHS, PREVIEW_APPROVAL, PREVIEW_PASSWORD_KEY, PREVIEW_SOURCE_PATH
from minnova_idp.render.preview import preview_request, render_preview

from tests.conftest import PROJECT_DIR, git
from tests.support.forge_api import TOKEN
from tests.support.k8s_strict import require_crds, validate_objects

KEYS = (PROJECT_DIR / "tests/fixtures/example-age-keys.txt").read_text().splitlines()
PREVIEW_KEY = KEYS[KEYS.index(next(line for line in KEYS if line.startswith("# oracle/preview"))) + 1]
PREVIEW_SECRET_VALUE = "example-preview-secret-key-base-22aa"
PROD_SECRET_VALUE = "example-prod-secret-key-base-d41b"
SIDECAR_PASSWORD_KEY = "0" * 64


def approve(forge, sha: str, app: str = "oracle", state: str = "success") -> None:
    """A maintainer's approval of exactly `sha` in the app's own repository (policy/approval.py)."""
    forge.post(f"minnova/{app}", sha, APPROVAL_CONTEXT, state)


@pytest.fixture
def checkout(tmp_path, forge) -> tuple[Path, str]:
    """A real git checkout of the example app at a PR head, as Argo CD's repo server has it; a maintainer approved
    that head (tests of the gate itself make their own commits)."""
    repo = tmp_path / "oracle"
    shutil.copytree(PROJECT_DIR / "examples/oracle", repo)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "PR head")
    head = git(repo, "rev-parse", "HEAD")
    approve(forge, head)
    return repo, head


def approval_settings(forge, apps=("oracle", "storefront", "sphinx")) -> str:
    """What argocd.approval_settings writes for a GitHub stack, pointing at the forge on 127.0.0.1."""
    return json.dumps({"provider": forge.provider, "api": forge.url,
                       "apps": {app: {"repository": f"minnova/{app}", "token": TOKEN} for app in apps}})


@pytest.fixture
def keys_dir(tmp_path, forge) -> Path:
    directory = tmp_path / "preview-keys"
    directory.mkdir()
    (directory / "oracle").write_text(PREVIEW_KEY + "\n")
    (directory / PREVIEW_PASSWORD_KEY).write_text(SIDECAR_PASSWORD_KEY)  # what argocd.preview_keys_secret gives it
    (directory / PREVIEW_APPROVAL).write_text(approval_settings(forge))
    return directory


def argocd_env(head: str, keys_dir: Path, app: str = "oracle", **overrides: str) -> dict[str, str]:
    """The environment Argo CD v3.4.4 gives the plugin for Application <app>-pr-123 of the ApplicationSet: the repo
    server's ARGOCD_APP_* (reposerver/repository/repository.go:1769-1783; ARGOCD_APP_NAMESPACE is the destination
    namespace), the plugin env as ARGOCD_ENV_*, and the sidecar's own MINNOVA_* set by the platform."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("ARGOCD_", "SOPS_", "MINNOVA_"))}
    env.update({
        "ARGOCD_APP_NAME": f"{app}-pr-123", "ARGOCD_APP_NAMESPACE": f"{app}-pr-123",
        "ARGOCD_APP_PROJECT_NAME": f"{app}-previews", "ARGOCD_APP_REVISION": head,
        "ARGOCD_APP_SOURCE_TARGET_REVISION": head, "ARGOCD_APP_SOURCE_PATH": PREVIEW_SOURCE_PATH,
        "ARGOCD_APP_SOURCE_REPO_URL": f"https://github.com/minnova/{app}.git",
        "ARGOCD_ENV_APP_NAME": app, "ARGOCD_ENV_PR_NUMBER": "123", "ARGOCD_ENV_HEAD_SHA": head,
        "MINNOVA_PREVIEW_DOMAIN": "preview.minnova.io", "MINNOVA_DEPLOYMENT": "minnova",
        "MINNOVA_INGRESS_CLASS": "traefik", "MINNOVA_PREVIEW_KEYS_DIR": str(keys_dir),
    })
    env.update(overrides)
    return {key: value for key, value in env.items() if value is not None}


def render(checkout: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Under Argo CD the plugin runs in the checkout's .git (the Application's path), which the sidecar receives
    empty (argocd.REPO_SERVER_PARAMS); without ARGOCD_APP_SOURCE_PATH, a local run in the checkout."""
    cwd = checkout
    if env.get("ARGOCD_APP_SOURCE_PATH") == PREVIEW_SOURCE_PATH:
        cwd = checkout / PREVIEW_SOURCE_PATH
        cwd.mkdir(exist_ok=True)
    return subprocess.run([sys.executable, "-m", "minnova_idp.cli", "render-preview"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


def test_preview_of_pr_123(checkout, keys_dir):
    repo, head = checkout
    result = render(repo, argocd_env(head, keys_dir))
    assert result.returncode == 0, result.stderr
    objects = list(yaml.safe_load_all(result.stdout))
    by_kind = {obj["kind"]: obj for obj in objects}
    assert objects[0] == by_kind["Namespace"] and by_kind["Namespace"]["metadata"]["name"] == "oracle-pr-123"
    for obj in objects[1:]:
        assert obj["metadata"]["namespace"] == "oracle-pr-123"
    deployments = {obj["metadata"]["name"]: obj for obj in objects if obj["kind"] == "Deployment"}
    assert set(deployments) == {"oracle", "oracle-worker", "oracle-api", "oracle-redis"}
    container = deployments["oracle"]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == f"registry.minnova.io/oracle:{head}"  # head SHA, not the pinned tag
    assert deployments["oracle"]["spec"]["replicas"] == 1
    assert by_kind["Ingress"]["spec"]["rules"][0]["host"] == "oracle-pr-123.preview.minnova.io"
    assert by_kind["Ingress"]["spec"]["tls"] == [{"hosts": ["oracle-pr-123.preview.minnova.io"]}]
    assert "annotations" not in by_kind["Ingress"]["metadata"]  # the wildcard certificate serves it
    cluster = by_kind["Cluster"]["spec"]
    assert cluster["instances"] == 1 and cluster["storage"]["size"] == "1Gi"
    assert "plugins" not in cluster and "ObjectStore" not in by_kind and "ScheduledBackup" not in by_kind
    secrets = {obj["metadata"]["name"]: obj for obj in objects if obj["kind"] == "Secret"}
    assert secrets["oracle-secrets"]["stringData"]["SECRET_KEY_BASE"] == PREVIEW_SECRET_VALUE
    assert {"ResourceQuota", "LimitRange", "NetworkPolicy"} <= set(by_kind)
    assert "PodDisruptionBudget" not in by_kind
    # Its internal service runs for the preview's own pods; no path to or from another app (ADR 0016).
    assert any(obj["kind"] == "Service" and obj["metadata"]["name"] == "oracle-api" for obj in objects)
    assert not any(obj["kind"] == "NetworkPolicy" and obj["metadata"]["name"].startswith(("allow.", "allow-to."))
                   for obj in objects)
    require_crds()
    validate_objects(objects)


def test_render_preview_loads_only_what_a_preview_needs(checkout, keys_dir):
    """Its cold start runs on every Argo CD refresh (issue 21, docs/benchmarks.md): never the stack's or the
    registry's models, the git loader, the plan or pulumi; only its own command's parser."""
    repo, head = checkout
    code = ("import sys\nfrom minnova_idp.cli.main import main\nstatus = main(sys.argv[1:])\n"
            "print('MODULES', *sorted(m for m in sys.modules if m.startswith(('minnova_idp', 'pulumi'))), "
            "file=sys.stderr)\nsys.exit(status)\n")
    result = subprocess.run([sys.executable, "-c", code, "render-preview", "--app", "oracle", "--pr", "123",
                             "--head-sha", head, "--preview-domain", "preview.minnova.io", "--deployment", "minnova",
                             "--ingress-class", "traefik", "--keys-dir", str(keys_dir)],
                            cwd=repo, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "kind: Cluster" in result.stdout  # it rendered the whole preview (database, secrets, Redis)
    loaded = set(result.stderr.split("MODULES", 1)[1].split())
    assert {"minnova_idp.sops.document", "minnova_idp.render.preview", "minnova_idp.model.app_config"} <= loaded
    assert not loaded & {"minnova_idp.model.stack_settings", "minnova_idp.model.stack", "minnova_idp.model.inputs",
                         "minnova_idp.model.registry", "minnova_idp.load.git", "minnova_idp.load.inputs",
                         "minnova_idp.plan.recorder", "pulumi"}


def test_network_policy_admits_only_own_pods_and_non_app_namespaces(checkout, keys_dir):
    repo, head = checkout
    rendered = list(yaml.safe_load_all(render(repo, argocd_env(head, keys_dir)).stdout))
    objects = {o["kind"]: o for o in rendered}
    policies = {o["metadata"]["name"]: o["spec"] for o in rendered if o["kind"] == "NetworkPolicy"}
    policy = policies["deny-other-apps"]
    # Every pod but Valkey, which a policy of its own confines to the app's pods.
    assert policy["podSelector"] == {"matchExpressions": [
        {"key": "app.kubernetes.io/component", "operator": "NotIn", "values": ["redis"]}]}
    assert policy["policyTypes"] == ["Ingress"]
    (rule,) = policy["ingress"]
    assert rule["from"][0] == {"podSelector": {}}
    assert rule["from"][1]["namespaceSelector"]["matchExpressions"] == [
        {"key": "app.kubernetes.io/managed-by", "operator": "NotIn", "values": ["minnova-idp"]}]
    # Every app namespace carries the label the policy excludes.
    assert objects["Namespace"]["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "minnova-idp"


def test_egress_of_the_pull_requests_code_is_dns_its_database_and_the_internet(checkout, keys_dir):
    import ipaddress

    repo, head = checkout
    rendered = list(yaml.safe_load_all(render(repo, argocd_env(head, keys_dir)).stdout))
    (policy,) = [o["spec"] for o in rendered if o["metadata"]["name"] == "preview-egress"]
    (deployment,) = [o for o in rendered if o["kind"] == "Deployment" and o["metadata"]["name"] == "oracle"]
    # It selects the app's pods (the PR's code), not the database's, which must reach the Kubernetes API.
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert policy["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert policy["policyTypes"] == ["Egress"]
    dns, own, internet = policy["egress"]
    assert dns["to"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                          "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}]  # the resolver, no tunnel
    assert {p["port"] for p in dns["ports"]} == {53}
    assert own == {"to": [{"podSelector": {}}]}
    blocks = [peer["ipBlock"] for peer in internet["to"]]

    def reachable(address: str) -> bool:
        ip = ipaddress.ip_address(address)
        return any(ip in ipaddress.ip_network(b["cidr"]) and not any(ip in ipaddress.ip_network(e) for e in b["except"])
                   for b in blocks)

    for address in ("1.1.1.1", "140.82.112.3", "2606:4700:4700::1111"):
        assert reachable(address), address
    # Cloud metadata, other pods and services, nodes, loopback.
    for address in ("169.254.169.254", "fd00:ec2::254", "10.96.0.1", "10.244.3.7", "172.17.0.2", "192.168.1.10",
                    "100.64.0.1", "127.0.0.1", "fe80::1"):
        assert not reachable(address), address


@pytest.mark.parametrize("overrides,message", [
    # What a pull request can set (plugin env, through .argocd-source.yaml) may only repeat the trusted values.
    ({"ARGOCD_ENV_PR_NUMBER": "124"}, "pr_number: sources disagree: ARGOCD_APP_NAME='123', ARGOCD_ENV_PR_NUMBER='124'"),
    ({"ARGOCD_ENV_APP_NAME": "sphinx"}, "app: sources disagree"),
    ({"ARGOCD_ENV_HEAD_SHA": "f" * 40}, "head_sha: sources disagree"),
    ({"ARGOCD_ENV_PREVIEW_DOMAIN": "evil.example.com"}, "preview_domain: sources disagree"),
    ({"ARGOCD_ENV_INGRESS_CLASS": "public"}, "ingress_class: sources disagree"),
    ({"MINNOVA_DEPLOYMENT": None, "ARGOCD_ENV_DEPLOYMENT": "minnova"}, "ARGOCD_ENV_DEPLOYMENT alone is not trusted"),
    ({"MINNOVA_PREVIEW_DOMAIN": None}, "--preview-domain or MINNOVA_PREVIEW_DOMAIN: is not set"),
    # What Argo CD itself says of the Application.
    ({"ARGOCD_APP_PROJECT_NAME": "default"}, "ARGOCD_APP_PROJECT_NAME: 'default' is not a preview project"),
    ({"ARGOCD_APP_NAMESPACE": "kube-system"}, "is not a preview of oracle"),
    ({"ARGOCD_APP_NAME": "oracle-pr-0", "ARGOCD_APP_NAMESPACE": "oracle-pr-0"}, "is not a preview of oracle"),
    ({"ARGOCD_APP_NAME": "oracle-pr-12x", "ARGOCD_APP_NAMESPACE": "oracle-pr-12x"}, "is not a preview of oracle"),
    ({"ARGOCD_APP_REVISION": "f" * 40}, "ARGOCD_APP_REVISION: checked out"),
    ({"ARGOCD_APP_REVISION": "main", "ARGOCD_APP_SOURCE_TARGET_REVISION": "main", "ARGOCD_ENV_HEAD_SHA": "main"},
     "'main' is not a full commit SHA"),
    ({"MINNOVA_PREVIEW_DOMAIN": "https://x.io"}, "preview_domain: 'https://x.io' must be a bare host name"),
    ({"MINNOVA_PREVIEW_KEYS_DIR": "/nonexistent"}, "/nonexistent/approval.json: is missing"),
    # The preview cap (policy/preview_cap.py) fails closed: never rendered past a cap it could not check.
    ({"MINNOVA_PREVIEW_MAX_PER_APP": "5", "MINNOVA_PREVIEW_MAX_TOTAL": "50", "KUBERNETES_SERVICE_HOST": "127.0.0.1"},
     "could not list the preview Applications to check the preview cap"),
    ({"MINNOVA_PREVIEW_MAX_PER_APP": "0", "MINNOVA_PREVIEW_MAX_TOTAL": "50"},
     "MINNOVA_PREVIEW_MAX_PER_APP: '0' is not a whole number of previews"),
])
def test_any_error_exits_non_zero_with_empty_stdout(checkout, keys_dir, overrides, message):
    """Empty output reaching Argo CD would prune the whole preview: errors must never look like success."""
    repo, head = checkout
    result = render(repo, argocd_env(head, keys_dir, **overrides))
    assert result.returncode != 0
    assert result.stdout == ""
    assert message in result.stderr and "Traceback" not in result.stderr


def test_broken_app_yaml_in_the_pr(checkout, keys_dir):
    repo, head = checkout
    app_yaml = repo / ".minnova/app.yaml"
    app_yaml.write_text(app_yaml.read_text().replace("port: 4000", "port: 99999"))
    result = render(repo, argocd_env(head, keys_dir))
    assert result.returncode == 1 and result.stdout == "" and ".minnova/app.yaml:8: port:" in result.stderr


def test_preview_key_never_opens_prod_secrets(checkout, keys_dir):
    repo, head = checkout
    shutil.copy(repo / ".minnova/secrets/prod.enc.yaml", repo / ".minnova/secrets/preview.enc.yaml")
    result = render(repo, argocd_env(head, keys_dir))
    assert result.returncode == 1 and result.stdout == ""
    assert "is encrypted for age1" in result.stderr and PROD_SECRET_VALUE not in result.stderr


def test_pr_config_changes_are_previewed(checkout, keys_dir):
    repo, head = checkout
    app_yaml = repo / ".minnova/app.yaml"
    app_yaml.write_text(app_yaml.read_text().replace("port: 4000", "port: 4100"))
    objects = {(o["kind"], o["metadata"]["name"]): o for o in yaml.safe_load_all(render(repo, argocd_env(head, keys_dir)).stdout)}
    container = objects[("Deployment", "oracle")]["spec"]["template"]["spec"]["containers"][0]
    assert container["ports"][0]["containerPort"] == 4100


def test_app_without_database_or_secrets(tmp_path, keys_dir, forge):
    repo = tmp_path / "storefront"
    shutil.copytree(PROJECT_DIR / "examples/storefront", repo)
    app_yaml = repo / ".minnova/app.yaml"  # the example's uploads bucket off: an app with none of the three
    app_yaml.write_text(app_yaml.read_text().replace("storage:\n  enabled: true\n", ""))
    assert "storage:" not in app_yaml.read_text()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "head")
    head = git(repo, "rev-parse", "HEAD")
    approve(forge, head, "storefront")
    result = render(repo, argocd_env(head, keys_dir, app="storefront"))
    assert result.returncode == 0, result.stderr
    kinds = [o["kind"] for o in yaml.safe_load_all(result.stdout)]
    assert "Cluster" not in kinds and "Secret" not in kinds and "Deployment" in kinds


def test_longest_app_and_largest_pr_give_valid_names():
    app = AppConfig.model_validate({
        "name": "a" * names.APP_NAME_MAX, "image": {"repository": "r.io/x"}, "port": 80,
        "database": {"enabled": True},
        "environments": {"dev": {"host": "x.dev.example.com"}}})
    request = preview_request({"app": app.name, "pr_number": "9999999", "head_sha": "a" * 40,
                               "preview_domain": "preview.example.com", "deployment": "d",
                               "ingress_class": "traefik"}, {})
    objects = render_preview(app, request, None)
    assert len(request.namespace) <= 63 and len(request.host.split(".")[0]) <= 63
    require_crds()
    validate_objects(objects)


@pytest.mark.parametrize("link", [".minnova/app.yaml", ".minnova/secrets/preview.enc.yaml", ".minnova/secrets",
                                  ".minnova/secrets/preview.d", ".minnova/secrets/preview.d/API_TOKEN.enc.yaml"])
def test_symlinks_in_the_pull_request_are_refused(checkout, keys_dir, tmp_path, link):
    """A PR must not point the renderer at the sidecar's keys (or any file outside its checkout)."""
    repo, head = checkout
    target = repo / link
    if "preview.d" in link:  # an overlay of `secrets set --env preview` (issue 24 item 6)
        (repo / ".minnova/secrets/preview.d").mkdir()
        (repo / ".minnova/secrets/preview.d/API_TOKEN.enc.yaml").write_text("stringData: {}\n")
    moved = tmp_path / "elsewhere"
    shutil.move(str(target), str(moved))
    target.symlink_to(moved)
    result = render(repo, argocd_env(head, keys_dir))
    assert result.returncode == 1 and result.stdout == ""
    assert ("is a symbolic link; previews read regular files only" in result.stderr
            or "must be a regular file (not a link" in result.stderr), result.stderr


@pytest.mark.parametrize("name", [".argocd-source.yaml", ".argocd-source-oracle-pr-123.yaml"])
def test_argocd_source_files_in_the_pull_request_are_refused(checkout, keys_dir, name):
    """Argo CD merges these into the Application (plugin env included) before the plugin runs."""
    repo, head = checkout
    (repo / name).write_text("plugin:\n  env:\n  - {name: APP_NAME, value: sphinx}\n")
    result = render(repo, argocd_env(head, keys_dir))
    assert result.returncode == 1 and result.stdout == ""
    assert f"{name}: Argo CD merges this file into the preview's Application" in result.stderr


def test_git_refuses_to_check_out_anything_under_dot_git(tmp_path):
    """Why the preview's source.path is .git: a commit whose tree holds `.git/.argocd-source.yaml` (which would
    otherwise make Argo CD apply the PR's raw YAML, argocd.PREVIEW_SOURCE_PATH) cannot be checked out at all."""
    repo = tmp_path / "pr"
    repo.mkdir()
    git(repo, "init", "-q")
    blob = subprocess.run(["git", "hash-object", "-w", "--stdin"], cwd=repo, input="plugin: null\ndirectory: {}\n",
                          capture_output=True, text=True, check=True).stdout.strip()
    inner = subprocess.run(["git", "mktree"], cwd=repo, input=f"100644 blob {blob}\t.argocd-source.yaml\n",
                           capture_output=True, text=True, check=True).stdout.strip()
    top = subprocess.run(["git", "mktree"], cwd=repo, input=f"040000 tree {inner}\t.git\n",
                         capture_output=True, text=True, check=True).stdout.strip()
    commit = subprocess.run(["git", "-c", "user.name=a", "-c", "user.email=a@example.com", "commit-tree", top, "-m",
                             "hostile"], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()
    result = subprocess.run(["git", "checkout", "--force", commit], cwd=repo, capture_output=True, text=True)
    assert result.returncode != 0 and "invalid path '.git/.argocd-source.yaml'" in result.stderr
    assert not (repo / ".git/.argocd-source.yaml").exists()


def test_under_argo_cd_only_the_dot_git_source_path_renders(checkout, keys_dir):
    """An Application whose path is anything else would have had the PR's .argocd-source*.yaml merged over it."""
    repo, head = checkout
    result = render(repo, argocd_env(head, keys_dir, ARGOCD_APP_SOURCE_PATH="."))
    assert result.returncode == 1 and result.stdout == ""
    assert "ARGOCD_APP_SOURCE_PATH: '.' is not .git" in result.stderr


def test_a_monorepo_app_is_found_where_the_platform_says(checkout, keys_dir):
    repo, head = checkout
    (repo / "services").mkdir()
    shutil.move(repo / ".minnova", repo / "services/oracle/.minnova")
    result = render(repo, argocd_env(head, keys_dir))
    assert result.returncode == 1 and ".minnova/app.yaml" in result.stderr  # not at the root any more
    (keys_dir / PREVIEW_APP_PATHS).write_text('{"oracle": "services/oracle"}')
    result = render(repo, argocd_env(head, keys_dir))
    assert result.returncode == 0, result.stderr
    # A link on the way is refused: it could lead the renderer out of the checkout.
    shutil.move(repo / "services", repo / "elsewhere")
    (repo / "services").symlink_to("elsewhere")
    result = render(repo, argocd_env(head, keys_dir))
    assert result.returncode == 1 and "services: is a symbolic link" in result.stderr


def test_a_pull_request_cannot_open_another_apps_key(checkout, keys_dir):
    """The attack of issue 11: a PR on oracle names itself sphinx (app.yaml and plugin env) to be rendered with
    sphinx's preview key. The key is chosen by the project Argo CD runs it in, and the sources disagree."""
    repo, head = checkout
    app_yaml = repo / ".minnova/app.yaml"
    app_yaml.write_text(app_yaml.read_text().replace("name: oracle", "name: sphinx"))
    (keys_dir / "sphinx").write_text("not read\n")
    (keys_dir / "sphinx").chmod(0)  # reading it would fail loudly
    result = render(repo, argocd_env(head, keys_dir, ARGOCD_ENV_APP_NAME="sphinx"))
    assert result.returncode == 1 and result.stdout == ""
    assert "app: sources disagree: ARGOCD_APP_PROJECT_NAME='oracle', ARGOCD_ENV_APP_NAME='sphinx'" in result.stderr
    # Without the forged plugin env, the name in the PR's app.yaml is simply not the app being previewed.
    result = render(repo, argocd_env(head, keys_dir))
    assert result.returncode == 1 and "'sphinx' is not the app this preview is for ('oracle')" in result.stderr


def test_flags_serve_local_runs_and_must_agree_with_argo_cd(checkout, keys_dir):
    repo, head = checkout
    flags = ["--app", "oracle", "--pr", "123", "--head-sha", head, "--preview-domain", "preview.minnova.io",
             "--deployment", "minnova", "--ingress-class", "traefik", "--keys-dir", str(keys_dir)]
    local = {k: v for k, v in os.environ.items() if not k.startswith(("ARGOCD_", "MINNOVA_"))}
    result = subprocess.run([sys.executable, "-m", "minnova_idp.cli", "render-preview", *flags], cwd=repo, env=local,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    result = subprocess.run([sys.executable, "-m", "minnova_idp.cli", "render-preview", *flags[:2], "--pr", "9"],
                            cwd=repo, env=argocd_env(head, keys_dir), capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "pr_number: sources disagree: --pr='9', ARGOCD_APP_NAME='123'" in result.stderr


def test_a_preview_database_is_seeded_from_the_pull_requests_own_files(checkout, keys_dir):
    repo, head = checkout
    (repo / ".minnova/seed").mkdir()
    (repo / ".minnova/seed/schema.sql").write_text("create table orders (id serial primary key);\n")
    (repo / ".minnova/seed/demo.sql").write_text("insert into orders default values;\n")
    app_yaml = repo / ".minnova/app.yaml"
    app_yaml.write_text(app_yaml.read_text().replace(
        "database: {enabled: true, size: 5Gi}",
        "database: {enabled: true, size: 5Gi, seed: {files: [seed/schema.sql, seed/demo.sql]}}"))
    result = render(repo, argocd_env(head, keys_dir))
    assert result.returncode == 0, result.stderr
    objects = {(o["kind"], o["metadata"]["name"]): o for o in yaml.safe_load_all(result.stdout)}
    seed = objects[("ConfigMap", "oracle-db-seed")]
    assert {k: v for k, v in seed["data"].items() if k.endswith(".sql")} == {
        "schema.sql": "create table orders (id serial primary key);\n", "demo.sql": "insert into orders default values;\n"}
    # Run by a Job as the database owner, never as a superuser in initdb (COPY ... FROM PROGRAM would run
    # commands in the database's pod).
    assert "postInitApplicationSQLRefs" not in objects[("Cluster", "oracle-db")]["spec"]["bootstrap"]["initdb"]
    job = objects[("Job", "oracle-db-seed")]
    waves = {(o["kind"], o["metadata"]["name"]): int(o["metadata"].get("annotations", {}).get(
        "argocd.argoproj.io/sync-wave", 0)) for o in objects.values()}
    # Argo CD applies wave by wave, each once the one before is healthy: the database (0), then the seed, then
    # the app (a Cluster or Namespace in a later wave would leave the seed waiting for a database never applied).
    assert waves[("Cluster", "oracle-db")] == 0 and waves[("Namespace", "oracle-pr-123")] == 0
    assert waves[("Cluster", "oracle-db")] < waves[("Job", "oracle-db-seed")] < waves[("Deployment", "oracle")]
    pod = job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["command"] == ["psql", "$(DATABASE_URL)", "--no-psqlrc", "-v", "ON_ERROR_STOP=1",
                                    "--single-transaction", "-f", "/seed/minnova-seed.psql"]
    # The script includes the files in the order database.seed.files names them (run for real: test_seed_psql.py).
    script = seed["data"]["minnova-seed.psql"]
    assert script.index("\\ir schema.sql") < script.index("\\ir demo.sql")
    assert container["env"][0]["valueFrom"] == {"secretKeyRef": {"name": "oracle-db-app", "key": "uri"}}
    assert pod["volumes"][0] == {"name": "seed", "configMap": {"name": "oracle-db-seed"}}
    assert pod["automountServiceAccountToken"] is False
    # Not one of the web pods (the Service selects name + instance), but under the app's egress policy (name).
    service = objects[("Service", "oracle")]["spec"]["selector"]
    labels = job["spec"]["template"]["metadata"]["labels"]
    assert any(labels.get(k) != v for k, v in service.items())
    app_config = AppConfig.model_validate(yaml.safe_load(app_yaml.read_text()))
    assert all(labels.get(k) == v for k, v in app_code_pods(app_config).items())
    require_crds()
    validate_objects(list(objects.values()))


@pytest.mark.parametrize("setup,message", [
    (lambda repo: None, ".minnova/seed/schema.sql: does not exist (hint: named by database.seed.files[0]"),
    (lambda repo: (repo / ".minnova/seed").mkdir() or (repo / ".minnova/seed/schema.sql").write_bytes(b"x" * 300_000),
     ".minnova/seed/schema.sql: is larger than 256 KiB, the limit for a seed file"),
    (lambda repo: (repo / ".minnova/seed").mkdir() or (repo / ".minnova/seed/schema.sql").symlink_to("/etc/passwd"),
     ".minnova/seed/schema.sql: must be a regular file"),
])
def test_bad_seed_files_are_named_and_nothing_is_rendered(checkout, keys_dir, setup, message):
    repo, head = checkout
    setup(repo)
    app_yaml = repo / ".minnova/app.yaml"
    app_yaml.write_text(app_yaml.read_text().replace(
        "database: {enabled: true, size: 5Gi}", "database: {enabled: true, size: 5Gi, seed: {files: [seed/schema.sql]}}"))
    result = render(repo, argocd_env(head, keys_dir))
    assert result.returncode == 1 and result.stdout == "" and message in result.stderr, result.stderr


# ---- the approval gate (issue 25, item 4): only a head commit a maintainer approved renders -------------------------

def new_commit(repo: Path, message: str) -> str:
    """A push to the pull request: a new head SHA."""
    (repo / "README.md").write_text(message + "\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def test_an_unapproved_head_never_renders_and_a_push_needs_its_own_approval(checkout, keys_dir, forge):
    """Before issue 25 the label admitted every later commit: render-preview rendered whatever head Argo CD asked for.
    Now the head SHA itself must carry the approval, so a push between the review and any refresh renders nothing
    (Argo CD keeps the last approved commit's objects: a failed generation prunes nothing)."""
    repo, approved = checkout
    assert render(repo, argocd_env(approved, keys_dir)).returncode == 0
    pushed = new_commit(repo, "a commit nobody reviewed")
    result = render(repo, argocd_env(pushed, keys_dir))
    assert result.returncode == 1 and result.stdout == ""
    assert f"commit {pushed} is not approved for a preview" in result.stderr
    assert f"gh api repos/minnova/oracle/statuses/{pushed}" in result.stderr  # says how, for exactly that SHA
    # An approval of that SHA in the fork's own repository is the fork owner's: it does not count.
    forge.post("fork/oracle", pushed, APPROVAL_CONTEXT, "success")
    assert render(repo, argocd_env(pushed, keys_dir)).returncode == 1
    # Another context, or a pending one, is no approval either.
    forge.post("minnova/oracle", pushed, "ci/tests", "success")
    approve(forge, pushed, state="pending")
    assert render(repo, argocd_env(pushed, keys_dir)).returncode == 1
    approve(forge, pushed)
    assert render(repo, argocd_env(pushed, keys_dir)).returncode == 0
    # A later failure status on the same SHA revokes it (the newest status wins).
    approve(forge, pushed, state="failure")
    result = render(repo, argocd_env(pushed, keys_dir))
    assert result.returncode == 1 and "latest approval status is 'failure'" in result.stderr


def test_plugin_env_and_the_checkout_cannot_skip_the_gate(checkout, keys_dir, forge):
    repo, head = checkout
    pushed = new_commit(repo, "unreviewed")
    # What a pull request can rewrite (plugin env, via .argocd-source.yaml) says nothing about approval.
    result = render(repo, argocd_env(pushed, keys_dir, ARGOCD_ENV_HEAD_SHA=head, ARGOCD_ENV_APPROVED="true"))
    assert result.returncode == 1 and result.stdout == ""
    # Without the platform's settings nothing renders under Argo CD (fail closed).
    (keys_dir / PREVIEW_APPROVAL).unlink()
    result = render(repo, argocd_env(head, keys_dir))
    assert result.returncode == 1 and "approval.json: is missing" in result.stderr


def test_the_token_goes_to_the_configured_api_only_and_is_never_shown(checkout, keys_dir, forge):
    repo, head = checkout
    forge.redirect_to = "http://127.0.0.1:9/steal"
    result = render(repo, argocd_env(head, keys_dir))
    assert result.returncode == 1 and result.stdout == "" and "HTTP 302" in result.stderr
    assert TOKEN not in result.stderr and forge.requests == [f"/repos/minnova/oracle/commits/{head}/statuses?per_page=100"]
    # A wrong token: refused with the status code, never echoed.
    forge.redirect_to = None
    (keys_dir / PREVIEW_APPROVAL).write_text(approval_settings(forge).replace(TOKEN, "wrong-token"))
    result = render(repo, argocd_env(head, keys_dir))
    assert result.returncode == 1 and "HTTP 401" in result.stderr and "wrong-token" not in result.stderr


@pytest.mark.parametrize("provider", ["gitlab", "gitea", "forgejo"])
def test_every_provider_gets_the_same_gate(checkout, keys_dir, provider):
    """GitLab (project id, PRIVATE-TOKEN, `name`), Gitea and Forgejo (`token`, `context`/`status`): each provider's
    own shape, the same decision."""
    from tests.support.forge_api import serve

    repo, head = checkout
    other, server = serve(provider)
    try:
        repository = "42" if provider == "gitlab" else "minnova/oracle"
        settings = {"provider": provider, "api": other.url, "approvers": ["maintainer"],
                    "apps": {"oracle": {"repository": repository, "token": TOKEN}}}
        (keys_dir / PREVIEW_APPROVAL).write_text(json.dumps(settings))
        result = render(repo, argocd_env(head, keys_dir))
        assert result.returncode == 1 and f"commit {head} is not approved" in result.stderr
        other.post(repository, head, APPROVAL_CONTEXT, "success")
        result = render(repo, argocd_env(head, keys_dir))
        assert result.returncode == 0, result.stderr
        pushed = new_commit(repo, "pushed after the approval")
        assert render(repo, argocd_env(pushed, keys_dir)).returncode == 1
        other.post(repository, pushed, APPROVAL_CONTEXT, "success")
        assert render(repo, argocd_env(pushed, keys_dir)).returncode == 0
    finally:
        server.shutdown()
        server.server_close()


def test_a_local_run_deploys_nothing_and_needs_no_approval(checkout, keys_dir):
    """Without Argo CD (no ARGOCD_APP_*) render-preview prints for a person to read: no gate to pass."""
    repo, _ = checkout
    head = new_commit(repo, "local")
    env = {k: v for k, v in argocd_env(head, keys_dir).items() if not k.startswith("ARGOCD_")}
    result = subprocess.run([sys.executable, "-m", "minnova_idp.cli", "render-preview", "--app", "oracle", "--pr", "123",
                             "--head-sha", head], cwd=repo, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_a_preview_past_the_cap_renders_nothing_and_says_why(monkeypatch):
    """The wiring, with the Applications the loader would list (tests/load/test_preview_applications.py reads them)."""
    from minnova_idp import preview_plugin
    from minnova_idp.load import preview_applications
    from minnova_idp.model.errors import ConfigError
    from minnova_idp.policy.preview_cap import PreviewApplication

    listed = [PreviewApplication(f"oracle-pr-{n}", "oracle", f"2026-12-01T10:0{n}:00Z") for n in (1, 2, 3)]
    monkeypatch.setattr(preview_applications, "read_preview_applications", lambda environ: listed)
    environ = {"ARGOCD_APP_NAME": "oracle-pr-3", "MINNOVA_PREVIEW_MAX_PER_APP": "2", "MINNOVA_PREVIEW_MAX_TOTAL": "9"}
    with pytest.raises(ConfigError, match="refused by the preview cap: at most 2 previews of oracle run at once"):
        preview_plugin._refuse_past_the_cap("oracle", environ)
    preview_plugin._refuse_past_the_cap("oracle", {**environ, "ARGOCD_APP_NAME": "oracle-pr-2"})  # within the cap
    preview_plugin._refuse_past_the_cap("oracle", {"MINNOVA_PREVIEW_MAX_PER_APP": "2"})  # a local run: no cap


def test_one_value_overlays_are_merged_into_the_preview_secret(checkout, keys_dir, forge):
    """`secrets set/unset --env preview` files (issue 24 item 6) reach the preview as `pulumi up` merges them."""
    from minnova_idp.load.secret_overlays import tombstone_text
    from minnova_idp.sops import document as sops

    repo, _ = checkout
    recipient = sops.parse_identities(PREVIEW_KEY, "preview key")[0].recipient
    overlays = repo / ".minnova/secrets/preview.d"
    overlays.mkdir()
    (overlays / "API_TOKEN.enc.yaml").write_text(sops.encrypt_yaml({"stringData": {"API_TOKEN": "one-value"}},
                                                                   [recipient]))
    (overlays / "SECRET_KEY_BASE.unset").write_text(tombstone_text("SECRET_KEY_BASE", "preview"))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "one secret at a time")
    head = git(repo, "rev-parse", "HEAD")
    approve(forge, head)
    result = render(repo, argocd_env(head, keys_dir))
    assert result.returncode == 0, result.stderr
    secret = next(o for o in yaml.safe_load_all(result.stdout) if o["kind"] == "Secret"
                  and o["metadata"]["name"] == "oracle-secrets")
    assert secret["stringData"]["API_TOKEN"] == "one-value" and "SECRET_KEY_BASE" not in secret["stringData"]
    (overlays / "API_TOKEN.enc.yaml").write_text(sops.encrypt_yaml({"stringData": {"OTHER": "x"}}, [recipient]))
    result = render(repo, argocd_env(head, keys_dir))
    assert result.returncode != 0 and result.stdout == "" and "must hold exactly one value, API_TOKEN" in result.stderr


def _post(url: str, token: str) -> int:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="POST", headers={"PRIVATE-TOKEN": token}),
                                    timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_on_gitlab_only_an_approvers_api_status_with_the_source_branch_approves(checkout, keys_dir):
    """The documented command (policy/approval.how_to_approve) against GitLab's create-status rules
    (tests/support/forge_api.py): without `ref` a fork's commit is on no branch of the project (404); a CI job named
    like the approval (a fork's MR pipeline, started by an approver) never approves."""
    from minnova_idp.policy.approval import how_to_approve
    from tests.support.forge_api import serve

    repo, head = checkout
    gitlab, server = serve("gitlab", writers={"maria-token": "maria"})
    try:
        settings = {"provider": "gitlab", "api": gitlab.url, "approvers": ["maria"],
                    "apps": {"oracle": {"repository": "42", "token": TOKEN}}}
        (keys_dir / PREVIEW_APPROVAL).write_text(json.dumps(settings))
        # The fork's pipeline, run in the project, has a job `minnova/preview-approved` authored by maria.
        gitlab.post("42", head, APPROVAL_CONTEXT, "success", writer="maria", pipeline_source="merge_request_event",
                    ref="refs/merge-requests/7/head")
        result = render(repo, argocd_env(head, keys_dir))
        assert result.returncode == 1 and "a CI job does not approve" in result.stderr, result.stderr
        # The merge request's branch ran CI on that commit: a `push` pipeline of (feature, head). A status posted
        # with ref=feature joins it (create_commit_status_service.rb, first_matching_pipeline) and is refused.
        gitlab.pipeline("42", head, "feature", "push")
        command = how_to_approve("gitlab", gitlab.url, "42", head)
        url = command.split("'")[3]
        assert _post(url.split("&ref=")[0], "maria-token") == 404  # no ref: "References for commit" Not Found
        assert _post(url.replace("ref=minnova-preview-approval", "ref=feature"), "maria-token") == 201
        result = render(repo, argocd_env(head, keys_dir))
        assert result.returncode == 1 and "a CI job does not approve" in result.stderr, result.stderr
        assert _post(url, "maria-token") == 201  # the documented ref names no branch: an external pipeline
        result = render(repo, argocd_env(head, keys_dir))
        assert result.returncode == 0, result.stderr
        # The same API status by someone not listed does not count.
        other = new_commit(repo, "by ann")
        gitlab.post("42", other, APPROVAL_CONTEXT, "success", writer="ann", ref="feature")
        result = render(repo, argocd_env(other, keys_dir))
        assert result.returncode == 1 and "written by ann (not approvers)" in result.stderr
    finally:
        server.shutdown()
        server.server_close()


def test_the_approval_token_never_goes_over_plain_http(checkout, keys_dir, forge):
    repo, head = checkout
    settings = json.loads(approval_settings(forge))
    (keys_dir / PREVIEW_APPROVAL).write_text(json.dumps({**settings, "api": "http://gitlab.example.invalid/"}))
    result = render(repo, argocd_env(head, keys_dir))
    assert result.returncode == 1 and "is not an https:// URL" in result.stderr


def test_render_preview_reports_the_overlays_the_commit_carries(checkout, keys_dir):
    """rv24v: a PR can replace one preview secret (an overlay needs only the public recipient) beside values it
    cannot read; the rendered preview said nothing of it. Its log (stderr) names each overlay, never a value."""
    from minnova_idp.sops import document as sops

    repo, head = checkout
    recipient = sops.parse_identities(PREVIEW_KEY, "preview key")[0].recipient
    overlays = repo / ".minnova/secrets/preview.d"
    overlays.mkdir(parents=True)
    (overlays / "SMTP_HOST.enc.yaml").write_text(
        sops.encrypt_yaml({"stringData": {"SMTP_HOST": "mail.attacker.example"}}, [recipient]))
    result = render(repo, argocd_env(head, keys_dir))
    assert result.returncode == 0, result.stderr
    assert "carry 1 overlay(s) of .minnova/secrets/preview.d/ from this commit (set SMTP_HOST)" in result.stderr
    assert "mail.attacker.example" not in result.stderr


def test_a_pull_request_cannot_bring_mongodb_to_a_stack_that_does_not_offer_it():
    """policy/offered.py for previews: the sidecar's environment (argocd.sidecar_environment) says whether the stack
    offers MongoDB; a pull request turning `mongodb.enabled` on elsewhere is refused, naming the field."""
    from minnova_idp.load.validation import validate_document
    from minnova_idp.load.yamlsafe import load_yaml
    from minnova_idp.model.app_config import AppConfig
    from minnova_idp.model.errors import ConfigError
    from minnova_idp.preview_plugin import _refuse_mongodb_not_offered

    text = ("name: shop\nimage: {repository: ghcr.io/acme/shop}\nport: 8080\nmongodb: {enabled: true}\n"
            "environments:\n  dev: {host: shop.dev.acme.dev}\n")
    app = validate_document(AppConfig, load_yaml(text, "app.yaml"))
    with pytest.raises(ConfigError) as refused:
        _refuse_mongodb_not_offered(app, "shop/.minnova/app.yaml", {"MINNOVA_MONGODB_OFFERED": "false"})
    assert str(refused.value.problems[0]).startswith(
        "shop/.minnova/app.yaml: mongodb.enabled: this stack does not offer MongoDB")
    _refuse_mongodb_not_offered(app, "shop/.minnova/app.yaml", {"MINNOVA_MONGODB_OFFERED": "true"})
    _refuse_mongodb_not_offered(app, "shop/.minnova/app.yaml", {})  # a local run: plan checks the stack
