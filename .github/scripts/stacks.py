"""Prints `stacks=<JSON list>` for GitHub Actions: the requested stack, or every Pulumi.<stack>.yaml."""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main(requested: str) -> int:
    stacks = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in ROOT.glob("Pulumi.*.yaml"))
    if requested:
        if requested not in stacks:
            print(f"unknown stack {requested!r}; stacks: {', '.join(stacks)}", file=sys.stderr)
            return 1
        stacks = [requested]
    print(f"stacks={json.dumps(stacks)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else ""))
