"""An app's object storage (issue 26, item 1): a bucket and a token for it alone per environment, the S3 variables in
every container, previews in a bucket of their own, the guard row, and the S3 calls an app makes, run with the
injected variables against a real S3 server (moto) on 127.0.0.1."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from minnova_idp.model import names
from minnova_idp.model.errors import ConfigError
from minnova_idp.policy.guards import ROWS
from minnova_idp.render import storage as objects
from minnova_idp.render.app import app_objects
from minnova_idp.render.database import r2_bucket_resource
from minnova_idp.render.isolation import PRIVATE_RANGES
from minnova_idp.render.placement import RenderSettings, environment_placement
from minnova_idp.render.preview import PreviewRequest, render_preview
from minnova_idp.render.resources import AccountToken, FromToken, KubernetesObject, R2Bucket, plain
from tests.conftest import app_config_problems
from tests.render.test_redis import config as redis_config
from tests.support.k8s_strict import validate_objects

ACCOUNT = "0123456789abcdef0123456789abcdef"
SETTINGS = RenderSettings(deployment="acme", ingress_class="traefik", cluster_issuer=None, network_policies=True)
APP = """name: shop
image: {repository: ghcr.io/acme/shop}
port: 8080
storage: {enabled: true}
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
PREVIEW_FILE = json.dumps({"bucket": "acme-shop-previewstorage", "endpointURL": f"https://{ACCOUNT}.r2.cloudflarestorage.com",
                           "accessKeyId": "preview-key-id", "secretAccessKey": "preview-secret"})


def config(text: str = APP):
    return redis_config(text)


def declared(environment: str = "dev", protected: bool = False, text: str = APP) -> list:
    app = config(text)
    placement = environment_placement(app, environment, "1.0.0",
                                      storage=objects.storage_target(app, environment, "acme", ACCOUNT))
    return app_objects(app, placement, SETTINGS, protected=protected)


def by_kind(resources) -> dict:
    return {(o.manifest["kind"], o.manifest["metadata"]["name"]): o for o in resources if isinstance(o, KubernetesObject)}


def preview_storage(pr_number: int = 7):
    return objects.parse_preview_storage(PREVIEW_FILE, "keys/shop.storage.json", "shop", "acme", pr_number)


def preview(pr_number: int = 7) -> dict:
    request = PreviewRequest(**{**REQUEST.__dict__, "pr_number": pr_number})
    return {(o["kind"], o["metadata"]["name"]): o
            for o in render_preview(config(), request, None, storage=preview_storage(pr_number))}


def containers(manifest: dict) -> list[dict]:
    spec = manifest["spec"]
    pod = spec["jobTemplate"]["spec"]["template"] if manifest["kind"] == "CronJob" else spec["template"]
    return pod["spec"]["containers"]


def env_of(container: dict) -> dict:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


# ---- what each environment gets ------------------------------------------------------------------------------------

@pytest.mark.parametrize("environment,bucket", [("dev", "acme-shop-dev-objectstorage"),
                                                ("prod", "acme-shop-prod-objectstorage")])
def test_each_environment_gets_its_own_bucket_and_a_token_for_that_bucket_alone(environment, bucket):
    resources = declared(environment)
    (r2,) = [r for r in resources if isinstance(r, R2Bucket)]
    (token,) = [r for r in resources if isinstance(r, AccountToken)]
    assert r2.bucket == bucket and r2.name == f"shop-{environment}-storage"
    # Exactly one resource: this bucket (Cloudflare's bucket-scoped form), object read and write, no admin.
    assert token.resources == (f"com.cloudflare.edge.r2.bucket.{ACCOUNT}_default_{bucket}",)
    assert token.permission_groups == ("Workers R2 Storage Bucket Item Read", "Workers R2 Storage Bucket Item Write")
    assert r2.key in token.lifecycle.depends_on
    secret = by_kind(resources)[("Secret", "shop-storage")]
    assert isinstance(secret.manifest["stringData"], FromToken) and secret.manifest["stringData"].token == token.key
    data = secret.manifest["stringData"].recipe("token-id", "token-value")
    assert data == {"AWS_ACCESS_KEY_ID": "token-id",
                    "AWS_SECRET_ACCESS_KEY": hashlib.sha256(b"token-value").hexdigest()}


def test_dev_holds_no_key_to_prods_bucket():
    dev, prod = declared("dev"), declared("prod")
    dev_tokens = {t.resources for t in dev if isinstance(t, AccountToken)}
    prod_bucket = next(r.bucket for r in prod if isinstance(r, R2Bucket))
    assert dev_tokens and all(r2_bucket_resource(ACCOUNT, prod_bucket) not in each for each in dev_tokens)
    assert {o.manifest["metadata"]["namespace"] for o in dev if isinstance(o, KubernetesObject)
            and o.manifest["kind"] != "Namespace"} == {"shop-dev"}


@pytest.mark.parametrize("protected", [False, True])
def test_the_bucket_its_token_and_credentials_are_retained_and_protected_where_the_environment_is(protected):
    resources = declared("prod", protected=protected)
    kept = [r for r in resources if isinstance(r, (R2Bucket, AccountToken))] + [by_kind(resources)[("Secret", "shop-storage")]]
    assert len(kept) == 3
    for resource in kept:
        assert resource.lifecycle.retain_on_delete and resource.lifecycle.protect == protected, resource.name


def test_every_process_gets_the_s3_variables_with_the_keys_from_the_secret_and_waits_for_it():
    resources = declared("dev")
    found = by_kind(resources)
    secret = found[("Secret", "shop-storage")]
    release = next(k for k in found if k[0] == "Job")
    for key in [("Deployment", "shop"), ("Deployment", "shop-mailer"), ("CronJob", "shop-sweep"), release]:
        manifest = found[key].manifest
        (container,) = containers(manifest)
        env = env_of(container)
        assert {name: env[name] for name in names.STORAGE_ENV_VARS} == {
            "AWS_ENDPOINT_URL_S3": f"https://{ACCOUNT}.r2.cloudflarestorage.com",
            "S3_ENDPOINT": f"https://{ACCOUNT}.r2.cloudflarestorage.com",
            "S3_BUCKET": "acme-shop-dev-objectstorage", "S3_PREFIX": "",
            "AWS_REGION": "auto", "AWS_DEFAULT_REGION": "auto",
            "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required", "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required",
            "AWS_ACCESS_KEY_ID": {"secretKeyRef": {"name": "shop-storage", "key": "AWS_ACCESS_KEY_ID"}},
            "AWS_SECRET_ACCESS_KEY": {"secretKeyRef": {"name": "shop-storage", "key": "AWS_SECRET_ACCESS_KEY"}}}
        assert secret.key in found[key].lifecycle.depends_on, key
    # Without storage, none of it.
    without = by_kind(declared("dev", text=APP.replace("storage: {enabled: true}\n", "")))
    assert not set(names.STORAGE_ENV_VARS) & set(env_of(containers(without[("Deployment", "shop")].manifest)[0]))
    assert ("Secret", "shop-storage") not in without


def test_storage_env_names_are_the_reserved_ones():
    storage = objects.storage_target(config(), "dev", "acme", ACCOUNT)
    assert [e["name"] for e in objects.storage_env(config(), storage)] and \
        {e["name"] for e in objects.storage_env(config(), storage)} == set(names.STORAGE_ENV_VARS)


def test_objects_are_strictly_valid():
    validate_objects([plain(o.manifest) for o in declared("prod", protected=True) if isinstance(o, KubernetesObject)])
    validate_objects(list(preview().values()))


def test_a_public_r2_address_is_allowed_by_the_apps_egress_policy():
    """The app reaches <account>.r2.cloudflarestorage.com (Cloudflare's anycast addresses, public) through the
    egress policy's internet rule: none of Cloudflare's published ranges (www.cloudflare.com/ips/, as listed there;
    not fetched by this test) overlaps an address the policy excepts."""
    cloudflare = ["104.16.0.0/13", "104.24.0.0/14", "172.64.0.0/13", "162.158.0.0/15", "2606:4700::/32"]
    for cidr in cloudflare:
        network = ipaddress.ip_network(cidr)
        allowed = "0.0.0.0/0" if network.version == 4 else "::/0"
        assert not any(network.overlaps(ipaddress.ip_network(excepted)) for excepted in PRIVATE_RANGES[allowed]), cidr


# ---- names ------------------------------------------------------------------------------------------------------------

def test_bucket_names_fit_and_never_meet_a_backup_bucket():
    longest = ("d" * names.DEPLOYMENT_NAME_MAX, "a" * names.APP_NAME_MAX, "e" * names.ENV_NAME_MAX)
    for bucket in (names.storage_bucket(*longest), names.preview_storage_bucket(*longest[:2]),
                   names.storage_bucket("acme", "shop", "dev")):
        assert 3 <= len(bucket) <= 63 and names.DNS_LABEL_RE.match(bucket), bucket
        # A backup bucket `<deployment>-<app>-<env>` ends in an environment name (at most 10 characters).
        assert len(bucket.rsplit("-", 1)[1]) > names.ENV_NAME_MAX
    # A long name keeps its suffix and a hash of the whole name: two long names differing at the end stay apart.
    other = names.storage_bucket("d" * 20, "a" * 30, "e" * 9 + "f")
    assert other != names.storage_bucket(*longest) and other.endswith("-objectstorage")
    assert names.storage_bucket("acme", "shop", "dev") != names.storage_bucket("acme", "shop", "prod")


# ---- previews ---------------------------------------------------------------------------------------------------------

def test_a_preview_writes_under_its_own_prefix_in_its_apps_previews_bucket():
    objects_of_7 = preview(7)
    secret = objects_of_7[("Secret", "shop-storage")]
    assert secret["stringData"] == {"AWS_ACCESS_KEY_ID": "preview-key-id", "AWS_SECRET_ACCESS_KEY": "preview-secret"}
    env = env_of(containers(objects_of_7[("Deployment", "shop")])[0])
    assert env["S3_BUCKET"] == "acme-shop-previewstorage" and env["S3_PREFIX"] == "pr-7/"
    assert env_of(containers(preview(8)[("Deployment", "shop")])[0])["S3_PREFIX"] == "pr-8/"


def test_a_preview_never_declares_a_bucket_nor_accepts_an_environments():
    with pytest.raises(ValueError, match="previews bucket"):
        render_preview(config(), REQUEST, None, storage=objects.storage_target(config(), "dev", "acme", ACCOUNT))
    with pytest.raises(ValueError, match="previews bucket"):
        render_preview(config(), REQUEST, None, storage=None)
    dev_bucket = PREVIEW_FILE.replace("acme-shop-previewstorage", "acme-shop-dev-objectstorage")
    with pytest.raises(ConfigError, match="names a bucket or endpoint the platform never writes"):
        objects.parse_preview_storage(dev_bucket, "keys/shop.storage.json", "shop", "acme", 7)
    with pytest.raises(ConfigError, match="is not the previews' storage file"):
        objects.parse_preview_storage("{}", "keys/shop.storage.json", "shop", "acme", 7)


def test_the_stack_provisions_the_previews_bucket_and_its_token_for_the_sidecar():
    from minnova_idp.render import argocd
    from minnova_idp.render.resources import Lifecycle

    bucket, token, secret = objects.preview_storage_offer("shop", "acme", ACCOUNT, "argocd", (), Lifecycle(
        retain_on_delete=True))
    assert bucket.bucket == "acme-shop-previewstorage" and bucket.lifecycle.retain_on_delete
    # Running previews hold the token's key (their cleanup Job's too): turning storage off or removing the app
    # forgets the token and the sidecar's Secret, never revokes or deletes them (rv23 F2).
    assert token.lifecycle.retain_on_delete and secret.lifecycle.retain_on_delete
    assert token.resources == (r2_bucket_resource(ACCOUNT, "acme-shop-previewstorage"),)
    document = json.loads(secret.manifest["stringData"].recipe("id", "value")["storage.json"])
    parsed = objects.parse_preview_storage(json.dumps(document), "x", "shop", "acme", 3)
    assert (parsed.bucket, parsed.prefix, parsed.access_key_id) == ("acme-shop-previewstorage", "pr-3/", "id")
    volumes = {v["name"]: v for v in argocd.sidecar_volumes((), ("shop",))}
    sources = volumes[argocd.PREVIEW_KEYS_SECRET]["projected"]["sources"]
    assert {"secret": {"name": "minnova-preview-storage-shop", "optional": True,
                       "items": [{"key": "storage.json", "path": "shop.storage.json"}]}} in sources


def test_the_sidecar_still_reads_the_previews_storage_of_an_app_whose_storage_is_off(dev_plan):
    """The example's oracle has no storage (any more): its previews' Secret, retained when storage was turned off,
    is still mounted (optional), so a preview made with storage renders, and its cleanup hook with it, until it is
    closed. Before rv23 F2 the mount followed storage.enabled of the registered branch."""
    from minnova_idp.render import argocd
    from tests.conftest import resource_named

    assert not any(r.name == "oracle-preview-storage" for r in dev_plan.resources)  # nothing declared for it
    values = resource_named(dev_plan, "argocd").inputs["values"]
    volumes = {v["name"]: v for v in values["repoServer"]["volumes"]}
    sources = volumes[argocd.PREVIEW_KEYS_SECRET]["projected"]["sources"]
    assert {"secret": {"name": "minnova-preview-storage-oracle", "optional": True,
                       "items": [{"key": "storage.json", "path": "oracle.storage.json"}]}} in sources


def test_render_preview_reads_the_previews_bucket_the_stack_provisions(tmp_path, monkeypatch, capsys):
    import argparse

    from minnova_idp.preview_plugin import run

    repo = tmp_path / "app"
    (repo / ".minnova").mkdir(parents=True)
    (repo / ".minnova/app.yaml").write_text(APP)
    keys = tmp_path / "keys"
    keys.mkdir()
    monkeypatch.delenv("ARGOCD_APP_SOURCE_PATH", raising=False)
    args = argparse.Namespace(directory=str(repo), app="shop", pr="7", head_sha="a" * 40,
                              preview_domain="preview.acme.dev", deployment="acme", ingress_class="traefik",
                              keys_dir=str(keys))
    with pytest.raises(ConfigError) as caught:
        run(args)
    assert "storage.enabled: the platform gives shop's previews no bucket yet" in str(caught.value.problems[0])
    # With the file the stack provisions, the preview is rendered with it (the sidecar's copy, this preview's prefix).
    (keys / "shop.storage.json").write_text(PREVIEW_FILE)
    assert run(args) == 0
    import yaml

    rendered = {(o["kind"], o["metadata"]["name"]): o for o in yaml.safe_load_all(capsys.readouterr().out)}
    assert rendered[("Secret", "shop-storage")]["stringData"]["AWS_SECRET_ACCESS_KEY"] == "preview-secret"
    assert env_of(containers(rendered[("Deployment", "shop")])[0])["S3_PREFIX"] == "pr-7/"
    assert ("Job", "shop-storage-cleanup") in rendered
    (keys / "shop.storage.json").write_text(PREVIEW_FILE.replace("acme-shop-previewstorage", "acme-shop-prod-objectstorage"))
    with pytest.raises(ConfigError, match="never writes for shop's previews"):
        run(args)


# ---- what app developers may not set ---------------------------------------------------------------------------------

@pytest.mark.parametrize("change,field", [
    ("storage: {enabled: true}\nenv: {S3_BUCKET: mine}\n", "env.S3_BUCKET"),
    ("storage: {enabled: true}\nenv: {AWS_ACCESS_KEY_ID: x}\n", "env.AWS_ACCESS_KEY_ID"),
    ("storage: {enabled: yes-please}\n", "storage.enabled"),
    ("storage: {enabled: true, bucket: other}\n", "storage.bucket"),
])
def test_bad_storage_config_is_named(change, field):
    problems = app_config_problems(change)
    assert any(p.startswith(f"app.yaml:") and f" {field}: " in p for p in problems), problems


def test_an_environments_env_may_not_set_them_either():
    from minnova_idp.load.validation import validate_document
    from minnova_idp.load.yamlsafe import load_yaml
    from minnova_idp.model.app_config import AppConfig

    text = APP.replace("dev: {host: shop.dev.acme.dev}", "dev: {host: shop.dev.acme.dev, env: {AWS_ENDPOINT_URL_S3: x}}")
    with pytest.raises(ConfigError) as caught:
        validate_document(AppConfig, load_yaml(text, "app.yaml"))
    (problem,) = [str(p) for p in caught.value.problems]
    assert "environments.dev.env.AWS_ENDPOINT_URL_S3: is set by the platform from the app's bucket" in problem


def test_the_s3_variables_are_free_for_an_app_without_storage():
    from minnova_idp.load.validation import validate_document
    from minnova_idp.load.yamlsafe import load_yaml
    from minnova_idp.model.app_config import AppConfig

    validate_document(AppConfig, load_yaml(APP.replace("storage: {enabled: true}\n", "env: {S3_BUCKET: mine}\n"),
                                           "app.yaml"))


def test_a_secret_named_like_an_s3_variable_is_refused_only_beside_the_apps_own_bucket():
    from minnova_idp.load.secrets import document_problems

    document = {"apiVersion": "v1", "kind": "Secret", "stringData": {"AWS_SECRET_ACCESS_KEY": "elsewhere"}}
    (problem,) = document_problems(document, ".minnova/secrets/dev.enc.yaml", database=False, storage=True)
    assert str(problem).startswith(".minnova/secrets/dev.enc.yaml: stringData.AWS_SECRET_ACCESS_KEY: is set by the "
                                   "platform (the app has storage.enabled)")
    assert "elsewhere" not in str(problem)
    assert document_problems(document, "x", database=False, storage=False) == []


# ---- the guard row ------------------------------------------------------------------------------------------------------

def test_the_stack_records_each_bucket_and_refuses_a_new_empty_one_in_its_place():
    from minnova_idp.model.loaded import LoadedApp
    from minnova_idp.model.registry import RegistryEntry

    row = ROWS["storageBuckets"]
    app = config()
    assert row.value(app, "dev", {}, "acme") == "acme-shop-dev-objectstorage"
    assert row.value(config(APP.replace("storage: {enabled: true}\n", "")), "dev", {}, "acme") is None
    loaded = LoadedApp(entry=RegistryEntry(name="shop", local="examples/shop"), config=app, commit=None,
                       config_file="shop/.minnova/app.yaml")
    assert row.check(loaded, "dev", "acme-shop-dev-objectstorage", "acme-shop-dev-objectstorage") == []
    (problem,) = row.check(loaded, "dev", "old-shop-dev-objectstorage", "acme-shop-dev-objectstorage")
    assert str(problem).startswith("shop/.minnova/app.yaml: storage.enabled: dev would store objects in a new, empty "
                                   "bucket 'acme-shop-dev-objectstorage' in place of 'old-shop-dev-objectstorage'")
    assert row.malformed("acme-shop-dev-objectstorage") is None and row.malformed("UPPER") is not None


# ---- the real thing: the S3 calls an app makes, with the variables it is given --------------------------------------

APP_SCRIPT = r"""
import os, boto3
# The app passes nothing: the SDK reads endpoint, keys and region from the environment it was given.
s3 = boto3.client("s3")
bucket, prefix = os.environ["S3_BUCKET"], os.environ["S3_PREFIX"]
s3.put_object(Bucket=bucket, Key=prefix + "uploads/a.txt", Body=b"hello")
body = s3.get_object(Bucket=bucket, Key=prefix + "uploads/a.txt")["Body"].read()
listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]
s3.delete_object(Bucket=bucket, Key=prefix + "uploads/a.txt")
after = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("KeyCount")
print(body.decode(), ",".join(listed), after, s3.meta.region_name, s3.meta.endpoint_url)
"""


def _engine_python() -> tuple[str, str]:
    """(a Python with boto3, moto_server), from MINNOVA_PGENGINE_VENV (.ci/run) or this venv; '' when absent. The
    harness's own boto3 calls (MotoS3.client) import it in this process: from the engine venv's site-packages, which
    `_engine_imports` appends to sys.path (without it, a .venv without boto3 fails instead of using the engine's)."""
    from tests.support.pgengine import ENGINE_VENV, _engine_imports, tool

    if _engine_imports():
        return "", ""

    python = str(Path(ENGINE_VENV) / "bin" / "python") if ENGINE_VENV else sys.executable
    probe = subprocess.run([python, "-c", "import boto3"], capture_output=True, timeout=60)
    return (python if probe.returncode == 0 else ""), tool("moto_server")


@pytest.mark.integration
@pytest.mark.parametrize("where", ["dev", "preview"])
def test_an_app_stores_and_reads_objects_with_the_injected_variables_on_a_real_s3_server(tmp_path, where):
    from tests.support.pgengine import MotoS3

    python, moto = _engine_python()
    if not python or not moto:
        pytest.skip("boto3 and moto[server] missing (MINNOVA_PGENGINE_VENV, a venv .ci/run builds with both)")
    if where == "dev":
        found = by_kind(declared("dev"))
        secret = found[("Secret", "shop-storage")].manifest["stringData"].recipe("token-id", "token-value")
        container = containers(found[("Deployment", "shop")].manifest)[0]
    else:
        found = preview(7)
        secret = found[("Secret", "shop-storage")]["stringData"]
        container = containers(found[("Deployment", "shop")])[0]
    env = {}
    for entry in container["env"]:  # what the kubelet would give the container
        ref = entry.get("valueFrom", {}).get("secretKeyRef")
        env[entry["name"]] = secret[ref["key"]] if ref else entry["value"]
    s3 = MotoS3(tmp_path / "moto.log")
    s3.start()
    try:
        s3.create_bucket(env["S3_BUCKET"])  # what the stack's R2Bucket (or the previews' bucket) is
        # R2's address stands in for 127.0.0.1: the one value changed.
        env["AWS_ENDPOINT_URL_S3"] = s3.endpoint_url
        clean = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
        result = subprocess.run([python, "-c", APP_SCRIPT], env={**clean, **env, "HOME": str(tmp_path)},
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr[-2000:]
        body, listed, after, region, endpoint = result.stdout.split()
        prefix = env["S3_PREFIX"]
        assert (body, listed, after, region, endpoint) == ("hello", f"{prefix}uploads/a.txt", "0", "auto",
                                                           s3.endpoint_url)
    finally:
        s3.stop()


# ---- a preview's objects go with it ---------------------------------------------------------------------------------

def test_a_preview_deletes_its_prefix_in_a_pre_delete_hook_and_an_environment_never_does():
    hook = preview(7)[("Job", "shop-storage-cleanup")]
    assert hook["metadata"]["annotations"]["argocd.argoproj.io/hook"] == "PreDelete"
    pod = hook["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    assert container["image"] == f"ghcr.io/cloudnative-pg/plugin-barman-cloud-sidecar:v0.14.0"
    assert container["command"][:2] == ["/venv/bin/python3", "-c"]
    env = env_of(container)
    assert env["S3_PREFIX"] == "pr-7/" and env["AWS_ACCESS_KEY_ID"]["secretKeyRef"]["name"] == "shop-storage"
    # The preview's egress policy (the app's pods) lets it reach R2; the app's Service does not select it.
    assert pod["metadata"]["labels"]["app.kubernetes.io/name"] == "shop"
    assert pod["metadata"]["labels"]["app.kubernetes.io/instance"] != "shop-pr-7"
    for environment in ("dev", "prod"):
        assert not [k for k in by_kind(declared(environment)) if k[1].endswith("storage-cleanup")]
    assert "processes.storage-cleanup: 'storage-cleanup' is reserved" in " ".join(
        app_config_problems("processes:\n  storage-cleanup: {command: [x]}\n"))


@pytest.mark.integration
def test_the_cleanup_hook_deletes_its_preview_prefix_and_nothing_else_on_a_real_s3_server(tmp_path):
    from tests.support.pgengine import MotoS3

    python, moto = _engine_python()
    if not python or not moto:
        pytest.skip("boto3 and moto[server] missing (MINNOVA_PGENGINE_VENV, a venv .ci/run builds with both)")
    found = preview(7)
    secret = found[("Secret", "shop-storage")]["stringData"]
    (container,) = found[("Job", "shop-storage-cleanup")]["spec"]["template"]["spec"]["containers"]
    env = {}
    for entry in container["env"]:
        ref = entry.get("valueFrom", {}).get("secretKeyRef")
        env[entry["name"]] = secret[ref["key"]] if ref else entry["value"]
    s3 = MotoS3(tmp_path / "moto.log")
    s3.start()
    try:
        client = s3.client()
        bucket = env["S3_BUCKET"]
        client.create_bucket(Bucket=bucket)
        keys = [f"pr-7/uploads/{n}.txt" for n in range(1105)] + ["pr-70/keep.txt", "pr-8/keep.txt", "top.txt"]
        for key in keys:
            client.put_object(Bucket=bucket, Key=key, Body=b"x")
        client.create_multipart_upload(Bucket=bucket, Key="pr-7/big.bin")
        env["AWS_ENDPOINT_URL_S3"] = s3.endpoint_url
        clean = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
        result = subprocess.run([python, *container["command"][1:]], env={**clean, **env, "HOME": str(tmp_path)},
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-2000:]
        assert result.stdout.strip() == f"deleted 1105 objects under s3://{bucket}/pr-7/"
        left = sorted(o["Key"] for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
                      for o in page.get("Contents", []))
        assert left == ["pr-70/keep.txt", "pr-8/keep.txt", "top.txt"]
        assert not client.list_multipart_uploads(Bucket=bucket).get("Uploads")
        # A prefix that is not a preview's is refused before anything is listed.
        refused = subprocess.run([python, *container["command"][1:]], env={**clean, **env, "S3_PREFIX": ""},
                                 capture_output=True, text=True, timeout=120)
        assert refused.returncode == 1 and "not a preview's prefix" in refused.stderr
    finally:
        s3.stop()


# Run by the engine venv's Python against moto with its IAM checks on: an admin key, a key with no rights, the bucket
# with one object of pr-7; then the requests moto takes unchecked are used up. Prints the two keys as JSON.
_MOTO_IAM_SETUP = """
import json, sys, boto3, botocore.exceptions
url, bucket = sys.argv[1], sys.argv[2]
def client(service, key="unchecked", secret="unchecked"):
    return boto3.client(service, endpoint_url=url, region_name="us-east-1", aws_access_key_id=key,
                        aws_secret_access_key=secret)
iam = client("iam")
iam.create_user(UserName="admin")
iam.put_user_policy(UserName="admin", PolicyName="all", PolicyDocument=json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
admin = iam.create_access_key(UserName="admin")["AccessKey"]
iam.create_user(UserName="no-rights")
none = iam.create_access_key(UserName="no-rights")["AccessKey"]
for _ in range(20):
    try:
        client("s3").list_buckets()
    except botocore.exceptions.ClientError:
        break
else:
    raise SystemExit("moto never started checking keys")
s3 = client("s3", admin["AccessKeyId"], admin["SecretAccessKey"])
s3.create_bucket(Bucket=bucket)
s3.put_object(Bucket=bucket, Key="pr-7/a.txt", Body=b"x")
print(json.dumps({"admin": [admin["AccessKeyId"], admin["SecretAccessKey"]],
                  "none": [none["AccessKeyId"], none["SecretAccessKey"]]}))
"""
_MOTO_LEFT = """
import sys, boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1", aws_access_key_id=sys.argv[3],
                  aws_secret_access_key=sys.argv[4])
print(sorted(o["Key"] for o in s3.list_objects_v2(Bucket=sys.argv[2]).get("Contents", [])))
"""


@pytest.mark.integration
def test_the_cleanup_hook_lets_the_deletion_proceed_when_the_bucket_or_its_key_is_gone(tmp_path, monkeypatch):
    """A failed PreDelete hook is deleted and re-run and the Application's deletion waits for it, forever (argo-cd
    v3.4.4 controller/hook.go:218-227, appcontroller.go:1241-1252): a bucket removed by hand or a key revoked
    (NoSuchBucket, InvalidAccessKeyId, SignatureDoesNotMatch, AccessDenied: moto's own answers with its IAM checks
    on) would wedge the preview's deletion. The hook says so loudly and succeeds; any other failure still fails it (retried)."""
    from tests.support.pgengine import ENGINE_VENV, MotoS3

    python, moto = _engine_python()
    if not ENGINE_VENV or not python or not moto:
        pytest.skip("needs the pinned boto3 and moto[server] pair (MINNOVA_PGENGINE_VENV, the venv .ci/run builds): "
                    "moto's key checks differ between versions")
    found = preview(7)
    secret = found[("Secret", "shop-storage")]["stringData"]
    (container,) = found[("Job", "shop-storage-cleanup")]["spec"]["template"]["spec"]["containers"]
    env = {entry["name"]: secret[entry["valueFrom"]["secretKeyRef"]["key"]] if "valueFrom" in entry else entry["value"]
           for entry in container["env"]}
    bucket = env["S3_BUCKET"]
    clean = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    # moto checks keys against its IAM after this many requests (its INITIAL_NO_AUTH_ACTION_COUNT).
    monkeypatch.setenv("INITIAL_NO_AUTH_ACTION_COUNT", "10")
    s3 = MotoS3(tmp_path / "moto.log")
    s3.start()
    try:
        setup = subprocess.run([python, "-c", _MOTO_IAM_SETUP, s3.endpoint_url, bucket], env=clean,
                               capture_output=True, text=True, timeout=120)
        assert setup.returncode == 0, setup.stderr[-2000:]
        keys = json.loads(setup.stdout)

        def cleanup(**overrides):
            return subprocess.run([python, *container["command"][1:]], capture_output=True, text=True, timeout=120,
                                  env={**clean, **env, "AWS_ENDPOINT_URL_S3": s3.endpoint_url, "HOME": str(tmp_path),
                                       **overrides})

        def key(name):
            return {"AWS_ACCESS_KEY_ID": keys[name][0], "AWS_SECRET_ACCESS_KEY": keys[name][1]}

        revoked = cleanup()  # the preview's key is one moto never issued: a revoked token
        no_rights = cleanup(**key("none"))
        rolled = cleanup(**{**key("admin"), "AWS_SECRET_ACCESS_KEY": "a-secret-that-no-longer-matches"})
        gone = cleanup(**key("admin"), S3_BUCKET="minnova-removed-by-hand")
        for result, code in ((revoked, "InvalidAccessKeyId"), (no_rights, "AccessDenied"),
                             (rolled, "SignatureDoesNotMatch"), (gone, "NoSuchBucket")):
            assert result.returncode == 0, result.stderr[-2000:]
            assert "NOT CLEANED" in result.stderr and f"({code}:" in result.stderr, result.stderr[-2000:]
        left = subprocess.run([python, "-c", _MOTO_LEFT, s3.endpoint_url, bucket, *keys["admin"]], env=clean,
                              capture_output=True, text=True, timeout=120)
        assert left.stdout.strip() == "['pr-7/a.txt']", left.stderr[-2000:]  # left, as logged
        # Anything else still fails the hook, so Argo CD retries it: R2 unreachable.
        s3.stop()
        down = cleanup(**key("admin"), AWS_MAX_ATTEMPTS="1")
        assert down.returncode != 0 and "NOT CLEANED" not in down.stderr
    finally:
        s3.stop()


# ---- the whole program, on a copy of the example project with storage on ------------------------------------------

def _plan_with_storage(tmp_path, stack: str, previous: dict | None = None):
    from minnova_idp.plan.recorder import run_plan
    from tests.conftest import project_copy

    project = project_copy(tmp_path)
    app_yaml = project / "examples/oracle/.minnova/app.yaml"
    app_yaml.write_text(app_yaml.read_text().replace("healthCheck:", "storage: {enabled: true}\nhealthCheck:", 1))
    return run_plan(project, stack, cache_dir=tmp_path / "cache", previous_outputs=previous)


@pytest.mark.integration
@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_plan_adds_only_storage_resources_validates_strictly_and_records_the_bucket(tmp_path, stack):
    from tests.conftest import PROJECT_DIR

    plan = _plan_with_storage(tmp_path, stack)
    golden = set((PROJECT_DIR / f"tests/golden/urns-{stack}.txt").read_text().split())
    urns = {r.urn for r in plan.resources}
    assert golden <= urns  # nothing of the example is renamed
    added = sorted(urn.rsplit("::", 1)[1] for urn in urns - golden)
    expected = [f"oracle-{stack}-secret-oracle-storage", f"oracle-{stack}-storage", f"oracle-{stack}-storage"]
    if stack == "dev":  # dev runs the previews: their bucket, token and the sidecar's Secret
        expected += ["oracle-preview-storage", "oracle-preview-storage", "oracle-previews-secret-minnova-preview-storage-oracle"]
    assert added == sorted(expected)
    validate_objects(plan.manifests())
    bucket = next(r for r in plan.resources if r.type == "cloudflare:index/r2Bucket:R2Bucket"
                  and r.name == f"oracle-{stack}-storage")
    assert bucket.inputs["name"] == f"minnova-oracle-{stack}-objectstorage" and bucket.retain_on_delete
    assert bucket.protect == (stack == "prod")
    secret = next(r for r in plan.resources if r.name == f"oracle-{stack}-secret-oracle-storage")
    assert set(secret.inputs["stringData"]) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    assert set(secret.inputs["stringData"].values()) == {"[secret]"}
    assert plan.outputs["storageBuckets"] == {f"oracle-{stack}": f"minnova-oracle-{stack}-objectstorage",
                                              # the example storefront's uploads (in the golden URNs)
                                              f"storefront-{stack}": f"minnova-storefront-{stack}-objectstorage"}
    # Each storage token, as Pulumi gets it, opens exactly its own bucket: the environment's, or the previews'.
    buckets = {r.name: r.inputs["name"] for r in plan.resources if r.type == "cloudflare:index/r2Bucket:R2Bucket"}
    tokens = {r.name: json.loads(r.inputs["policies"][0]["resources"]) for r in plan.resources
              if r.type == "cloudflare:index/accountToken:AccountToken" and r.name.endswith("storage")}
    assert tokens and all(scope == {f"com.cloudflare.edge.r2.bucket.{plan_account(plan)}_default_{buckets[name]}": "*"}
                          for name, scope in tokens.items()), tokens


def plan_account(plan) -> str:
    (account,) = {r.inputs["accountId"] for r in plan.resources if r.type == "cloudflare:index/r2Bucket:R2Bucket"}
    return account


@pytest.mark.integration
def test_a_deployed_bucket_is_never_swapped_for_a_new_empty_one(tmp_path):
    from minnova_idp.model.errors import ConfigError as Stop

    with pytest.raises(Stop) as caught:
        _plan_with_storage(tmp_path, "prod", previous={"storageBuckets": {"oracle-prod": "old-oracle-prod-objectstorage"}})
    # oracle's own problem; with no record of its last good config to keep it at (ADR 0012), the run stops
    problem, no_record = [str(p) for p in caught.value.problems]
    assert "storage.enabled: prod would store objects in a new, empty bucket 'minnova-oracle-prod-objectstorage' in " \
           "place of 'old-oracle-prod-objectstorage'" in problem
    assert no_record.startswith("appSources: oracle: the app is deployed")


def test_status_names_each_environments_bucket(tmp_path):
    from minnova_idp.cli.status import structured
    from minnova_idp.render.status import stack_status
    from tests.conftest import load_stack_inputs, project_copy

    project = project_copy(tmp_path)
    app_yaml = project / "examples/oracle/.minnova/app.yaml"
    app_yaml.write_text(app_yaml.read_text().replace("healthCheck:", "storage: {enabled: true}\nhealthCheck:", 1))
    storefront = project / "examples/storefront/.minnova/app.yaml"  # the example's storage off: no bucket
    storefront.write_text(storefront.read_text().replace("storage:\n  enabled: true\n", ""))
    inputs = load_stack_inputs(project, "prod")
    by_app = {row["app"]: row for row in structured(inputs, stack_status(inputs))}
    assert by_app["oracle"]["storage"] == {"bucket": "minnova-oracle-prod-objectstorage"}
    assert by_app["storefront"]["storage"] is None
