"""What an app looks like in Kubernetes, written once.

`app_objects` is the one answer: from (app config, placement, render settings) to every
resource of one app instance (Kubernetes objects, and the Cloudflare pieces of its backups and
DNS), each with its lifecycle. No Pulumi import: the MinnovaApp component creates what it
lists, the offline plan prints it, and the preview renderer (an Argo CD plugin) prints its
Kubernetes objects as YAML (`render_app`).
"""

from __future__ import annotations

import re
from typing import Any

from minnova_idp.model import names, versions
from minnova_idp.model.app_config import NAMESPACE_DEFAULT_LIMIT, AppConfig, HealthCheck, Resources
from minnova_idp.render import internal_services, isolation
from minnova_idp.render.database import backup_storage, database_objects, database_url_env
from minnova_idp.render.drill import drill_objects
from minnova_idp.render.host_aliases import alias_record_name
from minnova_idp.render.mongodb import OPERATOR_POD_LABELS, mongodb_objects, mongodb_url, mongodb_url_env
from minnova_idp.render.mysql import COMPONENT as MYSQL_COMPONENT
from minnova_idp.render.mysql import mysql_env, mysql_objects, mysql_url
from minnova_idp.render.mysql_data import mariadb_data_spec, mysql_data_objects
from minnova_idp.render.mysql_drill import mysql_drill_objects
from minnova_idp.render.app_meta import (  # re-exported: other modules read them from here
    CONTAINER_PORT_NAME,
    SERVICE_PORT,
    app_code_pods,
    common_labels,
    metadata,
    process_selector,
    selector_labels,
)
from minnova_idp.render.placement import DnsTarget, Placement, RenderSettings
from minnova_idp.render.serving import (  # re-exported: other modules read them from here
    render_autoscaler,
    render_ingress,
    render_internal_service,
    render_pod_disruption_budget,
    render_redirect,
    render_service,
)
from minnova_idp.render.redis import COMPONENT as REDIS_COMPONENT
from minnova_idp.render.redis import (
    COMPONENT_LABEL,
    redis_objects,
    redis_url,
    redis_url_env,
)
from minnova_idp.render.resources import (
    Declared,
    KubernetesObject,
    Lifecycle,
    Secret,
    keys,
    kubernetes_object,
    plain,
)
from minnova_idp.render.storage import CLEANUP_PROCESS, render_cleanup_job, storage_env, storage_objects
from minnova_idp.render.waves import PROCESS_SYNC_WAVE, RELEASE_SYNC_WAVE, SYNC_WAVE_ANNOTATION

Manifest = dict[str, Any]


TERMINATION_GRACE_SECONDS = 30
# Ingress controllers take a few seconds to stop routing to a terminating pod; sleeping
# before SIGTERM lets in-flight and late-routed requests finish instead of failing.
PRE_STOP_SLEEP_SECONDS = 5
_LABEL_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def app_objects(app: AppConfig, placement: Placement, settings: RenderSettings, component: str | None = None,
                protected: bool = False, operators: tuple[str, ...] = (), dns: DnsTarget | None = None,
                pull_credentials: Any = None) -> list[Declared]:
    """Every resource of one app instance, in creation order, each with its lifecycle.

    `component`: the Pulumi name of the instance (prefix of every resource name; default the namespace);
    `protected`: whether what holds data is `protect`ed (it is always retained); `operators`: keys of the
    Helm releases installing the database CRDs; `dns`: where to point the host (none: no record).
    """
    prefix = component or placement.instance
    labels = common_labels(app, placement, settings)
    database = placement.database
    # Data holders are never deleted by Pulumi (retained), and in protected environments not even declared away.
    keep = Lifecycle(retain_on_delete=True, protect=protected and (database is not None or placement.mongodb is not None))
    # Deleting a namespace deletes everything in it, retained databases included: never let Pulumi do it.
    namespace = kubernetes_object(prefix, render_namespace(app, placement, settings), keep)
    in_namespace = keys(namespace)
    objects: list[Declared] = [namespace]
    objects += [kubernetes_object(prefix, manifest, Lifecycle(depends_on=in_namespace))
                for manifest in render_isolation(app, placement, settings)]
    cluster = None
    credentials = None  # the backup credentials Secret (PostgreSQL's and MySQL's backups share it)
    if database is not None:
        if database.backup is not None:
            *storage, credentials = backup_storage(prefix, app, database.backup, placement.namespace, labels,
                                                   settings.deployment, keep, in_namespace)
            objects += [*storage, credentials]
        database_declared, cluster = database_objects(prefix, app, database, placement.namespace, labels, keep,
                                                      in_namespace, operators, credentials.key if credentials else None,
                                                      preview=placement.environment == names.PREVIEW_ENVIRONMENT)
        objects += database_declared
        if database.drill_schedule is not None:
            objects += drill_objects(prefix, app, placement.environment, database, placement.namespace, labels,
                                     database.drill_schedule, database.drill_check, in_namespace + keys(cluster),
                                     settings.network_policies)
    secret = None
    if placement.secrets is not None:
        secret = kubernetes_object(prefix, render_secret(app, placement, settings), Lifecycle(depends_on=in_namespace))
        objects.append(secret)
    pull = None
    if placement.pull_secret and pull_credentials is not None:
        pull = kubernetes_object(prefix, render_pull_secret(app, placement, settings, pull_credentials),
                                 Lifecycle(depends_on=in_namespace))
        objects.append(pull)
    preview = placement.environment == names.PREVIEW_ENVIRONMENT
    redis: list[Declared] = []
    if placement.redis is not None:
        # Its volume is data: retained always, protected where the environment is (like the database).
        redis = redis_objects(prefix, app, placement.redis, placement.namespace, labels,
                              Lifecycle(retain_on_delete=True, protect=protected), in_namespace, app_code_pods(app))
        objects += redis
    mysql: list[Declared] = []
    mysql_ready = None
    if placement.mysql is not None:
        # Its MariaDB and Database are data: retained always, protected where the environment is (like the database).
        mysql_keep = Lifecycle(retain_on_delete=True, protect=protected)
        data, backups_after = placement.mysql.data, in_namespace
        if data is not None and data.backup is not None:
            # Its backups share the environment's bucket, token and credentials with PostgreSQL's (mysql_data.py).
            if credentials is None:
                *bucket, credentials = backup_storage(prefix, app, data.backup, placement.namespace, labels,
                                                      settings.deployment, mysql_keep, in_namespace)
                objects += [*bucket, credentials]
            backups_after = (*in_namespace, *operators, credentials.key)
        mysql, mysql_ready = mysql_objects(prefix, app, placement.mysql, placement.namespace, labels, mysql_keep,
                                           in_namespace, app_code_pods(app), operators,
                                           mariadb_data_spec(app, data) if data is not None else None)
        server = next(d for d in mysql if isinstance(d, KubernetesObject) and d.manifest["kind"] == "MariaDB")
        mysql += mysql_data_objects(prefix, app, placement.mysql, placement.namespace, labels, mysql_keep,
                                    backups_after, server.key, mysql_ready.key, app_code_pods(app))
        mysql += mysql_drill_objects(prefix, app, placement.mysql, placement.namespace, labels, None,
                                     (*in_namespace, server.key), settings.network_policies)
        objects += mysql
    storage: list[Declared] = []
    if placement.storage is not None:
        # Its bucket is data: retained always, protected where the environment is (like the database).
        storage = storage_objects(prefix, app, placement.storage, placement.namespace, labels, settings.deployment,
                                  Lifecycle(retain_on_delete=True, protect=protected), in_namespace)
        objects += storage
    mongodb_ready = None
    if placement.mongodb is not None:
        mongodb_declared, mongodb_ready = _mongodb(prefix, app, placement, labels, in_namespace, operators, objects,
                                                   settings.deployment, protected)
        objects += mongodb_declared
    # Every process starts once what it reads exists: its secrets, its database (Ready, with its `-app` Secret), its
    # Redis (its Deployment available, its Secret with REDIS_URL), its bucket's credentials, its MariaDB and its
    # MongoDB (ready).
    ready = in_namespace + keys(secret, cluster, pull, *redis, *storage, mysql_ready, mongodb_ready)
    release = None
    if app.release is not None:
        release = kubernetes_object(prefix, render_release(app, placement, settings, preview), Lifecycle(depends_on=ready))
        objects.append(release)
    # The new version's pods start only after its release phase succeeded.
    after_release = ready + keys(release)
    objects.append(kubernetes_object(prefix, render_deployment(app, placement, settings),
                                     Lifecycle(depends_on=after_release)))
    objects += [kubernetes_object(prefix, render_process(app, placement, settings, name),
                                  Lifecycle(depends_on=after_release)) for name in app.processes]
    objects += [kubernetes_object(prefix, render_cron_job(app, placement, settings, name), Lifecycle(depends_on=ready))
                for name, job in app.cron.items()
                if (job.previews if preview else job.environments is None or placement.environment in job.environments)]
    if preview and placement.storage is not None:
        # The preview's objects go with it (storage.py: an Argo CD PreDelete hook; never rendered for an environment).
        objects.append(kubernetes_object(prefix, render_cleanup_job(
            app, placement.storage, placement.namespace, labels,
            _pod_labels(app, placement, settings, process_selector(app, placement, CLEANUP_PROCESS))),
            Lifecycle(depends_on=ready)))
    served = [render_service(app, placement, settings), render_ingress(app, placement, settings),
              *render_redirect(app, placement, settings)]
    # Internal services: a ClusterIP Service each, never an Ingress, DNS record or certificate (ADR 0016).
    served += [render_internal_service(app, placement, settings, name) for name in internal_services.internal_ports(app)]
    if placement.autoscale is not None:
        served.append(render_autoscaler(app, placement, settings))
    if preview:
        for declared in objects:
            if (isinstance(declared, KubernetesObject) and declared.manifest["kind"] in PROCESS_KINDS
                    and declared not in redis):  # Valkey comes up with the database, in wave 0
                _in_wave(declared.manifest, PROCESS_SYNC_WAVE)
        for manifest in served:
            if manifest["kind"] == "HorizontalPodAutoscaler":  # its target exists from that wave on
                _in_wave(manifest, PROCESS_SYNC_WAVE)
    if placement.replicas > 1:
        served.append(render_pod_disruption_budget(app, placement, settings))
    objects += [kubernetes_object(prefix, manifest, Lifecycle(depends_on=in_namespace)) for manifest in served]
    if dns is not None:
        objects.append(dns.record(f"{prefix}-dns", placement.host, f"minnova-idp {settings.deployment}: {prefix}"))
        objects += [dns.record(alias_record_name(prefix, alias), alias, f"minnova-idp {settings.deployment}: {prefix}")
                    for alias, _ in placement.aliases]
    return objects


PROCESS_KINDS = frozenset({"Deployment", "CronJob"})  # what runs the app's code (the release phase aside)


def _in_wave(manifest: Manifest, wave: int) -> None:
    """Argo CD applies `manifest` in sync wave `wave` of a preview (see minnova_idp/render/database.py SYNC_WAVE_ANNOTATION)."""
    manifest["metadata"]["annotations"] = {**manifest["metadata"].get("annotations", {}),
                                           SYNC_WAVE_ANNOTATION: str(wave)}


# What a container that declares nothing (an operator's sidecar) requests, within the namespace's quota.
DEFAULT_CONTAINER_REQUEST = {"cpu": "50m", "memory": "64Mi"}
DEFAULT_CONTAINER_LIMIT = NAMESPACE_DEFAULT_LIMIT  # model/app_config.py checks requests against it


def render_isolation(app: AppConfig, placement: Placement, settings: RenderSettings) -> list[Manifest]:
    """The namespace's quota, container defaults and network policies, as the stack sets them."""
    labels = common_labels(app, placement, settings)
    objects = []
    if settings.quota is not None:
        objects += [isolation.resource_quota(placement.namespace, labels, "app-quota", dict(settings.quota)),
                    isolation.limit_range(placement.namespace, labels, "app-defaults", DEFAULT_CONTAINER_REQUEST,
                                          DEFAULT_CONTAINER_LIMIT)]
    if settings.network_policies:
        allowed = None
        if settings.ingress_namespaces is not None:
            # The operator connects to its instances (status, switchover): always let it in.
            allowed = sorted({*settings.ingress_namespaces, versions.CLOUDNATIVE_PG.namespace})
        objects += [isolation.ingress_policy(placement.namespace, labels, allowed, own_policy=own_policy_pods(placement),
                                             also_own=mongodb_pods_label(placement)),
                    isolation.egress_policy(placement.namespace, labels, app_code_pods(app), "app-egress")]
        # The paths the registry's `allowFrom` opens (ADR 0016): added policies, the ones above unchanged.
        objects += [*internal_services.ingress_policies(placement.namespace, labels, app.name, placement.internal),
                    *internal_services.egress_policies(placement.namespace, labels, app.name, placement.internal)]
    return objects


def _mongodb(prefix: str, app: AppConfig, placement: Placement, labels: dict[str, str],
             in_namespace: tuple[str, ...], operators: tuple[str, ...], declared: list[Declared], deployment: str,
             protected: bool) -> tuple[list[Declared], Declared]:
    """The app's MongoDB (render/mongodb.py), and the environment's backup bucket and token when no PostgreSQL
    database declared them already (one bucket per app environment; each engine under its own prefix)."""
    from minnova_idp.render.resources import AccountToken, R2Bucket

    mongodb = placement.mongodb
    extra: list[Declared] = []
    token = None
    if mongodb.backup is not None:
        token = AccountToken.key_for(mongodb.backup.token_name)
        if not any(isinstance(each, R2Bucket) and each.bucket == mongodb.backup.bucket for each in declared):
            *storage, _cnpg_credentials = backup_storage(prefix, app, mongodb.backup, placement.namespace, labels,
                                                         deployment, Lifecycle(retain_on_delete=True, protect=protected),
                                                         in_namespace)
            extra += storage
    objects, ready = mongodb_objects(prefix, app.name, mongodb, placement.namespace, labels,
                                     Lifecycle(retain_on_delete=True, protect=protected), in_namespace, operators,
                                     app_code_pods(app), token)
    return extra + objects, ready


def mongodb_pods_label(placement: Placement) -> tuple[tuple[str, str], ...]:
    """MongoDB's pods confine themselves (render/mongodb.py render_network_policy)."""
    return tuple(OPERATOR_POD_LABELS.items()) if placement.mongodb is not None else ()


def own_policy_pods(placement: Placement) -> tuple[str, ...] | None:
    """(label, values...) of the pods the namespace-wide ingress policy leaves to a policy of their own: Valkey's
    and MariaDB's (render/mysql.py gives its pods the same label)."""
    components = [name for name, present in ((REDIS_COMPONENT, placement.redis), (MYSQL_COMPONENT, placement.mysql))
                  if present is not None]
    return (COMPONENT_LABEL, *components) if components else None


def render_app(app: AppConfig, placement: Placement, settings: RenderSettings,
               pull_credentials: str | None = None) -> list[Manifest]:
    """The Kubernetes objects of `app_objects`, as plain manifests (secret values in clear): what a preview
    applies. Namespace first, then the database, then the workload."""
    return [plain(o.manifest) for o in app_objects(app, placement, settings, pull_credentials=pull_credentials)
            if isinstance(o, KubernetesObject)]


def image_reference(app: AppConfig, tag: str) -> str:
    separator = "@" if tag.startswith("sha256:") else ":"
    return f"{app.image.repository}{separator}{tag}"


def render_namespace(app: AppConfig, placement: Placement, settings: RenderSettings) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": placement.namespace,
            "labels": {
                **common_labels(app, placement, settings),
                # Our pods meet the "restricted" Pod Security Standard; enforce it so nothing weaker lands here.
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/enforce-version": "latest",
            },
        },
    }


def _probe_action(app: AppConfig, http: bool, health_check: HealthCheck | None = None) -> dict[str, Any]:
    health_check = health_check or app.health_check
    if http and health_check is not None:
        return {"httpGet": {"path": health_check.path, "port": CONTAINER_PORT_NAME}}
    return {"tcpSocket": {"port": CONTAINER_PORT_NAME}}


def _container(app: AppConfig, placement: Placement, name: str, command: list[str] | None, args: list[str] | None,
               resources: Resources, port: int | None = None) -> dict[str, Any]:
    """What every process of the app shares: its image, env, secrets, database URL, resources and hardening."""
    container: dict[str, Any] = {
        "name": name,
        "image": image_reference(app, placement.image_tag),
        "imagePullPolicy": app.image.pull_policy,
        "env": [{"name": "PORT", "value": str(port or app.port)},  # an internal service's own port, else the app's
                *([database_url_env(placement.database)] if placement.database is not None else []),
                *([redis_url_env(app)] if placement.redis is not None else []),
                *(storage_env(app, placement.storage) if placement.storage is not None else []),
                *internal_services.url_env(placement.internal, internal_services.own_env_names(
                    placement.env, placement.secrets.keys if placement.secrets is not None else ())),
                *([mongodb_url_env(app.name)] if placement.mongodb is not None else []),
                *(mysql_env(app, placement.mysql, placement.namespace) if placement.mysql is not None else []),
                *({"name": key, "value": value} for key, value in sorted(placement.env.items()))],
    }
    if placement.secrets is not None:
        container["envFrom"] = [{"secretRef": {"name": names.app_secret(app.name)}}]
    if command:
        container["command"] = list(command)
    if args is not None:
        container["args"] = list(args)
    container["resources"] = resources.as_kubernetes()
    return container


_CONTAINER_SECURITY = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def _pod_spec(app: AppConfig, placement: Placement, containers: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        **extra,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": app.run_as_user,
            "runAsGroup": app.run_as_user,
            "fsGroup": app.run_as_user,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    if placement.pull_secret:
        spec["imagePullSecrets"] = [{"name": names.PULL_SECRET}]
    spec["containers"] = containers
    return spec


def _pod_labels(app: AppConfig, placement: Placement, settings: RenderSettings,
                selector: dict[str, str]) -> dict[str, str]:
    labels = {**common_labels(app, placement, settings), **selector}
    if len(placement.image_tag) <= names.DNS_LABEL_MAX and _LABEL_VALUE_RE.fullmatch(placement.image_tag):
        labels["app.kubernetes.io/version"] = placement.image_tag
    return labels


def render_deployment(app: AppConfig, placement: Placement, settings: RenderSettings) -> Manifest:
    selector = selector_labels(app, placement)
    container = _container(app, placement, "app", app.command, app.args, placement.resources)
    _serve(app, container, app.port, app.health_check)
    return _deployment(app, placement, settings, app.name, selector, container,
                       replicas=None if placement.autoscale is not None else placement.replicas)


def _serve(app: AppConfig, container: dict[str, Any], port: int, health_check: HealthCheck | None) -> None:
    """A container serving on `port` behind a Service: the web process, and each internal service."""
    container["ports"] = [{"name": CONTAINER_PORT_NAME, "containerPort": port, "protocol": "TCP"}]
    container.update({
        # Startup gets up to a minute; liveness only checks the port, so a failing dependency
        # behind the health path takes pods out of the Service without restarting them all.
        "startupProbe": {**_probe_action(app, True, health_check), "periodSeconds": 2, "failureThreshold": 30},
        "readinessProbe": {**_probe_action(app, True, health_check), "periodSeconds": 5, "failureThreshold": 3},
        "livenessProbe": {**_probe_action(app, False), "periodSeconds": 10, "failureThreshold": 3},
        "lifecycle": {"preStop": {"sleep": {"seconds": PRE_STOP_SLEEP_SECONDS}}},
        "securityContext": dict(_CONTAINER_SECURITY),
    })


def _deployment(app: AppConfig, placement: Placement, settings: RenderSettings, name: str,
                selector: dict[str, str], container: dict[str, Any], replicas: int | None) -> Manifest:
    spread = [
        {"maxSkew": 1, "topologyKey": key, "whenUnsatisfiable": "ScheduleAnyway",
         "labelSelector": {"matchLabels": selector}, "matchLabelKeys": ["pod-template-hash"]}
        for key in ("kubernetes.io/hostname", "topology.kubernetes.io/zone")
    ]
    spec: dict[str, Any] = {}
    if replicas is not None:  # with an autoscaler, replicas are the HPA's: Pulumi leaves the field alone
        spec["replicas"] = replicas
    spec.update({
        "revisionHistoryLimit": 5,
        "selector": {"matchLabels": selector},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
        "template": {
            "metadata": {"labels": _pod_labels(app, placement, settings, selector),
                         **({"annotations": restart_annotations(app, placement)}
                            if placement.redis or placement.mysql or placement.mongodb else {})},
            "spec": _pod_spec(app, placement, [container], terminationGracePeriodSeconds=TERMINATION_GRACE_SECONDS,
                              topologySpreadConstraints=spread),
        },
    })
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {**metadata(app, placement, settings), "name": name}, "spec": spec}


def redis_restart_annotation(app: AppConfig, placement: Placement) -> dict[str, str]:
    """Long-running processes read REDIS_URL when they start: a new password (minnova:passwordKey rotated) rolls
    them, as it rolls Valkey. A hash of a URL holding a 256-bit password tells nothing about it."""
    import hashlib

    url = redis_url(app, placement.namespace, placement.redis.password)
    return {"minnova.io/redis-url-sha256": hashlib.sha256(url.encode()).hexdigest()[:16]}


def restart_annotations(app: AppConfig, placement: Placement) -> dict[str, str]:
    """Valkey's (above), MariaDB's and MongoDB's: MYSQL_URL, MYSQL_PASSWORD and MONGODB_URL are read at start, and a
    rotated password key changes them (render/mysql.py applies it to the User; the MongoDB operator changes the
    user's password when its Secret changes, custom_users.go updatePass)."""
    import hashlib

    annotations = redis_restart_annotation(app, placement) if placement.redis else {}
    if placement.mysql is not None:
        url = mysql_url(app, placement.mysql, placement.namespace)
        annotations["minnova.io/mysql-url-sha256"] = hashlib.sha256(url.encode()).hexdigest()[:16]
    if placement.mongodb is not None:
        url = mongodb_url(placement.mongodb, placement.namespace)
        annotations["minnova.io/mongodb-url-sha256"] = hashlib.sha256(url.encode()).hexdigest()[:16]
    return annotations


def render_process(app: AppConfig, placement: Placement, settings: RenderSettings, process: str) -> Manifest:
    """A worker: the app's image, env, secrets and database; no port, so no probes; a graceful stop. An internal
    service (`port`): probes and a graceful stop like the web process's (its own healthCheck, else none: TCP)."""
    config = app.processes[process]
    container = _container(app, placement, process, config.command, config.args,
                           process_resources(app, placement, process), port=config.port)
    if config.port is not None:
        _serve(app, container, config.port, config.health_check)
    else:
        container["securityContext"] = dict(_CONTAINER_SECURITY)
    return _deployment(app, placement, settings, names.process(app.name, process),
                       process_selector(app, placement, process), container, process_replicas(app, placement, process))


def process_replicas(app: AppConfig, placement: Placement, process: str) -> int:
    """A worker's replicas: the environment's override, else the process's own; previews run one of each."""
    env = app.environments.get(placement.environment)
    override = env.processes.get(process) if env is not None else None
    return override.replicas if override is not None else (app.processes[process].replicas if env is not None else 1)


def process_resources(app: AppConfig, placement: Placement, process: str) -> Resources:
    """A worker's resources: its own, else the environment's (placement.resources)."""
    return app.processes[process].resources or placement.resources


def web_pods_at_most(placement: Placement) -> int:
    """The web Deployment's pods at their most, before a rollout adds one: the autoscaler's maximum, else replicas."""
    return placement.autoscale.max if placement.autoscale is not None else placement.replicas


def render_cron_job(app: AppConfig, placement: Placement, settings: RenderSettings, name: str) -> Manifest:
    job = app.cron[name]
    container = _container(app, placement, name, job.command, job.args, job.resources or placement.resources)
    container["securityContext"] = dict(_CONTAINER_SECURITY)
    selector = process_selector(app, placement, name)
    return {
        "apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": {**metadata(app, placement, settings), "name": names.process(app.name, name)},
        "spec": {
            "schedule": job.schedule,
            "timeZone": job.time_zone,
            "concurrencyPolicy": job.concurrency_policy,
            "startingDeadlineSeconds": 300,
            "successfulJobsHistoryLimit": job.successful_jobs_history_limit,
            "failedJobsHistoryLimit": job.failed_jobs_history_limit,
            "jobTemplate": {"spec": {
                "backoffLimit": 1,
                "activeDeadlineSeconds": job.active_deadline_seconds,
                "template": {
                    "metadata": {"labels": _pod_labels(app, placement, settings, selector)},
                    "spec": _pod_spec(app, placement, [container], restartPolicy="Never"),
                },
            }},
        },
    }


def release_name(app: AppConfig, placement: Placement) -> str:
    """One Job per version (image tag), release command and database: a new version (or a restored database) runs
    it again, nothing else does. A Job's pod template is immutable: a new name instead of a replaced Job."""
    import hashlib

    release = app.release
    database = placement.database.cluster if placement.database is not None else None
    digest = hashlib.sha256(repr((placement.image_tag, release.command, release.args, database)).encode()
                            ).hexdigest()[:10]
    return f"{app.name}-release-{digest}"


def render_release(app: AppConfig, placement: Placement, settings: RenderSettings, preview: bool = False) -> Manifest:
    """The release phase (migrations): runs to completion before the new version's pods start. Under Pulumi the
    Deployment depends on it, and pulumi-kubernetes waits for a Job to complete and fails on a failed one
    (provider/pkg/await/job.go), so a failed release stops the update before the running version is touched."""
    release = app.release
    container = _container(app, placement, "release", release.command, release.args,
                           release.resources or placement.resources)
    container["securityContext"] = dict(_CONTAINER_SECURITY)
    job_metadata: dict[str, Any] = {**metadata(app, placement, settings), "name": release_name(app, placement)}
    if preview:
        # Argo CD: a Sync hook in the wave after the database (healthy) and its seed, before the app's processes
        # (sync waves wait for the hook to finish); not PreSync, which would run before the preview's database
        # exists. Replaced for each new commit.
        job_metadata["annotations"] = {"argocd.argoproj.io/hook": "Sync",
                                   "argocd.argoproj.io/hook-delete-policy": "BeforeHookCreation",
                                   SYNC_WAVE_ANNOTATION: str(RELEASE_SYNC_WAVE)}
    selector = process_selector(app, placement, "release")
    return {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": job_metadata,
        "spec": {
            # Retries ride out a database that is still starting (previews create both in one sync).
            "backoffLimit": 6 if preview else 2,
            "activeDeadlineSeconds": release.active_deadline_seconds,
            "template": {
                "metadata": {"labels": _pod_labels(app, placement, settings, selector)},
                "spec": _pod_spec(app, placement, [container], restartPolicy="Never"),
            },
        },
    }


def render_pull_secret(app: AppConfig, placement: Placement, settings: RenderSettings, dockerconfig: Any) -> Manifest:
    """The stack's registry credentials in the app's namespace (a Pulumi secret; `[secret]` in plans)."""
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {**metadata(app, placement, settings), "name": names.PULL_SECRET},
            "type": "kubernetes.io/dockerconfigjson", "stringData": {".dockerconfigjson": dockerconfig}}


def render_secret(app: AppConfig, placement: Placement, settings: RenderSettings) -> Manifest:
    """The app's secrets file as a Secret named by the platform, in the placement's namespace."""
    values = placement.secrets
    secret: Manifest = {"apiVersion": "v1", "kind": "Secret",
                        "metadata": {**metadata(app, placement, settings), "name": names.app_secret(app.name)},
                        "type": "Opaque"}
    # Values become Pulumi secrets: encrypted in state, "[secret]" in previews and plans.
    if values.string_data:
        secret["stringData"] = Secret(dict(values.string_data))
    if values.data:
        secret["data"] = Secret(dict(values.data))
    return secret


def url(placement: Placement) -> str:
    return f"https://{placement.host}"
