"""The `<CALLEE>_<PROCESS>_URL` variables a caller gets (render/internal_services.py) name one service each: two
callees spelling the same name (`a-b`'s process `c` and `a`'s process `b-c` are both `A_B_C_URL`) would leave the
caller one of them, chosen by name order, so a callee adding a process could take another callee's traffic. Refused
here, across the registry, naming both callees (ADR 0016). Pure."""

from __future__ import annotations

from minnova_idp.model.errors import Problem
from minnova_idp.model.inputs import ProgramInputs
from minnova_idp.render.internal_services import InternalService, caller_index, internal_ports


def url_name_problems(inputs: ProgramInputs) -> list[Problem]:
    """A problem on the registry entry of the second callee (name order) for each name two callees give a caller. It
    names no app's own file, so the isolation finds the app whose new config added the clash and keeps that one back
    (load/inputs.py new_config_causes, ADR 0012); when the configs as deployed clash, the platform team must act."""
    registry_dir = inputs.stack.settings.registry_dir
    index = caller_index([(app.entry, app.config) for app in inputs.apps])
    problems = []
    for caller in sorted(index):
        first: dict[str, tuple[str, str]] = {}
        for callee, allowed in index[caller]:  # callees in name order
            for process in sorted(internal_ports(callee)):
                if not allowed.allows(process):
                    continue
                variable = InternalService(callee.name, process, "", 0).env_name
                if variable not in first:
                    first[variable] = (callee.name, process)
                    continue
                other, other_process = first[variable]
                if other == callee.name:
                    continue  # one callee's processes are distinct names already (app.yaml checks them)
                problems.append(Problem(
                    f"{registry_dir}/{callee.name}.yaml", "allowFrom",
                    f"'{caller}' would get {variable} from both '{other}' (process {other_process}) and "
                    f"'{callee.name}' (process {process}): one variable cannot name two services",
                    hint=f"rename one of the processes, or narrow allowFrom with `processes` so '{caller}' calls "
                         "only one of them"))
    return problems
