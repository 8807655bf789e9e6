"""Host ownership: an app named like a label the platform's hosts use cannot take the default host patterns."""

from __future__ import annotations

import pytest

from minnova_idp.policy.hosts import reserved_labels
from tests.conftest import load_stack_inputs, project_copy, stack_problems


def with_app(tmp_path, name: str, hosts: str = ""):
    project = project_copy(tmp_path)
    source = project / "examples" / name / ".minnova"
    source.mkdir(parents=True)
    source.joinpath("app.yaml").write_text(
        f"name: {name}\nimage: {{repository: registry.minnova.io/{name}, tag: '1'}}\nport: 80\n"
        f"environments: {{dev: {{host: {name}.dev.minnova.io}}}}\n")
    (project / f"deployments/minnova/apps/{name}.yaml").write_text(
        f"name: {name}\nlocal: examples/{name}\n" + (f"hosts: [{hosts}]\n" if hosts else ""))
    return project


@pytest.mark.parametrize("name,why", [("dev", "environment dev"), ("argocd", "Argo CD"),
                                      ("preview", "minnova:previewDomain preview.minnova.io")])
def test_an_app_named_like_a_platform_label_is_refused_its_default_hosts(tmp_path, name, why):
    problems = stack_problems(with_app(tmp_path, name), cache_dir=tmp_path / "cache")
    assert any(p.startswith(f"deployments/minnova/apps/{name}.yaml: name: '{name}' is a label this stack's hosts "
                            f"use ({why})") for p in problems), problems


def test_listing_its_hosts_in_the_registry_entry_lets_it_be(tmp_path):
    project = with_app(tmp_path, "dev", hosts="dev.dev.minnova.io")
    inputs = load_stack_inputs(project, cache_dir=tmp_path / "cache")
    assert "dev" in {app.name for app in inputs.apps}


def test_the_labels_come_from_the_stack():
    from tests.conftest import PROJECT_DIR

    labels = reserved_labels(load_stack_inputs(PROJECT_DIR))
    assert {"dev", "argocd", "preview", "argocd-webhooks"} <= set(labels) and "oracle" not in labels


# ---- aliases (environments.<env>.aliases): hosts like any other, bounded by the same registry entry ----------------

STOREFRONT_YAML = "examples/storefront/.minnova/app.yaml"


def storefront_with_dev_alias(tmp_path, alias: str, registry_hosts: str | None = None):
    project = project_copy(tmp_path)
    app_yaml = project / STOREFRONT_YAML
    app_yaml.write_text(app_yaml.read_text().replace(
        "dev: {replicas: 1, host: shop.dev.minnova.io}",
        f"dev: {{replicas: 1, host: shop.dev.minnova.io, aliases: [{{host: {alias}}}]}}"))
    if registry_hosts is not None:
        entry = project / "deployments/minnova/apps/storefront.yaml"
        entry.write_text(entry.read_text().replace("hosts: [shop.minnova.io, shop.dev.minnova.io, store.minnova.io]",
                                                   f"hosts: [{registry_hosts}]"))
    return project


def test_an_app_cannot_take_another_apps_host_through_an_alias_even_where_its_patterns_allow_it(tmp_path):
    project = storefront_with_dev_alias(tmp_path, "oracle.dev.minnova.io",
                                        "shop.minnova.io, '*.dev.minnova.io', store.minnova.io")
    assert stack_problems(project) == [
        f"{STOREFRONT_YAML}: environments.dev.aliases[0].host: 'oracle.dev.minnova.io' is already the host of app "
        "'oracle' (dev); two apps can never share a host"]


@pytest.mark.parametrize("alias", ["api.minnova.io", "www.oracle.minnova.io", "shop.dev.example.org"])
def test_the_registry_entry_bounds_every_alias(tmp_path, alias):
    found = stack_problems(storefront_with_dev_alias(tmp_path, alias))
    assert len(found) == 1 and found[0].startswith(f"{STOREFRONT_YAML}: environments.dev.aliases[0].host: "), found
    assert ("is not a host app 'storefront' may use" in found[0] or "is outside this stack's zone" in found[0]), found


def test_an_alias_in_the_allowed_hosts_loads(tmp_path):
    allowed = "shop.minnova.io, shop.dev.minnova.io, '*.shop.dev.minnova.io', store.minnova.io"
    project = storefront_with_dev_alias(tmp_path, "www.shop.dev.minnova.io", allowed)
    (storefront,) = [app for app in load_stack_inputs(project).apps if app.name == "storefront"]
    assert storefront.config.environments["dev"].hosts == ("shop.dev.minnova.io", "www.shop.dev.minnova.io")


def test_a_contested_alias_stays_with_the_app_that_serves_it():
    """ADR 0012: whatever the names, the app the last update deployed a host for keeps it; for an alias that is
    the `hostAliases` output (load/inputs.py served_hosts), as `urls` is for the canonical host."""
    from minnova_idp.load.apps import host_claim_problems
    from minnova_idp.load.inputs import served_hosts

    outputs = {"urls": {"zed-prod": "https://zed.example.com"},
               "hostAliases": {"zed-prod": ["https://www.example.com"]}}
    deployed = served_hosts(outputs, {"aaa": None, "zed": None}, ["prod"])
    claims = [("aaa", "prod", "www.example.com", "aaa/app.yaml", "environments.prod.host"),
              ("zed", "prod", "zed.example.com", "zed/app.yaml", "environments.prod.host"),
              ("zed", "prod", "www.example.com", "zed/app.yaml", "environments.prod.aliases[0].host")]
    (problem,) = host_claim_problems(claims, deployed=deployed)
    assert (problem.file, problem.field) == ("aaa/app.yaml", "environments.prod.host")
    assert "'www.example.com' is already the host of app 'zed' (prod)" in problem.message
    # Without the output (no stack yet), the first by name keeps it: zed's alias is the one refused, at its field.
    (problem,) = host_claim_problems(claims)
    assert (problem.file, problem.field) == ("zed/app.yaml", "environments.prod.aliases[0].host")
