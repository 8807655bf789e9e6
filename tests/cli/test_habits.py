"""CLI habits of the ecosystem (issue 24 item 4): -s and Pulumi's selected stack, JSON on failure, 80 columns,
--version with the commit, shell completion."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess

import pytest

from minnova_idp.cli.output import fit_table, problems_document
from minnova_idp.cli.stacks import selected_stack
from minnova_idp.model.errors import Problem
from tests.conftest import PROJECT_DIR
from tests.support.cli import cli

NO_PULUMI = {"PULUMI_STACK": "", "PULUMI_BACKEND_URL": ""}


def _select(home, project_dir, settings: dict) -> None:
    """What `pulumi stack select` leaves behind (pulumi/pulumi pkg/workspace/workspace.go:182-184)."""
    project_file = project_dir.resolve() / "Pulumi.yaml"
    digest = hashlib.sha1(str(project_file).encode()).hexdigest()
    (home / "workspaces").mkdir(parents=True, exist_ok=True)
    (home / "workspaces" / f"minnova-idp-{digest}-workspace.json").write_text(json.dumps(settings))


def test_the_stack_comes_from_s_then_pulumi_stack_then_pulumis_selection(tmp_path):
    home = tmp_path / "pulumi-home"
    environment = {**NO_PULUMI, "PULUMI_HOME": str(home)}
    missing = cli("status", "--json", env=environment)
    assert missing.returncode == 1 and "--stack" in missing.stderr
    assert json.loads(missing.stdout)["problems"][0]["file"] == "--stack"
    _select(home, PROJECT_DIR, {"stacks": {"file://~": "dev"}})
    selected = cli("status", "--json", env=environment)
    assert selected.returncode == 0, selected.stderr
    assert json.loads(selected.stdout)["stack"] == "dev"
    assert json.loads(cli("status", "--json", env={**environment, "PULUMI_STACK": "prod"}).stdout)["stack"] == "prod"
    assert json.loads(cli("status", "-s", "prod", "--json", env=environment).stdout)["stack"] == "prod"


def test_selection_per_backend_and_legacy_files(tmp_path):
    home = tmp_path / "home"
    _select(home, PROJECT_DIR, {"stacks": {"https://api.pulumi.com": "acme/minnova-idp/prod", "file://~": "dev"}})
    assert selected_stack(PROJECT_DIR, {"PULUMI_HOME": str(home), "PULUMI_BACKEND_URL": "file://~"}) == "dev"
    assert selected_stack(PROJECT_DIR, {"PULUMI_HOME": str(home),
                                        "PULUMI_BACKEND_URL": "https://api.pulumi.com"}) == "prod"
    assert selected_stack(PROJECT_DIR, {"PULUMI_HOME": str(home)}) is None  # two backends, none current: ambiguous
    (home / "credentials.json").write_text(json.dumps({"current": "https://api.pulumi.com"}))
    assert selected_stack(PROJECT_DIR, {"PULUMI_HOME": str(home)}) == "prod"
    _select(home, PROJECT_DIR, {"stack": "dev"})
    assert selected_stack(PROJECT_DIR, {"PULUMI_HOME": str(home)}) == "dev"


@pytest.mark.parametrize("command", [
    ("status", "--stack", "nosuch"), ("plan", "-s", "nosuch"), ("rollback", "oracle", "prod", "-s", "nosuch"),
    ("secrets", "new-key", "oracle", "prod", "--stack", "nosuch"),
    ("secrets", "publish", "oracle", "--stack", "dev", "--stack", "nosuch"),
    ("secrets", "recipients", "oracle", "prod", "--stack", "nosuch"),
])
def test_every_command_taking_a_stack_refuses_an_unknown_one(command):
    result = cli(*command)
    assert result.returncode == 1, result
    assert "unknown stack 'nosuch'" in result.stderr and "dev, prod" in result.stderr
    assert "AGE-SECRET-KEY" not in result.stdout  # new-key printed no key for a stack that does not exist


@pytest.mark.parametrize("command", [
    ("status", "--stack", "nosuch", "--json"), ("validate", "no/such/dir", "--json"),
    ("plan", "--stack", "nosuch", "--json"), ("status", "--json", "--no-such-flag"),
])
def test_json_on_failure_is_json_with_problems_as_objects(command):
    result = cli(*command, env=NO_PULUMI)
    assert result.returncode in (1, 2)
    document = json.loads(result.stdout)
    assert document["ok"] is False and document["problems"]
    assert set(document["problems"][0]) == {"file", "line", "field", "message", "hint"}


def test_problems_document_keeps_every_field():
    problem = Problem("app.yaml", "database.size", "must grow", line=7, hint="use 10Gi")
    assert problems_document([problem]) == {"ok": False, "problems": [
        {"file": "app.yaml", "line": 7, "field": "database.size", "message": "must grow", "hint": "use 10Gi"}]}


def test_wide_tables_become_blocks_within_80_columns_and_lose_nothing():
    row = ("oracle", "prod", "https://" + "x" * 90 + ".example.com", "registry/oracle:1.0 (image.tag)", "-", "no")
    text = fit_table(("APP", "ENV", "URL", "IMAGE:TAG", "DATABASE", "PREVIEWS"), [row])
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "".join(part.strip() for part in text.replace("url:", "").split()).count("x" * 90) == 1
    assert fit_table(("A", "B"), [("1", "2")]) == "A  B\n1  2"


def test_help_output_fits_80_columns():
    for command in ((), ("status",), ("secrets",)):
        result = cli(*command, "--help", env={"COLUMNS": "80"})
        assert max(len(line) for line in result.stdout.splitlines()) <= 80, result.stdout


def test_no_colour_escape_in_output_even_when_asked_for_by_a_terminal_type():
    result = cli("status", "--stack", "prod", env={"TERM": "xterm-256color", "FORCE_COLOR": "1"})
    assert "\x1b[" not in result.stdout + result.stderr


def test_version_names_the_commit_of_a_checkout():
    result = cli("--version")
    assert result.returncode == 0
    if shutil.which("git") and (PROJECT_DIR / ".git").exists():
        head = subprocess.run(["git", "-C", str(PROJECT_DIR), "rev-parse", "--short=12", "HEAD"],
                              capture_output=True, text=True).stdout.strip()
        assert f"(commit {head}" in result.stdout
    without_git = cli("--version", env={"PATH": "/nonexistent"})
    assert without_git.returncode == 0 and without_git.stdout.startswith("minnova-idp ")


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_completion_scripts_come_from_the_parser(shell):
    result = cli("completion", shell)
    assert result.returncode == 0
    assert '"secrets") path="secrets"' in result.stdout and "new-key" in result.stdout and "--stack" in result.stdout
    if shell == "bash" and shutil.which("bash"):
        script = result.stdout + ('\nCOMP_WORDS=(minnova-idp secrets ne); COMP_CWORD=2; _minnova_idp; '
                                  'echo "${COMPREPLY[@]}"\n')
        completed = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30)
        assert completed.stdout.split() == ["new-key"], completed
