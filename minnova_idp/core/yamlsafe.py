"""Loading untrusted YAML: strict, small, and with a line number for every field.

App configs come from app repositories, so they are untrusted input. We refuse
aliases and anchors (alias bombs), duplicate keys (the later value would silently
win), custom tags, deep nesting and oversized files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError, Problem

MAX_BYTES = 256 * 1024
MAX_DEPTH = 40

FieldPath = tuple[str | int, ...]
_PLAIN_COLLECTION_TAGS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}


@dataclass
class LoadedYaml:
    data: Any
    file: str
    lines: dict[FieldPath, int] = field(default_factory=dict)

    def line_of(self, path: FieldPath) -> int | None:
        """Line of the deepest known prefix of `path` (a missing key points at its parent)."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:end]))
            if line is not None:
                return line
        return None


class _Refused(Exception):
    def __init__(self, message: str, mark: yaml.Mark | None):
        super().__init__(message)
        self.message = message
        self.line = mark.line + 1 if mark is not None else None


class _StrictLoader(yaml.SafeLoader):
    """Composes the node graph only; values are built by `_build` so we can track paths."""

    _depth = 0

    def compose_node(self, parent, index):  # type: ignore[override]
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise _Refused(f"YAML aliases (*{event.anchor}) are not allowed", event.start_mark)
        if getattr(event, "anchor", None):
            raise _Refused(f"YAML anchors (&{event.anchor}) are not allowed", event.start_mark)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Refused(f"nesting deeper than {MAX_DEPTH} levels", event.start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def load_yaml(content: str | bytes, file: str) -> LoadedYaml:
    if isinstance(content, bytes):
        if len(content) > MAX_BYTES:
            raise ConfigError([Problem(file, message=f"file is {len(content)} bytes; the limit is {MAX_BYTES}")])
        try:
            content = content.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError([Problem(file, message=f"not UTF-8 text ({exc.reason} at byte {exc.start})")]) from None
    elif len(content.encode("utf-8")) > MAX_BYTES:
        raise ConfigError([Problem(file, message=f"file is larger than the limit of {MAX_BYTES} bytes")])

    loaded = LoadedYaml(data=None, file=file)
    loader = _StrictLoader(content)
    try:
        node = loader.get_single_node()
        if node is not None:
            loaded.data = _build(loader, node, (), loaded.lines)
    except _Refused as exc:
        raise ConfigError([Problem(file, message=exc.message, line=exc.line)]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = " ".join(part for part in (exc.context, exc.problem) if part)
        raise ConfigError(
            [Problem(file, message=f"invalid YAML: {message}", line=mark.line + 1 if mark else None)]
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError([Problem(file, message=f"invalid YAML: {exc}")]) from None
    finally:
        loader.dispose()
    return loaded


def load_yaml_file(path: Path, display: str | None = None) -> LoadedYaml:
    shown = display or str(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise ConfigError([Problem(shown, message=f"file is {size} bytes; the limit is {MAX_BYTES}")])
        content = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError([Problem(shown, message="file not found")]) from None
    except IsADirectoryError:
        raise ConfigError([Problem(shown, message="is a directory, expected a YAML file")]) from None
    except OSError as exc:
        raise ConfigError([Problem(shown, message=f"cannot read: {exc.strerror}")]) from None
    return load_yaml(content, shown)


def _build(loader: _StrictLoader, node: yaml.Node, path: FieldPath, lines: dict[FieldPath, int]) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag not in _PLAIN_COLLECTION_TAGS:
        raise _Refused(f"unsupported YAML tag {node.tag}", node.start_mark)
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise _Refused("mapping keys must be plain strings", key_node.start_mark)
            # Keys are always text here: `on:` or `1:` must not turn into booleans or ints.
            key = key_node.value
            if key in result:
                first = lines.get((*path, key))
                raise _Refused(f"duplicate key '{key}' (first defined on line {first})", key_node.start_mark)
            lines[(*path, key)] = key_node.start_mark.line + 1
            result[key] = _build(loader, value_node, (*path, key), lines)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(loader, item, (*path, index), lines) for index, item in enumerate(node.value)]
    try:
        return loader.construct_object(node, deep=True)
    except yaml.constructor.ConstructorError as exc:
        raise _Refused(f"unsupported YAML value: {exc.problem}", node.start_mark) from None
