"""minnova-idp render-preview, run the way Argo CD's plugin sidecar runs it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from minnova_idp.core import names
from minnova_idp.core.app_config import AppConfig
from minnova_idp.core.preview import PreviewRequest, render_preview

from .conftest import PROJECT_DIR, git
from .k8s_strict import require_crds, validate_objects

KEYS = (PROJECT_DIR / "tests/fixtures/example-age-keys.txt").read_text().splitlines()
PREVIEW_KEY = KEYS[KEYS.index(next(line for line in KEYS if line.startswith("# oracle/preview"))) + 1]
PREVIEW_SECRET_VALUE = "example-preview-secret-key-base-22aa"
PROD_SECRET_VALUE = "example-prod-secret-key-base-d41b"


@pytest.fixture
def checkout(tmp_path) -> tuple[Path, str]:
    """A real git checkout of the example app at a PR head, as Argo CD's repo server has it."""
    repo = tmp_path / "oracle"
    shutil.copytree(PROJECT_DIR / "examples/oracle", repo)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "PR head")
    return repo, git(repo, "rev-parse", "HEAD")


@pytest.fixture
def keys_dir(tmp_path) -> Path:
    directory = tmp_path / "preview-keys"
    directory.mkdir()
    (directory / "oracle").write_text(PREVIEW_KEY + "\n")
    return directory


def argocd_env(head: str, keys_dir: Path, **overrides: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("ARGOCD_", "SOPS_", "MINNOVA_PREVIEW"))}
    env.update({
        "ARGOCD_APP_NAME": "oracle-pr-123", "ARGOCD_APP_NAMESPACE": "argocd", "ARGOCD_APP_REVISION": head,
        "ARGOCD_ENV_APP_NAME": "oracle", "ARGOCD_ENV_PR_NUMBER": "123", "ARGOCD_ENV_HEAD_SHA": head,
        "ARGOCD_ENV_PREVIEW_DOMAIN": "preview.minnova.io", "ARGOCD_ENV_DEPLOYMENT": "minnova",
        "ARGOCD_ENV_INGRESS_CLASS": "traefik", "MINNOVA_PREVIEW_KEYS_DIR": str(keys_dir),
    })
    env.update(overrides)
    return env


def render(cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
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
    container = by_kind["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == f"registry.minnova.io/oracle:{head}"  # head SHA, not the pinned tag
    assert by_kind["Deployment"]["spec"]["replicas"] == 1
    assert by_kind["Ingress"]["spec"]["rules"][0]["host"] == "oracle-pr-123.preview.minnova.io"
    assert by_kind["Ingress"]["spec"]["tls"] == [{"hosts": ["oracle-pr-123.preview.minnova.io"]}]
    assert "annotations" not in by_kind["Ingress"]["metadata"]  # the wildcard certificate serves it
    cluster = by_kind["Cluster"]["spec"]
    assert cluster["instances"] == 1 and cluster["storage"]["size"] == "1Gi"
    assert "plugins" not in cluster and "ObjectStore" not in by_kind and "ScheduledBackup" not in by_kind
    assert by_kind["Secret"]["stringData"]["SECRET_KEY_BASE"] == PREVIEW_SECRET_VALUE
    assert {"ResourceQuota", "LimitRange", "NetworkPolicy"} <= set(by_kind)
    assert "PodDisruptionBudget" not in by_kind
    require_crds()
    validate_objects(objects)


def test_network_policy_admits_only_own_pods_and_non_app_namespaces(checkout, keys_dir):
    repo, head = checkout
    objects = {o["kind"]: o for o in yaml.safe_load_all(render(repo, argocd_env(head, keys_dir)).stdout)}
    policy = objects["NetworkPolicy"]["spec"]
    assert policy["podSelector"] == {} and policy["policyTypes"] == ["Ingress"]
    (rule,) = policy["ingress"]
    assert rule["from"][0] == {"podSelector": {}}
    assert rule["from"][1]["namespaceSelector"]["matchExpressions"] == [
        {"key": "app.kubernetes.io/managed-by", "operator": "NotIn", "values": ["minnova-idp"]}]
    # Every app namespace carries the label the policy excludes.
    assert objects["Namespace"]["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "minnova-idp"


@pytest.mark.parametrize("overrides,message", [
    ({"ARGOCD_ENV_PR_NUMBER": ""}, "ARGOCD_ENV_PR_NUMBER: is not set"),
    ({"ARGOCD_ENV_PR_NUMBER": "12a"}, "ARGOCD_ENV_PR_NUMBER: '12a' is not a number"),
    ({"ARGOCD_ENV_PR_NUMBER": "0"}, "is not a pull request number"),
    ({"ARGOCD_ENV_HEAD_SHA": "main"}, "ARGOCD_ENV_HEAD_SHA: 'main' is not a full commit SHA"),
    ({"ARGOCD_APP_REVISION": "f" * 40}, "ARGOCD_APP_REVISION: checked out"),
    ({"ARGOCD_ENV_APP_NAME": "sphinx"}, "'oracle' is not the app this preview is for ('sphinx')"),
    ({"ARGOCD_ENV_PREVIEW_DOMAIN": "https://x.io"}, "ARGOCD_ENV_PREVIEW_DOMAIN:"),
    ({"MINNOVA_PREVIEW_KEYS_DIR": "/nonexistent"}, "there is no preview key for oracle"),
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
    objects = {o["kind"]: o for o in yaml.safe_load_all(render(repo, argocd_env(head, keys_dir)).stdout)}
    assert objects["Deployment"]["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] == 4100


def test_app_without_database_or_secrets(tmp_path, keys_dir):
    repo = tmp_path / "storefront"
    shutil.copytree(PROJECT_DIR / "examples/storefront", repo)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "head")
    head = git(repo, "rev-parse", "HEAD")
    result = render(repo, argocd_env(head, keys_dir, ARGOCD_ENV_APP_NAME="storefront"))
    assert result.returncode == 0, result.stderr
    kinds = [o["kind"] for o in yaml.safe_load_all(result.stdout)]
    assert "Cluster" not in kinds and "Secret" not in kinds and "Deployment" in kinds


def test_longest_app_and_largest_pr_give_valid_names():
    app = AppConfig.model_validate({
        "name": "a" * names.APP_NAME_MAX, "image": {"repository": "r.io/x"}, "port": 80,
        "database": {"enabled": True},
        "environments": {"dev": {"host": "x.dev.example.com"}}})
    request = PreviewRequest(app=app.name, pr_number=9_999_999, head_sha="a" * 40,
                             preview_domain="preview.example.com", deployment="d", ingress_class="traefik")
    assert request.problems() == []
    objects = render_preview(app, request, None)
    assert len(request.namespace) <= 63 and len(request.host.split(".")[0]) <= 63
    require_crds()
    validate_objects(objects)


@pytest.mark.parametrize("link", [".minnova/app.yaml", ".minnova/secrets/preview.enc.yaml", ".minnova/secrets"])
def test_symlinks_in_the_pull_request_are_refused(checkout, keys_dir, tmp_path, link):
    """A PR must not point the renderer at the sidecar's keys (or any file outside its checkout)."""
    repo, head = checkout
    target = repo / link
    moved = tmp_path / "elsewhere"
    shutil.move(str(target), str(moved))
    target.symlink_to(moved)
    result = render(repo, argocd_env(head, keys_dir))
    assert result.returncode == 1 and result.stdout == ""
    assert "is a symbolic link; previews read regular files only" in result.stderr
