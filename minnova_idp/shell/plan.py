"""The offline plan: run the real program of a stack under Pulumi's mock runtime.

No cluster, no credentials, no Pulumi CLI. Every resource registration is recorded
as the engine would receive it (type, name, parent, options, inputs), secrets masked,
and every Kubernetes object is written out exactly as it would be sent.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import json
import shutil
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import yaml

from ..core.errors import ConfigError, Problem
from ..core.gitsource import GitAuth
from ..core.inputs import load_inputs
from ..core.stackconfig import SECRET_PLACEHOLDER, from_stack_file
from ..core.yamlsafe import load_yaml_file
from .program import program

_SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"  # Pulumi's wire marker for a secret value
CLUSTER_SCOPED_DIR = "_cluster"


@dataclass(frozen=True)
class RecordedResource:
    urn: str
    type: str
    name: str
    parent: str | None
    custom: bool
    provider: str | None
    protect: bool
    retain_on_delete: bool
    dependencies: list[str]
    inputs: dict[str, Any]
    ignore_changes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"urn": self.urn, "type": self.type, "name": self.name, "parent": self.parent,
                "custom": self.custom, "provider": self.provider, "protect": self.protect,
                "retainOnDelete": self.retain_on_delete, "ignoreChanges": self.ignore_changes,
                "dependencies": self.dependencies, "inputs": self.inputs}

    @property
    def is_kubernetes_object(self) -> bool:
        return self.custom and self.type.startswith("kubernetes:") and "apiVersion" in self.inputs


@dataclass
class Plan:
    stack: str
    resources: list[RecordedResource] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)

    def manifests(self) -> list[dict[str, Any]]:
        return [r.inputs for r in self.resources if r.is_kubernetes_object]


def as_sent(value: Any) -> Any:
    """Inputs as the engine hands them on: secrets masked, and integral numbers as integers.

    Numbers cross Pulumi's protobuf wire as doubles (replicas: 3 arrives as 3.0); the engine
    and providers write integral values back as integers, so a manifest says `replicas: 3`.
    """
    if isinstance(value, dict):
        if value.get(_SECRET_SIG_KEY) is not None and "value" in value:
            return _masked(value["value"])
        return {key: as_sent(item) for key, item in value.items()}
    if isinstance(value, list):
        return [as_sent(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _masked(value: Any) -> Any:
    """A secret keeps its shape (a Secret's keys are not secret), every value inside is masked."""
    if isinstance(value, dict):
        return {key: _masked(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_masked(item) for item in value]
    return SECRET_PLACEHOLDER


def project_name(project_dir: Path) -> str:
    loaded = load_yaml_file(project_dir / "Pulumi.yaml", "Pulumi.yaml")
    if not isinstance(loaded.data, dict) or not isinstance(loaded.data.get("name"), str):
        raise ConfigError([Problem("Pulumi.yaml", "name", "the project name is missing")])
    return loaded.data["name"]


def run_plan(project_dir: Path, stack: str, cache_dir: Path | None = None,
             previous_outputs: dict[str, Any] | None = None, identities: list[Any] | None = None,
             only_app: str | None = None, progress=None) -> Plan:
    """Loads the stack's inputs (no credentials: the plan must not need them), then records the program.

    `previous_outputs` stands for the stack's outputs from its last update (as printed by
    `pulumi stack output --json`), for the checks that compare with what is deployed.
    """
    project = project_name(project_dir)
    raw, secret_keys, file = from_stack_file(project_dir, stack)
    inputs = load_inputs(project_dir, raw, secret_keys, file, cache_dir=cache_dir, auth=GitAuth(),
                         identities=identities, progress=progress)
    if only_app is not None:
        # Every app was loaded and checked (all or nothing, as `pulumi up`); only this one is declared. A plan,
        # never a program: Pulumi would delete the other apps.
        if only_app not in {app.name for app in inputs.apps}:
            raise ConfigError([Problem("--app", message=f"no app '{only_app}' in this stack's registry",
                                       hint=", ".join(sorted(app.name for app in inputs.apps)) or "it is empty")])
        inputs = replace(inputs, apps=[app for app in inputs.apps if app.name == only_app])

    async def declared():
        return await program(inputs)

    resources, outputs = record(declared, project=project, stack=stack, config=raw, secret_keys=secret_keys,
                                stack_outputs=previous_outputs)
    return Plan(stack=stack, resources=resources, outputs={key: value or {} for key, value in outputs.items()})


def record(program: Callable[[], Any], project: str = "project", stack: str = "stack",
           config: dict[str, str] | None = None, secret_keys: set[str] = frozenset(),
           stack_outputs: dict[str, Any] | None = None) -> tuple[list[RecordedResource], dict[str, Any]]:
    """Runs `program` under Pulumi's mock runtime, recording every resource registration.

    `program` may be async, and may return a dict of Outputs; their resolved values are
    returned with the resources. StackReferences read `stack_outputs`. Each call gets a fresh
    context (Pulumi's runtime globals at their defaults) and its own event loop, so calls are
    independent of each other.
    """
    return contextvars.Context().run(_record, program, project, stack, dict(config or {}), set(secret_keys),
                                     dict(stack_outputs or {}))


def _record(program, project: str, stack: str, config: dict[str, str], secret_keys: set[str],
            stack_outputs: dict[str, Any]):
    import pulumi
    from pulumi.runtime import config as runtime_config, rpc
    from pulumi.runtime.mocks import MockMonitor
    from pulumi.runtime.stack import run_pulumi_func

    resources: list[RecordedResource] = []

    class Mocks(pulumi.runtime.Mocks):
        def new_resource(self, args: pulumi.runtime.MockResourceArgs):
            return f"{args.name}-id", {**args.inputs, **_mock_outputs(args.typ, args.inputs, stack_outputs)}

        def call(self, args: pulumi.runtime.MockCallArgs):
            return _mock_call(args.token, args.args)

    class RecordingMonitor(MockMonitor):
        def make_urn(self, parent: str, type_: str, name: str) -> str:
            # As the engine does (pkg/resource/urn.go NewURN), not as the mock does: the parent's
            # whole qualified type, and nothing for the root stack. So recorded URNs are real ones.
            if parent:
                parent_type = parent.split("::")[2]
                if parent_type != "pulumi:pulumi:Stack":
                    type_ = f"{parent_type}${type_}"
            return f"urn:pulumi:{stack}::{project}::{type_}::{name}"

        def RegisterResource(self, request):
            response = super().RegisterResource(request)
            resources.append(RecordedResource(
                urn=response.urn,
                type=request.type,
                name=request.name,
                parent=request.parent or None,
                custom=bool(request.custom),
                provider=request.provider or None,
                protect=bool(request.protect),
                retain_on_delete=bool(request.retainOnDelete),
                dependencies=sorted(request.dependencies),
                inputs=as_sent(rpc.deserialize_properties(request.object)),
                ignore_changes=list(request.ignoreChanges),
            ))
            return response

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    # The SDK walks and encodes the whole Python stack of every registration as its source position
    # (about a tenth of a plan's time); the mock monitor discards it, so the plan skips it.
    # Real `pulumi up` runs never go through here.
    from pulumi.runtime import resource as runtime_resource
    from pulumi.runtime.proto import source_pb2

    capture_stack = runtime_resource._get_stack_trace
    runtime_resource._get_stack_trace = source_pb2.StackTrace
    try:
        runtime_config.set_all_config(config, sorted(secret_keys))
        mocks = Mocks()
        pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=True, monitor=RecordingMonitor(mocks))
        returned: list[dict[str, Any] | None] = []

        async def run() -> None:
            result = program()
            returned.append(await result if inspect.isawaitable(result) else result)

        loop.run_until_complete(run_pulumi_func(run))
        outputs = {key: loop.run_until_complete(pulumi.Output.from_input(value).future())
                   for key, value in (returned[0] or {}).items()}
    finally:
        runtime_resource._get_stack_trace = capture_stack
        asyncio.set_event_loop(None)
        loop.close()
    resources.sort(key=lambda r: r.urn)
    return resources, outputs


_PERMISSION_GROUPS_LIST = ("cloudflare:index/getAccountApiTokenPermissionGroupsList:"
                           "getAccountApiTokenPermissionGroupsList")


def _mock_outputs(type_: str, inputs: dict[str, Any], stack_outputs: dict[str, Any]) -> dict[str, Any]:
    """Outputs a provider would add to its inputs, as placeholders that say what they stand for."""
    if type_ == "pulumi:pulumi:StackReference":
        return {"outputs": stack_outputs, "secretOutputNames": []}
    if type_ == "cloudflare:index/accountToken:AccountToken":
        return {"value": "offline-placeholder-token-value"}
    return {}


def _mock_call(token: str, args: dict[str, Any]) -> dict[str, Any]:
    if token == _PERMISSION_GROUPS_LIST:
        from ..core.database import R2_PERMISSION_GROUPS
        from ..core.tls import DNS_PERMISSION_GROUPS

        # The account's permission groups, as far as the program uses them. Real IDs are looked up at `pulumi up`;
        # the plan shows which group each ID stands for.
        return {"results": [{"id": f"<id of {name}>", "name": name, "category": "", "isSelectable": True,
                             "scopes": []} for name in (*R2_PERMISSION_GROUPS, *DNS_PERMISSION_GROUPS)]}
    return {}


# ---- presenting a plan -----------------------------------------------------------------------

def render_tree(plan: Plan) -> str:
    children: dict[str | None, list[RecordedResource]] = defaultdict(list)
    for resource in plan.resources:
        children[resource.parent].append(resource)
    rows: list[tuple[str, str]] = []

    def walk(parent: str | None, prefix: str) -> None:
        kids = children.get(parent, [])
        for index, resource in enumerate(kids):
            last = index == len(kids) - 1
            branch = "" if parent is None else ("└─ " if last else "├─ ")
            rows.append((f"{prefix}{branch}{resource.type}", resource.name + _flags(resource)))
            walk(resource.urn, prefix + ("" if parent is None else ("   " if last else "│  ")))

    walk(None, "")
    width = max([len(kind) for kind, _ in rows] + [4]) + 2
    lines = [f"Plan of stack {plan.stack} (offline: Pulumi mock runtime; no cluster or cloud was contacted)", "",
             f"     {'Type'.ljust(width)}Name"]
    lines += [f" +   {kind.ljust(width)}{name}" for kind, name in rows]
    counts = Counter(r.type for r in plan.resources)
    lines += ["", "Resources:", f"    + {len(plan.resources)} to create"]
    lines += [f"      {count:>4} {kind}" for kind, count in sorted(counts.items())]
    if plan.outputs.get("urls"):
        lines += ["", "Outputs:", "    urls:"]
        lines += [f"        {name}: {value}" for name, value in sorted(plan.outputs["urls"].items())]
    return "\n".join(lines)


def _flags(resource: RecordedResource) -> str:
    flags = [flag for flag, on in (("protect", resource.protect), ("retainOnDelete", resource.retain_on_delete)) if on]
    return f"  [{', '.join(flags)}]" if flags else ""


def manifest_path(manifest: dict[str, Any]) -> Path:
    metadata = manifest.get("metadata", {})
    return Path(metadata.get("namespace") or CLUSTER_SCOPED_DIR) / f"{manifest['kind'].lower()}-{metadata['name']}.yaml"


def write_plan(plan: Plan, out: Path) -> None:
    """Writes resources.json and manifests/, replacing an earlier plan in `out` (and nothing else)."""
    if out.exists():
        entries = {p.name for p in out.iterdir()}
        if entries and "resources.json" not in entries:
            raise ConfigError([Problem(str(out), message="exists and does not hold a plan; refusing to overwrite it",
                                       hint="give an empty or new directory")])
        shutil.rmtree(out / "manifests", ignore_errors=True)
    (out / "manifests").mkdir(parents=True, exist_ok=True)
    document = {"stack": plan.stack, "outputs": plan.outputs, "resources": [r.as_json() for r in plan.resources]}
    (out / "resources.json").write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    for manifest in plan.manifests():
        path = out / "manifests" / manifest_path(manifest)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(manifest, sort_keys=True, default_flow_style=False))
