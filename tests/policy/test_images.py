"""Images belong to apps (issue 25 item 2): an app runs only the repositories the platform gives it."""

from __future__ import annotations

import json

import yaml

from minnova_idp.model import names
from minnova_idp.model.stack import StackSecrets
from minnova_idp.plan.recorder import run_plan
from minnova_idp.render import argocd
from minnova_idp.render.resources import plain
from tests.conftest import load_stack_inputs, project_copy, stack_problems
from tests.test_preview_plugin import argocd_env, checkout, keys_dir, render  # noqa: F401 (fixtures)


def _storefront_runs(project, repository: str) -> None:
    app_yaml = project / "examples/storefront/.minnova/app.yaml"
    app_yaml.write_text(app_yaml.read_text().replace("repository: registry.minnova.io/storefront",
                                                     f"repository: {repository}"))


def test_an_app_cannot_run_another_apps_image(tmp_path):
    """The red team's case: storefront declares oracle's private image (every pod gets the stack's pull secret)."""
    project = project_copy(tmp_path)
    _storefront_runs(project, "registry.minnova.io/oracle")
    (problem,) = stack_problems(project)
    assert problem.startswith("examples/storefront/.minnova/app.yaml: image.repository: 'registry.minnova.io/oracle' "
                              "is not an image app 'storefront' may run (its registry entry's `images`: "
                              "registry.minnova.io/storefront)")
    assert "deployments/minnova/apps/storefront.yaml" in problem


def test_the_default_is_the_apps_name_under_the_stacks_registry(tmp_path):
    project = project_copy(tmp_path)
    oracle = project / "examples/oracle/.minnova/app.yaml"
    oracle.write_text(oracle.read_text().replace("repository: registry.minnova.io/oracle",
                                                 "repository: registry.minnova.io/oracle-internal"))
    (problem,) = stack_problems(project)
    assert "'registry.minnova.io/oracle-internal' is not an image app 'oracle' may run (the default for its name " \
           "under minnova:imageRegistry registry.minnova.io: registry.minnova.io/oracle)" in problem


def test_a_stack_without_an_image_registry_keeps_working_and_plan_says_images_are_not_confined(tmp_path):
    project = project_copy(tmp_path)
    stack = project / "Pulumi.dev.yaml"
    stack.write_text(stack.read_text().replace("  minnova:imageRegistry: registry.minnova.io\n", ""))
    load_stack_inputs(project, "dev")  # oracle has no `images`: unconfined, accepted
    plan = run_plan(project, "dev")
    assert any(line.startswith("warning: images are not confined for catalog, ledger, oracle:") for line in plan.image_gate)
    assert not any("not confined" in line for line in run_plan(project_copy(tmp_path / "b"), "dev").image_gate)


def test_previews_get_the_platforms_list_and_refuse_other_images(checkout, keys_dir):  # noqa: F811
    apps = [argocd.PreviewApp("oracle", "https://github.com/minnova/oracle.git", images=("registry.minnova.io/oracle",)),
            argocd.PreviewApp("loose", "https://github.com/minnova/loose.git")]
    from minnova_idp.model.stack import StackSecrets

    keys = plain(argocd.preview_keys_secret(apps, StackSecrets())["stringData"])
    assert json.loads(keys[argocd.PREVIEW_APP_IMAGES]) == {"oracle": ["registry.minnova.io/oracle"]}
    (keys_dir / argocd.PREVIEW_APP_IMAGES).write_text(keys[argocd.PREVIEW_APP_IMAGES])
    repo, head = checkout
    assert render(repo, argocd_env(head, keys_dir)).returncode == 0
    app_yaml = repo / ".minnova/app.yaml"
    app_yaml.write_text(app_yaml.read_text().replace("repository: registry.minnova.io/oracle",
                                                     "repository: ghcr.io/fork/oracle"))
    # Plugin env cannot widen the list: only the sidecar's file counts.
    result = render(repo, argocd_env(head, keys_dir, ARGOCD_ENV_IMAGES="ghcr.io/fork/oracle"))
    assert result.returncode == 1 and result.stdout == ""
    assert "image.repository: 'ghcr.io/fork/oracle' is not an image app 'oracle' may run" in result.stderr


# ---- pull credentials reach only the app's own repositories (issue 25, item 2) ------------------------------------

ORACLE_PULL = '{"auths": {"registry.minnova.io": {"auth": "b3JhY2xlLXJvYm90OnB1bGwtb25seQ=="}}}'  # oracle-robot


def test_an_app_with_its_own_pull_credentials_never_gets_the_stacks_and_no_other_app_gets_its():
    """Before: every app namespace got minnova:registryCredentials, so any app's pod could pull any app's image with
    it. An app listed in minnova:appRegistryCredentials gets only its own (a robot account the registry scopes to its
    repositories); the others keep the stack's."""
    from minnova_idp.model import names
    from minnova_idp.render.declaration import declare
    from minnova_idp.render.resources import Secret
    from tests.conftest import PROJECT_DIR, load_stack_inputs

    inputs = load_stack_inputs(PROJECT_DIR, "prod", extra={
        "minnova:registryCredentials": '{"auths": {"registry.minnova.io": {"auth": "c3RhY2s6d2lkZQ=="}}}',
        "minnova:appRegistryCredentials": json.dumps({"oracle": ORACLE_PULL})},
        secret={"minnova:registryCredentials", "minnova:appRegistryCredentials"})
    pulled = {}
    for instance in declare(inputs).apps:
        for resource in instance.resources:
            manifest = getattr(resource, "manifest", None)
            if manifest and manifest.get("kind") == "Secret" and manifest["metadata"]["name"] == names.PULL_SECRET:
                value = manifest["stringData"][".dockerconfigjson"]
                pulled[instance.app.name] = value.value if isinstance(value, Secret) else value
    stack = '{"auths": {"registry.minnova.io": {"auth": "c3RhY2s6d2lkZQ=="}}}'
    assert pulled == {"catalog": stack, "ledger": stack, "oracle": ORACLE_PULL, "storefront": stack}


def test_a_preview_pulls_with_its_apps_own_credentials_when_the_platform_gave_some(checkout, keys_dir):  # noqa: F811
    repo, head = checkout
    (keys_dir / argocd.PREVIEW_PULL_CREDENTIALS).write_text('{"auths": {"registry.minnova.io": {"auth": "d2lkZQ=="}}}')
    (keys_dir / names.app_pull_credentials_file("storefront")).write_text('{"auths": {"x": {"auth": "b3RoZXI="}}}')
    pull = [o for o in yaml.safe_load_all(render(repo, argocd_env(head, keys_dir)).stdout)
            if o["kind"] == "Secret" and o["metadata"]["name"] == "registry-credentials"]
    assert "d2lkZQ==" in pull[0]["stringData"][".dockerconfigjson"]  # the stack's, never storefront's
    (keys_dir / names.app_pull_credentials_file("oracle")).write_text(ORACLE_PULL)
    pull = [o for o in yaml.safe_load_all(render(repo, argocd_env(head, keys_dir)).stdout)
            if o["kind"] == "Secret" and o["metadata"]["name"] == "registry-credentials"]
    assert pull[0]["stringData"][".dockerconfigjson"] == ORACLE_PULL
    keys = plain(argocd.preview_keys_secret([argocd.PreviewApp("oracle", "https://github.com/minnova/oracle.git")],
                                            StackSecrets(app_registry_credentials={"oracle": ORACLE_PULL,
                                                                                   "storefront": "{}"}))["stringData"])
    assert keys == {"oracle.registry-credentials.json": ORACLE_PULL}  # only previewed apps' own
