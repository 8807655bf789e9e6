"""Prints `stacks=<JSON list>` for GitHub Actions: the requested stack, or every Pulumi.<stack>.yaml.

The arguments are workflow_dispatch inputs, which anyone with Actions: write on this repository sets (app
repositories' GitHub App included): a stack must be one of this repository's, and the optional app label
a GitHub repository name, or the run stops. Neither changes what is deployed: main, as it is.
"""

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APP_LABEL = re.compile(r"[A-Za-z0-9._-]{1,100}")  # the requesting app repository's name


def main(requested: str, app: str = "") -> int:
    stacks = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in ROOT.glob("Pulumi.*.yaml"))
    if app and not APP_LABEL.fullmatch(app):
        print("app must be a repository name (letters, digits, '.', '_', '-'; at most 100)", file=sys.stderr)
        return 1
    if requested:
        if requested not in stacks:
            print(f"unknown stack {requested[:64]!r}; stacks: {', '.join(stacks)}", file=sys.stderr)
            return 1
        stacks = [requested]
    if app:
        print(f"deploy requested by app repository {app}", file=sys.stderr)
    print(f"stacks={json.dumps(stacks)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
