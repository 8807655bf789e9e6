"""The offline plan of the bundled example stacks: complete, strictly valid, deterministic."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pulumi
import pytest
import yaml

from minnova_idp.core.errors import ConfigError
from minnova_idp.shell.plan import manifest_path, record, run_plan, write_plan
from minnova_idp.core.inputs import STOP_HEADER
from minnova_idp.shell.program import main
from unittest.mock import patch
from minnova_idp.core.stackconfig import from_stack_file

from .conftest import PROJECT_DIR, project_copy
from .k8s_strict import validate_objects

GOLDEN = Path(__file__).parent / "golden"
STACKS = ["dev", "prod"]


@pytest.fixture(scope="module", params=STACKS)
def written_plan(request, tmp_path_factory):
    plan = run_plan(PROJECT_DIR, request.param)
    out = tmp_path_factory.mktemp(f"plan-{request.param}")
    write_plan(plan, out)
    return plan, out


def test_resources_json_records_every_resource_with_options(written_plan):
    plan, out = written_plan
    document = json.loads((out / "resources.json").read_text())
    assert document["stack"] == plan.stack
    resources = document["resources"]
    assert len(resources) == len(plan.resources) > 10
    for resource in resources:
        assert set(resource) >= {"type", "name", "parent", "protect", "retainOnDelete", "inputs", "urn"}
        assert isinstance(resource["protect"], bool) and isinstance(resource["retainOnDelete"], bool)
    urns = {r["urn"] for r in resources}
    assert all(r["parent"] in urns for r in resources if r["type"] != "pulumi:pulumi:Stack")
    apps = sorted(r["name"] for r in resources if r["type"] == "minnova:index:MinnovaApp")
    assert apps == [f"oracle-{plan.stack}", f"storefront-{plan.stack}"]


def test_manifests_are_the_recorded_inputs_and_validate_strictly(written_plan):
    plan, out = written_plan
    files = sorted((out / "manifests").rglob("*.yaml"))
    manifests = [yaml.safe_load(path.read_text()) for path in files]
    assert len(manifests) == len(plan.manifests())
    for path, manifest in zip(files, manifests):
        assert path.relative_to(out / "manifests") == manifest_path(manifest)
    canonical = lambda objs: sorted(json.dumps(o, sort_keys=True) for o in objs)  # noqa: E731
    assert canonical(manifests) == canonical(plan.manifests())
    validate_objects(manifests)


def test_prod_has_disruption_budgets_and_dev_does_not(written_plan):
    plan, _ = written_plan
    kinds = [m["kind"] for m in plan.manifests() if m["metadata"].get("namespace", m["metadata"]["name"]).endswith(
        f"-{plan.stack}")]
    assert kinds.count("Namespace") == kinds.count("Ingress") == 2
    assert kinds.count("Deployment") == 3  # each app's web process, and oracle's worker
    assert kinds.count("PodDisruptionBudget") == (2 if plan.stack == "prod" else 0)


@pytest.mark.parametrize("stack", STACKS)
def test_plan_output_is_identical_every_time(stack, tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    write_plan(run_plan(PROJECT_DIR, stack), first)
    write_plan(run_plan(PROJECT_DIR, stack), second)
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    for name in files:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


@pytest.mark.parametrize("stack", STACKS)
def test_urns_are_stable(stack):
    """A change of URN replaces live resources. Renames need aliases; then update the golden file:
    MINNOVA_UPDATE_GOLDEN=1 pytest tests/test_plan.py"""
    urns = "".join(f"{r.urn}\n" for r in run_plan(PROJECT_DIR, stack).resources)
    golden = GOLDEN / f"urns-{stack}.txt"
    if os.environ.get("MINNOVA_UPDATE_GOLDEN") == "1":
        golden.write_text(urns)
    assert urns == golden.read_text()


def test_replanning_replaces_stale_manifests_but_not_other_directories(tmp_path):
    out = tmp_path / "plan"
    write_plan(run_plan(PROJECT_DIR, "dev"), out)
    stale = out / "manifests" / "gone-dev" / "deployment-gone.yaml"
    stale.parent.mkdir()
    stale.write_text("stale")
    write_plan(run_plan(PROJECT_DIR, "dev"), out)
    assert not stale.exists()
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="does not hold a plan"):
        write_plan(run_plan(PROJECT_DIR, "dev"), precious)
    assert (precious / "notes.txt").read_text() == "keep me"


def broken_copy(tmp_path: Path) -> Path:
    project = project_copy(tmp_path)
    app_yaml = project / "examples" / "storefront" / ".minnova" / "app.yaml"
    app_yaml.write_text(app_yaml.read_text().replace("port: 3000", "port: 0"))
    return project


def test_one_broken_app_stops_the_plan(tmp_path):
    with pytest.raises(ConfigError) as caught:
        run_plan(broken_copy(tmp_path), "dev")
    assert [str(p) for p in caught.value.problems] == [
        "examples/storefront/.minnova/app.yaml:7: port: Input should be greater than or equal to 1"]


def run_main(project: Path, stack: str, previous_outputs: dict | None = None):
    """The real entry point as the engine runs it: config from Pulumi's runtime, then the async program."""
    raw, secret_keys, _ = from_stack_file(project, stack)
    entrypoints = []

    async def engine():
        with patch.object(pulumi, "run", entrypoints.append):
            main(project)
        assert len(entrypoints) == 1
        await entrypoints[0]()

    return record(engine, project="minnova-idp", stack=stack, config=raw, secret_keys=secret_keys,
                  stack_outputs=previous_outputs)


def test_pulumi_program_registers_nothing_when_an_app_is_broken(tmp_path):
    errors: list[pulumi.RunError] = []

    def broken_run():
        try:
            run_main(broken_copy(tmp_path), "dev")
        except pulumi.RunError as exc:
            errors.append(exc)

    broken_run()
    assert len(errors) == 1 and str(errors[0]).startswith(STOP_HEADER)
    assert "examples/storefront/.minnova/app.yaml:7: port:" in str(errors[0])


def test_pulumi_program_reads_runtime_config():
    resources, _ = run_main(PROJECT_DIR, "prod")
    assert sorted(r.name for r in resources if r.type == "minnova:index:MinnovaApp") == [
        "oracle-prod", "storefront-prod"]
