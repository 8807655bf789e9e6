"""Day-2 commands: `releases APP ENV` (what was deployed, from the stack's outputs) and `logs APP ENV` (every pod
of a process, through kubectl)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from minnova_idp.cli.stacks import add_stack_option, resolve_stack
from minnova_idp.model.errors import ConfigError, Problem

STACK_HELP = "stack name (default: $PULUMI_STACK, else the stack selected with `pulumi stack select`)"


def register(commands) -> None:
    releases = commands.add_parser(
        "releases", help="what an app environment deployed when (tag, commit, time), newest first",
        description="The releases of an app environment, newest first (tag, commit, time), from the stack's "
                    "releases output (the last 20; `pulumi stack output --json`, read from --previous-outputs or by "
                    "running pulumi). A stack updated before that output existed shows its imageTags (the last 5).",
        epilog="examples:\n  pulumi stack output --json --stack prod > outputs.json\n"
               "  minnova-idp releases oracle prod -s prod --previous-outputs outputs.json",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    releases.add_argument("app")
    releases.add_argument("environment", metavar="ENV")
    add_stack_option(releases, STACK_HELP)
    releases.add_argument("--previous-outputs", metavar="FILE",
                          help="the stack's outputs (default: run `pulumi stack output --json --stack STACK`)")
    releases.add_argument("--project-dir", default=".", help="directory holding Pulumi.yaml (default: .)")
    releases.add_argument("--json", action="store_true", help="print JSON")
    releases.set_defaults(handler=run_releases)

    logs = commands.add_parser(
        "logs", help="print (or --follow) the logs of every pod of an app process, through kubectl",
        description="Run `kubectl logs` for every pod of one process of an app environment (by label selector, "
                    "in the app's namespace), with the stack's minnova:kubernetes.context.",
        epilog="examples:\n  minnova-idp logs oracle prod -s prod --follow\n"
               "  minnova-idp logs oracle prod --process worker --since 1h --context prod-cluster",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    logs.add_argument("app")
    logs.add_argument("environment", metavar="ENV")
    logs.add_argument("--process", default="web", help="the process: web (default) or a name under processes:")
    logs.add_argument("-f", "--follow", action="store_true", help="stream new lines")
    logs.add_argument("--since", metavar="DURATION", help="only lines newer than this (e.g. 10m, 1h)")
    logs.add_argument("--tail", metavar="N", type=int, help="lines per pod (default: kubectl's, 10 with a selector)")
    add_stack_option(logs, STACK_HELP + "; only for its minnova:kubernetes.context")
    logs.add_argument("--context", help="kubeconfig context (default: the stack's minnova:kubernetes.context)")
    logs.add_argument("--project-dir", default=".", help="directory holding Pulumi.yaml (default: .)")
    logs.set_defaults(handler=run_logs)


def run_releases(args: argparse.Namespace) -> int:
    from minnova_idp.cli.previous_outputs import read_previous_outputs
    from minnova_idp.cli.validate_names import check_app_environment
    from minnova_idp.model import names
    from minnova_idp.model.inputs import DEGRADED_OUTPUT, IMAGE_TAGS_OUTPUT, RELEASES_OUTPUT

    check_app_environment(args.app, args.environment)
    stack = resolve_stack(args)
    outputs = read_previous_outputs(args.previous_outputs or _pulumi_outputs(stack, Path(args.project_dir)))
    component = names.component_name(args.app, args.environment)
    # [time, tag, commit], newest first (policy/releases.py); before that output: imageTags, tags only
    history = (outputs.get(RELEASES_OUTPUT) or {}).get(component) or [
        [None, tag, None] for tag in (outputs.get(IMAGE_TAGS_OUTPUT) or {}).get(component) or []]
    if not history:
        raise ConfigError([Problem(args.previous_outputs or f"stack {stack}", RELEASES_OUTPUT,
                                   f"records no deployment of {component}",
                                   hint="check the app and environment; `minnova-idp status` lists what the "
                                        "stack deploys")])
    releases = [{"tag": tag, "commit": commit, "time": time, "current": index == 0}
                for index, (time, tag, commit) in enumerate(history)]
    degraded = (outputs.get(DEGRADED_OUTPUT) or {}).get(args.app)
    if args.json:
        print(json.dumps({"ok": True, "stack": stack, "app": args.app, "environment": args.environment,
                          "releases": releases, "degraded": degraded}, indent=2))
    else:
        print(f"{args.app}/{args.environment} in stack {stack}, newest first:")
        for release in releases:
            when = release["time"] or "(time not recorded)"
            commit = (release["commit"] or "-")[:12]
            print(f"  {when:<20}  {commit:<12}  {release['tag']}{'  (current)' if release['current'] else ''}")
        if degraded:
            print(f"\nThe last update kept {args.app} at its last good config: its own inputs failed "
                  f"({'; '.join(degraded.get('problems') or [])[:300]})")
    return 0


def _pulumi_outputs(stack: str, project_dir: Path) -> str:
    """The stack's outputs through the Pulumi CLI, into a private temporary file read like --previous-outputs."""
    import shutil
    import subprocess
    import tempfile

    pulumi = shutil.which("pulumi")
    if pulumi is None:
        raise ConfigError([Problem("--previous-outputs", message="not given, and pulumi is not on PATH",
                                   hint=f"pulumi stack output --json --stack {stack} > outputs.json; then pass "
                                        "--previous-outputs outputs.json")])
    result = subprocess.run([pulumi, "stack", "output", "--json", "--stack", stack], cwd=project_dir,
                            capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise ConfigError([Problem("pulumi stack output", message=_last_line(result.stderr) or "failed",
                                   hint="log in to the stack's backend (pulumi login), or pass --previous-outputs")])
    handle = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
    with handle:
        handle.write(result.stdout)
    import atexit
    import os

    atexit.register(os.unlink, handle.name)
    return handle.name


def log_selector(app: str, environment: str, process: str) -> tuple[str, dict[str, str]]:
    """Namespace and labels of a process's pods, as render/app.py selector_labels/process_selector set them
    (tests/cli/test_day2.py pins the two together)."""
    from minnova_idp.model import names

    namespace = names.namespace(app, environment)
    instance = namespace if process == "web" else f"{namespace}-{process}"
    return namespace, {"app.kubernetes.io/name": app, "app.kubernetes.io/instance": instance}


def run_logs(args: argparse.Namespace) -> int:
    import subprocess

    from minnova_idp.cli.validate_names import check_app_environment

    check_app_environment(args.app, args.environment, args.process)
    context = args.context
    if context is None:
        from minnova_idp.load.stack import from_stack_file, parse_stack_config

        stack = resolve_stack(args)
        context = parse_stack_config(*from_stack_file(Path(args.project_dir), stack)).settings.kubernetes.context
    kubectl = kubectl_or_error()
    namespace, labels = log_selector(args.app, args.environment, args.process)
    command = [kubectl, *(["--context", context] if context else []), "logs", "--namespace", namespace,
               "--selector", ",".join(f"{key}={value}" for key, value in labels.items()),
               "--all-containers", "--prefix", "--ignore-errors", "--max-log-requests", "20"]
    command += ["--follow"] if args.follow else []
    command += [f"--since={args.since}"] if args.since else []
    command += [f"--tail={args.tail}"] if args.tail is not None else []
    sys.stdout.flush()
    return subprocess.run(command).returncode


def kubectl_or_error() -> str:
    import shutil

    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise ConfigError([Problem("kubectl", message="is not on PATH; this command asks the cluster",
                                   hint="install kubectl and point it at the cluster (KUBECONFIG, --context)")])
    return kubectl


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""
