"""sops values: AES-256-GCM encryption of one value (aes/cipher.go), the MAC, and Go's typing of values."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import os
import re
from decimal import Decimal
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from minnova_idp.sops.errors import SopsError

_MAC_MISMATCH = "MAC mismatch: the file was changed after it was encrypted"
# sops seeds the hash with sha256("sops") when mac_only_encrypted is on, so that a MAC computed
# with the setting can never equal one computed without it (sops.go MACOnlyEncryptedInitialization).
MAC_ONLY_ENCRYPTED_SEED = hashlib.sha256(b"sops").digest()
ENC_RE = re.compile(r"^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]")  # as aes/cipher.go
_IV_BYTES = 32  # sops uses 32-byte GCM nonces, not the usual 12


def check_mac(mac: str, lastmodified: str, data_key: bytes, computed: str, file: str) -> None:
    """`computed` (uppercase hex SHA-512) against the stored MAC, which has `lastmodified` as additional data."""
    try:
        stored = open_value(mac, data_key, lastmodified)
    except ValueRefused:
        # Either the MAC or lastmodified (its additional data) was changed.
        raise SopsError(file, f"{_MAC_MISMATCH} (sops.mac or sops.lastmodified was changed)") from None
    if not isinstance(stored, str) or not hmac.compare_digest(stored.encode(), computed.encode()):
        raise SopsError(file, _MAC_MISMATCH)


# --- values --------------------------------------------------------------------------------------


class ValueRefused(Exception):
    """A value that is not a sops value, or fails authentication; the caller names the path."""


GO_BOOL_TEXT = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True,
                 "0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}
_GO_INT_TEXT = re.compile(r"[+-]?[0-9]+")
_GO_FLOAT_TEXT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?(?i:inf|infinity|nan)")


def open_value(text: str, data_key: bytes, additional_data: str) -> Any:
    """aes/cipher.go Decrypt: the typed plaintext of one ENC[...] value."""
    if text == "":
        return ""  # sops leaves empty strings unencrypted
    match = ENC_RE.match(text)
    if match is None:
        raise ValueRefused("value is not encrypted (only a sops ENC[...] value is allowed here)")
    try:
        data, iv, tag = (base64.b64decode(part, validate=True) for part in match.groups()[:3])
    except (binascii.Error, ValueError):
        raise ValueRefused("value is not valid sops base64") from None
    value_type = match.group(4)
    if len(iv) < 8 or len(tag) != 16:
        raise ValueRefused("value has a malformed IV or tag")
    try:
        plain = AESGCM(data_key).decrypt(iv, data + tag, additional_data.encode("utf-8"))
    except (InvalidTag, ValueError):  # ValueError: an IV length AES-GCM does not accept
        raise ValueRefused("value cannot be decrypted: it, its key name or its position was changed, "
                            "or it comes from another file") from None
    return _typed(plain, value_type)


def _typed(plain: bytes, value_type: str) -> Any:
    if value_type == "bytes":
        return plain
    try:
        text = plain.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueRefused(f"decrypted {value_type} value is not UTF-8") from None
    if value_type in ("str", "comment"):
        return text
    # Go's strconv.Atoi refuses what does not fit 64 bits; Python's int() would raise past 4300 digits.
    if value_type in ("int", "int64") and _GO_INT_TEXT.fullmatch(text) and len(text.lstrip("+-").lstrip("0")) < 20:
        return int(text)
    if value_type == "float" and _GO_FLOAT_TEXT.fullmatch(text):
        return float(text)
    if value_type == "bool" and text in GO_BOOL_TEXT:
        return GO_BOOL_TEXT[text]
    if value_type in ("int", "int64", "float", "bool"):
        raise ValueRefused(f"decrypted value is not a valid {value_type}")
    raise ValueRefused(f"unsupported sops value type {value_type!r}")


def mac_bytes(value: Any, file: str, shown: str) -> bytes:
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


def seal_value(value: Any, data_key: bytes, additional_data: str) -> str:
    """aes/cipher.go Encrypt."""
    if value == "" and isinstance(value, str):
        return ""
    if isinstance(value, bool):
        value_type, plain = "bool", mac_bytes(value, "", "")
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


def check_encryptable(value: Any, shown: str) -> None:
    """Only the types sops writes; anything else would not survive a round trip through sops."""
    if isinstance(value, bool) or isinstance(value, (str, float)):
        return
    if isinstance(value, int):
        if not -(2**63) <= value < 2**63:  # Go's int
            raise SopsError("<document>", f"{shown}: integer out of the 64-bit range sops supports")
        return
    raise SopsError("<document>", f"{shown}: unsupported value type {type(value).__name__} "
                                  "(sops supports str, int, float, bool, null, lists and mappings)")
