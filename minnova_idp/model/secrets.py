"""Decrypted app secrets as the renderer receives them, and how a secret value is shown wherever it is shown."""

from __future__ import annotations

from dataclasses import dataclass, field

SECRET_PLACEHOLDER = "[secret]"  # how a secret value is shown wherever it is shown at all (plans, renders)


@dataclass(frozen=True)
class SecretValues:
    """The decrypted values of one secrets file (repr hides them)."""

    source: str
    string_data: dict[str, str] = field(default_factory=dict, repr=False)
    data: dict[str, str] = field(default_factory=dict, repr=False)  # base64, as in a Secret's `data`
    decrypted: bool = True  # False in an offline plan without keys: the values are placeholders

    @property
    def keys(self) -> list[str]:
        return sorted({*self.string_data, *self.data})
