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
    assert by_app["oracle"]["storage"] is None  # no example app has storage.enabled (docs/storage.md)
    assert cli("status", "--stack", "nope").returncode == 1
