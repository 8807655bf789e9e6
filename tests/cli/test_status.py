"""`minnova-idp status`: what a stack deploys, without a cluster."""

from __future__ import annotations

import json

from tests.support.cli import cli


def test_status_lists_what_a_stack_deploys_without_a_cluster():
    result = cli("status", "--stack", "prod")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80, result.stdout
    blocks = result.stdout.split("\n\n")
    assert any("app:       oracle" in block and "https://oracle.minnova.io" in block and "5Gi x3" in block
               and "registry.minnova.io/oracle:1.4.2 (image.tag)" in block for block in blocks), result.stdout
    document = json.loads(cli("status", "--stack", "dev", "--json").stdout)
    by_app = {row["app"]: row for row in document["apps"]}
    assert document["ok"] is True
    assert by_app["oracle"]["image"] == {"repository": "registry.minnova.io/oracle", "tag": "1.5.0-rc.1",
                                         "tagSource": "imageTag"}
    assert by_app["oracle"]["database"]["size"] == "5Gi" and isinstance(by_app["oracle"]["database"]["instances"], int)
    assert by_app["oracle"]["previews"] is True and by_app["storefront"]["database"] is None
    assert by_app["oracle"]["storage"] is None  # storefront's uploads have a bucket, oracle has none
    assert by_app["storefront"]["storage"] == {"bucket": "minnova-storefront-dev-objectstorage"}
    assert by_app["storefront"]["aliases"] == [] and by_app["oracle"]["aliases"] == []
    assert cli("status", "--stack", "nope").returncode == 1


def test_status_and_plan_name_a_broken_app_and_what_it_keeps(tmp_path):
    """Issue 24's done-when: with one app's config broken, `plan` and `status` show every other app and name the
    broken one and what it keeps running; `plan --app` of it (that app's CI gate) exits 1."""
    from tests.conftest import project_copy

    project = project_copy(tmp_path)
    good = cli("plan", "--stack", "prod", "--json", cwd=project)
    assert good.returncode == 0, good.stderr
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps(json.loads(good.stdout)["outputs"]))
    app_yaml = project / "examples" / "storefront" / ".minnova" / "app.yaml"
    app_yaml.write_text(app_yaml.read_text().replace("port: 3000", "port: 0"))

    status = cli("status", "--stack", "prod", "--previous-outputs", str(outputs), cwd=project)
    assert status.returncode == 0, status.stderr
    assert "app:       oracle" in status.stdout and "app:       storefront (kept)" in status.stdout
    assert "storefront: keeps its last good config (examples/storefront)" in status.stdout
    assert ("- examples/storefront/.minnova/app.yaml:7: port: Input should be greater than or equal to 1"
            in status.stdout)
    document = json.loads(cli("status", "--stack", "prod", "--previous-outputs", str(outputs), "--json",
                              cwd=project).stdout)
    assert {row["app"]: row["kept"] for row in document["apps"]} == {"catalog": False, "ledger": False, "oracle": False,
                                                                     "storefront": True}
    (degraded,) = document["degraded"]
    assert degraded["app"] == "storefront" and degraded["kept"] is True
    assert degraded["problems"][0]["field"] == "port" and degraded["problems"][0]["line"] == 7

    plan = cli("plan", "--stack", "prod", "--previous-outputs", str(outputs), cwd=project)
    assert plan.returncode == 0, plan.stderr
    assert "DEGRADED APPS (1)" in plan.stdout and "storefront: keeps its last good config" in plan.stdout
    assert "storefront-prod: https://shop.minnova.io" in plan.stdout  # still declared
    gate = cli("plan", "--stack", "prod", "--previous-outputs", str(outputs), "--app", "storefront", "--json",
               cwd=project)
    assert gate.returncode == 1
    problems = json.loads(gate.stdout)["problems"]
    assert problems[0]["field"] == "port" and "keeps its last good config" in problems[-1]["message"]
    assert cli("plan", "--stack", "prod", "--previous-outputs", str(outputs), "--app", "oracle",
               cwd=project).returncode == 0


def test_status_and_plan_show_an_environments_aliases(tmp_path):
    """The example storefront serves prod on store.minnova.io too (environments.prod.aliases, docs/dns-tls.md)."""
    from tests.conftest import project_copy

    document = json.loads(cli("status", "--stack", "prod", "--json").stdout)
    by_app = {row["app"]: row for row in document["apps"]}
    assert by_app["storefront"]["url"] == "https://shop.minnova.io"
    assert by_app["storefront"]["aliases"] == [{"url": "https://store.minnova.io", "redirect": False}]
    assert "https://shop.minnova.io, store.minnova.io" in cli("status", "--stack", "prod").stdout
    plan = json.loads(cli("plan", "--stack", "prod", "--json").stdout)
    assert plan["outputs"]["urls"]["storefront-prod"] == "https://shop.minnova.io"
    assert plan["outputs"]["hostAliases"] == {"storefront-prod": ["https://store.minnova.io"]}
    dev = json.loads(cli("plan", "--stack", "dev", "--json").stdout)["outputs"]
    assert dev["hostAliases"] == {"ledger-dev": ["https://books.ledger.minnova.io"]}
    # A stack without aliases has no such output: its outputs are what they were before aliases existed.
    project = project_copy(tmp_path)
    ledger = project / "examples/ledger/.minnova/app.yaml"
    ledger.write_text("".join(line for line in ledger.read_text().splitlines(keepends=True)
                              if "aliases:" not in line))
    result = cli("plan", "--stack", "dev", "--json", "--project-dir", str(project))
    assert result.returncode == 0, result.stderr
    assert "hostAliases" not in json.loads(result.stdout)["outputs"]
def test_status_shows_internal_services_and_who_may_call_them():
    """ADR 0016: `status` (table and --json) shows each internal service, its URL and callers, and what each app
    may call."""
    result = cli("status", "--stack", "prod")
    assert result.returncode == 0, result.stderr
    section = result.stdout.split("INTERNAL SERVICES", 1)[1]
    assert "oracle prod api: http://oracle-api.oracle-prod.svc:8080 (from: storefront)" in section
    assert "storefront prod calls http://oracle-api.oracle-prod.svc:8080 (ORACLE_API_URL)" in section
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
    by_app = {row["app"]: row for row in json.loads(cli("status", "--stack", "dev", "--json").stdout)["apps"]}
    assert by_app["oracle"]["internalServices"] == {"services": {"api": {
        "url": "http://oracle-api.oracle-dev.svc:8080", "port": 8080, "allowFrom": ["storefront"]}}, "calls": {}}
    assert by_app["storefront"]["internalServices"] == {
        "services": {}, "calls": {"ORACLE_API_URL": "http://oracle-api.oracle-dev.svc:8080"}}


def test_the_status_table_shows_each_environments_bucket():
    """docs/storage.md: the table names the bucket as --json does, within 80 columns; an app without storage shows
    none."""
    result = cli("status", "--stack", "dev")
    assert result.returncode == 0, result.stderr
    assert max(len(line) for line in result.stdout.splitlines()) <= 80, result.stdout
    blocks = {block.splitlines()[0].split()[-1]: block for block in result.stdout.split("\n\n")
              if block.startswith("app:")}
    assert "bucket minnova-storefront-dev-objectstorage" in blocks["storefront"], result.stdout
    assert "bucket" not in blocks["oracle"], result.stdout
