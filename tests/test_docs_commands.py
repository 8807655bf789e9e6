"""Every shell command in README.md and docs/ runs as written (issue 24 item 3).

Each page's blocks run in order, as a reader would run them, with `bash -e -o pipefail`: the infra repository's
blocks in a copy of this repository (git-initialised, `.venv` the suite's own virtualenv, `minnova-idp` NOT on PATH,
so a bare `minnova-idp` there fails as it would after the quick start), the app repository's blocks in a new git
repository where `minnova-idp` is on PATH (as pipx installs it). HOME is a fresh directory; $EDITOR types a value.
Blocks marked `# needs: …` are skipped, one visible SKIPPED line each (`pytest -rs`). tests/support/doc_commands.py
describes the markers.

The steps the pages give to a person rather than to a shell are done here the same way:
- "ask the platform team to publish the recipients": before an app block uses `minnova-idp secrets`, the infra copy
  runs `minnova-idp secrets publish <app> --out <app repo>/.minnova/recipients.yaml` (docs/app-developers.md step 2);
- a page about an app that already exists starts from that app's `init` (BEFORE).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import PROJECT_DIR
from tests.support.doc_commands import Block, every_block

pytestmark = pytest.mark.integration

BLOCKS = every_block()
RUNNABLE_PAGES = sorted({block.page for block in BLOCKS if block.needs is None})
NEEDING = [block for block in BLOCKS if block.needs]
BEFORE = {page: "minnova-idp init --name oracle --port 4000 --image ghcr.io/acme/oracle"  # the app they talk about
          for page in ("docs/secrets.md", "docs/cli.md")}
EDITOR = "#!/bin/sh\nprintf 'stringData:\\n  API_TOKEN: typed-in-the-editor\\n' > \"$1\"\n"
_IGNORED = shutil.ignore_patterns(".git", ".venv", "__pycache__", "plan-*", "*.egg-info", ".pgengine-venv",
                                  ".pytest_cache", ".ruff_cache")


class Workspace:
    """The two places a page's blocks run in, and the environment a reader has there."""

    def __init__(self, root: Path, page: str):
        self.root = root
        home = root / "home"
        home.mkdir()
        (home / ".gitconfig").write_text("[user]\n\tname = Reader\n\temail = reader@example.com\n"
                                         "[init]\n\tdefaultBranch = main\n[commit]\n\tgpgsign = false\n")
        editor = root / "editor.sh"
        editor.write_text(EDITOR)
        editor.chmod(0o755)
        shim = root / "pipx-bin"  # what `pipx install` puts on PATH: the command only
        shim.mkdir()
        (shim / "minnova-idp").symlink_to(Path(sys.prefix) / "bin" / "minnova-idp")
        path = [d for d in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep)
                if d and not (Path(d) / "minnova-idp").exists()]
        base = {key: value for key, value in os.environ.items()
                if not key.startswith(("SOPS_", "MINNOVA_", "PULUMI_", "GIT_")) and key not in ("EDITOR", "VISUAL")}
        base.update(HOME=str(home), EDITOR=str(editor), GIT_CONFIG_NOSYSTEM="1", NO_COLOR="1")
        self.env = {"infra": {**base, "PATH": os.pathsep.join(path)},
                    "app": {**base, "PATH": os.pathsep.join([str(shim), *path])}}

        self.infra = root / "infra"
        shutil.copytree(PROJECT_DIR, self.infra, ignore=_IGNORED, symlinks=True)
        (self.infra / ".venv").symlink_to(Path(sys.prefix))
        self.app = root / "oracle"  # beside the infra checkout, named after the app the pages use most
        self.app.mkdir()
        for repo in (self.infra, self.app):
            self._git(repo, "init", "-q")
            self._git(repo, "add", "-A")
            self._git(repo, "commit", "-q", "--allow-empty", "-m", "as cloned")
        if page in BEFORE:
            subprocess.run(["bash", "-e", "-c", BEFORE[page]], cwd=self.app, env=self.env["app"], check=True,
                           capture_output=True, timeout=120)

    def _git(self, cwd: Path, *args: str) -> None:
        subprocess.run(["git", *args], cwd=cwd, env=self.env["infra"], check=True, capture_output=True)

    def published_recipients(self) -> None:
        """The platform team's step before an app developer's first secret (docs/app-developers.md, step 2)."""
        app_yaml, recipients = self.app / ".minnova/app.yaml", self.app / ".minnova/recipients.yaml"
        if recipients.exists() or not app_yaml.exists():
            return
        name = yaml.safe_load(app_yaml.read_text())["name"]
        subprocess.run([".venv/bin/minnova-idp", "secrets", "publish", name, "--out", str(recipients)],
                       cwd=self.infra, env=self.env["infra"], check=True, capture_output=True, timeout=120)

    def run(self, block: Block) -> subprocess.CompletedProcess:
        # .venv is the suite's own virtualenv: a block that installs into it or makes one must be marked `needs`.
        assert not re.search(r"pip install|-m venv|pulumi install", block.script()), f"{block.name}: mark it needs"
        if block.where == "app" and "minnova-idp secrets" in block.text:
            self.published_recipients()
        cwd = self.app if block.where == "app" else self.infra
        return subprocess.run(["bash", "-e", "-o", "pipefail", "-c", block.script()], cwd=cwd,
                              env=self.env[block.where], capture_output=True, text=True, timeout=600,
                              stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("page", RUNNABLE_PAGES)
def test_every_command_of_the_page_runs_as_written(page, tmp_path):
    workspace = Workspace(tmp_path, page)
    ran = 0
    for block in (block for block in BLOCKS if block.page == page and block.needs is None):
        result = workspace.run(block)
        assert result.returncode == 0, (f"{block.name} ({block.where} repository) exited {result.returncode}:\n"
                                        f"{block.script()}\n--- stdout\n{result.stdout[-3000:]}\n"
                                        f"--- stderr\n{result.stderr[-3000:]}")
        ran += 1
    assert ran


@pytest.mark.parametrize("block", NEEDING, ids=[block.name for block in NEEDING])
def test_a_block_that_needs_what_this_machine_lacks_is_skipped_visibly(block):
    assert block.script().strip(), block.name
    pytest.skip(f"{block.name}: needs: {block.needs}")
