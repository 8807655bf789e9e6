"""Argo CD and preview environments in the Platform: release, credentials, projects, ApplicationSets."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from minnova_idp.load.inputs import load_inputs
from minnova_idp.load.stack import from_stack_file
from minnova_idp.model import versions
from minnova_idp.model.app_config import AppConfig
from minnova_idp.model.errors import ConfigError
from minnova_idp.model.secrets import SecretValues
from minnova_idp.model.stack import StackSecrets
from minnova_idp.model.stack_settings import StackSettings
from minnova_idp.render import argocd
from minnova_idp.render.database_placement import Origin
from minnova_idp.render.preview import PreviewRequest, render_preview
from minnova_idp.render.resources import Secret, plain

from tests.conftest import PROJECT_DIR, project_copy, resource_named, stack_problems
from tests.support.helm import go_template, go_yaml, render_chart, require_chart
from tests.support.k8s_strict import require_crds, validate_objects


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
        "webhook.github.secret": "[secret]", "server.secretkey": "[secret]"}
    assert resource_named(dev_plan, "platform-secret-argocd-notifications-secret").inputs["stringData"] == {
        "github-privateKey": "[secret]"}
    keys = resource_named(dev_plan, "platform-secret-minnova-preview-keys")
    # Preview keys only (and the stack's read-only pull credentials for previews' private images, and the key
    # previews' Redis passwords derive from, and the image repositories each app's previews may run).
    assert keys.inputs["stringData"] == {"oracle": "[secret]", "registry-credentials.json": "[secret]",
                                         "preview-passwords.key": "[secret]", "app-images.json": "[secret]",
                                         "approval.json": "[secret]"}
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
    # Only what render-preview cross-checks against the Application itself: the deployment's settings are the
    # sidecar's own environment, which a pull request cannot rewrite.
    assert env == {"APP_NAME": "oracle", "PR_NUMBER": "{{.number}}", "HEAD_SHA": "{{.head_sha}}"}
    assert template["spec"]["destination"]["namespace"] == "oracle-pr-{{.number}}"
    assert template["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
    assert template["spec"]["project"] == "oracle-previews"


def test_a_preview_renders_from_dot_git_where_no_pull_request_can_write_an_argocd_source_file():
    """Issue 25: the repo server merges `<path>/.argocd-source*.yaml` over the source before choosing the tool
    (argo-cd v3.4.4 reposerver/repository/repository.go:1808-1878); at `.git` no checkout can hold one
    (tests/test_preview_plugin.py::test_git_refuses_to_check_out_anything_under_dot_git). A monorepo app's path
    reaches render-preview from the platform's keys Secret instead."""
    apps = [argocd.PreviewApp("oracle", "https://github.com/a/oracle.git", path="services/oracle"),
            argocd.PreviewApp("shop", "https://github.com/a/shop.git")]
    for app in apps:
        source = argocd.render_application_set(app, settings())["spec"]["template"]["spec"]["source"]
        assert source["path"] == argocd.PREVIEW_SOURCE_PATH == ".git"
    keys = plain(argocd.preview_keys_secret(apps, StackSecrets())["stringData"])
    assert yaml.safe_load(keys[argocd.PREVIEW_APP_PATHS]) == {"oracle": "services/oracle"}
    assert argocd.PREVIEW_APP_PATHS not in plain(argocd.preview_keys_secret(apps[1:], StackSecrets())["stringData"])
    # .git itself travels to the sidecar (the plugin runs in it), what is inside it does not.
    assert argocd.REPO_SERVER_PARAMS["reposerver.plugin.tar.exclusions"] == ".git/*"


def test_render_preview_gets_every_setting_from_the_sidecar_and_cross_checks_the_plugin_env():
    from minnova_idp.render.preview import PLATFORM_SETTINGS, PLUGIN_ENV

    stack = settings()
    appset = argocd.render_application_set(argocd.PreviewApp("oracle", "https://github.com/a/oracle.git"), stack)
    passed = {f"ARGOCD_ENV_{e['name']}" for e in appset["spec"]["template"]["spec"]["source"]["plugin"]["env"]}
    assert passed == {PLUGIN_ENV[field] for field in ("app", "pr_number", "head_sha")}
    sidecar = {e["name"]: e["value"] for e in argocd.sidecar(stack)["env"]}
    assert {sidecar[variable] for variable in PLATFORM_SETTINGS.values()} == {"preview.acme.dev", "acme", "traefik"}


def test_project_is_confined_to_the_apps_previews(dev_plan):
    spec = resource_named(dev_plan, "platform-appproject-oracle-previews").inputs["spec"]
    assert spec["sourceRepos"] == ["https://github.com/minnova/oracle.git"]
    (destination,) = spec["destinations"]
    pattern = destination["namespace"]
    namespaces = [entry for entry in spec["clusterResourceWhitelist"] if entry["kind"] == "Namespace"]
    assert namespaces and all(entry["name"] for entry in namespaces)  # never "any namespace"
    for name in ("oracle-pr-1", "oracle-pr-123", "oracle-pr-9999999"):
        assert gobwas_match(pattern, name), name
        assert any(filepath_match(entry["name"], name) for entry in namespaces), name
    for other in ("oracle-dev", "oracle-prod", "storefront-pr-1", "oracle-pr-pr-1", "kube-system", "oracle-pr-1x-prod",
                  "oracle-pr-", "oracle-pr-12345678", "argocd"):
        assert not gobwas_match(pattern, other), other
        assert not any(filepath_match(entry["name"], other) for entry in namespaces), other


def _glob_regex(pattern: str, braces: bool, star: str) -> str:
    """A regex for the glob subset the project writes: *, ?, [classes] with ! or ^ negation, {a,b} (gobwas only)."""
    out, i = "", 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            out += star
        elif c == "?":
            out += "."
        elif c == "[":
            end = pattern.index("]", i)
            body = pattern[i + 1:end]
            out += "[" + ("^" + body[1:] if body[:1] in "!^" and body else body) + "]"
            i = end
        elif braces and c == "{":
            end = pattern.index("}", i)
            out += "(?:" + "|".join(_glob_regex(alt, False, star) for alt in pattern[i + 1:end].split(",")) + ")"
            i = end
        else:
            out += re.escape(c)
        i += 1
    return out


def gobwas_match(pattern: str, name: str) -> bool:
    """gobwas/glob v0.2.3 as AppProject destinations use it: no separators, so * crosses anything."""
    return re.fullmatch(_glob_regex(pattern, braces=True, star=".*"), name) is not None


def filepath_match(pattern: str, name: str) -> bool:
    """Go's path/filepath.Match, as resource whitelists use it: no braces; * stops at '/'."""
    return re.fullmatch(_glob_regex(pattern, braces=False, star="[^/]*"), name) is not None


def test_the_glob_models_can_fail():
    # The cases the research ran through the real libraries (gobwas v0.2.3, Go 1.19 path/filepath).
    assert gobwas_match("oracle-pr-[0-9]*", "oracle-pr-1x-prod")
    assert not gobwas_match("oracle-pr-{[0-9],[0-9][0-9]}", "oracle-pr-1x")
    assert not filepath_match("oracle-pr-{1,2}", "oracle-pr-1")
    assert filepath_match("oracle-pr-[0-9]*", "oracle-pr-1x-prod")


def test_project_whitelists_exactly_what_a_preview_renders():
    # Everything a preview can hold: a seeded database, a release phase, a worker, a cron job that runs in previews,
    # a Redis, a MySQL, a MongoDB; and a database copied from dev (its read-only origin).
    config = {"name": "oracle", "image": {"repository": "r.io/o"}, "port": 80,
              "database": {"enabled": True, "seed": {"files": ["seed/schema.sql"]}},
              "release": {"command": ["migrate"]}, "processes": {"worker": {"command": ["w"]}},
              "cron": {"nightly": {"schedule": "0 3 * * *", "command": ["n"], "previews": True}},
              "redis": {"enabled": True}, "mysql": {"enabled": True}, "mongodb": {"enabled": True},
              "environments": {"dev": {"host": "o.acme.dev"}}}
    app = AppConfig.model_validate(config)
    request = PreviewRequest("oracle", 1, "a" * 40, "preview.acme.dev", "acme", "traefik")
    rendered = render_preview(app, request, SecretValues(source="x", string_data={"A": "b"}),
                              seed=(("schema.sql", "create table t (id int);"),), password_key="k" * 64)
    copied = AppConfig.model_validate({**config, "preview": {"database": {"from": "dev"}}})
    origin = Origin("dev", "oracle-db", "acme-oracle-dev", "https://x.r2.cloudflarestorage.com", "id", "secret",
                    mask="update t set a = 1;")
    rendered += render_preview(copied, request, None, password_key="k" * 64, origin=origin)
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
        ["gitlab-token"] * 2 if provider == "gitlab" else ["deploy-key", "forge-token"])
    # The generator's token is an scm-creds Secret holding the key it names (tokenref strict mode).
    token_ref = generator[generator_key]["tokenRef"]
    (referenced,) = [s for s in secrets if s["metadata"]["name"] == token_ref["secretName"]]
    assert referenced["metadata"]["labels"]["argocd.argoproj.io/secret-type"] == "scm-creds"
    assert token_ref["key"] in referenced["stringData"]
    require_crds()
    validate_objects([appset, argocd.render_app_project(app), *plain(secrets)])


def test_missing_credentials_are_named(tmp_path):
    project = project_copy(tmp_path)
    stack = project / "Pulumi.dev.yaml"
    text = stack.read_text()
    stack.write_text(text.replace('    githubAppInstallationId: "7654321"\n', "").replace(
        "  minnova:githubAppPrivateKey:\n    secure: v1:EXAMPLE-PLACEHOLDER\n", "").replace(
        "  minnova:previewApprovalToken:  # read-only: Commit statuses: read on the app repositories (docs/security.md)\n"
        "    secure: v1:EXAMPLE-PLACEHOLDER\n", ""))
    found = stack_problems(project)
    assert "Pulumi.dev.yaml: minnova:git.githubAppInstallationId: is required for previews with provider github" in found
    # render-preview reads approvals with it (policy/approval.py): no previews without it.
    assert "Pulumi.dev.yaml: minnova:previewApprovalToken: is required for previews with provider github" in found
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
    # pinned base image: a version tag for humans, and the digest the pull actually uses
    assert re.search(r"^FROM python:\d+\.\d+\.\d+-slim-\w+@sha256:[0-9a-f]{64}$", dockerfile, re.M)
    assert len(re.findall(r"^FROM ", dockerfile, re.M)) == 1
    assert "USER 999:999" in dockerfile
    pyproject = (PROJECT_DIR / "pyproject.toml").read_text()
    runtime = re.findall(r'"((?:pydantic|pyyaml|pyrage|cryptography)[^"]*)"', pyproject)
    assert runtime and all(f'"{requirement}"' in dockerfile for requirement in runtime)


def test_render_preview_needs_no_pulumi(tmp_path):
    """The renderer image leaves the Pulumi SDKs out: render-preview must not import them."""
    code = ("import sys\n"
            "for name in ('pulumi', 'pulumi_kubernetes', 'pulumi_cloudflare'): sys.modules[name] = None\n"
            "from minnova_idp.cli.main import main\n"
            "sys.exit(main(sys.argv[1:]))\n")
    head = "b" * 40
    source = tmp_path / "storefront"  # the example without its bucket: its preview's keys are the stack's to mount
    shutil.copytree(PROJECT_DIR / "examples/storefront", source)
    app_yaml = source / ".minnova/app.yaml"
    app_yaml.write_text(app_yaml.read_text().replace("storage:\n  enabled: true\n", ""))
    result = subprocess.run(
        [sys.executable, "-c", code, "render-preview", str(source), "--app", "storefront",
         "--pr", "7", "--head-sha", head, "--preview-domain", "preview.minnova.io", "--deployment", "minnova",
         "--ingress-class", "traefik"],
        capture_output=True, text=True, env={k: v for k, v in os.environ.items() if not k.startswith("ARGOCD_")})
    assert result.returncode == 0, result.stderr
    assert "storefront-pr-7" in result.stdout


KNOWN_HOST = "git.acme.dev ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
# Exactly the pinned chart: what the Platform deploys is what these tests render (../shared/charts holds it).
CHART_VERSIONS = (versions.ARGO_CD.version,)


@pytest.fixture(scope="module")
def argo_cd_chart():
    """The real argo-cd chart rendered with the values the Platform gives it (webhook, notifications, known hosts)."""
    path = require_chart("argo-cd", *CHART_VERSIONS)
    stack = settings(previews={"rendererImage": "ghcr.io/acme/minnova-idp:1.0", "webhookHost": "hooks.acme.dev"})
    objects = render_chart(path, argocd.chart_values(stack, True, KNOWN_HOST), "argocd", argocd.NAMESPACE)
    return stack, {(o["kind"], o["metadata"]["name"]): o for o in objects}


def test_the_rendered_chart_is_the_pinned_one(argo_cd_chart):
    """The chart these tests render names its own version in every object's helm.sh/chart label: a pin moved
    without bringing that chart into the shared charts skips the chart tests here, and a stale file fails."""
    _, objects = argo_cd_chart
    rendered = {o["metadata"].get("labels", {}).get("helm.sh/chart") for o in objects.values()} - {None}
    assert rendered == {f"argo-cd-{versions.ARGO_CD.version}"}


def test_every_helm_release_of_the_dev_plan_renders_from_the_shared_charts_at_its_pin(dev_plan):
    releases = [r for r in dev_plan.resources if r.type == "kubernetes:helm.sh/v3:Release"]
    assert {r.inputs["chart"] for r in releases} >= {"argo-cd", "cert-manager", "cloudnative-pg"}
    for release in releases:
        require_chart(release.inputs["chart"], release.inputs["version"].removeprefix("v"))


def test_the_real_chart_makes_an_ingress_healthy_once_applied(argo_cd_chart):
    """Previews converge where the ingress controller never publishes status.loadBalancer: the chart writes the
    health override into argocd-cm, and the Lua returns Healthy whatever the Ingress's status says."""
    _, objects = argo_cd_chart
    lua = objects[("ConfigMap", "argocd-cm")]["data"][argocd.INGRESS_HEALTH_KEY]
    assert lua == argocd.INGRESS_HEALTH_LUA
    statements = [line.strip() for line in lua.splitlines() if line.strip()]
    # The whole script: no branch on obj, so no status (or its absence) can make it Progressing.
    assert statements[0] == "hs = {}" and statements[-1] == "return hs" and "obj" not in lua
    assert 'hs.status = "Healthy"' in statements


def test_the_real_chart_runs_the_plugin_sidecar_with_its_config(argo_cd_chart):
    stack, objects = argo_cd_chart
    pod = objects[("Deployment", "argocd-repo-server")]["spec"]["template"]["spec"]
    (sidecar,) = [c for c in pod["containers"] if c["name"] == argocd.PLUGIN_NAME]
    assert sidecar["image"] == "ghcr.io/acme/minnova-idp:1.0"
    assert {e["name"]: e["value"] for e in sidecar["env"]} == argocd.sidecar_environment(stack)
    volumes = {v["name"] for v in pod["volumes"]}
    assert {m["name"] for m in sidecar["volumeMounts"]} <= volumes  # the chart's own and ours, all present
    plugin = yaml.safe_load(objects[("ConfigMap", "argocd-cmp-cm")]["data"][f"{argocd.PLUGIN_NAME}.yaml"])
    assert plugin["kind"] == "ConfigManagementPlugin" and plugin["spec"] == argocd.plugin_spec()
    assert KNOWN_HOST in objects[("ConfigMap", "argocd-ssh-known-hosts-cm")]["data"]["ssh_known_hosts"]
    ingress = objects[("Ingress", "argocd-applicationset-controller")]["spec"]
    assert ingress["rules"][0]["host"] == "hooks.acme.dev"
    assert ingress["rules"][0]["http"]["paths"][0]["path"] == "/api/webhook"
    validate_objects([objects[("Deployment", "argocd-repo-server")], objects[("ConfigMap", "argocd-cmp-cm")],
                      objects[("Ingress", "argocd-applicationset-controller")]])


def test_the_real_chart_lets_the_plugin_read_applications_and_nothing_more(argo_cd_chart):
    """The preview cap (policy/preview_cap.py): the repo server's Role may list Applications in Argo CD's
    namespace; its token reaches the sidecar (the pod mounts it); a refused render is retried within minutes."""
    stack, objects = argo_cd_chart
    role = objects[("Role", "argocd-repo-server")]
    assert role["metadata"]["namespace"] == argocd.NAMESPACE
    assert role["rules"] == [{"apiGroups": ["argoproj.io"], "resources": ["applications"], "verbs": ["list"]}]
    binding = objects[("RoleBinding", "argocd-repo-server")]
    assert binding["roleRef"]["name"] == "argocd-repo-server"
    assert not [o for (kind, _), o in objects.items() if kind == "ClusterRoleBinding"
                and any(s.get("name") == "argocd-repo-server" for s in o.get("subjects", []))]
    pod = objects[("Deployment", "argocd-repo-server")]["spec"]["template"]["spec"]
    assert pod.get("automountServiceAccountToken", True) is True
    (server,) = [c for c in pod["containers"] if c["name"] == "repo-server"]
    assert {"name": "ARGOCD_PAUSE_GEN_MINUTES", "value": "5"} in server["env"]
    env = argocd.sidecar_environment(stack)
    assert env["MINNOVA_PREVIEW_MAX_PER_APP"] == str(stack.previews.max_per_app)
    assert env["MINNOVA_PREVIEW_MAX_TOTAL"] == str(stack.previews.max_total)
    assert env["MINNOVA_MONGODB_OFFERED"] == ("true" if stack.mongodb.enabled else "false")
    validate_objects([role, binding])


def test_the_real_chart_projects_an_apps_origin_into_the_sidecars_keys(argo_cd_chart):
    """With an app whose previews copy an environment (origin.py), the keys volume is a projected one: the chart
    must carry it through, and Kubernetes accept it."""
    stack, _ = argo_cd_chart
    path = require_chart("argo-cd", *CHART_VERSIONS)
    objects = render_chart(path, argocd.chart_values(stack, True, KNOWN_HOST, ("oracle",)), "argocd", argocd.NAMESPACE)
    (server,) = [o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "argocd-repo-server"]
    (keys,) = [v for v in server["spec"]["template"]["spec"]["volumes"] if v["name"] == argocd.PREVIEW_KEYS_SECRET]
    assert keys["projected"]["sources"][1] == {"secret": {"name": "minnova-preview-origin-oracle", "optional": True,
                                                          "items": [{"key": "origin.json",
                                                                     "path": "oracle.origin.json"}]}}
    validate_objects([server])


def test_the_real_chart_writes_notifications_that_go_parses(argo_cd_chart):
    _, objects = argo_cd_chart
    data = objects[("ConfigMap", "argocd-notifications-cm")]["data"]
    templates = {k: v for k, v in data.items() if k.startswith("template.")}
    triggers = {k: v for k, v in data.items() if k.startswith("trigger.")}
    assert set(templates) == {f"template.{name}" for name in argocd.TEMPLATES}
    assert set(triggers) == {f"trigger.{name}" for name in argocd.TRIGGERS}
    # notifications-engine unmarshals each with sigs.k8s.io/yaml and loads nothing if one fails (pkg/api/config.go).
    for key, text in {**templates, **triggers, "service.github": data["service.github"]}.items():
        assert go_yaml(text) == yaml.safe_load(text), key
    for key, text in triggers.items():
        for condition in go_yaml(text):
            assert set(condition) == {"when", "send", "oncePer"}, key
            assert all(f"template.{name}" in templates for name in condition["send"]), key
    assert go_yaml(data["service.github"])["privateKey"] == "$github-privateKey"


def test_go_parses_what_the_old_templates_got_wrong():
    """The YAML checks can fail: the templates of the first version are refused by Go's parser."""
    with pytest.raises(Exception, match="mapping values are not allowed"):
        go_yaml("message: Preview ready: {{.x}}\n")
    with pytest.raises(Exception):
        go_yaml('targetURL: "{{index .app.metadata.annotations "minnova.io/preview-url"}}"\n')


def application(**status) -> dict:
    return {"app": {"metadata": {"name": "oracle-pr-7",
                                 "annotations": {argocd.PREVIEW_URL_ANNOTATION: "https://oracle-pr-7.preview.acme.dev"}},
                    "spec": {"source": {"repoURL": "https://github.com/acme/oracle.git", "targetRevision": "a" * 40}},
                    "status": status}}


def test_a_render_failure_is_reported_on_the_pull_request():
    """render-preview failed: a ComparisonError, sync Unknown, no operation (argo-cd controller/state.go:624-642)."""
    failed = application(sync={"status": "Unknown"}, conditions=[{
        "type": "ComparisonError", "message": "Failed to load target state: ... `minnova-idp render-preview` failed "
        "exit status 1: 1 problem found:\n  - .minnova/app.yaml:8: port: must be at most 65535"}])
    template = argocd.TEMPLATES["minnova-preview-render-failed"]
    comment = go_template(template["github"]["pullRequestComment"]["content"], failed)
    assert ".minnova/app.yaml:8: port: must be at most 65535" in comment and "aaaaaaa" in comment
    assert go_template(template["github"]["revisionPath"], failed) == "a" * 40  # the head SHA, not "<no value>"
    assert go_template(template["github"]["status"]["targetURL"], failed) == "https://oracle-pr-7.preview.acme.dev"


def test_the_failed_trigger_covers_render_errors():
    """The conditions name what Argo CD sets (tests/render/test_previews_converge.py runs them)."""
    (render_error, sync_error, degraded) = argocd.TRIGGERS["minnova-preview-failed"]
    assert "app.status.sync?.status == 'Unknown'" in render_error["when"]
    assert "ComparisonError" in render_error["when"] and "?? []" in render_error["when"]  # no error without conditions
    assert "['Error', 'Failed']" in sync_error["when"] and "Degraded" in degraded["when"]
    # A render error has no operation: it is about the head SHA. The others are about the revision that synced.
    assert render_error["oncePer"] == "app.spec.source.targetRevision"
    assert sync_error["oncePer"].startswith(argocd.SYNCED_REVISION) and degraded["oncePer"] == argocd.HEALTH_EPISODE


# ---- one stack per git provider, planned through the real program ---------------------------------------------

GITHUB_APP = '    provider: github\n    githubAppId: "123456"\n    githubAppInstallationId: "7654321"\n'
APP_KEY = "  minnova:githubAppPrivateKey:\n    secure: v1:EXAMPLE-PLACEHOLDER\n"
PLACEHOLDER = "secure: v1:EXAMPLE-PLACEHOLDER"
GITEA_HOST_KEY = "git.minnova.io ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"


# Only oracle reports commit statuses on the forges (minnova:previewStatusTokens); storefront has no token.
STATUS_TOKEN = f"  minnova:previewStatusTokens:\n    oracle:\n      {PLACEHOLDER}\n"


def provider_project(tmp_path: Path, provider: str) -> Path:
    """The example project with its dev stack moved to another git provider, as a platform team would set it."""
    project = project_copy(tmp_path)
    stack = project / "Pulumi.dev.yaml"
    text = stack.read_text()
    apps = ("oracle", "storefront", "catalog", "ledger")
    if provider == "github-enterprise":
        text = text.replace(GITHUB_APP, GITHUB_APP + "    url: https://ghe.minnova.io/\n")
        base = "https://ghe.minnova.io/minnova/"
    elif provider == "gitlab":
        text = text.replace(GITHUB_APP, "    provider: gitlab\n").replace(APP_KEY, "  minnova:gitlabProjectTokens:\n" + "".join(
            f"    {app}:\n      {PLACEHOLDER}\n" for app in apps)) + STATUS_TOKEN
        base = "https://gitlab.com/minnova/"
    else:
        text = text.replace(GITHUB_APP, f"    provider: {provider}\n    url: https://git.minnova.io/\n").replace(
            APP_KEY, f"  minnova:gitToken:\n    {PLACEHOLDER}\n  minnova:gitDeployKeys:\n" + "".join(
                f"    {app}:\n      {PLACEHOLDER}\n" for app in apps) + f"  minnova:gitKnownHosts: {GITEA_HOST_KEY}\n" + STATUS_TOKEN)
        text = text.replace("    webhookHost: argocd-webhooks.dev.minnova.io\n", "")  # no webhooks from forges
        base = "git@git.minnova.io:minnova/"
    if provider != "github-enterprise":  # GitLab, Gitea and Forgejo have no default approver
        text = text.replace("  minnova:previews:\n", "  minnova:previews:\n    approvers: [maria]\n")
    stack.write_text(text)
    for number, app in enumerate(apps, start=11):
        entry = project / f"deployments/minnova/apps/{app}.yaml"
        entry.write_text(entry.read_text().replace("https://github.com/minnova/", base)
                         + (f"projectId: {number}\n" if provider == "gitlab" else ""))
    return project


def planned_secrets(plan) -> dict[str, dict]:
    return {r.inputs["metadata"]["name"]: r.inputs for r in plan.resources
            if r.type == "kubernetes:core/v1:Secret" and r.inputs["metadata"]["namespace"] == argocd.NAMESPACE}


def assert_forge_statuses(plan, release: dict, secrets: dict, header: str, value: str) -> None:
    """Commit statuses through the webhook service, for the app with a token only, with its own token."""
    notifiers = release["notifications"]["notifiers"]
    assert set(notifiers) == {"service.webhook.minnova-status-oracle"}
    assert yaml.safe_load(notifiers["service.webhook.minnova-status-oracle"])["headers"] == [
        {"name": header, "value": value}, {"name": "Content-Type", "value": "application/json"}]
    assert set(secrets["argocd-notifications-secret"]["stringData"]) == {"minnova-status-oracle"}
    for app, subscribed in (("oracle", True), ("storefront", False)):
        annotations = resource_named(plan, f"platform-applicationset-{app}-previews").inputs["spec"]["template"][
            "metadata"]["annotations"]
        keys = {f"notifications.argoproj.io/subscribe.{t}.minnova-status-{app}"
                for t in ("minnova-preview-ready", "minnova-preview-failed")}
        assert (keys <= set(annotations)) == subscribed, app


@pytest.mark.parametrize("provider", ["github-enterprise", "gitlab", "gitea", "forgejo"])
def test_a_stack_per_provider_plans_with_what_its_argo_cd_needs(tmp_path, provider):
    from minnova_idp.plan.recorder import run_plan

    plan = run_plan(provider_project(tmp_path, provider), "dev", cache_dir=tmp_path / "cache")
    release = resource_named(plan, "argocd").inputs["values"]
    appset = resource_named(plan, "platform-applicationset-oracle-previews").inputs["spec"]
    generator = appset["generators"][0]["pullRequest"]
    secrets = planned_secrets(plan)
    if provider == "github-enterprise":
        assert generator["github"]["api"] == "https://ghe.minnova.io/api/v3/"
        assert release["configs"]["params"]["applicationsetcontroller.allowed.scm.providers"] == generator["github"]["api"]
        notifier = yaml.safe_load(release["notifications"]["notifiers"]["service.github"])
        assert notifier["enterpriseBaseURL"] == "https://ghe.minnova.io/api/v3"
        enterprise = settings(git={"provider": "github", "githubAppId": "1", "githubAppInstallationId": "2",
                                   "url": "https://ghe.minnova.io/"})
        # The plan masks a credential Secret's values: its keys are checked there, its values here.
        creds = argocd.credential_secrets(enterprise, [argocd.PreviewApp(
            "oracle", "https://ghe.minnova.io/minnova/oracle.git")], StackSecrets(github_app_private_key="k"))
        assert creds[0]["stringData"]["githubAppEnterpriseBaseUrl"] == "https://ghe.minnova.io/api/v3"
        assert creds[0]["stringData"]["url"] == "https://ghe.minnova.io/minnova/"
        assert set(secrets["minnova-github-app-minnova"]["stringData"]) >= {"githubAppEnterpriseBaseUrl"}
    elif provider == "gitlab":
        assert generator["gitlab"]["project"] == "11" and generator["gitlab"]["api"] == "https://gitlab.com/"
        token = secrets[generator["gitlab"]["tokenRef"]["secretName"]]
        assert token["metadata"]["labels"]["argocd.argoproj.io/secret-type"] == "scm-creds"
        assert secrets["minnova-repo-oracle"]["metadata"]["labels"]["argocd.argoproj.io/secret-type"] == "repository"
        assert_forge_statuses(plan, release, secrets, "PRIVATE-TOKEN", "$minnova-status-oracle")
    else:
        assert generator["gitea"]["api"] == "https://git.minnova.io/" and generator["requeueAfterSeconds"] == 60
        assert release["configs"]["ssh"]["extraHosts"].strip() == GITEA_HOST_KEY
        assert "applicationSet" not in release  # no webhook ingress
        assert set(secrets["minnova-repo-oracle"]["stringData"]) == {"type", "url", "sshPrivateKey"}
        assert_forge_statuses(plan, release, secrets, "Authorization", "token $minnova-status-oracle")
    require_crds()
    validate_objects(plan.manifests())


@pytest.mark.parametrize("provider,change,expected", [
    ("gitlab", lambda p: _edit(p / "deployments/minnova/apps/oracle.yaml", "https://gitlab.com/minnova/oracle.git",
                               "git@gitlab.com:minnova/oracle.git"),
     "deployments/minnova/apps/oracle.yaml: repo: GitLab previews check out over https with the project's access "
     "token: use the https URL"),
    ("gitea", lambda p: _edit(p / "Pulumi.dev.yaml", f"  minnova:gitKnownHosts: {GITEA_HOST_KEY}\n", ""),
     "Pulumi.dev.yaml: minnova:gitKnownHosts: has no host key for git.minnova.io, which Argo CD needs to clone "
     "git@git.minnova.io:minnova/oracle.git for previews (hint: pulumi config set minnova:gitKnownHosts "
     "\"$(ssh-keyscan git.minnova.io)\")"),
    ("forgejo", lambda p: _edit(p / "deployments/minnova/apps/oracle.yaml", "git@git.minnova.io:minnova/oracle.git",
                                "ssh://git@git.minnova.io:2222/minnova/oracle.git"),
     "Pulumi.dev.yaml: minnova:gitKnownHosts: has no host key for [git.minnova.io]:2222"),
    ("gitea", lambda p: _edit(p / "Pulumi.dev.yaml", "  minnova:previews:\n",
                              "  minnova:previews:\n    webhookHost: hooks.dev.minnova.io\n"),
     "Pulumi.dev.yaml: minnova:previews.webhookHost: Argo CD takes no pull-request webhooks from gitea"),
    ("github-enterprise", lambda p: _edit(p / "Pulumi.dev.yaml", "  minnova:webhookSecret:\n    " + PLACEHOLDER + "\n", ""),
     "Pulumi.dev.yaml: minnova:webhookSecret: is required with minnova:previews.webhookHost"),
    ("github-enterprise", lambda p: _edit(p / "Pulumi.dev.yaml", "  minnova:webhookSecret:\n",
                                          STATUS_TOKEN + "  minnova:webhookSecret:\n"),
     "Pulumi.dev.yaml: minnova:previewStatusTokens.oracle: is not used on GitHub"),
    ("gitlab", lambda p: _edit(p / "Pulumi.dev.yaml", STATUS_TOKEN, STATUS_TOKEN.replace("oracle", "sphinx")),
     "Pulumi.dev.yaml: minnova:previewStatusTokens.sphinx: names no app with previews (catalog, ledger, oracle, storefront)"),
    # No default approver off GitHub (policy/approval.py): without a list every preview would wait forever.
    ("gitlab", lambda p: _edit(p / "Pulumi.dev.yaml", "    approvers: [maria]\n", ""),
     "Pulumi.dev.yaml: minnova:previews.approvers: is required for previews with provider gitlab"),
    ("forgejo", lambda p: _edit(p / "Pulumi.dev.yaml", "    approvers: [maria]\n", "    approvers: []\n"),
     "Pulumi.dev.yaml: minnova:previews.approvers: is required for previews with provider forgejo"),
    ("github-enterprise", lambda p: _edit(p / "Pulumi.dev.yaml", "  minnova:previews:\n",
                                          "  minnova:previews:\n    approvers: []\n"),
     "Pulumi.dev.yaml: minnova:previews.approvers: is empty: no commit could ever be approved"),
])
def test_a_misconfigured_provider_stops_naming_the_setting(tmp_path, provider, change, expected):
    project = provider_project(tmp_path, provider)
    change(project)
    found = stack_problems(project, cache_dir=tmp_path / "cache")
    assert any(problem.startswith(expected) for problem in found), found


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new))


def test_known_hosts_lines_are_matched_as_ssh_does():
    from minnova_idp.model.gitrules import known_hosts_names, ssh_known_hosts_name

    assert ssh_known_hosts_name("git@git.acme.dev:acme/oracle.git") == "git.acme.dev"
    assert ssh_known_hosts_name("ssh://git@git.acme.dev:2222/acme/oracle.git") == "[git.acme.dev]:2222"
    assert ssh_known_hosts_name("ssh://git@git.acme.dev:22/acme/oracle.git") == "git.acme.dev"
    assert ssh_known_hosts_name("https://git.acme.dev/acme/oracle.git") is None
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
    assert known_hosts_names(f"other.dev,git.acme.dev {key}\n", "git.acme.dev")
    assert not known_hosts_names(f"# git.acme.dev {key}\n@cert-authority git.acme.dev {key}\n", "git.acme.dev")
    assert not known_hosts_names(f"git.acme.dev {key}\n", "[git.acme.dev]:2222")
    # A hashed entry (ssh-keyscan -H): |1|base64(salt)|base64(HMAC-SHA1(salt, name)).
    import base64
    import hashlib
    import hmac

    salt = b"0123456789abcdefghij"
    hashed = "|1|{}|{}".format(base64.b64encode(salt).decode(), base64.b64encode(
        hmac.new(salt, b"git.acme.dev", hashlib.sha1).digest()).decode())
    assert known_hosts_names(f"{hashed} {key}\n", "git.acme.dev")
    assert not known_hosts_names(f"{hashed} {key}\n", "git.other.dev")


def test_the_stack_caps_how_many_previews_run_at_once(dev_plan, tmp_path):
    # No quota on Applications (it would stop the ApplicationSet controller's deletions: test_previews_converge.py):
    # render-preview holds the cap, so maxTotal may be below maxPerApp x apps (it is then what binds).
    assert not [r for r in dev_plan.resources if r.type == "kubernetes:core/v1:ResourceQuota"
                and r.inputs["metadata"]["namespace"] == argocd.NAMESPACE]
    project = project_copy(tmp_path)
    _edit(project / "Pulumi.dev.yaml", "  minnova:previews:\n", "  minnova:previews:\n    maxTotal: 3\n")
    from tests.conftest import load_stack_inputs

    assert load_stack_inputs(project, "dev").stack.settings.previews.max_total == 3


def test_the_real_chart_turns_submodules_off_and_keeps_git_out_of_the_plugins_tarball(argo_cd_chart):
    """A PR's .gitmodules must not make the repo server fetch with its git credentials (argo-cd v3.4.4
    util/git/client.go:574-620): the setting reaches both Deployments that run git, through argocd-cmd-params-cm."""
    _, objects = argo_cd_chart
    params = objects[("ConfigMap", "argocd-cmd-params-cm")]["data"]
    assert params["reposerver.enable.git.submodule"] == "false"
    assert params["applicationsetcontroller.enable.git.submodule"] == "false"
    assert params["reposerver.plugin.tar.exclusions"] == ".git/*"
    for deployment, container, key in (
            ("argocd-repo-server", "repo-server", "reposerver.enable.git.submodule"),
            ("argocd-applicationset-controller", "applicationset-controller",
             "applicationsetcontroller.enable.git.submodule")):
        (server,) = [c for c in objects[("Deployment", deployment)]["spec"]["template"]["spec"]["containers"]
                     if c["name"] == container]
        env = {e["name"]: e.get("valueFrom", {}).get("configMapKeyRef") for e in server["env"]}
        assert env["ARGOCD_GIT_MODULES_ENABLED"] == {"name": "argocd-cmd-params-cm", "key": key, "optional": True}
    (server,) = [c for c in objects[("Deployment", "argocd-repo-server")]["spec"]["template"]["spec"]["containers"]
                 if c["name"] == "repo-server"]
    env = {e["name"]: e.get("valueFrom", {}).get("configMapKeyRef") for e in server["env"]}
    assert env["ARGOCD_REPO_SERVER_PLUGIN_TAR_EXCLUSIONS"]["key"] == "reposerver.plugin.tar.exclusions"


def test_the_real_chart_gives_the_repo_server_no_failed_render_cache(argo_cd_chart):
    """An approval must take effect at the next refresh: with the repo server's default, three failed renders of an
    unapproved head would be answered from cache for an hour (argocd.REPO_SERVER_ENV)."""
    _, objects = argo_cd_chart
    (server,) = [c for c in objects[("Deployment", "argocd-repo-server")]["spec"]["template"]["spec"]["containers"]
                 if c["name"] == "repo-server"]
    assert {"name": "ARGOCD_PAUSE_GEN_AFTER_FAILED_ATTEMPTS", "value": "0"} in server["env"]


@pytest.mark.parametrize("provider,where,context,failure", [
    ("gitlab", "/projects/11/statuses/", "name", "failed"),
    ("gitea", "/repos/minnova/oracle/statuses/", "context", "failure"),
])
def test_the_real_chart_writes_forge_statuses_that_go_runs_into_json(provider, where, context, failure):
    """GitLab, Gitea/Forgejo: each report is a webhook {method, path, body} (notifications-engine 1dbe3de
    pkg/services/webhook.go:31-66). The chart's ConfigMap parses with Go's YAML; path and body executed by Go's
    text/template give the status API's URL and a JSON body, whatever PR text the Application holds."""
    path = require_chart("argo-cd", *CHART_VERSIONS)
    git = {"provider": provider} | ({"url": "https://git.minnova.io/"} if provider == "gitea" else {})
    stack = settings(git=git, previews={"rendererImage": "ghcr.io/acme/minnova-idp:1.0"})
    values = argocd.chart_values(stack, False, None, (), {"oracle": "11" if provider == "gitlab" else "minnova/oracle"})
    objects = {(o["kind"], o["metadata"]["name"]): o for o in render_chart(path, values, "argocd", argocd.NAMESPACE)}
    data = objects[("ConfigMap", "argocd-notifications-cm")]["data"]
    service = go_yaml(data["service.webhook.minnova-status-oracle"])
    assert service["url"] == ("https://gitlab.com/api/v4" if provider == "gitlab" else "https://git.minnova.io/api/v1")
    # Only these headers are sent (notifications-engine 1dbe3de pkg/services/webhook.go:156-162): Gitea and Forgejo
    # refuse a body with no Content-Type ("Empty Content-Type").
    headers = {header["name"].lower(): header["value"] for header in service["headers"]}
    assert headers["content-type"] == "application/json"
    assert headers["private-token" if provider == "gitlab" else "authorization"].endswith("$minnova-status-oracle")
    hostile = '"}\\ </pre> ```evil'
    sha = "c" * 40
    # GitLab: the merge request's source branch (a fork's, the author's text) is the status's ref, from the
    # annotation the ApplicationSet's template writes with the generator's {{.branch}}.
    branch = 'fix/"quoted"\\ {{x}}'
    preview_app = argocd.PreviewApp("oracle", "https://gitlab.com/acme/oracle.git", project_id=11)
    set_annotations = argocd.render_application_set(preview_app, stack, forge_status=True)["spec"]["template"][
        "metadata"]["annotations"]
    assert (argocd.HEAD_BRANCH_ANNOTATION in set_annotations) == (provider == "gitlab")

    def made(**status):
        state = application(**status)
        if provider == "gitlab":  # the ApplicationSet controller executes the template with the generator's params
            state["app"]["metadata"]["annotations"][argocd.HEAD_BRANCH_ANNOTATION] = go_template(
                set_annotations[argocd.HEAD_BRANCH_ANNOTATION], {"branch": branch})
        return state

    cases = {
        "minnova-preview-ready": (made(operationState={"phase": "Succeeded", "syncResult": {
            "revision": sha}}, health={"status": "Healthy"}), "success"),
        "minnova-preview-sync-failed": (made(operationState={"phase": "Failed", "message": hostile,
                                                             "syncResult": {"revision": sha}}), failure),
        "minnova-preview-render-failed": (made(sync={"status": "Unknown"}, conditions=[
            {"type": "ComparisonError",
             "message": f"{hostile} commit {'a' * 40} refused by the preview cap: at most 2"}]),
            "pending"),
    }
    for name, (state, expected) in cases.items():
        template = go_yaml(data[f"template.{name}"])
        webhook = template["webhook"]["minnova-status-oracle"]
        assert webhook["method"] == "POST"
        head = state["app"]["spec"]["source"]["targetRevision"]
        revision = head if name == "minnova-preview-render-failed" else sha
        assert go_template(webhook["path"], state) == where + revision
        body = json.loads(go_template(webhook["body"], state))
        assert body["state"] == expected and body[context] == "minnova/preview"
        assert body["target_url"] == "https://oracle-pr-7.preview.acme.dev"
        assert body["description"].startswith(f"Preview of {revision[:7]} ") and "evil" not in body["description"]
        assert body.get("ref") == (branch if provider == "gitlab" else None)
    # Any other render error is a failure, in the forge's own word.
    broken = made(sync={"status": "Unknown"}, conditions=[{"type": "ComparisonError", "message": "x"}])
    body = go_yaml(data["template.minnova-preview-render-failed"])["webhook"]["minnova-status-oracle"]["body"]
    assert json.loads(go_template(body, broken))["state"] == failure
