"""A preview's database as a masked copy of another environment's (`preview.database.from: dev`). Pure: no Pulumi.

Who decides what: the stack (the platform team, from the app.yaml on the app's registered branch) decides that an
app's previews may read dev's backups, and makes a Cloudflare token that can only *read* that one bucket; its S3
credentials, with where the archive is, reach the Argo CD plugin sidecar as `<app>.origin.json` (argocd.py), never
the pull request. render-preview turns them into a Secret and an ObjectStore in the preview's namespace and a
Cluster that recovers from it (database.py renders them); a pull request that asks for a copy its stack did not
allow, or for another environment than the one allowed, is refused. The preview's Cluster never archives (no `.spec.plugins`), so nothing
is written to dev's archive: recovery only lists and downloads (plugin-barman-cloud v0.14.0
internal/cnpgi/restore/restore.go:101-242; its one write-side check, barman-cloud-check-wal-archive, runs only for
a store the Cluster archives to, :105-120), and the token could not write anyway.

The app's masking SQL (`.minnova/seed/mask.sql`, required: without it there is no preview) is read by the stack from
the app's registered branch and travels in the origin file: a pull request's own mask.sql is never used (it could
skip a column, or copy the rows aside before masking). It runs in a Job as the database owner in the sync wave after
the database is healthy, before the release phase and the app's processes: the pull request's code never runs
against unmasked data. A protected environment is never offered (inputs.preview_origins).
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import PurePosixPath

from minnova_idp.model import names
from minnova_idp.model.errors import ConfigError, Problem
from minnova_idp.render.database import ACCESS_KEY_ID, SECRET_ACCESS_KEY, r2_bucket_resource, r2_s3_credentials
from minnova_idp.render.database_placement import Origin, r2_endpoint
from minnova_idp.render.resources import AccountToken

# Object read on one bucket: listing and downloading a backup and its WAL, nothing else.
READ_PERMISSION_GROUPS = ("Workers R2 Storage Bucket Item Read",)
ORIGIN_KEY = "origin.json"  # in the stack's Secret of an app's origin
ORIGIN_FILE_SUFFIX = ".origin.json"  # in the sidecar's keys directory: <app>.origin.json
MASK_FILE = PurePosixPath("seed") / "mask.sql"  # under .minnova/
MASK_MAX_BYTES = 256 * 1024
# The origin file holds the mask as a JSON string (UTF-8 kept as is, at most two bytes per byte escaped) and
# the rest in well under 16 KiB; a Secret holds at most 1 MiB.
ORIGIN_FILE_MAX_BYTES = 2 * MASK_MAX_BYTES + 16 * 1024


def origin_file(app: str) -> str:
    return f"{app}{ORIGIN_FILE_SUFFIX}"


def origin_secret(app: str) -> str:
    """The stack's Secret (Argo CD's namespace) holding `app`'s origin for the sidecar."""
    return f"minnova-preview-origin-{app}"


def origin_token(app: str, deployment: str, account_id: str, bucket: str) -> AccountToken:
    return AccountToken(name=f"{app}-preview-origin", display_name=f"minnova-idp {deployment}/{app}: previews read "
                        "backups", permission_groups=READ_PERMISSION_GROUPS,
                        resources=(r2_bucket_resource(account_id, bucket),))


def _origin_document(environment: str, server_name: str, bucket: str, endpoint: str, mask: str, token_id: str,
                     token_value: str) -> dict[str, str]:
    credentials = r2_s3_credentials(token_id, token_value)
    return {ORIGIN_KEY: json.dumps({
        "environment": environment, "serverName": server_name, "bucket": bucket, "endpointURL": endpoint,
        "accessKeyId": credentials[ACCESS_KEY_ID], "secretAccessKey": credentials[SECRET_ACCESS_KEY], "mask": mask},
        sort_keys=True, ensure_ascii=False)}


def origin_recipe(environment: str, server_name: str, bucket: str, account_id: str, mask: str):
    """FromToken recipe: the sidecar's `<app>.origin.json` from the read-only token's id and value; `mask`: the
    app's mask.sql from its registered branch."""
    return partial(_origin_document, environment, server_name, bucket, r2_endpoint(account_id), mask)


def origin_offer(component: str, app: str, environment: str, server_name: str, bucket: str, bucket_key: str,
                 deployment: str, account_id: str, namespace: str, after: tuple[str, ...], mask: str) -> list:
    """What an environment declares when the app's previews copy it: a token that can only read its bucket, and the
    sidecar's origin file made from it, as a Secret in Argo CD's `namespace` (each app its own, so each preview's
    namespace gets credentials to its own app's archive only)."""
    from dataclasses import replace

    from minnova_idp.render.resources import FromToken, Lifecycle, kubernetes_object

    token = replace(origin_token(app, deployment, account_id, bucket), lifecycle=Lifecycle(depends_on=(bucket_key,)))
    secret = kubernetes_object(component, {
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": origin_secret(app), "namespace": namespace,
                     "labels": {**names.managed_labels(), "minnova.io/app": app}},
        "type": "Opaque",
        "stringData": FromToken(token=token.key,
                                recipe=origin_recipe(environment, server_name, bucket, account_id, mask)),
    }, Lifecycle(depends_on=(*after, token.key)))
    return [token, secret]


def parse_origin(text: str, shown: str, environment: str) -> Origin:
    """The sidecar's origin file, checked against what the pull request's app.yaml asks for (`environment`)."""
    fields = {"environment": "environment", "server_name": "serverName", "bucket": "bucket",
              "endpoint": "endpointURL", "access_key_id": "accessKeyId", "secret_access_key": "secretAccessKey",
              "mask": "mask"}
    try:
        document = json.loads(text)
        values = {name: document[key] for name, key in fields.items()}
    except (ValueError, KeyError, TypeError, RecursionError):
        values = None
    if values is None or not all(isinstance(value, str) and value for value in values.values()):
        raise ConfigError([Problem(shown, message="is not the origin the platform writes (JSON with environment, "
                                   "serverName, bucket, endpointURL, credentials and mask)",
                                   hint="the stack that deploys the environment writes it: run its `pulumi up`")])
    origin = Origin(**values)
    if not (len(origin.server_name) <= names.SERVER_NAME_MAX and names.APP_NAME_RE.fullmatch(origin.server_name)
            and names.DNS_LABEL_RE.fullmatch(origin.bucket) and origin.endpoint.startswith("https://")):
        raise ConfigError([Problem(shown, message="names a server, bucket or endpoint the platform never writes")])
    if origin.environment != environment:
        raise ConfigError([Problem("preview.database.from", message=f"'{environment}' is not the environment this "
                                   f"app's previews may copy ('{origin.environment}', set by the platform)",
                                   hint="a pull request cannot choose whose data its preview gets")])
    return origin


