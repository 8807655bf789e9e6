"""The guarded values of a MariaDB's data half (docs/mysql-data.md): what policy/guards.py's table reads and checks.

Server: an environment's MariaDB is the server this stack last deployed for it (`mysqlServers`), unless a restore
from that server is declared: a changed `serverName` alone would give the app a new, empty database, and its
backups would start a new prefix beside the old one's.
Bucket: the backups' bucket is the one last deployed (`mysqlBackupBuckets`): a new name (a renamed deployment) would
back up into a new, empty bucket, leaving every earlier backup where no restore or drill of this server looks.
Retention: a shorter `backupRetention` makes the next backup Job delete every full backup older than the new
period under the server's prefix (mariadb-operator@v26.6.0 pkg/backup/processor.go:236-251, run by
`mariadb-operator backup --max-retention`, pkg/command/backup.go:323-359): refused until done on purpose with the
storage guard off for one run (minnova:databaseStorageGuard false).
History (`mysqlServerHistory`): every server an environment has run, and the restore each was created by. The
operator reads `bootstrapFrom` only while it creates a server: on one that runs, a new or changed restore does
nothing (mariadb-operator@v26.6.0 internal/controller/mariadb_controller_init.go:83-85 returns once the server is
initialised; pkg/webhook/inmutable_webhook.go:139-142 lets nil become set), and a
changed `targetRecoveryTime` is refused half-way through an update (api/v1alpha1/mariadb_types.go:241,
`inmutableinit`). A name run before keeps its retained volume: a restore into it would copy back into a non-empty
data directory and fail on every retry (pkg/command/backup.go:445-447). And a restore's source is declared as it
runs: a source this environment does not record as running would be created anew, empty, its PhysicalBackup
writing into the prefix being restored from (`sourceGone: true` declares nothing of it).
"""

from __future__ import annotations

from typing import Any, Mapping

from minnova_idp.model import names
from minnova_idp.model.inputs import MYSQL_SERVER_HISTORY_OUTPUT, MYSQL_SERVERS_OUTPUT
from minnova_idp.model.errors import Problem
from minnova_idp.model.loaded import LoadedApp
from minnova_idp.model.mysql_data import SERVER_NAME_MAX, retention_duration
from minnova_idp.model.mysql import mysql_instances
from minnova_idp.model.mysql_data_rules import mysql_server_name

Recorded = Mapping[str, Mapping[str, str]]


def declared_server(config: Any, environment: str, recorded: Recorded) -> str | None:
    return mysql_server_name(config, environment) if config.mysql.enabled else None


def declared_bucket(config: Any, environment: str, deployment: str) -> str | None:
    return names.backup_bucket(deployment, config.name, environment) if config.mysql.enabled else None


def declared_retention(config: Any, environment: str, recorded: Recorded) -> str | None:
    return config.mysql.backup_retention if config.mysql.enabled else None


def server_replaced(app: LoadedApp, environment: str, before: str, now: str) -> list[Problem]:
    settings = app.config.environments[environment].mysql
    restore = settings.restore if settings else None
    if now == before or restore is not None:
        return []  # a restore: mysqlServerHistory's row checks it (history_problems)
    return [Problem(app.config_file, f"environments.{environment}.mysql.serverName",
                    f"'{now}' would give the app a new, empty MySQL in place of '{before}', which {environment} runs",
                    hint=f"keep serverName: {before}, or restore into '{now}' with restore.fromBackup: {before} "
                         "(docs/mysql-data.md: Restoring)")]


def bucket_replaced(app: LoadedApp, environment: str, before: str, now: str) -> list[Problem]:
    if now == before:
        return []
    return [Problem(app.config_file, "mysql.enabled",
                    f"{environment} would back its MySQL up into a new, empty bucket '{now}' in place of '{before}', "
                    "which holds its backups and binary logs",
                    hint=f"copy mysql/ from '{before}' to '{now}' first, then run with minnova:databaseStorageGuard "
                         "false once (docs/mysql-data.md: What is backed up, where, and for how long)")]


def _hours(retention: str) -> int | None:
    try:
        return int(retention_duration(retention).removesuffix("h"))
    except (AttributeError, ValueError):
        return None


def retention_shortened(app: LoadedApp, environment: str, before: str, now: str) -> list[Problem]:
    old, new = _hours(before), _hours(now)
    if old is None or new is None or new >= old:
        return []
    return [Problem(app.config_file, "mysql.backupRetention",
                    f"'{now}' is shorter than the {before} {environment} keeps: the next backup would delete every "
                    f"full backup of {environment}'s MySQL older than {now}",
                    hint=f"keep backupRetention: {before}; to shorten it on purpose, run once with "
                         "minnova:databaseStorageGuard false (docs/mysql-data.md: Restoring)")]


def malformed_server(value: str) -> str | None:
    ok = 0 < len(value) <= SERVER_NAME_MAX and value.replace("-", "").isalnum() and value.islower()
    return None if ok else f"'{value[:40]}' is not a MariaDB name this stack writes"


def malformed_bucket(value: str) -> str | None:
    if 3 <= len(value) <= names.BUCKET_NAME_MAX and names.DNS_LABEL_RE.fullmatch(value):
        return None
    return f"'{value[:70]}' is not a bucket name this stack writes"


def malformed_retention(value: str) -> str | None:
    return None if _hours(value) is not None else f"'{value[:40]}' is not a backup retention"


# ---- mysqlServerHistory ------------------------------------------------------------------------------------------
# "server#instances", with "<from@targetTime" (or "...@targetTime!gone") for one a restore created, oldest first,
# comma-separated ("#instances" is missing from the one entry a stack records from `mysqlServers`).
History = list[tuple[str, str | None, int | None]]


def _restore_text(restore: Any) -> str:
    return f"{restore.from_backup}@{restore.target_time or ''}" + ("!gone" if restore.source_gone else "")


def _restore_shown(text: str) -> str:
    """A recorded restore (_restore_text) as a sentence's words: 'ledger-mysql at 2026-…Z, its source gone'."""
    gone = text.endswith("!gone")
    source, _, time = text.removesuffix("!gone").partition("@")
    return source + (f" at {time}" if time else " (its latest backup)") + (", its source gone" if gone else "")


def parse_history(value: str) -> History | None:
    entries: History = []
    for text in value.split(","):
        head, _, restore = text.partition("<")
        server, _, instances = head.partition("#")
        if malformed_server(server) is not None or (instances and not instances.isdigit()):
            return None
        entries.append((server, restore or None, int(instances) if instances else None))
    return entries


def _format(entries: History) -> str:
    return ",".join(server + (f"#{instances}" if instances else "") + (f"<{restore}" if restore else "")
                    for server, restore, instances in entries)


def malformed_history(value: str) -> str | None:
    return None if parse_history(value) is not None else f"'{value[:60]}' is not a MariaDB server history"


def _restore_of(config: Any, environment: str) -> Any:
    settings = config.environments[environment].mysql if environment in config.environments else None
    return settings.restore if settings is not None else None


def declared_history(config: Any, environment: str, recorded: Recorded) -> str | None:
    """The recorded history (or, before it was recorded, the server `mysqlServers` names), with the server this run
    declares added when it is new (with the restore that creates it). A server that runs keeps its entry as
    recorded: what created it, not what app.yaml says now (history_problems refuses the difference)."""
    if not config.mysql.enabled:
        return None
    component = names.component_name(config.name, environment)
    text = (recorded.get(MYSQL_SERVER_HISTORY_OUTPUT) or {}).get(component)
    prior = parse_history(text) if text else None
    if prior is None:
        running = (recorded.get(MYSQL_SERVERS_OUTPUT) or {}).get(component)
        prior = [(running, None, None)] if running and malformed_server(running) is None else []
    server = mysql_server_name(config, environment)
    if prior and prior[-1][0] == server:
        return _format(prior)
    restore = _restore_of(config, environment)
    return _format([*prior, (server, _restore_text(restore) if restore is not None else None,
                             mysql_instances(config, environment))])


def _restore_problems(app: LoadedApp, environment: str, prior: History) -> list[Problem]:
    restore = _restore_of(app.config, environment)
    if restore is None:
        return []
    server = mysql_server_name(app.config, environment)
    field = f"environments.{environment}.mysql.restore"
    ran = [name for name, _, _ in prior]
    running, applied, instances = prior[-1] if prior else (None, None, None)
    if server == running:
        if instances is not None and mysql_instances(app.config, environment) != instances:
            return [Problem(app.config_file, f"environments.{environment}.mysql.instances",
                            f"{mysql_instances(app.config, environment)} in place of the {instances} that "
                            f"'{server}' runs: a restore changes instances only for the new server it creates",
                            hint=f"keep instances: {instances} (docs/mysql.md: Changing instances)")]
        if applied is None:
            return [Problem(app.config_file, field,
                            f"'{server}' already runs in {environment}: the operator reads a restore only when it "
                            "creates a server, so this one would do nothing",
                            hint="remove restore, or restore into a new serverName (docs/mysql-data.md: Restoring)")]
        if applied != _restore_text(restore):
            return [Problem(app.config_file, field,
                            f"'{server}' was created by the restore from {_restore_shown(applied)}; a changed "
                            "fromBackup, targetTime or sourceGone cannot be applied to a server that runs (the "
                            "operator refuses it half-way through the update)",
                            hint="put the restore back as it was applied or remove it (the server exists); to "
                                 "restore again, into a new serverName (docs/mysql-data.md: Restoring)")]
        return []
    if server in ran:
        return [Problem(app.config_file, f"environments.{environment}.mysql.serverName",
                        f"'{server}' already ran in {environment}: its retained volume would still hold that "
                        "server's files and the restore cannot copy its backup into them",
                        hint="pick a serverName this environment never used (docs/mysql-data.md: Restoring)")]
    if restore.source_gone:
        if prior and restore.from_backup not in ran:
            return [Problem(app.config_file, f"{field}.fromBackup",
                            f"'{restore.from_backup}' is not a server {environment} has run ({', '.join(ran)})",
                            hint="name one of them (its backups are under mysql/<server>/ in the bucket)")]
        return []
    if restore.from_backup != running:
        where = f"the server {environment} runs is '{running}'" if running else f"{environment} runs no MySQL yet"
        return [Problem(app.config_file, f"{field}.fromBackup",
                        f"'{restore.from_backup}' is not running here ({where}); a restore keeps its source "
                        "declared as it runs, which would create it anew, empty, backing up into the prefix being "
                        "restored from",
                        hint="restore from the running server, or set restore.sourceGone: true to restore from the "
                             "backups of a server that no longer runs (docs/mysql-data.md: Restoring)")]
    return []


def history_problems(app: LoadedApp, environment: str, before: str, now: str) -> list[Problem]:
    prior = parse_history(before)
    return [] if prior is None else _restore_problems(app, environment, prior)


def unrecorded_history_problems(app: LoadedApp, environment: str, now: str) -> list[Problem]:
    """Nothing recorded yet: what `mysqlServers` named (the first run of this version), or nothing at all (a new
    environment, or a stack whose outputs are gone: only a restore with `sourceGone` can name a source then)."""
    entries = parse_history(now) or []
    server = mysql_server_name(app.config, environment)
    prior = entries[:-1] if entries and entries[-1][0] == server and entries[-1][1] else entries
    return _restore_problems(app, environment, prior)
