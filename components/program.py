"""The Pulumi program: load and check everything (the core), then declare the Platform.

Loading comes first. The platform's own inputs stop the run before a single resource is registered; an app whose
own inputs fail keeps its last good config, recorded in this stack's outputs (minnova_idp/load/inputs.py, ADR 0004).
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import replace
from pathlib import Path

import pulumi

from components.platform import Platform
from minnova_idp.load import image_registry as imagegate
from minnova_idp.load.inputs import Isolation, load_inputs
from minnova_idp.load.progress import FetchProgress
from minnova_idp.model import names
from minnova_idp.model.errors import ConfigError, Problem, raise_if_any
from minnova_idp.model.inputs import (
    APP_SOURCES_OUTPUT,
    DEGRADED_OUTPUT,
    HOST_ALIASES_OUTPUT,
    IMAGE_TAGS_OUTPUT,
    INTERNAL_SERVICES_OUTPUT,
    RELEASES_OUTPUT,
    STOP_HEADER,
    ProgramInputs,
)
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
from minnova_idp.policy.releases import degraded_output, release_history

PLATFORM_NAME = "platform"


def own_outputs() -> pulumi.StackReference:
    """This stack's own outputs from its last update: the only record of what was deployed. One per run (a second
    StackReference of the same name would be a duplicate resource)."""
    return pulumi.StackReference(f"{pulumi.get_organization()}/{pulumi.get_project()}/{pulumi.get_stack()}")


async def program(inputs: ProgramInputs, check_images=None, previous: pulumi.StackReference | None = None,
                  now: str | None = None) -> dict[str, pulumi.Output]:
    """Registers the resources the core declares for `inputs`; returns the stack's outputs (also exported).

    `check_images`: imagegate.check_images under `pulumi up`/`preview`; the offline plan passes none (it contacts no
    registry: it reports what would be checked). `previous`: own_outputs() when main() read it already. `now`: this
    run's time as the releases output records it (default: the clock, UTC, to the second).
    """
    settings = inputs.stack.settings
    for problem in version_problems():  # the plan's private Pulumi uses were read in other versions: say so
        pulumi.log.warn(problem)
    for degraded in inputs.degraded.values():  # loudly: this app's new config is not what runs
        problems = "; ".join(map(str, degraded.problems))
        pulumi.log.warn(f"app {degraded.app} {degraded.keeps}: its own inputs failed: {problems}")
    previous_tags: dict = {}
    previous_releases: dict = {}
    guarded = outputs_to_read(inputs)
    if guarded or settings.image_gate != "off" or inputs.apps:
        previous = previous or own_outputs()
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
        previous_releases = await previous.get_output(RELEASES_OUTPUT).future() or {}
    if settings.image_gate != "off" and check_images is not None:
        inputs = await _image_gate(inputs, previous_tags, check_images)

    platform = Platform(PLATFORM_NAME, inputs)
    outputs = {"urls": platform.urls, **platform.guarded,
               # What each app environment deployed, newest first: `minnova-idp rollback` goes back to the second.
               IMAGE_TAGS_OUTPUT: pulumi.Output.from_input(image_tag_history(inputs, previous_tags)),
               # What each app environment deployed when (tag, commit, time), newest first: `minnova-idp releases`.
               RELEASES_OUTPUT: pulumi.Output.from_input(release_history(inputs, previous_releases, previous_tags,
                                                                         now or _now())),
               # Each app's last good config (load/kept.py), and the apps this run kept at theirs or left out.
               APP_SOURCES_OUTPUT: pulumi.Output.from_input(inputs.sources),
               DEGRADED_OUTPUT: pulumi.Output.from_input(degraded_output(inputs)),
               # Internal services (URL, port, allowFrom) and what each app environment may call (ADR 0016).
               INTERNAL_SERVICES_OUTPUT: platform.internal_services}
    if platform.host_aliases:  # only stacks with aliases have the output: the others' outputs stay as they were
        outputs[HOST_ALIASES_OUTPUT] = pulumi.Output.from_input(platform.host_aliases)
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


def _now() -> str:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def main(project_dir: Path) -> None:
    """Entry point of `pulumi up` / `pulumi preview` (see __main__.py)."""

    async def entrypoint():
        try:
            # The last update's outputs first: what an app whose own inputs fail keeps running (ADR 0004).
            previous = own_outputs()
            outputs = await previous.outputs.future() or {}
            # `pulumi up` shows what the program writes to stderr: a line per app repository as it is fetched.
            config = running_program_config()  # read here: Pulumi's config lives in this thread's context
            inputs = await asyncio.to_thread(load_inputs, project_dir, *config, progress=FetchProgress(sys.stderr),
                                             isolation=Isolation(outputs))
            # Returned as well as exported: the same values (pulumi@3.272.0 pulumi/runtime/stack.py:66-89: a returned
            # mapping is exported as pulumi.export would); tests read them from the entry point.
            return await program(inputs, check_images=registry_check, previous=previous)
        except ConfigError as exc:
            raise pulumi.RunError(exc.render(STOP_HEADER)) from None

    pulumi.run(entrypoint)
