"""Where an app environment's MySQL-compatible database runs: its placement (ADR 0013).

The seam for what a MariaDB gets beyond the server itself: backups to R2, a restore into a new server, restore
drills and a preview's seed (docs/mysql.md says which exist). Those add their own fields here and their objects
beside `render/mysql.py`'s (`mysql_objects` takes the pods they run as `clients`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from minnova_idp.model.app_config import Resources


@dataclass(frozen=True)
class MysqlPlacement:
    server: str  # the MariaDB's name (`<app>-mysql`): its StatefulSet, Services and volumes derive from it
    version: str  # a key of versions.MARIADB_IMAGES
    size: str  # each instance's volume
    resources: Resources
    instances: int = 1  # more than one: replication, a primary and replicas (render/mysql.py)
    password: str = field(default="", repr=False)  # the app user's (derived: mysql.mysql_password); never logged
    preview: bool = False  # a preview's: one small instance, its volume deleted with the preview's namespace

    def __post_init__(self) -> None:
        if not self.server:
            raise ValueError("a MySQL placement needs its server name")
        if self.preview and self.instances != 1:
            raise ValueError("a preview's MySQL runs one instance")

    @property
    def replicated(self) -> bool:
        return self.instances > 1
