"""Who may call whom (minnova_idp/policy/internal_access.py): an `allowFrom` item must open something that exists in
the callee's app.yaml, or it is a problem of the callee's config (kept at its last good config, ADR 0012)."""

from __future__ import annotations

import pytest

from minnova_idp.plan.recorder import run_plan

from tests.conftest import load_stack_inputs, project_copy, stack_problems

ORACLE_ENTRY = "deployments/minnova/apps/oracle.yaml"
ORACLE_APP = "examples/oracle/.minnova/app.yaml"


@pytest.mark.parametrize("allow_from, field, message", [
    ("[{app: storefront, processes: [admin]}]", "processes", "allowFrom[0] (storefront).processes[0] names 'admin', "
                                                             "which is not a process of this app"),
    ("[{app: storefront, processes: [worker]}]", "processes.worker", "names 'worker', which has no `port`"),
])
def test_an_allow_from_process_the_callee_lacks_or_that_serves_nothing_is_a_problem_of_the_callee(
        tmp_path, allow_from, field, message):
    project = project_copy(tmp_path)
    entry = project / ORACLE_ENTRY
    entry.write_text(entry.read_text().replace("allowFrom: [storefront]", f"allowFrom: {allow_from}"))
    problems = stack_problems(project, "dev")
    assert len(problems) == 1 and problems[0].startswith(f"{ORACLE_APP}: {field}: ") and message in problems[0], \
        problems


def test_allow_from_on_an_app_without_internal_services_is_a_problem_of_that_app(tmp_path):
    project = project_copy(tmp_path)
    entry = project / "deployments/minnova/apps/storefront.yaml"
    entry.write_text(entry.read_text() + "allowFrom: [oracle]\n")
    problems = stack_problems(project, "dev")
    assert len(problems) == 1 and problems[0].startswith("examples/storefront/.minnova/app.yaml: processes: ") \
        and "no process has a `port`" in problems[0], problems


def test_the_mismatch_is_the_callees_own_problem_and_stops_no_other_app(tmp_path):
    project = project_copy(tmp_path)
    entry = project / ORACLE_ENTRY
    entry.write_text(entry.read_text().replace("allowFrom: [storefront]",
                                               "allowFrom: [{app: storefront, processes: [admin]}]"))
    plan = run_plan(project, "dev", previous_outputs={})
    assert list(plan.outputs["degradedApps"]) == ["oracle"]
    assert any(r.name.startswith("storefront") for r in plan.resources)


def test_the_examples_allow_from_opens_an_existing_internal_service(tmp_path):
    assert not load_stack_inputs(project_copy(tmp_path), "dev").degraded
