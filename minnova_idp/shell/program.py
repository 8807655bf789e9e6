"""The Pulumi program: load and check everything (the core), then declare the Platform.

Loading comes first and is all-or-nothing: a problem anywhere stops the run before
a single resource is registered (see core/loader.py for why).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pulumi

from ..core.errors import ConfigError, raise_if_any
from ..core.inputs import (DATABASE_CLUSTERS_OUTPUT, FetchProgress, DATABASE_SIZES_OUTPUT, IMAGE_TAGS_OUTPUT, STOP_HEADER,
                           ProgramInputs, database_replacements, image_tag_history, load_inputs, storage_shrinks)
from ..core.stackconfig import from_pulumi_runtime
from .platform import Platform

PLATFORM_NAME = "platform"


async def program(inputs: ProgramInputs) -> dict[str, pulumi.Output]:
    """Registers the resources the core declares for `inputs`; returns the stack's outputs (also exported)."""
    settings = inputs.stack.settings
    previous_tags: dict = {}
    if settings.database_storage_guard:
        # This stack's own outputs from its last update: the only record of what was deployed.
        previous = pulumi.StackReference(
            f"{pulumi.get_organization()}/{pulumi.get_project()}/{pulumi.get_stack()}")
        if any(app.config.database.enabled for app, _ in inputs.deployed()):
            sizes = await previous.get_output(DATABASE_SIZES_OUTPUT).future() or {}
            clusters = await previous.get_output(DATABASE_CLUSTERS_OUTPUT).future() or {}
            raise_if_any(storage_shrinks(inputs, sizes) + database_replacements(inputs, clusters))
        previous_tags = await previous.get_output(IMAGE_TAGS_OUTPUT).future() or {}

    platform = Platform(PLATFORM_NAME, inputs)
    outputs = {"urls": platform.urls, DATABASE_SIZES_OUTPUT: platform.database_sizes,
               DATABASE_CLUSTERS_OUTPUT: platform.database_clusters,
               # What each app environment deployed, newest first: `minnova-idp rollback` goes back to the second.
               IMAGE_TAGS_OUTPUT: pulumi.Output.from_input(image_tag_history(inputs, previous_tags))}
    for name, value in outputs.items():
        pulumi.export(name, value)
    return outputs


def main(project_dir: Path) -> None:
    """Entry point of `pulumi up` / `pulumi preview` (see __main__.py)."""
    try:
        # `pulumi up` shows what the program writes to stderr: a line per app repository as it is fetched.
        inputs = load_inputs(project_dir, *from_pulumi_runtime(), progress=FetchProgress(sys.stderr))
    except ConfigError as exc:
        raise pulumi.RunError(exc.render(STOP_HEADER)) from None

    async def entrypoint():
        try:
            await program(inputs)
        except ConfigError as exc:
            raise pulumi.RunError(exc.render(STOP_HEADER)) from None

    pulumi.run(entrypoint)
