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


class QuantityError(ValueError):
    pass


def parse_quantity(text: str) -> Decimal:
    match = _QUANTITY.match(text)
    if not match:
        raise QuantityError(f"'{text}' is not a Kubernetes quantity{_suggest(text)}")
    try:
        number = Decimal(match["number"])
    except InvalidOperation:  # pragma: no cover - the regex admits only decimals
        raise QuantityError(f"'{text}' is not a Kubernetes quantity") from None
    suffix = match["suffix"] or ""
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * _DECIMAL[suffix]
    return number * (Decimal(10) ** int(suffix[1:]))


def _suggest(text: str) -> str:
    match = re.match(r"^(\d+(?:\.\d+)?)\s*([A-Za-z]+)$", text.strip())
    if match and match[2].upper() in _LOOKALIKES:
        binary = {"k": "Ki", "M": "Mi", "G": "Gi", "T": "Ti"}
        unit = _LOOKALIKES[match[2].upper()]
        unit = binary.get(unit, unit)
        return f"; did you mean '{match[1]}{unit}'? (binary units: Ki, Mi, Gi, Ti; decimal: k, M, G, T)"
    return "; examples: 512Mi, 5Gi, 250m, 2"
