"""`minnova-idp status`: what a stack deploys, from its config and the registry alone."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from minnova_idp.cli.common import stack_arguments
from minnova_idp.cli.stacks import resolve_stack


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
    from minnova_idp.render.status import stack_status

    resolve_stack(args)
    project_dir = Path(args.project_dir).resolve()
    raw, secret_keys, file = from_stack_file(project_dir, args.stack)
    # Like the offline plan: no credentials, so app repos must be readable without them (or cached).
    progress = FetchProgress(sys.stderr)
    inputs = load_inputs(project_dir, raw, secret_keys, file,
                         cache_dir=Path(args.cache_dir) if args.cache_dir else None, auth=GitAuth(), progress=progress)
    progress.finish()
    rows = stack_status(inputs)
    if args.json:
        print(json.dumps({"ok": True, "stack": args.stack, "deployment": inputs.stack.settings.deployment,
                          "apps": structured(inputs, rows)}, indent=2))
    else:
        print(f"Stack {args.stack} (deployment {inputs.stack.settings.deployment}), from config and the registry:\n")
        print(table(rows) if rows else "no app is deployed by this stack")
    return 0


def structured(inputs, rows) -> list[dict]:
    """One object per app environment, values as data (no prose): the database as {size, instances, version,
    cluster}, the image as {repository, tag, tagSource}, storage as {bucket} (or null)."""
    apps = {app.name: app for app in inputs.apps}
    result = []
    for row in rows:
        config = apps[row.app].config
        database = None
        if config.database.enabled:
            database = {"size": str(config.database.size),
                        "instances": config.database_instances(row.environment),
                        "engine": "postgresql", "version": str(config.database.version),
                        "cluster": config.backup_name(row.environment)}
        storage = None
        if config.storage.enabled:  # its R2 bucket (docs/storage.md), as the stack's storageBuckets output records it
            from minnova_idp.model.names import storage_bucket

            storage = {"bucket": storage_bucket(inputs.stack.settings.deployment, row.app, row.environment)}
        result.append({"app": row.app, "environment": row.environment, "url": row.url,
                       "image": {"repository": row.image, "tag": row.tag, "tagSource": row.tag_source},
                       "database": database, "storage": storage, "previews": row.previews, "source": row.source})
    return result


def table(rows) -> str:
    """The status table within 80 columns (a block per app environment when the columns would not fit)."""
    from minnova_idp.cli.output import fit_table

    return fit_table(("APP", "ENV", "URL", "IMAGE:TAG", "DATABASE", "PREVIEWS"),
                     [(r.app, r.environment, r.url, f"{r.image}:{r.tag} ({r.tag_source})", r.database or "-",
                       "yes" if r.previews else "no") for r in rows])
