"""Isolation between tenants in dev and prod: network policies, quotas, limits on what an app may ask for."""

from __future__ import annotations

import ipaddress
import json

import pytest

from minnova_idp.model import versions

from tests.conftest import PROJECT_DIR, example_plan, project_copy, stack_problems
from tests.support.k8s_strict import require_crds, validate_objects


@pytest.fixture(scope="module")
def prod_manifests():
    return {(m["kind"], m["metadata"].get("namespace"), m["metadata"]["name"]): m
            for m in example_plan("prod").manifests()}


def test_every_app_namespace_admits_only_its_own_pods_and_non_app_namespaces(prod_manifests):
    for namespace in ("oracle-prod", "storefront-prod"):
        policy = prod_manifests[("NetworkPolicy", namespace, "deny-other-apps")]["spec"]
        # oracle has a Redis: its Valkey pod is left to a stricter policy of its own (test_redis.py).
        assert policy["podSelector"] == ({"matchExpressions": [{"key": "app.kubernetes.io/component",
                                                                "operator": "NotIn", "values": ["redis"]}]}
                                         if namespace == "oracle-prod" else {})
        assert policy["policyTypes"] == ["Ingress"]
        assert policy["ingress"] == [{"from": [{"podSelector": {}}, {"namespaceSelector": {"matchExpressions": [
            {"key": "app.kubernetes.io/managed-by", "operator": "NotIn", "values": ["minnova-idp"]}]}}]}]
        # ...and the namespace carries the label that keeps other apps out.
        labels = prod_manifests[("Namespace", None, namespace)]["metadata"]["labels"]
        assert labels["app.kubernetes.io/managed-by"] == "minnova-idp"


def test_an_apps_code_reaches_dns_its_database_and_the_internet_only(prod_manifests):
    policy = prod_manifests[("NetworkPolicy", "oracle-prod", "app-egress")]["spec"]
    deployment = prod_manifests[("Deployment", "oracle-prod", "oracle")]
    assert policy["podSelector"]["matchLabels"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    # Not the database's pods (they reach the Kubernetes API) nor the restore drill's.
    cluster = prod_manifests[("Cluster", "oracle-prod", "oracle-db")]
    assert not policy["podSelector"]["matchLabels"].items() <= {"cnpg.io/cluster": "oracle-db"}.items()
    assert cluster["metadata"]["name"] == "oracle-db"
    blocks = [peer["ipBlock"] for rule in policy["egress"] for peer in rule.get("to", []) if "ipBlock" in peer]

    def reachable(address: str) -> bool:
        ip = ipaddress.ip_address(address)
        return any(ip in ipaddress.ip_network(b["cidr"]) and not any(ip in ipaddress.ip_network(e) for e in b["except"])
                   for b in blocks)

    assert reachable("1.1.1.1") and reachable("2606:4700:4700::1111")
    for address in ("169.254.169.254", "10.96.0.1", "10.244.1.5", "172.20.0.3", "192.168.0.2", "fd00:ec2::254",
                    "168.63.129.16", "64:ff9b::a00:1", "64:ff9b:1::a9fe:a9fe", "::ffff:10.0.0.1"):
        assert not reachable(address), address


def test_quotas_and_defaults_in_every_app_namespace(prod_manifests):
    quota = prod_manifests[("ResourceQuota", "oracle-prod", "app-quota")]["spec"]["hard"]
    assert quota == {"requests.cpu": "16", "requests.memory": "32Gi", "limits.memory": "64Gi",
                     "requests.storage": "1Ti", "pods": "100", "services.loadbalancers": "0", "services.nodeports": "0"}
    defaults = prod_manifests[("LimitRange", "oracle-prod", "app-defaults")]["spec"]["limits"][0]
    assert defaults["defaultRequest"] == {"cpu": "50m", "memory": "64Mi"}  # the plugin's sidecar declares none
    require_crds()
    validate_objects([m for (kind, _, _), m in prod_manifests.items()
                      if kind in ("ResourceQuota", "LimitRange", "NetworkPolicy")])


def test_isolation_is_configurable_per_stack(tmp_path):
    from minnova_idp.render.declaration import declare

    from tests.conftest import load_stack_inputs

    inputs = load_stack_inputs(PROJECT_DIR, "dev", extra={
        "minnova:ingressNamespaces": '["traefik", "monitoring"]',
        "minnova:namespaceQuota": json.dumps({"cpu": "4", "memory": "8Gi", "pods": 30})})
    objects = {(o.manifest["kind"], o.manifest["metadata"]["name"]): o.manifest
               for instance in declare(inputs).apps if instance.component == "oracle-dev"
               for o in instance.resources if hasattr(o, "manifest")}
    allowed = objects[("NetworkPolicy", "deny-other-apps")]["spec"]["ingress"][0]["from"][1]
    assert allowed == {"namespaceSelector": {"matchExpressions": [{
        "key": "kubernetes.io/metadata.name", "operator": "In",
        "values": sorted(["traefik", "monitoring", versions.CLOUDNATIVE_PG.namespace])}]}}
    assert objects[("ResourceQuota", "app-quota")]["spec"]["hard"]["requests.cpu"] == "4"
    off = load_stack_inputs(PROJECT_DIR, "dev", extra={"minnova:networkPolicies": "false",
                                                       "minnova:namespaceQuota": "null"})
    kinds = {o.manifest["kind"] for instance in declare(off).apps for o in instance.resources if hasattr(o, "manifest")}
    # The stack's isolation is off; what remains is the Valkey's, MariaDB's and MongoDB's own policies, part of having them.
    policies = [o.manifest["metadata"]["name"] for instance in declare(off).apps for o in instance.resources
                if hasattr(o, "manifest") and o.manifest["kind"] == "NetworkPolicy"]
    assert policies == ["catalog-mongodb", "ledger-mysql", "oracle-redis"]
    assert not kinds & {"ResourceQuota", "LimitRange"}


def test_an_app_asking_for_more_than_its_namespace_quota_is_refused(tmp_path):
    project = project_copy(tmp_path)
    app_yaml = project / "examples/oracle/.minnova/app.yaml"
    app_yaml.write_text(app_yaml.read_text().replace("    replicas: 1\n", "    replicas: 40\n", 1).replace(
        "env:\n  LOG_LEVEL: info", "resources: {requests: {cpu: '1', memory: 1Gi}, limits: {memory: 1Gi}}\nenv:\n"
        "  LOG_LEVEL: info"))
    found = stack_problems(project, cache_dir=tmp_path / "cache")
    assert any(p.startswith("examples/oracle/.minnova/app.yaml: environments.dev: asks for about 4") and
               "cpu in its namespace" in p and "more than the 16 its quota allows (Pulumi.dev.yaml: "
               "minnova:namespaceQuota.cpu)" in p for p in found), found


@pytest.mark.parametrize("change,message", [
    ("resources: {requests: {cpu: '500'}}", "resources: requests.cpu (500) is more than one container may have (64)"),
    ("resources: {limits: {memory: 2Ti}}", "resources: limits.memory (2Ti) is more than one container may have"),
    ("database: {enabled: true, size: 500Ti}", "database.size: '500Ti' is more than a database volume may be (64Ti)"),
    # Issue 25: the LimitRange gives a container without a memory limit 256Mi, below this request: refused at once.
    ("resources: {requests: {memory: 512Mi}, limits: {}}", "resources: requests.memory (512Mi) is above the 256Mi "
     "limit a container without limits.memory gets in its namespace"),
    ("processes: {worker: {command: [w], resources: {requests: {memory: 1Gi}, limits: {}}}}",
     "processes.worker.resources: requests.memory (1Gi) is above the 256Mi limit"),
])
def test_absurd_requests_are_refused_by_the_model(tmp_path, change, message):
    from minnova_idp.cli.main import main

    app = tmp_path / "app.yaml"
    app.write_text("name: x\nimage: {repository: r.io/x}\nport: 80\nenvironments: {dev: {host: x.a.io}}\n"
                   + change + "\n")
    import contextlib
    import io

    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        assert main(["validate", str(app)]) == 1
    assert message in stderr.getvalue()


# ---- every pod in an app namespace is confined ------------------------------------------------------------------

def _selects(selector: dict, labels: dict[str, str]) -> bool:
    """A Kubernetes label selector (matchLabels, matchExpressions In/NotIn/Exists/DoesNotExist) against labels."""
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        if not {"In": key in labels and labels[key] in values, "NotIn": labels.get(key) not in values,
                "Exists": key in labels, "DoesNotExist": key not in labels}[operator]:
            return False
    return True


def _pod_templates(manifests: list[dict]) -> list[tuple[str, str, dict]]:
    """(namespace, what, pod template) of every workload, including those carried in ConfigMaps (the drill's
    check Job, which kubectl creates)."""
    import yaml

    found = []
    for manifest in manifests:
        kind, meta = manifest["kind"], manifest["metadata"]
        spec = manifest.get("spec", {})
        if kind in ("Deployment", "StatefulSet", "Job", "DaemonSet", "ReplicaSet"):
            found.append((meta.get("namespace"), f"{kind}/{meta['name']}", spec["template"]))
        elif kind == "CronJob":
            found.append((meta.get("namespace"), f"CronJob/{meta['name']}", spec["jobTemplate"]["spec"]["template"]))
        elif kind == "Pod":
            found.append((meta.get("namespace"), f"Pod/{meta['name']}", manifest))
        elif kind == "ConfigMap":
            for key, text in manifest.get("data", {}).items():
                if key.endswith(".yaml") and (yaml.safe_load(text) or {}).get("kind") == "Job":
                    found += [(ns, f"{meta['name']}:{key}:{what}", t) for ns, what, t in _pod_templates([yaml.safe_load(text)])]
    return found


def _unconfined(manifests: list[dict], app_namespaces: set[str]) -> list[str]:
    policies = [m for m in manifests if m["kind"] == "NetworkPolicy"]
    missing = []
    for namespace, what, template in _pod_templates(manifests):
        if namespace not in app_namespaces:
            continue
        labels = template.get("metadata", {}).get("labels", {})
        for direction in ("Ingress", "Egress"):
            if not any(p["metadata"]["namespace"] == namespace and direction in p["spec"]["policyTypes"]
                       and _selects(p["spec"]["podSelector"], labels) for p in policies):
                missing.append(f"{namespace} {what}: no {direction} policy")
    return missing


def test_every_pod_the_plan_renders_in_an_app_namespace_is_under_ingress_and_egress_policies(prod_manifests):
    manifests = list(prod_manifests.values())
    app_namespaces = {m["metadata"]["name"] for m in manifests if m["kind"] == "Namespace"
                      and m["metadata"].get("labels", {}).get("app.kubernetes.io/managed-by") == "minnova-idp"}
    assert {"oracle-prod", "storefront-prod"} <= app_namespaces
    templates = [what for ns, what, _ in _pod_templates(manifests) if ns in app_namespaces]
    assert any("check-job.yaml" in what for what in templates) and any(w.startswith("CronJob/") for w in templates)
    assert _unconfined(manifests, app_namespaces) == []


def test_every_pod_a_preview_renders_is_under_ingress_and_egress_policies():
    from minnova_idp.model.app_config import AppConfig
    from minnova_idp.render.preview import preview_request, render_preview

    app = AppConfig.model_validate({
        "name": "oracle", "image": {"repository": "r.io/o"}, "port": 80,
        "database": {"enabled": True, "seed": {"files": ["seed/a.sql"]}}, "redis": {"enabled": True},
        "release": {"command": ["migrate"]}, "processes": {"worker": {"command": ["work"]}},
        "cron": {"nightly": {"schedule": "0 3 * * *", "command": ["nightly"]}},
        "environments": {"dev": {"host": "o.acme.dev"}}})
    request = preview_request({"app": "oracle", "pr_number": "1", "head_sha": "a" * 40,
                               "preview_domain": "preview.acme.dev", "deployment": "acme", "ingress_class": "t"}, {})
    manifests = render_preview(app, request, None, seed=(("a.sql", "select 1;"),), password_key="k" * 64)
    namespaces = {m["metadata"]["name"] for m in manifests if m["kind"] == "Namespace"}
    assert len(_pod_templates(manifests)) >= 4
    assert _unconfined(manifests, namespaces) == []


def test_a_pod_outside_every_policy_is_found():
    """The check above can fail: a pod whose labels no egress policy selects is reported."""
    policy = {"kind": "NetworkPolicy", "metadata": {"name": "e", "namespace": "a"},
              "spec": {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "a"}}, "policyTypes": ["Egress"]}}
    pod = {"kind": "Job", "metadata": {"name": "j", "namespace": "a"},
           "spec": {"template": {"metadata": {"labels": {"minnova.io/restore-drill": "true"}}}}}
    assert _unconfined([policy, pod], {"a"}) == ["a Job/j: no Ingress policy", "a Job/j: no Egress policy"]


def test_dns_goes_to_the_cluster_resolver_only(prod_manifests):
    for name in ("app-egress", "oracle-db-drill"):
        policy = prod_manifests[("NetworkPolicy", "oracle-prod", name)]["spec"]
        (dns,) = [rule for rule in policy["egress"] if {"protocol": "UDP", "port": 53} in rule.get("ports", [])]
        assert dns["to"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                              "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}]
