"""`mongodb:` in `.minnova/app.yaml`: a MongoDB replica set per environment (Percona Operator for MongoDB, ADR 0014).

What the app developer writes, validated at the edge; render/mongodb.py turns it into the operator's objects.
"""

from __future__ import annotations

import re
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, Field

from minnova_idp.model import versions
from minnova_idp.model.fields import Quantity, StrictModel, default_shown_as, server_name
from minnova_idp.model.quantity import parse_quantity
from minnova_idp.model.resources import ResourceList, Resources
from minnova_idp.model.seed import Timestamp

MONGODB_SIZE_MAX = "64Ti"
# The operator refuses `len(cluster name + replset name) > 50` (percona-server-mongodb-operator@v1.22.0
# pkg/apis/psmdb/v1/psmdb_defaults.go:61,383-384); the replica set is `rs0`, so a cluster name has 47 at most. We keep
# 40, like a CNPG Cluster's, which also leaves room for `-rs0-<n>` pod names and `<cluster>-backup-<task>-<ns>`.
CLUSTER_NAME_MAX = 40
# MongoDB's own databases: the app's database is its name, and readWrite on one of these would reach the system
# users (admin.system.users), PBM's settings and command queue (admin.pbmConfig holds the R2 keys, admin.pbmCmd), the
# oplog (local) or the cluster's metadata (config). An app with MongoDB may not be named so. (PBM's collections:
# percona-backup-mongodb@05ab6d7e1004 pbm/defs/defs.go:12,16,29: DB "admin", "pbmConfig", "pbmCmd".)
SYSTEM_DATABASES = frozenset({"admin", "local", "config"})
_RETENTION_RE = re.compile(r"^([1-9][0-9]{0,2})([dwm])$")
_RETENTION_DAYS = {"d": 1, "w": 7, "m": 30}
RETENTION_MAX_DAYS = 400  # a count of daily backups PBM keeps; sanity bound
# PBM backup names are the time the backup started, RFC 3339 in UTC to the second (what `pbm list` prints and what
# the operator's Backup objects carry in status.pbmName).
_PBM_NAME_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$")


def retention_days(value: str) -> int:
    """`30d`, `4w`, `6m` (the PostgreSQL format) as the number of daily backups kept (PBM keeps a count)."""
    match = _RETENTION_RE.fullmatch(value)
    return int(match.group(1)) * _RETENTION_DAYS[match.group(2)]


def _retention(value: str) -> str:
    if not _RETENTION_RE.fullmatch(value):
        raise ValueError(f"'{value}' is not a retention period: a number and d, w or m (e.g. 30d, 4w, 6m)")
    if retention_days(value) > RETENTION_MAX_DAYS:
        raise ValueError(f"'{value}' keeps more than {RETENTION_MAX_DAYS} daily backups")
    return value


def _size(value: str) -> str:
    if parse_quantity(value) > parse_quantity(MONGODB_SIZE_MAX):
        raise ValueError(f"'{value}' is more than a MongoDB volume may be ({MONGODB_SIZE_MAX})")
    return value


def _pbm_name(value: str) -> str:
    if not _PBM_NAME_RE.fullmatch(value):
        raise ValueError(f"'{value}' is not a backup name: the UTC time the backup started, as PBM names it "
                         "(e.g. 2026-11-20T03:00:21Z)")
    return value


ClusterName = server_name(CLUSTER_NAME_MAX, "the PerconaServerMongoDB")


class MongoDB(StrictModel):
    enabled: bool = Field(
        default=False, description="a MongoDB replica set (Percona Server for MongoDB, through Percona's operator) per "
        "environment, backed up to Cloudflare R2; the app gets `MONGODB_URL` (docs/mongodb.md)")
    version: Literal["7.0", "8.0"] = Field(
        default=versions.DEFAULT_MONGODB_VERSION,
        description="MongoDB version: \"7.0\" or \"8.0\" (pinned Percona Server for MongoDB images, see "
                    "`minnova_idp/model/versions.py`); upgrades one major at a time, never downgrades")
    size: Annotated[Quantity, AfterValidator(_size)] = Field(
        default="1Gi", description="storage per member, as a Kubernetes quantity; can grow, never shrink; at most "
                                   f"{MONGODB_SIZE_MAX}")
    resources: Resources = Field(
        default=Resources(requests=ResourceList(cpu="100m", memory="512Mi"), limits=ResourceList(memory="1Gi")), description="each member's mongod resources (requests and limits)")
    backup_retention: Annotated[str, AfterValidator(_retention)] = Field(
        default="30d", description="how long daily backups are kept: a number and `d`, `w` or `m` (kept as that many "
                                   "daily backups)")


class MongoRestore(StrictModel):
    documented_as_one_value: ClassVar[bool] = True

    from_cluster: ClusterName = Field(description="the PerconaServerMongoDB whose backups are restored (by default "
                                                  "`<app>-mongodb`)")
    backup: Annotated[str, AfterValidator(_pbm_name)] = Field(
        description="the backup to restore: its PBM name, the UTC time it started (e.g. 2026-11-20T03:00:21Z)")
    target_time: Timestamp | None = Field(
        default=None, description="a point in time after that backup to recover to (RFC 3339), from the archived "
                                  "oplog; default: the backup itself")


class EnvironmentMongoDB(StrictModel):
    instances: Literal[1, 3, 5] = Field(
        default=1, description="replica set members: 1, 3 or 5 (3 for high availability; an even count cannot "
                               "elect a primary after losing half)")
    cluster_name: ClusterName | None = Field(
        default=None, json_schema_extra=default_shown_as("`<app>-mongodb`"),
        description="the PerconaServerMongoDB's name and its backups' prefix (change it only when restoring)")
    restore: MongoRestore | None = Field(
        default=None, description="`{fromCluster: <name>, backup: <PBM name>, targetTime: <RFC 3339>}`: create the "
                                  "new `clusterName` from a backup of `fromCluster`, only when it is created (see "
                                  "docs/mongodb.md \"Restore\")")


def mongodb_cluster(app: str) -> str:
    """The default PerconaServerMongoDB name (and its backups' prefix)."""
    return f"{app}-mongodb"
