"""How every command reports: JSON on failure as on success (`--json`), and human text that fits 80 columns.

Imports only the standard library and model.errors: used at parser-build time.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import textwrap
from typing import Iterable, Sequence

from minnova_idp.model.errors import Problem

WIDTH = 80  # human output fits this, whatever the terminal: logs, CI and pasted issues are read at 80 columns


def problems_document(problems: Iterable[Problem]) -> dict:
    """The one JSON shape of a failure, for every command: {"ok": false, "problems": [{file, line, field, message,
    hint}]} (model/errors.py Problem's fields; absent ones are null)."""
    return {"ok": False, "problems": [{"file": p.file, "line": p.line, "field": p.field or None,
                                       "message": p.message, "hint": p.hint} for p in problems]}


def print_problems_json(problems: Iterable[Problem], stream=None) -> None:
    print(json.dumps(problems_document(problems), indent=2), file=stream or sys.stdout)


def wants_json(argv: Sequence[str]) -> bool:
    """Whether the command line asks for JSON (also before or without a successful parse)."""
    return "--json" in argv


def use_colour(stream=None) -> bool:
    """Colour only on a terminal and never with NO_COLOR set (https://no-color.org). No command colours today;
    anything that adds colour must ask this."""
    stream = stream or sys.stdout
    return "NO_COLOR" not in os.environ and hasattr(stream, "isatty") and stream.isatty()


def fit_table(header: Sequence[str], rows: Sequence[Sequence[str]], width: int = WIDTH) -> str:
    """Columns when they fit in `width`; otherwise one block per row, `FIELD: value` lines wrapped at `width`,
    so nothing is cut off (the JSON output carries every value unabridged too)."""
    lines = [tuple(header)] + [tuple(row) for row in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    table = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in lines]
    if max(len(line) for line in table) <= width:
        return "\n".join(table)
    label = max(len(name) for name in header) + 2
    blocks = []
    for row in rows:
        block = []
        for name, cell in zip(header, row):
            block.extend(textwrap.wrap(cell or "-", width=width, initial_indent=f"{name.lower() + ':':<{label}}",
                                       subsequent_indent=" " * label, break_on_hyphens=False) or [name.lower() + ":"])
        blocks.append("\n".join(block))
    return "\n\n".join(blocks)


def terminal_width() -> int:
    return min(WIDTH, shutil.get_terminal_size((WIDTH, 24)).columns)


def help_formatter():
    """An argparse formatter class: descriptions and examples kept as written, except that a line wider than the
    terminal (at most 80 columns) is wrapped, an example's `# comment` going on the line above it."""
    import argparse

    class Formatter(argparse.RawDescriptionHelpFormatter):
        def __init__(self, prog, **kwargs):
            kwargs.setdefault("width", terminal_width())
            super().__init__(prog, **kwargs)

        def _fill_text(self, text, width, indent):
            lines = []
            for line in text.splitlines():
                if len(indent + line) <= width:
                    lines.append(indent + line)
                    continue
                lead = line[:len(line) - len(line.lstrip())]
                command, _, comment = line.partition("  # ")
                if comment and len(indent + command.rstrip()) <= width:
                    lines.extend(textwrap.wrap(comment, width, initial_indent=indent + lead + "# ",
                                               subsequent_indent=indent + lead + "# "))
                    lines.append(indent + command.rstrip())
                else:
                    lines.extend(textwrap.wrap(line.strip(), width, initial_indent=indent + lead,
                                               subsequent_indent=indent + lead + ("  " if lead else ""),
                                               break_on_hyphens=False, break_long_words=False))
            return "\n".join(lines)

    return Formatter
