"""Restore drills: `minnova-idp drills` (how they went, from the cluster) and `minnova-idp restore-drill` (print one)."""

from __future__ import annotations

import argparse
import json
import sys

from minnova_idp.model.errors import ConfigError, Problem

EXIT_DRILLS_FAILING = 4


def register(commands) -> None:
    drills = commands.add_parser(
        "drills", help="how the weekly restore drills went (asks the cluster with kubectl)",
        description="Every restore drill's CronJob: when it last passed and how its latest run ended. Exit 0 when "
                    f"all are healthy, {EXIT_DRILLS_FAILING} when one failed or has not passed for 8 days.",
        epilog="examples:\n  minnova-idp drills\n  minnova-idp drills --namespace oracle-prod --json",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    drills.add_argument("--namespace", help="one namespace (default: all)")
    drills.add_argument("--context", help="kubeconfig context (default: the current one)")
    drills.add_argument("--json", action="store_true", help="print JSON")
    drills.set_defaults(handler=run)


def register_restore_drill(commands) -> None:
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
    drill.add_argument("--server-name", help="the server name to recover; default: the Cluster's name (backupName). "
                       "After a major upgrade the environment archives under <cluster>-pg<major> (the stack's "
                       "databaseServers output; docs/databases.md \"Major upgrades\")")
    drill.set_defaults(handler=run_restore_drill)


def run(args: argparse.Namespace) -> int:
    """Restore drills as the cluster reports them: kubectl with the caller's kubeconfig, read-only."""
    import subprocess
    from datetime import datetime, timezone

    from minnova_idp.cli.day2 import kubectl_or_error
    from minnova_idp.render.drill import drill_report

    kubectl = kubectl_or_error()
    scope = ["-n", args.namespace] if args.namespace else ["-A"]
    context = ["--context", args.context] if args.context else []
    lists = {}
    for kind in ("cronjobs", "jobs"):
        command = [kubectl, *context, "get", kind, "-o", "json", "-l", "minnova.io/restore-drill=true", *scope]
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=60)
        except subprocess.TimeoutExpired:
            raise _unreachable(args.context, f"kubectl get {kind} did not answer within 60 s") from None
        if result.returncode != 0:
            raise _unreachable(args.context, result.stderr)
        try:
            lists[kind] = json.loads(result.stdout)
        except json.JSONDecodeError:
            raise ConfigError([Problem("kubectl", message=f"get {kind} did not print JSON")]) from None
    rows = drill_report(lists["cronjobs"], lists["jobs"], datetime.now(timezone.utc))
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for row in rows:
            state = "ok" if row["healthy"] else "FAILING" if row["latestRun"] == "failed" else "OVERDUE"
            print(f"{state:8} {row['namespace']}/{row['drill']}: last passed {row['lastPassed'] or 'never'}, "
                  f"latest run {row['latestRun']}{' (' + row['latestJob'] + ')' if row['latestJob'] else ''}")
        if not rows:
            print("no restore drills found")
    return 0 if all(row["healthy"] for row in rows) else EXIT_DRILLS_FAILING


_UNREACHABLE = ("unable to connect to the server", "connection refused", "no such host", "i/o timeout",
                "the server could not find", "no configuration has been provided", "context was not found",
                "dial tcp", "tls handshake timeout", "couldn't get current server api group list")


def _unreachable(context: str | None, stderr: str) -> ConfigError:
    """kubectl's failure as one whole line (never cut mid-word), saying when it means no cluster is reachable."""
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    detail = lines[-1] if lines else "no message"
    if len(detail) > 300:
        detail = detail[:300].rsplit(" ", 1)[0] + " …"
    where = f"context {context}" if context else "the current kubeconfig context"
    if any(marker in stderr.lower() for marker in _UNREACHABLE):
        return ConfigError([Problem("kubectl", message=f"no cluster reachable through {where}: {detail}",
                                    hint="check KUBECONFIG and --context (kubectl config get-contexts), the VPN, "
                                         "and that the cluster is up")])
    return ConfigError([Problem("kubectl", message=f"failed through {where}: {detail}",
                                hint="rerun the kubectl command by hand to see its whole output")])


def run_restore_drill(args: argparse.Namespace) -> int:
    import yaml

    from minnova_idp.load.app_files import load_app_config
    from minnova_idp.model import names
    from minnova_idp.model.app_config import DatabaseRestore
    from minnova_idp.render.database import render_restore_drill

    target, app = load_app_config(args.path)
    if not app.database.enabled:
        raise ConfigError([Problem(str(target), "database.enabled", "the app has no PostgreSQL database: "
                                   "restore-drill drills PostgreSQL only",
                                   hint="MySQL's drill is a CronJob the platform renders with mysql.restoreDrill "
                                        "(docs/mysql-data.md \"Restore drills\"); MongoDB has no restore drill "
                                        "(docs/mongodb.md)")])
    if args.environment not in app.environments:
        raise ConfigError([Problem(str(target), "environments", f"no environment '{args.environment}'",
                                   hint=f"environments: {', '.join(app.environments)}")])
    if args.target_time:
        try:
            DatabaseRestore.model_validate({"fromBackup": "x", "targetTime": args.target_time})
        except Exception:  # noqa: BLE001 - pydantic's error, reworded for a command-line flag
            raise ConfigError([Problem("--target-time", message=f"'{args.target_time}' is not an RFC 3339 "
                                       "timestamp with a zone (e.g. 2026-11-20T09:30:00Z)")]) from None
    server = args.server_name
    if server is not None and not (len(server) <= names.SERVER_NAME_MAX and names.APP_NAME_RE.fullmatch(server)):
        raise ConfigError([Problem("--server-name", message=f"'{server[:60]}' is not a server name (letters, digits "
                                   f"and '-', at most {names.SERVER_NAME_MAX} characters)")])
    namespace = names.namespace(app.name, args.environment)
    labels = {"app.kubernetes.io/name": app.name, names.MANAGED_BY_LABEL: names.MANAGED_BY,
              "minnova.io/restore-drill": "true"}
    sys.stdout.write(yaml.safe_dump(
        render_restore_drill(app, args.environment, namespace, labels, args.target_time, server=server),
        sort_keys=False))
    return 0
