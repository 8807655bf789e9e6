"""Errors a user can act on: each names the file, the field and, where obvious, the fix."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable


@dataclass(frozen=True)
class Problem:
    file: str
    field: str = ""
    message: str = ""
    line: int | None = None
    hint: str | None = None

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        text = f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        return f"{text} (hint: {self.hint})" if self.hint else text


class ConfigError(Exception):
    """One or more problems in the inputs; the run must stop before registering anything."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = list(problems)
        super().__init__(self.render())

    def render(self, header: str | None = None) -> str:
        count = len(self.problems)
        header = header or f"{count} problem{'s' if count != 1 else ''} found:"
        return "\n".join([header, *(f"  - {p}" for p in self.problems)])


def raise_if_any(problems: Iterable[Problem]) -> None:
    problems = list(problems)
    if problems:
        raise ConfigError(problems)
