"""Argo CD and preview environments in the Platform: release, credentials, projects, ApplicationSets."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from minnova_idp.core import argocd, versions
from minnova_idp.core.errors import ConfigError
from minnova_idp.core.app_config import AppConfig
from minnova_idp.core.stack_settings import StackSettings
from minnova_idp.core.preview import PreviewRequest, render_preview
from minnova_idp.core.inputs import load_inputs
from minnova_idp.core.secrets import SecretValues
from minnova_idp.core.resources import Secret, plain
from minnova_idp.core.stackconfig import StackSecrets, from_stack_file

from .conftest import PROJECT_DIR, project_copy, resource_named, stack_problems
from .k8s_strict import require_crds, validate_objects


def settings(**overrides) -> StackSettings:
    data = {"deployment": "acme", "environments": ["dev"], "baseDomain": "acme.dev", "ingressClass": "traefik",
            "ingressAddress": "203.0.113.7", "git": {"provider": "github", "githubAppId": "1",
                                                     "githubAppInstallationId": "2"},
            "previewDomain": "preview.acme.dev", "previews": {"rendererImage": "ghcr.io/acme/minnova-idp:1.0"}}
    data.update(overrides)
    return StackSettings.model_validate(data)


def test_argo_cd_release_is_pinned_and_carries_the_plugin(dev_plan):
    release = resource_named(dev_plan, "argocd")
    assert release.inputs["chart"] == "argo-cd" and release.inputs["version"] == versions.ARGO_CD.version
    assert release.inputs["repositoryOpts"] == {"repo": "https://argoproj.github.io/argo-helm"}
    assert release.inputs["namespace"] == "argocd"
    values = release.inputs["values"]  # no secret inside, so all of it stays reviewable
    assert values["configs"]["cmp"] == {"create": True, "plugins": {"minnova-preview": argocd.plugin_spec()}}
    assert values["configs"]["secret"] == {"createSecret": False}
    (sidecar,) = values["repoServer"]["extraContainers"]
    assert sidecar["image"] == "ghcr.io/minnova/minnova-idp:0.1.0"
    assert sidecar["command"] == ["/var/run/argocd/argocd-cmp-server"]
    assert sidecar["securityContext"]["runAsUser"] == 999 and sidecar["securityContext"]["runAsNonRoot"] is True
    mounts = {m["mountPath"]: m for m in sidecar["volumeMounts"]}
    assert mounts["/home/argocd/cmp-server/config/plugin.yaml"]["subPath"] == "minnova-preview.yaml"
    assert mounts["/tmp"]["name"] != "tmp"  # never the repo server's own /tmp
    assert mounts[argocd.PREVIEW_KEYS_DIR]["readOnly"] is True
    volumes = {v["name"] for v in values["repoServer"]["volumes"]}
    assert {m["name"] for m in sidecar["volumeMounts"]} - volumes == {"var-files", "plugins"}  # the chart's own
    ingress = values["applicationSet"]["ingress"]
    assert ingress["hostname"] == "argocd-webhooks.dev.minnova.io" and ingress["path"] == "/api/webhook"


def test_credentials_are_secrets_of_this_deployment(dev_plan):
    creds = resource_named(dev_plan, "platform-secret-minnova-github-app-minnova")
    assert creds.inputs["metadata"]["labels"]["argocd.argoproj.io/secret-type"] == "repo-creds"
    assert set(creds.inputs["stringData"]) == {"type", "url", "githubAppID", "githubAppInstallationID",
                                               "githubAppPrivateKey"}
    assert set(creds.inputs["stringData"].values()) == {"[secret]"}
    assert resource_named(dev_plan, "platform-secret-argocd-secret").inputs["stringData"] == {
        "webhook.github.secret": "[secret]"}
    assert resource_named(dev_plan, "platform-secret-argocd-notifications-secret").inputs["stringData"] == {
        "github-privateKey": "[secret]"}
    keys = resource_named(dev_plan, "platform-secret-minnova-preview-keys")
    assert keys.inputs["stringData"] == {"oracle": "[secret]"}  # preview keys only
    release = resource_named(dev_plan, "argocd")
    assert keys.urn in release.dependencies


def test_one_project_and_application_set_per_app_after_the_release(dev_plan):
    require_crds()
    release = resource_named(dev_plan, "argocd")
    creds = resource_named(dev_plan, "platform-secret-minnova-github-app-minnova")
    for app in ("oracle", "storefront"):
        project = resource_named(dev_plan, f"platform-appproject-{app}-previews")
        appset = resource_named(dev_plan, f"platform-applicationset-{app}-previews")
        assert release.urn in project.dependencies
        assert {release.urn, project.urn, creds.urn} <= set(appset.dependencies)
        validate_objects([project.inputs, appset.inputs])


def test_application_set_template(dev_plan):
    spec = resource_named(dev_plan, "platform-applicationset-oracle-previews").inputs["spec"]
    assert spec["goTemplate"] is True and spec["goTemplateOptions"] == ["missingkey=error"]
    (generator,) = spec["generators"]
    assert generator["pullRequest"]["github"] == {"owner": "minnova", "repo": "oracle", "labels": ["preview"],
                                                  "appSecretName": "minnova-github-app-minnova"}
    assert generator["pullRequest"]["requeueAfterSeconds"] == 180
    template = spec["template"]
    assert template["metadata"]["name"] == "oracle-pr-{{.number}}"
    assert template["metadata"]["finalizers"] == ["resources-finalizer.argocd.argoproj.io"]
    source = template["spec"]["source"]
    assert source["targetRevision"] == "{{.head_sha}}" and source["repoURL"] == "https://github.com/minnova/oracle.git"
    env = {e["name"]: e["value"] for e in source["plugin"]["env"]}
    assert env == {"APP_NAME": "oracle", "PR_NUMBER": "{{.number}}", "HEAD_SHA": "{{.head_sha}}",
                   "PREVIEW_DOMAIN": "preview.minnova.io", "DEPLOYMENT": "minnova", "INGRESS_CLASS": "traefik"}
    assert template["spec"]["destination"]["namespace"] == "oracle-pr-{{.number}}"
    assert template["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
    assert template["spec"]["project"] == "oracle-previews"


def test_every_parameter_render_preview_reads_is_passed():
    from minnova_idp.cli import PREVIEW_PARAMETERS

    appset = argocd.render_application_set(argocd.PreviewApp("oracle", "https://github.com/a/oracle.git"),
                                           settings())
    passed = {e["name"] for e in appset["spec"]["template"]["spec"]["source"]["plugin"]["env"]}
    assert passed == set(PREVIEW_PARAMETERS)


def test_project_is_confined_to_the_apps_previews(dev_plan):
    spec = resource_named(dev_plan, "platform-appproject-oracle-previews").inputs["spec"]
    assert spec["sourceRepos"] == ["https://github.com/minnova/oracle.git"]
    (destination,) = spec["destinations"]
    pattern = destination["namespace"]
    assert fnmatch.fnmatchcase("oracle-pr-123", pattern)
    for other in ("oracle-dev", "oracle-prod", "storefront-pr-1", "oracle-pr-pr-1", "kube-system"):
        assert not fnmatch.fnmatchcase(other, pattern), other
    assert spec["clusterResourceWhitelist"] == [{"group": "", "kind": "Namespace"}]


def test_project_whitelists_exactly_what_a_preview_renders():
    app = AppConfig.model_validate({"name": "oracle", "image": {"repository": "r.io/o"}, "port": 80,
                                    "database": {"enabled": True}, "environments": {"dev": {"host": "o.acme.dev"}}})
    request = PreviewRequest("oracle", 1, "a" * 40, "preview.acme.dev", "acme", "traefik")
    rendered = render_preview(app, request, SecretValues(source="x", string_data={"A": "b"}))
    kinds = {(obj["apiVersion"].rpartition("/")[0], obj["kind"]) for obj in rendered}
    allowed = set(argocd.PREVIEW_KINDS)
    assert kinds <= allowed
    assert allowed - kinds == {("policy", "PodDisruptionBudget")}  # only with more than one replica


@pytest.mark.parametrize("provider,repo,generator_key", [
    ("gitlab", "https://gitlab.com/acme/oracle.git", "gitlab"),
    ("gitea", "git@git.acme.dev:acme/oracle.git", "gitea"),
    ("forgejo", "ssh://git@git.acme.dev/acme/oracle.git", "gitea"),
])
def test_other_providers(provider, repo, generator_key):
    git = {"provider": provider, **({"url": "https://git.acme.dev/"} if provider != "gitlab" else {})}
    stack = settings(git=git)
    app = argocd.PreviewApp("oracle", repo, project_id=42)
    appset = argocd.render_application_set(app, stack)
    generator = appset["spec"]["generators"][0]["pullRequest"]
    assert generator[generator_key]["labels"] == ["preview"]
    if provider == "gitlab":
        assert generator["gitlab"]["project"] == "42" and generator["gitlab"]["pullRequestState"] == "opened"
        assert generator["requeueAfterSeconds"] == 180
    else:
        assert generator["gitea"]["api"] == "https://git.acme.dev/"
        assert (generator["gitea"]["owner"], generator["gitea"]["repo"]) == ("acme", "oracle")
        assert generator["requeueAfterSeconds"] == 60  # no webhook refresh: poll often
    credentials = StackSecrets(git_token="forge-token", gitlab_project_tokens={"oracle": "gitlab-token"},
                               git_deploy_keys={"oracle": "deploy-key"})
    secrets = argocd.credential_secrets(stack, [app], credentials)
    types = {s["metadata"]["labels"]["argocd.argoproj.io/secret-type"] for s in secrets}
    assert "repository" in types
    # Every credential is a Secret value (a Pulumi secret), nothing else in these objects is.
    hidden = [value for s in secrets for value in s["stringData"].values() if isinstance(value, Secret)]
    assert sorted(h.value for h in hidden) == sorted(
        ["gitlab-token"] if provider == "gitlab" else ["deploy-key", "forge-token"])
    require_crds()
    validate_objects([appset, argocd.render_app_project(app), *plain(secrets)])


def test_missing_credentials_are_named(tmp_path):
    project = project_copy(tmp_path)
    stack = project / "Pulumi.dev.yaml"
    text = stack.read_text()
    stack.write_text(text.replace('    githubAppInstallationId: "7654321"\n', "").replace(
        "  minnova:githubAppPrivateKey:\n    secure: v1:EXAMPLE-PLACEHOLDER\n", ""))
    found = stack_problems(project)
    assert "Pulumi.dev.yaml: minnova:git.githubAppInstallationId: is required for previews with provider github" in found
    assert "Pulumi.dev.yaml: minnova:githubAppPrivateKey: is required for previews with provider github" in found


def test_github_previews_need_https_repo_urls(tmp_path):
    project = project_copy(tmp_path)
    entry = project / "deployments/minnova/apps/storefront.yaml"
    entry.write_text(entry.read_text().replace("https://github.com/minnova/storefront.git",
                                               "git@github.com:minnova/storefront.git"))
    assert stack_problems(project) == [
        "deployments/minnova/apps/storefront.yaml: repo: previews check out over https with the GitHub App: "
        "use a https://github.com/<owner>/<repo> URL"]


def test_preview_domain_is_required_with_previews():
    raw, secret_keys, file = from_stack_file(PROJECT_DIR, "dev")
    del raw["minnova:previewDomain"]
    with pytest.raises(ConfigError) as caught:
        load_inputs(PROJECT_DIR, raw, secret_keys, file)
    assert [str(p) for p in caught.value.problems] == [
        "Pulumi.dev.yaml: minnova:previewDomain: is required with minnova:previews (hint: e.g. preview.<baseDomain>)"]


@pytest.mark.parametrize("image", ["ghcr.io/acme/minnova-idp", "ghcr.io/acme/minnova-idp:latest"])
def test_renderer_image_must_be_pinned(image):
    with pytest.raises(Exception, match="must pin a version"):
        settings(previews={"rendererImage": image})


def test_shipped_plugin_definition_is_the_installed_one():
    shipped = yaml.safe_load((PROJECT_DIR / "deploy/argocd/plugin.yaml").read_text())
    assert shipped == argocd.plugin_manifest()


def test_dockerfile_installs_what_render_preview_needs():
    dockerfile = (PROJECT_DIR / "Dockerfile").read_text()
    assert re.search(r"^FROM python:\d+\.\d+\.\d+-slim-\w+$", dockerfile, re.M)  # pinned base image
    assert "USER 999:999" in dockerfile
    pyproject = (PROJECT_DIR / "pyproject.toml").read_text()
    runtime = re.findall(r'"((?:pydantic|pyyaml|pyrage|cryptography)[^"]*)"', pyproject)
    assert runtime and all(f'"{requirement}"' in dockerfile for requirement in runtime)


def test_render_preview_needs_no_pulumi(tmp_path):
    """The renderer image leaves the Pulumi SDKs out: render-preview must not import them."""
    code = ("import sys\n"
            "for name in ('pulumi', 'pulumi_kubernetes', 'pulumi_cloudflare'): sys.modules[name] = None\n"
            "from minnova_idp.cli import main\n"
            "sys.exit(main(sys.argv[1:]))\n")
    head = "b" * 40
    result = subprocess.run(
        [sys.executable, "-c", code, "render-preview", str(PROJECT_DIR / "examples/storefront"), "--app", "storefront",
         "--pr", "7", "--head-sha", head, "--preview-domain", "preview.minnova.io", "--deployment", "minnova",
         "--ingress-class", "traefik"],
        capture_output=True, text=True, env={k: v for k, v in os.environ.items() if not k.startswith("ARGOCD_")})
    assert result.returncode == 0, result.stderr
    assert "storefront-pr-7" in result.stdout


def test_chart_values_render_with_the_real_chart():
    """Rendering the pinned upstream chart needs its source, which this offline machine cannot fetch."""
    chart = os.environ.get("MINNOVA_ARGOCD_CHART")
    if not chart or not Path(chart).is_dir():
        pytest.skip("set MINNOVA_ARGOCD_CHART to an unpacked argo-cd "
                    f"{versions.ARGO_CD.version} chart to render the values with it (no network here)")
    pytest.importorskip("helm", reason="helm-python-sdk is not installed")
    values_schema = Path(chart) / "values.schema.json"
    if values_schema.exists():
        import jsonschema

        jsonschema.validate(argocd.chart_values(settings(), True), json.loads(values_schema.read_text()))
