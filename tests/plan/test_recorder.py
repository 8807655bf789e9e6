"""The offline plan of the bundled example stacks: complete, strictly valid, deterministic."""

from __future__ import annotations

import asyncio
import contextvars
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from unittest.mock import patch

import pulumi
import pytest
import yaml

from components import kubernetes
from components.program import main
from minnova_idp.load.stack import from_stack_file
from minnova_idp.model.errors import ConfigError
from minnova_idp.model.inputs import STOP_HEADER
from minnova_idp.plan.recorder import manifest_path, manifest_yaml, record, render_tree, run_plan, write_plan
from minnova_idp.render.yaml_text import libyaml_safe

from tests.conftest import PROJECT_DIR, example_plan, project_copy, project_without_a_database
from tests.support.k8s_strict import validate_objects

GOLDEN = Path(__file__).parents[1] / "golden"
STACKS = ["dev", "prod"]


@pytest.fixture(scope="module", params=STACKS)
def written_plan(request, tmp_path_factory):
    plan = example_plan(request.param)
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
    assert apps == [f"catalog-{plan.stack}", f"ledger-{plan.stack}", f"oracle-{plan.stack}", f"storefront-{plan.stack}"]


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
    assert kinds.count("Namespace") == kinds.count("Ingress") == 4
    assert kinds.count("Deployment") == 7  # each app's web process, and oracle's worker, internal api and Valkey
    # ledger's MariaDB gets its budget from the operator (mariadb-operator@v26.6.0
    # internal/controller/mariadb_controller.go:490-495), not from the plan
    assert kinds.count("PodDisruptionBudget") == (4 if plan.stack == "prod" else 0)  # each app's web in prod


@pytest.mark.parametrize("stack", STACKS)
def test_plan_output_is_identical_every_time(stack, tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    write_plan(example_plan(stack), first)  # this run's shared plan, planned earlier in the session
    write_plan(run_plan(PROJECT_DIR, stack), second)  # and a plan of its own
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    for name in files:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


@pytest.mark.parametrize("stack", STACKS)
def test_urns_are_stable(stack):
    """A change of URN replaces live resources. Renames need aliases; then update the golden file:
    MINNOVA_UPDATE_GOLDEN=1 pytest tests/plan/test_recorder.py"""
    urns = "".join(f"{r.urn}\n" for r in example_plan(stack).resources)
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


def test_a_broken_app_never_deployed_is_not_added_and_every_other_app_is_planned(tmp_path):
    """Issue 24: one app's broken config stopped the plan of every app (all or nothing, ADR 0004 before)."""
    plan = run_plan(broken_copy(tmp_path), "dev", previous_outputs={})
    apps = sorted(r.name for r in plan.resources if r.type == "minnova:index:MinnovaApp")
    assert apps == ["catalog-dev", "ledger-dev", "oracle-dev"]
    assert plan.outputs["degradedApps"] == {"storefront": {
        "keeps": "not added (never deployed by this stack)", "commit": None,
        "problems": ["examples/storefront/.minnova/app.yaml:7: port: Input should be greater than or equal to 1"]}}
    assert "storefront" not in plan.outputs["appSources"] and "oracle" in plan.outputs["appSources"]
    tree = render_tree(plan)
    assert "DEGRADED APPS (1)" in tree and "storefront: not added (never deployed by this stack)" in tree
    with pytest.raises(ConfigError) as caught:  # the CI gate of that app fails
        run_plan(broken_copy(tmp_path / "again"), "dev", previous_outputs={}, only_app="storefront")
    assert [p.field for p in caught.value.problems] == ["port", ""]


def good_then_broken(tmp_path: Path, stack: str, break_it) -> tuple:
    """Two plans of one project: as it is, then broken by `break_it(project)`, given the first plan's outputs as
    `pulumi stack output --json` prints them (and `plan --previous-outputs` reads them)."""
    from minnova_idp.cli.previous_outputs import read_previous_outputs

    project = project_copy(tmp_path)
    good = run_plan(project, stack, cache_dir=tmp_path / "cache", previous_outputs={})
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps(good.outputs))
    previous = read_previous_outputs(str(outputs))
    break_it(project)
    return good, run_plan(project, stack, cache_dir=tmp_path / "cache2", previous_outputs=previous), previous


def _break_port(project: Path) -> None:
    app_yaml = project / "examples" / "storefront" / ".minnova" / "app.yaml"
    app_yaml.write_text(app_yaml.read_text().replace("port: 3000", "port: 0"))


def _break_secrets(project: Path) -> None:
    """A merge left conflict markers in the secrets file (the offline plan has no key; `pulumi up` would also
    refuse a file it cannot decrypt)."""
    secrets = project / "examples" / "oracle" / ".minnova" / "secrets" / "prod.enc.yaml"
    secrets.write_text("<<<<<<< HEAD\n" + secrets.read_text())


def _shrink_database(project: Path) -> None:
    """A data guard (policy/guards.py) refuses it against the recorded 5Gi: oracle's own problem, isolated too."""
    app_yaml = project / "examples" / "oracle" / ".minnova" / "app.yaml"
    app_yaml.write_text(app_yaml.read_text().replace("size: 5Gi", "size: 4Gi"))


@pytest.mark.parametrize("break_it,app", [(_break_port, "storefront"), (_break_secrets, "oracle"),
                                          (_shrink_database, "oracle")])
def test_a_broken_app_keeps_exactly_what_it_deployed_across_two_runs(tmp_path, break_it, app):
    """Issue 24's done-when: nothing of the broken app is deleted (the same URNs), and nothing of it changes (the
    same inputs: re-rendered from its recorded last good config, secrets file included)."""
    good, broken, previous = good_then_broken(tmp_path, "prod", break_it)
    assert {r.urn for r in broken.resources} == {r.urn for r in good.resources}
    assert [r.as_json() for r in broken.resources] == [r.as_json() for r in good.resources]
    degraded = broken.outputs["degradedApps"]
    assert list(degraded) == [app] and degraded[app]["keeps"].startswith("keeps its last good config")
    assert degraded[app]["problems"]
    # The record is kept as it was, so the next run keeps the same config again; no new release for it.
    assert broken.outputs["appSources"] == previous["appSources"]
    assert broken.outputs["releases"][f"{app}-prod"] == previous["releases"][f"{app}-prod"]
    assert f"DEGRADED APPS (1)" in render_tree(broken)


def test_a_kept_app_is_declared_again_by_the_pulumi_program(tmp_path):
    """`pulumi up` (the real entry point, previous outputs through its StackReference) keeps the broken app too."""
    project = project_copy(tmp_path)
    good_resources, outputs = run_main(project, "prod")
    outputs = json.loads(json.dumps(outputs))
    _break_port(project)
    resources, again = run_main(project, "prod", previous_outputs=outputs)
    assert [r.as_json() for r in resources] == [r.as_json() for r in good_resources]
    assert list(again["degradedApps"]) == ["storefront"]


def test_a_deployed_app_without_a_record_stops_the_run(tmp_path):
    """Deployed by a version that recorded no appSources (or the record is gone): left out, Pulumi would delete it,
    so the run stops as before, naming why."""
    with pytest.raises(ConfigError) as caught:
        run_plan(broken_copy(tmp_path), "prod", previous_outputs={"imageTags": {"storefront-prod": ["2.0.1"]}})
    assert [p.field for p in caught.value.problems] == ["port", "storefront"]
    assert "hold no record of its last good config" in caught.value.problems[1].message


def test_a_tampered_record_is_refused(tmp_path):
    from minnova_idp.cli.previous_outputs import read_previous_outputs

    project = project_copy(tmp_path)
    outputs = run_plan(project, "prod", previous_outputs={}).outputs
    record = outputs["appSources"]["storefront"]
    record["sha256"] = "0" * 64
    file = tmp_path / "outputs.json"
    file.write_text(json.dumps(outputs))
    with pytest.raises(ConfigError) as caught:
        read_previous_outputs(str(file))
    assert caught.value.problems[0].field == "appSources.storefront"
    _break_port(project)
    with pytest.raises(ConfigError) as caught:
        run_plan(project, "prod", previous_outputs=outputs)
    assert "does not match its sha256" in str(caught.value)


def run_main(project: Path, stack: str, previous_outputs: dict | None = None):
    """The real entry point as the engine runs it: config from Pulumi's runtime, then the async program."""
    raw, secret_keys, _ = from_stack_file(project, stack)
    entrypoints = []

    async def engine():
        with patch.object(pulumi, "run", entrypoints.append):
            main(project)
        assert len(entrypoints) == 1
        return await entrypoints[0]()  # the stack's outputs (exported, and returned)

    return record(engine, project="minnova-idp", stack=stack, config=raw, secret_keys=secret_keys,
                  stack_outputs=previous_outputs)


def test_pulumi_program_registers_nothing_when_the_registry_is_broken(tmp_path):
    """The platform's own inputs still stop the run before anything is registered."""
    errors: list[pulumi.RunError] = []
    project = project_copy(tmp_path)
    entry = next((project / "deployments").glob("*/apps/storefront.yaml"))
    entry.write_text(entry.read_text() + "prot: 3000\n")
    try:
        run_main(project, "dev")
    except pulumi.RunError as exc:
        errors.append(exc)
    assert len(errors) == 1 and str(errors[0]).startswith(STOP_HEADER)
    assert "apps/storefront.yaml:" in str(errors[0]) and "prot" in str(errors[0])


def test_pulumi_program_reads_runtime_config():
    resources, _ = run_main(PROJECT_DIR, "prod")
    assert sorted(r.name for r in resources if r.type == "minnova:index:MinnovaApp") == [
        "catalog-prod", "ledger-prod", "oracle-prod", "storefront-prod"]


# ---- the fast paths of the plan write exactly what the slow ones wrote -------------------------------

def test_manifests_are_written_as_pyyaml_writes_them_and_mostly_by_libyaml(written_plan):
    """libyaml's emitter is about 6x faster; where it would fold a string differently, PyYAML writes the manifest."""
    plan, out = written_plan
    by_libyaml = 0
    for manifest in plan.manifests():
        expected = yaml.safe_dump(manifest, sort_keys=True, default_flow_style=False)
        assert (out / "manifests" / manifest_path(manifest)).read_text() == manifest_yaml(manifest) == expected
        assert manifest_yaml(manifest, yaml.SafeDumper) == expected
        if getattr(yaml, "CSafeDumper", None) is not None and libyaml_safe(manifest):
            assert manifest_yaml(manifest, yaml.CSafeDumper) == expected, manifest_path(manifest)
            by_libyaml += 1
    if getattr(yaml, "CSafeDumper", None) is not None:
        assert by_libyaml >= len(plan.manifests()) - 2  # all but the restore drill's script


@pytest.mark.parametrize("text", ["a" * 75 + "ü" + "b" * 20, "line one\n" + "word " * 20 + " \nend", "ü" * 100])
def test_strings_libyaml_would_fold_differently_are_written_by_pyyaml(text):
    manifest = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"k": text}}
    assert manifest_yaml(manifest) == yaml.safe_dump(manifest, sort_keys=True, default_flow_style=False)


def test_a_stack_without_cloudflare_never_imports_its_sdk(tmp_path):
    """pulumi_cloudflare takes seconds and over 100 MiB to import: only stacks that declare Cloudflare pay it."""
    project = project_without_a_database(tmp_path)
    stack = project / "Pulumi.prod.yaml"
    text = stack.read_text()
    stack.write_text(text[:text.index("  minnova:cloudflare:")] + text[text.index("  minnova:kubernetes:"):])
    code = ("import sys; from pathlib import Path; from minnova_idp.plan.recorder import run_plan; "
            "plan = run_plan(Path(sys.argv[1]), 'prod'); print(len(plan.resources), 'pulumi_cloudflare' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code, str(project)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    count, imported = result.stdout.split()
    assert int(count) > 10 and imported == "False"


def typed_object(name: str, manifest: dict, opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
    """An object as components/kubernetes.py created it before the thin path: pulumi_kubernetes' typed classes."""
    import pulumi_kubernetes as k8s

    api_version, kind = manifest["apiVersion"], manifest["kind"]
    fields = {"".join(f"_{c.lower()}" if c.isupper() else c for c in key): value
              for key, value in manifest.items() if key not in ("apiVersion", "kind")}
    if (api_version, kind) in kubernetes.CUSTOM:
        return k8s.apiextensions.CustomResource(name, api_version=api_version, kind=kind, opts=opts, **fields)
    group, _, version = api_version.rpartition("/")
    return getattr(getattr(getattr(k8s, group.split(".")[0] or "core"), version), kind)(name, opts=opts, **fields)


def sent_requests(create) -> dict:
    """The RegisterResourceRequests the SDK sends for what `create(provider)` registers, by resource name."""
    import pulumi_kubernetes as k8s
    from pulumi.runtime.mocks import MockMonitor
    from pulumi.runtime.stack import run_pulumi_func

    requests = {}

    class Capture(MockMonitor):
        def RegisterResource(self, request):
            requests[request.name] = request
            return super().RegisterResource(request)

    class Mocks(pulumi.runtime.Mocks):
        def new_resource(self, args):
            return f"{args.name}-id", {}

        def call(self, args):
            return {}

    def run():
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            mocks = Mocks()
            pulumi.runtime.set_mocks(mocks, project="p", stack="s", preview=True, monitor=Capture(mocks))

            async def program():
                create(k8s.Provider("kubernetes"))

            loop.run_until_complete(run_pulumi_func(program))
        finally:
            asyncio.set_event_loop(None)
            loop.close()

    contextvars.Context().run(run)
    return requests


def test_the_thin_path_sends_what_the_typed_classes_send_but_their_old_version_aliases(written_plan):
    """Every object of the example plans through both paths: the same request to the engine (type, inputs,
    secrets, provider, version, options), except the typed classes' aliases to older API versions."""
    plan, _ = written_plan
    objects = [(r.name, r.inputs) for r in plan.resources if r.is_kubernetes_object]
    assert {(m["apiVersion"], m["kind"]) for _, m in objects} >= {("v1", "Secret"), ("apps/v1", "Deployment")}

    def create(make):
        def register(provider):
            for name, manifest in objects:
                manifest = dict(manifest)
                if manifest["kind"] == "Secret":  # as ResourceCreator passes them: each value a secret
                    manifest["stringData"] = {k: pulumi.Output.secret(v) for k, v in manifest["stringData"].items()}
                make(name, manifest, pulumi.ResourceOptions(provider=provider, protect=True, retain_on_delete=True,
                                                            ignore_changes=["spec.replicas"]))
        return register

    typed = sent_requests(create(typed_object))
    thin = sent_requests(create(lambda name, manifest, opts: kubernetes.create_object(
        SimpleNamespace(name=name), manifest, opts)))
    assert sorted(typed) == sorted(thin) and len(thin) == len(objects) + 2  # and the stack and the provider
    for name, manifest in objects:
        key = (manifest["apiVersion"], manifest["kind"])
        old, new = typed[name], thin[name]
        dropped = [alias.spec.type for alias in old.aliases]
        assert dropped == [kubernetes.type_token(version, key[1]) for version in kubernetes.BUILT_IN.get(key, ())]
        assert not new.aliases
        for request in (old, new):
            for field in ("aliases", "sourcePosition", "stackTrace"):
                request.ClearField(field)
        assert old == new, name


SECRET = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270"}  # Pulumi's secret signature


@pytest.mark.parametrize("inputs", [
    {"n": 3.0, "f": 2.5, "b": True, "none": None, "s": "x", "l": [1.0, None, {"gone": None}, []], "m": {}},
    {"spec": {"x": {**SECRET, "value": "s"}, "y": 3.0, "z": None}, "plain": {"a": [1.0]}},
    {"l": ["a", {**SECRET, "value": {"k": "v", "n": None, "i": 2.0}}], "after": "x"},
    {"m": {"k": {**SECRET, "value": None}, "z": None}},
    {"stringData": {**SECRET, "value": {"A": {**SECRET, "value": "x"}, "B": "y"}}, "type": "Opaque"},
    {"deep": [[{"a": [{**SECRET, "value": 1.0}]}], "b"]},
    {"unknown": "04da6b54-80e4-46f7-96ec-b56ff0331ba9"},
    {"other": {"4dabf18193072939515e22adb298388d": "c44067f5952c0a294b673a41bacd8c17", "path": "/x"}},
])
def test_recorded_inputs_are_what_the_sdk_deserializer_gives(inputs):
    """The recorder reads the wire itself (the SDK's deserializer was a sixth of a plan); same result, same types."""
    from google.protobuf import struct_pb2
    from pulumi.runtime import rpc

    from minnova_idp.plan.recorder import as_sent, sent_inputs

    struct = struct_pb2.Struct()
    struct.update(inputs)
    try:
        expected = as_sent(rpc.deserialize_properties(struct))
    except Exception as exc:  # noqa: BLE001 - what the SDK cannot read, neither can the recorder
        with pytest.raises(type(exc)):
            sent_inputs(struct)
        return
    as_text = lambda value: json.dumps(value, default=lambda o: type(o).__name__)  # noqa: E731 - 3 and 3.0 differ
    assert as_text(sent_inputs(struct)) == as_text(expected)


def _redirecting_alias(project: Path) -> None:
    app_yaml = project / "examples" / "storefront" / ".minnova" / "app.yaml"
    text = app_yaml.read_text()
    assert "{host: store.minnova.io, redirect: false}" in text
    app_yaml.write_text(text.replace("{host: store.minnova.io, redirect: false}", "{host: store.minnova.io}"))


def test_a_redirecting_alias_is_planned_through_the_components_and_validates(tmp_path):
    """A redirecting alias (the default) registers Traefik's Middleware through components/kubernetes.py: it was
    missing from CUSTOM and KubernetesObject raised TypeError, stopping the plan (and `pulumi up`) of the stack."""
    project = project_copy(tmp_path)
    _redirecting_alias(project)
    plan = run_plan(project, "prod", previous_outputs={})
    assert plan.outputs["degradedApps"] == {}
    kinds = {(m["kind"], m["metadata"]["name"]) for m in plan.manifests()
             if m["metadata"].get("namespace") == "storefront-prod"}
    assert {("Middleware", "storefront-redirect"), ("Ingress", "storefront-redirect")} <= kinds
    validate_objects(plan.manifests())  # the Middleware against Traefik's CRD (tests/support/traefik.py)


def test_a_redirecting_alias_on_a_stack_not_saying_traefik_is_that_apps_problem(tmp_path):
    """ADR 0015's cost: a redirect is a Traefik Middleware, which another controller never reads."""
    project = project_copy(tmp_path)
    _redirecting_alias(project)
    stack_file = project / "Pulumi.prod.yaml"
    stack_file.write_text(stack_file.read_text().replace("minnova:ingressClass: traefik",
                                                         "minnova:ingressClass: nginx"))
    plan = run_plan(project, "prod", previous_outputs={})
    apps = sorted(r.name for r in plan.resources if r.type == "minnova:index:MinnovaApp")
    assert apps == ["catalog-prod", "ledger-prod", "oracle-prod"]
    (problem,) = plan.outputs["degradedApps"]["storefront"]["problems"]
    assert problem.startswith("examples/storefront/.minnova/app.yaml: environments.prod.aliases[0].redirect: "
                              "'store.minnova.io' redirects, which needs Traefik, but the stack file Pulumi.prod.yaml "
                              "sets minnova:ingressClass: nginx")


def test_a_urn_registered_twice_stops_the_plan_naming_it():
    """pulumi@v3.259.0 pkg/resource/deploy/step_generator.go:276-287 refuses a second registration of one URN (the
    whole update stops): the plan says so too, instead of recording both."""
    from minnova_idp.plan.recorder import DuplicateUrnError

    def program():
        manifest = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "a"}}
        kubernetes.KubernetesObject("a-configmap-x", manifest, pulumi.ResourceOptions())
        kubernetes.KubernetesObject("a-configmap-x", manifest, pulumi.ResourceOptions())

    with pytest.raises(DuplicateUrnError, match=r"kubernetes:core/v1:ConfigMap::a-configmap-x"):
        record(program)
