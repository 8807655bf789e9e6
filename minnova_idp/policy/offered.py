"""What a stack offers its apps beyond the defaults: MongoDB only where the platform team turned it on (ADR 0014)."""

from __future__ import annotations

from minnova_idp.model.errors import Problem
from minnova_idp.model.inputs import ProgramInputs


def offered_problems(inputs: ProgramInputs) -> list[Problem]:
    """An app asking for MongoDB on a stack that does not offer it: that app's own problem (its file and field),
    naming the stack file the platform team would change. Never a silent install: the server's licence (SSPL) needs
    a decision per stack, not per app."""
    if inputs.stack.settings.mongodb.enabled:
        return []
    asking = {app.name: app for app, _ in inputs.deployed() if app.config.mongodb.enabled}
    return [Problem(app.config_file, "mongodb.enabled",
                    f"this stack does not offer MongoDB ({inputs.stack.file}: minnova:mongodb.enabled is not true)",
                    hint=f"remove mongodb:, or ask the platform team to set minnova:mongodb.enabled in "
                         f"{inputs.stack.file} (docs/mongodb.md \"For operators\": the licence review comes first)")
            for app in asking.values()]
