"""`minnova-idp`: the command line of Minnova IDP. This module only wires the commands together.

Each command lives in a module of its own (validate, status, plan, rollback, drills, onboarding, secrets; the Argo
CD plugin's render-preview in minnova_idp/preview_plugin.py), exposing `register(commands)` and its handler. They
import what a command needs inside its handler, so building the parser loads no model: render-preview runs on
every Argo CD refresh and pays only for its own imports.

Errors are printed as one line per problem (file, field, hint) with a non-zero exit;
a traceback reaches the user only when MINNOVA_IDP_DEBUG=1 asks for it.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Callable, Sequence

from minnova_idp import preview_plugin
from minnova_idp.cli import drills, onboarding, plan, rollback, secrets, status, validate
from minnova_idp.model.errors import ConfigError

EXIT_INVALID = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 70
EXIT_DRILLS_FAILING = drills.EXIT_DRILLS_FAILING


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("minnova-idp")
    except PackageNotFoundError:  # run from a checkout without installing
        return "unknown (not installed)"


class _VersionAction(argparse._VersionAction):
    """`--version`, reading the installed version only when asked: importlib.metadata costs every other command
    tens of milliseconds at start (render-preview's cold start, issue 21)."""

    def __call__(self, parser, namespace, values, option_string=None):
        self.version = f"%(prog)s {_version()}"
        super().__call__(parser, namespace, values, option_string)


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
    parser.add_argument("--version", action=_VersionAction)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    validate.register_schema(commands)
    validate.register(commands)
    status.register(commands)
    drills.register(commands)
    rollback.register(commands)
    plan.register(commands)
    secrets.register(commands)
    onboarding.register_commands(commands)
    preview_plugin.register(commands)
    drills.register_restore_drill(commands)
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
    except BrokenPipeError:  # `minnova-idp status | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # noqa: BLE001 - the last line of defence against tracebacks
        if os.environ.get("MINNOVA_IDP_DEBUG") == "1":
            raise
        print(f"minnova-idp: internal error: {type(exc).__name__}: {exc}\n"
              "Rerun with MINNOVA_IDP_DEBUG=1 for a traceback, and please report it.", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
