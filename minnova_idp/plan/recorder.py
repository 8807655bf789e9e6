"""The offline plan: run the real program of a stack under Pulumi's mock runtime.

No cluster, no credentials, no Pulumi CLI. Every resource registration is recorded
as the engine would receive it (type, name, parent, options, inputs), secrets masked,
and every Kubernetes object is written out exactly as it would be sent.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import gc
import inspect
import json
import shutil
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from minnova_idp.load.git_auth import GitAuth
from minnova_idp.load.inputs import Isolation, load_inputs
from minnova_idp.load.stack import from_stack_file
from minnova_idp.load.yamlsafe import load_yaml_file
from minnova_idp.model.errors import ConfigError, Problem
from minnova_idp.model.inputs import DEGRADED_OUTPUT, HOST_ALIASES_OUTPUT, IMAGE_TAGS_OUTPUT
from minnova_idp.model.secrets import SECRET_PLACEHOLDER
from minnova_idp.plan.components import load_components
from minnova_idp.plan.pulumi_internals import (
    SECRET_SIG,
    SECRET_SIG_KEY,
    UNKNOWN,
    mock_monitor_class,
    without_source_positions,
)
from minnova_idp.policy.guards import unrecorded_versions
from minnova_idp.policy.image_gate import offline_report, requested_images
from minnova_idp.policy.images import unconfined_notes
from minnova_idp.render import yaml_text

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
    # What `pulumi up` would ask the registries first (image_gate.offline_report): the plan asks none.
    image_gate: list[str] = field(default_factory=list)
    # What `pulumi up` warns about too (pulumi.log.warn in components/program.py): guards.unrecorded_versions.
    warnings: list[str] = field(default_factory=list)

    def manifests(self) -> list[dict[str, Any]]:
        return [r.inputs for r in self.resources if r.is_kubernetes_object]


def as_sent(value: Any) -> Any:
    """Inputs as the engine hands them on: secrets masked, and integral numbers as integers.

    Numbers cross Pulumi's protobuf wire as doubles (replicas: 3 arrives as 3.0); the engine
    and providers write integral values back as integers, so a manifest says `replicas: 3`.
    """
    if isinstance(value, dict):
        if value.get(SECRET_SIG_KEY) is not None and "value" in value:
            return _masked(value["value"])
        return {key: as_sent(item) for key, item in value.items()}
    if isinstance(value, list):
        return [as_sent(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def sent_inputs(struct: Any) -> dict[str, Any]:
    """`as_sent(rpc.deserialize_properties(struct))` for a registration's inputs, read off the protobuf directly.

    The SDK's deserializer is generic (assets, archives, resource references, unknowns) and was a sixth of a
    plan's time. This reads what the program sends (plain values, lists, maps, secrets) with the same
    rules: a map's null entries are dropped, a secret makes the top-level property holding it secret
    (the SDK pushes secretness up to it), and a secret property is masked. Anything else on the wire
    goes through the SDK's deserializer, as before.
    """
    try:
        if SECRET_SIG_KEY in struct.fields:
            raise _Unusual
        inputs = {}
        for key, value in struct.fields.items():
            item, secret = _from_wire(value)
            if item is not None or secret:
                inputs[key] = _masked(item) if secret else item
        return inputs
    except _Unusual:
        from pulumi.runtime import rpc

        return as_sent(rpc.deserialize_properties(struct))


class _Unusual(Exception):
    """A value `sent_inputs` leaves to the SDK's deserializer."""




def _from_wire(value: Any) -> tuple[Any, bool]:
    """A protobuf Value as Python (integral numbers as ints), and whether it is or holds a secret."""
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        text = value.string_value
        if text == UNKNOWN:
            raise _Unusual
        return text, False
    if kind == "number_value":
        number = value.number_value
        return (int(number) if number.is_integer() else number), False
    if kind == "bool_value":
        return value.bool_value, False
    if kind == "struct_value":
        fields = value.struct_value.fields
        if SECRET_SIG_KEY in fields:
            if fields[SECRET_SIG_KEY].string_value != SECRET_SIG or "value" not in fields:
                raise _Unusual
            return _from_wire(fields["value"])[0], True
        mapping, secret = {}, False
        for key, item in fields.items():
            converted, item_secret = _from_wire(item)
            if converted is not None or item_secret:
                mapping[key] = converted
            secret = secret or item_secret
        return mapping, secret
    if kind == "list_value":
        items, secret = [], False
        for item in value.list_value.values:
            converted, item_secret = _from_wire(item)
            items.append(converted)
            secret = secret or item_secret
        return items, secret
    return None, False  # null_value (or nothing set)


def _masked(value: Any) -> Any:
    """A secret keeps its shape (a Secret's keys are not secret), every value inside is masked."""
    if isinstance(value, dict):
        return {key: _masked(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_masked(item) for item in value]
    return SECRET_PLACEHOLDER


def project_name(project_dir: Path) -> str:
    if not (project_dir / "Pulumi.yaml").is_file():
        raise ConfigError([Problem("--project-dir", message=f"{project_dir} holds no Pulumi.yaml: it is not a Minnova "
                                   "IDP project (the infra repository's root, with Pulumi.yaml, __main__.py and "
                                   "components/)", hint="run from the infra repository, or pass --project-dir")])
    loaded = load_yaml_file(project_dir / "Pulumi.yaml", "Pulumi.yaml")
    if not isinstance(loaded.data, dict) or not isinstance(loaded.data.get("name"), str):
        raise ConfigError([Problem("Pulumi.yaml", "name", "the project name is missing")])
    return loaded.data["name"]


PLANNED_RELEASE_TIME = "(time of the update)"


def run_plan(project_dir: Path, stack: str, cache_dir: Path | None = None,
             previous_outputs: dict[str, Any] | None = None, identities: list[Any] | None = None,
             only_app: str | None = None, progress=None) -> Plan:
    """Loads the stack's inputs (no credentials: the plan must not need them), then records the program.

    `previous_outputs` stands for the stack's outputs from its last update (as printed by
    `pulumi stack output --json`), for the checks that compare with what is deployed.
    """
    project = project_name(project_dir)
    raw, secret_keys, file = from_stack_file(project_dir, stack)
    # An app whose own inputs fail keeps its last good config from previous_outputs, as under `pulumi up` (ADR 0004).
    isolation = Isolation(previous_outputs or {}, known=previous_outputs is not None)
    inputs = load_inputs(project_dir, raw, secret_keys, file, cache_dir=cache_dir, auth=GitAuth(),
                         identities=identities, progress=progress, isolation=isolation)
    if only_app is not None:
        # Every app was loaded and checked (as `pulumi up`); only this one is declared. A plan, never a program:
        # Pulumi would delete the other apps.
        if only_app in inputs.degraded:  # the CI gate of that app: its own inputs fail, so this plan fails
            degraded = inputs.degraded[only_app]
            raise ConfigError([*degraded.problems, Problem("--app", message=f"'{only_app}' {degraded.keeps}")])
        if only_app not in {app.name for app in inputs.apps}:
            raise ConfigError([Problem("--app", message=f"no app '{only_app}' in this stack's registry",
                                       hint=", ".join(sorted(app.name for app in inputs.apps)) or "it is empty")])
        inputs = replace(inputs, apps=[app for app in inputs.apps if app.name == only_app])

    program = load_components(project_dir).program

    async def declared():
        # The time `pulumi up` would record for a new release is not known offline: the plan says so (and stays
        # the same on every run).
        return await program(inputs, now=PLANNED_RELEASE_TIME)

    resources, outputs = record(declared, project=project, stack=stack, config=raw, secret_keys=secret_keys,
                                stack_outputs=previous_outputs)
    gate_report = unconfined_notes(inputs) + offline_report(inputs.stack.settings.image_gate, requested_images(inputs),
                                                            (previous_outputs or {}).get(IMAGE_TAGS_OUTPUT))
    return Plan(stack=stack, resources=resources, outputs={key: value or {} for key, value in outputs.items()},
                image_gate=gate_report, warnings=unrecorded_versions(inputs, previous_outputs or {}))


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
    from pulumi.runtime import config as runtime_config
    from pulumi.runtime.stack import run_pulumi_func

    resources: list[RecordedResource] = []
    monitor = _recording_monitor(project, stack, stack_outputs, resources)
    loop = asyncio.new_event_loop()
    # The monitor answers in the calling thread: a registration is recorded and answered without a
    # thread hop (the SDK hands every monitor call to the loop's default executor).
    loop.set_default_executor(_InlineExecutor())
    asyncio.set_event_loop(loop)
    # No full garbage collections while resources register: the heap only grows meanwhile, and each
    # full collection walks every object of every imported module again (it took 40% of a 500-app
    # plan). Young collections still run and free the SDK's short-lived reference cycles.
    thresholds = gc.get_threshold()
    gc.set_threshold(thresholds[0], thresholds[1], 1_000_000)
    with without_source_positions():
        try:
            runtime_config.set_all_config(config, sorted(secret_keys))
            pulumi.runtime.set_mocks(monitor.mocks, project=project, stack=stack, preview=True, monitor=monitor)
            returned: list[dict[str, Any] | None] = []

            async def run() -> None:
                result = program()
                returned.append(await result if inspect.isawaitable(result) else result)

            loop.run_until_complete(run_pulumi_func(run))
            outputs = {key: loop.run_until_complete(pulumi.Output.from_input(value).future())
                       for key, value in (returned[0] or {}).items()}
        finally:
            gc.set_threshold(*thresholds)
            asyncio.set_event_loop(None)
            loop.close()
    resources.sort(key=lambda r: r.urn)
    refuse_duplicate_urns(resources)
    return resources, outputs


class DuplicateUrnError(RuntimeError):
    """Two registrations of one URN: the engine refuses the whole update (a platform bug, not the user's)."""


def refuse_duplicate_urns(resources: list[RecordedResource]) -> None:
    """As the engine does (pulumi@v3.259.0 pkg/resource/deploy/step_generator.go:276-287, generateURN: "Duplicate
    resource URN"), so the plan fails where `pulumi up` would, naming the resources."""
    counts = Counter(resource.urn for resource in resources)
    duplicates = sorted(urn for urn, count in counts.items() if count > 1)
    if duplicates:
        raise DuplicateUrnError(f"{len(duplicates)} URN(s) registered more than once (pulumi refuses the whole "
                                f"update: Duplicate resource URN): {', '.join(duplicates)}")


class _InlineExecutor(concurrent.futures.ThreadPoolExecutor):
    """Runs what is submitted at once, in the submitting thread (asyncio accepts only thread pools)."""

    def submit(self, fn, /, *args, **kwargs):
        future: concurrent.futures.Future = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # handed to the awaiting coroutine, as a thread pool would
            future.set_exception(exc)
        return future


def _recording_monitor(project: str, stack: str, stack_outputs: dict[str, Any], resources: list[RecordedResource]):
    """A mock monitor that records each registration and answers it itself.

    Outputs are what a provider would add (`_mock_outputs`) on top of the request's own inputs, for
    the few types whose outputs the program reads; every other resource gets no outputs, as in a
    preview where nothing is known yet (nothing reads them).
    """
    import pulumi
    from google.protobuf import struct_pb2
    from pulumi.runtime import rpc
    from pulumi.runtime.proto import resource_pb2

    class NoMocks(pulumi.runtime.Mocks):  # the monitor answers everything; set_mocks wants one
        def new_resource(self, args):
            raise AssertionError("answered by the monitor")

        def call(self, args):
            raise AssertionError("answered by the monitor")

    class RecordingMonitor(mock_monitor_class()):
        def make_urn(self, parent: str, type_: str, name: str) -> str:
            # As the engine does (pkg/resource/urn.go NewURN), not as the mock does: the parent's
            # whole qualified type, and nothing for the root stack. So recorded URNs are real ones.
            if parent:
                parent_type = parent.split("::")[2]
                if parent_type != "pulumi:pulumi:Stack":
                    type_ = f"{parent_type}${type_}"
            return f"urn:pulumi:{stack}::{project}::{type_}::{name}"

        def RegisterResource(self, request):
            urn = self.make_urn(request.parent, request.type, request.name)
            resources.append(RecordedResource(
                urn=urn,
                type=request.type,
                name=request.name,
                parent=request.parent or None,
                custom=bool(request.custom),
                provider=request.provider or None,
                protect=bool(request.protect),
                retain_on_delete=bool(request.retainOnDelete),
                dependencies=sorted(request.dependencies),
                inputs=sent_inputs(request.object),
                ignore_changes=list(request.ignoreChanges),
            ))
            if request.type == "pulumi:pulumi:Stack":
                return resource_pb2.RegisterResourceResponse(urn=urn)
            response = resource_pb2.RegisterResourceResponse(urn=urn, id=f"{request.name}-id")
            outputs = _mock_outputs(request.type, stack_outputs)
            if outputs is not None:
                response.object.CopyFrom(request.object)
                response.object.update(outputs)
            return response

        def ReadResource(self, request):  # a StackReference reads the stack's outputs (not recorded)
            response = resource_pb2.ReadResourceResponse(urn=self.make_urn(request.parent, request.type, request.name))
            response.properties.CopyFrom(request.properties)
            response.properties.update(_mock_outputs(request.type, stack_outputs) or {})
            return response

        def Invoke(self, request):
            if request.tok == "pulumi:pulumi:getResource":
                return super().Invoke(request)
            returned = struct_pb2.Struct()
            returned.update(_mock_call(request.tok, rpc.deserialize_properties(request.args)))
            return resource_pb2.ResourceInvokeResponse(failures=None, **{"return": returned})

    return RecordingMonitor(NoMocks())


_PERMISSION_GROUPS_LIST = ("cloudflare:index/getAccountApiTokenPermissionGroupsList:"
                           "getAccountApiTokenPermissionGroupsList")


def _mock_outputs(type_: str, stack_outputs: dict[str, Any]) -> dict[str, Any] | None:
    """Outputs a provider would add to its inputs, as placeholders that say what they stand for; None for
    every type whose outputs the program never reads (Kubernetes objects, releases, DNS records...)."""
    if type_ == "pulumi:pulumi:StackReference":
        return {"outputs": stack_outputs, "secretOutputNames": []}
    if type_ == "cloudflare:index/accountToken:AccountToken":
        return {"value": "offline-placeholder-token-value"}
    return None


def _mock_call(token: str, args: dict[str, Any]) -> dict[str, Any]:
    if token == _PERMISSION_GROUPS_LIST:
        from minnova_idp.render.database import R2_PERMISSION_GROUPS
        from minnova_idp.render.tls import DNS_PERMISSION_GROUPS

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
        if plan.outputs.get(HOST_ALIASES_OUTPUT):
            lines += ["    hostAliases:"]
            lines += [f"        {name}: {', '.join(value)}"
                      for name, value in sorted(plan.outputs[HOST_ALIASES_OUTPUT].items())]
    if plan.image_gate:
        lines += ["", "Images:", *(f"    {line}" for line in plan.image_gate)]
    if plan.warnings:
        lines += ["", "WARNINGS:", *(f"    warning: {line}" for line in plan.warnings)]
    degraded = plan.outputs.get(DEGRADED_OUTPUT) or {}
    if degraded:
        lines += ["", f"DEGRADED APPS ({len(degraded)}): their own inputs failed; every other app is planned:"]
        for name, item in sorted(degraded.items()):
            lines.append(f"    {name}: {item['keeps']}")
            lines += [f"        {problem}" for problem in item["problems"]]
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
    made: set[Path] = set()
    for manifest in plan.manifests():
        path = out / "manifests" / manifest_path(manifest)
        if path.parent not in made:
            path.parent.mkdir(parents=True, exist_ok=True)
            made.add(path.parent)
        path.write_text(manifest_yaml(manifest))


def manifest_yaml(manifest: dict[str, Any], dumper: type | None = None) -> str:
    """A manifest as `yaml.safe_dump(manifest, sort_keys=True, default_flow_style=False)` writes it, by libyaml
    where that writes the same (render/yaml_text.py). `dumper` forces one (tests compare the two)."""
    return yaml_text.dump(manifest, dumper, sort_keys=True, default_flow_style=False)
