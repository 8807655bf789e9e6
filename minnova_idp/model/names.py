"""Every name the platform derives from an app name, and the limits they must fit.

The app-name length limit is chosen so that every derived name fits its
Kubernetes/DNS limit; tests/model/test_names.py checks that for the longest allowed name.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

DEPLOYMENT_NAME_MAX = 20
APP_NAME_MAX = 30  # as Heroku; leaves room for "-pr-<number>", "-<env>" and database suffixes
ENV_NAME_MAX = 10
MAX_PR_NUMBER_DIGITS = 7
DNS_LABEL_MAX = 63
APP_CONFIG = PurePosixPath(".minnova") / "app.yaml"  # in every app repository
# Where editors fetch the app.yaml schema from (`init --schema-url` overrides it for a fork or mirror).
SCHEMA_URL = "https://raw.githubusercontent.com/minnova/minnova-idp/main/schema/app.schema.json"

APP_NAME_RE = re.compile(r"^[a-z]([a-z0-9-]*[a-z0-9])?$")
# No hyphens in environment names: "<app>-<env>" then splits one way only, and can never
# look like a preview namespace "<app>-pr-<number>".
ENV_NAME_RE = re.compile(r"^[a-z][a-z0-9]*$")
# The environment name of pull-request previews (their secrets file, key and labels use it).
PREVIEW_ENVIRONMENT = "preview"
RESERVED_ENV_NAMES = frozenset({PREVIEW_ENVIRONMENT})
# Every object the platform creates carries this label; the preview NetworkPolicy tells app
# namespaces from the rest by it, so it is spelled here only.
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "minnova-idp"
DNS_LABEL_RE = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")


def managed_labels() -> dict[str, str]:
    return {MANAGED_BY_LABEL: MANAGED_BY}


def namespace(app: str, environment: str) -> str:
    return f"{app}-{environment}"


def preview_namespace(app: str, pr_number: int) -> str:
    return f"{app}-pr-{pr_number}"


def preview_host(app: str, pr_number: int, preview_domain: str) -> str:
    return f"{preview_namespace(app, pr_number)}.{preview_domain}"


# The stack's registry credentials in every app namespace that pulls private images.
PULL_SECRET = "registry-credentials"


def process(app: str, name: str) -> str:
    """A worker's Deployment or a cron job's CronJob (names at most 30 + 1 + 20 = 51: a CronJob takes 52)."""
    return f"{app}-{name}"


def app_secret(app: str) -> str:
    """The Secret made from the app's SOPS file, mounted with envFrom."""
    return f"{app}-secrets"


def tls_secret(app: str) -> str:
    return f"{app}-tls"


def database_cluster(app: str) -> str:
    """The default CNPG Cluster name (and server name in the backups): `backupName` overrides it (restores).
    CNPG derives "<cluster>-app" (the app's credentials), "<cluster>-rw" and pod names from it."""
    return f"{app}-db"


# A Cluster's name must leave room for what CNPG and the platform derive from it: "<cluster>-drill-rw" is a
# Service (a DNS label, at most 63) and "<cluster>-drill" a CronJob (at most 52: its Jobs add a suffix).
CRONJOB_NAME_MAX = 52
CLUSTER_NAME_MAX = 40
SERVER_NAME_MAX = CLUSTER_NAME_MAX + len("-pg99")  # a Cluster's name, or it with a major upgrade's suffix


def cluster_app_secret(cluster: str) -> str:
    return f"{cluster}-app"


def database_app_secret(app: str) -> str:
    return cluster_app_secret(database_cluster(app))


def drill_cluster(cluster: str) -> str:
    """The throwaway Cluster a restore drill recovers `cluster`'s backups into, and the drill's CronJob,
    ConfigMap, ServiceAccount and Role."""
    return f"{cluster}-drill"


def seed(cluster: str) -> str:
    """The ConfigMap carrying the app's seed SQL, and the Job that runs it into `cluster`."""
    return f"{cluster}-seed"


def redis(app: str) -> str:
    """The app's Valkey: its Deployment, Service, Secret, volume claim and NetworkPolicy (`redis` is a reserved
    process name, so no worker or cron job takes it)."""
    return f"{app}-redis"


MONGODB_URL_ENV = "MONGODB_URL"  # not DATABASE_URL (PostgreSQL's) nor MYSQL_URL


def mongodb_app_secret(app: str) -> str:
    """The app's MongoDB user's password (render/mongodb.py): the operator reads it to create the user."""
    return f"{app}-mongodb-app"


def mongodb_url_secret(app: str) -> str:
    """MONGODB_URL, written once the cluster the URL names is ready (render/mongodb.py)."""
    return f"{app}-mongodb-url"


def mongodb_users_secret(app: str) -> str:
    """The system users' passwords (the operator's `secrets.users`) of every cluster of the app environment: the
    default cluster's name, kept across restores (render/mongodb.py)."""
    return f"{app}-mongodb-users"


def mongodb_backup_secret(app: str) -> str:
    """The S3 credentials of the app environment's backup token, under the keys PBM reads."""
    return f"{app}-mongodb-backup"


def mask(cluster: str) -> str:
    """The ConfigMap carrying the app's masking SQL, and the Job that runs it into a preview's copy of `cluster`."""
    return f"{cluster}-mask"


def preview_copy(app: str) -> str:
    """A preview's Cluster when it is a copy of another environment: never `<app>-db`, so that a later commit without
    preview.database cannot hand the app (or its release Job or seed) the recovered copy without its mask: that
    render declares `<app>-db`, a new empty database, and Argo CD prunes the copy."""
    return f"{app}-db-copy"


def preview_origin(app: str) -> str:
    """In a preview's namespace: the ObjectStore its database is recovered from, another environment's backups."""
    return f"{app}-origin"


def preview_origin_credentials(app: str) -> str:
    """In a preview's namespace: the read-only S3 credentials of preview_origin(app)."""
    return f"{preview_origin(app)}-r2"


def backup_object_store(app: str) -> str:
    return f"{app}-backups"


def backup_credentials_secret(app: str) -> str:
    return f"{app}-backups-r2"


def scheduled_backup(cluster: str) -> str:
    return f"{cluster}-daily"


def backup_bucket(deployment: str, app: str, environment: str) -> str:
    """R2 bucket: 3-63 lowercase letters, digits and '-'; unique in the Cloudflare account."""
    return f"{deployment}-{app}-{environment}"


# Object storage (render/storage.py). The last segment of these bucket names is longer than any environment name
# (ENV_NAME_MAX), so no `<deployment>-<app>-<env>` backup bucket can ever have one of these names.
STORAGE_BUCKET_SUFFIX = "objectstorage"
PREVIEW_STORAGE_BUCKET_SUFFIX = "previewstorage"
BUCKET_NAME_MAX = 63  # R2 (and S3): 3-63 lowercase letters, digits and '-', starting and ending with a letter or digit


def _bucket_with_suffix(base: str, suffix: str) -> str:
    """`<base>-<suffix>`, or, past 63 characters, `<base, cut>-<8 hex of the whole name>-<suffix>`: still unique
    (the hash is of the full name) and still ending in `suffix`."""
    import hashlib

    full = f"{base}-{suffix}"
    if len(full) <= BUCKET_NAME_MAX:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:8]
    keep = BUCKET_NAME_MAX - len(suffix) - len(digest) - 2
    return f"{base[:keep].rstrip('-')}-{digest}-{suffix}"


def storage_bucket(deployment: str, app: str, environment: str) -> str:
    """An app environment's own R2 bucket for the objects the app stores (`storage.enabled`)."""
    return _bucket_with_suffix(f"{deployment}-{app}-{environment}", STORAGE_BUCKET_SUFFIX)


def preview_storage_bucket(deployment: str, app: str) -> str:
    """The one bucket all of an app's previews write to, each under its own prefix (preview_storage_prefix)."""
    return _bucket_with_suffix(f"{deployment}-{app}", PREVIEW_STORAGE_BUCKET_SUFFIX)


def preview_storage_prefix(pr_number: int) -> str:
    return f"pr-{pr_number}/"


def storage_secret(app: str) -> str:
    """In each namespace of an app with storage: the S3 access key id and secret access key of its bucket's token."""
    return f"{app}-storage"


# What the platform sets in every container of an app with storage (render/storage.py storage_env): never the
# app's `env` or secrets.
STORAGE_ENV_VARS = ("AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION",
                    "AWS_DEFAULT_REGION", "AWS_REQUEST_CHECKSUM_CALCULATION", "AWS_RESPONSE_CHECKSUM_VALIDATION",
                    "S3_ENDPOINT", "S3_BUCKET", "S3_PREFIX")


def component_name(app: str, environment: str) -> str:
    """Pulumi name of the MinnovaApp for one app environment. Changing it replaces resources."""
    return f"{app}-{environment}"


def check_app_name(name: str) -> str | None:
    """Returns why `name` is not a valid app name, or None."""
    if not name:
        return "must not be empty"
    if len(name) > APP_NAME_MAX:
        return f"'{name}' is {len(name)} characters; the limit is {APP_NAME_MAX} so that derived names fit"
    if not APP_NAME_RE.fullmatch(name):
        lowered = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
        suggestion = f"; try '{lowered}'" if lowered and APP_NAME_RE.fullmatch(lowered) else ""
        return (f"'{name}' must be lowercase letters, digits and '-', start with a letter "
                f"and end with a letter or digit{suggestion}")
    if "--" in name:
        return f"'{name}' must not contain '--'"
    return None


def check_environment_name(name: str) -> str | None:
    if name in RESERVED_ENV_NAMES:
        return f"'{name}' is reserved for pull-request preview environments"
    if len(name) > ENV_NAME_MAX or not ENV_NAME_RE.fullmatch(name):
        return (f"'{name}' is not a valid environment name: lowercase letters and digits, "
                f"starting with a letter, at most {ENV_NAME_MAX} characters (e.g. dev, staging, prod)")
    return None


def app_pull_credentials_file(app: str) -> str:
    """In the preview sidecar's keys directory: an app's own pull credentials (minnova:appRegistryCredentials), used
    for its previews instead of the stack's ('.' keeps it apart from the app's key file, named by the app)."""
    return f"{app}.registry-credentials.json"
