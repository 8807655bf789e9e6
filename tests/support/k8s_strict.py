"""Strict validation of Kubernetes objects, like ``kubectl apply --validate=strict``.

Built-in kinds are checked with kubernetes_validate's strict schemas (unknown fields are
errors) against every version in KUBERNETES_VERSIONS. Custom resources are checked against
the upstream CustomResourceDefinitions in crds_dir(), whose OpenAPI v3 schemas are turned
into closed JSON Schemas the way the API server prunes them.

Not checked (the API server does, the schemas here cannot): CEL rules
(x-kubernetes-validations), ``format`` values, list-map key uniqueness, admission webhooks.
"""

from __future__ import annotations

import functools
import json
import os
import pathlib
import re
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.support import shared, traefik

__all__ = [
    "KUBERNETES_VERSIONS",
    "StrictValidationError",
    "crds_dir",
    "is_custom_resource",
    "require_crds",
    "validate_custom_resource",
    "validate_object",
    "validate_objects",
]

# Oldest and newest Kubernetes versions we support; each must be a schema set shipped by
# kubernetes_validate (it silently falls back to an older set for versions it lacks).
KUBERNETES_VERSIONS: tuple[str, ...] = ("1.33.0", "1.37.0")

CRDS_DIR_ENV = "MINNOVA_CRDS_DIR"
REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]

_OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
_OBJECT_META_REF = {"$ref": f"#/$defs/{_OBJECT_META}"}
_JUNCTORS = ("allOf", "anyOf", "oneOf")
_SIMPLE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

GroupVersionKind = tuple[str, str, str]


class StrictValidationError(Exception):
    """One or more objects are not valid; ``problems`` has one line per problem."""

    def __init__(self, problems: Sequence[str], header: str | None = None) -> None:
        self.problems = tuple(problems)
        lines = [header, *self.problems] if header else list(self.problems)
        super().__init__("\n".join(lines))


# --- CRD directory ---------------------------------------------------------------------


def _crds_dir_candidate() -> pathlib.Path:
    override = os.environ.get(CRDS_DIR_ENV)
    if override:
        return pathlib.Path(override).expanduser().resolve()
    return (REPO_ROOT.parent / "shared" / "crds").resolve()


def crds_dir() -> pathlib.Path | None:
    """Directory of upstream CRD YAML files, or None if it does not exist: the caller decides what that means."""
    shared.record("crds_dir")
    return _crds_dir()


def _crds_dir() -> pathlib.Path | None:
    candidate = _crds_dir_candidate()
    return candidate if candidate.is_dir() else None


def require_crds() -> pathlib.Path:
    """crds_dir(), or skip the calling test when the CRDs are not available."""
    shared.record("require_crds")
    directory = _crds_dir()
    if directory is None:
        pytest.skip(
            f"CRDs not found at {_crds_dir_candidate()}; "
            f"set {CRDS_DIR_ENV} to the upstream CRDs (../shared/crds)"
        )
    return directory


# --- built-in kinds (kubernetes_validate) ------------------------------------------------


@functools.lru_cache(maxsize=None)
def _builtin_definitions(version: str) -> Mapping[str, Any]:
    """The ``$defs`` of kubernetes_validate's strict schemas for one Kubernetes version."""
    path = resources.files("kubernetes_validate").joinpath(
        f"kubernetes-json-schema/v{version}-local-strict/_definitions.json"
    )
    with path.open(encoding="utf-8") as handle:
        definitions: Mapping[str, Any] = json.load(handle)["$defs"]
    return definitions


@functools.lru_cache(maxsize=None)
def _builtin_groups() -> frozenset[str]:
    """API groups served by Kubernetes itself ("" is the core group)."""
    return frozenset(
        gvk["group"]
        for version in KUBERNETES_VERSIONS
        for definition in _builtin_definitions(version).values()
        for gvk in definition.get("x-kubernetes-group-version-kind", ())
    )


@functools.lru_cache(maxsize=None)
def _object_meta_defs() -> Mapping[str, Any]:
    """Strict ObjectMeta and every definition it references, for embedding in CR schemas."""
    definitions = _builtin_definitions(KUBERNETES_VERSIONS[-1])
    collected: dict[str, Any] = {}
    pending = [_OBJECT_META]
    while pending:
        name = pending.pop()
        if name in collected:
            continue
        collected[name] = definitions[name]
        pending.extend(
            ref.removeprefix("#/$defs/") for ref in _refs(definitions[name])
        )
    return collected


def _refs(node: Any) -> Iterable[str]:
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _builtin_problems(obj: dict[str, Any]) -> list[str]:
    # The same problem found in several versions is reported once, naming the versions.
    versions_by_problem: dict[str, list[str]] = {}
    for version in KUBERNETES_VERSIONS:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
            continue
        except kubernetes_validate.ValidationError as error:
            # kubernetes_validate raises only jsonschema's best_match error, one per call.
            problems = _describe(error)
        except kubernetes_validate.SchemaNotFoundError:
            problems = [f"unknown kind {obj['kind']!r} for apiVersion {obj['apiVersion']!r}"]
        minor = ".".join(version.split(".")[:2])
        for problem in problems:
            versions_by_problem.setdefault(problem, []).append(minor)
    return [
        f"{problem} (Kubernetes {', '.join(versions)})"
        for problem, versions in versions_by_problem.items()
    ]


# --- custom resources (CRDs) ---------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _load_crds(directory: pathlib.Path) -> Mapping[GroupVersionKind, Mapping[str, Any]]:
    """openAPIV3Schema of every served CRD version in the directory, by (group, version, kind)."""
    schemas: dict[GroupVersionKind, Mapping[str, Any]] = {}
    sources: dict[GroupVersionKind, pathlib.Path] = {}
    files = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    for path in files:
        with path.open(encoding="utf-8") as handle:
            documents = list(yaml.load_all(handle, Loader=_YAML_LOADER))
        for document in documents:
            if not isinstance(document, Mapping) or document.get("kind") != "CustomResourceDefinition":
                continue
            spec = document["spec"]
            for version in spec["versions"]:
                if not version.get("served", True):
                    continue
                gvk = (spec["group"], version["name"], spec["names"]["kind"])
                if gvk in sources:
                    raise ValueError(f"{'/'.join(gvk)} is defined twice: in {sources[gvk]} and {path}")
                try:
                    schemas[gvk] = version["schema"]["openAPIV3Schema"]
                except KeyError:
                    raise ValueError(f"{path}: {'/'.join(gvk)} has no openAPIV3Schema") from None
                sources[gvk] = path
    return schemas


@functools.lru_cache(maxsize=None)
def _crd_validator(directory: pathlib.Path, gvk: GroupVersionKind) -> jsonschema.Draft202012Validator:
    schema = _to_json_schema(_load_crds(directory)[gvk])
    schema["type"] = "object"
    properties = schema.setdefault("properties", {})
    # The API server always accepts these three, whatever the CRD schema says; metadata is
    # usually just {type: object} there, so check it against the built-in ObjectMeta.
    properties["apiVersion"] = {"type": "string"}
    properties["kind"] = {"type": "string"}
    properties["metadata"] = _OBJECT_META_REF
    schema["required"] = sorted({*schema.get("required", ()), "apiVersion", "kind"})
    schema["$defs"] = dict(_object_meta_defs())
    return jsonschema.Draft202012Validator(schema)


def _to_json_schema(node: Mapping[str, Any], *, structural: bool = True) -> dict[str, Any]:
    """Translate one node of a CRD's OpenAPI v3 schema into strict JSON Schema.

    Objects are closed (unknown fields rejected) as the API server's pruning would, unless
    x-kubernetes-preserve-unknown-fields is set. Nodes under allOf/anyOf/oneOf/not are value
    validations that may name just some of the properties, so they are not closed.
    """
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties":
            out[key] = {name: _to_json_schema(child, structural=structural) for name, child in value.items()}
        elif key in ("additionalProperties", "items", "not") and isinstance(value, Mapping):
            out[key] = _to_json_schema(value, structural=structural and key != "not")
        elif key in _JUNCTORS:
            out[key] = [_to_json_schema(branch, structural=False) for branch in value]
        elif key in ("description", "nullable") or key.startswith("x-kubernetes-"):
            continue
        else:
            out[key] = value

    # OpenAPI 3.0 exclusiveMinimum/Maximum are booleans modifying minimum/maximum.
    for bound, exclusive in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        if isinstance(out.get(exclusive), bool):
            if out.pop(exclusive) and bound in out:
                out[exclusive] = out.pop(bound)

    if node.get("x-kubernetes-int-or-string"):
        out["type"] = ["integer", "string"]
        # Upstream also writes anyOf: [{type: integer}, {type: string}]; it only restates the
        # type and would report every bad value twice.
        if all(set(branch) <= {"type"} for branch in out.get("anyOf", ())):
            out.pop("anyOf", None)

    if node.get("x-kubernetes-embedded-resource"):
        properties = out.setdefault("properties", {})
        properties.setdefault("apiVersion", {"type": "string"})
        properties.setdefault("kind", {"type": "string"})
        properties["metadata"] = _OBJECT_META_REF

    is_object = out.get("type") == "object" or "properties" in out
    if (
        structural
        and is_object
        and "additionalProperties" not in out
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        # Also for {type: object} without properties: the API server prunes every field there.
        out["additionalProperties"] = False

    if node.get("nullable"):
        if "type" in out:
            types = out["type"] if isinstance(out["type"], list) else [out["type"]]
            out["type"] = [*types, "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    return out


def _custom_resource_problems(obj: dict[str, Any], group: str, version: str) -> list[str]:
    directory = _crds_dir()
    if directory is None:
        return [
            f"custom resource, but the CRD directory {_crds_dir_candidate()} is missing; "
            f"set {CRDS_DIR_ENV} to the upstream CRDs (../shared/crds)"
        ]
    gvk = (group, version, obj["kind"])
    crds = _load_crds(directory)
    if gvk not in crds:
        known = sorted(f"{g}/{v} {k}" for g, v, k in crds if g == group)
        hint = f"; it defines {', '.join(known)}" if known else f"; it has no CRD for group {group!r}"
        return [f"unknown kind: no CRD in {directory} defines {obj['apiVersion']} {obj['kind']}{hint}"]
    validator = _crd_validator(directory, gvk)
    errors = sorted(validator.iter_errors(obj), key=lambda error: [str(part) for part in error.absolute_path])
    return [problem for error in errors for problem in _describe(error)]


# --- shared ------------------------------------------------------------------------------


def _split_api_version(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


def is_custom_resource(obj: dict[str, Any]) -> bool:
    """True if obj's API group is not served by Kubernetes itself (it needs a CRD).

    Decided from the built-in groups, not from the CRD directory, so that a custom resource
    is recognised (and reported) even when the CRDs are missing.
    """
    api_version = obj.get("apiVersion")
    if not isinstance(api_version, str):
        return False
    group, _ = _split_api_version(api_version)
    return group not in _builtin_groups()


def _format_path(parts: Iterable[str | int]) -> str:
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _SIMPLE_KEY.match(part):
            text += f".{part}" if text else part
        else:
            text += f"[{part!r}]"
    return text or "<root>"


def _describe(error: jsonschema.ValidationError) -> list[str]:
    """'<json path>: <what is wrong>' lines; unknown fields get the path of the field itself."""
    path = list(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        known = error.schema.get("properties", {})
        patterns = error.schema.get("patternProperties", {})
        unknown = [
            key
            for key in error.instance
            if key not in known and not any(re.search(pattern, key) for pattern in patterns)
        ]
        if unknown:
            return [f"{_format_path([*path, key])}: unknown field {key!r}" for key in unknown]
    message = error.message if len(error.message) <= 300 else error.message[:297] + "..."
    return [f"{_format_path(path)}: {message}"]


def _label(obj: Any) -> str:
    if not isinstance(obj, Mapping):
        return f"<{type(obj).__name__}>"
    metadata = obj.get("metadata")
    if not isinstance(metadata, Mapping):
        metadata = {}
    name = metadata.get("name") or metadata.get("generateName") or "<unnamed>"
    return f"{obj.get('kind', '<no kind>')}/{name} ({obj.get('apiVersion', '<no apiVersion>')})"


def _problems(obj: Any) -> list[str]:
    if not isinstance(obj, Mapping):
        return ["not a mapping"]
    obj = dict(obj)
    missing = [key for key in ("apiVersion", "kind") if not isinstance(obj.get(key), str) or not obj[key]]
    if missing:
        return [f"{key}: required, must be a non-empty string" for key in missing]
    group, version = _split_api_version(obj["apiVersion"])
    if is_custom_resource(obj):
        return _custom_resource_problems(obj, group, version)
    return _builtin_problems(obj)


def validate_object(obj: dict[str, Any]) -> None:
    """Raise StrictValidationError unless obj would pass ``kubectl apply --validate=strict``."""
    if isinstance(obj, Mapping) and is_custom_resource(dict(obj)):
        shared.record("validate_object")  # without the CRDs, a problem: the caller fails, it does not skip
    _validate_object(obj)


def _validate_object(obj: dict[str, Any]) -> None:
    label = _label(obj)
    problems = _problems(obj)
    if problems:
        raise StrictValidationError([f"{label}: {problem}" for problem in problems])


def validate_custom_resource(obj: dict[str, Any], crd_file: pathlib.Path) -> None:
    """Raise StrictValidationError unless obj passes the CRD in `crd_file` (a directory of its own: a CRD the
    shared directory does not hold yet, read from its project's source at a pinned tag)."""
    group, version = _split_api_version(obj["apiVersion"])
    gvk = (group, version, obj["kind"])
    crds = _load_crds(crd_file.parent)
    if gvk not in crds:
        raise StrictValidationError([f"{_label(obj)}: no CRD in {crd_file.parent} defines {gvk}"])
    errors = sorted(_crd_validator(crd_file.parent, gvk).iter_errors(obj),
                    key=lambda error: [str(part) for part in error.absolute_path])
    problems = [problem for error in errors for problem in _describe(error)]
    if problems:
        raise StrictValidationError([f"{_label(obj)}: {problem}" for problem in problems])


_UNAVAILABLE = pathlib.Path("/nonexistent/unavailable")


def _supplementary_crd(obj: Mapping[str, Any]) -> pathlib.Path | None:
    """A CRD the shared directory may not hold yet (Traefik's Middleware, a redirecting host alias): None when the
    shared directory has it (validated there like any other); else the CRD read from the project's source at the
    pinned tag, or _UNAVAILABLE without that source. Any other kind missing from the directory stays a problem."""
    group, version = _split_api_version(str(obj.get("apiVersion")))
    gvk = (group, version, obj.get("kind"))
    directory = _crds_dir()
    if gvk != traefik.MIDDLEWARE_GVK or directory is None or gvk in _load_crds(directory):
        return None
    return traefik.middleware_crd() or _UNAVAILABLE


def validate_objects(objs: Iterable[dict[str, Any]]) -> None:
    """Validate every object; raise one StrictValidationError listing all problems.

    Without the upstream CRDs (a fresh clone has no ../shared), the built-in kinds are still validated and the
    calling test is then skipped with the reason: custom resources cannot be checked, and that is no failure.
    """
    problems: list[str] = []
    failed = total = 0
    unchecked = []
    unchecked_elsewhere: list[str] = []  # a CRD ../shared/crds lacks, whose project's source is absent too
    recorded = False
    for obj in objs:
        total += 1
        if isinstance(obj, Mapping) and is_custom_resource(dict(obj)):
            if not recorded:  # only custom resources need ../shared
                shared.record("validate_objects")
                recorded = True
            if _crds_dir() is None:
                unchecked.append(_label(obj))
                continue
            supplement = _supplementary_crd(obj)
            if supplement is not None:
                if supplement == _UNAVAILABLE:
                    unchecked_elsewhere.append(_label(obj))
                    continue
                try:
                    validate_custom_resource(obj, supplement)
                except StrictValidationError as error:
                    failed += 1
                    problems.extend(error.problems)
                continue
        try:
            _validate_object(obj)
        except StrictValidationError as error:
            failed += 1
            problems.extend(error.problems)
    if problems:
        raise StrictValidationError(
            problems, header=f"{failed} of {total} Kubernetes objects failed strict validation:"
        )
    if unchecked_elsewhere:
        pytest.skip(f"every other object valid; not checked: {', '.join(unchecked_elsewhere)}: "
                    f"{traefik.traefik_source_missing()}, and {_crds_dir()} has no traefik.io_middlewares.yaml "
                    "(scripts/fetch_upstream.py fetches it)")
    if unchecked:
        pytest.skip(f"built-in kinds valid; {len(unchecked)} custom resources not checked: CRDs not found at "
                    f"{_crds_dir_candidate()} (set {CRDS_DIR_ENV} to the upstream CRDs, ../shared/crds)")
