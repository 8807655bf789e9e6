"""The app developer's install has no Pulumi SDK (issue 24 item 7): pyproject.toml keeps pulumi, pulumi-kubernetes and
pulumi-cloudflare in the `platform` extra, and every command an app developer runs works where they cannot be
imported. Each command runs in a new process whose import system refuses the three (and records any attempt, even
one the code would catch): what a `pip install minnova-idp` without the extra has. `plan` says which extra it needs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import PROJECT_DIR

pytestmark = pytest.mark.integration  # starts the command

BLOCKED = ("pulumi", "pulumi_kubernetes", "pulumi_cloudflare")
WITHOUT_PULUMI = r"""
import atexit, sys
BLOCKED = %r
tried = []
class NoPulumi:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            tried.append(name)
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, NoPulumi())
atexit.register(lambda: tried and print("PULUMI IMPORTED: " + ", ".join(tried), file=sys.stderr))
from minnova_idp.cli.main import main
sys.exit(main())
""" % (BLOCKED,)


def without_pulumi(*args: str, cwd: Path, stdin: str | None = None, env: dict | None = None):
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("SOPS_", "MINNOVA_IDP"))}
    return subprocess.run([sys.executable, "-c", WITHOUT_PULUMI, *args], cwd=cwd, capture_output=True, text=True,
                          input=stdin, timeout=120, env={**environment, **(env or {})})


def test_the_pulumi_sdks_are_only_in_the_platform_extra():
    project = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())["project"]
    names = lambda requirements: {r.split(">")[0].split("<")[0].split("=")[0].split("[")[0] for r in requirements}
    assert not names(project["dependencies"]) & {"pulumi", "pulumi-kubernetes", "pulumi-cloudflare"}
    assert names(project["optional-dependencies"]["platform"]) == {"pulumi", "pulumi-kubernetes", "pulumi-cloudflare"}
    assert "minnova-idp[platform]" in project["optional-dependencies"]["dev"]
    # The platform paths install the extra explicitly.
    assert "-e .[platform]" in (PROJECT_DIR / "requirements.txt").read_text().splitlines()
    assert "--extra=platform" in (PROJECT_DIR / "requirements.lock").read_text().split("\n", 6)[4]
    assert "pip install -e '.[platform]'" in (PROJECT_DIR / ".github/workflows/preview.yml").read_text()


def test_every_app_developer_command_runs_without_pulumi(tmp_path):
    import pyrage

    recipient = str(pyrage.x25519.Identity.generate().to_public())
    app = tmp_path / "app"
    app.mkdir()
    editor = tmp_path / "editor.sh"
    editor.write_text("#!/bin/sh\nprintf 'stringData:\\n  API_TOKEN: typed\\n' > \"$1\"\n")
    editor.chmod(0o755)
    commands = [
        ["--version"],
        ["init", "--name", "ledger", "--port", "4000", "--image", "ghcr.io/acme/ledger"],
        ["validate", "."],
        ["validate", ".", "--json"],
        ["schema"],
        ["completion", "bash"],
        ["ci-template", "--out", ".github/workflows", "--previews"],
        ["secrets", "encrypt", "-", "--out", ".minnova/secrets/dev.enc.yaml", "--recipient", recipient],
        ["secrets", "edit", ".minnova/secrets/prod.enc.yaml", "--recipient", recipient],
        ["secrets", "sops-config", "ledger", "--recipient", f"prod={recipient}", "--out", ".sops.yaml"],
        ["--help"],
    ]
    for args in commands:
        result = without_pulumi(*args, cwd=app, stdin="stringData:\n  API_TOKEN: x\n",
                                env={"EDITOR": str(editor), "TMPDIR": str(tmp_path)})
        assert result.returncode == 0, (args, result.stdout[-2000:], result.stderr[-2000:])
        assert "PULUMI IMPORTED" not in result.stderr, (args, result.stderr)
    assert (app / ".github/workflows/minnova.yml").is_file() and (app / ".minnova/secrets/prod.enc.yaml").is_file()


def test_the_read_only_day2_commands_run_without_pulumi(tmp_path):
    """What an app developer may run from a checkout of the infra repository: status, and releases from outputs."""
    outputs = tmp_path / "outputs.json"
    outputs.write_text('{"imageTags": {"oracle-prod": ["1.4.2", "1.4.1"]}}')
    for args in (["status", "-s", "prod"], ["status", "-s", "dev", "--json"],
                 ["releases", "oracle", "prod", "-s", "prod", "--previous-outputs", str(outputs)]):
        result = without_pulumi(*args, cwd=PROJECT_DIR, env={"HOME": str(tmp_path)})
        assert result.returncode == 0, (args, result.stdout[-2000:], result.stderr[-2000:])
        assert "PULUMI IMPORTED" not in result.stderr, (args, result.stderr)


def test_the_blocker_sees_an_import_of_pulumi(tmp_path):
    """The check above can fail: plan reaches for the SDK, and says which extra to install, without a traceback."""
    result = without_pulumi("plan", "--stack", "dev", cwd=PROJECT_DIR)
    assert "PULUMI IMPORTED: pulumi" in result.stderr
    assert result.returncode == 1, result.stderr
    assert "minnova-idp[platform]" in result.stdout + result.stderr and "Traceback" not in result.stderr


def test_one_secret_at_a_time_and_validate_against_the_published_policy_run_without_pulumi(tmp_path):
    """With what the platform team publishes (recipients, policy) committed, as docs/cli.md describes."""
    app = tmp_path / "oracle"
    app.mkdir()
    assert without_pulumi("init", "--name", "oracle", "--port", "4000", "--image", "registry.minnova.io/oracle",
                          "--domain", "minnova.io", cwd=app).returncode == 0
    for publish in (["secrets", "publish", "oracle", "--out", str(app / ".minnova/recipients.yaml")],
                    ["policy", "publish", "oracle", "-s", "prod", "--out", str(app / ".minnova/platform/prod.yaml")]):
        published = subprocess.run([sys.executable, "-m", "minnova_idp.cli", *publish], cwd=PROJECT_DIR,
                                   capture_output=True, text=True, timeout=120)  # the platform side: any install
        assert published.returncode == 0, published.stderr
    config = app / ".minnova/app.yaml"  # validate reads the checkout as a local source: no commit to tag by
    # The registry lets storefront call oracle's internal services: the app must have one (a process with a port).
    config.write_text(config.read_text().replace('  # tag: "1.2.3"', '  tag: "1.2.3"')
                      + "processes:\n  api: {command: [bin/api], port: 8080}\n")
    for args in (["secrets", "set", "API_TOKEN=x", "--env", "prod"], ["secrets", "list", "--env", "prod"],
                 ["validate", "."], ["validate", ".", "--json"]):
        result = without_pulumi(*args, cwd=app, env={"HOME": str(tmp_path)})
        assert result.returncode == 0, (args, result.stdout[-2000:], result.stderr[-2000:])
        assert "PULUMI IMPORTED" not in result.stderr, (args, result.stderr)
