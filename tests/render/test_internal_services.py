"""Internal services and app-to-app access (issue 26 item 5, ADR 0016): a process with a port serves on a ClusterIP
Service only; the callee's registry entry (`allowFrom`) opens exactly one path, environment to same environment;
nothing else between app namespaces changes, and no app.yaml can open a path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from minnova_idp.model.app_config import AppConfig
from minnova_idp.model.registry import RegistryEntry
from minnova_idp.plan.recorder import manifest_yaml, run_plan
from minnova_idp.render.declaration import declare
from minnova_idp.render.internal_services import (access_for, egress_policy_name, ingress_policies,
                                                  ingress_policy_name)
from minnova_idp.render.resources import KubernetesObject

from tests.conftest import PROJECT_DIR, app_config_problems, load_stack_inputs, project_copy, stack_problems
from tests.support.k8s_strict import validate_objects
from tests.support.netpol import Cluster, Pod

GOLDEN = Path(__file__).parent.parent / "golden"
ORACLE_ENTRY = "deployments/minnova/apps/oracle.yaml"


def _manifests(inputs) -> list[dict]:
    return [o.manifest for instance in declare(inputs).apps for o in instance.resources
            if isinstance(o, KubernetesObject)]


def _by_key(manifests) -> dict:
    return {(m["kind"], m["metadata"].get("namespace"), m["metadata"]["name"]): m for m in manifests}


def _with_ledger(project: Path) -> Path:
    """The third app is the example `ledger` (MySQL), registered without any allowFrom: it must reach nobody's
    internal service."""
    entry = (project / "deployments/minnova/apps/ledger.yaml").read_text()
    assert "allowFrom" not in entry and (project / "examples/ledger/.minnova/app.yaml").is_file()
    return project


def _without_allow_from(project: Path) -> Path:
    entry = project / ORACLE_ENTRY
    entry.write_text("".join(line for line in entry.read_text().splitlines(keepends=True)
                             if not line.startswith("allowFrom")))
    return project


@pytest.fixture(scope="module")
def three_apps(tmp_path_factory):
    """The dev and prod stacks of the example deployment with a third app, rendered together (one cluster)."""
    project = _with_ledger(project_copy(tmp_path_factory.mktemp("three")))
    return [*_manifests(load_stack_inputs(project, "dev")), *_manifests(load_stack_inputs(project, "prod"))]


def _pod(manifests: list[dict], namespace: str, deployment: str, ip: str) -> Pod:
    found = _by_key(manifests)[("Deployment", namespace, deployment)]["spec"]["template"]
    ports = {p["name"]: p["containerPort"] for c in found["spec"]["containers"] for p in c.get("ports", [])}
    return Pod(namespace, dict(found["metadata"]["labels"]), ip, ports)


def test_an_internal_process_is_a_cluster_ip_service_on_its_port_with_probes_and_no_public_host():
    manifests = _by_key(run_plan(PROJECT_DIR, "dev").manifests())
    service = manifests[("Service", "oracle-dev", "oracle-api")]["spec"]
    assert service["type"] == "ClusterIP"
    assert service["ports"] == [{"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP"}]
    pod = manifests[("Deployment", "oracle-dev", "oracle-api")]["spec"]["template"]
    assert service["selector"].items() <= pod["metadata"]["labels"].items()
    web = manifests[("Deployment", "oracle-dev", "oracle")]["spec"]["template"]
    assert not service["selector"].items() <= web["metadata"]["labels"].items()  # never the web pods
    [container] = pod["spec"]["containers"]
    assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert {"name": "PORT", "value": "8080"} in container["env"]  # its own port, not the web's 4000
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["livenessProbe"]["tcpSocket"] == {"port": "http"}
    assert container["lifecycle"] == {"preStop": {"sleep": {"seconds": 5}}}
    # The worker stays a worker: no port, no probes, no Service.
    worker = manifests[("Deployment", "oracle-dev", "oracle-worker")]["spec"]["template"]["spec"]["containers"][0]
    assert "ports" not in worker and "readinessProbe" not in worker
    assert ("Service", "oracle-dev", "oracle-worker") not in manifests
    # No Ingress, certificate or DNS record for it: the only public host is the web process's.
    ingresses = [m for (kind, _, _), m in manifests.items() if kind == "Ingress"]
    assert {rule["http"]["paths"][0]["backend"]["service"]["name"] for m in ingresses for rule in m["spec"]["rules"]} \
        == {"oracle", "storefront", "catalog", "ledger"}  # each app's web process; never oracle-api
    plan = run_plan(PROJECT_DIR, "dev")
    records = [r.inputs for r in plan.resources if r.type == "cloudflare:index/dnsRecord:DnsRecord"]
    assert not any("api" in record["name"] for record in records)
    validate_objects([m for m in manifests.values() if m["metadata"].get("namespace") == "oracle-dev"
                      and m["kind"] in ("Service", "Deployment", "NetworkPolicy")])


def test_the_caller_named_in_allow_from_finds_the_callee_by_url():
    manifests = _by_key(run_plan(PROJECT_DIR, "prod").manifests())
    env = manifests[("Deployment", "storefront-prod", "storefront")]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "ORACLE_API_URL", "value": "http://oracle-api.oracle-prod.svc:8080"} in env
    oracle_env = manifests[("Deployment", "oracle-prod", "oracle")]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert not any(item["name"].endswith("_URL") and "svc" in item.get("value", "") for item in oracle_env)


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_network_policies_allow_exactly_the_reviewed_path(three_apps, environment):
    """Semantics, not shape: tests/support/netpol.py evaluates the rendered policies of every namespace as the API
    defines them (kubernetes/api@v0.33.13 networking/v1/types.go)."""
    cluster = Cluster(three_apps)
    other = "prod" if environment == "dev" else "dev"
    storefront = _pod(three_apps, f"storefront-{environment}", "storefront", "10.244.1.10")
    ledger = _pod(three_apps, f"ledger-{environment}", "ledger", "10.244.1.11")
    api = _pod(three_apps, f"oracle-{environment}", "oracle-api", "10.244.2.20")
    oracle_web = _pod(three_apps, f"oracle-{environment}", "oracle", "10.244.2.21")
    worker = _pod(three_apps, f"oracle-{environment}", "oracle-worker", "10.244.2.22")
    other_api = _pod(three_apps, f"oracle-{other}", "oracle-api", "10.244.3.30")
    other_storefront = _pod(three_apps, f"storefront-{other}", "storefront", "10.244.3.31")
    database = Pod(f"oracle-{environment}", {"cnpg.io/cluster": "oracle-db", "cnpg.io/podRole": "instance"},
                   "10.244.2.23")

    assert cluster.can_reach(storefront, api, 8080)  # caller -> callee's internal port: yes
    assert not cluster.can_reach(storefront, api, 4000)  # caller -> callee, another port: no
    assert not cluster.can_reach(storefront, api, 8081)
    assert not cluster.can_reach(storefront, api, 8080, protocol="UDP")
    assert not cluster.can_reach(storefront, oracle_web, 4000)  # nor its web, worker or database
    assert not cluster.can_reach(storefront, oracle_web, 8080)
    assert not cluster.can_reach(storefront, worker, 8080)
    assert not cluster.can_reach(storefront, database, 5432)
    assert not cluster.can_reach(ledger, api, 8080)  # a third app -> callee: no
    assert not cluster.can_reach(api, storefront, 3000)  # callee -> caller: no
    assert not cluster.can_reach(oracle_web, storefront, 3000)
    assert not cluster.can_reach(storefront, other_api, 8080)  # never across environments
    assert not cluster.can_reach(other_storefront, api, 8080)
    assert cluster.can_reach(oracle_web, api, 8080)  # the callee's own pods, as before
    # Each side holds on its own (a namespace whose other side were misconfigured, or a CNI enforcing one side):
    # the callee admits only the caller's app pods on the port, the caller lets them out only there.
    assert cluster.ingress_allows(storefront, api, 8080) and cluster.egress_allows(storefront, api, 8080)
    assert not cluster.ingress_allows(storefront, api, 4000) and not cluster.egress_allows(storefront, api, 4000)
    assert not cluster.ingress_allows(storefront, worker, 8080) and not cluster.egress_allows(storefront, worker, 8080)
    assert not cluster.ingress_allows(ledger, api, 8080) and not cluster.ingress_allows(other_storefront, api, 8080)
    not_app_code = Pod(f"storefront-{environment}", {"cnpg.io/cluster": "storefront-db"}, "10.244.1.12")
    assert not cluster.ingress_allows(not_app_code, api, 8080)  # only the caller's app pods, not its namespace
    assert not cluster.egress_allows(storefront, other_api, 8080)


def test_a_preview_of_the_caller_reaches_no_internal_service(three_apps):
    """Decided (ADR 0016): previews are never granted a path; a preview of storefront gets no URL and no policy
    to oracle, and oracle's namespaces admit only storefront's namespace of the same environment by name."""
    from minnova_idp.load.validation import validate_document
    from minnova_idp.load.yamlsafe import load_yaml
    from minnova_idp.model.app_config import AppConfig
    from minnova_idp.render.preview import preview_request, render_preview

    request = preview_request({"app": "storefront", "pr_number": "7", "head_sha": "b" * 40,
                               "preview_domain": "preview.minnova.io", "deployment": "minnova",
                               "ingress_class": "traefik"}, {})
    # The example's bucket is not what this test is about: a preview with storage also needs its previews bucket.
    text = (PROJECT_DIR / "examples/storefront/.minnova/app.yaml").read_text().replace("storage:\n  enabled: true\n", "")
    assert "storage:" not in text
    preview = render_preview(validate_document(AppConfig, load_yaml(text, "app.yaml")), request, None, (), None,
                             "0" * 64)
    assert not any(m["kind"] == "NetworkPolicy" and m["metadata"]["name"].startswith(("allow.", "allow-to."))
               for m in preview)
    deployment = next(m for m in preview if m["kind"] == "Deployment")
    assert not any(item["name"] == "ORACLE_API_URL" for item in deployment["spec"]["template"]["spec"]["containers"][0]["env"])
    cluster = Cluster([*three_apps, *preview])
    preview_pod = Pod("storefront-pr-7", dict(deployment["spec"]["template"]["metadata"]["labels"]), "10.244.4.40")
    for environment in ("dev", "prod"):
        api = _pod(three_apps, f"oracle-{environment}", "oracle-api", "10.244.2.20")
        assert not cluster.can_reach(preview_pod, api, 8080)


# Example apps added after the golden policies were written (their own policies are tested beside their modules):
# their namespaces are new, so leaving them out compares every policy of the apps the golden file knows.
LATER_EXAMPLES = ("catalog-", "ledger-")


def _policies_text(manifests) -> str:
    """Every NetworkPolicy, as the plan writes each manifest (manifest_yaml), in (namespace, name) order."""
    policies = sorted((m for m in manifests if m["kind"] == "NetworkPolicy"
                       and not m["metadata"]["namespace"].startswith(LATER_EXAMPLES)),
                      key=lambda m: (m["metadata"]["namespace"], m["metadata"]["name"]))
    return "".join("---\n" + manifest_yaml(m) for m in policies)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_without_allow_from_every_network_policy_is_byte_identical_to_before(tmp_path, stack):
    """tests/golden/network-policies-<stack>.yaml: every NetworkPolicy of the example plans as the code before
    internal services wrote them (main at 9f94f37). Without allowFrom (oracle still has its internal process), the
    plan's policies are those bytes; with it, the same bytes plus exactly the two policies of the reviewed path."""
    golden = GOLDEN / f"network-policies-{stack}.yaml"
    without = _policies_text(run_plan(_without_allow_from(project_copy(tmp_path)), stack).manifests())
    if os.environ.get("MINNOVA_UPDATE_GOLDEN") == "1" and not golden.exists():
        golden.write_text(without)
    assert without == golden.read_text()
    with_path = [m for m in run_plan(PROJECT_DIR, stack).manifests() if m["kind"] == "NetworkPolicy"]
    added = [m for m in with_path if m["metadata"]["name"].startswith(("allow.", "allow-to."))]
    assert _policies_text([m for m in with_path if m not in added]) == golden.read_text()
    assert sorted((m["metadata"]["namespace"], m["metadata"]["name"]) for m in added) == [
        (f"oracle-{stack}", "allow.storefront.api"), (f"storefront-{stack}", "allow-to.oracle")]
    validate_objects(added)


def test_no_app_yaml_can_open_a_path():
    """allowFrom is a registry field: app.yaml refuses it wherever it is written."""
    for extra in ("allowFrom: [storefront]\n", "processes: {api: {command: [x], port: 80, allowFrom: [x]}}\n",
                  "preview: {allowFrom: [x]}\n"):
        problems = app_config_problems(extra)
        assert any("allowFrom" in problem for problem in problems), (extra, problems)


def test_a_caller_cannot_reach_a_callee_whose_entry_does_not_name_it(tmp_path):
    """Whatever the caller's app.yaml says (here it sets the URL itself), without the callee's registry entry naming
    it nothing is opened, and the callee's port stays closed to it."""
    project = _without_allow_from(project_copy(tmp_path))
    app_yaml = project / "examples/storefront/.minnova/app.yaml"
    app_yaml.write_text(app_yaml.read_text().replace(
        "  NODE_ENV: production\n", "  NODE_ENV: production\n  ORACLE_API_URL: http://oracle-api.oracle-dev.svc:8080\n"))
    manifests = _manifests(load_stack_inputs(project, "dev"))
    assert not any(m["kind"] == "NetworkPolicy" and m["metadata"]["name"].startswith(("allow.", "allow-to.")) for m in manifests)
    cluster = Cluster(manifests)
    assert not cluster.can_reach(_pod(manifests, "storefront-dev", "storefront", "10.244.1.10"),
                                 _pod(manifests, "oracle-dev", "oracle-api", "10.244.2.20"), 8080)
    env = _by_key(manifests)[("Deployment", "storefront-dev", "storefront")]["spec"]["template"]["spec"]["containers"][0]
    assert [item for item in env["env"] if item["name"] == "ORACLE_API_URL"] == [
        {"name": "ORACLE_API_URL", "value": "http://oracle-api.oracle-dev.svc:8080"}]  # its own value, once


def test_the_apps_own_value_of_the_url_variable_wins_and_is_not_duplicated(tmp_path):
    project = project_copy(tmp_path)
    app_yaml = project / "examples/storefront/.minnova/app.yaml"
    app_yaml.write_text(app_yaml.read_text().replace(
        "  NODE_ENV: production\n", "  NODE_ENV: production\n  ORACLE_API_URL: http://elsewhere:1\n"))
    manifests = _by_key(_manifests(load_stack_inputs(project, "dev")))
    env = manifests[("Deployment", "storefront-dev", "storefront")]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert [item for item in env if item["name"] == "ORACLE_API_URL"] == [
        {"name": "ORACLE_API_URL", "value": "http://elsewhere:1"}]
    assert ("NetworkPolicy", "storefront-dev", "allow-to.oracle") in manifests  # the reviewed path is still open


@pytest.mark.parametrize("allow_from,message", [
    ("[shop]", "'shop' is not a registered app of this deployment"),
    ("[storefront, {app: nobody, processes: [api]}]", "'nobody' is not a registered app of this deployment"),
    ("[oracle]", "'oracle' is this app"),
    ("[storefront, {app: storefront}]", "'storefront' is listed twice"),
])
def test_a_caller_that_is_not_registered_is_a_registry_error_naming_file_line_and_field(tmp_path, allow_from,
                                                                                       message):
    project = project_copy(tmp_path)
    entry = project / ORACLE_ENTRY
    entry.write_text(entry.read_text().replace("allowFrom: [storefront]", f"allowFrom: {allow_from}"))
    problems = stack_problems(project, "dev")
    line = entry.read_text().splitlines().index(f"allowFrom: {allow_from}") + 1
    assert len(problems) == 1 and problems[0].startswith(f"{ORACLE_ENTRY}:{line}: allowFrom[") \
        and message in problems[0], problems


def test_a_bad_allow_from_item_is_refused_by_the_registry_model():
    from minnova_idp.model.errors import ConfigError
    from minnova_idp.load.validation import validate_document
    from minnova_idp.load.yamlsafe import load_yaml

    for bad in ("allowFrom: [Shop]", "allowFrom: [{app: shop, processes: [web]}]", "allowFrom: [{app: shop, x: 1}]",
                "allowFrom: shop"):
        with pytest.raises(ConfigError) as caught:
            validate_document(RegistryEntry, load_yaml(f"name: oracle\nlocal: examples/oracle\n{bad}\n", "o.yaml"))
        assert all(p.field.startswith("allowFrom") for p in caught.value.problems), (bad, caught.value.problems)


def test_allow_from_narrowed_to_processes_opens_only_those(tmp_path):
    project = project_copy(tmp_path)
    app_yaml = project / "examples/oracle/.minnova/app.yaml"
    app_yaml.write_text(app_yaml.read_text().replace(
        "  api:  ", "  admin:\n    command: [\"bin/oracle\"]\n    port: 9000\n  api:  "))
    entry = project / ORACLE_ENTRY
    entry.write_text(entry.read_text().replace("allowFrom: [storefront]",
                                               "allowFrom: [{app: storefront, processes: [admin]}]"))
    manifests = _manifests(load_stack_inputs(project, "dev"))
    names = {(m["metadata"]["namespace"], m["metadata"]["name"]) for m in manifests if m["kind"] == "NetworkPolicy"}
    assert ("oracle-dev", "allow.storefront.admin") in names and ("oracle-dev", "allow.storefront.api") not in names
    cluster = Cluster(manifests)
    storefront = _pod(manifests, "storefront-dev", "storefront", "10.244.1.10")
    assert cluster.can_reach(storefront, _pod(manifests, "oracle-dev", "oracle-admin", "10.244.2.24"), 9000)
    assert not cluster.can_reach(storefront, _pod(manifests, "oracle-dev", "oracle-api", "10.244.2.20"), 8080)
    env = _by_key(manifests)[("Deployment", "storefront-dev", "storefront")]["spec"]["template"]["spec"]["containers"][0]
    assert {e["name"] for e in env["env"]} >= {"ORACLE_ADMIN_URL"} and "ORACLE_API_URL" not in {e["name"] for e in env["env"]}


def test_a_broken_callee_does_not_stop_the_callers_plan(tmp_path):
    """docs/isolation.md: an app never deployed whose config fails is not added; its caller is planned, with no
    path and no URL to it (nothing to call). A kept callee (deployed, then broken) keeps its path: the recorder's
    test of a broken app keeping exactly what it deployed covers oracle with storefront beside it."""
    project = project_copy(tmp_path)
    app_yaml = project / "examples/oracle/.minnova/app.yaml"
    app_yaml.write_text(app_yaml.read_text().replace("port: 4000", "port: 0"))
    plan = run_plan(project, "dev", previous_outputs={})
    assert list(plan.outputs["degradedApps"]) == ["oracle"]
    manifests = _by_key(plan.manifests())
    assert ("Deployment", "storefront-dev", "storefront") in manifests
    assert ("NetworkPolicy", "storefront-dev", "allow-to.oracle") not in manifests
    env = manifests[("Deployment", "storefront-dev", "storefront")]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert "ORACLE_API_URL" not in {item["name"] for item in env}


def test_a_broken_caller_changes_nothing_of_the_callee(tmp_path):
    """The callee's objects depend on its own entry and config only: a caller left out changes none of them."""
    project = project_copy(tmp_path)
    good = [m for m in run_plan(project, "dev").manifests() if m["metadata"].get("namespace") == "oracle-dev"]
    app_yaml = project / "examples/storefront/.minnova/app.yaml"
    app_yaml.write_text(app_yaml.read_text().replace("port: 3000", "port: 0"))
    broken = run_plan(project, "dev", previous_outputs={})
    assert list(broken.outputs["degradedApps"]) == ["storefront"]
    assert [m for m in broken.manifests() if m["metadata"].get("namespace") == "oracle-dev"] == good


def test_plan_json_and_the_stack_output_show_internal_services_and_their_callers():
    outputs = run_plan(PROJECT_DIR, "prod").outputs
    assert outputs["internalServices"] == {
        "oracle-prod": {"services": {"api": {"url": "http://oracle-api.oracle-prod.svc:8080", "port": 8080,
                                             "allowFrom": ["storefront"]}}, "calls": {}},
        "storefront-prod": {"services": {}, "calls": {"ORACLE_API_URL": "http://oracle-api.oracle-prod.svc:8080"}}}


def test_model_rules_of_an_internal_process():
    assert any("healthCheck" in p or "port" in p for p in app_config_problems(
        "processes: {w: {command: [x], healthCheck: {path: /h}}}\n"))
    assert any("processes.api.port" in p for p in app_config_problems("processes: {api: {command: [x], port: 0}}\n"))
    assert any("processes.db-rw.port" in p and "database" in p
               for p in app_config_problems("processes: {db-rw: {command: [x], port: 5432}}\n"))


def test_the_process_pods_the_policies_name_are_the_processes_own():
    """internal_services.InternalService.pods spells app.process_selector: the evaluator tests above would fail if
    they diverged, and so does this, directly."""
    from minnova_idp.render.app import process_selector
    from minnova_idp.render.internal_services import InternalService
    from minnova_idp.render.placement import Placement
    from minnova_idp.model.app_config import AppConfig

    config = AppConfig.model_validate(yaml.safe_load((PROJECT_DIR / "examples/oracle/.minnova/app.yaml").read_text()))
    placement = Placement(environment="dev", namespace="oracle-dev", host="h", replicas=1, image_tag="t")
    assert InternalService("oracle", "api", "oracle-dev", 8080).pods == process_selector(config, placement, "api")


def _app(name: str, processes: dict) -> AppConfig:
    return AppConfig.model_validate({"name": name, "image": {"repository": f"ghcr.io/acme/{name}"}, "port": 8080,
                                     "environments": {"prod": {"host": f"{name}.acme.dev"}}, "processes": processes})


def _entry(name: str, allow=()) -> RegistryEntry:
    return RegistryEntry.model_validate({"name": name, "repo": f"https://github.com/acme/{name}.git",
                                         "allowFrom": list(allow)})


def test_policy_names_are_unambiguous_for_hyphenated_callers_and_processes():
    """`allow-<caller>-to-<process>` was one name for caller `a-to-b` + process `c` and caller `a` + process `b-to-c`
    (one URN twice: pulumi stops the update); `allow-to-<callee>` was caller `to`'s policy for process `<callee>`."""
    callee = (_entry("svc", ["a-to-b", "to", {"app": "a", "processes": ["b-to-c"]}]),
              _app("svc", {"c": {"command": ["x"], "port": 8000}, "b-to-c": {"command": ["x"], "port": 9000},
                           "api": {"command": ["x"], "port": 7000}}))
    apps = [callee, (_entry("a"), _app("a", {})), (_entry("a-to-b"), _app("a-to-b", {})),
            (_entry("to"), _app("to", {}))]
    names = [p["metadata"]["name"] for p in ingress_policies("svc-prod", {}, "svc", access_for("svc", "prod", apps))]
    assert len(names) == len(set(names)) and "allow.a-to-b.c" in names and "allow.a.b-to-c" in names
    assert "allow.to.api" in names
    # a namespace's egress policy (allow-to.<callee>) never takes an ingress policy's name
    assert egress_policy_name("api") not in names and ingress_policy_name("to", "api") != egress_policy_name("api")


def test_a_caller_secret_of_the_url_name_is_not_overridden_and_status_says_so():
    """env beats envFrom (kubernetes/api@v0.33.13 core/v1/types.go:2811): an injected ORACLE_API_URL replaced the
    caller's secret of that name. The app's own value wins, as for app.yaml env, and `described` names it."""
    from dataclasses import replace

    from minnova_idp.model.secrets import SecretValues
    from minnova_idp.render.app import render_app
    from minnova_idp.render.internal_services import described, own_env_names
    from minnova_idp.render.placement import RenderSettings, environment_placement

    caller = _app("caller", {})
    apps = [(_entry("oracle", ["caller"]), _app("oracle", {"api": {"command": ["x"], "port": 8080}})),
            (_entry("caller"), caller)]
    access = access_for("caller", "prod", apps)
    secrets = SecretValues(source="secrets/prod.enc.yaml", string_data={"ORACLE_API_URL": "https://mine"})
    placement = replace(environment_placement(caller, "prod", "1", secrets=secrets), internal=access)
    settings = RenderSettings(deployment="acme", ingress_class="traefik", cluster_issuer=None)
    deployment = next(o for o in render_app(caller, placement, settings) if o["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert not [item for item in container["env"] if item["name"] == "ORACLE_API_URL"]
    assert container["envFrom"] == [{"secretRef": {"name": "caller-secrets"}}]
    without = replace(environment_placement(caller, "prod", "1"), internal=access)
    assert {"name": "ORACLE_API_URL", "value": "http://oracle-api.oracle-prod.svc:8080"} in next(
        o for o in render_app(caller, without, settings) if o["kind"] == "Deployment"
    )["spec"]["template"]["spec"]["containers"][0]["env"]
    shown = described("caller", "caller-prod", caller, access, own_env_names({}, secrets.keys))
    assert shown["notInjected"] == ["ORACLE_API_URL"]
    assert "notInjected" not in described("caller", "caller-prod", caller, access)


def test_two_callees_giving_a_caller_one_variable_name_are_refused_naming_both(tmp_path):
    """`oracle`'s process `api-x` and `oracle-api`'s process `x` are both ORACLE_API_X_URL for storefront: the first
    in name order won, so a callee adding a process could take another's traffic. Refused; under isolation the app
    whose new config adds the clash is the one kept back."""
    project = project_copy(tmp_path)
    oracle = project / "examples/oracle/.minnova/app.yaml"
    oracle.write_text(oracle.read_text().replace("cron:\n", "  api-x:\n    command: [\"bin/oracle\"]\n    port: 9000\n"
                                                 "cron:\n", 1))
    source = project / "examples/oracle-api/.minnova"
    source.mkdir(parents=True)
    (source / "app.yaml").write_text(
        "name: oracle-api\nimage: {repository: registry.minnova.io/oracle-api, tag: '1'}\nport: 80\n"
        "environments: {dev: {host: oracle-api.dev.minnova.io}}\nprocesses: {x: {command: [x], port: 9000}}\n")
    (project / "deployments/minnova/apps/oracle-api.yaml").write_text(
        "name: oracle-api\nlocal: examples/oracle-api\nallowFrom: [storefront]\n")
    problems = stack_problems(project, cache_dir=tmp_path / "cache")
    assert ("deployments/minnova/apps/oracle-api.yaml: allowFrom: 'storefront' would get ORACLE_API_X_URL from both "
            "'oracle' (process api-x) and 'oracle-api' (process x): one variable cannot name two services") in [
        p.split(" (hint:")[0] for p in problems], problems
    plan = run_plan(project, "dev", cache_dir=tmp_path / "cache", previous_outputs={})
    assert list(plan.outputs["degradedApps"]) == ["oracle-api"]
    env = next(m for m in plan.manifests() if m["kind"] == "Deployment" and m["metadata"]["name"] == "storefront")
    assert [e["value"] for e in env["spec"]["template"]["spec"]["containers"][0]["env"]
            if e["name"] == "ORACLE_API_X_URL"] == ["http://oracle-api-x.oracle-dev.svc:9000"]


def _problems_of(document: dict) -> list[str]:
    from minnova_idp.load.validation import validate_document
    from minnova_idp.load.yamlsafe import load_yaml
    from minnova_idp.model.errors import ConfigError

    try:
        validate_document(AppConfig, load_yaml(yaml.safe_dump(document), "app.yaml"))
    except ConfigError as error:
        return [str(p) for p in error.problems]
    return []


@pytest.mark.parametrize("process,environment,owner", [
    ("db-rw", {}, "CloudNativePG's Cluster shop-db"),
    ("db-r", {}, "CloudNativePG's Cluster shop-db"),
    ("db-copy-rw", {}, "CloudNativePG's Cluster shop-db-copy"),  # a preview's copy
    ("db-drill-ro", {}, "CloudNativePG's Cluster shop-db-drill"),  # the restore drill
    ("db-pg17-rw", {}, "CloudNativePG's Cluster shop-db-pg17"),  # a major upgrade's new Cluster
    ("db-2-rw", {"database": {"backupName": "shop-db-2"}}, "CloudNativePG's Cluster shop-db-2"),
    ("db-2-drill-r", {"database": {"backupName": "shop-db-2"}}, "CloudNativePG's Cluster shop-db-2-drill"),
    ("mysql-primary", {}, "mariadb-operator's MariaDB shop-mysql"),
    ("mysql-secondary", {}, "mariadb-operator's MariaDB shop-mysql"),
    ("mysql-internal", {}, "mariadb-operator's MariaDB shop-mysql"),
    ("maria", {"mysql": {"serverName": "shop-maria"}}, "mariadb-operator's MariaDB shop-maria"),
    ("mongodb-rs0", {}, "the MongoDB operator's PerconaServerMongoDB shop-mongodb"),
    ("mongo2-rs0", {"mongodb": {"clusterName": "shop-mongo2"}}, "PerconaServerMongoDB shop-mongo2"),
    ("old-rs0", {"mongodb": {"clusterName": "shop-new", "restore": {"fromCluster": "shop-old",
                                                                  "backup": "2026-11-20T03:00:21Z"}}},
     "PerconaServerMongoDB shop-old"),
])
def test_an_internal_service_never_takes_a_database_operators_service(process, environment, owner):
    """Only db-rw/-ro/-r were refused: every other Service an operator creates in the namespace (cloudnative-pg
    @v1.30.0 internal/controller/cluster_create.go:416-417 refuses one it does not own) was open to a process."""
    document = {"name": "shop", "image": {"repository": "ghcr.io/acme/shop"}, "port": 8080,
                "environments": {"dev": {"host": "shop.dev.acme.dev", **environment}},
                "processes": {process: {"command": ["x"], "port": 5432}}}
    problems = [p for p in _problems_of(document) if f"processes.{process}.port" in p]
    assert problems and f"the Service `shop-{process}` would be a database's" in problems[0] and owner in problems[0]
    document["processes"] = {process: {"command": ["x"]}}  # a worker has no Service: nothing to take
    assert not [p for p in _problems_of(document) if f"processes.{process}" in p]


def test_the_reserved_mongodb_replset_is_the_renderers():
    from minnova_idp.model.operator_services import MONGODB_REPLSET
    from minnova_idp.render.mongodb import REPLSET

    assert MONGODB_REPLSET == REPLSET


def test_a_cron_job_named_like_a_process_is_refused():
    """Both run pods labelled `<namespace>-api`: the process's Deployment, Service and policies would select the
    cron job's pods."""
    problems = app_config_problems("processes: {api: {command: [x], port: 8080}}\n"
                                   "cron: {api: {schedule: '0 1 * * *', command: [y]}}\n")
    assert any(p.startswith("app.yaml") and ": cron.api: is also a process's name" in p for p in problems), problems


@pytest.mark.parametrize("name", ["drill-check", "mysql-seed", "mysql-drill-check"])
@pytest.mark.parametrize("kind", ["processes", "cron"])
def test_a_name_the_platforms_jobs_label_their_pods_with_is_reserved(name, kind):
    job = "{command: [x]}" if kind == "processes" else "{schedule: '0 1 * * *', command: [x]}"
    problems = app_config_problems(f"{kind}: {{{name}: {job}}}\n")
    assert any(f"'{name}' is reserved" in p for p in problems), problems


def test_the_drill_checks_instance_is_what_a_process_named_drill_check_would_get():
    """The reserved names are the ones the renderer gives its Jobs' pods (a process `<name>` gets `<inst>-<name>`):
    the drill's check Job (render/drill.py, inside the drill's ConfigMap) runs as `oracle-dev-drill-check`."""
    from minnova_idp.model.app_config import RESERVED_PROCESS_NAMES

    drill = next(m for m in _manifests(load_stack_inputs(PROJECT_DIR, "dev"))
                 if m["kind"] == "ConfigMap" and m["metadata"]["name"] == "oracle-db-drill")
    check_job = yaml.safe_load(drill["data"]["check-job.yaml"])
    assert check_job["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/instance"] == "oracle-dev-drill-check"
    assert "drill-check" in RESERVED_PROCESS_NAMES
