"""What `minnova-idp status` says of a MariaDB's data half (docs/mysql-data.md): the server it runs, where and how
long its backups are kept, whether binary logs give it point-in-time recovery, a declared restore and the drill.
From the config and the stack alone (no cluster): when the last backup and drill ran is the cluster's to say
(`kubectl get physicalbackups`, `minnova-idp drills`)."""

from __future__ import annotations

from minnova_idp.model.inputs import MYSQL_BACKUP_BUCKETS_OUTPUT, MYSQL_SERVERS_OUTPUT, ProgramInputs
from minnova_idp.model.mysql import mysql_server
from minnova_idp.model.mysql_data import mysql_backup_prefix
from minnova_idp.policy.guards import ROWS
from minnova_idp.render.mysql_data import DAILY_BACKUP_CRON


def mysql_data_status(config, environment: str, inputs: ProgramInputs, line: str, instances: int) -> str:
    """`line` (render/status.py's MySQL column) with the server's own name and its backups."""
    settings = inputs.stack.settings
    server = ROWS[MYSQL_SERVERS_OUTPUT].declared(config, environment, inputs.recorded)
    line = line.replace(f"server {mysql_server(config.name)})", f"server {server})")
    bucket = ROWS[MYSQL_BACKUP_BUCKETS_OUTPUT].value(config, environment, inputs.recorded, settings.deployment)
    recovery = "to any second (binlogs archived)" if instances > 1 else "to the last full backup only"
    parts = [f"backups '{DAILY_BACKUP_CRON}' UTC to {bucket}/{mysql_backup_prefix(server)}, kept "
             f"{config.mysql.backup_retention}, restorable {recovery}"]
    restore = config.environments[environment].mysql.restore if config.environments[environment].mysql else None
    if restore is not None:
        parts.append(f"restored from {restore.from_backup}"
                     + (f" at {restore.target_time}" if restore.target_time else "")
                     + f" ({restore.from_backup} kept until removed)")
    drill = settings.restore_drill_schedule if config.mysql.restore_drill else None
    parts.append(f"drill '{drill}'" if drill else "no drill")
    return f"{line}; " + "; ".join(parts)
