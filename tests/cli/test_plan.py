"""`minnova-idp plan`: the offline plan as users run it, --out, --app, --previous-outputs."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.conftest import PROJECT_DIR
from tests.support.cli import cli


def test_plan_writes_output(tmp_path):
    result = cli("plan", "--stack", "dev", "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert "minnova:index:MinnovaApp" in result.stdout and "to create" in result.stdout
    assert (tmp_path / "out" / "resources.json").is_file()
    assert sorted(p.name for p in (tmp_path / "out" / "manifests" / "oracle-dev").iterdir()) == [
        "cluster-oracle-db.yaml", "configmap-oracle-db-drill.yaml", "cronjob-oracle-cleanup.yaml",
        "cronjob-oracle-db-drill.yaml", "deployment-oracle-api.yaml", "deployment-oracle-redis.yaml",
        "deployment-oracle-worker.yaml", "deployment-oracle.yaml", "ingress-oracle.yaml",
        "job-oracle-release-815081a8a9.yaml", "limitrange-app-defaults.yaml",
        "networkpolicy-allow.storefront.api.yaml", "networkpolicy-app-egress.yaml",
        "networkpolicy-deny-other-apps.yaml", "networkpolicy-oracle-db-drill.yaml", "networkpolicy-oracle-redis.yaml",
        "objectstore-oracle-backups.yaml",
        "persistentvolumeclaim-oracle-redis.yaml", "resourcequota-app-quota.yaml",
        "role-oracle-db-drill.yaml", "rolebinding-oracle-db-drill.yaml", "scheduledbackup-oracle-db-daily.yaml",
        "secret-oracle-backups-r2.yaml", "secret-oracle-redis.yaml", "secret-oracle-secrets.yaml",
        "secret-registry-credentials.yaml", "service-oracle-api.yaml", "service-oracle-redis.yaml",
        "service-oracle.yaml",
        "serviceaccount-oracle-db-drill.yaml"]


def test_plan_refuses_a_database_shrink_against_previous_outputs(tmp_path):
    previous = tmp_path / "outputs.json"
    previous.write_text('{"databaseSizes": {"oracle-prod": "10Gi"}}')
    result = cli("plan", "--stack", "prod", "--previous-outputs", str(previous))
    assert result.returncode == 1, result.stdout
    assert ("examples/oracle/.minnova/app.yaml: database.size: '5Gi' is smaller than the 10Gi deployed in prod; "
            "database volumes can grow but never shrink (hint: keep 10Gi or more)") in result.stderr
    assert "Traceback" not in result.stderr
    previous.write_text('{"databaseSizes": {"oracle-prod": "2Gi"}}')
    assert cli("plan", "--stack", "prod", "--previous-outputs", str(previous)).returncode == 0
    previous.write_text("not json")
    result = cli("plan", "--stack", "prod", "--previous-outputs", str(previous))
    assert result.returncode == 1 and "cannot read stack outputs" in result.stderr


def test_plan_unknown_stack():
    result = cli("plan", "--stack", "staging")
    assert result.returncode == 1
    assert "--stack: unknown stack 'staging' (from --stack): no Pulumi.staging.yaml" in result.stderr


def test_plan_of_one_app_still_checks_all(tmp_path):
    document = json.loads(cli("plan", "--stack", "prod", "--app", "storefront", "--json").stdout)
    assert document["outputs"]["urls"] == {"storefront-prod": "https://shop.minnova.io"}
    assert "kubernetes:postgresql.cnpg.io/v1:Cluster" not in document["byType"]
    result = cli("plan", "--stack", "prod", "--app", "nope")
    assert result.returncode == 1 and "--app: no app 'nope' in this stack's registry" in result.stderr


def test_plan_out_is_checked_before_work_and_a_failed_plan_leaves_no_stale_one(tmp_path):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    result = cli("plan", "--stack", "dev", "--out", str(not_a_dir))
    assert result.returncode == 1 and "--out: " in result.stderr and "is not a directory" in result.stderr
    assert "Plan of stack" not in result.stdout  # refused before planning
    out = tmp_path / "plan"
    assert cli("plan", "--stack", "dev", "--out", str(out)).returncode == 0
    assert (out / "resources.json").is_file()
    broken = tmp_path / "project"
    shutil.copytree(PROJECT_DIR, broken, ignore=shutil.ignore_patterns(".venv", ".git", "__pycache__", "plan-*"))
    # The registry is the platform's own input: a problem there stops the run (an app's own is isolated, ADR 0004).
    entry = next((broken / "deployments").glob("*/apps/oracle.yaml"))
    entry.write_text(entry.read_text() + "prot: 4000\n")
    result = cli("plan", "--stack", "dev", "--out", str(out), cwd=broken)
    assert result.returncode == 1 and "prot" in result.stderr
    assert not (out / "resources.json").exists() and not (out / "manifests").exists()


def test_plan_reports_what_the_image_gate_would_check(tmp_path):
    """The offline plan asks no registry; it says which images `pulumi up` would ask for, and what a missing one
    would do, given what the stack deployed before (--previous-outputs)."""
    from minnova_idp.plan.recorder import render_tree, run_plan

    images = render_tree(run_plan(PROJECT_DIR, "dev")).split("\nImages:\n", 1)[1].splitlines()
    assert images[0].strip() == ("image gate keep (minnova:imageGate): `pulumi up` checks 4 images first "
                                 "(offline: not checked)")
    assert ("oracle-dev: HEAD https://registry.minnova.io/v2/oracle/manifests/1.5.0-rc.1 (if missing: stops "
            "(nothing deployed before))") in images[3]
    previous = tmp_path / "outputs.json"
    previous.write_text(json.dumps({"imageTags": {"oracle-dev": ["1.5.0-rc.1"], "storefront-dev": ["1.9.0"],
                                                  "catalog-dev": ["0.3.0"], "ledger-dev": ["0.9.0"]}}))
    result = cli("plan", "--stack", "dev", "--previous-outputs", str(previous), "--json")
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
    result = cli("plan", "--stack", "dev", "--previous-outputs", str(previous))
    assert result.returncode == 1 and message in result.stderr, result.stderr
