"""The minnova-idp command as users run it: exit codes, messages, never a traceback."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from minnova_idp.authoring.reference import schema_text, stale_files

from tests.conftest import DESIGN_DOC_APP_YAML, PROJECT_DIR


def run(*args: str, cwd: Path = PROJECT_DIR) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "minnova_idp.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def test_generated_docs_are_in_sync():
    """The committed schema and the README's app.yaml reference are what the models give.

    Regenerate both with: .venv/bin/python -m minnova_idp.authoring.reference
    """
    assert stale_files(PROJECT_DIR) == {}
    assert (PROJECT_DIR / "schema" / "app.schema.json").read_text() == schema_text()


def test_a_field_added_to_the_models_makes_the_docs_stale(tmp_path, monkeypatch):
    """The sync check can fail: a new documented field shows up as a new row and a schema change."""
    from pydantic import Field, create_model

    from minnova_idp.authoring import reference
    from minnova_idp.model import app_config

    shutil.copy(PROJECT_DIR / "README.md", tmp_path / "README.md")
    (tmp_path / "schema").mkdir()
    shutil.copy(PROJECT_DIR / "schema" / "app.schema.json", tmp_path / "schema" / "app.schema.json")
    assert stale_files(tmp_path) == {}
    extended = create_model("AppConfig", __base__=app_config.AppConfig,
                            timezone=(str, Field(default="UTC", description="the app's time zone")))
    monkeypatch.setattr(reference, "AppConfig", extended)
    stale = stale_files(tmp_path)
    assert set(stale) == {tmp_path / "README.md", tmp_path / "schema" / "app.schema.json"}
    assert "| `timezone` | `UTC` | the app's time zone |" in stale[tmp_path / "README.md"]


def test_reference_check_command_reports_stale_docs():
    result = subprocess.run([sys.executable, "-m", "minnova_idp.authoring.reference", "--check"], cwd=PROJECT_DIR,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_command_prints_a_schema_that_accepts_the_examples_and_catches_mistakes():
    result = run("schema")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    validator = jsonschema.Draft202012Validator(schema)
    validator.check_schema(schema)
    for example in PROJECT_DIR.glob("examples/*/.minnova/app.yaml"):
        assert list(validator.iter_errors(yaml.safe_load(example.read_text()))) == [], example
    bad = yaml.safe_load(DESIGN_DOC_APP_YAML.replace("image:", "imagee:").replace("5Gi", "5GB"))
    messages = [e.message for e in validator.iter_errors(bad)]
    assert any("imagee" in m for m in messages) and any("5GB" in m for m in messages)


def test_validate_accepts_a_valid_file_and_a_repo_dir(tmp_path):
    (tmp_path / ".minnova").mkdir()
    (tmp_path / ".minnova" / "app.yaml").write_text(DESIGN_DOC_APP_YAML)
    for target in (tmp_path, tmp_path / ".minnova" / "app.yaml"):
        result = run("validate", str(target))
        assert result.returncode == 0, result.stderr
        assert "valid (app oracle; environments dev, prod)" in result.stdout


@pytest.mark.parametrize("content,expected", [
    (DESIGN_DOC_APP_YAML.replace("image:", "imagee:"), ":2: imagee: unknown key 'imagee' (hint: did you mean 'image'?)"),
    (DESIGN_DOC_APP_YAML.replace("5Gi", "5GB"), ":4: database.size: '5GB' is not a Kubernetes quantity"),
    (DESIGN_DOC_APP_YAML + "port: 1\n", "duplicate key 'port'"),
    ("a: &x 1\nb: *x\n", "anchors (&x) are not allowed"),
    ("\xff", "not UTF-8"),
])
def test_validate_rejects_with_file_and_field_and_no_traceback(tmp_path, content, expected):
    path = tmp_path / "app.yaml"
    path.write_bytes(content.encode("latin-1") if content == "\xff" else content.encode())
    result = run("validate", str(path))
    assert result.returncode == 1
    assert f"{path}" in result.stderr and expected in result.stderr, result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_validate_missing_path(tmp_path):
    result = run("validate", str(tmp_path))
    assert result.returncode == 1 and "file not found" in result.stderr and "Traceback" not in result.stderr


def test_plan_writes_output(tmp_path):
    result = run("plan", "--stack", "dev", "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert "minnova:index:MinnovaApp" in result.stdout and "to create" in result.stdout
    assert (tmp_path / "out" / "resources.json").is_file()
    assert sorted(p.name for p in (tmp_path / "out" / "manifests" / "oracle-dev").iterdir()) == [
        "cluster-oracle-db.yaml", "configmap-oracle-db-drill.yaml", "cronjob-oracle-cleanup.yaml",
        "cronjob-oracle-db-drill.yaml", "deployment-oracle-redis.yaml", "deployment-oracle-worker.yaml",
        "deployment-oracle.yaml", "ingress-oracle.yaml",
        "job-oracle-release-815081a8a9.yaml", "limitrange-app-defaults.yaml", "networkpolicy-app-egress.yaml",
        "networkpolicy-deny-other-apps.yaml", "networkpolicy-oracle-db-drill.yaml", "networkpolicy-oracle-redis.yaml",
        "objectstore-oracle-backups.yaml",
        "persistentvolumeclaim-oracle-redis.yaml", "resourcequota-app-quota.yaml",
        "role-oracle-db-drill.yaml", "rolebinding-oracle-db-drill.yaml", "scheduledbackup-oracle-db-daily.yaml",
        "secret-oracle-backups-r2.yaml", "secret-oracle-redis.yaml", "secret-oracle-secrets.yaml",
        "secret-registry-credentials.yaml", "service-oracle-redis.yaml", "service-oracle.yaml",
        "serviceaccount-oracle-db-drill.yaml"]


def test_plan_refuses_a_database_shrink_against_previous_outputs(tmp_path):
    previous = tmp_path / "outputs.json"
    previous.write_text('{"databaseSizes": {"oracle-prod": "10Gi"}}')
    result = run("plan", "--stack", "prod", "--previous-outputs", str(previous))
    assert result.returncode == 1, result.stdout
    assert ("examples/oracle/.minnova/app.yaml: database.size: '5Gi' is smaller than the 10Gi deployed in prod; "
            "database volumes can grow but never shrink (hint: keep 10Gi or more)") in result.stderr
    assert "Traceback" not in result.stderr
    previous.write_text('{"databaseSizes": {"oracle-prod": "2Gi"}}')
    assert run("plan", "--stack", "prod", "--previous-outputs", str(previous)).returncode == 0
    previous.write_text("not json")
    result = run("plan", "--stack", "prod", "--previous-outputs", str(previous))
    assert result.returncode == 1 and "cannot read stack outputs" in result.stderr


def test_plan_unknown_stack():
    result = run("plan", "--stack", "staging")
    assert result.returncode == 1
    assert "Pulumi.staging.yaml: stack file not found (hint: stacks here: dev, prod)" in result.stderr


def every_command() -> list[list[str]]:
    from minnova_idp.cli.main import build_parser

    def walk(parser, path):
        found = [path]
        for action in parser._actions:
            if action.__class__.__name__ == "_SubParsersAction":
                for name, sub in action.choices.items():
                    found += walk(sub, [*path, name])
        return found

    return walk(build_parser(), [])


@pytest.mark.parametrize("command", every_command(), ids=lambda c: " ".join(c) or "minnova-idp")
def test_help_has_examples(command):
    result = run(*command, "--help")
    assert result.returncode == 0
    assert "usage: minnova-idp" in result.stdout
    assert "example" in result.stdout


def test_usage_errors_exit_2():
    assert run("plan").returncode == 2
    assert run("frobnicate").returncode == 2


def test_version():
    result = run("--version")
    assert result.returncode == 0 and result.stdout.startswith("minnova-idp ")


def test_status_lists_what_a_stack_deploys_without_a_cluster():
    result = run("status", "--stack", "prod")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("oracle") and "https://oracle.minnova.io" in line and "5Gi x3" in line
               and "registry.minnova.io/oracle:1.4.2 (image.tag)" in line for line in lines), result.stdout
    document = json.loads(run("status", "--stack", "dev", "--json").stdout)
    by_app = {row["app"]: row for row in document["apps"]}
    assert by_app["oracle"]["tag"] == "1.5.0-rc.1" and by_app["oracle"]["tag_source"] == "imageTag"
    assert by_app["oracle"]["previews"] is True and by_app["storefront"]["database"] is None
    assert run("status", "--stack", "nope").returncode == 1


@pytest.mark.parametrize("path,kind", [("Pulumi.dev.yaml", "stack"),
                                       ("deployments/minnova/apps/oracle.yaml", "registry entry"),
                                       ("examples/oracle", "app")])
def test_validate_takes_each_kind_of_file(path, kind):
    result = run("validate", path, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["kind"] == kind


def test_validate_names_the_field_of_a_bad_stack_file_or_registry_entry(tmp_path):
    stack = tmp_path / "Pulumi.bad.yaml"
    stack.write_text("config:\n  minnova:deployment: acme\n  minnova:baseDomian: acme.io\n")
    result = run("validate", str(stack))
    assert result.returncode == 1 and "minnova:baseDomian" in result.stderr and "Traceback" not in result.stderr
    entry = tmp_path / "deployments" / "acme" / "apps" / "web.yaml"
    entry.parent.mkdir(parents=True)
    entry.write_text("name: web\nrepo: http://github.com/acme/web.git\n")
    result = run("validate", str(entry))
    assert result.returncode == 1 and "repo: 'http://github.com/acme/web.git' uses plain http" in result.stderr


def test_plan_of_one_app_still_checks_all(tmp_path):
    document = json.loads(run("plan", "--stack", "prod", "--app", "storefront", "--json").stdout)
    assert document["outputs"]["urls"] == {"storefront-prod": "https://shop.minnova.io"}
    assert "kubernetes:postgresql.cnpg.io/v1:Cluster" not in document["byType"]
    result = run("plan", "--stack", "prod", "--app", "nope")
    assert result.returncode == 1 and "--app: no app 'nope' in this stack's registry" in result.stderr


def test_plan_out_is_checked_before_work_and_a_failed_plan_leaves_no_stale_one(tmp_path):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    result = run("plan", "--stack", "dev", "--out", str(not_a_dir))
    assert result.returncode == 1 and "--out: " in result.stderr and "is not a directory" in result.stderr
    assert "Plan of stack" not in result.stdout  # refused before planning
    out = tmp_path / "plan"
    assert run("plan", "--stack", "dev", "--out", str(out)).returncode == 0
    assert (out / "resources.json").is_file()
    broken = tmp_path / "project"
    shutil.copytree(PROJECT_DIR, broken, ignore=shutil.ignore_patterns(".venv", ".git", "__pycache__", "plan-*"))
    app_yaml = broken / "examples/oracle/.minnova/app.yaml"
    app_yaml.write_text(app_yaml.read_text().replace("port: 4000", "port: 0"))
    result = run("plan", "--stack", "dev", "--out", str(out), cwd=broken)
    assert result.returncode == 1 and "port" in result.stderr
    assert not (out / "resources.json").exists() and not (out / "manifests").exists()


def test_plan_reports_what_the_image_gate_would_check(tmp_path):
    """The offline plan asks no registry; it says which images `pulumi up` would ask for, and what a missing one
    would do, given what the stack deployed before (--previous-outputs)."""
    from minnova_idp.plan.recorder import render_tree, run_plan

    images = render_tree(run_plan(PROJECT_DIR, "dev")).split("\nImages:\n", 1)[1].splitlines()
    assert images[0].strip() == ("image gate keep (minnova:imageGate): `pulumi up` checks 2 images first "
                                 "(offline: not checked)")
    assert ("oracle-dev: HEAD https://registry.minnova.io/v2/oracle/manifests/1.5.0-rc.1 (if missing: stops "
            "(nothing deployed before))") in images[1]
    previous = tmp_path / "outputs.json"
    previous.write_text(json.dumps({"imageTags": {"oracle-dev": ["1.5.0-rc.1"], "storefront-dev": ["1.9.0"]}}))
    result = run("plan", "--stack", "dev", "--previous-outputs", str(previous), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["imageGate"] == [
        "image gate keep (minnova:imageGate): `pulumi up` checks 1 image first (offline: not checked)",
        "  storefront-dev: HEAD https://registry.minnova.io/v2/storefront/manifests/2.0.1 (if missing: keeps 1.9.0)"]


@pytest.mark.parametrize("outputs,message", [
    ({"redisSizes": {"oracle-dev": "-5Gi"}}, "redisSizes.oracle-dev: '-5Gi' is not a volume size"),
    ({"databaseSizes": {"oracle-dev": "0"}}, "databaseSizes.oracle-dev: '0' is not a volume size"),
    ({"imageTags": {"oracle-dev": ["a b"]}}, "imageTags.oracle-dev: must be a list of tags"),
    ({"imageTags": ["1.0"]}, "imageTags: must be an object of app environments to lists of tags"),
])
def test_previous_outputs_that_no_stack_writes_are_refused(tmp_path, outputs, message):
    previous = tmp_path / "outputs.json"
    previous.write_text(json.dumps(outputs))
    result = run("plan", "--stack", "dev", "--previous-outputs", str(previous))
    assert result.returncode == 1 and message in result.stderr, result.stderr
