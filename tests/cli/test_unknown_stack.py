"""Every command that takes -s/--stack refuses a stack that does not exist (issue 24 item 6: `new-key ... --stack
nosuch` exited 0), exit 1 with a message naming --stack, before doing anything."""

from __future__ import annotations

import argparse
import io
import os
from contextlib import redirect_stderr, redirect_stdout

import pytest

from minnova_idp.cli.main import build_parser, main
from tests.conftest import PROJECT_DIR

POSITIONALS = {"path": "examples/oracle", "app": "oracle", "environment": "dev"}


def stack_commands() -> list[tuple[list[str], list[str]]]:
    found = []

    def walk(parser: argparse.ArgumentParser, prefix: list[str]) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, [*prefix, name])
        if any("--stack" in action.option_strings for action in parser._actions):
            found.append((prefix, [action.dest for action in parser._actions if not action.option_strings
                                   and not isinstance(action, argparse._SubParsersAction)]))

    walk(build_parser(), [])
    return found


COMMANDS = stack_commands()


def test_the_commands_with_a_stack_option_are_found():
    names = {" ".join(command) for command, _ in COMMANDS}
    assert {"plan", "status", "secrets new-key", "policy publish", "validate"} <= names


@pytest.mark.parametrize("command,positionals", COMMANDS, ids=[" ".join(c) for c, _ in COMMANDS])
def test_an_unknown_stack_is_refused(command, positionals, monkeypatch):
    monkeypatch.chdir(PROJECT_DIR)
    monkeypatch.setenv("PATH", "/nonexistent")  # nothing (pulumi, kubectl) may run before the stack is checked
    argv = [*command, *(POSITIONALS[name] for name in positionals), "--stack", "nosuch"]
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(argv)
    assert code == 1, (argv, out.getvalue(), err.getvalue())
    assert "--stack" in err.getvalue() and "nosuch" in err.getvalue(), err.getvalue()
    assert "Traceback" not in err.getvalue() and os.getcwd() == str(PROJECT_DIR)
