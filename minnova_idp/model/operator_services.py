"""The Services the database operators create in an app's namespaces, by name: an internal service (a process with a
`port`, Service `<app>-<process>`) must never take one. An operator refuses to adopt a Service it does not own
(cloudnative-pg@v1.30.0 internal/controller/cluster_create.go:416-417), so the database would stop reconciling, and
the app's Service would carry the database's name for whoever resolves it.

Derived from the names the renderer gives (model/names.py, model/mysql.py, model/mongodb.py), for every name an app's
config can give its servers, so a process chosen now stays clear of a database added or restored later:
- CloudNativePG (cloudnative-pg@v1.30.0 api/v1/cluster_types.go:65-74: `<cluster>-rw`, `-ro`, `-r`): the app's
  Cluster `<app>-db`, each environment's `backupName`, each with a major upgrade's `-pg<version>` (policy/guards.py), their restore drills'
  `<cluster>-drill`, and a preview's copy `<app>-db-copy`;
- mariadb-operator@v26.6.0 api/v1alpha1/mariadb_keys.go:194-230: `<server>`, `<server>-internal`, `-primary`,
  `-secondary`, for `<app>-mysql` and each environment's `serverName`;
- percona-server-mongodb-operator@v1.22.0 pkg/psmdb/service.go:34: `<cluster>-<replset>` (`rs0`), for
  `<app>-mongodb`, each environment's `clusterName` and each restore's `fromCluster`.
Pure."""

from __future__ import annotations

from typing import Any, get_args

from minnova_idp.model import names
from minnova_idp.model.mongodb import mongodb_cluster
from minnova_idp.model.mysql import mysql_server

CNPG_SERVICE_SUFFIXES = ("rw", "ro", "r")
MARIADB_SERVICE_SUFFIXES = ("", "-internal", "-primary", "-secondary")
MONGODB_REPLSET = "rs0"  # render/mongodb.py REPLSET (a test holds them equal)


def _postgres_clusters(config: Any) -> list[str]:
    clusters = {names.database_cluster(config.name)}
    clusters |= {env.database.backup_name for env in config.environments.values()
                 if env.database is not None and env.database.backup_name}
    versions = get_args(type(config.database).model_fields["version"].annotation)
    upgraded = {f"{cluster}-pg{version}" for cluster in clusters for version in versions}
    every = clusters | upgraded
    return sorted(every | {names.drill_cluster(cluster) for cluster in every} | {names.preview_copy(config.name)})


def operator_services(config: Any) -> dict[str, str]:
    """Service name -> the operator and server that own it, for every server `config` (an AppConfig) can name."""
    owned: dict[str, str] = {}
    for cluster in _postgres_clusters(config):
        for suffix in CNPG_SERVICE_SUFFIXES:
            owned[f"{cluster}-{suffix}"] = f"CloudNativePG's Cluster {cluster}"
    clusters = {mongodb_cluster(config.name)}
    for env in config.environments.values():
        if env.mongodb is not None:
            clusters |= {env.mongodb.cluster_name} if env.mongodb.cluster_name else set()
            clusters |= {env.mongodb.restore.from_cluster} if env.mongodb.restore is not None else set()
    for cluster in sorted(clusters):
        owned.setdefault(f"{cluster}-{MONGODB_REPLSET}", f"the MongoDB operator's PerconaServerMongoDB {cluster}")
    servers = {mysql_server(config.name)} | {env.mysql.server_name for env in config.environments.values()
                                             if env.mysql is not None and env.mysql.server_name}
    for server in sorted(servers):
        for suffix in MARIADB_SERVICE_SUFFIXES:
            # setdefault: a serverName that takes another operator's Service is named by that owner
            # (model/mysql_data_rules.py refuses it)
            owned.setdefault(f"{server}{suffix}", f"mariadb-operator's MariaDB {server}")
    return owned
