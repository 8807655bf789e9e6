"""The error every sops module raises: it names the file and never holds a value or a key."""

from __future__ import annotations

from collections.abc import Sequence

from minnova_idp.model.errors import ConfigError, Problem


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
