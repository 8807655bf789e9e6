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
from minnova_idp.cli import completion, day2, drills, onboarding, plan, policy, rollback, secrets, status, validate
from minnova_idp.cli.output import help_formatter, print_problems_json, wants_json
from minnova_idp.model.errors import ConfigError, Problem

EXIT_INVALID = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 70
EXIT_DRILLS_FAILING = drills.EXIT_DRILLS_FAILING


class _VersionAction(argparse._VersionAction):
    """`--version`, computed only when asked: importlib.metadata and git cost every other command time at start
    (render-preview's cold start, issue 21)."""

    def __call__(self, parser, namespace, values, option_string=None):
        from minnova_idp.cli.version import version_text

        self.version = version_text()
        super().__call__(parser, namespace, values, option_string)


class _Parser(argparse.ArgumentParser):
    """argparse, except that a usage error on a command line with --json is printed as JSON on stdout too."""

    json_requested = False

    def __init__(self, *args, **kwargs):
        if kwargs.get("formatter_class") in (None, argparse.HelpFormatter, argparse.RawDescriptionHelpFormatter):
            kwargs["formatter_class"] = help_formatter()  # within 80 columns, examples kept as written
        super().__init__(*args, **kwargs)

    def error(self, message):
        if _Parser.json_requested:
            print_problems_json([Problem(self.prog, message=message, hint=f"{self.prog} --help")])
        super().error(message)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Every command's parser; only render-preview's when `command` is render-preview: Argo CD runs it on every
    refresh, and building the other twenty commands' parsers was a few percent of its cold start (issue 21)."""
    parser = _Parser(
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
    if command == preview_plugin.COMMAND:
        preview_plugin.register(commands)
        return parser
    validate.register_schema(commands)
    validate.register(commands)
    status.register(commands)
    drills.register(commands)
    rollback.register(commands)
    plan.register(commands)
    secrets.register(commands)
    policy.register(commands)
    onboarding.register_commands(commands)
    preview_plugin.register(commands)
    drills.register_restore_drill(commands)
    day2.register(commands)
    completion.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    as_json = _Parser.json_requested = wants_json(argv)
    parser = build_parser(argv[0] if argv else None)
    args = parser.parse_args(argv)
    args.root_parser = parser
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except ConfigError as exc:
        print(exc.render(), file=sys.stderr)
        if as_json:
            print_problems_json(exc.problems)
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
        if as_json:
            print_problems_json([Problem("minnova-idp", message=f"internal error: {type(exc).__name__}",
                                         hint="rerun with MINNOVA_IDP_DEBUG=1 for a traceback, and please report it")])
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
