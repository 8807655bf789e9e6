"""A MariaDB's backups proven restorable on the stack's schedule (docs/mysql-data.md "Restore drills"), as
PostgreSQL's drill does it (render/drill.py): pure, no Pulumi import.

A CronJob `<server>-drill` creates a throwaway MariaDB `<server>-drill` bootstrapped from the server's latest full
backup (`bootstrapFrom.s3`, backupContentType Physical, no target time: the closest backup to now,
mariadb-operator@v26.6.0 pkg/backup/processor.go:198-234, api/v1alpha1/mariadb_types.go:363-368), waits until the
operator calls it Ready, runs the app's check query against it in a Job of its own (no token, the app's labels: the
app's egress policy; the sandboxed client of render/mysql_data.py, as the app's user, whose password came with the
restored data), records an Event and deletes the throwaway server. The throwaway server has no PhysicalBackup and
no PointInTimeRecovery: it never writes into the backups it tests. Binary logs are not replayed by the drill: it
proves the full backups, which every restore starts from.

Least privilege: the drill's ServiceAccount may create MariaDBs and Jobs, and get, watch and delete only the drill's
own; it reads no Secret. Its kubectl steps run nothing the app wrote.
"""

from __future__ import annotations

from typing import Any

from minnova_idp.model import versions
from minnova_idp.model.app_config import AppConfig
from minnova_idp.model.mysql import mysql_root_secret
from minnova_idp.model.mysql_data import mysql_backup_prefix, mysql_drill
from minnova_idp.render.drill import as_file, runner_objects
from minnova_idp.render.mysql import API_VERSION, MYSQL_UID, ROOT_PASSWORD_KEY
from minnova_idp.render.mysql_data import CLIENT_OPTIONS, TLS_CA_MOUNT, _backup_s3, mariadb_client_env, tls_ca_volume
from minnova_idp.render.mysql_placement import MysqlPlacement
from minnova_idp.render.resources import KubernetesObject
from minnova_idp.render.sql_jobs import hardened_container_security, token_less_job_pod

DEFAULT_CHECK = "SELECT 1;\n"
CHECK_DEADLINE_SECONDS = 1800
WAIT_TIMEOUT = "3h"  # a large backup takes long to download, prepare and copy back
DELETE_TIMEOUT = "15m"
RUN_AS_USER = 65532  # distroless nonroot: the kubectl image


def render_drill_server(app: AppConfig, mysql: MysqlPlacement, namespace: str, labels: dict[str, str]) -> dict:
    """The throwaway server: one instance, the server's image and size, its latest full backup."""
    data = mysql.data
    assert data is not None and data.backup is not None
    return {
        "apiVersion": API_VERSION, "kind": "MariaDB",
        "metadata": {"name": mysql_drill(mysql.server), "namespace": namespace, "labels": labels},
        "spec": {
            "image": versions.MARIADB_IMAGES[mysql.version],
            "replicas": 1,
            # The restored data holds the source's root password: the operator must manage it with the same one
            # (the app's root Secret, never generated again: docs/pitr.md restores name the source's too).
            "rootPasswordSecretKeyRef": {"name": mysql_root_secret(app.name), "key": ROOT_PASSWORD_KEY},
            "storage": {"size": mysql.size, "pvcRetentionPolicy": {"whenDeleted": "Delete", "whenScaled": "Delete"}},
            "resources": mysql.resources.as_kubernetes(),
            "bootstrapFrom": {"s3": _backup_s3(app, data.backup, mysql_backup_prefix(mysql.server)),
                              "backupContentType": "Physical"},
            "podSecurityContext": {"runAsNonRoot": True, "runAsUser": MYSQL_UID, "runAsGroup": MYSQL_UID,
                                   "fsGroup": MYSQL_UID, "seccompProfile": {"type": "RuntimeDefault"}},
            "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                                "runAsNonRoot": True},
        },
    }


def _check_job(app: AppConfig, mysql: MysqlPlacement, namespace: str, app_labels: dict[str, str],
               job_labels: dict[str, str], base: str) -> dict[str, Any]:
    pod_labels = {**app_labels, "app.kubernetes.io/instance": f"{app_labels['app.kubernetes.io/instance']}-mysql-drill-check"}
    client = " ".join(CLIENT_OPTIONS)
    script = (f'exec mariadb {client} --host="$MYSQL_HOST" --port="$MYSQL_PORT" --user="$MYSQL_USER" '
              '--database="$MYSQL_DATABASE" < /drill/check.sql')
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": f"{base}-check", "namespace": namespace, "labels": job_labels},
            "spec": {"backoffLimit": 0, "activeDeadlineSeconds": CHECK_DEADLINE_SECONDS,
                     "ttlSecondsAfterFinished": 7 * 24 * 3600,
                     "template": {"metadata": {"labels": pod_labels}, "spec": {
                         **token_less_job_pod(app.run_as_user),
                         "volumes": [{"name": "drill", "configMap": {
                                         "name": base, "items": [{"key": "check.sql", "path": "check.sql"}]}},
                                     {"name": "tmp", "emptyDir": {}},
                                     tls_ca_volume(mysql_drill(mysql.server))],  # the drill server's own CA
                         "containers": [{
                             "name": "check", "image": versions.MARIADB_IMAGES[mysql.version],
                             "command": ["bash", "-c", script],
                             "env": mariadb_client_env(app, mysql, namespace,
                                                       host=f"{mysql_drill(mysql.server)}.{namespace}.svc"),
                             "securityContext": hardened_container_security(),
                             "volumeMounts": [{"name": "drill", "mountPath": "/drill", "readOnly": True},
                                              {"name": "tmp", "mountPath": "/tmp"}, TLS_CA_MOUNT],
                             "resources": _small()}]}}}}


def _small() -> dict[str, Any]:
    return {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}}


def _kubectl(name: str, *args: str, mounts: bool = False) -> dict[str, Any]:
    container: dict[str, Any] = {"name": name, "image": versions.KUBECTL_IMAGE, "args": list(args),
                                 "securityContext": hardened_container_security(), "resources": _small()}
    if mounts:
        container["volumeMounts"] = [{"name": "drill", "mountPath": "/drill", "readOnly": True}]
    return container


def mysql_drill_objects(prefix: str, app: AppConfig, mysql: MysqlPlacement, namespace: str, labels: dict[str, str],
                        check_sql: str | None, depends_on: tuple[str, ...], network_policies: bool = True
                        ) -> list[KubernetesObject]:
    """ConfigMap, ServiceAccount, Role, RoleBinding, (NetworkPolicy) and CronJob of one MariaDB's drill."""
    data = mysql.data
    if data is None or data.drill_schedule is None or data.backup is None:
        return []
    base = drill = mysql_drill(mysql.server)
    metadata = {"namespace": namespace, "labels": {**labels, "minnova.io/restore-drill": "true"}}
    server = render_drill_server(app, mysql, namespace, metadata["labels"])
    check = _check_job(app, mysql, namespace, labels, metadata["labels"], base)
    succeeded = {"apiVersion": "v1", "kind": "Event", "metadata": {"generateName": f"{base}-", "namespace": namespace},
                 "involvedObject": {"apiVersion": "batch/v1", "kind": "CronJob", "name": base, "namespace": namespace},
                 "reason": "RestoreDrillSucceeded", "type": "Normal",
                 "message": f"The latest backup of {mysql.server} was restored into {drill} and the check query passed.",
                 "source": {"component": "minnova-idp-restore-drill"}}
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": base, **metadata},
                  "data": {"mariadb.yaml": as_file(server), "check-job.yaml": as_file(check),
                           "succeeded.yaml": as_file(succeeded), "check.sql": check_sql or DEFAULT_CHECK}}
    job = f"jobs.batch/{base}-check"
    target = f"mariadbs.k8s.mariadb.com/{drill}"
    cron_job = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": base, **metadata}, "spec": {
        "schedule": data.drill_schedule, "timeZone": "Etc/UTC", "concurrencyPolicy": "Forbid",
        "startingDeadlineSeconds": 3600, "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 3,
        "jobTemplate": {"spec": {
            "backoffLimit": 0, "activeDeadlineSeconds": 4 * 3600, "ttlSecondsAfterFinished": 7 * 24 * 3600,
            "template": {"metadata": {"labels": {"minnova.io/restore-drill": "true"}}, "spec": {
                "serviceAccountName": base, "automountServiceAccountToken": True, "restartPolicy": "Never",
                "securityContext": {"runAsNonRoot": True, "runAsUser": RUN_AS_USER, "runAsGroup": RUN_AS_USER,
                                    "seccompProfile": {"type": "RuntimeDefault"}},
                "volumes": [{"name": "drill", "configMap": {"name": base}}],
                "initContainers": [
                    _kubectl("remove-leftover", "delete", target, job, "--ignore-not-found", "--wait",
                             f"--timeout={DELETE_TIMEOUT}"),
                    _kubectl("restore", "create", "-f", "/drill/mariadb.yaml", mounts=True),
                    _kubectl("wait-ready", "wait", target, "--for=condition=Ready", f"--timeout={WAIT_TIMEOUT}"),
                    _kubectl("check", "create", "-f", "/drill/check-job.yaml", mounts=True),
                    _kubectl("wait-check", "wait", job, "--for=condition=Complete",
                             f"--timeout={CHECK_DEADLINE_SECONDS + 300}s"),
                    _kubectl("record", "create", "-f", "/drill/succeeded.yaml", mounts=True),
                ],
                "containers": [_kubectl("clean-up", "delete", target, "--wait", f"--timeout={DELETE_TIMEOUT}")],
            }}}}}}
    return runner_objects(prefix, base, namespace, metadata, config_map, cron_job, ("k8s.mariadb.com", "mariadbs"),
                          drill, depends_on, network_policies)
