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
    status.add_argument("--previous-outputs", metavar="FILE",
                        help="the stack's outputs from its last update (`pulumi stack output --json`): an app whose "
                             "own config fails is shown with the last good config it keeps running")
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from minnova_idp.cli.previous_outputs import read_previous_outputs
    from minnova_idp.load.git_auth import GitAuth
    from minnova_idp.load.inputs import Isolation, load_inputs
    from minnova_idp.load.progress import FetchProgress
    from minnova_idp.load.stack import from_stack_file
    from minnova_idp.render.status import stack_status

    resolve_stack(args)
    project_dir = Path(args.project_dir).resolve()
    raw, secret_keys, file = from_stack_file(project_dir, args.stack)
    previous = read_previous_outputs(args.previous_outputs) if args.previous_outputs else None
    # Like the offline plan: no credentials, so app repos must be readable without them (or cached). An app whose
    # own inputs fail is shown at the last good config it keeps (ADR 0004), or named as not added.
    progress = FetchProgress(sys.stderr)
    inputs = load_inputs(project_dir, raw, secret_keys, file,
                         cache_dir=Path(args.cache_dir) if args.cache_dir else None, auth=GitAuth(), progress=progress,
                         isolation=Isolation(previous or {}, known=previous is not None))
    progress.finish()
    rows = stack_status(inputs)
    if args.json:
        print(json.dumps({"ok": True, "stack": args.stack, "deployment": inputs.stack.settings.deployment,
                          "apps": structured(inputs, rows), "degraded": degraded_json(inputs)}, indent=2))
    else:
        print(f"Stack {args.stack} (deployment {inputs.stack.settings.deployment}), from config and the registry:\n")
        print(table(rows, frozenset(inputs.degraded)) if rows else "no app is deployed by this stack")
        internal = internal_lines(inputs, rows)
        if internal:
            print("\nINTERNAL SERVICES (no public host; callers: the registry's allowFrom):")
            print("\n".join(internal))
        if inputs.degraded:
            print(f"\nDEGRADED ({len(inputs.degraded)}): these apps' own inputs fail; every other app is shown as "
                  "configured")
            for name, degraded in sorted(inputs.degraded.items()):
                print(f"  {name}: {degraded.keeps}")
                for problem in degraded.problems:
                    print(f"    - {problem}")
    return 0


def degraded_json(inputs) -> list[dict]:
    """Each app whose own inputs failed: what it keeps running and its problems as objects."""
    return [{"app": name, "keeps": degraded.keeps, "kept": degraded.kept is not None,
             "commit": degraded.kept.commit if degraded.kept else None,
             "problems": [{"file": p.file, "line": p.line, "field": p.field, "message": p.message, "hint": p.hint}
                          for p in degraded.problems]}
            for name, degraded in sorted(inputs.degraded.items())]


def structured(inputs, rows) -> list[dict]:
    """One object per app environment, values as data (no prose): the database (and `mongodb`) as {size,
    instances, engine, version, cluster}, the image as {repository, tag, tagSource}, storage as {bucket} (or null),
    aliases as [{url, redirect}]."""
    apps = {app.name: app for app in inputs.apps}
    index = caller_index(inputs)
    result = []
    for row in rows:
        config = apps[row.app].config
        database = None
        if config.database.enabled:
            database = {"size": str(config.database.size),
                        "instances": config.database_instances(row.environment),
                        "engine": "postgresql", "version": str(config.database.version),
                        "cluster": config.backup_name(row.environment)}
        mongodb = None
        if config.mongodb.enabled:  # docs/mongodb.md
            mongodb = {"size": str(config.mongodb.size), "instances": config.mongodb_instances(row.environment),
                       "engine": "mongodb", "version": config.mongodb.version,
                       "cluster": config.mongodb_cluster(row.environment)}
        mysql = None
        if config.mysql.enabled:  # its MariaDB (docs/mysql.md), as the stack's mysql* outputs record it
            from minnova_idp.model.mysql import mysql_instances, mysql_server

            mysql = {"size": str(config.mysql.size), "instances": mysql_instances(config, row.environment),
                     "engine": "mariadb", "version": config.mysql.version, "server": mysql_server(row.app)}
        storage = None
        if config.storage.enabled:  # its R2 bucket (docs/storage.md), as the stack's storageBuckets output records it
            from minnova_idp.model.names import storage_bucket

            storage = {"bucket": storage_bucket(inputs.stack.settings.deployment, row.app, row.environment)}
        result.append({"app": row.app, "environment": row.environment, "url": row.url,
                       "aliases": list(row.aliases),  # [{url, redirect}]: environments.<env>.aliases
                       "image": {"repository": row.image, "tag": row.tag, "tagSource": row.tag_source},
                       "database": database, "mysql": mysql, "mongodb": mongodb, "storage": storage,
                       "previews": row.previews, "source": row.source, "kept": row.app in inputs.degraded,
                       "internalServices": internal_services(inputs, row.app, row.environment, index)})
    return result


def internal_services(inputs, app: str, environment: str, index=None) -> dict:
    """The app environment's internal services (URL, port, who may call each) and what it may call (ADR 0016).
    `index`: internal_services.caller_index of the stack's apps, built once for many rows."""
    from minnova_idp.model.names import namespace
    from minnova_idp.render.internal_services import access_for, described, own_env_names

    declared = [(loaded.entry, loaded.config) for loaded in inputs.apps]
    config = next(loaded.config for loaded in inputs.apps if loaded.name == app)
    settings = config.environments.get(environment)
    secrets = inputs.secrets.get((app, environment))
    own = own_env_names({**config.env, **(settings.env if settings else {})}, secrets.keys if secrets else ())
    return described(app, namespace(app, environment), config, access_for(app, environment, declared, index), own)


def caller_index(inputs):
    from minnova_idp.render.internal_services import caller_index as index

    return index([(loaded.entry, loaded.config) for loaded in inputs.apps])


def internal_lines(inputs, rows) -> list[str]:
    """The INTERNAL SERVICES section of the status table: one line per service, one per path an app may call."""
    lines = []
    index = caller_index(inputs)
    for row in rows:
        shown = internal_services(inputs, row.app, row.environment, index)
        for process, service in shown["services"].items():
            callers = ", ".join(service["allowFrom"]) or "its own pods only"
            lines.append(f"  {row.app} {row.environment} {process}: {service['url']} (from: {callers})")
        for variable, url in shown["calls"].items():
            own = " not set by the platform: the app sets it" if variable in shown.get("notInjected", ()) else ""
            lines.append(f"  {row.app} {row.environment} calls {url} ({variable}{own})")
    return lines


def table(rows, kept: frozenset[str] = frozenset()) -> str:
    """The status table within 80 columns (a block per app environment when the columns would not fit); an app kept
    at its last good config is marked `(kept)`."""
    from minnova_idp.cli.output import fit_table
    from minnova_idp.render.status import urls_text

    return fit_table(("APP", "ENV", "URL", "IMAGE:TAG", "DATABASE", "PREVIEWS"),
                     [(f"{r.app} (kept)" if r.app in kept else r.app, r.environment, urls_text(r), f"{r.image}:{r.tag} ({r.tag_source})", r.databases or "-",
                       "yes" if r.previews else "no") for r in rows])
