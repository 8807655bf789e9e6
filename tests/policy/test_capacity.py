"""The quota check reads the renderer's decisions: its numbers are the rendered objects' numbers."""

from __future__ import annotations

from decimal import Decimal

import pytest
import yaml

from minnova_idp.model.quantity import parse_quantity
from minnova_idp.policy.capacity import namespace_needs
from minnova_idp.render.app import DEFAULT_CONTAINER_REQUEST
from minnova_idp.render.declaration import declare
from minnova_idp.render.resources import KubernetesObject
from tests.conftest import PROJECT_DIR, load_stack_inputs, project_copy

DEFAULT = {key: parse_quantity(value) for key, value in DEFAULT_CONTAINER_REQUEST.items()}


def rendered_need(objects: list[dict]) -> dict[str, Decimal]:
    """What the rendered objects of one namespace run at their most: every Deployment at its replicas (or its
    autoscaler's maximum) plus a rolling update's extra pod, every Cluster's instances plus the restore drill's
    copy (with the backup plugin's sidecar each), the drill's pod and the check Job it starts, and every claim.
    (The app's own cron jobs and release Job run beside these at times; the quota check leaves them room in its
    margin, and so does this.)"""
    autoscaled = {o["spec"]["scaleTargetRef"]["name"]: o["spec"]["maxReplicas"]
                  for o in objects if o["kind"] == "HorizontalPodAutoscaler"}
    need = {"cpu": Decimal(0), "memory": Decimal(0), "storage": Decimal(0), "pods": Decimal(0)}

    def add(pods: int, requests: dict) -> None:
        need["pods"] += pods
        for key in ("cpu", "memory"):
            need[key] += pods * (parse_quantity(requests[key]) if key in requests else DEFAULT[key])

    for o in objects:
        if o["kind"] == "Deployment":
            spec = o["spec"]
            replicas = spec.get("replicas", autoscaled.get(o["metadata"]["name"]))
            rollout = 1 if spec["strategy"]["type"] == "RollingUpdate" else 0
            (container,) = spec["template"]["spec"]["containers"]
            add(replicas + rollout, container.get("resources", {}).get("requests", {}))
        elif o["kind"] == "Cluster":
            instances = o["spec"]["instances"] + 1  # the restore drill's copy
            add(instances, o["spec"].get("resources", {}).get("requests", {}))
            add(instances, {})  # the backup plugin's sidecar: the namespace's default request
            need["pods"] -= instances  # ... in the same pods
            need["storage"] += instances * parse_quantity(o["spec"]["storage"]["size"])
        elif o["kind"] == "PerconaServerMongoDB":  # a StatefulSet per replica set, as the operator makes it
            (replset,) = o["spec"]["replsets"]
            members = replset["size"]
            add(members, replset.get("resources", {}).get("requests", {}))
            if o["spec"]["backup"]["enabled"]:  # PBM's agent beside each mongod: no resources, the default request
                add(members, {})
                need["pods"] -= members
            need["storage"] += members * parse_quantity(
                replset["volumeSpec"]["persistentVolumeClaim"]["resources"]["requests"]["storage"])
        elif o["kind"] == "MariaDB":  # one pod per replica (a StatefulSet the operator makes)
            instances = o["spec"]["replicas"]
            add(instances, o["spec"].get("resources", {}).get("requests", {}))
            if o["spec"].get("replication", {}).get("enabled"):
                # the operator's agent sidecar, without resources of its own: the namespace's default request
                # (mariadb-operator@v26.6.0 pkg/builder/container_builder.go:198-215)
                add(instances, {})
                need["pods"] -= instances  # ... in the same pods
            need["storage"] += instances * parse_quantity(o["spec"]["storage"]["size"])
        elif o["kind"] == "CronJob" and o["metadata"].get("labels", {}).get("minnova.io/restore-drill") == "true":
            pod = o["spec"]["jobTemplate"]["spec"]["template"]["spec"]
            add(1, pod_requests(pod))
        elif o["kind"] == "ConfigMap" and "check-job.yaml" in o.get("data", {}):  # the drill's check, as it is applied
            add(1, pod_requests(yaml.safe_load(o["data"]["check-job.yaml"])["spec"]["template"]["spec"]))
            if "mariadb.yaml" in o["data"]:  # a MySQL drill's throwaway server (render/mysql_drill.py)
                drill = yaml.safe_load(o["data"]["mariadb.yaml"])["spec"]
                add(drill["replicas"], drill.get("resources", {}).get("requests", {}))
                need["storage"] += drill["replicas"] * parse_quantity(drill["storage"]["size"])
        elif o["kind"] == "PhysicalBackup":  # its Job's pod (the operator's: no resources, the namespace default)
            add(1, {})
        elif o["kind"] == "PersistentVolumeClaim":
            need["storage"] += parse_quantity(o["spec"]["resources"]["requests"]["storage"])
    return need


def pod_requests(pod: dict) -> dict:
    """A pod's effective requests: the larger of its largest init container and the sum of its containers."""
    def total(containers: list[dict], key: str) -> Decimal:
        return sum((parse_quantity(c.get("resources", {}).get("requests", {}).get(key, "0")) for c in containers),
                   Decimal(0))

    return {key: str(max([total(pod["containers"], key),
                          *(total([c], key) for c in pod.get("initContainers", []))]))
            for key in ("cpu", "memory")}


def with_workers_and_autoscaling(tmp_path):
    project = project_copy(tmp_path)
    app_yaml = project / "examples/oracle/.minnova/app.yaml"
    text = app_yaml.read_text()
    assert "processes:\n  worker:" in text
    app_yaml.write_text(text.replace("processes:\n  worker:", "processes:\n"
                                     "  mailer: {command: [mail], replicas: 2, resources: {requests: {cpu: 300m}}}\n"
                                     "  worker:"))
    return project


@pytest.mark.parametrize("stack", ["dev", "prod"])
@pytest.mark.parametrize("variant", ["example", "workers"])
def test_the_quota_check_counts_what_the_renderer_renders(tmp_path, stack, variant):
    project = PROJECT_DIR if variant == "example" else with_workers_and_autoscaling(tmp_path)
    inputs = load_stack_inputs(project, stack, cache_dir=tmp_path / "cache")
    needs = {(app.name, environment): need for app, environment, need in namespace_needs(inputs)}
    instances = declare(inputs).apps
    assert instances and len(needs) == len(instances)
    checked = 0
    for instance in instances:
        objects = [d.manifest for d in instance.resources if isinstance(d, KubernetesObject)]
        expected = rendered_need(objects)
        got = needs[(instance.app.name, instance.placement.environment)]
        assert {key: Decimal(value) for key, value in got.items()} == expected, instance.component
        checked += 1
    assert checked == len(instances)
    if variant == "workers":
        assert any(need["pods"] >= 9 for need in needs.values())  # web, a worker and 2 mailers, with rollouts


def test_the_comparison_can_fail():
    objects = [{"kind": "Deployment", "metadata": {"name": "web"},
                "spec": {"replicas": 2, "strategy": {"type": "RollingUpdate"},
                         "template": {"spec": {"containers": [{"resources": {"requests": {"cpu": "1"}}}]}}}}]
    assert rendered_need(objects)["pods"] == 3 and rendered_need(objects)["cpu"] == 3


@pytest.mark.parametrize("limit,refused", [(5, False), (4, True)])
def test_storage_tokens_count_against_the_account_quota(limit, refused):
    """oracle's backups in dev and prod (2), web's buckets in dev and prod (2, storage.enabled), cert-manager's (1)."""
    from minnova_idp.model.app_config import AppConfig
    from minnova_idp.model.inputs import ProgramInputs
    from minnova_idp.policy.capacity import backup_problems
    from tests.render.test_database import WEB, cloudflare, loaded, oracle, stack

    web = AppConfig.model_validate({**WEB.model_dump(by_alias=True, exclude_none=True), "storage": {"enabled": True}})
    inputs = ProgramInputs(stack=stack(cloudflare=cloudflare(maxAccountTokens=limit)), apps=[loaded(oracle()), loaded(web)])
    found = [str(p) for p in backup_problems(inputs)]
    if refused:
        (problem,) = found
        assert (f"would create 5 Cloudflare account API tokens (one per backed-up app environment, per app environment "
                f"with storage and cert-manager's), more than the 4") in problem
    else:
        assert found == []


def test_storage_needs_a_cloudflare_account():
    from minnova_idp.model.app_config import AppConfig
    from minnova_idp.model.inputs import ProgramInputs
    from minnova_idp.policy.capacity import backup_problems
    from tests.render.test_database import WEB, loaded, stack

    web = AppConfig.model_validate({**WEB.model_dump(by_alias=True, exclude_none=True), "storage": {"enabled": True}})
    settings = stack()
    bare = settings.__class__(**{**settings.__dict__, "settings": settings.settings.model_copy(update={"cloudflare": None})})
    (problem,) = [str(p) for p in backup_problems(ProgramInputs(stack=bare, apps=[loaded(web)]))]
    assert problem == ("Pulumi.test.yaml: minnova:cloudflare: required: object storage is a Cloudflare R2 bucket (apps "
                       "with storage: web) (hint: set minnova:cloudflare.accountId and .zoneId)")
