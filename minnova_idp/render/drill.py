"""Backups proven restorable, continuously: a weekly restore drill per database (pure, no Pulumi import).

A CronJob in the app's namespace recovers the latest backup into a throwaway Cluster that never archives
(so it cannot write into the backups it tests), waits for CNPG to call it Ready, runs a check query against it
through the `-app` Secret CNPG generates, records the outcome and deletes the Cluster. Every step is a container
of its own, in order (init containers), because the kubectl image has no shell (registry.k8s.io/kubectl is built
on distroless static). A failed step fails the Job: its status, the CronJob's `lastSuccessfulTime` and an Event
tell the platform team (docs/databases.md "Restore drills").

Least privilege: a ServiceAccount whose Role may create Clusters and Jobs, and get, watch and delete only the
drill's. It reads no Secret and execs into nothing.

The app's check query never runs beside that token: the kubectl steps start it as a Job of its own (`<drill>-check`,
from a manifest the platform renders, carrying the app's labels), whose pod mounts no service-account token, is
selected by the app's egress policy like the app's code, and runs psql as the restored database's owner (the URI
from the kubelet). The drill pod itself (kubectl only, never app input) has its own egress policy: DNS and the
Kubernetes API's ports, no metadata address (isolation.drill_egress_policy).
"""

from __future__ import annotations

import json
from typing import Any

from minnova_idp.model import names, versions
from minnova_idp.model.app_config import AppConfig
from minnova_idp.render import isolation
from minnova_idp.render.database import render_restore_drill
from minnova_idp.render.database_placement import DatabasePlacement
from minnova_idp.render.resources import KubernetesObject, Lifecycle, kubernetes_object
from minnova_idp.render.sql_jobs import hardened_container_security, psql_container, token_less_job_pod

CHECK_FILE = "restore-check.sql"  # in the app's .minnova/: what the drill runs against the restored database
DEFAULT_CHECK = "select 1;\n"
MAX_CHECK_BYTES = 64 * 1024
CHECK_DEADLINE_SECONDS = 1800  # the check Job's own deadline; the drill waits a little longer for its outcome
WAIT_TIMEOUT = "3h"  # recovering a large database replays its whole base backup and WAL
DELETE_TIMEOUT = "15m"
# Non-root in a namespace enforcing the "restricted" Pod Security Standard. 65532 is distroless's nonroot user.
RUN_AS_USER = 65532


def drill_objects(prefix: str, app: AppConfig, environment: str, database: DatabasePlacement, namespace: str,
                  labels: dict[str, str], schedule: str, check_sql: str | None, depends_on: tuple[str, ...],
                  network_policies: bool = True) -> list[KubernetesObject]:
    """ConfigMap, ServiceAccount, Role, RoleBinding, CronJob and (where the stack has network policies) the
    NetworkPolicy of one database's weekly drill."""
    drill = base = names.drill_cluster(database.cluster)  # the Cluster and every object of its drill
    metadata = {"namespace": namespace, "labels": {**labels, "minnova.io/restore-drill": "true"}}
    cluster = render_restore_drill(app, environment, namespace, metadata["labels"], server=database.archive_server)
    cluster["metadata"].pop("annotations", None)  # only Pulumi reads those; kubectl creates this one
    succeeded = {"apiVersion": "v1", "kind": "Event",
                 "metadata": {"generateName": f"{base}-", "namespace": namespace},
                 "involvedObject": {"apiVersion": "batch/v1", "kind": "CronJob", "name": base, "namespace": namespace},
                 "reason": "RestoreDrillSucceeded", "type": "Normal",
                 "message": f"The latest backup of {database.cluster} was restored into {drill} and the check query "
                            "passed.",
                 "source": {"component": "minnova-idp-restore-drill"}}
    check_job = _check_job(base, database, namespace, labels, metadata["labels"])
    # kubectl reads these files as YAML, of which JSON is a part: JSON is written as fast as the rest of the plan
    # (PyYAML's pure-Python dumper made the drill a tenth of a 500-app plan) and the same with or without libyaml.
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": base, **metadata},
                  "data": {"cluster.yaml": as_file(cluster), "check-job.yaml": as_file(check_job),
                           "succeeded.yaml": as_file(succeeded),
                           "check.sql": check_sql or DEFAULT_CHECK}}
    cron_job = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": base, **metadata},
                "spec": _cron_job_spec(base, drill, database, schedule)}
    return runner_objects(prefix, base, namespace, metadata, config_map, cron_job,
                          ("postgresql.cnpg.io", "clusters"), drill, depends_on, network_policies)


def runner_objects(prefix: str, base: str, namespace: str, metadata: dict[str, Any], config_map: dict[str, Any],
                   cron_job: dict[str, Any], kind: tuple[str, str], drill: str, depends_on: tuple[str, ...],
                   network_policies: bool) -> list[KubernetesObject]:
    """What runs a restore drill around its ConfigMap and CronJob (PostgreSQL's here, MySQL's in mysql_drill.py):
    a ServiceAccount, a Role that may create `kind` (API group, resource) objects but read and delete only `drill`,
    and its check Job only, its RoleBinding, and (where the stack has network policies) the drill's egress policy.
    In that order, the CronJob last, once the rest exists."""
    group, resource = kind
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": base, **metadata},
               "automountServiceAccountToken": False}
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": base, **metadata},
            "rules": [
                # `create` cannot be limited by name (Kubernetes RBAC): the drill may create servers...
                {"apiGroups": [group], "resources": [resource], "verbs": ["create"]},
                # ...but read, watch and delete only its own: never the app's database.
                {"apiGroups": [group], "resources": [resource], "resourceNames": [drill],
                 "verbs": ["get", "list", "watch", "delete"]},
                # The check query's Job: created from check-job.yaml, watched and removed by name.
                {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create"]},
                {"apiGroups": ["batch"], "resources": ["jobs"], "resourceNames": [_check_name(base)],
                 "verbs": ["get", "list", "watch", "delete"]},
                {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]},
            ]}
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": base, **metadata},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": base},
               "subjects": [{"kind": "ServiceAccount", "name": base, "namespace": namespace}]}
    after = Lifecycle(depends_on=depends_on)
    declared = [kubernetes_object(prefix, manifest, after) for manifest in (config_map, account, role)]
    declared.append(kubernetes_object(prefix, binding, Lifecycle(depends_on=(*depends_on, declared[1].key,
                                                                              declared[2].key))))
    if network_policies:
        declared.append(kubernetes_object(prefix, isolation.drill_egress_policy(
            namespace, metadata["labels"], base, {"minnova.io/restore-drill": "true"}), after))
    declared.append(kubernetes_object(prefix, cron_job, Lifecycle(depends_on=(*depends_on, *(d.key for d in declared)))))
    return declared


def as_file(manifest: dict[str, Any]) -> str:
    """A manifest as a file of the drill's ConfigMap, which kubectl reads (JSON is YAML)."""
    return json.dumps(manifest, indent=1, sort_keys=True) + "\n"


def _check_name(base: str) -> str:
    return f"{base}-check"


def _check_job(base: str, database: DatabasePlacement, namespace: str, app_labels: dict[str, str],
               job_labels: dict[str, str]) -> dict[str, Any]:
    """The Job that runs the app's check.sql: no token, the app's labels (its egress policy selects the pod; its own
    instance keeps the app's Service and PDB off it), not the drill's label (whose egress policy reaches the API)."""
    pod_labels = {**app_labels, "app.kubernetes.io/instance": f"{app_labels['app.kubernetes.io/instance']}-drill-check"}
    pod_labels.pop("minnova.io/restore-drill", None)
    query = psql_container("check", database.version, names.drill_cluster(database.cluster), "drill", "check.sql",
                           _small())
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": _check_name(base), "namespace": namespace, "labels": job_labels},
            "spec": {"backoffLimit": 0, "activeDeadlineSeconds": CHECK_DEADLINE_SECONDS,
                     "ttlSecondsAfterFinished": 7 * 24 * 3600,
                     "template": {"metadata": {"labels": pod_labels}, "spec": {
                         **token_less_job_pod(RUN_AS_USER),
                         "volumes": [{"name": "drill", "configMap": {
                                         "name": base, "items": [{"key": "check.sql", "path": "check.sql"}]}},
                                     {"name": "tmp", "emptyDir": {}}],
                         "containers": [query]}}}}


def _kubectl(name: str, *args: str, mounts: bool = False) -> dict[str, Any]:
    container: dict[str, Any] = {"name": name, "image": versions.KUBECTL_IMAGE, "args": list(args),
                                 "securityContext": hardened_container_security(), "resources": _small()}
    if mounts:
        container["volumeMounts"] = [{"name": "drill", "mountPath": "/drill", "readOnly": True}]
    return container


def _small() -> dict[str, Any]:
    return {"requests": dict(DRILL_POD_REQUESTS), "limits": {"memory": "128Mi"}}


# What a running drill adds to its namespace, besides the drill Cluster: the drill's pod (its containers run one at a
# time) and, while it waits, the check Job's pod (policy/capacity.py counts these).
DRILL_POD_REQUESTS = {"cpu": "10m", "memory": "32Mi"}
DRILL_PODS = 2


def _cron_job_spec(base: str, drill: str, database: DatabasePlacement, schedule: str) -> dict[str, Any]:
    check = f"jobs.batch/{_check_name(base)}"
    return {
        "schedule": schedule,
        "timeZone": "Etc/UTC",
        "concurrencyPolicy": "Forbid",
        "startingDeadlineSeconds": 3600,
        "successfulJobsHistoryLimit": 3,
        "failedJobsHistoryLimit": 3,
        "jobTemplate": {"spec": {
            "backoffLimit": 0,  # a failed drill is reported as failed, not retried into success
            "activeDeadlineSeconds": 4 * 3600,
            "ttlSecondsAfterFinished": 7 * 24 * 3600,
            "template": {
                "metadata": {"labels": {"minnova.io/restore-drill": "true"}},
                "spec": {
                    "serviceAccountName": base,
                    "automountServiceAccountToken": True,  # kubectl talks to the API with the Role above
                    "restartPolicy": "Never",
                    "securityContext": {"runAsNonRoot": True, "runAsUser": RUN_AS_USER, "runAsGroup": RUN_AS_USER,
                                        "seccompProfile": {"type": "RuntimeDefault"}},
                    "volumes": [{"name": "drill", "configMap": {"name": base}}, {"name": "tmp", "emptyDir": {}}],
                    "initContainers": [
                        # A drill that failed last week left its Cluster behind: start clean.
                        _kubectl("remove-leftover", "delete", f"clusters.postgresql.cnpg.io/{drill}", check,
                                 "--ignore-not-found", "--wait", f"--timeout={DELETE_TIMEOUT}"),
                        _kubectl("restore", "create", "-f", "/drill/cluster.yaml", mounts=True),
                        _kubectl("wait-ready", "wait", f"clusters.postgresql.cnpg.io/{drill}",
                                 "--for=condition=Ready", f"--timeout={WAIT_TIMEOUT}"),
                        # The app's SQL, in a pod of its own (no token, the app's egress policy).
                        _kubectl("check", "create", "-f", "/drill/check-job.yaml", mounts=True),
                        _kubectl("wait-check", "wait", check, "--for=condition=Complete",
                                 f"--timeout={CHECK_DEADLINE_SECONDS + 300}s"),
                        _kubectl("record", "create", "-f", "/drill/succeeded.yaml", mounts=True),
                    ],
                    "containers": [_kubectl("clean-up", "delete", "clusters.postgresql.cnpg.io", drill, "--wait",
                                            f"--timeout={DELETE_TIMEOUT}")],
                },
            },
        }},
    }


# ---- reading the outcome (minnova-idp drills) --------------------------------------------------------------------

OVERDUE_AFTER_DAYS = 8  # weekly drills: a week and a day without a success is overdue


def drill_report(cron_jobs: dict[str, Any], jobs: dict[str, Any], now) -> list[dict[str, Any]]:
    """One row per drill CronJob from `kubectl get cronjobs,jobs -o json` lists: when it last passed, how its
    latest run ended, and whether it is failing or overdue. Pure: the caller runs kubectl."""
    from datetime import datetime, timedelta

    def when(text: str | None):
        return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None

    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for job in jobs.get("items", []):
        meta = job.get("metadata", {})
        owner = next((ref.get("name") for ref in meta.get("ownerReferences", []) if ref.get("kind") == "CronJob"), None)
        key = (meta.get("namespace", ""), owner or "")
        started = when(job.get("status", {}).get("startTime")) or when(meta.get("creationTimestamp"))
        if started is not None and (key not in latest or latest[key]["started"] < started):
            conditions = {c.get("type"): c.get("status") for c in job.get("status", {}).get("conditions", [])}
            outcome = ("passed" if conditions.get("Complete") == "True" else
                       "failed" if conditions.get("Failed") == "True" else "running")
            latest[key] = {"started": started, "outcome": outcome, "job": meta.get("name")}
    rows = []
    for cron in cron_jobs.get("items", []):
        meta, status = cron.get("metadata", {}), cron.get("status", {})
        key = (meta.get("namespace", ""), meta.get("name", ""))
        passed = when(status.get("lastSuccessfulTime"))
        last = latest.get(key)
        overdue = passed is None or now - passed > timedelta(days=OVERDUE_AFTER_DAYS)
        rows.append({"namespace": key[0], "drill": key[1], "lastPassed": passed.isoformat() if passed else None,
                     "latestRun": last["outcome"] if last else "never run", "latestJob": last["job"] if last else None,
                     "healthy": not overdue and (last is None or last["outcome"] != "failed")})
    return sorted(rows, key=lambda row: (row["namespace"], row["drill"]))
