"""`minnova-idp status`: what a stack deploys, from its config and the registry alone."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from minnova_idp.cli.common import stack_arguments


def register(commands) -> None:
    status = commands.add_parser(
        "status", help="list a stack's apps, environments, URLs, image tags and databases",
        description="What a stack deploys, from its config and the registry alone (no cluster, no credentials): "
                    "apps, environments, URLs, image tags and where each comes from, databases, previews.",
        epilog="examples:\n  minnova-idp status --stack prod\n  minnova-idp status --stack dev --json | jq '.apps[].url'",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    stack_arguments(status)
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from minnova_idp.load.git_auth import GitAuth
    from minnova_idp.load.inputs import load_inputs
    from minnova_idp.load.progress import FetchProgress
    from minnova_idp.load.stack import from_stack_file
    from minnova_idp.render.status import as_json, as_table, stack_status

    project_dir = Path(args.project_dir).resolve()
    raw, secret_keys, file = from_stack_file(project_dir, args.stack)
    # Like the offline plan: no credentials, so app repos must be readable without them (or cached).
    progress = FetchProgress(sys.stderr)
    inputs = load_inputs(project_dir, raw, secret_keys, file,
                         cache_dir=Path(args.cache_dir) if args.cache_dir else None, auth=GitAuth(), progress=progress)
    progress.finish()
    rows = stack_status(inputs)
    if args.json:
        print(json.dumps({"stack": args.stack, "deployment": inputs.stack.settings.deployment, "apps": as_json(rows)},
                         indent=2))
    else:
        print(f"Stack {args.stack} (deployment {inputs.stack.settings.deployment}), from config and the registry:\n")
        print(as_table(rows) if rows else "no app is deployed by this stack")
    return 0
