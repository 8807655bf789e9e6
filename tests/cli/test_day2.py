"""Day-2 commands (issue 24 item 5): releases, logs through kubectl, drills without a cluster. kubectl is a fake on
PATH that records the argv it gets."""

from __future__ import annotations

import json
import os
import stat

import pytest

from minnova_idp.cli.day2 import log_selector
from minnova_idp.model.app_config import AppConfig
from minnova_idp.render.app import process_selector, selector_labels
from tests.support.cli import cli


def _fake_kubectl(tmp_path, stderr: str = "", exit_code: int = 0, stdout: str = ""):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "argv.json"
    script = bin_dir / "kubectl"
    script.write_text(f"""#!/usr/bin/env python3
import json, sys
with open({str(record)!r}, "a") as handle:
    handle.write(json.dumps(sys.argv[1:]) + "\\n")
sys.stdout.write({stdout!r})
sys.stderr.write({stderr!r})
sys.exit({exit_code})
""")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    environment = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PULUMI_STACK": ""}
    return environment, lambda: [json.loads(line) for line in record.read_text().splitlines()]


def test_releases_of_a_stack_that_recorded_only_image_tags(tmp_path):
    """A stack last updated before the releases output existed: its imageTags, times and commits unknown."""
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"imageTags": {"oracle-prod": ["1.4.2", "1.4.1", "1.4.0"]}}))
    result = cli("releases", "oracle", "prod", "-s", "prod", "--previous-outputs", str(outputs), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["releases"] == [
        {"tag": "1.4.2", "commit": None, "time": None, "current": True},
        {"tag": "1.4.1", "commit": None, "time": None, "current": False},
        {"tag": "1.4.0", "commit": None, "time": None, "current": False}]
    text = cli("releases", "oracle", "prod", "-s", "prod", "--previous-outputs", str(outputs)).stdout
    assert text.index("1.4.2  (current)") < text.index("1.4.1") < text.index("1.4.0")
    missing = cli("releases", "nosuch", "prod", "-s", "prod", "--previous-outputs", str(outputs), "--json")
    assert missing.returncode == 1 and json.loads(missing.stdout)["problems"][0]["field"] == "releases"


def test_releases_show_tag_commit_and_time_beyond_five(tmp_path):
    commit = "ab" * 20
    history = [[f"2026-12-{day:02d}T10:00:00Z", f"1.{day}.0", commit] for day in range(30, 0, -1)]
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"imageTags": {"oracle-prod": ["1.30.0", "1.29.0"]},
                                   "releases": {"oracle-prod": history}}))
    result = cli("releases", "oracle", "prod", "-s", "prod", "--previous-outputs", str(outputs), "--json")
    assert result.returncode == 0, result.stderr
    releases = json.loads(result.stdout)["releases"]
    assert len(releases) == 30 and releases[0] == {"tag": "1.30.0", "commit": commit,
                                                   "time": "2026-12-30T10:00:00Z", "current": True}
    assert releases[-1]["tag"] == "1.1.0"
    text = cli("releases", "oracle", "prod", "-s", "prod", "--previous-outputs", str(outputs)).stdout
    assert "2026-12-30T10:00:00Z  abababababab  1.30.0  (current)" in text
    outputs.write_text(json.dumps({"releases": {"oracle-prod": [["now", 5, None]]}}))
    bad = cli("releases", "oracle", "prod", "-s", "prod", "--previous-outputs", str(outputs), "--json")
    assert bad.returncode == 1 and json.loads(bad.stdout)["problems"][0]["field"] == "releases.oracle-prod"


def test_logs_runs_kubectl_for_every_pod_of_the_process(tmp_path):
    environment, argv = _fake_kubectl(tmp_path)
    result = cli("logs", "oracle", "prod", "-s", "prod", "--process", "worker", "--follow", "--since", "1h",
                 env=environment)
    assert result.returncode == 0, result.stderr
    (command,) = argv()
    assert command[command.index("--namespace") + 1] == "oracle-prod"
    assert command[command.index("--selector") + 1] == \
        "app.kubernetes.io/name=oracle,app.kubernetes.io/instance=oracle-prod-worker"
    assert command[0] == "--context" and command[2] == "logs"  # the stack's minnova:kubernetes.context
    assert "--follow" in command and "--since=1h" in command and "--prefix" in command


def test_logs_web_and_an_explicit_context(tmp_path):
    environment, argv = _fake_kubectl(tmp_path, exit_code=3)
    result = cli("logs", "oracle", "dev", "--context", "kind-test", env=environment)
    assert result.returncode == 3  # kubectl's own exit code
    (command,) = argv()
    assert command[:2] == ["--context", "kind-test"]
    assert "app.kubernetes.io/instance=oracle-dev" in command[command.index("--selector") + 1].split(",")
    assert cli("logs", "oracle", "prod", "--process", "a,b=c", "--context", "x", env=environment).returncode == 1


@pytest.mark.parametrize("process", ["web", "worker"])
def test_log_selector_is_the_one_render_sets(process):
    from minnova_idp.render.placement import build_placement

    app = AppConfig.model_validate({"name": "oracle", "port": 8080, "image": {"repository": "r/oracle"},
                                    "environments": {"prod": {"host": "oracle.example.com"}}})
    namespace, labels = log_selector("oracle", "prod", process)
    placement = build_placement(app, "prod", namespace, "oracle.example.com", "1.0")
    expected = selector_labels(app, placement) if process == "web" else process_selector(app, placement, process)
    assert labels == expected


def test_drills_without_a_cluster_is_one_clear_error(tmp_path):
    stderr = ("E0101 00:00:00.000000 memcache.go:265] couldn't get current server API group list: Get "
              "\"https://10.0.0.1:6443/api?timeout=32s\": dial tcp 10.0.0.1:6443: connect: connection refused\n"
              "The connection to the server 10.0.0.1:6443 was refused - did you specify the right host or port?\n")
    environment, argv = _fake_kubectl(tmp_path, stderr=stderr, exit_code=1)
    result = cli("drills", "--json", env=environment)
    assert result.returncode == 1
    (problem,) = json.loads(result.stdout)["problems"]
    assert problem["message"].startswith("no cluster reachable")
    assert problem["message"].endswith("did you specify the right host or port?")
    assert argv()[0][:2] == ["get", "cronjobs"]


def test_drills_with_an_empty_cluster(tmp_path):
    environment, _ = _fake_kubectl(tmp_path, stdout='{"items": []}')
    result = cli("drills", "--json", env=environment)
    assert result.returncode == 0 and json.loads(result.stdout) == []
