"""The minnova-idp command as users run it: every command's help, usage errors, --version, the generated docs."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from minnova_idp.authoring.reference import schema_text, stale_files
from tests.conftest import PROJECT_DIR
from tests.support.cli import cli


def test_generated_docs_are_in_sync():
    """The committed schema and the app.yaml reference (docs/app-yaml.md) are what the models give.

    Regenerate both with: .venv/bin/python -m minnova_idp.authoring.reference
    """
    assert stale_files(PROJECT_DIR) == {}
    assert (PROJECT_DIR / "schema" / "app.schema.json").read_text() == schema_text()


def test_a_field_added_to_the_models_makes_the_docs_stale(tmp_path, monkeypatch):
    """The sync check can fail: a new documented field shows up as a new row and a schema change."""
    from pydantic import Field, create_model

    from minnova_idp.authoring import reference
    from minnova_idp.model import app_config

    (tmp_path / "docs").mkdir()
    shutil.copy(PROJECT_DIR / "docs/app-yaml.md", tmp_path / "docs/app-yaml.md")
    (tmp_path / "schema").mkdir()
    shutil.copy(PROJECT_DIR / "schema" / "app.schema.json", tmp_path / "schema" / "app.schema.json")
    assert stale_files(tmp_path) == {}
    extended = create_model("AppConfig", __base__=app_config.AppConfig,
                            timezone=(str, Field(default="UTC", description="the app's time zone")))
    monkeypatch.setattr(reference, "AppConfig", extended)
    stale = stale_files(tmp_path)
    assert set(stale) == {tmp_path / "docs/app-yaml.md", tmp_path / "schema" / "app.schema.json"}
    assert "| `timezone` | `UTC` | the app's time zone |" in stale[tmp_path / "docs/app-yaml.md"]


def test_reference_check_command_reports_stale_docs():
    result = subprocess.run([sys.executable, "-m", "minnova_idp.authoring.reference", "--check"], cwd=PROJECT_DIR,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def every_command() -> list[list[str]]:
    from minnova_idp.cli.main import build_parser

    def walk(parser, path):
        found = [path]
        for action in parser._actions:
            if action.__class__.__name__ == "_SubParsersAction":
                for name, sub in action.choices.items():
                    found += walk(sub, [*path, name])
        return found

    return walk(build_parser(), [])


@pytest.mark.parametrize("command", every_command(), ids=lambda c: " ".join(c) or "minnova-idp")
def test_help_has_examples(command):
    result = cli(*command, "--help")
    assert result.returncode == 0
    assert "usage: minnova-idp" in result.stdout
    assert "example" in result.stdout


def test_usage_errors_exit_2():
    assert cli("plan", "--no-such-flag").returncode == 2
    assert cli("frobnicate").returncode == 2
    missing_stack = cli("plan", env={"PULUMI_STACK": "", "PULUMI_HOME": "/nonexistent"})
    assert missing_stack.returncode == 1 and "--stack: no stack given" in missing_stack.stderr


def test_version():
    result = cli("--version")
    assert result.returncode == 0 and result.stdout.startswith("minnova-idp ")


@pytest.mark.parametrize("argv", [
    ["render-preview", "--app", "oracle", "--pr", "7", "--keys-dir", "k", "checkout"],
    ["render-preview"],
    ["render-preview", "--no-such-flag"],
    ["render-preview", "--help"],
    ["render-preview", "--app"],
])
def test_render_preview_parses_with_its_own_parser_as_with_every_command(argv, capsys):
    """render-preview builds only its own parser (its cold start, issue 21): same arguments, help and errors."""
    from minnova_idp.cli.main import build_parser

    def parse(parser):
        try:
            namespace = vars(parser.parse_args(argv))
        except SystemExit as exc:
            namespace = {"exit": exc.code}
        captured = capsys.readouterr()
        return namespace, captured.out, captured.err

    narrow, full = build_parser("render-preview"), build_parser()
    assert len(narrow._subparsers._group_actions[0].choices) == 1
    assert len(full._subparsers._group_actions[0].choices) > 10
    assert parse(narrow) == parse(full)
