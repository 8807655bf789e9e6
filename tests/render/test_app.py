"""The renderer: what an app is in Kubernetes, from config alone (no Pulumi)."""

from __future__ import annotations

import pytest

from minnova_idp.model.app_config import AppConfig
from minnova_idp.model.secrets import SecretValues
from minnova_idp.render.placement import RenderSettings, environment_placement
from minnova_idp.render.app import render_app

from tests.support.k8s_strict import validate_objects

SETTINGS = RenderSettings(deployment="acme", ingress_class="traefik", cluster_issuer="letsencrypt-prod")


def app(**overrides) -> AppConfig:
    data = {
        "name": "oracle",
        "image": {"repository": "registry.minnova.io/oracle"},
        "port": 4000,
        "environments": {"dev": {"replicas": 1, "host": "oracle.dev.minnova.io", "env": {"LOG_LEVEL": "debug"}},
                         "prod": {"replicas": 3, "host": "oracle.minnova.io"}},
        "env": {"LOG_LEVEL": "info", "A_FIRST": "1"},
    }
    data.update(overrides)
    return AppConfig.model_validate(data)


def render(config: AppConfig, environment: str = "prod", tag: str = "abc123", secrets: SecretValues | None = None):
    objects = render_app(config, environment_placement(config, environment, tag, secrets=secrets), SETTINGS)
    return {obj["kind"]: obj for obj in objects}, objects


def container(objects):
    return objects["Deployment"]["spec"]["template"]["spec"]["containers"][0]


def test_objects_and_namespace():
    objects, ordered = render(app())
    assert [o["kind"] for o in ordered] == ["Namespace", "Deployment", "Service", "Ingress", "PodDisruptionBudget"]
    assert objects["Namespace"]["metadata"]["name"] == "oracle-prod"
    assert objects["Namespace"]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for obj in ordered[1:]:
        assert obj["metadata"]["namespace"] == "oracle-prod"
        assert obj["metadata"]["name"] == "oracle"


def test_single_replica_has_no_disruption_budget():
    objects, _ = render(app(), "dev")
    assert "PodDisruptionBudget" not in objects
    assert objects["Deployment"]["spec"]["replicas"] == 1


def test_disruption_budget_for_several_replicas():
    objects, _ = render(app())
    pdb = objects["PodDisruptionBudget"]["spec"]
    assert pdb["maxUnavailable"] == 1 and pdb["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    assert pdb["selector"]["matchLabels"] == objects["Deployment"]["spec"]["selector"]["matchLabels"]


def test_deployment_rollout_and_pod_hardening():
    objects, _ = render(app())
    spec = objects["Deployment"]["spec"]
    assert spec["replicas"] == 3
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False and pod["enableServiceLinks"] is False
    assert pod["terminationGracePeriodSeconds"] > container(objects)["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert {c["topologyKey"] for c in pod["topologySpreadConstraints"]} == {
        "kubernetes.io/hostname", "topology.kubernetes.io/zone"}
    assert container(objects)["securityContext"] == {"allowPrivilegeEscalation": False,
                                                     "capabilities": {"drop": ["ALL"]}}
    selector = spec["selector"]["matchLabels"]
    assert selector == {"app.kubernetes.io/name": "oracle", "app.kubernetes.io/instance": "oracle-prod"}
    assert selector.items() <= spec["template"]["metadata"]["labels"].items()


def test_image_env_and_port():
    objects, _ = render(app(), "dev", tag="0123abc")
    c = container(objects)
    assert c["image"] == "registry.minnova.io/oracle:0123abc"
    assert c["ports"] == [{"name": "http", "containerPort": 4000, "protocol": "TCP"}]
    # PORT first, then the merged env sorted by name; the environment's value wins.
    assert c["env"] == [{"name": "PORT", "value": "4000"}, {"name": "A_FIRST", "value": "1"},
                        {"name": "LOG_LEVEL", "value": "debug"}]
    assert "envFrom" not in c and "command" not in c and "args" not in c
    assert objects["Deployment"]["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/version"] == "0123abc"


def test_digest_tag_uses_at_sign_and_no_version_label():
    digest = "sha256:" + "a" * 64
    objects, _ = render(app(), tag=digest)
    assert container(objects)["image"] == f"registry.minnova.io/oracle@{digest}"
    assert "app.kubernetes.io/version" not in objects["Deployment"]["spec"]["template"]["metadata"]["labels"]


SECRETS = SecretValues(source="x", string_data={"API_KEY": "k3y"}, data={"CERT": "Y2VydA=="})


def test_secret_is_rendered_by_the_platform_and_mounted_with_env_from():
    objects, ordered = render(app(), secrets=SECRETS)
    assert container(objects)["envFrom"] == [{"secretRef": {"name": "oracle-secrets"}}]
    secret = objects["Secret"]
    assert secret["metadata"]["name"] == "oracle-secrets" and secret["metadata"]["namespace"] == "oracle-prod"
    assert secret["stringData"] == {"API_KEY": "k3y"} and secret["data"] == {"CERT": "Y2VydA=="}
    kinds = [o["kind"] for o in ordered]
    assert kinds.index("Secret") < kinds.index("Deployment")


def test_no_secrets_file_no_secret():
    objects, _ = render(app())
    assert "Secret" not in objects and "envFrom" not in container(objects)


def test_probes_tcp_by_default_http_with_health_check():
    c = container(render(app())[0])
    assert c["readinessProbe"]["tcpSocket"] == {"port": "http"}
    c = container(render(app(healthCheck={"path": "/healthz"}))[0])
    assert c["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert c["startupProbe"]["httpGet"]["path"] == "/healthz"
    # Liveness stays on the port: a failing dependency must not restart every pod.
    assert "tcpSocket" in c["livenessProbe"]


def test_resources_default_and_per_environment_override():
    config = app(environments={
        "dev": {"host": "a.example.com"},
        "prod": {"host": "b.example.com", "resources": {"requests": {"cpu": "1", "memory": "1Gi"},
                                                          "limits": {"memory": "2Gi"}}}})
    assert container(render(config, "dev")[0])["resources"] == {
        "requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}}
    assert container(render(config, "prod")[0])["resources"] == {
        "requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "2Gi"}}


def test_command_and_args():
    c = container(render(app(command=["bin/server"], args=["--verbose"]))[0])
    assert c["command"] == ["bin/server"] and c["args"] == ["--verbose"]


def test_service_and_ingress():
    objects, _ = render(app())
    service = objects["Service"]["spec"]
    assert service["ports"] == [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]
    assert service["selector"] == objects["Deployment"]["spec"]["selector"]["matchLabels"]
    ingress = objects["Ingress"]
    assert ingress["metadata"]["annotations"] == {"cert-manager.io/cluster-issuer": "letsencrypt-prod"}
    assert ingress["spec"]["ingressClassName"] == "traefik"
    assert ingress["spec"]["tls"] == [{"hosts": ["oracle.minnova.io"], "secretName": "oracle-tls"}]
    rule = ingress["spec"]["rules"][0]
    assert rule["host"] == "oracle.minnova.io"
    assert rule["http"]["paths"][0]["backend"] == {"service": {"name": "oracle", "port": {"name": "http"}}}


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_rendered_objects_pass_strict_validation(environment):
    config = app(healthCheck={"path": "/healthz"}, command=["x"], args=["y"])
    _, objects = render(config, environment, secrets=SECRETS)
    validate_objects(objects)
