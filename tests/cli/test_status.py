"""`minnova-idp status`: what a stack deploys, without a cluster."""

from __future__ import annotations

import json

from tests.support.cli import cli


def test_status_lists_what_a_stack_deploys_without_a_cluster():
    result = cli("status", "--stack", "prod")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("oracle") and "https://oracle.minnova.io" in line and "5Gi x3" in line
               and "registry.minnova.io/oracle:1.4.2 (image.tag)" in line for line in lines), result.stdout
    document = json.loads(cli("status", "--stack", "dev", "--json").stdout)
    by_app = {row["app"]: row for row in document["apps"]}
    assert by_app["oracle"]["tag"] == "1.5.0-rc.1" and by_app["oracle"]["tag_source"] == "imageTag"
    assert by_app["oracle"]["previews"] is True and by_app["storefront"]["database"] is None
    assert cli("status", "--stack", "nope").returncode == 1
