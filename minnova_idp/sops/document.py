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

This module is the public API; the work is split by concern: `identities` (age, through pyrage),
`cipher` (one value's encryption, the MAC, Go's value types), `formats` (YAML and dotenv as sops
reads and writes them) and `rules` (which values a file encrypts, with Go's regexp semantics).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import yaml

from minnova_idp.sops.cipher import (
    ENC_RE,
    GO_BOOL_TEXT,
    MAC_ONLY_ENCRYPTED_SEED,
    ValueRefused,
    check_encryptable,
    check_mac,
    mac_bytes,
    open_value,
    seal_value,
)
from minnova_idp.sops.errors import SopsError
from minnova_idp.sops.formats import (
    Leaf,
    SopsDumper,
    dotenv_text,
    dump_plaintext_yaml,
    flatten,
    format_for,
    parse,
    plaintext_dotenv,
    plaintext_yaml,
)
from minnova_idp.sops.identities import (
    MAX_KEY_FILE_BYTES,
    AgeIdentity,
    AgeKey,
    age_recipients,
    generate_identity,
    identities_from_environment,
    open_data_key,
    parse_identities,
    seal_data_key,
)
from minnova_idp.sops.rules import RegexRefused, Rules

__all__ = [
    "MAX_KEY_FILE_BYTES",
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
_RULE_KEYS = ("unencrypted_suffix", "encrypted_suffix", "unencrypted_regex", "encrypted_regex",
              "unencrypted_comment_regex", "encrypted_comment_regex")
_OTHER_KEY_TYPES = ("pgp", "kms", "gcp_kms", "azure_kv", "hc_vault")


@dataclass(frozen=True)
class _Metadata:
    age: tuple[AgeKey, ...]
    lastmodified: str  # as Go re-formats it: the MAC's additional data
    mac: str
    rules: Rules
    mac_only_encrypted: bool

    @property
    def recipients(self) -> tuple[str, ...]:
        return tuple(key.recipient for key in self.age)



def recipients(content: bytes | str, file: str) -> tuple[str, ...]:
    """The age recipients a sops file is encrypted for, from its metadata (nothing is decrypted)."""
    parsed = parse(content, file, format_for(file, None))
    return _metadata(parsed.metadata, file).recipients


def unauthenticated_values(content: bytes | str, file: str, sections: Sequence[str] | None = None,
                           format: str | None = None) -> list[tuple[str, str]]:
    """Values no key protects, as (path, why), in document order; nothing is decrypted.

    Checked on the file as written, so it works without a key (an offline plan): a value is
    unauthenticated when it is empty or null (sops neither encrypts nor MACs those: anyone can add
    one), or when the file's encryption rules leave it in clear or it is not an ENC[...] value.
    `sections`: only values under these top-level keys (e.g. stringData, data); None: every value.
    """
    parsed = parse(content, file, format_for(file, format))
    meta = _metadata(parsed.metadata, file)
    found: list[tuple[str, str]] = []
    for leaf in parsed.leaves:
        if sections is not None and (leaf.keys[0] not in sections or len(leaf.keys) < 2):
            continue  # `stringData:` left empty holds no value; one that is not a mapping is the caller's to refuse
        if leaf.value is None or leaf.value == "":
            found.append((leaf.shown, "is empty; sops neither encrypts nor authenticates empty values, so anyone "
                                      "could have added it"))
        elif not _encrypts(meta.rules, leaf.keys, file):
            found.append((leaf.shown, "is not encrypted (the file's encryption rules leave it in clear), so anyone "
                                      "could have changed it"))
        elif not (isinstance(leaf.value, str) and ENC_RE.match(leaf.value)):
            found.append((leaf.shown, "is not encrypted (not a sops ENC[...] value), so anyone could have changed it"))
    return found


def decrypt(content: bytes | str, identities: Sequence[AgeIdentity], file: str,
            format: str | None = None) -> dict[str, Any]:
    """The plaintext document without its `sops` metadata, after checking the MAC."""
    parsed = parse(content, file, format_for(file, format))
    meta = _metadata(parsed.metadata, file)
    data_key = open_data_key(meta.age, identities, file)
    digest = hashlib.sha512()
    if meta.mac_only_encrypted:
        digest.update(MAC_ONLY_ENCRYPTED_SEED)
    for leaf in parsed.leaves:
        encrypted = _encrypts(meta.rules, leaf.keys, file)
        value = leaf.value
        if value is None:  # sops skips nulls entirely: nothing to decrypt, nothing in the MAC
            continue
        if encrypted:
            value = _decrypt_leaf(leaf, data_key, file)
            leaf.store(value)
        if encrypted or not meta.mac_only_encrypted:
            digest.update(mac_bytes(value, file, leaf.shown))
    check_mac(meta.mac, meta.lastmodified, data_key, digest.hexdigest().upper(), file)
    return parsed.document


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
    if not any(rules.values()):
        rules["unencrypted_suffix"] = DEFAULT_UNENCRYPTED_SUFFIX  # what sops assumes (stores.go ToInternal)
    mac = raw.get("mac")
    if not isinstance(mac, str):
        raise SopsError(file, "sops metadata has no mac")
    return _Metadata(
        age=age,
        lastmodified=_go_rfc3339(raw.get("lastmodified"), file),
        mac=mac,
        rules=_rules(rules, file),
        mac_only_encrypted=_metadata_bool(raw.get("mac_only_encrypted"), file),
    )


def _encrypts(rules: Rules, keys: Sequence[str], file: str) -> bool:
    try:
        return rules.encrypts(keys)
    except RegexRefused as exc:  # the step bound: many or long keys against a costly expression
        raise SopsError(file, str(exc)) from None


def _rules(rules: Mapping[str, str], file: str) -> Rules:
    try:
        return Rules(rules["unencrypted_suffix"], rules["encrypted_suffix"], rules["unencrypted_regex"],
                     rules["encrypted_regex"])
    except RegexRefused as exc:  # the regexes come from the file: refused before any value is matched
        raise SopsError(file, str(exc)) from None


def _age_keys(raw: Mapping[str, Any], file: str) -> tuple[AgeKey, ...]:
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


def _age_list(raw: Mapping[str, Any], file: str) -> tuple[AgeKey, ...]:
    entries = raw.get("age") or []
    if not isinstance(entries, list):
        raise SopsError(file, "sops metadata: age must be a list")
    keys = []
    for entry in entries:
        if not (isinstance(entry, Mapping) and isinstance(entry.get("recipient"), str)
                and isinstance(entry.get("enc"), str)):
            raise SopsError(file, "sops metadata: each age entry needs a recipient and an enc string")
        keys.append(AgeKey(entry["recipient"], entry["enc"]))
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
    if isinstance(value, str) and value in GO_BOOL_TEXT:  # dotenv metadata is all strings
        return GO_BOOL_TEXT[value]
    raise SopsError(file, "sops metadata: mac_only_encrypted must be true or false")



def _decrypt_leaf(leaf: Leaf, data_key: bytes, file: str) -> Any:
    if not isinstance(leaf.value, str):
        raise SopsError(file, f"{leaf.shown}: value is not encrypted (only a sops ENC[...] value is allowed here)")
    try:
        return open_value(leaf.value, data_key, ":".join(leaf.keys) + ":")
    except ValueRefused as exc:
        raise SopsError(file, f"{leaf.shown}: {exc}") from None


# --- encrypting ----------------------------------------------------------------------------------


def encrypt_yaml(document: dict, recipients: Sequence[str], encrypted_regex: str | None = "^(data|stringData)$",
                 now: datetime | None = None) -> str:
    """A sops YAML file for `recipients`, as `sops --encrypt --age ... [--encrypted-regex ...]` writes it."""
    return _encrypt_yaml(document, recipients, encrypted_regex, now)


def _encrypt_yaml(document: dict, recipients: Sequence[str], encrypted_regex: str | None,
                  now: datetime | None, mac_only_encrypted: bool = False) -> str:
    if encrypted_regex is not None:
        try:
            rules = Rules(encrypted_regex=encrypted_regex)
        except RegexRefused as exc:
            raise SopsError("<document>", str(exc)) from None
    else:
        rules = Rules(unencrypted_suffix=DEFAULT_UNENCRYPTED_SUFFIX)  # sops's default without a rule
    return _write_yaml(document, recipients, rules, now, mac_only_encrypted)


def encrypt_dotenv(values: Mapping[str, str], recipients: Sequence[str], now: datetime | None = None) -> str:
    """A sops dotenv file for `recipients`, as `sops --encrypt --age ... x.env` writes it (every value a string;
    sops's default rule: keys ending in `_unencrypted` stay in clear)."""
    return _write_dotenv(values, recipients, Rules(unencrypted_suffix=DEFAULT_UNENCRYPTED_SUFFIX), now, False)


def reencrypt(original: bytes | str, document: Mapping[str, Any], identities: Sequence[AgeIdentity], file: str, *,
              recipients: Sequence[str] | None = None, fresh_key: bool = False, format: str | None = None,
              now: datetime | None = None) -> str:
    """`document` written as the sops file `original` is: same format, encryption rules and mac_only_encrypted.

    The caller must be able to open `original` (its data key is checked with `identities` either way). With the
    same recipients and without `fresh_key`, the data key and its age stanzas are kept, as `sops edit` does;
    otherwise a new data key is encrypted for `recipients` (default: the original's), as `sops --rotate` and
    `sops updatekeys` do, so a removed recipient cannot open what is written from now on.
    """
    fmt = format_for(file, format)
    meta = _metadata(parse(original, file, fmt).metadata, file)
    data_key = open_data_key(meta.age, identities, file)
    wanted = list(dict.fromkeys(recipients)) if recipients is not None else list(meta.recipients)
    keep = not fresh_key and wanted == list(meta.recipients)
    writer = _write_dotenv if fmt == "dotenv" else _write_yaml
    return writer(document, wanted, meta.rules, now, meta.mac_only_encrypted,
                  data_key if keep else None, meta.age if keep else None)


class _Sealer:
    """Encrypts values with one data key and hashes them into the MAC, in document order (sops.go Encrypt)."""

    def __init__(self, rules: Rules, mac_only_encrypted: bool, data_key: bytes | None):
        self.rules = rules
        self.mac_only_encrypted = mac_only_encrypted
        self.data_key = data_key or os.urandom(32)
        self.digest = hashlib.sha512()
        if mac_only_encrypted:
            self.digest.update(MAC_ONLY_ENCRYPTED_SEED)

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
        check_encryptable(value, shown)
        encrypted = _encrypts(self.rules, keys, "<document>")
        if encrypted or not self.mac_only_encrypted:
            self.digest.update(mac_bytes(value, "<document>", shown))
        return seal_value(value, self.data_key, ":".join(keys) + ":") if encrypted else value

    def metadata(self, recipients: Sequence[str], age_keys: Sequence[AgeKey] | None,
                 now: datetime | None) -> dict[str, Any]:
        """sops metadata in the order sops 3.10 writes it."""
        if age_keys is None:
            age = seal_data_key(self.data_key, recipients)
        else:
            age = [{"recipient": key.recipient, "enc": key.enc} for key in age_keys]
        lastmodified = _utc_stamp(now)
        metadata: dict[str, Any] = {"age": age, "lastmodified": lastmodified,
                                    "mac": seal_value(self.digest.hexdigest().upper(), self.data_key, lastmodified)}
        for name in ("unencrypted_suffix", "encrypted_suffix", "unencrypted_regex", "encrypted_regex"):
            if getattr(self.rules, name):
                metadata[name] = getattr(self.rules, name)
        if self.mac_only_encrypted:
            metadata["mac_only_encrypted"] = True
        metadata["version"] = SOPS_VERSION
        return metadata


def _write_yaml(document: Mapping[str, Any], recipients: Sequence[str], rules: Rules, now: datetime | None,
                mac_only_encrypted: bool, data_key: bytes | None = None,
                age_keys: Sequence[AgeKey] | None = None) -> str:
    where = "<document>"
    if not isinstance(document, dict):
        raise SopsError(where, "a sops YAML document must be a mapping")
    if "sops" in document:
        raise SopsError(where, "the document already has a top-level `sops` key")
    if age_keys is None:
        age_recipients(recipients)  # refused before anything is encrypted
    sealer = _Sealer(rules, mac_only_encrypted, data_key)
    body = sealer.seal(document, (), "")
    metadata = sealer.metadata(recipients, age_keys, now)
    return yaml.dump({**body, "sops": metadata}, Dumper=SopsDumper, sort_keys=False, allow_unicode=True,
                     default_flow_style=False, width=2**30)


def _write_dotenv(values: Mapping[str, Any], recipients: Sequence[str], rules: Rules, now: datetime | None,
                  mac_only_encrypted: bool, data_key: bytes | None = None,
                  age_keys: Sequence[AgeKey] | None = None) -> str:
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
        age_recipients(recipients)
    sealer = _Sealer(rules, mac_only_encrypted, data_key)
    sealed = {key: sealer.seal(value, (key,), key) for key, value in values.items()}
    flat = flatten(sealer.metadata(recipients, age_keys, now))
    return dotenv_text({**sealed, **{f"sops_{key}": flat[key] for key in sorted(flat)}})


# --- plaintext (before encrypting, and in `secrets edit`) ----------------------------------------


def is_encrypted(content: bytes | str) -> bool:
    """Whether a file carries sops metadata (YAML `sops:`, dotenv `sops_mac=`, JSON `"sops":`); nothing is parsed."""
    raw = content.encode("utf-8", "replace") if isinstance(content, str) else content
    return bool(re.search(rb"(?m)^(sops:[ \t]*$|sops_mac=|\s*\"sops\"\s*:)", raw))


def plaintext_length(value: Any) -> int | None:
    """Bytes of plaintext in a sops ENC[...] value (AES-GCM adds none), read without a key; None otherwise."""
    match = ENC_RE.match(value) if isinstance(value, str) else None
    if match is None:
        return None
    try:
        return len(base64.b64decode(match.group(1), validate=True))
    except (binascii.Error, ValueError):
        return None


def _utc_stamp(now: datetime | None) -> str:
    moment = now or datetime.now(timezone.utc)
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)  # a naive `now` is taken as UTC
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

