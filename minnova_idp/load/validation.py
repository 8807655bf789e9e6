"""Turning pydantic errors into Problems that name the file, the field and the fix."""

from __future__ import annotations

import difflib
from functools import lru_cache
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from minnova_idp.load.yamlsafe import LoadedYaml
from minnova_idp.model.errors import ConfigError, Problem

M = TypeVar("M", bound=BaseModel)


def validate_document(model: type[M], loaded: LoadedYaml) -> M:
    """Validates a loaded YAML document, raising ConfigError with every problem found."""
    if loaded.data is None:
        raise ConfigError([Problem(loaded.file, message="file is empty")])
    if not isinstance(loaded.data, dict):
        raise ConfigError([Problem(loaded.file, message="must be a YAML mapping (key: value lines)", line=1)])
    try:
        result = model.model_validate(loaded.data)
    except ValidationError as exc:
        raise ConfigError(problems_from(exc, model, loaded.file, loaded.line_of)) from None
    cross_field = getattr(result, "cross_field_problems", None)
    if cross_field is not None:
        problems = [Problem(loaded.file, format_path(loc), message, line=loaded.line_of(loc))
                    for loc, message in cross_field()]
        if problems:
            raise ConfigError(problems)
    return result


def problems_from(exc: ValidationError, model: type[BaseModel], file: str, line_of=lambda loc: None,
                  field_prefix: str = "") -> list[Problem]:
    problems = []
    for error in exc.errors(include_url=False):
        # "<…>": a tagged union's branch (model/registry.py's allowFrom items), not a field people write.
        loc = tuple(part for part in error["loc"]
                    if part != "[key]" and not (isinstance(part, str) and part.startswith("<") and part.endswith(">")))
        is_key_error = "[key]" in error["loc"]
        message, hint = _describe(error, model, loc, is_key_error)
        field = field_prefix + format_path(loc)
        problems.append(Problem(file, field, message, line=line_of(loc), hint=hint))
    return problems


def format_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _describe(error: dict[str, Any], model: type[BaseModel], loc: tuple, is_key_error: bool) -> tuple[str, str | None]:
    kind, message, value = error["type"], error["msg"], error.get("input")
    if kind == "extra_forbidden":
        key = str(loc[-1])
        allowed = _allowed_keys(model, loc[:-1])
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else (f"allowed keys: {', '.join(allowed)}" if allowed else None)
        return f"unknown key '{key}'", hint
    if kind == "missing":
        return "required key is missing", None
    if kind == "value_error":
        return message.removeprefix("Value error, "), None
    if kind == "assertion_error":
        return message.removeprefix("Assertion failed, "), None
    if kind == "int_type" and isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return f"must be a whole number, got the string '{value}'", "write it without quotes"
    if kind == "string_type" and isinstance(value, (bool, int, float)):
        shown = str(value).lower() if isinstance(value, bool) else value
        return f"must be a string, got {type(value).__name__} {shown!r}", f'quote it: "{shown}"'
    if kind == "string_type" and is_key_error:
        return "keys must be strings", None
    if kind in ("dict_type", "model_type"):
        return f"must be a mapping (key: value), got {_type_name(value)}", None
    if kind == "list_type":
        return f"must be a list, got {_type_name(value)}", None
    if kind == "literal_error":
        return f"{message}, got {value!r}", None
    return message, None


def _type_name(value: Any) -> str:
    return {type(None): "nothing (empty value)", str: "a string", int: "a number", float: "a number",
            bool: "a boolean", list: "a list", dict: "a mapping"}.get(type(value), type(value).__name__)


def _allowed_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    schema = _schema(model)
    node: dict[str, Any] | None = schema
    for part in loc:
        node = _resolve(schema, node)
        if node is None:
            return []
        if isinstance(part, int):
            node = node.get("items")
        elif "properties" in node and part in node["properties"]:
            node = node["properties"][part]
        elif isinstance(node.get("additionalProperties"), dict):
            node = node["additionalProperties"]
        elif node.get("patternProperties"):
            # Keys of a typed mapping (environment names): any branch describes the value.
            node = next(iter(node["patternProperties"].values()))
        else:
            return []
    node = _resolve(schema, node)
    return sorted(node.get("properties", {})) if node else []


def _resolve(schema: dict[str, Any], node: dict[str, Any] | None) -> dict[str, Any] | None:
    """Follows $ref and picks the object branch of anyOf (an optional sub-model)."""
    for _ in range(10):
        if node is None:
            return None
        if "$ref" in node:
            node = schema["$defs"][node["$ref"].rsplit("/", 1)[-1]]
        elif "anyOf" in node:
            node = next((branch for branch in node["anyOf"] if branch.get("type") != "null"), None)
        elif "oneOf" in node:
            # A tagged union of a plain value and a mapping: the mapping's keys are the ones to suggest.
            node = next((branch for branch in node["oneOf"] if "$ref" in branch or "properties" in branch),
                        node["oneOf"][0])
        else:
            return node
    return node


@lru_cache(maxsize=None)
def _schema(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema(by_alias=True)
