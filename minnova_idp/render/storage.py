"""An app's object storage (`storage.enabled`): an R2 bucket per app environment, a token for that bucket alone,
and the S3 variables the app's containers get. Pure: no Pulumi import.

Who can touch what. Each stack environment has its own bucket (names.storage_bucket) and its own account API
token whose policy names that one bucket (`com.cloudflare.edge.r2.bucket.<account>_default_<bucket>`, the
resource form Cloudflare documents for bucket-scoped R2 tokens, developers.cloudflare.com/r2/api/tokens/ "Access
Policy / Resources / Bucket"; the same form the database backups use, database.r2_bucket_resource) with object read
and write only (no bucket administration: the token cannot delete the bucket or change its settings). Its S3
credentials (key id = token id, secret = SHA-256 of the token value, database.r2_s3_credentials) are a Secret in
the environment's namespace only, so a dev pod never holds a key that opens prod's bucket.

Previews never get an environment's key. R2 tokens are scoped to buckets, never to a prefix, and the preview
plugin cannot call Cloudflare, so an app's previews share one bucket of their own (names.preview_storage_bucket)
and one read-write token for it, which the stack provisions ahead and hands to the plugin sidecar (like the
read-only origin of a copied database, origin.py); each preview is told its own prefix (`S3_PREFIX`,
`pr-<number>/`). What a preview can read is therefore: its app's previews bucket (other previews of the same app
included), nothing of dev's or prod's objects (docs/storage.md).

Data is kept like a database's: the bucket, its token and the credentials Secret are retained when `storage` is
turned off or the app is removed (Pulumi forgets them), and protected in protected environments (`pulumi up`
stops until they are unprotected on purpose). Nothing here ever deletes objects.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from minnova_idp.model import names, versions
from minnova_idp.model.app_config import AppConfig
from minnova_idp.render.database import (
    ACCESS_KEY_ID,
    R2_PERMISSION_GROUPS,
    R2_SIDECAR_ENV,
    SECRET_ACCESS_KEY,
    r2_bucket_resource,
    r2_s3_credentials,
)
from minnova_idp.render.database_placement import r2_endpoint
from minnova_idp.render.resources import AccountToken, FromToken, Lifecycle, R2Bucket, Secret, kubernetes_object

# R2's region: S3 SDKs need one to sign requests, and R2 takes `auto` (developers.cloudflare.com/r2/api/s3/api/).
R2_REGION = "auto"
ACCESS_KEY_ID_VAR = "AWS_ACCESS_KEY_ID"  # botocore 1.44.18 credentials.py:1199-1200 EnvProvider; aws-sdk-js-v3 too
SECRET_ACCESS_KEY_VAR = "AWS_SECRET_ACCESS_KEY"
# The S3 endpoint for S3 clients only: botocore 1.44.18 configprovider.py:1025-1027 reads AWS_ENDPOINT_URL_<SERVICE>
# (AWS_ENDPOINT_URL_S3), as the other AWS SDKs do ("service-specific endpoints"); never the global AWS_ENDPOINT_URL,
# which would send the app's other AWS clients (SES, SQS) to R2.
ENDPOINT_VAR = "AWS_ENDPOINT_URL_S3"
# The region under both names: botocore reads AWS_DEFAULT_REGION (configprovider.py:60), the JavaScript SDK v3
# AWS_REGION (@smithy/config-resolver regionConfig/config.js REGION_ENV_NAME).
REGION_VARS = ("AWS_REGION", "AWS_DEFAULT_REGION")
BUCKET_VAR, PREFIX_VAR, PLAIN_ENDPOINT_VAR = "S3_BUCKET", "S3_PREFIX", "S3_ENDPOINT"
# A preview's objects go with it: an Argo CD PreDelete hook (argo-cd v3.4.4 controller/appcontroller.go:1240-1259
# runs PreDelete hooks before any of the Application's resources is deleted, and waits for them; controller/hook.go
# 217-227 deletes a failed hook and retries it; hook.go:82-95 and controller/sync.go:319-320 keep them out of syncs)
# deletes everything under its prefix, with its own credentials, from the image the database backups already run:
# the Barman Cloud plugin's sidecar (plugin-barman-cloud@v0.14.0 containers/Dockerfile.sidecar: distroless Python,
# /venv/bin/python3, user 26; containers/sidecar-requirements.txt:25 boto3==1.43.56).
CLEANUP_IMAGE = f"ghcr.io/cloudnative-pg/plugin-barman-cloud-sidecar:{versions.BARMAN_CLOUD_PLUGIN_VERSION}"
CLEANUP_UID = 26
CLEANUP_PROCESS = "storage-cleanup"
# One object at a time (DeleteObject), not DeleteObjects: that one requires a request checksum, which the
# checksum settings above keep SDKs from sending to R2. Uploads left half-way are aborted too.
# A bucket or key that is gone for good (the previews bucket deleted by hand, its token revoked or rolled: an unknown
# key id, or a secret that no longer matches it) is logged loudly and the hook succeeds: a failed PreDelete hook is
# deleted and re-run, and the Application's deletion waits for it, forever (argo-cd v3.4.4 controller/hook.go:218-227,
# appcontroller.go:1241-1252). The objects it could not delete stay in the bucket for the platform team to sweep
# (docs/storage.md "Objects a preview left behind"). Any other error (R2 unreachable, throttled) fails the hook,
# which Argo CD retries.
CLEANUP_GIVE_UP_CODES = ("NoSuchBucket", "InvalidAccessKeyId", "AccessDenied", "SignatureDoesNotMatch")
CLEANUP_SCRIPT = """\
import os, sys, boto3, botocore.exceptions
bucket, prefix = os.environ["S3_BUCKET"], os.environ["S3_PREFIX"]
if not (prefix.startswith("pr-") and prefix.endswith("/")):
    raise SystemExit(f"refusing to clean {prefix!r}: not a preview's prefix")
s3 = boto3.client("s3")
deleted = 0
try:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=item["Key"])
            deleted += 1
    for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=prefix):
        for upload in page.get("Uploads", []):
            s3.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
except botocore.exceptions.ClientError as error:
    code = error.response.get("Error", {}).get("Code", "")
    if code not in %r:
        raise
    print(f"WARNING: NOT CLEANED: s3://{bucket}/{prefix} could not be cleaned ({code}: the previews bucket or its "
          f"key is gone); deleted {deleted} objects before that. The preview is deleted anyway; what is left under "
          f"{prefix} stays until the platform team sweeps it (docs/storage.md: Objects a preview left behind)",
          file=sys.stderr, flush=True)
    raise SystemExit(0)
print(f"deleted {deleted} objects under s3://{bucket}/{prefix}")
""" % (CLEANUP_GIVE_UP_CODES,)
PREVIEW_STORAGE_KEY = "storage.json"  # in the stack's Secret of an app's previews bucket
PREVIEW_STORAGE_FILE_SUFFIX = ".storage.json"  # in the sidecar's keys directory: <app>.storage.json


@dataclass(frozen=True)
class StoragePlacement:
    """Where an app instance stores objects. A stack environment declares its bucket and token (`account_id` set);
    a preview gets the credentials the stack provisioned for its app's previews bucket (`access_key_id`, ...)."""

    bucket: str
    endpoint: str
    prefix: str = ""  # every key the app writes starts with it (S3_PREFIX): empty in an environment
    account_id: str = ""
    access_key_id: str = field(default="", repr=False)
    secret_access_key: str = field(default="", repr=False)

    @property
    def declares_bucket(self) -> bool:
        return bool(self.account_id)


def storage_target(app: AppConfig, environment: str, deployment: str, account_id: str) -> StoragePlacement | None:
    if not app.storage.enabled:
        return None
    return StoragePlacement(bucket=names.storage_bucket(deployment, app.name, environment),
                            endpoint=r2_endpoint(account_id), account_id=account_id)


def storage_credentials(token_id: str, token_value: str) -> dict[str, str]:
    """The Secret's data from the bucket's token: the two variables the SDKs read, under their own names."""
    credentials = r2_s3_credentials(token_id, token_value)
    return {ACCESS_KEY_ID_VAR: credentials[ACCESS_KEY_ID], SECRET_ACCESS_KEY_VAR: credentials[SECRET_ACCESS_KEY]}


def storage_env(app: AppConfig, storage: StoragePlacement) -> list[dict[str, Any]]:
    """The variables every container of the app gets (names.STORAGE_ENV_VARS, which app.yaml and secrets may not
    set): the keys from the Secret (never in the Deployment), the rest as values."""
    secret = names.storage_secret(app.name)
    env: list[dict[str, Any]] = [
        {"name": ENDPOINT_VAR, "value": storage.endpoint},
        {"name": PLAIN_ENDPOINT_VAR, "value": storage.endpoint},  # for clients configured by hand
        {"name": BUCKET_VAR, "value": storage.bucket},
        {"name": PREFIX_VAR, "value": storage.prefix},
        *({"name": name, "value": R2_REGION} for name in REGION_VARS),
        # Current AWS SDKs send checksums R2 does not take (database.R2_SIDECAR_ENV, the backups' sidecar too).
        *({"name": name, "value": value} for name, value in R2_SIDECAR_ENV),
        *({"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": name}}}
          for name in (ACCESS_KEY_ID_VAR, SECRET_ACCESS_KEY_VAR)),
    ]
    return env


def storage_objects(component: str, app: AppConfig, storage: StoragePlacement, namespace: str,
                    labels: dict[str, str], deployment: str, keep: Lifecycle, after_namespace: tuple[str, ...]) -> list:
    """A stack environment: its bucket, the token for it alone and the credentials Secret, kept as `keep` says
    (retained; protected where the environment is). A preview: the credentials Secret only (plain values, which
    the plugin prints for Argo CD; the sidecar's copy of the previews bucket's credentials)."""
    metadata = {"name": names.storage_secret(app.name), "namespace": namespace, "labels": labels}
    if not storage.declares_bucket:
        return [kubernetes_object(component, {
            "apiVersion": "v1", "kind": "Secret", "metadata": metadata, "type": "Opaque",
            "stringData": Secret({ACCESS_KEY_ID_VAR: storage.access_key_id,
                                  SECRET_ACCESS_KEY_VAR: storage.secret_access_key})},
            Lifecycle(depends_on=after_namespace))]
    bucket = R2Bucket(name=f"{component}-storage", bucket=storage.bucket, lifecycle=keep)
    token = AccountToken(name=f"{component}-storage", display_name=f"minnova-idp {deployment}/{component}: object "
                         "storage", permission_groups=R2_PERMISSION_GROUPS,
                         resources=(r2_bucket_resource(storage.account_id, storage.bucket),),
                         lifecycle=replace(keep, depends_on=(bucket.key,)))
    secret = kubernetes_object(component, {
        "apiVersion": "v1", "kind": "Secret", "metadata": metadata, "type": "Opaque",
        "stringData": FromToken(token=token.key, recipe=storage_credentials),
    }, replace(keep, depends_on=(*after_namespace, token.key)))
    return [bucket, token, secret]


def render_cleanup_job(app: AppConfig, storage: StoragePlacement, namespace: str, labels: dict[str, str],
                       pod_labels: dict[str, str]) -> dict[str, Any]:
    """A preview's PreDelete hook: deletes its prefix (and nothing else) before Argo CD deletes the preview.
    `pod_labels`: the app's pods' labels, so the preview's egress policy lets it reach R2."""
    from minnova_idp.render.sql_jobs import hardened_container_security, token_less_job_pod

    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": names.process(app.name, CLEANUP_PROCESS), "namespace": namespace, "labels": labels,
                     "annotations": {"argocd.argoproj.io/hook": "PreDelete",
                                     "argocd.argoproj.io/hook-delete-policy": "BeforeHookCreation"}},
        "spec": {
            "backoffLimit": 3,
            "activeDeadlineSeconds": 900,
            "template": {
                "metadata": {"labels": pod_labels},
                "spec": {
                    **token_less_job_pod(CLEANUP_UID),
                    "containers": [{
                        "name": "cleanup",
                        "image": CLEANUP_IMAGE,
                        "command": ["/venv/bin/python3", "-c", CLEANUP_SCRIPT],
                        "env": [*storage_env(app, storage), {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"}],
                        "resources": {"requests": {"cpu": "10m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
                        "securityContext": hardened_container_security(),
                    }],
                },
            },
        },
    }


# ---- previews: the stack provisions each app's previews bucket ahead; the plugin reads it -------------------------


def preview_storage_file(app: str) -> str:
    return f"{app}{PREVIEW_STORAGE_FILE_SUFFIX}"


def preview_storage_secret(app: str) -> str:
    """The stack's Secret (Argo CD's namespace) holding the credentials of `app`'s previews bucket, for the sidecar."""
    return f"minnova-preview-storage-{app}"


def _preview_storage_document(bucket: str, endpoint: str, token_id: str, token_value: str) -> dict[str, str]:
    credentials = r2_s3_credentials(token_id, token_value)
    return {PREVIEW_STORAGE_KEY: json.dumps({
        "bucket": bucket, "endpointURL": endpoint, "accessKeyId": credentials[ACCESS_KEY_ID],
        "secretAccessKey": credentials[SECRET_ACCESS_KEY]}, sort_keys=True)}


def preview_storage_offer(app: str, deployment: str, account_id: str, namespace: str, after: tuple[str, ...],
                          keep: Lifecycle) -> list:
    """What a stack that runs an app's previews declares for their storage: the previews bucket (kept like any
    bucket: retained, never deleted by Pulumi), a read-write token for it alone, and the sidecar's file made from
    the token, as a Secret in Argo CD's `namespace` (each app its own).

    The token and the Secret are kept as `keep` says too: running previews hold that token's key (their own
    Secret, which their PreDelete cleanup Job uses), so revoking it when storage is turned off or the app removed
    would fail every preview's cleanup at its deletion, and the deletion with it (CLEANUP_SCRIPT). Pulumi forgets
    them instead; docs/storage.md says how to revoke the token by hand once no preview is left."""
    bucket_name = names.preview_storage_bucket(deployment, app)
    bucket = R2Bucket(name=f"{app}-preview-storage", bucket=bucket_name, lifecycle=keep)
    token = AccountToken(name=f"{app}-preview-storage", display_name=f"minnova-idp {deployment}/{app}: previews' "
                         "object storage", permission_groups=R2_PERMISSION_GROUPS,
                         resources=(r2_bucket_resource(account_id, bucket_name),),
                         lifecycle=replace(keep, depends_on=(bucket.key,)))
    secret = kubernetes_object(f"{app}-previews", {
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": preview_storage_secret(app), "namespace": namespace,
                     "labels": {**names.managed_labels(), "minnova.io/app": app}},
        "type": "Opaque",
        "stringData": FromToken(token=token.key, recipe=partial(_preview_storage_document, bucket_name,
                                                                r2_endpoint(account_id))),
    }, replace(keep, depends_on=(*after, token.key)))
    return [bucket, token, secret]


def parse_preview_storage(text: str, shown: str, app: str, deployment: str, pr_number: int) -> StoragePlacement:
    """The sidecar's `<app>.storage.json`, checked: it must name this app's previews bucket (never an
    environment's), an https endpoint and credentials."""
    from minnova_idp.model.errors import ConfigError, Problem

    keys = ("bucket", "endpointURL", "accessKeyId", "secretAccessKey")
    try:
        document = json.loads(text)
        values = [document[key] for key in keys]
    except (ValueError, KeyError, TypeError, RecursionError):
        values = None
    if values is None or not all(isinstance(value, str) and value for value in values):
        raise ConfigError([Problem(shown, message="is not the previews' storage file the platform writes (JSON with "
                                   "bucket, endpointURL, accessKeyId, secretAccessKey)",
                                   hint="the stack that runs the app's previews writes it: run its `pulumi up`")])
    bucket, endpoint, key_id, secret_key = values
    if bucket != names.preview_storage_bucket(deployment, app) or not endpoint.startswith("https://"):
        raise ConfigError([Problem(shown, message=f"names a bucket or endpoint the platform never writes for "
                                   f"{app}'s previews")])
    return StoragePlacement(bucket=bucket, endpoint=endpoint, prefix=names.preview_storage_prefix(pr_number),
                            access_key_id=key_id, secret_access_key=secret_key)
