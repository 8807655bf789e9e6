"""Which stack a command works on: `-s/--stack`, else $PULUMI_STACK, else the stack `pulumi stack select` chose.

Pulumi's selection is read from its workspace settings file, without the Pulumi CLI. As pulumi/pulumi@1b5949891b
(pkg/v3.259.0+14) writes it:
  - pkg/workspace/workspace.go:182-184: the file is <PULUMI_HOME>/workspaces/<project name>-<sha1 hex of the
    Pulumi.yaml path>-workspace.json, where (workspace.go:93-94) the project name is Pulumi.yaml's `name` and the
    path is the absolute path of the Pulumi.yaml file itself;
  - pkg/workspace/settings.go:23,26: JSON {"stack": legacy selection, "stacks": {backend URL: stack}};
    StackForBackend (settings.go:35-40) prefers stacks[backend], falling back to "stack";
  - sdk/go/common/util/pulumihome/pulumihome.go:31: PULUMI_HOME, else ~/.pulumi.
The backend URL is $PULUMI_BACKEND_URL, else the "current" of <PULUMI_HOME>/credentials.json (`pulumi login`). When
neither names a backend in "stacks", a selection is used only if every backend selected the same stack. A selected
name may be fully qualified (org/project/stack): the stack file is Pulumi.<last part>.yaml.

Imports only the standard library and model.errors: built at parser-build time.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from pathlib import Path

from minnova_idp.model.errors import ConfigError, Problem


def add_stack_option(parser: argparse.ArgumentParser, help_text: str, *, action: str | None = None) -> None:
    """`-s/--stack`, optional on the command line: `resolve_stack` supplies the default and refuses an unknown one."""
    kwargs = {"action": action} if action else {}
    parser.add_argument("-s", "--stack", help=help_text, **kwargs)


def pulumi_home(environ=os.environ) -> Path:
    return Path(environ.get("PULUMI_HOME") or Path.home() / ".pulumi")


def workspace_file(project_dir: Path, environ=os.environ) -> Path | None:
    """Pulumi's workspace settings file of the project in `project_dir` (None without a Pulumi.yaml name)."""
    project_file = project_dir.resolve() / "Pulumi.yaml"
    name = _project_name(project_file)
    if name is None:
        return None
    digest = hashlib.sha1(str(project_file).encode()).hexdigest()  # noqa: S324 - Pulumi's file naming, not security
    return pulumi_home(environ) / "workspaces" / f"{name}-{digest}-workspace.json"


def selected_stack(project_dir: Path, environ=os.environ) -> str | None:
    """The stack `pulumi stack select` recorded for this project, or None (no file, unreadable, ambiguous)."""
    path = workspace_file(project_dir, environ)
    if path is None:
        return None
    try:
        settings = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(settings, dict):
        return None
    stacks = settings.get("stacks") if isinstance(settings.get("stacks"), dict) else {}
    backend = environ.get("PULUMI_BACKEND_URL") or _current_backend(environ)
    chosen = stacks.get(backend) if backend else None
    if not chosen:
        names = {value for value in stacks.values() if isinstance(value, str) and value}
        chosen = names.pop() if len(names) == 1 else None
    if not chosen and not stacks and isinstance(settings.get("stack"), str):
        chosen = settings["stack"]
    return chosen.rsplit("/", 1)[-1] if isinstance(chosen, str) and chosen else None


def resolve_stack(args: argparse.Namespace, *, required: bool = True, environ=os.environ) -> str | None:
    """The stack name for `args` (-s/--stack, $PULUMI_STACK, Pulumi's selection), which must have a stack file in
    --project-dir. Sets args.stack. Without any and `required`, an error naming --stack."""
    project_dir = Path(getattr(args, "project_dir", None) or ".")
    stack = args.stack or environ.get("PULUMI_STACK") or None
    origin = "--stack" if args.stack else "PULUMI_STACK"
    if stack is None and required:
        stack = selected_stack(project_dir, environ)
        origin = "the stack selected with `pulumi stack select`"
    if stack is None:
        if not required:
            return None
        known = _stacks_hint(project_dir, "")
        raise ConfigError([Problem("--stack", message="no stack given, and none selected",
                                   hint="pass -s/--stack STACK" + (f" ({known})" if known else "") +
                                        ", set PULUMI_STACK, or run `pulumi stack select STACK`")])
    check_known(project_dir, stack, origin)
    args.stack = stack
    return stack


def check_known(project_dir: Path, stack: str, origin: str = "--stack") -> None:
    path = project_dir / f"Pulumi.{stack}.yaml"
    # Anything by that name counts as known: the stack file loader then refuses a FIFO, link or directory itself.
    if "/" in stack or stack.startswith(".") or not (path.exists() or path.is_symlink()):
        raise ConfigError([Problem("--stack", message=f"unknown stack '{stack}' (from {origin}): no "
                                   f"Pulumi.{stack}.yaml in {project_dir.resolve()}",
                                   hint=_stacks_hint(project_dir, "run it in the infra repository or pass "
                                                                  "--project-dir"))])


def _stacks_hint(project_dir: Path, fallback: str) -> str:
    names = sorted(path.name[len("Pulumi."):-len(".yaml")] for path in project_dir.glob("Pulumi.*.yaml"))
    return f"stacks here: {', '.join(names)}" if names else fallback


def _project_name(project_file: Path) -> str | None:
    """Pulumi.yaml's top-level `name:` (read by line: this module must not import YAML at parser-build time)."""
    try:
        text = project_file.read_text(encoding="utf-8")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("name:"):
            value = line[len("name:"):].split(" #", 1)[0].strip().strip("'\"")
            return value or None
    return None


def _current_backend(environ) -> str | None:
    try:
        credentials = json.loads((pulumi_home(environ) / "credentials.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    current = credentials.get("current") if isinstance(credentials, dict) else None
    return current if isinstance(current, str) else None
