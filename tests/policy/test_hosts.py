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
