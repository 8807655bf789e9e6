"""The Pulumi program: load and check everything (the core), then declare the Platform.

Loading comes first and is all-or-nothing: a problem anywhere stops the run before
a single resource is registered (see minnova_idp/load/apps.py for why).
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import replace
from pathlib import Path

import pulumi

from components.platform import Platform
from minnova_idp.load import image_registry as imagegate
from minnova_idp.load.inputs import load_inputs
from minnova_idp.load.progress import FetchProgress
from minnova_idp.model import names
from minnova_idp.model.errors import ConfigError, Problem, raise_if_any
from minnova_idp.model.inputs import IMAGE_TAGS_OUTPUT, STOP_HEADER, ProgramInputs
from minnova_idp.plan.pulumi_internals import running_program_config, version_problems
from minnova_idp.policy import image_gate
from minnova_idp.policy.guards import (
    apply_rollbacks,
    checked_rows,
    guard_problems,
    outputs_to_read,
    unrecorded_versions,
)
from minnova_idp.policy.image_gate import image_tag_history, requested_images

PLATFORM_NAME = "platform"


async def program(inputs: ProgramInputs, check_images=None) -> dict[str, pulumi.Output]:
    """Registers the resources the core declares for `inputs`; returns the stack's outputs (also exported).

    `check_images`: imagegate.check_images under `pulumi up`/`preview`; the offline plan passes none (it contacts no
    registry: it reports what would be checked).
    """
    settings = inputs.stack.settings
    for problem in version_problems():  # the plan's private Pulumi uses were read in other versions: say so
        pulumi.log.warn(problem)
    previous_tags: dict = {}
    guarded = outputs_to_read(inputs)
    if guarded or settings.image_gate != "off":
        # This stack's own outputs from its last update: the only record of what was deployed.
        previous = pulumi.StackReference(
            f"{pulumi.get_organization()}/{pulumi.get_project()}/{pulumi.get_stack()}")
        recorded = {output: await previous.get_output(output).future() or {} for output in guarded}
        # minnova:databaseUpgradeRollbacks: the record from before a failed upgrade, for this run
        recorded, rollback_problems = apply_rollbacks(inputs, recorded)
        raise_if_any(rollback_problems + guard_problems(inputs, recorded, checked_rows(inputs)))
        # A deployed database whose version is not recorded yet: say so (databaseClusters is read with the versions
        # whenever an app has a database: guards.READ_FOR_STATE).
        for warning in unrecorded_versions(inputs, recorded):
            pulumi.log.warn(warning)
        inputs = replace(inputs, recorded=recorded)
        previous_tags = await previous.get_output(IMAGE_TAGS_OUTPUT).future() or {}
    if settings.image_gate != "off" and check_images is not None:
        inputs = await _image_gate(inputs, previous_tags, check_images)

    platform = Platform(PLATFORM_NAME, inputs)
    outputs = {"urls": platform.urls, **platform.guarded,
               # What each app environment deployed, newest first: `minnova-idp rollback` goes back to the second.
               IMAGE_TAGS_OUTPUT: pulumi.Output.from_input(image_tag_history(inputs, previous_tags))}
    for name, value in outputs.items():
        pulumi.export(name, value)
    return outputs


async def _image_gate(inputs: ProgramInputs, previous_tags: dict, check_images) -> ProgramInputs:
    """Deploy only what CI built (minnova_idp/policy/image_gate.py): a missing new image keeps the last tag, or
    stops the run."""
    settings = inputs.stack.settings
    requested = requested_images(inputs)
    checks = image_gate.checks_for(settings.image_gate, requested, previous_tags)
    secrets = inputs.stack.secrets

    def parsed(text: str | None, key: str):
        if not text:
            return None
        try:
            return imagegate.credentials_from_dockerconfigjson(text)
        except imagegate.CredentialsError as exc:
            raise ConfigError([Problem(inputs.stack.file, key, str(exc))]) from None

    # Each app's images are checked with the credentials its pods pull with (minnova:appRegistryCredentials.<app>,
    # else minnova:registryCredentials): one call per set of credentials.
    app_of = {names.component_name(app.name, environment): app.name for app, environment in inputs.deployed()}
    groups: dict[str | None, list] = {}
    for check in checks:
        app = app_of[check.key]
        groups.setdefault(app if app in secrets.app_registry_credentials else None, []).append(check)
    results = {}
    for app, group in groups.items():
        credentials = (parsed(secrets.app_registry_credentials[app], f"minnova:appRegistryCredentials.{app}")
                       if app else parsed(secrets.registry_credentials, "minnova:registryCredentials"))
        results.update(await asyncio.to_thread(check_images, group, credentials))
    outcome = image_gate.gate(settings.image_gate, requested, previous_tags, results)
    raise_if_any(Problem(inputs.stack.file, "minnova:imageGate", problem) for problem in outcome.problems)
    for note in outcome.notes:
        pulumi.log.warn(note)
    return replace(inputs, kept_tags={component: tag for component, tag in outcome.tags_to_deploy.items()
                                      if tag != requested[component][1]})


def registry_check(checks, credentials):
    """The image gate's question to the registries (tests stand in for it: they reach no registry)."""
    return imagegate.check_images(checks, credentials)


def main(project_dir: Path) -> None:
    """Entry point of `pulumi up` / `pulumi preview` (see __main__.py)."""
    try:
        # `pulumi up` shows what the program writes to stderr: a line per app repository as it is fetched.
        inputs = load_inputs(project_dir, *running_program_config(), progress=FetchProgress(sys.stderr))
    except ConfigError as exc:
        raise pulumi.RunError(exc.render(STOP_HEADER)) from None

    async def entrypoint():
        try:
            await program(inputs, check_images=registry_check)
        except ConfigError as exc:
            raise pulumi.RunError(exc.render(STOP_HEADER)) from None

    pulumi.run(entrypoint)
