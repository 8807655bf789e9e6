"""The Pulumi program: load and check everything (the core), then declare the Platform.

Loading comes first and is all-or-nothing: a problem anywhere stops the run before
a single resource is registered (see core/loader.py for why).
"""

from __future__ import annotations

from pathlib import Path

import pulumi

from ..core.errors import ConfigError, raise_if_any
from ..core.inputs import (DATABASE_CLUSTERS_OUTPUT, DATABASE_SIZES_OUTPUT, STOP_HEADER, ProgramInputs,
                           database_replacements, load_inputs, storage_shrinks)
from ..core.stackconfig import from_pulumi_runtime
from .platform import Platform

PLATFORM_NAME = "platform"


async def program(inputs: ProgramInputs):
    """Registers the resources the core declares for `inputs`."""
    settings = inputs.stack.settings
    if settings.database_storage_guard and any(app.config.database.enabled for app, _ in inputs.deployed()):
        # This stack's own outputs from its last update: the only record of what was deployed.
        previous = pulumi.StackReference(
            f"{pulumi.get_organization()}/{pulumi.get_project()}/{pulumi.get_stack()}")
        sizes = await previous.get_output(DATABASE_SIZES_OUTPUT).future() or {}
        clusters = await previous.get_output(DATABASE_CLUSTERS_OUTPUT).future() or {}
        raise_if_any(storage_shrinks(inputs, sizes) + database_replacements(inputs, clusters))

    platform = Platform(PLATFORM_NAME, inputs)
    pulumi.export("urls", platform.urls)
    pulumi.export(DATABASE_SIZES_OUTPUT, platform.database_sizes)
    pulumi.export(DATABASE_CLUSTERS_OUTPUT, platform.database_clusters)
    return platform


def main(project_dir: Path) -> None:
    """Entry point of `pulumi up` / `pulumi preview` (see __main__.py)."""
    try:
        inputs = load_inputs(project_dir, *from_pulumi_runtime())
    except ConfigError as exc:
        raise pulumi.RunError(exc.render(STOP_HEADER)) from None

    async def entrypoint():
        try:
            await program(inputs)
        except ConfigError as exc:
            raise pulumi.RunError(exc.render(STOP_HEADER)) from None

    pulumi.run(entrypoint)
