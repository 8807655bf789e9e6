"""An app's Redis: a Valkey server per environment (and per preview), written once. Pure: no Pulumi import.

One Deployment (one replica, `Recreate`: the volume is ReadWriteOnce) from the project's own pinned image, a
Service, a Secret holding the password, the URL the app gets as `REDIS_URL` and the server's config file, a
volume claim when it persists, and a NetworkPolicy that lets only the app's own pods in and nothing out.

The password is derived, never stored: HMAC-SHA256 of the stack's `minnova:passwordKey` (a Pulumi secret) and
the namespace, so it never passes through git or a plan (the Secret is a Pulumi secret: `[secret]` in plans,
encrypted in state) and a re-run gives the same one. Previews derive theirs from a preview-only key the Argo CD
plugin sidecar holds (`preview_password_key`): Argo CD re-renders a preview on every refresh and gets the same
password each time, and the sidecar never holds anything that opens a stack environment's Redis.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from minnova_idp.model import names, versions
from minnova_idp.model.app_config import AppConfig, Resources
from minnova_idp.model.quantity import parse_quantity
from minnova_idp.render.resources import Lifecycle, Secret, kubernetes_object
from minnova_idp.render.sql_jobs import hardened_container_security

Manifest = dict[str, Any]

PORT = 6379
PORT_NAME = "redis"
CONFIG_KEY = "valkey.conf"
CONFIG_DIR = "/etc/valkey"
DATA_DIR = "/data"
# The image's own `valkey` user (valkey-container Dockerfile.template:15-17, Debian variant: uid and gid 999).
VALKEY_UID = 999
COMPONENT = "redis"
COMPONENT_LABEL = "app.kubernetes.io/component"
MAXMEMORY_PERCENT = 80  # of limits.memory: room for the allocator's overhead and the AOF rewrite's fork
_PASSWORD_CONTEXT = b"minnova-idp redis password v1\0"
_PREVIEW_KEY_CONTEXT = b"minnova-idp preview passwords v1\0"


@dataclass(frozen=True)
class RedisPlacement:
    version: int
    resources: Resources
    password: str = ""  # derived (redis_password); never logged: repr hides it
    size: str | None = None  # a volume of this size; None: memory only (a cache, or a preview)

    def __repr__(self) -> str:
        return f"RedisPlacement(version={self.version}, size={self.size!r})"


def preview_password_key(password_key: str) -> str:
    """What the preview sidecar holds: a key derived for previews only (it opens no stack environment's Redis)."""
    return hmac.new(password_key.encode(), _PREVIEW_KEY_CONTEXT, hashlib.sha256).hexdigest()


def redis_password(key: str, namespace: str) -> str:
    """A namespace's password: 64 hex characters (URL-safe, so REDIS_URL needs no escaping)."""
    return hmac.new(key.encode(), _PASSWORD_CONTEXT + namespace.encode(), hashlib.sha256).hexdigest()


def redis_url(app: AppConfig, namespace: str, password: str) -> str:
    return f"redis://:{password}@{names.redis(app.name)}.{namespace}.svc:{PORT}/0"


def redis_url_env(app: AppConfig) -> dict[str, Any]:
    """REDIS_URL from the Redis Secret: its value (and the password in it) never appears in the Deployment."""
    return {"name": "REDIS_URL", "valueFrom": {"secretKeyRef": {"name": names.redis(app.name), "key": "url"}}}


def redis_pods(namespace: str) -> dict[str, str]:
    """The Valkey pod: not the app's (no `name: <app>` label, so neither the app's Service nor its egress policy
    selects it)."""
    return {"app.kubernetes.io/name": "valkey", "app.kubernetes.io/instance": names.redis(namespace)}


def config_file(app: AppConfig, namespace: str, redis: RedisPlacement) -> str:
    limit = parse_quantity(redis.resources.limits.memory)  # a Decimal
    persistent = redis.size is not None
    lines = [
        f"# minnova-idp: Valkey of {app.name} in {namespace}",
        "bind * -::*",  # the compiled default (valkey src/server.h:136, valkey.conf:72): every interface; IPv6 only where the pod has it ('-': skip an address that is unavailable)
        f"port {PORT}",
        "protected-mode yes",
        f"requirepass {redis.password}",
        f"appendonly {'yes' if persistent else 'no'}",
        "appendfsync everysec",
        'save ""',  # no RDB snapshots: the append-only file is the persistence, and a cache needs none
        f"maxmemory {int(limit * MAXMEMORY_PERCENT / 100)}",
        "maxmemory-policy noeviction",  # queues (Sidekiq, RQ, BullMQ) need every key kept: writes fail instead
        "",
    ]
    return "\n".join(lines)


def redis_objects(prefix: str, app: AppConfig, redis: RedisPlacement, namespace: str, labels: dict[str, str],
                  keep: Lifecycle, after_namespace: tuple[str, ...], app_pods: dict[str, str]) -> list:
    """Secret, volume claim (when persistent), NetworkPolicy, Deployment and Service, each with its lifecycle.
    `keep`: how data holders are kept (the claim: retained, and protected where the environment is); `app_pods`:
    the labels of the pods that run the app's code, the only ones let in."""
    name = names.redis(app.name)
    secret = kubernetes_object(prefix, render_secret(app, namespace, labels, redis), Lifecycle(depends_on=after_namespace))
    declared = [secret]
    claim = None
    if redis.size is not None:
        claim = kubernetes_object(prefix, render_volume_claim(name, namespace, labels, redis.size),
                                  Lifecycle(depends_on=after_namespace, retain_on_delete=keep.retain_on_delete,
                                            protect=keep.protect))
        declared.append(claim)
    waits_for = after_namespace + (secret.key,) + ((claim.key,) if claim else ())
    declared += [
        kubernetes_object(prefix, render_policy(app, namespace, labels, app_pods), Lifecycle(depends_on=after_namespace)),
        kubernetes_object(prefix, render_deployment(app, namespace, labels, redis),
                          Lifecycle(depends_on=waits_for)),
        kubernetes_object(prefix, render_service(name, namespace, labels), Lifecycle(depends_on=after_namespace)),
    ]
    return declared


def render_secret(app: AppConfig, namespace: str, labels: dict[str, str], redis: RedisPlacement) -> Manifest:
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": names.redis(app.name), "namespace": namespace, "labels": labels},
            "type": "Opaque",
            "stringData": Secret({"password": redis.password, "url": redis_url(app, namespace, redis.password),
                                  CONFIG_KEY: config_file(app, namespace, redis)})}


def render_volume_claim(name: str, namespace: str, labels: dict[str, str], size: str) -> Manifest:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}}


def render_deployment(app: AppConfig, namespace: str, labels: dict[str, str], redis: RedisPlacement) -> Manifest:
    name = names.redis(app.name)
    selector = redis_pods(namespace)
    # Rolls the server when its config (password included) changes; a hash of a 256-bit secret tells nothing.
    config_hash = hashlib.sha256(config_file(app, namespace, redis).encode()).hexdigest()[:16]
    container = {
        "name": "valkey",
        "image": versions.VALKEY_IMAGES[redis.version],
        # The server itself: the image's entrypoint, run as non-root, only sets umask 0077 and execs it
        # (valkey-container docker-entrypoint.sh:11-29).
        # `dir` here, not in the file: the server enters it while reading the file, before any other argument.
        "command": ["valkey-server", f"{CONFIG_DIR}/{CONFIG_KEY}", "--dir", DATA_DIR],
        "ports": [{"name": PORT_NAME, "containerPort": PORT, "protocol": "TCP"}],
        "readinessProbe": {"tcpSocket": {"port": PORT_NAME}, "periodSeconds": 5, "failureThreshold": 3},
        "livenessProbe": {"tcpSocket": {"port": PORT_NAME}, "periodSeconds": 10, "failureThreshold": 6,
                          "initialDelaySeconds": 10},
        "resources": redis.resources.as_kubernetes(),
        "securityContext": hardened_container_security(),
        "volumeMounts": [{"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
                         {"name": "data", "mountPath": DATA_DIR}],
    }
    data: dict[str, Any] = ({"persistentVolumeClaim": {"claimName": name}} if redis.size is not None else
                            {"emptyDir": {"sizeLimit": redis.size or "256Mi"}})
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": 1,
            "revisionHistoryLimit": 3,
            # One pod at a time: the volume is ReadWriteOnce, and two servers must never share an append-only file.
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": {**labels, **selector, COMPONENT_LABEL: COMPONENT},
                             "annotations": {"minnova.io/config-sha256": config_hash}},
                "spec": {
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "terminationGracePeriodSeconds": 30,  # time to flush the append-only file on SIGTERM
                    "securityContext": {"runAsNonRoot": True, "runAsUser": VALKEY_UID, "runAsGroup": VALKEY_UID,
                                        "fsGroup": VALKEY_UID, "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [container],
                    "volumes": [{"name": "config", "secret": {"secretName": name,
                                                              "items": [{"key": CONFIG_KEY, "path": CONFIG_KEY}]}},
                                {"name": "data", **data}],
                },
            },
        },
    }


def render_service(name: str, namespace: str, labels: dict[str, str]) -> Manifest:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"type": "ClusterIP", "selector": redis_pods(namespace),
                     "ports": [{"name": PORT_NAME, "port": PORT, "targetPort": PORT_NAME, "protocol": "TCP"}]}}


def render_policy(app: AppConfig, namespace: str, labels: dict[str, str], app_pods: dict[str, str]) -> Manifest:
    """Only the app's own pods (web, workers, cron jobs, release) reach Valkey, on its port; Valkey reaches nothing
    (no DNS, no replication). The namespace-wide ingress policy leaves this pod out (isolation.ingress_policy), since
    NetworkPolicies add up: its "other namespaces may connect" would open Valkey too."""
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": names.redis(app.name), "namespace": namespace, "labels": labels},
            "spec": {"podSelector": {"matchLabels": redis_pods(namespace)},
                     "policyTypes": ["Ingress", "Egress"],
                     "ingress": [{"from": [{"podSelector": {"matchLabels": dict(app_pods)}}],
                                  "ports": [{"protocol": "TCP", "port": PORT}]}],
                     "egress": []}}
