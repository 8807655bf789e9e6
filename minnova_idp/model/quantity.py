"""Kubernetes resource quantities ("5Gi", "250m", "1e3"), parsed as the API server does."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
            "k": Decimal("1e3"), "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"),
            "P": Decimal("1e15"), "E": Decimal("1e18")}
_QUANTITY = re.compile(r"^(?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+))(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$")
# Common spellings from other tools, mapped to what Kubernetes means by them.
_LOOKALIKES = {"KB": "k", "MB": "M", "GB": "G", "TB": "T", "KIB": "Ki", "MIB": "Mi", "GIB": "Gi", "TIB": "Ti",
               "K": "Ki", "KI": "Ki", "MI": "Mi", "GI": "Gi", "TI": "Ti", "G": "Gi", "T": "Ti"}


# Bounds checked on the text, before any arithmetic: `1e99999999` would overflow Decimal and a
# 100000-digit number would be accepted. Kubernetes itself caps quantities at 2^63-1.
MAX_CHARACTERS = 64
MAX_EXPONENT = 18  # `1e18` = `1E`, the largest suffix; beyond it only absurd values remain
MAX_VALUE = Decimal(2**63 - 1)


class QuantityError(ValueError):
    pass


def parse_quantity(text: str) -> Decimal:
    if not isinstance(text, str):
        raise QuantityError(f"{type(text).__name__} value is not a Kubernetes quantity; write it as a string "
                            "such as '5Gi'")
    if len(text) > MAX_CHARACTERS:
        raise QuantityError(f"a quantity of {len(text)} characters is not a Kubernetes quantity "
                            f"(the limit is {MAX_CHARACTERS}); examples: 512Mi, 5Gi, 250m, 2")
    match = _QUANTITY.fullmatch(text)
    if not match:
        raise QuantityError(f"'{text}' is not a Kubernetes quantity{_suggest(text)}")
    suffix = match["suffix"] or ""
    exponent = suffix and suffix not in _BINARY and suffix not in _DECIMAL  # 1e3, 5E-2
    if exponent and abs(int(suffix[1:])) > MAX_EXPONENT:
        raise QuantityError(f"'{text}': the exponent is out of range (at most e{MAX_EXPONENT}, at least "
                            f"e-{MAX_EXPONENT})")
    try:
        number = Decimal(match["number"])
    except InvalidOperation:  # pragma: no cover - the regex admits only decimals
        raise QuantityError(f"'{text}' is not a Kubernetes quantity") from None
    if suffix in _BINARY:
        value = number * _BINARY[suffix]
    elif suffix in _DECIMAL:
        value = number * _DECIMAL[suffix]
    else:
        value = number * (Decimal(10) ** int(suffix[1:]))
    if abs(value) > MAX_VALUE:
        raise QuantityError(f"'{text}' is larger than any Kubernetes quantity (at most 2^63-1, just under 8Ei)")
    return value


def _suggest(text: str) -> str:
    match = re.fullmatch(r"^(\d+(?:\.\d+)?)\s*([A-Za-z]+)$", text.strip())
    if match and match[2].upper() in _LOOKALIKES:
        binary = {"k": "Ki", "M": "Mi", "G": "Gi", "T": "Ti"}
        unit = _LOOKALIKES[match[2].upper()]
        unit = binary.get(unit, unit)
        return f"; did you mean '{match[1]}{unit}'? (binary units: Ki, Mi, Gi, Ti; decimal: k, M, G, T)"
    return "; examples: 512Mi, 5Gi, 250m, 2"
