"""The Pulumi program: load everything, then declare the Platform.

Loading comes first and is all-or-nothing: a problem anywhere stops the run before
a single resource is registered (see loader.py for why).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError
from .gitsource import GitAuth
from .loader import LoadedApp, load_apps
from .stackconfig import StackConfig, from_pulumi_runtime, parse_stack_config

PLATFORM_NAME = "platform"
STOP_HEADER = "Minnova IDP stopped before registering any resource (so nothing is deleted):"


@dataclass(frozen=True)
class ProgramInputs:
    """Everything the program declares resources from, validated; the Platform's args."""

    stack: StackConfig
    apps: list[LoadedApp]


def load_inputs(project_dir: Path, raw: dict[str, str], secret_keys: set[str], file: str,
                cache_dir: Path | None = None, auth: GitAuth | None = None) -> ProgramInputs:
    stack = parse_stack_config(raw, secret_keys, file)
    return ProgramInputs(stack=stack, apps=load_apps(project_dir, stack, cache_dir=cache_dir, auth=auth))


def declare(inputs: ProgramInputs):
    """Registers the resources. Imports Pulumi lazily: validate and render must not pay for it."""
    import pulumi

    from components.platform import Platform

    platform = Platform(PLATFORM_NAME, inputs)
    pulumi.export("urls", platform.urls)
    return platform


def main(project_dir: Path) -> None:
    """Entry point of `pulumi up` / `pulumi preview` (see __main__.py)."""
    import pulumi

    try:
        inputs = load_inputs(project_dir, *from_pulumi_runtime())
    except ConfigError as exc:
        raise pulumi.RunError(exc.render(STOP_HEADER)) from None
    declare(inputs)
