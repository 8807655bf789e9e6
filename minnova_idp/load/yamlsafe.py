"""Loading untrusted YAML: strict, small, and with a line number for every field.

App configs come from app repositories, so they are untrusted input. We refuse
aliases and anchors (alias bombs), duplicate keys (the later value would silently
win), custom tags, deep nesting, oversized files and numbers too long to be meant
(a 5000-digit port would otherwise end in an unhandled error).

Every file the core reads goes through `read_regular_file`: regular files only (never
a FIFO that would block forever, nor a device such as /dev/zero that never ends),
opened without blocking, read with a bound, and optionally never through a symlink.
"""

from __future__ import annotations

import functools
import math
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from minnova_idp.model.errors import ConfigError, Problem

MAX_BYTES = 256 * 1024
MAX_DEPTH = 40
# No setting needs more: a replica count, a port or a size in bytes all fit in 18 digits, and
# Python refuses to convert integers of more than 4300 digits at all.
MAX_NUMBER_DIGITS = 18
MAX_FLOAT_CHARACTERS = 32
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"

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
    def __init__(self, message: str, mark: yaml.Mark | None, path: FieldPath = ()):
        super().__init__(message)
        self.message = message
        self.line = mark.line + 1 if mark is not None else None
        self.field = _format_path(path)


def _format_path(path: FieldPath) -> str:
    """As validation.format_path (which imports this module): `a.b[0].c`."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


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
    content = _text(content, file)
    loaded = LoadedYaml(data=None, file=file)
    try:
        node = compose_yaml(content)
        if node is not None:
            loaded.data = _build(_StrictLoader(""), node, (), loaded.lines)
    except _Refused as exc:
        raise ConfigError([Problem(file, exc.field, message=exc.message, line=exc.line)]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = " ".join(part for part in (exc.context, exc.problem) if part)
        raise ConfigError(
            [Problem(file, message=f"invalid YAML: {message}", line=mark.line + 1 if mark else None)]
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError([Problem(file, message=f"invalid YAML: {exc}")]) from None
    return loaded


def _text(content: str | bytes, file: str) -> str:
    if isinstance(content, bytes):
        if len(content) > MAX_BYTES:
            raise ConfigError([Problem(file, message=f"file is {len(content)} bytes; the limit is {MAX_BYTES}")])
        try:
            return content.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError([Problem(file, message=f"not UTF-8 text ({exc.reason} at byte {exc.start})")]) from None
    if len(content.encode("utf-8")) > MAX_BYTES:
        raise ConfigError([Problem(file, message=f"file is larger than the limit of {MAX_BYTES} bytes")])
    return content


@functools.lru_cache(maxsize=2)
def compose_yaml(content: str) -> yaml.Node | None:
    """The node tree of `content`, composed strictly (no aliases or anchors, bounded depth; errors as yaml's).

    Cached for the last two texts only (a tree takes many times its text, and a file may be 256 KiB): a secrets
    file is parsed by every check before it is decrypted, one after the other (load/secrets.py
    load_secret_values, sops/document.py), which was most of render-preview's YAML reading. The tree is only read
    (`_build` and sops/formats.py make new values from it), never changed."""
    loader = _StrictLoader(content)
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


def load_yaml_file(path: Path, display: str | None = None, *, follow_symlinks: bool = True) -> LoadedYaml:
    """A YAML file read with `read_file` (regular, bounded); `follow_symlinks=False` refuses a symlink."""
    shown = display or str(path)
    return load_yaml(read_file(path, shown, follow_symlinks=follow_symlinks), shown)


class FileRefused(Exception):
    """A file that is not read: `reason` says why, without the file's name (the caller shows it)."""

    def __init__(self, reason: str, kind: str = "unreadable"):
        super().__init__(reason)
        self.reason = reason
        self.kind = kind  # missing, symlink, special (not a regular file), too-large, unreadable

    @property
    def missing(self) -> bool:
        return self.kind == "missing"


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symbolic link")):
        if test(mode):
            return name
    return "not a regular file"


def read_text_file(path: Path, shown: str, limit: int, limit_shown: str, *, too_large_hint: str | None = None,
                   empty: str = "is empty", empty_hint: str | None = None) -> str | None:
    """A small text file of the app's (SQL the platform runs): a regular file, not a symlink, at most `limit` bytes,
    UTF-8, not blank; None when there is none. Each refusal is a ConfigError naming `shown`."""
    try:
        content = read_regular_file(path, limit, follow_symlinks=False, truncate=True)
    except FileRefused as exc:
        if exc.kind == "missing":
            return None
        raise ConfigError([Problem(shown, message=exc.reason)]) from None
    if len(content) > limit:
        raise ConfigError([Problem(shown, message=f"is larger than the limit of {limit_shown}", hint=too_large_hint)])
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError([Problem(shown, message="is not UTF-8 text")]) from None
    if not text.strip():
        raise ConfigError([Problem(shown, message=empty, hint=empty_hint)])
    return text


def read_regular_file(path: Path | str, limit: int = MAX_BYTES, *, follow_symlinks: bool = True,
                      truncate: bool = False) -> bytes:
    """The bytes of a regular file of at most `limit` bytes, or FileRefused.

    Checked before opening (lstat/stat: a FIFO, device, socket or directory is never opened), opened
    with O_NONBLOCK (a FIFO swapped in meanwhile cannot block us) and O_NOFOLLOW when symlinks are
    refused, checked again on the open descriptor (same file, still regular), and read with a bound.
    `truncate`: a larger file gives its first `limit` + 1 bytes instead (for a caller that refuses it).
    """
    try:
        before = os.stat(path, follow_symlinks=follow_symlinks)
    except (FileNotFoundError, NotADirectoryError):
        raise FileRefused("file not found", "missing") from None
    except OSError as exc:
        raise FileRefused(f"cannot read: {exc.strerror}") from None
    if stat.S_ISLNK(before.st_mode):
        raise FileRefused("is a symbolic link; only regular files are read here", "symlink")
    if stat.S_ISDIR(before.st_mode):
        raise FileRefused("is a directory, expected a file", "special")
    if not stat.S_ISREG(before.st_mode):
        raise FileRefused(f"is {_kind(before.st_mode)}, not a regular file; only regular files are read", "special")
    if before.st_size > limit and not truncate:
        raise FileRefused(f"file is {before.st_size} bytes; the limit is {limit}", "too-large")
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    if not follow_symlinks:
        flags |= os.O_NOFOLLOW
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise FileRefused("file not found", "missing") from None
    except OSError as exc:
        if not follow_symlinks and os.path.islink(path):  # ELOOP: replaced by a symlink after the check
            raise FileRefused("is a symbolic link; only regular files are read here", "symlink") from None
        raise FileRefused(f"cannot read: {exc.strerror}") from None
    try:
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode) or (opened.st_dev, opened.st_ino) != (before.st_dev, before.st_ino):
            raise FileRefused("changed while it was being opened; only regular files are read", "special")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(65536, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise FileRefused(f"cannot read: {exc.strerror}") from None
    finally:
        os.close(fd)
    if size > limit and not truncate:
        raise FileRefused(f"file is larger than the limit of {limit} bytes", "too-large")
    return b"".join(chunks)


def read_file(path: Path | str, shown: str, limit: int = MAX_BYTES, *, follow_symlinks: bool = True) -> bytes:
    """`read_regular_file`, with a refusal as a ConfigError naming the file as `shown`."""
    try:
        return read_regular_file(path, limit, follow_symlinks=follow_symlinks)
    except FileRefused as exc:
        raise ConfigError([Problem(shown, message=exc.reason)]) from None


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
    _check_number(node, path)
    try:
        value = loader.construct_object(node, deep=True)
    except yaml.constructor.ConstructorError as exc:
        raise _Refused(f"unsupported YAML value: {exc.problem}", node.start_mark, path) from None
    except (ValueError, OverflowError) as exc:  # what the resolver admits but Python cannot build: 2024-13-45
        raise _Refused(f"unsupported YAML value ({str(exc)[:80]}); quote it to make it a string", node.start_mark,
                       path) from None
    if isinstance(value, float) and not math.isfinite(value):
        raise _Refused("numbers must be finite (no .inf, .nan, or a float too large to represent)",
                       node.start_mark, path)
    return value


def _check_number(node: yaml.Node, path: FieldPath) -> None:
    """Bound numbers by their text, before anything converts them."""
    if node.tag == _INT_TAG:
        digits = sum(1 for c in node.value.lower().removeprefix("-").removeprefix("+")
                     .removeprefix("0x").removeprefix("0o").removeprefix("0b") if c.isalnum())
        if digits > MAX_NUMBER_DIGITS:
            raise _Refused(f"a number of {digits} digits; the limit is {MAX_NUMBER_DIGITS} digits",
                           node.start_mark, path)
    elif node.tag == _FLOAT_TAG and len(node.value) > MAX_FLOAT_CHARACTERS:
        raise _Refused(f"a number of {len(node.value)} characters; the limit is {MAX_FLOAT_CHARACTERS}",
                       node.start_mark, path)
