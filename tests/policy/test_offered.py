"""policy/offered.py: MongoDB only on a stack that offers it (minnova:mongodb.enabled, ADR 0014)."""

from __future__ import annotations

from minnova_idp.model import versions
from minnova_idp.render.declaration import declare
from minnova_idp.render.resources import HelmRelease
from tests.conftest import PROJECT_DIR, load_stack_inputs, project_copy, stack_problems

OFF = {"minnova:mongodb": '{"enabled": false}'}


def _operator_installed(inputs) -> bool:
    return any(isinstance(each, HelmRelease) and each.chart == versions.PSMDB_OPERATOR
               for each in declare(inputs).platform)


def test_an_app_asking_for_mongodb_on_a_stack_that_does_not_offer_it_is_refused_naming_both_files():
    problems = stack_problems(PROJECT_DIR, "dev", extra=OFF)
    assert problems == [
        "examples/catalog/.minnova/app.yaml: mongodb.enabled: this stack does not offer MongoDB (Pulumi.dev.yaml: "
        "minnova:mongodb.enabled is not true) (hint: remove mongodb:, or ask the platform team to set "
        "minnova:mongodb.enabled in Pulumi.dev.yaml (docs/mongodb.md \"For operators\": the licence review comes "
        "first))"], problems


def test_the_operator_is_installed_only_where_the_stack_offers_mongodb(tmp_path):
    assert _operator_installed(load_stack_inputs(PROJECT_DIR, "dev"))  # the example stacks offer it
    project = project_copy(tmp_path)
    app_yaml = project / "examples/catalog/.minnova/app.yaml"
    app_yaml.write_text(app_yaml.read_text().replace("mongodb:                        #", "mongodb:  #")
                        .replace("  enabled: true\n  version: \"8.0\"", "  enabled: false\n  version: \"8.0\"")
                        .replace("    mongodb: {instances: 3}     # high availability: three members, one primary\n",
                                 ""))
    assert not _operator_installed(load_stack_inputs(project, "dev", extra=OFF))
    assert not _operator_installed(load_stack_inputs(project, "dev", extra={"minnova:mongodb": "{}"}))  # off: default
