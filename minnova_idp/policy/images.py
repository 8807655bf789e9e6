"""Images belong to apps: an app runs only the image repositories its registry entry (or the stack's registry) gives it.

Every app pod gets the stack's pull credentials, so without this one app could run another's private image (issue 25
item 2). The allowed list is the platform's: the registry entry's `images`, else `<minnova:imageRegistry>/<app>`;
never anything the app's repository says. Processes, cron jobs and the release Job run the app's own image.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from minnova_idp.model.errors import Problem

if TYPE_CHECKING:  # annotations only: render-preview checks an image without loading the stack models
    from minnova_idp.model.inputs import ProgramInputs
    from minnova_idp.model.registry import RegistryEntry


def allowed_images(entry: RegistryEntry, image_registry: str | None) -> list[str] | None:
    """The repositories `entry`'s app may run, or None when the stack confines nothing (no imageRegistry, no images)."""
    if entry.images:
        return list(entry.images)
    if image_registry:
        return [f"{image_registry.rstrip('/')}/{entry.name}"]
    return None


def image_problem(repository: str, allowed: list[str], file: str, app: str, registry_entry: str,
                  source: str) -> Problem | None:
    """A Problem when `repository` is not one of `allowed` (compared exactly: a prefix would let `oracle` run
    `oracle-internal`, and a registry path names one repository)."""
    if repository in allowed:
        return None
    return Problem(file, "image.repository", f"'{repository}' is not an image app '{app}' may run ({source}: "
                   f"{', '.join(allowed)})", hint=f"the platform team adds it to `images` in {registry_entry}")


def image_problems(inputs: ProgramInputs) -> list[Problem]:
    settings = inputs.stack.settings
    problems = []
    for app in inputs.apps:
        allowed = allowed_images(app.entry, settings.image_registry)
        if allowed is None:
            continue
        problem = image_problem(app.config.image.repository, allowed, app.config_file, app.name,
                                f"{settings.registry_dir}/{app.name}.yaml",
                                "its registry entry's `images`" if app.entry.images else
                                f"the default for its name under minnova:imageRegistry {settings.image_registry}")
        if problem:
            problems.append(problem)
    return problems


def unconfined_notes(inputs: ProgramInputs) -> list[str]:
    """What `plan` warns about: apps that may run any image (the stack sets no minnova:imageRegistry)."""
    loose = sorted(app.name for app in inputs.apps if allowed_images(app.entry, inputs.stack.settings.image_registry)
                   is None)
    if not loose:
        return []
    return [f"warning: images are not confined for {', '.join(loose)}: set minnova:imageRegistry, or `images` in "
            "their registry entries (every app pod gets the stack's pull credentials, so an app could run another's "
            "private image)"]
