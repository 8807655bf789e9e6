"""Where an app environment's MySQL-compatible database runs: its placement (ADR 0013).

The seam for what a MariaDB gets beyond the server itself: backups to R2, a restore into a new server, restore
drills and a preview's seed (docs/mysql.md says which exist). Those add their own fields here and their objects
beside `render/mysql.py`'s (`mysql_objects` takes the pods they run as `clients`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from minnova_idp.model.app_config import Resources
from minnova_idp.model.mysql_data import MysqlRestore
from minnova_idp.render.database_placement import BackupTarget


@dataclass(frozen=True)
class MysqlData:
    """The data half of one app environment's MariaDB (render/mysql_data.py): its backups, a restore, seed files."""

    server: str  # the MariaDB's name (model/mysql_data_rules.mysql_server_name)
    version: str  # its series (versions.MARIADB_IMAGES key): the seed's client comes from the same image
    instances: int
    backup: BackupTarget | None = None  # None: no backups (previews)
    retention: str = "30d"
    restore: MysqlRestore | None = None
    seed: tuple[tuple[str, str], ...] = ()
    drill_schedule: str | None = None  # when its backups are restored and checked (mysql_drill.py); None: never
    drill_check: str | None = None

    @property
    def point_in_time(self) -> bool:
        """Binary logs archived: the operator does it only for replication (render/mysql_data.py)."""
        return self.backup is not None and self.instances >= 2


@dataclass(frozen=True)
class MysqlPlacement:
    server: str  # the MariaDB's name (`<app>-mysql`): its StatefulSet, Services and volumes derive from it
    version: str  # a key of versions.MARIADB_IMAGES
    size: str  # each instance's volume
    resources: Resources
    instances: int = 1  # more than one: replication, a primary and replicas (render/mysql.py)
    password: str = field(default="", repr=False)  # the app user's (derived: mysql.mysql_password); never logged
    preview: bool = False  # a preview's: one small instance, its volume deleted with the preview's namespace
    data: MysqlData | None = None  # backups, restore, seed (render/mysql_data.py attach_data)

    def __post_init__(self) -> None:
        if not self.server:
            raise ValueError("a MySQL placement needs its server name")
        if self.preview and self.instances != 1:
            raise ValueError("a preview's MySQL runs one instance")

    @property
    def replicated(self) -> bool:
        return self.instances > 1
