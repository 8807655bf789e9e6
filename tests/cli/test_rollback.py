"""Rolling back in one step: image pins, the tag history the stack records, the rollback command."""

from __future__ import annotations

import json

import yaml

from tests.conftest import PROJECT_DIR, example_plan, project_copy
from tests.support.cli import cli


def run(project, *args: str):
    return cli(*args, cwd=project)


def test_the_stack_records_the_tags_it_deployed_newest_first():
    from minnova_idp.plan.recorder import run_plan

    first = example_plan("prod").outputs["imageTags"]
    assert first == {"catalog-prod": ["0.3.0"], "ledger-prod": ["0.9.0"], "oracle-prod": ["1.4.2"],
                     "storefront-prod": ["2.0.1"]}
    again = run_plan(PROJECT_DIR, "prod", previous_outputs={"imageTags": {
        "oracle-prod": ["1.4.1", "1.4.0", "1.3.9", "1.3.8", "1.3.7"], "storefront-prod": ["2.0.1", "2.0.0"],
        "ledger-prod": ["0.9.0"]}})
    assert again.outputs["imageTags"] == {"catalog-prod": ["0.3.0"], "ledger-prod": ["0.9.0"],
                                          "oracle-prod": ["1.4.2", "1.4.1", "1.4.0", "1.3.9", "1.3.8"],
                                          "storefront-prod": ["2.0.1", "2.0.0"]}  # unchanged: not repeated


def test_rollback_pins_the_previous_tag_and_clear_undoes_it(tmp_path):
    project = project_copy(tmp_path)
    original = (project / "Pulumi.prod.yaml").read_text()
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"imageTags": {"oracle-prod": ["1.4.2", "1.4.1"]}}))
    result = run(project, "rollback", "oracle", "prod", "--stack", "prod", "--previous-outputs", str(outputs))
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load((project / "Pulumi.prod.yaml").read_text())["config"]
    assert config["minnova:imagePins"] == {"oracle": {"prod": "1.4.1"}}
    assert (project / "Pulumi.prod.yaml").read_text().count("# Public halves of the apps' age keys") == 1  # kept
    status = json.loads(run(project, "status", "--stack", "prod", "--json").stdout)
    (oracle,) = [row for row in status["apps"] if row["app"] == "oracle"]
    assert (oracle["image"]["tag"], oracle["image"]["tagSource"]) == ("1.4.1", "rollback pin (minnova:imagePins)")
    from minnova_idp.plan.recorder import run_plan

    plan = run_plan(project, "prod", cache_dir=tmp_path / "cache")
    (deployment,) = [m for m in plan.manifests() if m["kind"] == "Deployment" and m["metadata"]["name"] == "oracle"]
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.minnova.io/oracle:1.4.1"
    assert run(project, "rollback", "oracle", "prod", "--stack", "prod", "--to", "1.3.0").returncode == 0
    assert yaml.safe_load((project / "Pulumi.prod.yaml").read_text())["config"]["minnova:imagePins"] == {
        "oracle": {"prod": "1.3.0"}}
    assert run(project, "rollback", "oracle", "prod", "--stack", "prod", "--clear").returncode == 0
    assert (project / "Pulumi.prod.yaml").read_text() == original


def test_rollback_errors_name_the_flag(tmp_path):
    project = project_copy(tmp_path)
    result = run(project, "rollback", "oracle", "prod", "--stack", "prod")
    assert result.returncode == 1 and "--previous-outputs: no tag deployed before the current one" in result.stderr
    result = run(project, "rollback", "oracle", "prod", "--stack", "prod", "--to", "bad tag!")
    assert result.returncode == 1 and "--to: 'bad tag!' is not a valid image tag" in result.stderr
    result = run(project, "rollback", "oracle", "prod", "--stack", "prod", "--clear")
    assert result.returncode == 1 and "minnova:imagePins.oracle.prod: is not set" in result.stderr
    assert "Traceback" not in result.stderr
