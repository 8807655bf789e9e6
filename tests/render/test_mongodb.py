"""render/mongodb.py: an app's MongoDB through Percona's operator (ADR 0014).

No MongoDB engine runs here (no Debian package; docs/mongodb.md "What is tested"): the objects are validated
strictly against the operator's CRDs (tests/support/k8s_strict.py), and every key of the PerconaServerMongoDB and
PerconaServerMongoDBRestore specs is walked through the operator's own Go types at v1.22.0 (its source mirror), so a
key the controller would not read fails here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from minnova_idp.load.validation import validate_document
from minnova_idp.load.yamlsafe import load_yaml
from minnova_idp.model.app_config import AppConfig
from minnova_idp.render import mongodb
from minnova_idp.render.app import app_objects
from minnova_idp.render.database import backup_target
from minnova_idp.render.placement import RenderSettings, environment_placement
from minnova_idp.render.preview import PreviewRequest, render_preview
from minnova_idp.render.redis import preview_password_key
from minnova_idp.render.resources import AccountToken, FromToken, KubernetesObject, R2Bucket, plain
from tests.support.k8s_strict import validate_objects
from tests.support.netpol import Cluster, Pod
from tests.support.pod_security import restricted_problems

KEY = "k" * 64
ACCOUNT = "0123456789abcdef0123456789abcdef"
SETTINGS = RenderSettings(deployment="acme", ingress_class="traefik", cluster_issuer=None, network_policies=True)
APP = """name: catalog
image: {repository: ghcr.io/acme/catalog}
port: 8000
mongodb: {enabled: true, size: 5Gi, backupRetention: 2w}
environments:
  dev: {host: catalog.dev.acme.dev}
  prod:
    host: catalog.acme.dev
    mongodb: {instances: 3}
"""
RESTORE = APP.replace("mongodb: {instances: 3}", "mongodb: {instances: 3, clusterName: catalog-mongodb-2, restore: "
                      "{fromCluster: catalog-mongodb, backup: \"2026-11-20T03:00:21Z\", "
                      "targetTime: \"2026-11-20T10:15:00+01:00\"}}")
REQUEST = PreviewRequest(app="catalog", pr_number=9, head_sha="b" * 40, preview_domain="preview.acme.dev",
                         deployment="acme", ingress_class="traefik")


def config(text: str = APP) -> AppConfig:
    return validate_document(AppConfig, load_yaml(text, "app.yaml"))


def declared(environment: str = "prod", text: str = APP, protected: bool = True, app: str = "catalog") -> list:
    app_config = config(text.replace("catalog", app))
    placement = environment_placement(app_config, environment, "1.0.0", password_key=KEY,
                                      mongodb_backup=backup_target(app_config, environment, "acme", ACCOUNT))
    return app_objects(app_config, placement, SETTINGS, protected=protected)


def by_kind(objects: list) -> dict:
    return {(o.manifest["kind"], o.manifest["metadata"]["name"]): o for o in objects if isinstance(o, KubernetesObject)}


def manifests(objects: list) -> list[dict]:
    """Plain manifests; a Secret computed from a token gets the token recipe's keys (what Cloudflare would give)."""
    out = []
    for o in objects:
        if not isinstance(o, KubernetesObject):
            continue
        manifest = plain(o.manifest)
        if isinstance(o.manifest.get("stringData"), FromToken):
            manifest["stringData"] = o.manifest["stringData"].recipe("token-id", "token-value")
        out.append(manifest)
    return out


def test_prod_is_a_three_member_replica_set_with_the_app_user_backups_and_pitr():
    objects = by_kind(declared())
    cluster = objects[("PerconaServerMongoDB", "catalog-mongodb")]
    spec = cluster.manifest["spec"]
    (replset,) = spec["replsets"]
    assert replset["name"] == "rs0" and replset["size"] == 3
    assert "unsafeFlags" not in spec  # three members: the operator's safe defaults hold
    assert replset["volumeSpec"]["persistentVolumeClaim"]["resources"]["requests"]["storage"] == "5Gi"
    assert spec["sharding"] == {"enabled": False}
    assert spec["tls"] == {"mode": "preferTLS"}
    assert spec["upgradeOptions"] == {"apply": "disabled", "setFCV": True}
    assert spec["image"] == "docker.io/percona/percona-server-mongodb:8.0.19-7"
    assert spec["secrets"] == {"users": "catalog-mongodb-users"}
    (user,) = spec["users"]
    assert user == {"name": "app", "db": "catalog",
                    "passwordSecretRef": {"name": "catalog-mongodb-app", "key": "password"},
                    "roles": [{"name": "readWrite", "db": "catalog"}]}  # its own database, nothing else
    backup = spec["backup"]
    assert backup["enabled"] and backup["pitr"] == {"enabled": True}
    assert backup["storages"] == {"r2": {"type": "s3", "s3": {
        "bucket": "acme-catalog-prod", "prefix": "mongodb/catalog-mongodb", "region": "auto",
        "endpointUrl": f"https://{ACCOUNT}.r2.cloudflarestorage.com", "credentialsSecret": "catalog-mongodb-backup"}}}
    (task,) = backup["tasks"]
    assert task["retention"] == {"type": "count", "count": 14, "deleteFromStorage": True}  # 2w of daily backups
    assert task["schedule"] == "0 3 * * *" and task["storageName"] == "r2"
    # Data holders: retained always, protected in a protected environment.
    assert cluster.lifecycle.retain_on_delete and cluster.lifecycle.protect
    assert objects[("Secret", "catalog-mongodb-backup")].lifecycle.retain_on_delete


def test_a_single_member_is_declared_unsafe_explicitly_as_the_operator_requires():
    spec = by_kind(declared("dev"))[("PerconaServerMongoDB", "catalog-mongodb")].manifest["spec"]
    assert spec["replsets"][0]["size"] == 1
    assert spec["unsafeFlags"] == {"replsetSize": True}


def test_mongodb_url_comes_from_a_secret_and_the_password_never_appears_in_clear():
    objects = declared()
    found = by_kind(objects)
    secret = found[("Secret", "catalog-mongodb-app")]
    password = mongodb.mongodb_password(KEY, "catalog-prod")
    assert plain(secret.manifest["stringData"]) == {"password": password}  # what the operator reads, no URL
    assert re.fullmatch(r"[0-9a-f]{64}", password)
    url_secret = found[("Secret", "catalog-mongodb-url")]
    assert plain(url_secret.manifest["stringData"])["url"] == (
        f"mongodb://app:{password}@"
        "catalog-mongodb-rs0-0.catalog-mongodb-rs0.catalog-prod.svc.cluster.local:27017,"
        "catalog-mongodb-rs0-1.catalog-mongodb-rs0.catalog-prod.svc.cluster.local:27017,"
        "catalog-mongodb-rs0-2.catalog-mongodb-rs0.catalog-prod.svc.cluster.local:27017"
        "/catalog?replicaSet=rs0&authSource=catalog")
    assert password not in repr(objects)  # Secret values are hidden from reprs (and Pulumi secrets in state)
    deployment = found[("Deployment", "catalog")].manifest
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert {"name": "MONGODB_URL", "valueFrom": {"secretKeyRef": {"name": "catalog-mongodb-url", "key": "url"}}} \
        in container["env"]
    assert password not in str(deployment)
    # The app's pods start once MongoDB is ready (the operator's status.state).
    cluster = found[("PerconaServerMongoDB", "catalog-mongodb")]
    assert url_secret.lifecycle.depends_on == (cluster.key,)
    assert url_secret.key in found[("Deployment", "catalog")].lifecycle.depends_on
    assert secret.key in cluster.lifecycle.depends_on  # the password first: the operator creates the user from it
    assert cluster.manifest["metadata"]["annotations"] == {"pulumi.com/waitFor": "jsonpath={.status.state}=ready",
                                                           "pulumi.com/timeoutSeconds": "1800"}


def test_backup_credentials_come_from_the_environments_own_token_under_pbms_keys():
    objects = declared()
    tokens = [o for o in objects if isinstance(o, AccountToken)]
    buckets = [o for o in objects if isinstance(o, R2Bucket)]
    # No PostgreSQL here: MongoDB declares the environment's bucket and its token itself, for that bucket only.
    assert [b.bucket for b in buckets] == ["acme-catalog-prod"]
    (token,) = tokens
    assert token.resources == (f"com.cloudflare.edge.r2.bucket.{ACCOUNT}_default_acme-catalog-prod",)
    secret = by_kind(objects)[("Secret", "catalog-mongodb-backup")].manifest["stringData"]
    assert secret.token == token.key
    assert set(secret.recipe("id", "value")) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}


def test_with_postgresql_too_the_bucket_and_token_are_shared_under_separate_prefixes():
    text = APP.replace("port: 8000\n", "port: 8000\ndatabase: {enabled: true}\n")
    objects = declared(text=text)
    assert len([o for o in objects if isinstance(o, R2Bucket)]) == 1
    assert len([o for o in objects if isinstance(o, AccountToken)]) == 1
    spec = by_kind(objects)[("PerconaServerMongoDB", "catalog-mongodb")].manifest["spec"]
    assert spec["backup"]["storages"]["r2"]["s3"]["prefix"] == "mongodb/catalog-mongodb"  # CNPG: s3://bucket/<server>
    validate_objects(manifests(objects))


@pytest.mark.parametrize("environment,text", [("prod", APP), ("dev", APP), ("prod", RESTORE)])
def test_every_object_is_strictly_valid(environment, text):
    validate_objects(manifests(declared(environment, text)))


def test_a_restore_creates_a_new_cluster_and_keeps_the_source_as_it_runs():
    objects = by_kind(declared(text=RESTORE))
    source = objects[("PerconaServerMongoDB", "catalog-mongodb")].manifest
    assert source == by_kind(declared())[("PerconaServerMongoDB", "catalog-mongodb")].manifest  # unchanged
    new = objects[("PerconaServerMongoDB", "catalog-mongodb-2")].manifest
    assert new["spec"]["backup"]["storages"]["r2"]["s3"]["prefix"] == "mongodb/catalog-mongodb-2"  # its own
    # PBM's logical restore brings the source's system users back (percona-backup-mongodb@05ab6d7e1004
    # pbm/restore/logical.go:1526-1603): the new cluster's operator must hold the source's passwords.
    assert new["spec"]["secrets"] == source["spec"]["secrets"] == {"users": "catalog-mongodb-users"}
    assert new["spec"]["backup"]["pitr"] == {"enabled": False}  # no oplog archiving while it is being restored
    assert source["spec"]["backup"]["pitr"] == {"enabled": True}
    restore = objects[("PerconaServerMongoDBRestore", "catalog-mongodb-2-restore")]
    assert restore.manifest["spec"] == {
        "clusterName": "catalog-mongodb-2",
        "backupSource": {"type": "logical",
                         "destination": "s3://acme-catalog-prod/mongodb/catalog-mongodb/2026-11-20T03:00:21Z",
                         "s3": {"bucket": "acme-catalog-prod", "prefix": "mongodb/catalog-mongodb", "region": "auto",
                                "endpointUrl": f"https://{ACCOUNT}.r2.cloudflarestorage.com",
                                "credentialsSecret": "catalog-mongodb-backup"}},
        "pitr": {"type": "date", "date": "2026-11-20 09:15:00"},  # UTC
    }
    assert objects[("PerconaServerMongoDB", "catalog-mongodb-2")].key in restore.lifecycle.depends_on
    assert restore.lifecycle.retain_on_delete
    assert restore.manifest["metadata"]["annotations"]["pulumi.com/waitFor"] == "jsonpath={.status.state}=ready"
    # The app's URL names the new cluster, written only once the restore is done; the app waits for it.
    url_secret = objects[("Secret", "catalog-mongodb-url")]
    assert "@catalog-mongodb-2-rs0-0." in plain(url_secret.manifest["stringData"])["url"]
    assert url_secret.lifecycle.depends_on == (restore.key,)
    for (kind, _name), each in objects.items():
        if kind in ("Deployment", "CronJob", "Job"):
            assert url_secret.key in each.lifecycle.depends_on, kind
    assert "url" not in plain(objects[("Secret", "catalog-mongodb-app")].manifest["stringData"])
    # Both clusters' members are selected by the policy, and reach each other within it.
    policy = objects[("NetworkPolicy", "catalog-mongodb")].manifest
    assert policy["spec"]["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "percona-server-mongodb"}}


def test_only_the_apps_pods_the_members_and_the_operator_reach_27017():
    objects = by_kind(declared())
    policy = objects[("NetworkPolicy", "catalog-mongodb")].manifest["spec"]
    (rule,) = policy["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 27017}]
    app, members, operator = rule["from"]
    assert app == {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "catalog"}}}  # this namespace only
    assert "namespaceSelector" not in members
    assert operator == {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "psmdb-operator"}}}
    # The namespace-wide policy (which lets the ingress controller's namespaces in) leaves MongoDB's pods out.
    wide = objects[("NetworkPolicy", "deny-other-apps")].manifest["spec"]["podSelector"]
    assert {"key": "app.kubernetes.io/name", "operator": "NotIn", "values": ["percona-server-mongodb"]} \
        in wide["matchExpressions"]


def test_another_app_cannot_reach_this_apps_mongodb_credentials_or_backups():
    """Trust model (issue 22): another app's namespace, Secrets, bucket, prefix and token are its own."""
    mine, theirs = declared(), declared(app="intruder")
    mine_k, theirs_k = by_kind(mine), by_kind(theirs)
    policy = mine_k[("NetworkPolicy", "catalog-mongodb")].manifest
    assert policy["metadata"]["namespace"] == "catalog-prod"
    # Nothing in the policy names another namespace but the operator's: the intruder's pods (their namespace) are
    # never let in, and the namespace-wide policy does not select MongoDB's pods.
    sources = policy["spec"]["ingress"][0]["from"]
    assert [s["namespaceSelector"] for s in sources if "namespaceSelector" in s] == [
        {"matchLabels": {"kubernetes.io/metadata.name": "psmdb-operator"}}]
    # Credentials live in each app's own namespace, under different passwords.
    mine_pw = plain(mine_k[("Secret", "catalog-mongodb-app")].manifest["stringData"])["password"]
    theirs_pw = plain(theirs_k[("Secret", "intruder-mongodb-app")].manifest["stringData"])["password"]
    assert mine_pw != theirs_pw
    assert {o.manifest["metadata"].get("namespace", o.manifest["metadata"]["name"]) for o in theirs_k.values()} \
        == {"intruder-prod"}
    # The intruder's token opens only its own bucket; its MongoDB writes under its own bucket and prefix.
    (their_token,) = [o for o in theirs if isinstance(o, AccountToken)]
    assert all("acme-catalog-" not in r for r in their_token.resources)
    s3 = theirs_k[("PerconaServerMongoDB", "intruder-mongodb")].manifest["spec"]["backup"]["storages"]["r2"]["s3"]
    assert (s3["bucket"], s3["prefix"]) == ("acme-intruder-prod", "mongodb/intruder-mongodb")


def test_an_app_cannot_point_a_restore_at_another_apps_backups():
    """A restore names a cluster, never a bucket: it reads the environment's own bucket with its own token."""
    text = RESTORE.replace("fromCluster: catalog-mongodb", "fromCluster: oracle-mongodb")
    restore = by_kind(declared(text=text))[("PerconaServerMongoDBRestore", "catalog-mongodb-2-restore")].manifest
    assert restore["spec"]["backupSource"]["s3"]["bucket"] == "acme-catalog-prod"
    assert restore["spec"]["backupSource"]["s3"]["credentialsSecret"] == "catalog-mongodb-backup"


def test_a_preview_gets_one_member_no_backups_and_goes_with_its_namespace():
    objects = {(o["kind"], o["metadata"]["name"]): o
               for o in render_preview(config(), REQUEST, None, password_key=preview_password_key(KEY))}
    spec = objects[("PerconaServerMongoDB", "catalog-mongodb")]["spec"]
    assert spec["replsets"][0]["size"] == 1 and spec["unsafeFlags"] == {"replsetSize": True}
    assert spec["backup"]["enabled"] is False and "storages" not in spec["backup"]
    assert not any(kind == "Secret" and name.endswith("-backup") for kind, name in objects)
    assert all(o["metadata"].get("namespace") in (None, "catalog-pr-9") for o in objects.values())
    # Its password derives from the preview key, never the stack's: the sidecar holds nothing that opens an
    # environment's MongoDB.
    password = objects[("Secret", "catalog-mongodb-app")]["stringData"]["password"]
    assert password == mongodb.mongodb_password(preview_password_key(KEY), "catalog-pr-9")
    assert password != mongodb.mongodb_password(KEY, "catalog-pr-9")
    wide = objects[("NetworkPolicy", "deny-other-apps")]["spec"]["podSelector"]
    assert {"key": "app.kubernetes.io/name", "operator": "NotIn", "values": ["percona-server-mongodb"]} \
        in wide["matchExpressions"]
    validate_objects(list(objects.values()))


def test_pitr_date_is_the_operators_format_in_utc():
    assert mongodb.pitr_date("2026-11-20T10:15:00+01:00") == "2026-11-20 09:15:00"
    assert mongodb.pitr_date("2026-11-20T23:59:59Z") == "2026-11-20 23:59:59"
    # The CRD's own rule (perconaservermongodbrestore_types.go:185), applied to what we write.
    assert re.fullmatch(r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01]) ([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]",
                        mongodb.pitr_date("2026-01-02T03:04:05Z"))


# --- the operator's own source at v1.22.0 ---------------------------------------------------------------------------

PSMDB_SOURCE = Path(os.environ.get("MINNOVA_PSMDB_SOURCE",
                                   "/work/.mirror/percona+percona-server-mongodb-operator/repo")).expanduser()
TAG = "v1.22.0"
_STRUCT = re.compile(r"^type (\w+) struct \{\n(.*?)^\}", re.S | re.M)
_FIELD = re.compile(r"^\s*(\w+)?\s+([\w.*\[\]]+)\s+`json:\"([^\",]*)[^`]*`", re.M)
OPEN = "<inlined external type>"
_EMBEDDED = re.compile(r"^\s*([\w.*]+)\s+`json:\",inline\"`", re.M)


def _show(path: str) -> str:
    if not (PSMDB_SOURCE / "HEAD").exists() and not (PSMDB_SOURCE / ".git").exists():
        pytest.skip(f"the operator's source is not at {PSMDB_SOURCE} (set MINNOVA_PSMDB_SOURCE to a clone of "
                    "percona/percona-server-mongodb-operator)")
    return subprocess.run(["git", "-C", str(PSMDB_SOURCE), "show", f"refs/tags/{TAG}:{path}"], check=True,
                          capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def go_types() -> dict[str, dict[str, str]]:
    """struct name -> json key -> Go type, for the operator's API package (embedded `,inline` structs flattened)."""
    listing = subprocess.run(["git", "-C", str(PSMDB_SOURCE), "ls-tree", "--name-only", f"refs/tags/{TAG}",
                              "pkg/apis/psmdb/v1/"], capture_output=True, text=True)
    if listing.returncode:
        pytest.skip(f"the operator's source is not at {PSMDB_SOURCE}")
    structs: dict[str, tuple[dict[str, str], list[str]]] = {}
    for path in listing.stdout.split():
        if path.endswith(".go") and not path.endswith("_test.go"):
            for name, body in _STRUCT.findall(_show(path)):
                fields = {key: kind for _, kind, key in _FIELD.findall(body) if key and key != "-"}
                structs[name] = (fields, [e.lstrip("*") for e in _EMBEDDED.findall(body)])

    def flatten(name: str) -> dict[str, str]:
        fields, embedded = structs[name]
        out = dict(fields)
        for inner in embedded:
            if inner in structs:
                out.update(flatten(inner))
            elif "." in inner:  # Kubernetes' own type inlined (PVCSpec): its keys are the CRD schema's to check
                out[OPEN] = inner
        return out
    return {name: flatten(name) for name in structs}


def _unknown_keys(value, go_type: str, types: dict, path: str) -> list[str]:
    """Keys of `value` that the Go type `go_type` has no json field for (types outside the operator's package,
    Kubernetes' own, are validated by the CRD schema instead)."""
    kind = go_type.lstrip("*")
    if kind.startswith("[]"):
        return [p for i, item in enumerate(value) for p in _unknown_keys(item, kind[2:], types, f"{path}[{i}]")]
    if kind.startswith("map[string]"):
        return [p for k, item in value.items() for p in _unknown_keys(item, kind[len("map[string]"):], types,
                                                                         f"{path}.{k}")]
    if "." in kind or kind not in types or not isinstance(value, dict):
        return []
    fields = types[kind]
    if OPEN in fields:
        return []
    problems = []
    for key, item in value.items():
        if key not in fields:
            problems.append(f"{path}.{key}: no json field {key!r} in {kind}")
        else:
            problems += _unknown_keys(item, fields[key], types, f"{path}.{key}")
    return problems


@pytest.mark.integration
def test_every_key_we_set_is_a_field_the_operator_reads(go_types):
    objects = by_kind(declared(text=RESTORE))
    spec = objects[("PerconaServerMongoDB", "catalog-mongodb-2")].manifest["spec"]
    assert _unknown_keys(spec, "PerconaServerMongoDBSpec", go_types, "spec") == []
    restore = objects[("PerconaServerMongoDBRestore", "catalog-mongodb-2-restore")].manifest["spec"]
    assert _unknown_keys(restore, "PerconaServerMongoDBRestoreSpec", go_types, "spec") == []
    # The walk can fail: a misspelt key is found.
    assert _unknown_keys({"unsafeFlag": {}}, "PerconaServerMongoDBSpec", go_types, "spec") == [
        "spec.unsafeFlag: no json field 'unsafeFlag' in PerconaServerMongoDBSpec"]


@pytest.mark.integration
def test_the_behaviour_we_rely_on_is_in_the_operators_source():
    defaults = _show("pkg/apis/psmdb/v1/psmdb_defaults.go")
    # A one-member set is refused unless unsafeFlags.replsetSize (we set it exactly then).
    assert "replset size must be at least %d. Set spec.unsafeFlags.replsetSize to true" in defaults
    assert "TLS must be enabled. Set spec.unsafeFlags.tls to true" in defaults
    assert "clusterNameMaxLen                = 50" in defaults
    # PBM's credential keys.
    pbm = _show("pkg/psmdb/backup/pbm.go")
    assert '"AWS_ACCESS_KEY_ID"' in pbm and '"AWS_SECRET_ACCESS_KEY"' in pbm
    # The user's password comes from passwordSecretRef (name, key).
    users = _show("pkg/controller/perconaservermongodb/custom_users.go")
    assert "userSecretPassKey = user.PasswordSecretRef.Key" in users
    assert "secretName = user.PasswordSecretRef.Name" in users
    # A restore from backupSource needs an s3:// destination; its last segment is the PBM backup name.
    restore_types = _show("pkg/apis/psmdb/v1/perconaservermongodbrestore_types.go")
    assert 'strings.HasPrefix(r.Spec.BackupSource.Destination, "s3://")' in restore_types
    assert 'time.Parse("2006-01-02 15:04:05", str)' in restore_types
    controller = _show("pkg/controller/perconaservermongodbrestore/psmdb_restore_controller.go")
    assert "backupName := s[len(s)-1]" in controller
    # Major versions go one series at a time (policy/guards.py MONGODB_SERIES).
    version = _show("pkg/controller/perconaservermongodb/version.go")
    assert 'case "7.0":\n\t\treturn new == "8.0"' in version
    # The images we pin are the operator's release's.
    release = _show("e2e-tests/release_versions")
    from minnova_idp.model import versions

    for image in (*versions.MONGODB_IMAGES.values(), versions.PBM_IMAGE):
        assert f"={image.removeprefix('docker.io/')}\n" in release


# --- guards: what the stack recorded at its last update (policy/guards.py) ------------------------------------------

def _stopped(previous: dict) -> list[str]:
    from minnova_idp.model.errors import ConfigError
    from minnova_idp.plan.recorder import run_plan
    from tests.conftest import PROJECT_DIR

    with pytest.raises(ConfigError) as caught:
        run_plan(PROJECT_DIR, "dev", previous_outputs=previous)
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize("previous,message", [
    ({"mongodbSizes": {"catalog-dev": "10Gi"}},
     "examples/catalog/.minnova/app.yaml: mongodb.size: '5Gi' is smaller than the 10Gi deployed in dev; MongoDB "
     "volumes can grow but never shrink (hint: keep 10Gi or more)"),
    ({"mongodbVersions": {"catalog-dev": "9.0"}},
     "examples/catalog/.minnova/app.yaml: mongodb.version: MongoDB 8.0 is older than the 9.0 that environments.dev "
     "runs; a MongoDB cannot be downgraded in place"),
    ({"mongodbVersions": {"catalog-dev": "6.0"}},
     "examples/catalog/.minnova/app.yaml: mongodb.version: MongoDB upgrades one release series at a time: 6.0 to "
     "8.0 skips one"),
    ({"mongodbClusters": {"catalog-dev": "catalog-mongo-old"}},
     "examples/catalog/.minnova/app.yaml: environments.dev.mongodb.clusterName: 'catalog-mongodb' would give the app "
     "a new, empty MongoDB in place of 'catalog-mongo-old'"),
])
def test_a_shrink_a_downgrade_a_skipped_series_or_a_new_cluster_is_refused_before_anything_registers(previous,
                                                                                                       message):
    problems = _stopped(previous)
    assert problems[0].startswith(message), problems


def test_the_plan_records_mongodb_and_accepts_growth_and_one_series_up():
    from minnova_idp.plan.recorder import run_plan
    from tests.conftest import PROJECT_DIR

    plan = run_plan(PROJECT_DIR, "dev", previous_outputs={"mongodbSizes": {"catalog-dev": "1Gi"},
                                                          "mongodbVersions": {"catalog-dev": "7.0"},
                                                          "mongodbClusters": {"catalog-dev": "catalog-mongodb"}})
    assert plan.outputs["mongodbSizes"] == {"catalog-dev": "5Gi"}
    assert plan.outputs["mongodbVersions"] == {"catalog-dev": "8.0"}
    assert plan.outputs["mongodbClusters"] == {"catalog-dev": "catalog-mongodb"}
    assert plan.outputs["mongodbInstances"] == {"catalog-dev": "1"}  # what a restore's guard compares with
    assert set(json.loads(plan.outputs["mongodbResources"]["catalog-dev"])) == {"requests", "limits"}
    types = {r.type for r in plan.resources}
    assert "kubernetes:psmdb.percona.com/v1:PerconaServerMongoDB" in types


def test_argo_cd_may_apply_every_kind_a_preview_with_mongodb_renders():
    """The previews' AppProject allows only PREVIEW_KINDS: a kind missing there fails the preview's sync."""
    from minnova_idp.render.argocd import PREVIEW_KINDS

    rendered = render_preview(config(), REQUEST, None, password_key=preview_password_key(KEY))
    kinds = {(o["apiVersion"].rpartition("/")[0], o["kind"]) for o in rendered}
    assert kinds <= set(PREVIEW_KINDS), kinds - set(PREVIEW_KINDS)


def test_a_new_password_key_rolls_the_apps_processes_onto_the_new_url():
    """The operator applies a changed password (custom_users.go:118 updatePass); processes read MONGODB_URL once."""
    def annotation(key: str) -> str:
        app_config = config()
        placement = environment_placement(app_config, "prod", "1.0.0", password_key=key,
                                          mongodb_backup=backup_target(app_config, "prod", "acme", ACCOUNT))
        deployment = by_kind(app_objects(app_config, placement, SETTINGS))[("Deployment", "catalog")].manifest
        return deployment["spec"]["template"]["metadata"]["annotations"]["minnova.io/mongodb-url-sha256"]

    assert annotation(KEY) == annotation(KEY) != annotation("j" * 64)


def operator_pod_security(spec: dict) -> tuple[dict, dict[str, dict]]:
    """The pod and container security contexts psmdb@v1.22.0 builds for a replica set's pods from our spec:
    pod: replsets[].podSecurityContext, else {fsGroup: 1001} (pkg/apis/psmdb/v1/psmdb_defaults.go:772-776; used
    at pkg/psmdb/statefulset.go:438); mongod: replsets[].containerSecurityContext, else {runAsNonRoot, runAsUser 1001}
    (psmdb_defaults.go:765-771); mongo-init: spec.initContainerSecurityContext, no default (pkg/psmdb/init.go:53-55);
    backup-agent: spec.backup.containerSecurityContext, else {runAsNonRoot, runAsUser 1001} (psmdb_defaults.go:
    572-577; statefulset.go:562). The operator sets no seccomp profile anywhere."""
    (replset,) = spec["replsets"]
    pod = replset.get("podSecurityContext") or {"fsGroup": 1001}
    containers = {"mongod": replset.get("containerSecurityContext") or {"runAsNonRoot": True, "runAsUser": 1001},
                  "mongo-init": spec.get("initContainerSecurityContext")}
    if spec["backup"]["enabled"]:
        containers["backup-agent"] = (spec["backup"].get("containerSecurityContext")
                                      or {"runAsNonRoot": True, "runAsUser": 1001})
    return pod, containers


@pytest.mark.parametrize("environment,text", [("prod", APP), ("dev", APP), ("prod", RESTORE)])
def test_the_operators_pods_meet_the_restricted_pod_security_standard(environment, text):
    """App namespaces enforce "restricted" (render/app.py render_namespace): the operator's pods must be admitted."""
    for name, cluster in by_kind(declared(environment, text)).items():
        if name[0] == "PerconaServerMongoDB":
            assert restricted_problems(*operator_pod_security(plain(cluster.manifest["spec"]))) == [], name


def test_the_pod_security_rebuild_reads_the_operator_lines_it_cites():
    def source(path):
        return _show(path).splitlines()

    defaults = source("pkg/apis/psmdb/v1/psmdb_defaults.go")
    assert "rs.PodSecurityContext = &corev1.PodSecurityContext{" in "".join(defaults[771:776])
    assert "FSGroup: fsgroup," in "".join(defaults[772:776])
    assert "cr.Spec.Backup.ContainerSecurityContext = &corev1.SecurityContext{" in "".join(defaults[571:577])
    assert "init.SecurityContext = cr.Spec.InitContainerSecurityContext" in "".join(
        source("pkg/psmdb/init.go")[52:55])
    statefulset = source("pkg/psmdb/statefulset.go")
    assert "SecurityContext:               podSecurityContext," in statefulset[437]
    assert "SecurityContext: cr.Spec.Backup.ContainerSecurityContext," in statefulset[561]


def test_a_larger_size_reaches_the_volumes():
    """Without enableVolumeExpansion the operator keeps the old request (volumes.go:236-240): growing does nothing."""
    spec = by_kind(declared())[("PerconaServerMongoDB", "catalog-mongodb")].manifest["spec"]
    assert spec["enableVolumeExpansion"] is True
    volumes = _show("pkg/controller/perconaservermongodb/volumes.go").splitlines()
    assert "!cr.Spec.IsVolumeExpansionEnabled()" in volumes[235]
    assert "pvcSpec.Resources.Requests[corev1.ResourceStorage] = configured" in volumes[237]


def test_a_restored_cluster_keeps_the_sources_system_users_after_the_restore_is_removed():
    """Retiring the source (docs/mongodb.md step 2) must not change the users Secret the new cluster runs with."""
    after = APP.replace("mongodb: {instances: 3}", "mongodb: {instances: 3, clusterName: catalog-mongodb-2}")
    spec = by_kind(declared(text=after))[("PerconaServerMongoDB", "catalog-mongodb-2")].manifest["spec"]
    assert spec["secrets"] == {"users": "catalog-mongodb-users"}
    assert spec["backup"]["pitr"] == {"enabled": True}  # archiving again once the restore is removed
    # Upstream's own restore-to-a-new-cluster test shares one users Secret between source and target.
    for side in ("source", "target"):
        conf = _show(f"e2e-tests/pitr-to-new-cluster/conf/some-name-{side}.yml").splitlines()
        assert conf[62:64] == ["  secrets:", "    users: some-users"], (side, conf[62:64])


def test_a_retired_cluster_stays_behind_the_policy():
    """docs/mongodb.md step 2 stops declaring the source; its pods run until the platform team deletes them, and a pod
    no policy selects is open to every source (tests/support/netpol.py)."""
    after = APP.replace("mongodb: {instances: 3}", "mongodb: {instances: 3, clusterName: catalog-mongodb-2}")
    cluster = Cluster([*manifests(declared(text=after)), *manifests(declared(app="intruder"))])
    cluster.add_namespace("psmdb-operator", {})
    retired = Pod("catalog-prod", {"app.kubernetes.io/name": "percona-server-mongodb",
                                   "app.kubernetes.io/instance": "catalog-mongodb"}, "10.244.1.20")
    running = Pod("catalog-prod", {"app.kubernetes.io/name": "percona-server-mongodb",
                                   "app.kubernetes.io/instance": "catalog-mongodb-2"}, "10.244.1.21")
    intruder = Pod("intruder-prod", {"app.kubernetes.io/name": "intruder"}, "10.244.2.5")
    operator = Pod("psmdb-operator", {"app.kubernetes.io/name": "psmdb-operator"}, "10.244.3.5")
    outside = Pod("elsewhere", {}, "203.0.113.9")
    for member in (retired, running):
        assert not cluster.can_reach(intruder, member, 27017)
        assert not cluster.ingress_allows(outside, member, 22)
        assert not cluster.egress_allows(member, outside, 80)
        assert cluster.can_reach(operator, member, 27017)
    assert cluster.can_reach(running, retired, 27017) and cluster.can_reach(retired, running, 27017)


@pytest.mark.parametrize("output,before,field", [
    ("mongodbSizes", "1Gi", "mongodb.size"),  # growing, allowed otherwise
    ("mongodbInstances", "1", "environments.prod.mongodb.instances"),
    ("mongodbResources", '{"requests":{"cpu":"1"}}', "mongodb.resources"),
])
def test_during_a_restore_the_sources_settings_may_not_change(output, before, field):
    """The source is rendered from the app's current settings (mongodb_objects): a change would hit it mid-restore."""
    from minnova_idp.model.loaded import LoadedApp
    from minnova_idp.model.registry import RegistryEntry
    from minnova_idp.policy.guards import ROWS

    row = ROWS[output]
    restoring = LoadedApp(RegistryEntry(name="catalog", local="x"), config(RESTORE), None, "catalog/app.yaml")
    now = row.declared(restoring.config, "prod", {})
    (problem,) = row.check(restoring, "prod", before, now)
    assert str(problem).startswith(f"catalog/app.yaml: {field}: environments.prod declares a MongoDB restore"), problem
    assert row.check(restoring, "prod", now, now) == []
    settled = LoadedApp(RegistryEntry(name="catalog", local="x"), config(), None, "catalog/app.yaml")
    assert row.check(settled, "prod", before, row.declared(settled.config, "prod", {})) == []  # no restore: allowed
