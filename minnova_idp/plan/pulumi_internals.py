"""Every use of a private Pulumi API, in one place, checked against the versions it was read in.

The offline plan runs the real program under Pulumi's mock runtime and records what the engine would receive;
a few things it needs have no public API. Each is named here with where it was read, and
tests/plan/test_pulumi_internals.py fails loudly on an installed pulumi or pulumi-kubernetes outside
CHECKED_VERSIONS, so an upgrade is a decision: read each use below in the new version's source, then move
CHECKED_VERSIONS and the caps in pyproject.toml together (docs/development.md, "Upgrading Pulumi").

Only this module, the plan recorder and components/ import pulumi.
"""

from __future__ import annotations

import contextlib
import json
from importlib import metadata
from typing import Iterator

# (distribution, major.minor) read and tested; pyproject.toml caps each below the next minor.
CHECKED_VERSIONS = {"pulumi": "3.272", "pulumi-kubernetes": "4.34"}

# Pulumi's wire format for secrets and unknowns (pulumi 3.272.0 pulumi/runtime/rpc.py: _special_sig_key,
# _special_secret_sig, UNKNOWN): read by the plan's fast decoder of registrations.
SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


def version_problems() -> list[str]:
    """Installed Pulumi SDKs outside CHECKED_VERSIONS, as sentences (empty when all were checked)."""
    problems = []
    for distribution, checked in CHECKED_VERSIONS.items():
        installed = metadata.version(distribution)
        if installed.split(".")[:2] != checked.split("."):
            problems.append(f"{distribution} {installed} is installed; minnova_idp/plan/pulumi_internals.py was "
                            f"checked against {checked}.x")
    return problems


def running_program_config() -> tuple[dict[str, str], set[str], str]:
    """The config of the running Pulumi program, as Pulumi's strings, its secret keys and the stack file's name.

    Secret keys set with `pulumi config set --secret` reach the program both through the environment (public
    get_config_secret_keys_env) and, under the mock runtime, through the private _SECRET_KEYS context variable
    (pulumi 3.272.0 pulumi/runtime/config.py).
    """
    from pulumi import get_stack
    from pulumi.runtime import config as runtime_config

    raw = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    secret_keys = set(runtime_config.get_config_secret_keys_env()) | set(runtime_config._SECRET_KEYS.get())
    return ({key: value if isinstance(value, str) else json.dumps(value) for key, value in raw.items()},
            secret_keys, f"Pulumi.{get_stack()}.yaml")


@contextlib.contextmanager
def without_source_positions() -> Iterator[None]:
    """The SDK walks and encodes the whole Python stack of every registration as its source position (about a
    tenth of a plan's time); the mock monitor discards it, so the plan skips it (pulumi 3.272.0
    pulumi/runtime/resource.py _get_stack_trace). Real `pulumi up` runs never go through here."""
    from pulumi.runtime import resource as runtime_resource
    from pulumi.runtime.proto import source_pb2

    capture_stack = runtime_resource._get_stack_trace
    runtime_resource._get_stack_trace = source_pb2.StackTrace
    try:
        yield
    finally:
        runtime_resource._get_stack_trace = capture_stack


def mock_monitor_class():
    """The SDK's mock monitor, which the plan's recording monitor extends (pulumi 3.272.0
    pulumi/runtime/mocks.py MockMonitor: not in pulumi.runtime's public names)."""
    from pulumi.runtime.mocks import MockMonitor

    return MockMonitor


def kubernetes_sdk_version() -> str:
    """The version every pulumi_kubernetes resource sends in its options (pulumi-kubernetes 4.34.2
    pulumi_kubernetes/_utilities.py get_version), which the thin registration path sends too."""
    from pulumi_kubernetes import _utilities

    return _utilities.get_version()
