"""The guarded values of an app's MariaDB (ADR 0013): what policy/guards.py's table reads and checks for `mysql:`.

Size: a volume can grow, never shrink (guards._shrinks; the operator's webhook refuses it too, half-way through an
update: mariadb-operator@v26.6.0 internal/webhook/v1alpha1/mariadb_webhook.go:252-266).
Version: a series can move up (10.11 to 11.8): the operator rolls the pods onto the new image, replicas first and
the primary last after a switchover (docs/updates.md, docs/replication.md "Updates"), and each new server runs
`mariadb-upgrade` on its data (MARIADB_AUTO_UPGRADE, render/mysql.py); the data files are then the newer server's,
so moving down is refused: it would start 10.11 on 11.8's files.
Instances: one server and a replicated set are different topologies: enabling replication on a running server, or
adding a replica, needs the new replicas seeded from a physical backup (`replication.replica.bootstrapFrom`, which
the operator refuses to scale out without: api/v1alpha1/mariadb_replication_types.go:183-188), and dropping to one
disables replication on servers that hold binary logs and replica state. Both are refused on a
running server; a restore into a new server (`restore.sourceGone`, so nothing of the old server is re-declared with
the new count) creates it with the new count (docs/mysql.md "Changing instances").
"""

from __future__ import annotations

from typing import Any, Mapping

from minnova_idp.model.errors import Problem
from minnova_idp.model.loaded import LoadedApp
from minnova_idp.model.mysql import mysql_instances

Recorded = Mapping[str, Mapping[str, str]]


def declared_size(config: Any, environment: str, recorded: Recorded) -> str | None:
    return config.mysql.size if config.mysql.enabled else None


def declared_version(config: Any, environment: str, recorded: Recorded) -> str | None:
    return config.mysql.version if config.mysql.enabled else None


def declared_instances(config: Any, environment: str, recorded: Recorded) -> str | None:
    return str(mysql_instances(config, environment)) if config.mysql.enabled else None


def _series(value: str) -> tuple[int, int] | None:
    major, _, minor = value.partition(".")
    return (int(major), int(minor)) if major.isdigit() and minor.isdigit() else None


def malformed_version(value: str) -> str | None:
    return None if _series(value) is not None and len(value) <= 8 else f"'{value[:40]}' is not a MariaDB series"


def malformed_instances(value: str) -> str | None:
    return None if value.isdigit() and 1 <= int(value) <= 99 else f"'{value[:40]}' is not a number of instances"


def version_change(app: LoadedApp, environment: str, before: str, now: str) -> list[Problem]:
    old, new = _series(before), _series(now)
    if old is None or new is None or new >= old:
        return []
    return [Problem(app.config_file, "mysql.version",
                    f"MariaDB {now} is older than the {before} that environments.{environment} runs; its data files "
                    f"were upgraded by {before} and {now} cannot read them back",
                    hint=f"keep version: \"{before}\"; a downgrade is not supported (a restored server runs "
                         "mysql.version too: docs/mysql.md \"Versions and upgrades\")")]


def instances_change(app: LoadedApp, environment: str, before: str, now: str) -> list[Problem]:
    if not (before.isdigit() and now.isdigit()) or int(before) == int(now):
        return []
    settings = app.config.environments[environment].mysql
    restore = settings.restore if settings is not None else None
    if restore is not None and restore.source_gone:
        # A new server, created with the new count from the old one's backups; nothing of the old one is declared
        # (mysqlServerHistory's row refuses a restore into a server that runs, and a count changed under one).
        return []
    if int(before) == 1:
        what = "turns replication on for a server that has run alone"
    elif int(now) == 1:
        what = "turns replication off"
    else:
        what = "adds replicas to" if int(now) > int(before) else "removes replicas from"
        what += " a replicated server"
    return [Problem(app.config_file, f"environments.{environment}.mysql.instances",
                    f"{now} in place of the {before} that {environment} runs {what}; the operator does not "
                    "change a running server's topology",
                    hint=f"keep instances: {before}, or restore into a new serverName with instances: {now} and "
                         "restore.sourceGone: true (docs/mysql.md: Changing instances)")]
