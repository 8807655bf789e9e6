"""`minnova-idp`: the command line of Minnova IDP.

Errors are printed as one line per problem (file, field, hint) with a non-zero exit;
a traceback reaches the user only when MINNOVA_IDP_DEBUG=1 asks for it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Callable, Sequence

from .errors import ConfigError, Problem

EXIT_INVALID = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 70


def app_schema() -> dict:
    from .models import AppConfig

    schema = AppConfig.model_json_schema(by_alias=True)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def schema_text() -> str:
    return json.dumps(app_schema(), indent=2, sort_keys=True) + "\n"


def _cmd_schema(args: argparse.Namespace) -> int:
    sys.stdout.write(schema_text())
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    target, config = _load_app(args.path)
    print(f"{target}: valid (app {config.name}; environments {', '.join(config.environments)})")
    return 0


def _load_app(path_text: str):
    from .models import AppConfig
    from .names import APP_CONFIG
    from .validation import validate_document
    from .yamlsafe import load_yaml_file

    path = Path(path_text)
    target = path / APP_CONFIG if path.is_dir() else path
    return target, validate_document(AppConfig, load_yaml_file(target, str(target)))


def _cmd_restore_drill(args: argparse.Namespace) -> int:
    import yaml

    from . import names
    from .database import render_restore_drill
    from .errors import Problem
    from .models import DatabaseRestore

    target, app = _load_app(args.path)
    if not app.database.enabled:
        raise ConfigError([Problem(str(target), "database.enabled", "the app has no database")])
    if args.environment not in app.environments:
        raise ConfigError([Problem(str(target), "environments", f"no environment '{args.environment}'",
                                   hint=f"environments: {', '.join(app.environments)}")])
    if args.target_time:
        try:
            DatabaseRestore.model_validate({"fromBackup": "x", "targetTime": args.target_time})
        except Exception:  # noqa: BLE001 - pydantic's error, reworded for a command-line flag
            raise ConfigError([Problem("--target-time", message=f"'{args.target_time}' is not an RFC 3339 "
                                       "timestamp with a zone (e.g. 2026-11-20T09:30:00Z)")]) from None
    namespace = names.namespace(app.name, args.environment)
    labels = {"app.kubernetes.io/name": app.name, "app.kubernetes.io/managed-by": "minnova-idp",
              "minnova.io/restore-drill": "true"}
    sys.stdout.write(yaml.safe_dump(
        render_restore_drill(app, args.environment, namespace, labels, args.target_time), sort_keys=False))
    return 0


def _cmd_plan(args: argparse.Namespace) -> int:
    from .plan import render_tree, run_plan, write_plan

    project_dir = Path(args.project_dir).resolve()
    previous = None
    if args.previous_outputs:
        try:
            previous = json.loads(Path(args.previous_outputs).read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError([Problem(args.previous_outputs, message=f"cannot read stack outputs: {exc}",
                                       hint="pulumi stack output --json > FILE")]) from None
    plan = run_plan(project_dir, args.stack, cache_dir=Path(args.cache_dir) if args.cache_dir else None,
                    previous_outputs=previous)
    print(render_tree(plan))
    if args.out:
        out = Path(args.out)
        write_plan(plan, out)
        print(f"\nWrote {out / 'resources.json'} and {len(plan.manifests())} manifests under {out / 'manifests'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="minnova-idp",
        description="Self-service deployment on Kubernetes: validate app configs, plan stacks offline.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
               "  minnova-idp validate .                       # checks ./.minnova/app.yaml\n"
               "  minnova-idp plan --stack dev --out plan-dev  # what `pulumi up` would create, offline\n"
               "  minnova-idp schema > app.schema.json         # JSON Schema for editors",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    schema = commands.add_parser("schema", help="print the JSON Schema of .minnova/app.yaml",
                                 description="Print the JSON Schema of .minnova/app.yaml (for editor completion).")
    schema.set_defaults(handler=_cmd_schema)

    validate = commands.add_parser(
        "validate", help="check an app config",
        description="Check an app config: exit 0 when valid, 1 with every problem otherwise.",
        epilog="examples:\n  minnova-idp validate .minnova/app.yaml\n  minnova-idp validate path/to/app-repo",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    validate.add_argument("path", help="an app.yaml, or an app repository holding .minnova/app.yaml")
    validate.set_defaults(handler=_cmd_validate)

    plan = commands.add_parser(
        "plan", help="run a stack's program offline and show what it would create",
        description="Run the real program of a stack with Pulumi's mock runtime: no cluster, credentials or "
                    "Pulumi CLI. Reads Pulumi.<STACK>.yaml; secure values become placeholders.",
        epilog="examples:\n  minnova-idp plan --stack dev\n  minnova-idp plan --stack prod --out plan-prod",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    plan.add_argument("--stack", required=True, help="stack name (reads Pulumi.<STACK>.yaml)")
    plan.add_argument("--out", help="write resources.json and manifests/ to this directory")
    plan.add_argument("--project-dir", default=".", help="directory holding Pulumi.yaml (default: .)")
    plan.add_argument("--cache-dir", help="git cache (default: $MINNOVA_IDP_CACHE_DIR or ~/.cache/minnova-idp)")
    plan.add_argument("--previous-outputs", metavar="FILE",
                      help="the stack's outputs from its last update (`pulumi stack output --json`), for checks "
                           "against what is deployed, such as database sizes that must not shrink")
    plan.set_defaults(handler=_cmd_plan)
    drill = commands.add_parser(
        "restore-drill", help="print a throwaway Cluster that restores an environment's backups",
        description="Print a CloudNativePG Cluster <app>-db-drill that recovers the environment's backup archive "
                    "into its namespace, without ever archiving itself. Apply it, check the data, delete it.",
        epilog="examples:\n  minnova-idp restore-drill . prod | kubectl apply -f -\n"
               "  minnova-idp restore-drill . prod --target-time 2026-11-20T09:30:00Z",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    drill.add_argument("path", help="an app.yaml, or an app repository holding .minnova/app.yaml")
    drill.add_argument("environment", help="the environment whose backups to restore, e.g. prod")
    drill.add_argument("--target-time", help="recover to this point in time (RFC 3339); default: the end of the WAL")
    drill.set_defaults(handler=_cmd_restore_drill)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except ConfigError as exc:
        print(exc.render(), file=sys.stderr)
        return EXIT_INVALID
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - the last line of defence against tracebacks
        if os.environ.get("MINNOVA_IDP_DEBUG") == "1":
            raise
        print(f"minnova-idp: internal error: {type(exc).__name__}: {exc}\n"
              "Rerun with MINNOVA_IDP_DEBUG=1 for a traceback, and please report it.", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
