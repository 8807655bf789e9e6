"""An app's MongoDB: a replica set per environment (and per preview) through Percona's operator (ADR 0014).

Pure: no Pulumi import. Every field set here was read in percona-server-mongodb-operator@v1.22.0 (cited as
`psmdb@v1.22.0 <path>:<line>`); tests/render/test_mongodb.py validates the objects against ../shared/crds and
checks the source lines they rely on.

What one app environment gets:
- a PerconaServerMongoDB: one replica set `rs0` of `instances` members (1 only with `unsafeFlags.replsetSize`:
  the operator refuses fewer than 2 or an even size otherwise, psmdb@v1.22.0 pkg/apis/psmdb/v1/psmdb_defaults.go:
  1071-1090), no sharding, TLS `preferTLS` with certificates the operator issues (TLS must be on unless
  `unsafeFlags.tls`, psmdb_defaults.go:146-147), no automatic upgrades (`upgradeOptions.apply: disabled`: the
  version is the pinned image, never check.percona.com's), the system users' passwords in `<app>-mongodb-users`
  (`secrets.users`; the default is `percona-server-mongodb-users` for every cluster, psmdb_defaults.go:47,82-83):
  one Secret for every cluster the app environment ever has. A restore must share it: PBM's logical restore
  replaces admin.system.users with the backup's (percona-backup-mongodb@05ab6d7e1004 pbm/restore/logical.go:
  1526-1603), so the restored cluster's system users have the source's passwords, and an operator reading another
  Secret would be locked out (upstream's restore-to-a-new-cluster test gives both clusters one Secret,
  psmdb@v1.22.0 e2e-tests/pitr-to-new-cluster/conf/some-name-{source,target}.yml:63-64). The operator sets no owner
  on it (pkg/controller/perconaservermongodb/secrets.go), so deleting a retired cluster leaves it;
- the app's user in `spec.users` (psmdb_types.go:98,119-124): readWrite on the app's own database only, its
  password in our Secret (`passwordSecretRef`, read by the operator in pkg/controller/perconaservermongodb/
  custom_users.go:97-103,427-446; a changed password is applied by updatePass, custom_users.go:118);
- `MONGODB_URL` in a second Secret (never in a Deployment), written only once the cluster it names is ready (and,
  during a restore, the restore is done): pods started meanwhile (cron runs, restarts) keep the previous URL;
- PBM backups to the environment's R2 bucket under `mongodb/<cluster>` (`backup.storages` s3, psmdb_types.go:
  1231-1245; PBM reads the keys AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY of `credentialsSecret`,
  pkg/psmdb/backup/pbm.go:49-50), a daily logical backup task kept by count (`retention`, psmdb_types.go:1161-1205),
  and oplog archiving for point-in-time recovery (`pitr`, psmdb_types.go:1328-1334; on with one storage only,
  psmdb_types.go:1384-1392);
- a NetworkPolicy: only the app's pods, the cluster's own members and the operator reach 27017.

The password is derived like Valkey's (redis.py): HMAC-SHA256 of the stack's `minnova:passwordKey` and the
namespace, a Pulumi secret (`[secret]` in plans, encrypted in state); previews derive theirs from the preview-only
key. It is hex, so the URL needs no escaping.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

from minnova_idp.model import names, versions
from minnova_idp.model.app_config import AppConfig
from minnova_idp.model.mongodb import MongoRestore, retention_days
from minnova_idp.model.resources import Resources
from minnova_idp.render import isolation
from minnova_idp.render.database_placement import BackupTarget
from minnova_idp.render.resources import FromToken, KubernetesObject, Lifecycle, Secret, kubernetes_object

Manifest = dict[str, Any]

API_VERSION = "psmdb.percona.com/v1"
PORT = 27017
REPLSET = "rs0"
BACKUP_STORAGE = "r2"
BACKUP_TASK = "daily"
DAILY_SCHEDULE = "0 3 * * *"  # a Kubernetes-style cron (five fields), UTC: the operator's own CronJob-like runner
BACKUP_PREFIX = "mongodb"  # every engine has its own top-level prefix in the environment's backup bucket
R2_REGION = "auto"
# The labels the operator puts on every pod of a cluster (psmdb@v1.22.0 pkg/naming/labels.go:27-38).
OPERATOR_POD_LABELS = {"app.kubernetes.io/name": "percona-server-mongodb"}
INSTANCE_LABEL = "app.kubernetes.io/instance"
# The app's user, in its own database. Never a system user's name (the operator refuses those,
# custom_users.go:139-141): those are the keys of `<cluster>-users` (backup, clusterAdmin, userAdmin, ...).
USER = "app"
_PASSWORD_CONTEXT = b"minnova-idp mongodb password v1\0"
# Pulumi waits for the operator's own state (status.state "ready": psmdb@v1.22.0 pkg/apis/psmdb/v1/psmdb_types.go:305
# AppStateReady; a restore's RestoreStateReady, perconaservermongodbrestore_types.go:55), within these limits, as it
# waits for a CNPG Cluster (database.py): the app's processes start only then.
WAIT_FOR_READY = {"pulumi.com/waitFor": "jsonpath={.status.state}=ready"}
CREATE_TIMEOUT_SECONDS = 30 * 60
RESTORE_TIMEOUT_SECONDS = 6 * 60 * 60


@dataclass(frozen=True)
class MongoPlacement:
    version: str
    instances: int
    size: str
    resources: Resources
    cluster: str
    database: str  # the app's database (its name); its user is `app` (USER)
    password: str = ""  # derived (mongodb_password); never logged: repr hides it
    backup: BackupTarget | None = None  # None: no backups (previews)
    retention: str = "30d"
    restore: MongoRestore | None = None

    def __repr__(self) -> str:
        return (f"MongoPlacement(version={self.version!r}, instances={self.instances}, cluster={self.cluster!r}, "
                f"backup={self.backup is not None}, restore={self.restore is not None})")


def mongodb_placement(app: AppConfig, environment: str, namespace: str, password_key: str | None,
                      backup: BackupTarget | None) -> MongoPlacement | None:
    """An app environment's MongoDB (None without `mongodb.enabled`)."""
    if not app.mongodb.enabled:
        return None
    if not password_key:
        raise ValueError(f"{app.name}: a MongoDB needs the stack's password key")
    settings = app.environments[environment].mongodb
    return MongoPlacement(version=app.mongodb.version, instances=app.mongodb_instances(environment),
                          size=app.mongodb.size, resources=app.mongodb.resources,
                          cluster=app.mongodb_cluster(environment), database=app.name,
                          password=mongodb_password(password_key, namespace), backup=backup,
                          retention=app.mongodb.backup_retention, restore=settings.restore if settings else None)


def mongodb_members(placement: MongoPlacement) -> int:
    """The mongod pods an environment runs at most: its members, and during a restore its source's as many."""
    return placement.instances * (2 if placement.restore is not None else 1)


def mongodb_password(key: str, namespace: str) -> str:
    return hmac.new(key.encode(), _PASSWORD_CONTEXT + namespace.encode(), hashlib.sha256).hexdigest()


def members(cluster: str, namespace: str, instances: int) -> list[str]:
    """The members' stable names: `<cluster>-rs0-<n>.<cluster>-rs0.<namespace>.svc.cluster.local` (the operator's
    StatefulSet `<cluster>-<replset>` behind its headless Service of the same name; clusterServiceDNSSuffix
    defaults to svc.cluster.local, psmdb@v1.22.0 pkg/apis/psmdb/v1/psmdb_defaults.go)."""
    service = f"{cluster}-{REPLSET}"
    return [f"{service}-{index}.{service}.{namespace}.svc.cluster.local:{PORT}" for index in range(instances)]


def mongodb_url(placement: MongoPlacement, namespace: str) -> str:
    """`mongodb://<user>:<password>@<members>/<database>?replicaSet=rs0&authSource=<database>`: the user is
    created in the app's database (spec.users[].db), so it authenticates there."""
    hosts = ",".join(members(placement.cluster, namespace, placement.instances))
    return (f"mongodb://{USER}:{placement.password}@{hosts}/{placement.database}"
            f"?replicaSet={REPLSET}&authSource={placement.database}")


def mongodb_url_env(app_name: str) -> dict[str, Any]:
    return {"name": names.MONGODB_URL_ENV,
            "valueFrom": {"secretKeyRef": {"name": names.mongodb_url_secret(app_name), "key": "url"}}}


def pbm_s3_credentials(token_id: str, token_value: str) -> dict[str, str]:
    """An R2 token's S3 credentials (as database.r2_s3_credentials) under the keys PBM reads."""
    return {"AWS_ACCESS_KEY_ID": token_id,
            "AWS_SECRET_ACCESS_KEY": hashlib.sha256(token_value.encode()).hexdigest()}


def mongodb_pods(cluster: str) -> dict[str, str]:
    return {**OPERATOR_POD_LABELS, INSTANCE_LABEL: cluster}


def mongodb_objects(prefix: str, app_name: str, placement: MongoPlacement, namespace: str, labels: dict[str, str],
                    keep: Lifecycle, after_namespace: tuple[str, ...], operators: tuple[str, ...],
                    app_pods: dict[str, str], token: str | None) -> tuple[list[KubernetesObject], KubernetesObject]:
    """The user's Secret, the backup credentials (when backed up), the NetworkPolicy, the PerconaServerMongoDB (and
    during a restore its source, kept as it runs, and the PerconaServerMongoDBRestore); and what the app waits for.
    `token`: key of the environment's backup AccountToken."""
    secret = kubernetes_object(prefix, render_password_secret(app_name, placement, namespace, labels),
                               Lifecycle(depends_on=after_namespace))
    objects = [secret]
    credentials = None
    if placement.backup is not None and token is not None:
        credentials = kubernetes_object(prefix, render_backup_secret(app_name, namespace, labels, token),
                                        replace(keep, depends_on=after_namespace))
        objects.append(credentials)
    clusters = [placement]
    if placement.restore is not None:
        # The source, as it runs (same name, spec, backups): removed only by the documented step (docs/mongodb.md).
        clusters.insert(0, replace(placement, cluster=placement.restore.from_cluster, restore=None))
    objects.append(kubernetes_object(prefix, render_network_policy(app_name, namespace, labels, app_pods),
                                     Lifecycle(depends_on=after_namespace)))
    waits = (*after_namespace, *operators, secret.key, *([credentials.key] if credentials else []))
    cluster = None
    for each in clusters:
        cluster = kubernetes_object(prefix, render_cluster(app_name, each, namespace, labels),
                                    replace(keep, depends_on=waits))
        objects.append(cluster)
    ready = cluster
    if placement.restore is not None:
        ready = kubernetes_object(prefix, render_restore(app_name, placement, namespace, labels),
                                  replace(keep, depends_on=(*waits, cluster.key)))
        objects.append(ready)
    url = kubernetes_object(prefix, render_url_secret(app_name, placement, namespace, labels),
                            Lifecycle(depends_on=(ready.key,)))
    objects.append(url)
    return objects, url


def render_password_secret(app_name: str, placement: MongoPlacement, namespace: str,
                           labels: dict[str, str]) -> Manifest:
    """The app user's password, which the operator reads (spec.users[].passwordSecretRef): before the cluster."""
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": names.mongodb_app_secret(app_name), "namespace": namespace, "labels": labels},
            "type": "Opaque", "stringData": Secret({"password": placement.password})}


def render_url_secret(app_name: str, placement: MongoPlacement, namespace: str, labels: dict[str, str]) -> Manifest:
    """MONGODB_URL: after the cluster it names is ready (after the restore, during one)."""
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": names.mongodb_url_secret(app_name), "namespace": namespace, "labels": labels},
            "type": "Opaque", "stringData": Secret({"url": mongodb_url(placement, namespace)})}


def render_backup_secret(app_name: str, namespace: str, labels: dict[str, str], token: str) -> Manifest:
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": names.mongodb_backup_secret(app_name), "namespace": namespace, "labels": labels},
            "type": "Opaque", "stringData": FromToken(token=token, recipe=pbm_s3_credentials)}


def backup_prefix(cluster: str) -> str:
    return f"{BACKUP_PREFIX}/{cluster}"


def _s3(app_name: str, backup: BackupTarget, cluster: str) -> Manifest:
    return {"bucket": backup.bucket, "prefix": backup_prefix(cluster), "region": R2_REGION,
            "endpointUrl": backup.endpoint, "credentialsSecret": names.mongodb_backup_secret(app_name)}


# App namespaces enforce the "restricted" Pod Security Standard (render/app.py render_namespace); the operator's own
# defaults do not meet it (no seccomp profile anywhere; the pod gets only {fsGroup: 1001}, psmdb@v1.22.0
# pkg/apis/psmdb/v1/psmdb_defaults.go:765-776, pkg/psmdb/statefulset.go:438; mongo-init has no context at all,
# pkg/psmdb/init.go:53-55; the backup agent only {runAsNonRoot, runAsUser 1001}, psmdb_defaults.go:572-577,
# statefulset.go:562). A context we set replaces the operator's default whole, so each says everything. 1001 is the
# images' mongodb user (the operator's own default).
MONGODB_UID = 1001
POD_SECURITY = {"runAsNonRoot": True, "runAsUser": MONGODB_UID, "fsGroup": MONGODB_UID,
                "seccompProfile": {"type": "RuntimeDefault"}}
CONTAINER_SECURITY = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "runAsNonRoot": True}


def render_cluster(app_name: str, placement: MongoPlacement, namespace: str, labels: dict[str, str]) -> Manifest:
    replset: Manifest = {
        "name": REPLSET,
        "size": placement.instances,
        "resources": placement.resources.as_kubernetes(),
        "volumeSpec": {"persistentVolumeClaim": {"resources": {"requests": {"storage": placement.size}}}},
        "podSecurityContext": dict(POD_SECURITY),
        "containerSecurityContext": dict(CONTAINER_SECURITY),
    }
    if placement.instances > 1:
        # One member per node, required (the operator's default made explicit: psmdb@v1.22.0
        # pkg/apis/psmdb/v1/psmdb_defaults.go:1140-1165, pkg/psmdb/statefulset.go:685-700): 3 members need 3 nodes.
        replset["affinity"] = {"antiAffinityTopologyKey": "kubernetes.io/hostname"}
        replset["podDisruptionBudget"] = {"maxUnavailable": 1}
    backup: Manifest = {"enabled": placement.backup is not None, "image": versions.PBM_IMAGE,
                        "containerSecurityContext": dict(CONTAINER_SECURITY)}
    if placement.backup is not None:
        backup.update({
            "storages": {BACKUP_STORAGE: {"type": "s3", "s3": _s3(app_name, placement.backup, placement.cluster)}},
            # Not while the cluster is being restored: PBM's oplog archiving needs a base backup of this cluster
            # under its own prefix, and the operator hands `pitr.enabled` straight to PBM's config
            # (psmdb@v1.22.0 pkg/psmdb/backup/pbm.go:283-290) and resyncs the storage (resyncStorage); it turns on
            # once the restore is removed, and covers the time after the first full backup (docs/mongodb.md).
            "pitr": {"enabled": placement.restore is None},
            "tasks": [{"name": BACKUP_TASK, "enabled": True, "schedule": DAILY_SCHEDULE, "type": "logical",
                       "storageName": BACKUP_STORAGE,
                       "retention": {"type": "count", "count": retention_days(placement.retention),
                                     "deleteFromStorage": True}}],
        })
    spec: Manifest = {
        "crVersion": versions.PSMDB_CR_VERSION,
        "image": versions.MONGODB_IMAGES[placement.version],
        "imagePullPolicy": "IfNotPresent",
        # The pinned image is the version: the operator never asks its version service, and raises the feature
        # compatibility version once every member runs a new major (psmdb_controller.go:1043-1065).
        "upgradeOptions": {"apply": "disabled", "setFCV": True},
        "updateStrategy": "SmartUpdate",
        # Without it a larger `size` is ignored: the operator keeps the old request (psmdb@v1.22.0
        # pkg/controller/perconaservermongodb/volumes.go:236-240). The StorageClass must allow expansion.
        "enableVolumeExpansion": True,
        "initContainerSecurityContext": dict(CONTAINER_SECURITY),
        "secrets": {"users": names.mongodb_users_secret(app_name)},
        "tls": {"mode": "preferTLS"},
        "replsets": [replset],
        "sharding": {"enabled": False},
        "users": [{"name": USER, "db": placement.database,
                   "passwordSecretRef": {"name": names.mongodb_app_secret(app_name), "key": "password"},
                   "roles": [{"name": "readWrite", "db": placement.database}]}],
        "backup": backup,
    }
    if placement.instances < 3:
        # A single member (previews, small environments) is what the operator calls unsafe: say so, explicitly.
        spec["unsafeFlags"] = {"replsetSize": True}
    return {"apiVersion": API_VERSION, "kind": "PerconaServerMongoDB",
            "metadata": {"name": placement.cluster, "namespace": namespace, "labels": labels,
                         "annotations": {**WAIT_FOR_READY, "pulumi.com/timeoutSeconds": str(CREATE_TIMEOUT_SECONDS)}},
            "spec": spec}


def pitr_date(target_time: str) -> str:
    """RFC 3339 -> the operator's `YYYY-MM-DD HH:MM:SS`, in UTC (psmdb@v1.22.0 pkg/apis/psmdb/v1/
    perconaservermongodbrestore_types.go:171,185)."""
    parsed = datetime.fromisoformat(target_time.replace("Z", "+00:00")).astimezone(timezone.utc)
    return parsed.strftime("%Y-%m-%d %H:%M:%S")


def render_restore(app_name: str, placement: MongoPlacement, namespace: str, labels: dict[str, str]) -> Manifest:
    """Restores the source's backup into the new cluster (`backupSource`: no Backup object needed, the operator
    makes one from it, psmdb@v1.22.0 pkg/controller/perconaservermongodbrestore/psmdb_restore_controller.go:316-344;
    `destination` must start with s3:// and end with the PBM name, perconaservermongodbrestore_types.go:113-120)."""
    restore, backup = placement.restore, placement.backup
    if backup is None:
        raise ValueError("a MongoDB restore reads the environment's backup bucket: the environment needs backups")
    s3 = _s3(app_name, backup, restore.from_cluster)
    spec: Manifest = {
        "clusterName": placement.cluster,
        "backupSource": {"type": "logical",
                         "destination": f"s3://{backup.bucket}/{backup_prefix(restore.from_cluster)}/{restore.backup}",
                         "s3": s3},
    }
    if restore.target_time:
        spec["pitr"] = {"type": "date", "date": pitr_date(restore.target_time)}
    return {"apiVersion": API_VERSION, "kind": "PerconaServerMongoDBRestore",
            "metadata": {"name": f"{placement.cluster}-restore", "namespace": namespace, "labels": labels,
                         "annotations": {**WAIT_FOR_READY,
                                         "pulumi.com/timeoutSeconds": str(RESTORE_TIMEOUT_SECONDS)}},
            "spec": spec}


def render_network_policy(app_name: str, namespace: str, labels: dict[str, str], app_pods: dict[str, str]) -> Manifest:
    """27017 from the app's own pods, the cluster's members (replication; each member's pbm-agent sidecar talks to
    its own mongod over localhost) and the operator's namespace (it connects to manage users, replica set, backups).
    Out: DNS, the other members, and public addresses on 443 (R2, for PBM). The namespace-wide ingress policy
    leaves these pods out (isolation.ingress_policy), since NetworkPolicies add up.
    It selects every cluster's pods in the namespace (one app environment's: the running one, a restore's source,
    and a retired cluster left for the platform team to delete, docs/mongodb.md step 3), not only the declared ones:
    a pod no policy selects would be open to everything."""
    cluster_pods = [{"podSelector": {"matchLabels": dict(OPERATOR_POD_LABELS)}}]
    operator = {"namespaceSelector": {"matchLabels": {isolation.NAMESPACE_NAME_LABEL:
                                                      versions.PSMDB_OPERATOR.namespace}}}
    port = [{"protocol": "TCP", "port": PORT}]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": f"{app_name}-mongodb", "namespace": namespace, "labels": labels},
            "spec": {"podSelector": cluster_pods[0]["podSelector"],
                     "policyTypes": ["Ingress", "Egress"],
                     "ingress": [{"from": [{"podSelector": {"matchLabels": dict(app_pods)}}, *cluster_pods, operator],
                                  "ports": port}],
                     "egress": [isolation.dns_rule(), {"to": cluster_pods, "ports": port},
                                {"to": [{"ipBlock": {"cidr": cidr, "except": list(excluded)}}
                                        for cidr, excluded in isolation.PRIVATE_RANGES.items()],
                                 "ports": [{"protocol": "TCP", "port": 443}]}]}}
