"""The two sops file formats we read and write, YAML and dotenv, with values as sops (Go) sees them:
yaml.v3's plain-scalar rules, the dotenv store's escaping, and the flattened `sops_*` metadata."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from minnova_idp.load.yamlsafe import MAX_BYTES, compose_yaml, load_yaml
from minnova_idp.model.errors import ConfigError
from minnova_idp.sops.errors import SopsError

_STR_TAG = "tag:yaml.org,2002:str"


@dataclass
class Leaf:
    """One scalar of the document, in document order."""

    keys: tuple[str, ...]  # the mapping keys leading to it: encryption rules and additional data
    shown: str  # for messages, with list indices: "data.items[0]"
    value: Any  # as sops (Go) sees it; for YAML this can differ from the Python value we return
    store: Callable[[Any], None]  # puts the decrypted value into the returned document


@dataclass
class Parsed:
    document: dict[str, Any]
    leaves: list[Leaf]
    metadata: Mapping[str, Any]


def format_for(file: str, format: str | None) -> str:
    if format is None:
        return "dotenv" if file.endswith(".env") else "yaml"
    if format not in ("yaml", "dotenv"):
        raise SopsError(file, f"unsupported format {format!r} (expected 'yaml' or 'dotenv')")
    return format


def parse(content: bytes | str, file: str, fmt: str) -> Parsed:
    return _parse_dotenv(read_text(content, file), file) if fmt == "dotenv" else _parse_yaml(content, file)


def read_text(content: bytes | str, file: str) -> str:
    raw = content.encode("utf-8") if isinstance(content, str) else content
    if len(raw) > MAX_BYTES:
        raise SopsError(file, f"file is {len(raw)} bytes; the limit is {MAX_BYTES}")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SopsError(file, "not UTF-8 text") from None

# --- YAML: values as sops (Go, yaml.v3) sees them ------------------------------------------------

# yaml.v3 resolves plain scalars by YAML 1.2-ish rules, PyYAML by YAML 1.1 rules: `yes`, `on`,
# `2024-01-01` or `1:30` are strings to sops but not to PyYAML. The MAC is over sops's view, so
# clear values are resolved again here from the YAML text (go-yaml v3 resolve.go, decoding into
# interface{}, where timestamps stay strings).
_GO_PLAIN_CONSTANTS: dict[str, Any] = {
    **{text: True for text in ("true", "True", "TRUE")},
    **{text: False for text in ("false", "False", "FALSE")},
    **{text: None for text in ("", "~", "null", "Null", "NULL")},
    **{text: math.nan for text in (".nan", ".NaN", ".NAN")},
    **{text: math.inf for text in (".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF")},
    **{text: -math.inf for text in ("-.inf", "-.Inf", "-.INF")},
}
_GO_YAML_INT = re.compile(r"[+-]?(?:0[xX][0-9a-fA-F]+|0[bB][01]+|0[oO][0-7]+|0[0-7]*|[1-9][0-9]*)")
_GO_YAML_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_GO_YAML_DOT_FLOAT = re.compile(r"\.[0-9]+(?:[eE][-+]?[0-9]+)?")


def go_plain_scalar(text: str) -> Any:
    if text in _GO_PLAIN_CONSTANTS:
        return _GO_PLAIN_CONSTANTS[text]
    if text.startswith("."):
        return _finite_or_text(text) if _GO_YAML_DOT_FLOAT.fullmatch(text) else text
    if text[0] not in "0123456789+-":
        return text
    plain = text.replace("_", "")
    # Fewer than 25 digits: a longer decimal is out of int64 range anyway (yaml.v3 then tries a float), and
    # Python's int() refuses over 4300 digits with a ValueError (go-yaml v3.0.1 resolve.go:191-205).
    digits = plain.lstrip("+-")
    body = digits[2:] if digits[:2].lower() in ("0x", "0b", "0o") else digits
    if _GO_YAML_INT.fullmatch(plain) and len(body.lstrip("0")) < 25:
        sign = -1 if plain[0] == "-" else 1
        number = sign * (int(digits, 0) if digits[:2].lower() in ("0x", "0b", "0o")
                         else int(digits, 8) if len(digits) > 1 and digits[0] == "0" else int(digits))
        if -(2**63) <= number < 2**63:
            return number
    if _GO_YAML_FLOAT.fullmatch(plain):
        return _finite_or_text(plain, original=text)
    return text


def _finite_or_text(number_text: str, original: str | None = None) -> Any:
    value = float(number_text)
    # Go's ParseFloat fails on overflow, and yaml.v3 then keeps the text as a string.
    return value if math.isfinite(value) else (original or number_text)


def _parse_yaml(content: bytes | str, file: str) -> Parsed:
    try:
        loaded = load_yaml(content, file)  # strict: duplicate keys, aliases, tags, size
    except ConfigError as exc:
        raise SopsError(file, "; ".join(_problem_text(p) for p in exc.problems)) from None
    if not isinstance(loaded.data, dict) or not isinstance(loaded.data.get("sops"), dict):
        raise SopsError(file, "not a sops file (no top-level `sops` metadata)")
    document = loaded.data
    raw_metadata = document.pop("sops")
    return Parsed(document, _source_leaves(content, document, file), raw_metadata)


def _source_leaves(content: bytes | str, document: dict, file: str) -> list[Leaf]:
    """Every scalar of `document` (loaded from `content`) with its source form, read again from the text;
    the top-level `sops` metadata is not a value."""
    # Composed by load_yaml just before (`_parse_yaml`): the same tree, read again from its cache.
    root = compose_yaml(content.decode("utf-8") if isinstance(content, bytes) else content)
    loader = yaml.SafeLoader("")  # resolves plain scalars' implicit tags (_go_scalar)
    leaves: list[Leaf] = []
    for key_node, value_node in root.value:
        if key_node.value != "sops":
            _collect(loader, value_node, document, key_node.value, (key_node.value,), key_node.value, leaves, file)
    return leaves


def _problem_text(problem: Any) -> str:
    return f"line {problem.line}: {problem.message}" if problem.line else problem.message


def _collect(loader: yaml.SafeLoader, node: yaml.Node, parent: Any, slot: str | int,
             keys: tuple[str, ...], shown: str, leaves: list[Leaf], file: str) -> None:
    """Walks the node tree and the loaded data together, in document order."""
    value = parent[slot]
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            _collect(loader, value_node, value, key, (*keys, key), f"{shown}.{key}", leaves, file)
    elif isinstance(node, yaml.SequenceNode):
        for index, item_node in enumerate(node.value):
            # sops.go walkSlice: list items keep their list's path.
            _collect(loader, item_node, value, index, keys, f"{shown}[{index}]", leaves, file)
    else:
        def store(new: Any, container: Any = parent, at: str | int = slot) -> None:
            container[at] = new

        leaves.append(Leaf(keys, shown, _go_scalar(loader, node, shown, file), store))


def _go_scalar(loader: yaml.SafeLoader, node: yaml.ScalarNode, shown: str, file: str) -> Any:
    implicit_tag = loader.resolve(yaml.ScalarNode, node.value, (True, False)) if node.style is None else _STR_TAG
    if node.tag != implicit_tag and node.tag != _STR_TAG:
        raise SopsError(file, f"{shown}: explicit YAML tag {node.tag} is not supported in a sops file")
    if node.style is None and node.tag == implicit_tag:
        return go_plain_scalar(node.value)
    return node.value  # quoted, block or explicitly !!str: a string for both parsers


# --- dotenv --------------------------------------------------------------------------------------


def _parse_dotenv(text: str, file: str) -> Parsed:
    """stores/dotenv: KEY=VALUE lines, `#` comments, metadata as flattened `sops_*` keys."""
    document: dict[str, Any] = {}
    flat_metadata: dict[str, str] = {}
    for number, line in enumerate(text.split("\n"), start=1):
        if not line or line.startswith("#"):
            continue  # comments are not values: never in the MAC, and sops tolerates them in clear
        key, sep, value = line.partition("=")
        if not sep:
            raise SopsError(file, f"line {number} is not KEY=VALUE")
        value = value.replace("\\n", "\n")  # the store escapes newlines this way
        target = flat_metadata if key.startswith("sops_") else document
        if key in target:
            raise SopsError(file, f"line {number}: duplicate key {key!r}")
        target[key] = value
    if not flat_metadata:
        raise SopsError(file, "not a sops file (no sops_* metadata)")
    metadata = _unflatten({key[len("sops_"):]: value for key, value in flat_metadata.items()}, file)
    leaves = [Leaf((key,), key, value, lambda new, at=key: document.__setitem__(at, new))
              for key, value in document.items()]
    return Parsed(document, leaves, metadata)


_FLAT_SEPARATOR = re.compile(r"__(map|list)_")


def _unflatten(flat: Mapping[str, str], file: str) -> dict[str, Any]:
    """stores/flatten.go: `age__list_0__map_enc` -> {"age": [{"enc": ...}]}."""
    root: dict[Any, Any] = {}
    for path, value in flat.items():
        parts = _FLAT_SEPARATOR.split(path)
        tokens: list[str | int] = [parts[0]]
        for kind, name in zip(parts[1::2], parts[2::2]):
            if kind == "list" and not name.isdigit():
                raise SopsError(file, f"sops metadata: bad list index in sops_{path}")
            tokens.append(int(name) if kind == "list" else name)
        node = root
        for token in tokens[:-1]:
            node = node.setdefault(token, {})
            if not isinstance(node, dict):
                raise SopsError(file, f"sops metadata: conflicting keys at sops_{path}")
        node[tokens[-1]] = value
    return _lists_from_int_keys(root)


def _lists_from_int_keys(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    if node and all(isinstance(key, int) for key in node):
        return [_lists_from_int_keys(node[index]) for index in sorted(node)]
    return {key: _lists_from_int_keys(value) for key, value in node.items()}

def flatten(node: Any, prefix: str = "") -> dict[str, str]:
    """stores/flatten.go FlattenMetadata, the inverse of `_unflatten`."""
    if isinstance(node, dict):
        out: dict[str, str] = {}
        for key, value in node.items():
            out.update(flatten(value, f"{prefix}__map_{key}" if prefix else key))
        return out
    if isinstance(node, list):
        out = {}
        for index, value in enumerate(node):
            out.update(flatten(value, f"{prefix}__list_{index}"))
        return out
    if isinstance(node, bool):
        return {prefix: "true" if node else "false"}
    return {prefix: str(node)}


def plaintext_yaml(content: bytes | str, file: str) -> Any:
    """A plaintext YAML document with every scalar as sops (Go, yaml.v3) reads it: `yes` and `2024-01-01` stay
    strings, as they would in `sops edit`. Strict like every file here (duplicate keys, aliases, tags, size)."""
    loaded = load_yaml(content, file)  # ConfigError names the file and line
    document = loaded.data
    if not isinstance(document, dict):
        return document
    if "sops" in document:
        raise SopsError(file, "is already encrypted (it has sops metadata)")
    _string_keys(document, file, "")
    for leaf in _source_leaves(content, document, file):
        leaf.store(leaf.value)
    return document


def _string_keys(node: Any, file: str, shown: str) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if not isinstance(key, str):
                raise SopsError(file, f"{shown or '<root>'}: keys must be strings (quote the key)")
            _string_keys(value, file, f"{shown}.{key}" if shown else key)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            _string_keys(value, file, f"{shown}[{index}]")


def dump_plaintext_yaml(document: Any) -> str:
    """YAML that `plaintext_yaml` (and sops) read back to the same values."""
    return yaml.dump(document, Dumper=SopsDumper, sort_keys=False, allow_unicode=True, default_flow_style=False,
                     width=2**30)


def plaintext_dotenv(content: bytes | str, file: str) -> dict[str, str]:
    """KEY=VALUE lines as sops reads a dotenv file: `#` comments and empty lines skipped, values taken
    literally (no quotes removed), `\\n` read as a newline."""
    text = read_text(content, file)
    values: dict[str, str] = {}
    for number, line in enumerate(text.split("\n"), start=1):
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise SopsError(file, f"line {number} is not KEY=VALUE")
        if key.startswith("sops_"):
            raise SopsError(file, "is already encrypted (it has sops metadata)")
        if key in values:
            raise SopsError(file, f"line {number}: duplicate key {key!r}")
        values[key] = value.replace("\\n", "\n")
    return values


class SopsDumper(yaml.SafeDumper):
    """YAML that both yaml.v3 (sops) and PyYAML read back to the same values, laid out like sops."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)  # "key:\n  - item" like yaml.v3, not "key:\n- item"


def _represent_str(dumper: SopsDumper, value: str) -> yaml.ScalarNode:
    style = None
    if value == "":
        style = '"'  # yaml.v3 writes an empty string as ""
    elif "\n" in value:
        style = "|"  # the armored age files, like sops; the emitter falls back if it cannot
    elif (go_plain_scalar(value) != value
          or dumper.resolve(yaml.ScalarNode, value, (True, False)) != _STR_TAG):
        style = '"'  # would read back as a non-string in either parser (e.g. 0o17, 1e3, yes, 2024-01-01)
    return dumper.represent_scalar(_STR_TAG, value, style=style)


SopsDumper.add_representer(str, _represent_str)


def dotenv_text(values: Mapping[str, str]) -> str:
    """KEY=VALUE lines as sops's dotenv store writes them, encrypted or plain (`sops -d x.env`): a newline in a
    value becomes the two characters `\\n`, which its reader turns back into a newline
    (getsops/sops@v3.10.2 stores/dotenv/store.go:144 EmitPlainFile, :95 LoadPlainFile). Keys hold no newline
    (the dotenv writer and `plaintext_dotenv` refuse them)."""
    return "".join(key + "=" + value.replace("\n", "\\n") + "\n" for key, value in values.items())
