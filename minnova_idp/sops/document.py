"""SOPS files encrypted for age recipients: decrypt (with MAC check) and a sops-compatible encryptor.

There is no maintained Python library for SOPS, so this module implements the file format the
real ``sops`` CLI (getsops/sops) writes, for the two formats we need: YAML and dotenv.

- Every value is ``ENC[AES256_GCM,data:<b64>,iv:<b64>,tag:<b64>,type:<t>]``: AES-256-GCM with a
  random 32-byte *data key*, a 32-byte IV, and as additional data the path of keys leading to the
  value joined with ``:`` plus a trailing ``:`` (``stringData:key:``). List items use the path of
  their list (indices are not part of it), so a value cannot be moved to another key unnoticed.
- The data key is age-encrypted (armored) once per recipient in ``sops.age[].enc``.
- The MAC is SHA-512 over the plaintext bytes of every value in document order, encrypted values
  and values left in clear alike (only encrypted ones with ``mac_only_encrypted``), as uppercase
  hex, stored encrypted with ``sops.lastmodified`` as additional data. It catches changed clear
  values, reordered or removed values and values copied from another file with the same key.
- It does not catch an added empty string: sops leaves "" unencrypted (aes/cipher.go Encrypt and
  Decrypt return "" for "") and "" adds no bytes to the hash (sops.go Tree.Decrypt writes
  ToBytes(v), which is empty). Nor nulls, clear key names, or bytes moved between adjacent clear
  values (there is no separator). `unauthenticated_values` finds such values so callers can
  refuse them; `decrypt` itself stays compatible with sops.

age itself comes from ``pyrage`` (rage); AES-GCM from ``cryptography``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyrage
import yaml
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from minnova_idp.load.yamlsafe import MAX_BYTES, FileRefused, load_yaml, read_regular_file
from minnova_idp.model.errors import ConfigError, Problem

__all__ = [
    "AgeIdentity",
    "SopsError",
    "decrypt",
    "dotenv_text",
    "dump_plaintext_yaml",
    "encrypt_dotenv",
    "encrypt_yaml",
    "generate_identity",
    "identities_from_environment",
    "is_encrypted",
    "parse_identities",
    "plaintext_dotenv",
    "plaintext_length",
    "plaintext_yaml",
    "recipients",
    "reencrypt",
    "unauthenticated_values",
]

SOPS_VERSION = "3.10.2"  # written into files we encrypt; the layout matches what 3.10.2 writes
DEFAULT_UNENCRYPTED_SUFFIX = "_unencrypted"
MAX_KEY_FILE_BYTES = 64 * 1024  # an age identity is 74 characters; a key file holds a few
_MAC_MISMATCH = "MAC mismatch: the file was changed after it was encrypted"
# sops seeds the hash with sha256("sops") when mac_only_encrypted is on, so that a MAC computed
# with the setting can never equal one computed without it (sops.go MACOnlyEncryptedInitialization).
_MAC_ONLY_ENCRYPTED_SEED = hashlib.sha256(b"sops").digest()
_ENC_RE = re.compile(r"^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]")  # as aes/cipher.go
_IV_BYTES = 32  # sops uses 32-byte GCM nonces, not the usual 12
_STR_TAG = "tag:yaml.org,2002:str"
_PQ_IDENTITY_PREFIX = "AGE-SECRET-KEY-PQ-1"
_PQ_RECIPIENT_PREFIX = "age1pq1"
_RULE_KEYS = ("unencrypted_suffix", "encrypted_suffix", "unencrypted_regex", "encrypted_regex",
              "unencrypted_comment_regex", "encrypted_comment_regex")
_OTHER_KEY_TYPES = ("pgp", "kms", "gcp_kms", "azure_kv", "hc_vault")


class SopsError(Exception):
    """A sops file cannot be used. The message names the file and never holds a value or key."""

    file: str
    reason: str
    recipients: tuple[str, ...]

    def __init__(self, file: str, reason: str, recipients: Sequence[str] = ()):
        self.file = file
        self.reason = reason
        self.recipients = tuple(recipients)
        super().__init__(str(self))

    def __str__(self) -> str:
        text = f"{self.file}: {self.reason}"
        return f"{text} (encrypted for: {', '.join(self.recipients)})" if self.recipients else text

    def config_error(self) -> ConfigError:
        """The command line's form: one problem naming the file."""
        return ConfigError([Problem(self.file, message=str(self).removeprefix(f"{self.file}: "))])


# --- age identities ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgeIdentity:
    secret: str = field(repr=False)  # "AGE-SECRET-KEY-1..."; never shown
    recipient: str  # "age1...", its public key


def _pyrage_version() -> str:
    from importlib import metadata as _package_metadata  # only for this message: importlib.metadata is slow to load

    try:
        return _package_metadata.version("pyrage")
    except _package_metadata.PackageNotFoundError:  # pragma: no cover - installed without metadata
        return "unknown"


def _post_quantum_unsupported() -> str:
    return (f"post-quantum age recipients (age1pq…) are not supported by the installed pyrage version "
            f"({_pyrage_version()}); the file needs an X25519 (age1…) recipient")


def parse_identities(text: str, source: str) -> list[AgeIdentity]:
    """age key-file format: one identity per line; blank lines and `#` comments are ignored."""
    identities: list[AgeIdentity] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith(_PQ_IDENTITY_PREFIX):
            raise SopsError(source, f"line {number} is a post-quantum age identity: {_post_quantum_unsupported()}")
        try:
            identity = pyrage.x25519.Identity.from_str(line)
        except pyrage.IdentityError:
            # `from None`: the pyrage message could quote part of the line, which may be a key.
            raise SopsError(source, f"line {number} is not an age identity") from None
        identities.append(AgeIdentity(secret=str(identity), recipient=str(identity.to_public())))
    return identities


def generate_identity() -> AgeIdentity:
    identity = pyrage.x25519.Identity.generate()
    return AgeIdentity(secret=str(identity), recipient=str(identity.to_public()))


def identities_from_environment(identity_file: Path | None = None,
                                environ: Mapping[str, str] | None = None) -> list[AgeIdentity]:
    """The identities to decrypt with: an explicit file, else SOPS_AGE_KEY_FILE, else SOPS_AGE_KEY."""
    env = os.environ if environ is None else environ
    if identity_file is not None:
        return _identities_from_file(Path(identity_file))
    if env.get("SOPS_AGE_KEY_FILE"):
        return _identities_from_file(Path(env["SOPS_AGE_KEY_FILE"]).expanduser())
    if env.get("SOPS_AGE_KEY"):
        return _non_empty(parse_identities(env["SOPS_AGE_KEY"], "SOPS_AGE_KEY"), "SOPS_AGE_KEY")
    raise SopsError("<identities>", "no age identity: pass --identity KEYFILE or set SOPS_AGE_KEY_FILE / SOPS_AGE_KEY")


def _identities_from_file(path: Path) -> list[AgeIdentity]:
    # Bounded and regular files only (a FIFO would block, /dev/zero never end); symlinks are
    # followed: Kubernetes mounts secret files as links.
    try:
        text = read_regular_file(path, MAX_KEY_FILE_BYTES).decode("utf-8")
    except FileRefused as exc:
        if exc.missing:
            raise SopsError(str(path), "age key file not found") from None
        raise SopsError(str(path), f"cannot read the age key file: {exc.reason}") from None
    except UnicodeDecodeError:
        raise SopsError(str(path), "cannot read the age key file: not UTF-8 text") from None
    return _non_empty(parse_identities(text, str(path)), str(path))


def _non_empty(identities: list[AgeIdentity], source: str) -> list[AgeIdentity]:
    if not identities:
        raise SopsError(source, "contains no age identity")
    return identities


# --- reading a sops file -------------------------------------------------------------------------


@dataclass(frozen=True)
class _AgeKey:
    recipient: str
    enc: str  # armored age file holding the 32-byte data key


@dataclass(frozen=True)
class _Rules:
    """Which values are encrypted; a key matching a rule applies to everything below it (sops.go)."""

    unencrypted_suffix: str = ""
    encrypted_suffix: str = ""
    unencrypted_regex: str = ""
    encrypted_regex: str = ""

    def encrypts(self, keys: Sequence[str]) -> bool:
        encrypted = True
        if self.unencrypted_suffix and any(k.endswith(self.unencrypted_suffix) for k in keys):
            encrypted = False
        if self.encrypted_suffix:
            encrypted = any(k.endswith(self.encrypted_suffix) for k in keys)
        # Go's regexp.Match finds a match anywhere, like re.search.
        if self.unencrypted_regex and any(re.search(self.unencrypted_regex, k) for k in keys):
            encrypted = False
        if self.encrypted_regex:
            encrypted = any(re.search(self.encrypted_regex, k) for k in keys)
        return encrypted


@dataclass(frozen=True)
class _Metadata:
    age: tuple[_AgeKey, ...]
    lastmodified: str  # as Go re-formats it: the MAC's additional data
    mac: str
    rules: _Rules
    mac_only_encrypted: bool

    @property
    def recipients(self) -> tuple[str, ...]:
        return tuple(key.recipient for key in self.age)


@dataclass
class _Leaf:
    """One scalar of the document, in document order."""

    keys: tuple[str, ...]  # the mapping keys leading to it: encryption rules and additional data
    shown: str  # for messages, with list indices: "data.items[0]"
    value: Any  # as sops (Go) sees it; for YAML this can differ from the Python value we return
    store: Callable[[Any], None]  # puts the decrypted value into the returned document


@dataclass
class _Parsed:
    document: dict[str, Any]
    leaves: list[_Leaf]
    metadata: Mapping[str, Any]


def recipients(content: bytes | str, file: str) -> tuple[str, ...]:
    """The age recipients a sops file is encrypted for, from its metadata (nothing is decrypted)."""
    parsed = _parse(content, file, _format_for(file, None))
    return _metadata(parsed.metadata, file).recipients


def unauthenticated_values(content: bytes | str, file: str, sections: Sequence[str] | None = None,
                           format: str | None = None) -> list[tuple[str, str]]:
    """Values no key protects, as (path, why), in document order; nothing is decrypted.

    Checked on the file as written, so it works without a key (an offline plan): a value is
    unauthenticated when it is empty or null (sops neither encrypts nor MACs those: anyone can add
    one), or when the file's encryption rules leave it in clear or it is not an ENC[...] value.
    `sections`: only values under these top-level keys (e.g. stringData, data); None: every value.
    """
    parsed = _parse(content, file, _format_for(file, format))
    meta = _metadata(parsed.metadata, file)
    found: list[tuple[str, str]] = []
    for leaf in parsed.leaves:
        if sections is not None and (leaf.keys[0] not in sections or len(leaf.keys) < 2):
            continue  # `stringData:` left empty holds no value; one that is not a mapping is the caller's to refuse
        if leaf.value is None or leaf.value == "":
            found.append((leaf.shown, "is empty; sops neither encrypts nor authenticates empty values, so anyone "
                                      "could have added it"))
        elif not meta.rules.encrypts(leaf.keys):
            found.append((leaf.shown, "is not encrypted (the file's encryption rules leave it in clear), so anyone "
                                      "could have changed it"))
        elif not (isinstance(leaf.value, str) and _ENC_RE.match(leaf.value)):
            found.append((leaf.shown, "is not encrypted (not a sops ENC[...] value), so anyone could have changed it"))
    return found


def decrypt(content: bytes | str, identities: Sequence[AgeIdentity], file: str,
            format: str | None = None) -> dict[str, Any]:
    """The plaintext document without its `sops` metadata, after checking the MAC."""
    parsed = _parse(content, file, _format_for(file, format))
    meta = _metadata(parsed.metadata, file)
    data_key = _open_data_key(meta, identities, file)
    digest = hashlib.sha512()
    if meta.mac_only_encrypted:
        digest.update(_MAC_ONLY_ENCRYPTED_SEED)
    for leaf in parsed.leaves:
        encrypted = meta.rules.encrypts(leaf.keys)
        value = leaf.value
        if value is None:  # sops skips nulls entirely: nothing to decrypt, nothing in the MAC
            continue
        if encrypted:
            value = _decrypt_leaf(leaf, data_key, file)
            leaf.store(value)
        if encrypted or not meta.mac_only_encrypted:
            digest.update(_mac_bytes(value, file, leaf.shown))
    _check_mac(meta, data_key, digest.hexdigest().upper(), file)
    return parsed.document


def _format_for(file: str, format: str | None) -> str:
    if format is None:
        return "dotenv" if file.endswith(".env") else "yaml"
    if format not in ("yaml", "dotenv"):
        raise SopsError(file, f"unsupported format {format!r} (expected 'yaml' or 'dotenv')")
    return format


def _parse(content: bytes | str, file: str, fmt: str) -> _Parsed:
    return _parse_dotenv(_text(content, file), file) if fmt == "dotenv" else _parse_yaml(content, file)


def _text(content: bytes | str, file: str) -> str:
    raw = content.encode("utf-8") if isinstance(content, str) else content
    if len(raw) > MAX_BYTES:
        raise SopsError(file, f"file is {len(raw)} bytes; the limit is {MAX_BYTES}")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SopsError(file, "not UTF-8 text") from None


def _metadata(raw: Mapping[str, Any], file: str) -> _Metadata:
    age = _age_keys(raw, file)
    rules = {name: raw.get(name) or "" for name in _RULE_KEYS}
    if not all(isinstance(rule, str) for rule in rules.values()):
        raise SopsError(file, "sops metadata: encryption rules must be strings")
    if sum(1 for rule in rules.values() if rule) > 1:
        raise SopsError(file, "sops metadata sets more than one encryption rule (sops refuses this too)")
    if rules["unencrypted_comment_regex"] or rules["encrypted_comment_regex"]:
        # The YAML parser drops comments, so we cannot tell which values such a rule covers.
        raise SopsError(file, "sops files with unencrypted_comment_regex/encrypted_comment_regex are not supported")
    for name in ("unencrypted_regex", "encrypted_regex"):
        if rules[name]:
            try:
                re.compile(rules[name])
            except re.error:
                raise SopsError(file, f"sops metadata: {name} is not a valid regular expression") from None
    if not any(rules.values()):
        rules["unencrypted_suffix"] = DEFAULT_UNENCRYPTED_SUFFIX  # what sops assumes (stores.go ToInternal)
    mac = raw.get("mac")
    if not isinstance(mac, str):
        raise SopsError(file, "sops metadata has no mac")
    return _Metadata(
        age=age,
        lastmodified=_go_rfc3339(raw.get("lastmodified"), file),
        mac=mac,
        rules=_Rules(rules["unencrypted_suffix"], rules["encrypted_suffix"],
                     rules["unencrypted_regex"], rules["encrypted_regex"]),
        mac_only_encrypted=_metadata_bool(raw.get("mac_only_encrypted"), file),
    )


def _age_keys(raw: Mapping[str, Any], file: str) -> tuple[_AgeKey, ...]:
    groups = raw.get("key_groups")
    top_level = any(raw.get(kind) for kind in ("age", *_OTHER_KEY_TYPES))
    if groups and not top_level:  # sops uses key_groups only when the top-level lists are empty
        if not isinstance(groups, list) or len(groups) != 1 or not isinstance(groups[0], Mapping):
            found = tuple(k.recipient for g in groups if isinstance(g, Mapping) for k in _age_list(g, file))
            raise SopsError(file, "sops key groups (Shamir secret sharing) are not supported", found)
        raw = groups[0]
    keys = _age_list(raw, file)
    if not keys:
        others = [kind for kind in _OTHER_KEY_TYPES if raw.get(kind)]
        if others:
            raise SopsError(file, f"the file has no age recipient (only {', '.join(others)}); only age is supported")
        raise SopsError(file, "the sops metadata lists no age recipient")
    return keys


def _age_list(raw: Mapping[str, Any], file: str) -> tuple[_AgeKey, ...]:
    entries = raw.get("age") or []
    if not isinstance(entries, list):
        raise SopsError(file, "sops metadata: age must be a list")
    keys = []
    for entry in entries:
        if not (isinstance(entry, Mapping) and isinstance(entry.get("recipient"), str)
                and isinstance(entry.get("enc"), str)):
            raise SopsError(file, "sops metadata: each age entry needs a recipient and an enc string")
        keys.append(_AgeKey(entry["recipient"], entry["enc"]))
    return tuple(keys)


_RFC3339_RE = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.\d+)?(Z|[+-]\d{2}:\d{2})")


def _go_rfc3339(value: Any, file: str) -> str:
    """lastmodified as sops re-formats it (time.Parse then Format(time.RFC3339)) for the MAC's AAD."""
    if isinstance(value, datetime) and value.tzinfo is not None:  # unquoted in YAML
        value = value.isoformat()
    match = _RFC3339_RE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise SopsError(file, "sops metadata: lastmodified is not an RFC 3339 time")
    stamp, zone = match.groups()
    # Go drops fractional seconds and writes a zero offset as "Z".
    return stamp + ("Z" if zone in ("Z", "+00:00", "-00:00") else zone)


def _metadata_bool(value: Any, file: str) -> bool:
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str) and value in _GO_BOOL_TEXT:  # dotenv metadata is all strings
        return _GO_BOOL_TEXT[value]
    raise SopsError(file, "sops metadata: mac_only_encrypted must be true or false")


# --- the data key and the MAC --------------------------------------------------------------------


def _open_data_key(meta: _Metadata, identities: Sequence[AgeIdentity], file: str) -> bytes:
    shown = tuple(_short_recipient(r) for r in meta.recipients)
    if not identities:
        raise SopsError(file, "no age identity given", shown)
    keys = [_pyrage_identity(identity) for identity in identities]
    for age_key in meta.age:  # every recipient's stanza against every identity, like sops
        try:
            data_key = pyrage.decrypt(age_key.enc.encode("utf-8"), keys)
        except pyrage.DecryptError:
            continue
        if len(data_key) != 32:
            raise SopsError(file, "the age-encrypted data key is not 32 bytes", shown)
        return data_key
    if all(_is_post_quantum(age_key) for age_key in meta.age):
        raise SopsError(file, _post_quantum_unsupported(), shown)
    raise SopsError(file, "none of the given age identities can decrypt this file", shown)


def _pyrage_identity(identity: AgeIdentity) -> pyrage.x25519.Identity:
    try:
        return pyrage.x25519.Identity.from_str(identity.secret)
    except pyrage.IdentityError:
        raise SopsError("<identities>", f"the identity for {identity.recipient} is not an age X25519 identity") from None


def _short_recipient(recipient: str) -> str:
    # Post-quantum recipients are ~1950 characters; a recognisable head and tail is enough.
    return recipient if len(recipient) <= 80 else f"{recipient[:20]}…{recipient[-8:]}"


def _is_post_quantum(age_key: _AgeKey) -> bool:
    if age_key.recipient.startswith(_PQ_RECIPIENT_PREFIX):
        return True
    # The recipient field is only a label; the age header names the real stanza types.
    body = "".join(line for line in age_key.enc.splitlines() if line and not line.startswith("-----"))
    try:
        header = base64.b64decode(body, validate=False)
    except (binascii.Error, ValueError):
        return False
    return b"\n-> mlkem768x25519 " in header.split(b"\n---", 1)[0]


def _check_mac(meta: _Metadata, data_key: bytes, computed: str, file: str) -> None:
    try:
        stored = _open_value(meta.mac, data_key, meta.lastmodified)
    except _ValueRefused:
        # Either the MAC or lastmodified (its additional data) was changed.
        raise SopsError(file, f"{_MAC_MISMATCH} (sops.mac or sops.lastmodified was changed)") from None
    if not isinstance(stored, str) or not hmac.compare_digest(stored.encode(), computed.encode()):
        raise SopsError(file, _MAC_MISMATCH)


# --- values --------------------------------------------------------------------------------------


class _ValueRefused(Exception):
    """A value that is not a sops value, or fails authentication; the caller names the path."""


_GO_BOOL_TEXT = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True,
                 "0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}
_GO_INT_TEXT = re.compile(r"[+-]?[0-9]+")
_GO_FLOAT_TEXT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?(?i:inf|infinity|nan)")


def _decrypt_leaf(leaf: _Leaf, data_key: bytes, file: str) -> Any:
    if not isinstance(leaf.value, str):
        raise SopsError(file, f"{leaf.shown}: value is not encrypted (only a sops ENC[...] value is allowed here)")
    try:
        return _open_value(leaf.value, data_key, ":".join(leaf.keys) + ":")
    except _ValueRefused as exc:
        raise SopsError(file, f"{leaf.shown}: {exc}") from None


def _open_value(text: str, data_key: bytes, additional_data: str) -> Any:
    """aes/cipher.go Decrypt: the typed plaintext of one ENC[...] value."""
    if text == "":
        return ""  # sops leaves empty strings unencrypted
    match = _ENC_RE.match(text)
    if match is None:
        raise _ValueRefused("value is not encrypted (only a sops ENC[...] value is allowed here)")
    try:
        data, iv, tag = (base64.b64decode(part, validate=True) for part in match.groups()[:3])
    except (binascii.Error, ValueError):
        raise _ValueRefused("value is not valid sops base64") from None
    value_type = match.group(4)
    if len(iv) < 8 or len(tag) != 16:
        raise _ValueRefused("value has a malformed IV or tag")
    try:
        plain = AESGCM(data_key).decrypt(iv, data + tag, additional_data.encode("utf-8"))
    except (InvalidTag, ValueError):  # ValueError: an IV length AES-GCM does not accept
        raise _ValueRefused("value cannot be decrypted: it, its key name or its position was changed, "
                            "or it comes from another file") from None
    return _typed(plain, value_type)


def _typed(plain: bytes, value_type: str) -> Any:
    if value_type == "bytes":
        return plain
    try:
        text = plain.decode("utf-8")
    except UnicodeDecodeError:
        raise _ValueRefused(f"decrypted {value_type} value is not UTF-8") from None
    if value_type in ("str", "comment"):
        return text
    if value_type in ("int", "int64") and _GO_INT_TEXT.fullmatch(text):
        return int(text)
    if value_type == "float" and _GO_FLOAT_TEXT.fullmatch(text):
        return float(text)
    if value_type == "bool" and text in _GO_BOOL_TEXT:
        return _GO_BOOL_TEXT[text]
    if value_type in ("int", "int64", "float", "bool"):
        raise _ValueRefused(f"decrypted value is not a valid {value_type}")
    raise _ValueRefused(f"unsupported sops value type {value_type!r}")


def _mac_bytes(value: Any, file: str, shown: str) -> bytes:
    """sops.go ToBytes: how each value type enters the MAC."""
    if isinstance(value, bool):  # before int: bool is an int in Python
        return b"True" if value else b"False"  # sops kept the Python version's spelling
    if isinstance(value, int):
        return str(value).encode()
    if isinstance(value, float):
        return _go_format_float(value).encode()
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    if isinstance(value, bytes):
        return value
    raise SopsError(file, f"{shown}: unsupported value type {type(value).__name__}")


def _go_format_float(value: float) -> str:
    """strconv.FormatFloat(v, 'f', -1, 64): shortest round-trip digits, never an exponent."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = format(Decimal(repr(value)), "f")  # repr is the shortest round-trip form, like Go's -1
    return text.rstrip("0").rstrip(".") if "." in text else text


def _seal_value(value: Any, data_key: bytes, additional_data: str) -> str:
    """aes/cipher.go Encrypt."""
    if value == "" and isinstance(value, str):
        return ""
    if isinstance(value, bool):
        value_type, plain = "bool", _mac_bytes(value, "", "")
    elif isinstance(value, int):
        value_type, plain = "int", str(value).encode()
    elif isinstance(value, float):
        value_type, plain = "float", _go_format_float(value).encode()
    else:
        value_type, plain = "str", value.encode("utf-8")
    iv = os.urandom(_IV_BYTES)
    sealed = AESGCM(data_key).encrypt(iv, plain, additional_data.encode("utf-8"))
    data, tag = sealed[:-16], sealed[-16:]
    return (f"ENC[AES256_GCM,data:{base64.b64encode(data).decode()},iv:{base64.b64encode(iv).decode()},"
            f"tag:{base64.b64encode(tag).decode()},type:{value_type}]")


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


def _go_plain_scalar(text: str) -> Any:
    if text in _GO_PLAIN_CONSTANTS:
        return _GO_PLAIN_CONSTANTS[text]
    if text.startswith("."):
        return _finite_or_text(text) if _GO_YAML_DOT_FLOAT.fullmatch(text) else text
    if text[0] not in "0123456789+-":
        return text
    plain = text.replace("_", "")
    if _GO_YAML_INT.fullmatch(plain):  # strconv.ParseInt(plain, 0, 64)
        sign = -1 if plain[0] == "-" else 1
        digits = plain.lstrip("+-")
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


def _parse_yaml(content: bytes | str, file: str) -> _Parsed:
    try:
        loaded = load_yaml(content, file)  # strict: duplicate keys, aliases, tags, size
    except ConfigError as exc:
        raise SopsError(file, "; ".join(_problem_text(p) for p in exc.problems)) from None
    if not isinstance(loaded.data, dict) or not isinstance(loaded.data.get("sops"), dict):
        raise SopsError(file, "not a sops file (no top-level `sops` metadata)")
    document = loaded.data
    raw_metadata = document.pop("sops")
    return _Parsed(document, _source_leaves(content, document, file), raw_metadata)


def _source_leaves(content: bytes | str, document: dict, file: str) -> list[_Leaf]:
    """Every scalar of `document` (loaded from `content`) with its source form, read again from the text;
    the top-level `sops` metadata is not a value."""
    loader = yaml.SafeLoader(content)
    try:
        root = loader.get_single_node()
    finally:
        loader.dispose()
    leaves: list[_Leaf] = []
    for key_node, value_node in root.value:
        if key_node.value != "sops":
            _collect(loader, value_node, document, key_node.value, (key_node.value,), key_node.value, leaves, file)
    return leaves


def _problem_text(problem: Any) -> str:
    return f"line {problem.line}: {problem.message}" if problem.line else problem.message


def _collect(loader: yaml.SafeLoader, node: yaml.Node, parent: Any, slot: str | int,
             keys: tuple[str, ...], shown: str, leaves: list[_Leaf], file: str) -> None:
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

        leaves.append(_Leaf(keys, shown, _go_scalar(loader, node, shown, file), store))


def _go_scalar(loader: yaml.SafeLoader, node: yaml.ScalarNode, shown: str, file: str) -> Any:
    implicit_tag = loader.resolve(yaml.ScalarNode, node.value, (True, False)) if node.style is None else _STR_TAG
    if node.tag != implicit_tag and node.tag != _STR_TAG:
        raise SopsError(file, f"{shown}: explicit YAML tag {node.tag} is not supported in a sops file")
    if node.style is None and node.tag == implicit_tag:
        return _go_plain_scalar(node.value)
    return node.value  # quoted, block or explicitly !!str: a string for both parsers


# --- dotenv --------------------------------------------------------------------------------------


def _parse_dotenv(text: str, file: str) -> _Parsed:
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
    leaves = [_Leaf((key,), key, value, lambda new, at=key: document.__setitem__(at, new))
              for key, value in document.items()]
    return _Parsed(document, leaves, metadata)


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


# --- encrypting ----------------------------------------------------------------------------------


def encrypt_yaml(document: dict, recipients: Sequence[str], encrypted_regex: str | None = "^(data|stringData)$",
                 now: datetime | None = None) -> str:
    """A sops YAML file for `recipients`, as `sops --encrypt --age ... [--encrypted-regex ...]` writes it."""
    return _encrypt_yaml(document, recipients, encrypted_regex, now)


def _encrypt_yaml(document: dict, recipients: Sequence[str], encrypted_regex: str | None,
                  now: datetime | None, mac_only_encrypted: bool = False) -> str:
    if encrypted_regex is not None:
        try:
            re.compile(encrypted_regex)
        except re.error:
            raise SopsError("<document>", "encrypted_regex is not a valid regular expression") from None
        rules = _Rules(encrypted_regex=encrypted_regex)
    else:
        rules = _Rules(unencrypted_suffix=DEFAULT_UNENCRYPTED_SUFFIX)  # sops's default without a rule
    return _write_yaml(document, recipients, rules, now, mac_only_encrypted)


def encrypt_dotenv(values: Mapping[str, str], recipients: Sequence[str], now: datetime | None = None) -> str:
    """A sops dotenv file for `recipients`, as `sops --encrypt --age ... x.env` writes it (every value a string;
    sops's default rule: keys ending in `_unencrypted` stay in clear)."""
    return _write_dotenv(values, recipients, _Rules(unencrypted_suffix=DEFAULT_UNENCRYPTED_SUFFIX), now, False)


def reencrypt(original: bytes | str, document: Mapping[str, Any], identities: Sequence[AgeIdentity], file: str, *,
              recipients: Sequence[str] | None = None, fresh_key: bool = False, format: str | None = None,
              now: datetime | None = None) -> str:
    """`document` written as the sops file `original` is: same format, encryption rules and mac_only_encrypted.

    The caller must be able to open `original` (its data key is checked with `identities` either way). With the
    same recipients and without `fresh_key`, the data key and its age stanzas are kept, as `sops edit` does;
    otherwise a new data key is encrypted for `recipients` (default: the original's), as `sops --rotate` and
    `sops updatekeys` do, so a removed recipient cannot open what is written from now on.
    """
    fmt = _format_for(file, format)
    meta = _metadata(_parse(original, file, fmt).metadata, file)
    data_key = _open_data_key(meta, identities, file)
    wanted = list(dict.fromkeys(recipients)) if recipients is not None else list(meta.recipients)
    keep = not fresh_key and wanted == list(meta.recipients)
    writer = _write_dotenv if fmt == "dotenv" else _write_yaml
    return writer(document, wanted, meta.rules, now, meta.mac_only_encrypted,
                  data_key if keep else None, meta.age if keep else None)


class _Sealer:
    """Encrypts values with one data key and hashes them into the MAC, in document order (sops.go Encrypt)."""

    def __init__(self, rules: _Rules, mac_only_encrypted: bool, data_key: bytes | None):
        self.rules = rules
        self.mac_only_encrypted = mac_only_encrypted
        self.data_key = data_key or os.urandom(32)
        self.digest = hashlib.sha512()
        if mac_only_encrypted:
            self.digest.update(_MAC_ONLY_ENCRYPTED_SEED)

    def seal(self, value: Any, keys: tuple[str, ...], shown: str) -> Any:
        if isinstance(value, dict):
            sealed: dict[str, Any] = {}
            for key, child in value.items():
                if not isinstance(key, str):
                    raise SopsError("<document>", f"{shown or '<root>'}: keys must be strings")
                sealed[key] = self.seal(child, (*keys, key), f"{shown}.{key}" if shown else key)
            return sealed
        if isinstance(value, list):
            return [self.seal(item, keys, f"{shown}[{index}]") for index, item in enumerate(value)]
        if value is None:
            return None
        _check_encryptable(value, shown)
        encrypted = self.rules.encrypts(keys)
        if encrypted or not self.mac_only_encrypted:
            self.digest.update(_mac_bytes(value, "<document>", shown))
        return _seal_value(value, self.data_key, ":".join(keys) + ":") if encrypted else value

    def metadata(self, recipients: Sequence[str], age_keys: Sequence[_AgeKey] | None,
                 now: datetime | None) -> dict[str, Any]:
        """sops metadata in the order sops 3.10 writes it."""
        if age_keys is None:
            age = [{"recipient": str(recipient), "enc": pyrage.encrypt(self.data_key, [recipient], armored=True).decode()}
                   for recipient in _age_recipients(recipients)]
        else:
            age = [{"recipient": key.recipient, "enc": key.enc} for key in age_keys]
        lastmodified = _utc_stamp(now)
        metadata: dict[str, Any] = {"age": age, "lastmodified": lastmodified,
                                    "mac": _seal_value(self.digest.hexdigest().upper(), self.data_key, lastmodified)}
        for name in ("unencrypted_suffix", "encrypted_suffix", "unencrypted_regex", "encrypted_regex"):
            if getattr(self.rules, name):
                metadata[name] = getattr(self.rules, name)
        if self.mac_only_encrypted:
            metadata["mac_only_encrypted"] = True
        metadata["version"] = SOPS_VERSION
        return metadata


def _write_yaml(document: Mapping[str, Any], recipients: Sequence[str], rules: _Rules, now: datetime | None,
                mac_only_encrypted: bool, data_key: bytes | None = None,
                age_keys: Sequence[_AgeKey] | None = None) -> str:
    where = "<document>"
    if not isinstance(document, dict):
        raise SopsError(where, "a sops YAML document must be a mapping")
    if "sops" in document:
        raise SopsError(where, "the document already has a top-level `sops` key")
    if age_keys is None:
        _age_recipients(recipients)  # refused before anything is encrypted
    sealer = _Sealer(rules, mac_only_encrypted, data_key)
    body = sealer.seal(document, (), "")
    metadata = sealer.metadata(recipients, age_keys, now)
    return yaml.dump({**body, "sops": metadata}, Dumper=_SopsDumper, sort_keys=False, allow_unicode=True,
                     default_flow_style=False, width=2**30)


def _write_dotenv(values: Mapping[str, Any], recipients: Sequence[str], rules: _Rules, now: datetime | None,
                  mac_only_encrypted: bool, data_key: bytes | None = None,
                  age_keys: Sequence[_AgeKey] | None = None) -> str:
    """stores/dotenv: KEY=VALUE lines in order, then the metadata flattened to sorted `sops_*` keys."""
    where = "<document>"
    if not isinstance(values, Mapping):
        raise SopsError(where, "a dotenv document is a mapping of names to strings")
    for key, value in values.items():
        if not isinstance(key, str) or not key or "=" in key or "\n" in key or key.startswith(("#", "sops_")):
            raise SopsError(where, f"{key!r} cannot be a dotenv key (no '=', newline, leading '#' or sops_ prefix)")
        if not isinstance(value, str):
            raise SopsError(where, f"{key}: dotenv values are strings")
        if "\\n" in value:
            raise SopsError(where, f"{key}: holds a backslash followed by 'n', which sops's dotenv format reads back "
                                   "as a newline")
    if age_keys is None:
        _age_recipients(recipients)
    sealer = _Sealer(rules, mac_only_encrypted, data_key)
    sealed = {key: sealer.seal(value, (key,), key) for key, value in values.items()}
    flat = _flatten(sealer.metadata(recipients, age_keys, now))
    return dotenv_text({**sealed, **{f"sops_{key}": flat[key] for key in sorted(flat)}})


def dotenv_text(values: Mapping[str, str]) -> str:
    """KEY=VALUE lines as sops's dotenv store writes them, encrypted or plain (`sops -d x.env`): a newline in a
    value becomes the two characters `\\n`, which its reader turns back into a newline
    (getsops/sops@v3.10.2 stores/dotenv/store.go:144 EmitPlainFile, :95 LoadPlainFile). Keys hold no newline
    (`_write_dotenv` and `plaintext_dotenv` refuse them)."""
    return "".join(key + "=" + value.replace("\n", "\\n") + "\n" for key, value in values.items())


def _flatten(node: Any, prefix: str = "") -> dict[str, str]:
    """stores/flatten.go FlattenMetadata, the inverse of `_unflatten`."""
    if isinstance(node, dict):
        out: dict[str, str] = {}
        for key, value in node.items():
            out.update(_flatten(value, f"{prefix}__map_{key}" if prefix else key))
        return out
    if isinstance(node, list):
        out = {}
        for index, value in enumerate(node):
            out.update(_flatten(value, f"{prefix}__list_{index}"))
        return out
    if isinstance(node, bool):
        return {prefix: "true" if node else "false"}
    return {prefix: str(node)}


# --- plaintext (before encrypting, and in `secrets edit`) ----------------------------------------


def is_encrypted(content: bytes | str) -> bool:
    """Whether a file carries sops metadata (YAML `sops:`, dotenv `sops_mac=`, JSON `"sops":`); nothing is parsed."""
    raw = content.encode("utf-8", "replace") if isinstance(content, str) else content
    return bool(re.search(rb"(?m)^(sops:[ \t]*$|sops_mac=|\s*\"sops\"\s*:)", raw))


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
    return yaml.dump(document, Dumper=_SopsDumper, sort_keys=False, allow_unicode=True, default_flow_style=False,
                     width=2**30)


def plaintext_dotenv(content: bytes | str, file: str) -> dict[str, str]:
    """KEY=VALUE lines as sops reads a dotenv file: `#` comments and empty lines skipped, values taken
    literally (no quotes removed), `\\n` read as a newline."""
    text = _text(content, file)
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


def plaintext_length(value: Any) -> int | None:
    """Bytes of plaintext in a sops ENC[...] value (AES-GCM adds none), read without a key; None otherwise."""
    match = _ENC_RE.match(value) if isinstance(value, str) else None
    if match is None:
        return None
    try:
        return len(base64.b64decode(match.group(1), validate=True))
    except (binascii.Error, ValueError):
        return None


def _age_recipients(recipients: Sequence[str]) -> list[pyrage.x25519.Recipient]:
    if isinstance(recipients, str) or not recipients:
        raise SopsError("<recipients>", "give at least one age recipient (a list of age1... strings)")
    parsed = []
    for index, recipient in enumerate(recipients, start=1):
        if recipient.startswith(_PQ_RECIPIENT_PREFIX):
            raise SopsError("<recipients>", f"recipient {index}: {_post_quantum_unsupported()}")
        try:
            parsed.append(pyrage.x25519.Recipient.from_str(recipient))
        except pyrage.RecipientError:
            raise SopsError("<recipients>", f"recipient {index} is not an age X25519 recipient (age1...)") from None
    return parsed


def _check_encryptable(value: Any, shown: str) -> None:
    """Only the types sops writes; anything else would not survive a round trip through sops."""
    if isinstance(value, bool) or isinstance(value, (str, float)):
        return
    if isinstance(value, int):
        if not -(2**63) <= value < 2**63:  # Go's int
            raise SopsError("<document>", f"{shown}: integer out of the 64-bit range sops supports")
        return
    raise SopsError("<document>", f"{shown}: unsupported value type {type(value).__name__} "
                                  "(sops supports str, int, float, bool, null, lists and mappings)")


def _utc_stamp(now: datetime | None) -> str:
    moment = now or datetime.now(timezone.utc)
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)  # a naive `now` is taken as UTC
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class _SopsDumper(yaml.SafeDumper):
    """YAML that both yaml.v3 (sops) and PyYAML read back to the same values, laid out like sops."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)  # "key:\n  - item" like yaml.v3, not "key:\n- item"


def _represent_str(dumper: _SopsDumper, value: str) -> yaml.ScalarNode:
    style = None
    if value == "":
        style = '"'  # yaml.v3 writes an empty string as ""
    elif "\n" in value:
        style = "|"  # the armored age files, like sops; the emitter falls back if it cannot
    elif (_go_plain_scalar(value) != value
          or dumper.resolve(yaml.ScalarNode, value, (True, False)) != _STR_TAG):
        style = '"'  # would read back as a non-string in either parser (e.g. 0o17, 1e3, yes, 2024-01-01)
    return dumper.represent_scalar(_STR_TAG, value, style=style)


_SopsDumper.add_representer(str, _represent_str)
