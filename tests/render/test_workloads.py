"""Real apps: workers, cron jobs, a release phase, autoscaling, private images (issue 16)."""

from __future__ import annotations

import json

import pytest

from minnova_idp.load.validation import validate_document
from minnova_idp.load.yamlsafe import load_yaml
from minnova_idp.model.app_config import AppConfig
from minnova_idp.model.errors import ConfigError
from minnova_idp.render.placement import RenderSettings, environment_placement
from minnova_idp.render.app import app_objects
from minnova_idp.render.resources import Secret

from tests.conftest import app_config_problems, example_plan, resource_named
from tests.support.k8s_strict import require_crds, validate_objects

SETTINGS = RenderSettings(deployment="acme", ingress_class="traefik", cluster_issuer="letsencrypt-prod")
APP = """name: shop
image: {repository: ghcr.io/acme/shop}
port: 8080
resources: {requests: {cpu: 100m, memory: 128Mi}, limits: {memory: 256Mi}}
environments:
  dev: {host: shop.dev.acme.dev}
  prod: {host: shop.acme.dev, autoscale: {min: 2, max: 8, cpu: 60}, processes: {mailer: {replicas: 3}}}
processes:
  mailer: {command: [bin/mailer], args: [--queue, mail]}
cron:
  digest: {schedule: "0 7 * * 1", command: [bin/digest], environments: [prod]}
  sweep: {schedule: "@hourly", command: [bin/sweep], previews: true}
release: {command: [bin/migrate], activeDeadlineSeconds: 600}
"""


def objects(environment: str = "prod", text: str = APP, pull: bool = True) -> dict:
    app = AppConfig.model_validate(load_yaml(text, "app.yaml").data)
    placement = environment_placement(app, environment, "1.2.3", pull_secret=pull)
    declared = app_objects(app, placement, SETTINGS, component=f"shop-{environment}",
                           pull_credentials=Secret('{"auths": {}}') if pull else None)
    return {(d.manifest["kind"], d.manifest["metadata"]["name"]): d for d in declared if hasattr(d, "manifest")}


def pods(found: dict) -> list[dict]:
    specs = []
    for (kind, _), declared in found.items():
        spec = declared.manifest.get("spec", {})
        if kind in ("Deployment", "Job"):
            specs.append(spec["template"]["spec"])
        elif kind == "CronJob" and "minnova.io/restore-drill" not in declared.manifest["metadata"]["labels"]:
            specs.append(spec["jobTemplate"]["spec"]["template"]["spec"])
    return specs


def test_a_worker_runs_the_apps_image_without_a_port_and_its_own_selector():
    found = objects()
    worker = found[("Deployment", "shop-mailer")].manifest
    web = found[("Deployment", "shop")].manifest
    container = worker["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["bin/mailer"] and container["args"] == ["--queue", "mail"]
    assert container["image"] == "ghcr.io/acme/shop:1.2.3" and "ports" not in container
    assert "readinessProbe" not in container and worker["spec"]["replicas"] == 3  # prod's override
    # The Service and the web Deployment never select worker pods.
    service_selector = found[("Service", "shop")].manifest["spec"]["selector"]
    worker_labels = worker["spec"]["template"]["metadata"]["labels"]
    assert not service_selector.items() <= worker_labels.items()
    assert not web["spec"]["selector"]["matchLabels"].items() <= worker_labels.items()
    assert objects("dev")[("Deployment", "shop-mailer")].manifest["spec"]["replicas"] == 1  # the default


def test_cron_jobs_follow_their_environments_and_never_previews_unless_asked():
    from minnova_idp.render.preview import preview_request, render_preview

    assert ("CronJob", "shop-digest") in objects("prod") and ("CronJob", "shop-digest") not in objects("dev")
    sweep = objects("dev")[("CronJob", "shop-sweep")].manifest["spec"]
    assert sweep["schedule"] == "@hourly" and sweep["concurrencyPolicy"] == "Forbid" and sweep["timeZone"] == "Etc/UTC"
    app = AppConfig.model_validate(load_yaml(APP, "app.yaml").data)
    request = preview_request({"app": "shop", "pr_number": "4", "head_sha": "a" * 40, "preview_domain": "p.acme.dev",
                               "deployment": "acme", "ingress_class": "traefik"}, {})
    rendered = {(o["kind"], o["metadata"]["name"]) for o in render_preview(app, request, None)}
    assert ("CronJob", "shop-sweep") in rendered and ("CronJob", "shop-digest") not in rendered


def test_the_release_phase_runs_before_any_pod_of_the_new_version():
    found = objects()
    (release_key,) = [key for key in found if key[0] == "Job"]
    release = found[release_key]
    assert release.manifest["spec"]["template"]["spec"]["containers"][0]["command"] == ["bin/migrate"]
    assert release.manifest["spec"]["activeDeadlineSeconds"] == 600
    for name in ("shop", "shop-mailer"):
        assert release.key in found[("Deployment", name)].lifecycle.depends_on  # Pulumi awaits the Job first
    # A new version (tag) is a new Job: it runs again; the same version never does.
    app = AppConfig.model_validate(load_yaml(APP, "app.yaml").data)
    other = app_objects(app, environment_placement(app, "prod", "1.2.4"), SETTINGS, component="shop-prod")
    assert release_key[1] not in {d.manifest["metadata"]["name"] for d in other if hasattr(d, "manifest")}


def test_in_previews_the_release_is_an_argo_cd_sync_hook_before_the_app():
    from minnova_idp.render.preview import preview_request, render_preview

    app = AppConfig.model_validate(load_yaml(APP, "app.yaml").data)
    request = preview_request({"app": "shop", "pr_number": "4", "head_sha": "a" * 40, "preview_domain": "p.acme.dev",
                               "deployment": "acme", "ingress_class": "traefik"}, {})
    rendered = render_preview(app, request, None)
    (job,) = [o for o in rendered if o["kind"] == "Job"]
    assert job["metadata"]["annotations"]["argocd.argoproj.io/hook"] == "Sync"

    def wave(o):
        return int(o["metadata"].get("annotations", {}).get("argocd.argoproj.io/sync-wave", 0))
    # Argo CD waits for each wave to be healthy: the database (and all else) first, the release after it, every
    # process and cron job after the release (a release in a wave before the Cluster would wait for it forever).
    # (tests/test_preview_plugin.py checks the database's wave with a seeded preview)
    assert all(wave(o) == 0 for o in rendered if o["kind"] not in ("Job", "Deployment", "CronJob",
                                                                    "HorizontalPodAutoscaler"))
    later = [o for o in rendered if o["kind"] in ("Deployment", "CronJob", "HorizontalPodAutoscaler")]
    assert later and all(wave(o) > wave(job) > 0 for o in later), [(o["kind"], wave(o)) for o in later]


def test_autoscaling_owns_the_replicas_and_the_budget_follows_its_minimum():
    found = objects()
    hpa = found[("HorizontalPodAutoscaler", "shop")].manifest["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 8)
    assert hpa["metrics"][0]["resource"]["target"] == {"type": "Utilization", "averageUtilization": 60}
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "shop"}
    assert "replicas" not in found[("Deployment", "shop")].manifest["spec"]  # Pulumi never fights the HPA
    assert ("PodDisruptionBudget", "shop") in found  # min 2: keep all but one up
    assert ("HorizontalPodAutoscaler", "shop") not in objects("dev")


def test_private_images_are_pulled_with_the_stacks_credentials_everywhere():
    found = objects()
    secret = found[("Secret", "registry-credentials")].manifest
    assert secret["type"] == "kubernetes.io/dockerconfigjson" and isinstance(secret["stringData"][".dockerconfigjson"],
                                                                             Secret)
    assert all(spec.get("imagePullSecrets") == [{"name": "registry-credentials"}] for spec in pods(found))
    assert len(pods(found)) >= 5  # web, worker, release, two cron jobs
    assert all("imagePullSecrets" not in spec for spec in pods(objects(pull=False)))


def test_every_object_is_strictly_valid():
    from minnova_idp.render.resources import plain

    require_crds()
    for environment in ("dev", "prod"):
        validate_objects([plain(d.manifest) for d in objects(environment).values()])


def test_the_example_plans_show_every_feature_and_mask_the_pull_credentials():
    plan = example_plan("prod")
    kinds = {(r.inputs.get("kind"), r.inputs.get("metadata", {}).get("name")) for r in plan.resources if r.custom}
    assert {("Deployment", "oracle-worker"), ("CronJob", "oracle-cleanup"), ("HorizontalPodAutoscaler", "oracle")} <= kinds
    assert any(kind == "Job" and name.startswith("oracle-release-") for kind, name in kinds)
    dev = example_plan("dev")
    pull = resource_named(dev, "oracle-dev-secret-registry-credentials")
    assert pull.inputs["stringData"] == {".dockerconfigjson": "[secret]"}
    assert "EXAMPLE-PLACEHOLDER" not in json.dumps([r.as_json() for r in dev.resources])


@pytest.mark.parametrize("change,field,message", [
    ("processes:\n  web: {command: [x]}\n", "processes.web", "'web' is reserved"),
    ("processes:\n  Bad_Name: {command: [x]}\n", "processes.Bad_Name", "must be lowercase"),
    ("cron:\n  nightly: {schedule: daily, command: [x]}\n", "cron.nightly.schedule", "is not a cron schedule"),
    ("cron:\n  nightly: {schedule: '@daily', command: [x], environments: [staging]}\n",
     "cron.nightly.environments[0]", "'staging' is not one of this app's environments"),
    ("cron:\n  nightly: {schedule: '@daily', command: [x], timeZone: Mars/Base}\n", "cron.nightly.timeZone",
     "is not an IANA time zone"),
])
def test_bad_workload_config_is_named(change, field, message):
    problems = app_config_problems(change)
    assert any(f"{field}: " in p and message in p for p in problems), problems


def test_autoscaling_needs_a_cpu_request_and_an_ordered_range():
    no_cpu = APP.replace("resources: {requests: {cpu: 100m, memory: 128Mi}, limits: {memory: 256Mi}}",
                         "resources: {requests: {memory: 128Mi}, limits: {memory: 256Mi}}")
    with pytest.raises(ConfigError) as caught:
        validate_document(AppConfig, load_yaml(no_cpu, "app.yaml"))
    assert any("environments.prod.autoscale: scales on CPU use relative to requests.cpu" in str(p)
               for p in caught.value.problems)
    with pytest.raises(ConfigError) as caught:
        validate_document(AppConfig, load_yaml(APP.replace("min: 2, max: 8", "min: 9, max: 8"), "app.yaml"))
    assert any("max (8) is below min (9)" in str(p) for p in caught.value.problems)
