"""The error every sops module raises: it names the file and never holds a value or a key."""

from __future__ import annotations

from collections.abc import Sequence


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
