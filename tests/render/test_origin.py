"""A preview's database as a masked copy of dev (`preview.database.from: dev`, issue 17): what the stack offers, what
render-preview makes of it, and what it refuses."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml

from minnova_idp.plan.recorder import run_plan
from minnova_idp.render import origin as origin_module
from minnova_idp.render.waves import SYNC_WAVE_ANNOTATION
from minnova_idp.render.sql_jobs import mask_script

from tests.conftest import project_copy, resource_named, stack_problems
from tests.support.k8s_strict import validate_objects
from tests.test_preview_plugin import argocd_env, checkout, keys_dir, render  # noqa: F401 (fixtures)

COPY = "preview:\n  database: {from: dev}\n"
MASK = "update users set email = 'user' || id || '@example.invalid';\n"


def with_copy(project: Path, environment: str = "dev", mask: str | None = MASK) -> Path:
    app_yaml = project / "examples/oracle/.minnova/app.yaml"
    app_yaml.write_text(app_yaml.read_text() + COPY.replace("dev", environment))
    if mask is not None:  # on the app's registered branch (here: the example's local source)
        (app_yaml.parent / "seed").mkdir(exist_ok=True)
        (app_yaml.parent / "seed/mask.sql").write_text(mask)
    return project


@pytest.fixture(scope="module")
def copying_plan(tmp_path_factory):
    return run_plan(with_copy(project_copy(tmp_path_factory.mktemp("copy"))), "dev")


def test_the_environment_offers_a_token_that_can_only_read_its_own_bucket(copying_plan):
    token = resource_named(copying_plan, "oracle-preview-origin")
    assert token.type == "cloudflare:index/accountToken:AccountToken"
    (policy,) = token.inputs["policies"]
    assert policy["permissionGroups"] == [{"id": "<id of Workers R2 Storage Bucket Item Read>"}]  # no Write
    assert json.loads(policy["resources"]) == {
        "com.cloudflare.edge.r2.bucket.0123456789abcdef0123456789abcdef_default_minnova-oracle-dev": "*"}
    (bucket,) = [r for r in copying_plan.resources if r.name == "oracle-dev-backups" and r.type.endswith(":R2Bucket")]
    assert bucket.urn in token.dependencies  # the bucket exists first
    secret = resource_named(copying_plan, "oracle-dev-secret-minnova-preview-origin-oracle")
    assert secret.inputs["metadata"]["namespace"] == "argocd"
    assert secret.inputs["stringData"] == {"origin.json": "[secret]"}
    assert token.urn in secret.dependencies


def test_the_origin_file_holds_the_s3_credentials_of_that_token_and_the_registered_mask():
    recipe = origin_module.origin_recipe("dev", "oracle-db", "minnova-oracle-dev", "0" * 32, MASK)
    document = json.loads(recipe("token-id", "token-value")[origin_module.ORIGIN_KEY])
    assert document == {"environment": "dev", "serverName": "oracle-db", "bucket": "minnova-oracle-dev",
                        "endpointURL": f"https://{'0' * 32}.r2.cloudflarestorage.com", "accessKeyId": "token-id",
                        "secretAccessKey": hashlib.sha256(b"token-value").hexdigest(), "mask": MASK}
    parsed = origin_module.parse_origin(json.dumps(document), "oracle.origin.json", "dev")
    assert "token-value" not in repr(parsed) and hashlib.sha256(b"token-value").hexdigest() not in repr(parsed)


def test_the_sidecar_sees_the_origin_and_only_that_apps_project_may_hold_an_object_store(copying_plan):
    release = resource_named(copying_plan, "argocd")
    values = json.loads(release.inputs["values"]) if isinstance(release.inputs["values"], str) else release.inputs["values"]
    (keys,) = [v for v in values["repoServer"]["volumes"] if v["name"] == "minnova-preview-keys"]
    # The origin of the copying app only; each previewed app's (optional) previews-storage Secret too, whether its
    # storage is on or was turned off (storage.preview_storage_offer retains it).
    assert keys["projected"]["sources"] == [
        {"secret": {"name": "minnova-preview-keys"}},
        {"secret": {"name": "minnova-preview-origin-oracle", "optional": True,
                    "items": [{"key": "origin.json", "path": "oracle.origin.json"}]}},
        *({"secret": {"name": f"minnova-preview-storage-{app}", "optional": True,
                      "items": [{"key": "storage.json", "path": f"{app}.storage.json"}]}}
          for app in ("catalog", "ledger", "oracle", "storefront"))]
    kinds = {name: {rule["kind"] for rule in resource_named(copying_plan, f"platform-appproject-{name}-previews")
                    .inputs["spec"]["namespaceResourceWhitelist"]} for name in ("oracle", "storefront")}
    assert "ObjectStore" in kinds["oracle"] and "ObjectStore" not in kinds["storefront"]


def test_a_stack_without_previews_offers_nothing(tmp_path):
    """The dev stack deploys dev; without minnova:previews nothing reads its backups: no token, no origin Secret."""
    project = with_copy(project_copy(tmp_path))
    stack = project / "Pulumi.dev.yaml"
    text = stack.read_text()
    start = text.index("  minnova:previews:\n")
    end = text.index("\n  minnova:", start + 1) + 1
    stack.write_text(text[:start] + text[end:])
    plan = run_plan(project, "dev")
    assert any(r.name == "oracle-dev-backups" for r in plan.resources)  # dev's backups are there...
    assert not [r for r in plan.resources if "preview-origin" in r.name]  # ...and offered to no one


def test_previews_cannot_copy_an_environment_their_stack_does_not_own(tmp_path):
    project = with_copy(project_copy(tmp_path), "staging")
    app_yaml = project / "examples/oracle/.minnova/app.yaml"
    app_yaml.write_text(app_yaml.read_text().replace("environments:\n", "environments:\n  staging: {host: "
                                                     "oracle.staging.minnova.io}\n", 1))
    problems = stack_problems(project, "dev")
    assert any("examples/oracle/.minnova/app.yaml: preview.database.from: 'staging' is not deployed by this stack "
               "(Pulumi.dev.yaml)" in p for p in problems), problems


def test_previews_never_copy_a_protected_environment(tmp_path):
    problems = stack_problems(with_copy(project_copy(tmp_path), "prod"), "dev")
    assert any("preview.database.from: 'prod' is a protected environment (Pulumi.dev.yaml: "
               "minnova:protectedEnvironments)" in p for p in problems), problems


def test_the_stack_refuses_a_copy_without_a_mask_on_the_registered_branch(tmp_path):
    problems = stack_problems(with_copy(project_copy(tmp_path), mask=None), "dev")
    assert any("examples/oracle/.minnova/seed/mask.sql: is required with preview.database.from" in p
               for p in problems), problems
    problems = stack_problems(with_copy(project_copy(tmp_path / "blank"), mask="\n \n"), "dev")
    assert any("examples/oracle/.minnova/seed/mask.sql: is empty" in p for p in problems), problems


# ---- render-preview ------------------------------------------------------------------------------------------

ORIGIN = {"environment": "dev", "serverName": "oracle-db", "bucket": "minnova-oracle-dev",
          "endpointURL": "https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com",
          "accessKeyId": "read-only-id", "secretAccessKey": "read-only-secret", "mask": MASK}


def copying_checkout(checkout, forge, mask: str | None = MASK, environment: str = "dev"):  # noqa: F811
    """The PR head with `preview.database.from`, approved by a maintainer (policy/approval.py)."""
    from tests.conftest import git
    from tests.test_preview_plugin import approve

    repo, _ = checkout
    (repo / ".minnova/app.yaml").write_text((repo / ".minnova/app.yaml").read_text() + COPY.replace("dev", environment))
    if mask is not None:
        (repo / ".minnova/seed").mkdir(exist_ok=True)
        (repo / ".minnova/seed/mask.sql").write_text(mask)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "copy dev")
    head = git(repo, "rev-parse", "HEAD")
    approve(forge, head)
    return repo, head


def offered(keys: Path, **changes) -> Path:
    (keys / "oracle.origin.json").write_text(json.dumps({**ORIGIN, **changes}))
    return keys


def test_a_copy_recovers_from_devs_archive_read_only_and_is_masked_before_the_app_starts(forge, checkout, keys_dir):  # noqa: F811
    # The pull request's own mask.sql is ignored: it could weaken the mask or copy the data aside first.
    repo, head = copying_checkout(checkout, forge, mask="create table stolen as select * from users;\n")
    result = render(repo, argocd_env(head, offered(keys_dir)))
    assert result.returncode == 0, result.stderr
    objects = list(yaml.safe_load_all(result.stdout))
    by_name = {(o["kind"], o["metadata"]["name"]): o for o in objects}
    cluster = by_name[("Cluster", "oracle-db-copy")]["spec"]
    assert cluster["bootstrap"] == {"recovery": {"source": "origin", "database": "oracle", "owner": "oracle"}}
    assert cluster["externalClusters"] == [{"name": "origin", "plugin": {
        "name": "barman-cloud.cloudnative-pg.io",
        "parameters": {"barmanObjectName": "oracle-origin", "serverName": "oracle-db"}}}]
    assert "plugins" not in cluster  # never archives: nothing is written to dev's archive
    assert cluster["storage"]["size"] == "5Gi"  # a physical copy: dev's size
    store = by_name[("ObjectStore", "oracle-origin")]["spec"]
    assert store["configuration"]["destinationPath"] == "s3://minnova-oracle-dev/"
    assert "retentionPolicy" not in store
    credentials = by_name[("Secret", "oracle-origin-r2")]["stringData"]
    assert credentials == {"ACCESS_KEY_ID": "read-only-id", "ACCESS_SECRET_KEY": "read-only-secret"}
    assert store["configuration"]["s3Credentials"]["secretAccessKey"]["name"] == "oracle-origin-r2"
    # No pod of the app's code mounts or reads the credentials.
    for obj in objects:
        if obj["kind"] in ("Deployment", "CronJob", "Job"):
            assert "oracle-origin-r2" not in json.dumps(obj), obj["metadata"]["name"]
    # The mask, in one transaction as the database owner, in the wave after the database...
    # the registered branch's mask, then the platform's epilogue (statistics; tests/render/test_seed_psql.py)
    assert by_name[("ConfigMap", "oracle-db-copy-mask")]["data"] == {"mask.sql": MASK, "minnova-mask.psql": mask_script()}
    job = by_name[("Job", "oracle-db-copy-mask")]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert "--single-transaction" in container["command"] and container["command"][-1] == "/mask/minnova-mask.psql"
    assert container["env"][0]["valueFrom"]["secretKeyRef"] == {"name": "oracle-db-copy-app", "key": "uri"}
    wave = {key: int(o["metadata"].get("annotations", {}).get(SYNC_WAVE_ANNOTATION, 0)) for key, o in by_name.items()}
    # ...and everything that runs the app's code after it: Argo CD starts a wave once the one before is healthy.
    code = [key for key, o in by_name.items() if o["kind"] in ("Deployment", "CronJob", "Job")
            and key not in (("Job", "oracle-db-copy-mask"), ("Deployment", "oracle-redis"))]
    assert code and all(wave[key] > wave[("Job", "oracle-db-copy-mask")] > wave[("Cluster", "oracle-db-copy")] for key in code)
    assert ("Job", "oracle-db-seed") not in by_name
    # The copy is never `oracle-db`: a later commit without preview.database declares `oracle-db` (new, empty)
    # and the app's DATABASE_URL follows it, so the unmasked copy is never handed to the app under the old name.
    assert not any(o["metadata"]["name"] == "oracle-db" for o in objects)
    assert all("oracle-db-copy-app" in json.dumps(o) for o in objects
               if o["kind"] == "Deployment" and o["metadata"]["name"] != "oracle-redis")
    validate_objects(objects)


@pytest.mark.parametrize("case,expected", [
    ("not offered", "preview.database.from: the platform does not let oracle's previews copy dev's database"),
    ("other environment", "preview.database.from: 'prod' is not the environment this app's previews may copy ('dev'"),
    ("no mask", "oracle.origin.json: is not the origin the platform writes"),
    ("server name too long", "oracle.origin.json: names a server, bucket or endpoint the platform never writes"),
    ("not a string", "oracle.origin.json: is not the origin the platform writes"),
    ("not json", "oracle.origin.json: is not the origin the platform writes"),
    ("not utf-8", "oracle.origin.json: is not UTF-8 text"),
])
def test_a_copy_is_refused_unless_the_platform_offers_it_with_a_mask(forge, checkout, keys_dir, case, expected):  # noqa: F811
    repo, head = copying_checkout(checkout, forge, MASK, "prod" if case == "other environment" else "dev")
    changes = {"no mask": {"mask": ""}, "server name too long": {"serverName": "a" * 46},
               "not a string": {"endpointURL": 42}}.get(case, {})
    keys = keys_dir if case == "not offered" else offered(keys_dir, **changes)
    if case == "not json":
        (keys / "oracle.origin.json").write_text("{")
    if case == "not utf-8":
        (keys / "oracle.origin.json").write_bytes(b"\xff\xfe")
    result = render(repo, argocd_env(head, keys))
    assert result.returncode == 1 and result.stdout == ""
    assert expected in result.stderr, result.stderr
    assert "read-only-secret" not in result.stderr


def test_a_symlinked_mask_on_the_registered_branch_is_refused(tmp_path):
    project = with_copy(project_copy(tmp_path), mask=None)
    outside = tmp_path / "outside.sql"
    outside.write_text("select 1;\n")
    (project / "examples/oracle/.minnova/seed").mkdir()
    (project / "examples/oracle/.minnova/seed/mask.sql").symlink_to(outside)
    problems = stack_problems(project, "dev")
    assert any("mask.sql" in p and "symbolic link" in p for p in problems), problems


def test_validate_says_a_copy_needs_its_mask(checkout):  # noqa: F811
    import subprocess
    import sys

    repo, _ = checkout
    (repo / ".minnova/app.yaml").write_text((repo / ".minnova/app.yaml").read_text() + COPY)
    command = [sys.executable, "-m", "minnova_idp.cli", "validate", "."]
    result = subprocess.run(command, cwd=repo, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and ".minnova/seed/mask.sql: is required with preview.database.from" in result.stderr
    (repo / ".minnova/seed").mkdir()
    (repo / ".minnova/seed/mask.sql").write_text(MASK)
    result = subprocess.run(command, cwd=repo, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_a_symlinked_seed_directory_on_the_registered_branch_is_refused(tmp_path):
    project = with_copy(project_copy(tmp_path), mask=None)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "mask.sql").write_text("select 1;\n")
    (project / "examples/oracle/.minnova/seed").symlink_to(outside, target_is_directory=True)
    problems = stack_problems(project, "dev")
    assert any("mask.sql: is reached through a symbolic link" in p for p in problems), problems


def test_the_largest_mask_reaches_the_renderer_whole(forge, checkout, keys_dir):  # noqa: F811
    """A mask at the limit, in a language with accents, survives the origin file's JSON and the sidecar's reader."""
    mask = "-- " + "é" * ((origin_module.MASK_MAX_BYTES - 8) // 2) + "\n"
    assert len(mask.encode()) <= origin_module.MASK_MAX_BYTES
    recipe = origin_module.origin_recipe("dev", "oracle-db", "minnova-oracle-dev", "0" * 32, mask)
    repo, head = copying_checkout(checkout, forge)
    (keys_dir / "oracle.origin.json").write_text(recipe("id", "value")[origin_module.ORIGIN_KEY])
    result = render(repo, argocd_env(head, keys_dir))
    assert result.returncode == 0, result.stderr[-500:]
    (config_map,) = [o for o in yaml.safe_load_all(result.stdout) if o["metadata"]["name"] == "oracle-db-copy-mask"
                     and o["kind"] == "ConfigMap"]
    assert config_map["data"]["mask.sql"] == mask
