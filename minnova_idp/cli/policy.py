"""`minnova-idp policy publish APP -s STACK`: the file an app repository commits as .minnova/platform/<stack>.yaml, so
that `minnova-idp validate` there checks what the platform checks (load/app_policy.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from minnova_idp.cli.common import emit, stack_arguments


def register(commands) -> None:
    policy = commands.add_parser(
        "policy", help="publish the platform's policy of an app for its repository",
        description="What `validate` in an app repository checks the app against: its registry entry and its "
                    "part of a stack's config, secrets withheld (.minnova/platform/<stack>.yaml).",
        epilog="example:\n  minnova-idp policy publish oracle -s prod --out ../oracle/.minnova/platform/prod.yaml",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = policy.add_subparsers(dest="policy_command", metavar="COMMAND", required=True)
    publish = sub.add_parser(
        "publish", help="print an app's .minnova/platform/<stack>.yaml for its repository",
        description="Print an app's .minnova/platform/<stack>.yaml: its registry entry, its part of the stack's "
                    "config (secret values withheld) and the hosts the stack's other apps use (read like plan "
                    "reads them: every app's config is loaded).",
        epilog="example:\n  minnova-idp policy publish oracle -s prod --out ../oracle/.minnova/platform/prod.yaml",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    publish.add_argument("app")
    stack_arguments(publish)
    publish.add_argument("--out", metavar="FILE", help="write it here, only if everything succeeded")
    publish.set_defaults(handler=run_publish)


def run_publish(args: argparse.Namespace) -> int:
    from minnova_idp.cli.recipients import check_names
    from minnova_idp.cli.stacks import resolve_stack
    from minnova_idp.load.app_policy import MAX_POLICY_BYTES, policy_document, policy_file, policy_text
    from minnova_idp.load.apps import load_candidates
    from minnova_idp.load.stack import from_stack_file, parse_stack_config

    check_names(args.app)
    out = Path(args.out) if args.out else None
    if out is not None and out.parent.name == "platform" and out.parent.parent.name == ".minnova" \
            and out.parent.parent.is_dir():
        out.parent.mkdir(exist_ok=True)  # the app repository's .minnova/platform/, made on first publish
    project_dir = Path(args.project_dir)
    stack = resolve_stack(args)  # refuses an unknown stack
    policy_document(project_dir, stack, args.app, other_apps=None)  # registered? said before fetching every app
    config = parse_stack_config(*from_stack_file(project_dir, stack))
    # Each app on its own (load_candidates, what plan's isolation uses): a broken one is named, never a stop.
    candidates = load_candidates(project_dir, config, cache_dir=Path(args.cache_dir) if args.cache_dir else None)
    apps, broken = list(candidates.apps.values()), candidates.failed
    for name, problems in sorted(broken.items()):
        if name != args.app:  # one app's broken config never stops another app's policy
            print(f"warning: the hosts of app {name} are not published (its config does not load: "
                  f"{problems[0]}); validate says they were not checked", file=sys.stderr)
    text = policy_text(policy_document(project_dir, stack, args.app, apps, not_loaded=list(broken)))
    if len(text.encode()) > MAX_POLICY_BYTES:  # what validate reads (read_policies): never publish more
        from minnova_idp.model.errors import ConfigError, Problem

        raise ConfigError([Problem(str(policy_file(stack)), message=f"would be {len(text.encode())} bytes; validate "
                                   f"reads at most {MAX_POLICY_BYTES}", hint="the stack's other apps' hosts make "
                                   "most of it: fewer hosts per app, or validate --project-dir INFRA")])
    emit(text, args.out)
    return 0
