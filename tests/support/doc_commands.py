"""The shell commands of README.md and docs/: every fenced ```sh (or ```console, ```bash, ```shell) block.

A block's leading comment lines say where it runs and whether the docs test can run it (issue 24 item 3):
  # needs: <what>               the block needs something this machine does not have (the network, the Pulumi CLI
                                and a state backend, a cluster, ...): tests/test_docs_commands.py skips it and says
                                why; the reader sees the same line. The only way to leave a command untested.
  # in the app repository       runs in an app's repository, where `minnova-idp` is on PATH (installed with pipx,
                                docs/app-developers.md)
  # in the infra repository     runs in a copy of this repository, where the command is `.venv/bin/minnova-idp`
Without a place, a block runs where its page says (APP_PAGES: the app developers' pages; every other page: infra).
```console blocks hold `$ command` lines followed by output; only the commands run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import PROJECT_DIR

SHELL_LANGUAGES = ("sh", "console", "bash", "shell")
NEEDS = re.compile(r"^#\s*needs:\s*(?P<what>.+)$")
APP = "# in the app repository"
INFRA = "# in the infra repository"
# Pages written for someone with `minnova-idp` on PATH: the app developers' and the command reference.
APP_PAGES = {"docs/app-developers.md", "docs/app-yaml.md", "docs/cli.md"}
_FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.S | re.M)


@dataclass(frozen=True)
class Block:
    page: str  # relative to the project
    line: int  # of the opening fence
    language: str
    text: str  # as written (the indentation of a block inside a list removed)
    needs: str | None  # what it needs that the docs test does not have
    where: str  # "app" or "infra"

    @property
    def name(self) -> str:
        return f"{self.page}:{self.line}"

    def script(self) -> str:
        """The commands, exactly as the reader would paste them."""
        if self.language != "console":
            return self.text
        return "\n".join(line[2:] for line in self.text.splitlines() if line.startswith("$ "))


def pages(project: Path = PROJECT_DIR) -> list[Path]:
    return [project / "README.md", *sorted((project / "docs").rglob("*.md"))]


def blocks(page: Path, project: Path = PROJECT_DIR) -> list[Block]:
    text = page.read_text()
    relative = page.relative_to(project).as_posix()
    found = []
    for match in _FENCE.finditer(text):
        if match["lang"] not in SHELL_LANGUAGES:
            continue
        indent = len(match["indent"])
        body = "\n".join(line[indent:] for line in match["body"].splitlines())
        leading = [line.strip() for line in body.splitlines()]
        leading = leading[:next((i for i, line in enumerate(leading) if not line.startswith("#")), len(leading))]
        needs = next((m["what"].strip() for m in map(NEEDS.match, leading) if m), None)
        said = lambda marker: any(line.startswith(marker) for line in leading)  # noqa: E731 - "…, beside …" too
        where = "app" if said(APP) else "infra" if said(INFRA) else ("app" if relative in APP_PAGES else "infra")
        found.append(Block(relative, text.count("\n", 0, match.start()) + 1, match["lang"], body, needs, where))
    return found


def every_block(project: Path = PROJECT_DIR) -> list[Block]:
    return [block for page in pages(project) for block in blocks(page, project)]
