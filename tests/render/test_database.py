"""Databases: CloudNativePG per app and environment, backups to R2, restore, nothing lost by accident."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace

import pulumi
import pydantic
import pytest
import yaml

from components.platform import Platform
from minnova_idp.load.inputs import load_inputs
from minnova_idp.load.stack import from_stack_file, parse_stack_config
from minnova_idp.load.validation import validate_document
from minnova_idp.load.yamlsafe import load_yaml
from minnova_idp.model import versions
from minnova_idp.model.app_config import AppConfig
from minnova_idp.model.errors import ConfigError
from minnova_idp.model.inputs import ProgramInputs
from minnova_idp.model.loaded import LoadedApp
from minnova_idp.model.registry import RegistryEntry
from minnova_idp.model.stack_settings import StackSettings
from minnova_idp.plan.recorder import record
from minnova_idp.policy.capacity import backup_problems
from minnova_idp.policy.guards import database_replacements, storage_shrinks
from minnova_idp.render.placement import RenderSettings, environment_placement
from minnova_idp.render.app import app_objects, render_app
from minnova_idp.render.database import CLUSTER_CREATION_ONLY_FIELDS, R2_PERMISSION_GROUPS, backup_target, r2_s3_credentials

from tests.conftest import PROJECT_DIR, project_copy
from tests.support.k8s_strict import require_crds, validate_objects
from tests.plan.test_recorder import broken_copy, run_main

ACCOUNT = "0123456789abcdef0123456789abcdef"
SETTINGS = RenderSettings(deployment="acme", ingress_class="traefik", cluster_issuer="letsencrypt-prod")


def oracle(**database) -> AppConfig:
    return AppConfig.model_validate({
        "name": "oracle", "image": {"repository": "registry.minnova.io/oracle"}, "port": 4000,
        "database": {"enabled": True, "size": "5Gi", **database},
        "environments": {"dev": {"host": "oracle.dev.acme.dev"},
                         "prod": {"host": "oracle.acme.dev", "replicas": 3, "database": {"instances": 3}}},
    })


def render(app: AppConfig, environment: str = "prod", backups: bool = True) -> dict[str, dict]:
    """The objects by kind; with a restore, the Cluster and ScheduledBackup are the restored (app's) ones."""
    return {obj["kind"]: obj for obj in render_all(app, environment, backups)}


def render_all(app: AppConfig, environment: str = "prod", backups: bool = True) -> list[dict]:
    backup = backup_target(app, environment, "acme", ACCOUNT) if backups else None
    return render_app(app, environment_placement(app, environment, "abc", backup=backup), SETTINGS)


def declared(app: AppConfig, environment: str = "prod"):
    placement = environment_placement(app, environment, "abc", backup=backup_target(app, environment, "acme", ACCOUNT))
    return app_objects(app, placement, SETTINGS, component=f"oracle-{environment}", protected=environment == "prod",
                       operators=("HelmRelease/cloudnative-pg",))


# ---- renderer -------------------------------------------------------------------------------

def test_cluster():
    spec = render(oracle())["Cluster"]["spec"]
    assert render(oracle())["Cluster"]["metadata"] == {
        "name": "oracle-db", "namespace": "oracle-prod", "labels": render(oracle())["Deployment"]["metadata"]["labels"],
        # Pulumi waits until CNPG says Ready (pulumi-kubernetes >= 4.18), for up to 30 minutes.
        "annotations": {"pulumi.com/waitFor": "condition=Ready", "pulumi.com/timeoutSeconds": "1800"}}
    assert spec["instances"] == 3 and spec["storage"] == {"size": "5Gi"}
    assert spec["imageName"] == versions.POSTGRES_IMAGES[versions.DEFAULT_POSTGRES_VERSION]
    assert spec["bootstrap"] == {"initdb": {"database": "oracle", "owner": "oracle"}}
    assert spec["resources"] == {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}}
    assert spec["enablePDB"] is True
    assert spec["plugins"] == [{"name": "barman-cloud.cloudnative-pg.io", "isWALArchiver": True,
                                "parameters": {"barmanObjectName": "oracle-backups", "serverName": "oracle-db"}}]
    assert "barmanObjectStore" not in json.dumps(spec)  # deprecated in-core backups


def test_single_instance_has_no_pdb_so_nodes_can_drain():
    spec = render(oracle(), "dev")["Cluster"]["spec"]
    assert spec["instances"] == 1 and spec["enablePDB"] is False


@pytest.mark.parametrize("version", [16, 17, 18])
def test_postgres_version_picks_a_pinned_image(version):
    image = render(oracle(version=version))["Cluster"]["spec"]["imageName"]
    assert image == versions.POSTGRES_IMAGES[version]
    assert image.startswith(f"ghcr.io/cloudnative-pg/postgresql:{version}.") and "latest" not in image


def test_object_store_on_r2():
    store = render(oracle(backupRetention="14d"))["ObjectStore"]
    assert store["metadata"]["name"] == "oracle-backups"
    spec = store["spec"]
    assert spec["retentionPolicy"] == "14d"
    config = spec["configuration"]
    assert config["destinationPath"] == "s3://acme-oracle-prod/"
    assert config["endpointURL"] == f"https://{ACCOUNT}.r2.cloudflarestorage.com"
    assert config["s3Credentials"] == {
        "accessKeyId": {"name": "oracle-backups-r2", "key": "ACCESS_KEY_ID"},
        "secretAccessKey": {"name": "oracle-backups-r2", "key": "ACCESS_SECRET_KEY"}}
    assert config["wal"]["compression"] == "zstd"
    assert "compression" not in config["data"]  # R2 and compressed multipart uploads: see database.py
    assert spec["instanceSidecarConfiguration"]["env"] == [
        {"name": "AWS_REQUEST_CHECKSUM_CALCULATION", "value": "when_required"},
        {"name": "AWS_RESPONSE_CHECKSUM_VALIDATION", "value": "when_required"}]


def test_default_retention_is_30_days():
    assert render(oracle())["ObjectStore"]["spec"]["retentionPolicy"] == "30d"


def test_daily_scheduled_backup_through_the_plugin():
    spec = render(oracle())["ScheduledBackup"]["spec"]
    assert spec["method"] == "plugin" and spec["pluginConfiguration"] == {"name": "barman-cloud.cloudnative-pg.io"}
    assert spec["cluster"] == {"name": "oracle-db"}
    seconds, minute, hour, day, month, weekday = spec["schedule"].split()
    assert (day, month, weekday) == ("*", "*", "*") and hour.isdigit()  # once a day


def test_database_url_comes_from_the_cnpg_secret():
    env = render(oracle())["Deployment"]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": "oracle-db-app", "key": "uri"}}} in env


def test_app_without_database_gets_none_of_it():
    app = AppConfig.model_validate({"name": "web", "image": {"repository": "r.io/web"}, "port": 80,
                                    "environments": {"prod": {"host": "web.acme.dev"}}})
    objects = render(app)
    assert set(objects) == {"Namespace", "Deployment", "Service", "Ingress"}
    assert "DATABASE_URL" not in json.dumps(objects)


def test_without_backups_there_is_no_archive():
    objects = render(oracle(), backups=False)
    assert "ObjectStore" not in objects and "ScheduledBackup" not in objects
    assert "plugins" not in objects["Cluster"]["spec"]


def restored(restore: dict, backup_name: str = "oracle-db-2") -> AppConfig:
    app = oracle()
    data = app.model_dump(by_alias=True, exclude_none=True)
    data["environments"]["prod"]["database"] = {"instances": 3, "backupName": backup_name, "restore": restore}
    return AppConfig.model_validate(data)


def test_restore_to_a_point_in_time_is_a_new_cluster_archiving_under_its_own_name():
    restored_objects = render(restored({"fromBackup": "oracle-db", "targetTime": "2026-11-20T09:30:00Z"}))
    cluster = restored_objects["Cluster"]
    assert cluster["metadata"]["name"] == "oracle-db-2"
    assert cluster["metadata"]["annotations"]["pulumi.com/timeoutSeconds"] == str(6 * 3600)  # replaying takes long
    spec = cluster["spec"]
    assert spec["bootstrap"] == {"recovery": {"source": "origin", "database": "oracle", "owner": "oracle",
                                              "recoveryTarget": {"targetTime": "2026-11-20T09:30:00Z"}}}
    # Reads the old server name, archives under the new one (the empty-archive check passes: nothing is there).
    assert spec["externalClusters"] == [{"name": "origin", "plugin": {
        "name": "barman-cloud.cloudnative-pg.io",
        "parameters": {"barmanObjectName": "oracle-backups", "serverName": "oracle-db"}}}]
    assert spec["plugins"][0]["parameters"]["serverName"] == "oracle-db-2"
    assert restored_objects["ScheduledBackup"]["spec"]["cluster"] == {"name": "oracle-db-2"}
    # The app moves to the restored database's credentials: its pod template changes, so it rolls out by itself.
    env = restored_objects["Deployment"]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": "oracle-db-2-app", "key": "uri"}}} in env


def test_declaring_a_restore_changes_nothing_on_the_live_cluster():
    """The source Cluster stays declared exactly as it was: same Pulumi name, same inputs, same lifecycle."""
    before = {d.key: d for d in declared(oracle())}
    after = {d.key: d for d in declared(restored({"fromBackup": "oracle-db"}))}
    for key in ("KubernetesObject/oracle-prod-cluster-oracle-db", "KubernetesObject/oracle-prod-scheduledbackup-"
                "oracle-db-daily", "KubernetesObject/oracle-prod-objectstore-oracle-backups"):
        assert after[key] == before[key], key
    new = after["KubernetesObject/oracle-prod-cluster-oracle-db-2"]
    assert (new.lifecycle.protect, new.lifecycle.retain_on_delete) == (True, True)
    assert new.lifecycle.ignore_changes == ("spec.bootstrap", "spec.externalClusters")
    deployment = after["KubernetesObject/oracle-prod-deployment-oracle"]
    assert new.key in deployment.lifecycle.depends_on  # the app waits for the restored database
    assert "KubernetesObject/oracle-prod-cluster-oracle-db" not in deployment.lifecycle.depends_on


def test_a_gone_source_is_not_declared_so_nothing_can_recreate_it_as_an_empty_twin():
    """sourceGone: the source's Cluster and ScheduledBackup leave the program (retained: never deleted), so a
    refresh cannot recreate an empty initdb twin archiving into the path the recovery reads."""
    kept = {d.key: d for d in declared(restored({"fromBackup": "oracle-db"}))}
    gone = {d.key: d for d in declared(restored({"fromBackup": "oracle-db", "sourceGone": True}))}
    source = ("KubernetesObject/oracle-prod-cluster-oracle-db", "KubernetesObject/oracle-prod-scheduledbackup-"
              "oracle-db-daily")
    assert all(key in kept for key in source) and not any(key in gone for key in source)
    assert (kept[source[0]].lifecycle.protect, kept[source[0]].lifecycle.retain_on_delete) == (True, True)
    # The restored Cluster and everything else are the same either way.
    assert {key: value for key, value in kept.items() if key not in source} == gone
    recovery = render(restored({"fromBackup": "oracle-db", "sourceGone": True}))["Cluster"]["spec"]
    assert recovery["externalClusters"][0]["plugin"]["parameters"]["serverName"] == "oracle-db"


def test_the_deployment_waits_for_its_database_and_backups_are_kept():
    objects = {d.key: d for d in declared(oracle())}
    deployment = objects["KubernetesObject/oracle-prod-deployment-oracle"]
    assert "KubernetesObject/oracle-prod-cluster-oracle-db" in deployment.lifecycle.depends_on
    scheduled = objects["KubernetesObject/oracle-prod-scheduledbackup-oracle-db-daily"]
    assert (scheduled.lifecycle.protect, scheduled.lifecycle.retain_on_delete) == (True, True)
    dev = {d.key: d for d in declared(oracle(), "dev")}["KubernetesObject/oracle-dev-scheduledbackup-oracle-db-daily"]
    assert (dev.lifecycle.protect, dev.lifecycle.retain_on_delete) == (False, True)


def test_restore_without_target_replays_to_the_end():
    recovery = render(restored({"fromBackup": "oracle-db"}))["Cluster"]["spec"]["bootstrap"]["recovery"]
    assert "recoveryTarget" not in recovery


def test_every_database_object_validates_strictly():
    require_crds()
    variants = [oracle(), oracle(version=16), oracle(version=18, backupRetention="6m"),
                restored({"fromBackup": "oracle-db", "targetTime": "2026-11-20T09:30:00+01:00"})]
    for app in variants:
        for environment in ("dev", "prod"):
            validate_objects(render_all(app, environment))
    # Without an archive (previews): no ObjectStore, no ScheduledBackup, no plugin entry.
    validate_objects(render(oracle(), "dev", backups=False).values())


def test_a_restore_without_a_backup_store_is_a_bug_not_a_silent_initdb():
    with pytest.raises(ValueError, match="a restore needs the environment's backup store"):
        render(restored({"fromBackup": "oracle-db"}), backups=False)


# ---- validation ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Bad:
    id: str
    yaml: str
    field: str
    message: str


BASE = """name: oracle
image: {repository: registry.minnova.io/oracle}
port: 4000
database: {enabled: true, size: 5Gi}
environments:
  prod: {host: oracle.acme.dev}
"""

BAD = [
    Bad("database-url-with-database", BASE + "env: {DATABASE_URL: postgres://x}\n", "env.DATABASE_URL",
        "is set by the platform"),
    Bad("database-url-in-environment", BASE.replace("{host: oracle.acme.dev}",
                                                    "{host: oracle.acme.dev, env: {DATABASE_URL: x}}"),
        "environments.prod.env.DATABASE_URL", "is set by the platform"),
    Bad("environment-database-without-database", BASE.replace("enabled: true", "enabled: false").replace(
        "{host: oracle.acme.dev}", "{host: oracle.acme.dev, database: {instances: 2}}"),
        "environments.prod.database", "database.enabled is false"),
    Bad("restore-into-same-archive", BASE.replace(
        "{host: oracle.acme.dev}", "{host: oracle.acme.dev, database: {restore: {fromBackup: oracle-db}}}"),
        "environments.prod.database.restore.fromBackup", "set environments.prod.database.backupName to a new name"),
    Bad("restore-time-without-zone", BASE.replace("{host: oracle.acme.dev}", "{host: oracle.acme.dev, database: "
                                                  "{backupName: b2, restore: {fromBackup: oracle-db, "
                                                  "targetTime: '2026-11-20 10:00'}}}"),
        "environments.prod.database.restore.targetTime", "no time zone"),
    Bad("restore-time-garbage", BASE.replace("{host: oracle.acme.dev}", "{host: oracle.acme.dev, database: "
                                             "{backupName: b2, restore: {fromBackup: oracle-db, targetTime: noon}}}"),
        "environments.prod.database.restore.targetTime", "not an RFC 3339 timestamp"),
    Bad("version-15", BASE.replace("size: 5Gi}", "size: 5Gi, version: 15}"), "database.version", "16, 17 or 18"),
    Bad("instances-zero", BASE.replace("{host: oracle.acme.dev}", "{host: oracle.acme.dev, database: {instances: 0}}"),
        "environments.prod.database.instances", "greater than or equal to 1"),
    Bad("instances-many", BASE.replace("{host: oracle.acme.dev}", "{host: oracle.acme.dev, database: {instances: 9}}"),
        "environments.prod.database.instances", "less than or equal to 5"),
    Bad("retention-days-word", BASE.replace("size: 5Gi}", "size: 5Gi, backupRetention: 30 days}"),
        "database.backupRetention", "not a retention period"),
    Bad("backup-name-bad", BASE.replace("{host: oracle.acme.dev}",
                                        "{host: oracle.acme.dev, database: {backupName: Oracle_DB}}"),
        "environments.prod.database.backupName", "lowercase letters"),
]


@pytest.mark.parametrize("case", BAD, ids=lambda c: c.id)
def test_bad_database_config_is_named(case):
    with pytest.raises(ConfigError) as caught:
        validate_document(AppConfig, load_yaml(case.yaml, "app.yaml"))
    found = [str(p) for p in caught.value.problems]
    assert any(f": {case.field}: " in p and case.message in p for p in found), found


# ---- components under mocks -----------------------------------------------------------------

def stack(**settings):
    raw = {"minnova:deployment": "acme", "minnova:environments": '["dev", "prod"]', "minnova:baseDomain": "acme.dev",
           "minnova:ingressClass": "traefik", "minnova:ingressAddress": "203.0.113.7",
           "minnova:git": '{"provider": "github"}',
           "minnova:cloudflare": json.dumps({"accountId": ACCOUNT, "zoneId": "f" * 32}),
           **{f"minnova:{k}": v for k, v in settings.items()}}
    return parse_stack_config(raw, set(), "Pulumi.test.yaml")


def loaded(app: AppConfig) -> LoadedApp:
    return LoadedApp(entry=RegistryEntry(name=app.name, repo=f"https://github.com/acme/{app.name}.git"),
                     config=app, commit="c" * 40, config_file=f"{app.name}/.minnova/app.yaml")


WEB = AppConfig.model_validate({"name": "web", "image": {"repository": "r.io/web"}, "port": 80,
                                "environments": {"dev": {"host": "web.dev.acme.dev"},
                                                 "prod": {"host": "web.acme.dev"}}})


@pytest.fixture(scope="module")
def platform_resources():
    inputs = ProgramInputs(stack=stack(), apps=[loaded(oracle()), loaded(WEB)])
    resources, outputs = record(lambda: {"sizes": Platform("platform", inputs).guarded["databaseSizes"]}, project="minnova-idp",
                                stack="test")
    return resources, outputs


def one(resources, type_, prefix, suffix=""):
    found = [r for r in resources if r.type == type_ and r.name.startswith(prefix) and r.name.endswith(suffix)]
    assert len(found) == 1, (type_, prefix, suffix, [r.name for r in resources if r.type == type_])
    return found[0]


DATA_HOLDERS = [
    ("cloudflare:index/r2Bucket:R2Bucket", "backups"),
    ("cloudflare:index/accountToken:AccountToken", "backups"),
    ("kubernetes:core/v1:Secret", "backups-r2"),
    ("kubernetes:barmancloud.cnpg.io/v1:ObjectStore", "oracle-backups"),
    ("kubernetes:postgresql.cnpg.io/v1:Cluster", "oracle-db"),
    ("kubernetes:core/v1:Namespace", ""),
]


@pytest.mark.parametrize("type_,name_part", DATA_HOLDERS)
def test_data_holders_are_protected_in_prod_and_retained_everywhere(platform_resources, type_, name_part):
    resources, _ = platform_resources
    prod, dev = (one(resources, type_, f"oracle-{env}-", name_part) for env in ("prod", "dev"))
    assert prod.protect is True and prod.retain_on_delete is True
    assert dev.protect is False and dev.retain_on_delete is True


def test_app_without_database_has_no_database_resources(platform_resources):
    resources, _ = platform_resources
    web = [r for r in resources if r.name.startswith("web-")]
    assert web and not [r for r in web if "r2Bucket" in r.type or "accountToken" in r.type or "cnpg" in r.type
                        or r.type.endswith("Secret")]
    assert not any(r.protect for r in web)


def test_bucket_and_token_scoped_to_that_bucket(platform_resources):
    resources, _ = platform_resources
    bucket = one(resources, "cloudflare:index/r2Bucket:R2Bucket", "oracle-prod")
    assert bucket.inputs == {"accountId": ACCOUNT, "name": "acme-oracle-prod"}
    token = one(resources, "cloudflare:index/accountToken:AccountToken", "oracle-prod")
    (policy,) = token.inputs["policies"]
    assert policy["effect"] == "allow"
    assert json.loads(policy["resources"]) == {
        f"com.cloudflare.edge.r2.bucket.{ACCOUNT}_default_acme-oracle-prod": "*"}
    # IDs come from the lookup by name (the offline plan's mock answers with the name it was asked).
    assert policy["permissionGroups"] == [{"id": f"<id of {name}>"} for name in R2_PERMISSION_GROUPS]
    assert bucket.urn in token.dependencies


def test_credentials_secret_is_a_pulumi_secret(platform_resources):
    resources, _ = platform_resources
    secret = one(resources, "kubernetes:core/v1:Secret", "oracle-prod")
    assert secret.inputs["stringData"] == {"ACCESS_KEY_ID": "[secret]", "ACCESS_SECRET_KEY": "[secret]"}
    dump = json.dumps([r.as_json() for r in resources])
    assert "offline-placeholder-token-value" not in dump
    assert hashlib.sha256(b"offline-placeholder-token-value").hexdigest() not in dump


def test_s3_credentials_follow_cloudflares_recipe():
    assert r2_s3_credentials("tok-id", "abc") == {
        "ACCESS_KEY_ID": "tok-id",
        "ACCESS_SECRET_KEY": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}


def test_custom_resources_wait_for_the_operators(platform_resources):
    resources, _ = platform_resources
    releases = {r.name: r for r in resources if r.type == "kubernetes:helm.sh/v3:Release"}
    # MongoDB's operator only where the stack offers MongoDB (minnova:mongodb.enabled, ADR 0014): this one does not.
    assert set(releases) == {"cert-manager", "cloudnative-pg", "plugin-barman-cloud", "mariadb-operator-crds",
                             "mariadb-operator"}
    assert {releases["cert-manager"].urn, releases["cloudnative-pg"].urn} <= set(
        releases["plugin-barman-cloud"].dependencies)
    for release in releases.values():
        assert release.protect is True
        assert release.inputs["version"] and release.inputs["repositoryOpts"]["repo"].startswith("https://")
    assert releases["plugin-barman-cloud"].inputs["namespace"] == releases["cloudnative-pg"].inputs["namespace"]
    assert releases["plugin-barman-cloud"].inputs["values"]["image"]["tag"] == versions.BARMAN_CLOUD_PLUGIN_VERSION
    cluster = one(resources, "kubernetes:postgresql.cnpg.io/v1:Cluster", "oracle-prod")
    store = one(resources, "kubernetes:barmancloud.cnpg.io/v1:ObjectStore", "oracle-prod")
    secret = one(resources, "kubernetes:core/v1:Secret", "oracle-prod")
    assert {releases["cloudnative-pg"].urn, releases["plugin-barman-cloud"].urn, store.urn} <= set(
        cluster.dependencies)
    assert {releases["plugin-barman-cloud"].urn, secret.urn} <= set(store.dependencies)
    backup = one(resources, "kubernetes:postgresql.cnpg.io/v1:ScheduledBackup", "oracle-prod")
    assert cluster.urn in backup.dependencies


def test_cluster_creation_only_fields_are_never_patched(platform_resources):
    resources, _ = platform_resources
    cluster = one(resources, "kubernetes:postgresql.cnpg.io/v1:Cluster", "oracle-prod")
    assert cluster.ignore_changes == list(CLUSTER_CREATION_ONLY_FIELDS)


def test_cloudflare_provider_is_explicit(platform_resources):
    resources, _ = platform_resources
    provider = one(resources, "pulumi:providers:cloudflare", "cloudflare")
    for r in resources:
        if r.type.startswith("cloudflare:"):
            assert r.provider == f"{provider.urn}::cloudflare-id"


def test_platform_reports_database_sizes(platform_resources):
    _, outputs = platform_resources
    assert outputs["sizes"] == {"oracle-dev": "5Gi", "oracle-prod": "5Gi"}


def test_protected_environments_are_configurable():
    inputs = ProgramInputs(stack=stack(protectedEnvironments='["dev", "prod"]'), apps=[loaded(oracle())])
    resources, _ = record(lambda: Platform("platform", inputs) and None)
    assert one(resources, "kubernetes:postgresql.cnpg.io/v1:Cluster", "oracle-dev").protect is True


# ---- the program: checks before anything is registered ----------------------------------

def test_database_needs_cloudflare_settings(tmp_path):
    project = broken_copy(tmp_path)  # a copy; repair the storefront port it breaks
    app_yaml = project / "examples" / "storefront" / ".minnova" / "app.yaml"
    app_yaml.write_text(app_yaml.read_text().replace("port: 0", "port: 3000"))
    stack_file = project / "Pulumi.dev.yaml"
    stack_file.write_text(stack_file.read_text().replace("  minnova:cloudflare:\n", "  minnova:cloudflareGone:\n"))
    raw, secret_keys, file = from_stack_file(project, "dev")
    raw = {k: v for k, v in raw.items() if k != "minnova:cloudflareGone"}
    with pytest.raises(ConfigError) as caught:
        load_inputs(project, raw, secret_keys, file)
    assert [str(p) for p in caught.value.problems] == [
        "Pulumi.dev.yaml: minnova:cloudflare: required: databases are backed up to Cloudflare R2 (apps with a "
        "database, MySQL or MongoDB: catalog, ledger, oracle) (hint: set minnova:cloudflare.accountId and .zoneId)",
        "Pulumi.dev.yaml: minnova:cloudflare: required: object storage is a Cloudflare R2 bucket (apps with "
        "storage: storefront) (hint: set minnova:cloudflare.accountId and .zoneId)"]


@pytest.mark.parametrize("before,refused", [("10Gi", True), ("5Gi", False), ("1Gi", False), (None, False)])
def test_storage_shrink_is_refused_before_any_resource(before, refused):
    previous = {"databaseSizes": {"oracle-prod": before}} if before else {}
    if refused:
        with pytest.raises(pulumi.RunError, match="'5Gi' is smaller than the 10Gi deployed in prod"):
            run_main(PROJECT_DIR, "prod", previous_outputs=previous)
    else:
        resources, _ = run_main(PROJECT_DIR, "prod", previous_outputs=previous)
        assert any(r.type == "kubernetes:postgresql.cnpg.io/v1:Cluster" for r in resources)


@pytest.mark.parametrize("backup_name,restore,refused", [
    ("oracle-db", None, False),                      # unchanged
    ("oracle-db-2", None, True),                     # a new, empty database in place of the running one
    ("oracle-db-2", {"fromBackup": "oracle-db"}, False),   # the restore procedure
    ("oracle-db-3", {"fromBackup": "oracle-db-2"}, True),  # restoring from a cluster prod does not run
])
def test_the_app_keeps_its_database_unless_a_restore_from_it_is_declared(backup_name, restore, refused):
    app = oracle()
    data = app.model_dump(by_alias=True, exclude_none=True)
    data["environments"]["prod"]["database"] = {"backupName": backup_name, **({"restore": restore} if restore else {})}
    inputs = ProgramInputs(stack=stack(), apps=[loaded(AppConfig.model_validate(data))])
    found = [str(p) for p in database_replacements(inputs, {"oracle-prod": "oracle-db"})]
    if refused:
        assert found == [f"oracle/.minnova/app.yaml: environments.prod.database.backupName: '{backup_name}' would give "
                         "the app a new, empty database in place of 'oracle-db', which prod runs (hint: keep "
                         f"backupName: oracle-db, or restore into '{backup_name}' with restore.fromBackup: oracle-db "
                         "(docs/databases.md: Disaster recovery))"]
    else:
        assert found == []
    assert database_replacements(inputs, {}) == []  # nothing recorded yet: nothing to compare


def test_the_cluster_guard_runs_before_any_resource():
    with pytest.raises(pulumi.RunError, match="would give the app a new, empty database in place of 'oracle-old'"):
        run_main(PROJECT_DIR, "prod", previous_outputs={"databaseClusters": {"oracle-prod": "oracle-old"}})
    resources, outputs = run_main(PROJECT_DIR, "prod", previous_outputs={"databaseClusters": {"oracle-prod": "oracle-db"}})
    assert any(r.type == "kubernetes:postgresql.cnpg.io/v1:Cluster" for r in resources)


def test_storage_guard_can_be_turned_off():
    inputs = ProgramInputs(stack=stack(databaseStorageGuard="false"), apps=[loaded(oracle())])
    assert inputs.stack.settings.database_storage_guard is False
    assert storage_shrinks(inputs, {"oracle-prod": "10Gi"})  # the check itself still finds it


def test_example_deployment_has_a_database_app_in_dev_and_prod():
    for stack_name in ("dev", "prod"):
        raw, secret_keys, file = from_stack_file(PROJECT_DIR, stack_name)
        inputs = load_inputs(PROJECT_DIR, raw, secret_keys, file)
        assert any(app.config.database.enabled for app, _ in inputs.deployed())


# ---- restore drills -------------------------------------------------------------------------

def test_restore_drill_recovers_without_ever_archiving(tmp_path):
    import subprocess
    import sys

    import yaml

    result = subprocess.run([sys.executable, "-m", "minnova_idp.cli", "restore-drill", "examples/oracle", "prod",
                             "--target-time", "2026-11-20T09:30:00Z"], cwd=PROJECT_DIR, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    cluster = yaml.safe_load(result.stdout)
    assert cluster["metadata"]["name"] == "oracle-db-drill" and cluster["metadata"]["namespace"] == "oracle-prod"
    spec = cluster["spec"]
    assert "plugins" not in spec  # a drill must never write into the archive it tests
    assert spec["bootstrap"]["recovery"]["recoveryTarget"] == {"targetTime": "2026-11-20T09:30:00Z"}
    assert spec["externalClusters"][0]["plugin"]["parameters"] == {
        "barmanObjectName": "oracle-backups", "serverName": "oracle-db"}
    require_crds()
    validate_objects([cluster])
    # after a major upgrade the environment archives under <cluster>-pg<major>; the drill's name stays
    upgraded = subprocess.run([sys.executable, "-m", "minnova_idp.cli", "restore-drill", "examples/oracle", "prod",
                               "--server-name", "oracle-db-pg18"], cwd=PROJECT_DIR, capture_output=True, text=True,
                              timeout=60)
    assert upgraded.returncode == 0, upgraded.stderr
    cluster = yaml.safe_load(upgraded.stdout)
    assert cluster["metadata"]["name"] == "oracle-db-drill"
    assert cluster["spec"]["externalClusters"][0]["plugin"]["parameters"]["serverName"] == "oracle-db-pg18"


@pytest.mark.parametrize("args,message", [
    (["examples/oracle", "prod", "--server-name", "Oracle_DB"], "--server-name: 'Oracle_DB' is not a server name"),
    (["examples/storefront", "prod"], "database.enabled: the app has no PostgreSQL database: restore-drill drills "
                                      "PostgreSQL only"),
    (["examples/oracle", "staging"], "no environment 'staging' (hint: environments: dev, prod)"),
    (["examples/oracle", "prod", "--target-time", "noon"], "--target-time: 'noon' is not an RFC 3339 timestamp"),
])
def test_restore_drill_errors(args, message):
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "minnova_idp.cli", "restore-drill", *args], cwd=PROJECT_DIR,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and message in result.stderr and "Traceback" not in result.stderr


def test_restore_drill_of_an_app_without_postgresql_says_where_the_other_engines_drills_are():
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "minnova_idp.cli", "restore-drill", "examples/storefront", "prod"],
                            cwd=PROJECT_DIR, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "docs/mysql-data.md" in result.stderr and "MongoDB" in result.stderr, \
        result.stderr


# The operator's own list of supported PostgreSQL images: cloudnative-pg/cloudnative-pg .github/pg_versions.json
# (last changed e101f7a1, 2026-08-15), the source of truth for the minor pins in versions.py. Update both together.
UPSTREAM_PG_VERSIONS = {"18": ["18.6", "18.4"], "17": ["17.11", "17.10"], "16": ["16.15", "16.14"]}


# cloudnative-pg/artifacts image-catalogs/catalog-standard-trixie.yaml at ce5057c (2026-08-17), copied: the image each
# major runs, by dated tag and digest (issue 25: the platform's images pinned by digest).
UPSTREAM_CATALOG = {
    16: "ghcr.io/cloudnative-pg/postgresql:16.15-202608170814-standard-trixie@sha256:3df9103d7f89c8abc2870463d4d446944c81b5f1f4b707c590895dc003ecbb65",
    17: "ghcr.io/cloudnative-pg/postgresql:17.11-202608170816-standard-trixie@sha256:91e0de662d53895a45f1396f4ee1a75daeb0c26fc87853afc9c8f43e01fdaa21",
    18: "ghcr.io/cloudnative-pg/postgresql:18.6-202608170814-standard-trixie@sha256:771f9eab5225587af259d84680cc69a5b6e374ac32bb24effafde1f3368a1241",
}


def test_postgres_pins_are_the_newest_minor_cnpg_lists_pinned_by_the_catalogs_digest():
    for major, image in versions.POSTGRES_IMAGES.items():
        newest = UPSTREAM_PG_VERSIONS[str(major)][0]
        match = versions.IMAGE_REFERENCE.match(image)
        assert match and match["repository"] == versions.POSTGRES_IMAGE_REPOSITORY, image
        assert match["tag"].startswith(f"{newest}-") and match["tag"].endswith("-standard-trixie"), major
        assert image == UPSTREAM_CATALOG[major]


def test_which_platform_images_are_pinned_by_digest():
    """Every image the platform runs parses as <repository>:<tag>[@sha256:...]; PostgreSQL's are pinned by digest.
    Valkey and kubectl stay tag-only: no upstream source read here states their digests (docs/security.md)."""
    pinned = {name: versions.IMAGE_REFERENCE.match(image) for name, image in versions.pinned_images().items()}
    assert all(pinned.values()), pinned
    assert {name for name, match in pinned.items() if match["digest"]} == {
        f"POSTGRES_IMAGES[{major}]" for major in versions.POSTGRES_IMAGES}


# ---- restore drills, every week -------------------------------------------------------------------------------

def drill(app: AppConfig | None = None, environment: str = "prod", schedule: str = "0 5 * * 0",
          check: str | None = None, settings: RenderSettings = SETTINGS) -> dict[str, dict]:
    app = app or oracle()
    placement = environment_placement(app, environment, "abc", backup=backup_target(app, environment, "acme", ACCOUNT),
                                      drill_schedule=schedule, drill_check=check)
    objects = app_objects(app, placement, settings, component=f"oracle-{environment}")
    return {o.manifest["kind"]: o for o in objects
            if hasattr(o, "manifest") and "minnova.io/restore-drill" in o.manifest["metadata"]["labels"]}


def test_a_weekly_drill_restores_the_latest_backup_into_a_throwaway_cluster():
    objects = drill(settings=replace(SETTINGS, network_policies=True))
    assert set(objects) == {"ConfigMap", "ServiceAccount", "Role", "RoleBinding", "CronJob", "NetworkPolicy"}
    # The kubectl pod's own egress: the cluster's DNS and the API's ports, never the metadata addresses.
    egress = objects["NetworkPolicy"].manifest["spec"]
    assert egress["podSelector"] == {"matchLabels": {"minnova.io/restore-drill": "true"}}
    assert egress["egress"][1]["ports"] == [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 6443}]
    assert "169.254.0.0/16" in egress["egress"][1]["to"][0]["ipBlock"]["except"]
    cron = objects["CronJob"].manifest["spec"]
    assert cron["schedule"] == "0 5 * * 0" and cron["timeZone"] == "Etc/UTC" and cron["concurrencyPolicy"] == "Forbid"
    job = cron["jobTemplate"]["spec"]
    assert job["backoffLimit"] == 0 and job["activeDeadlineSeconds"] <= 4 * 3600
    pod = job["template"]["spec"]
    steps = [c["name"] for c in pod["initContainers"]] + [c["name"] for c in pod["containers"]]
    assert steps == ["remove-leftover", "restore", "wait-ready", "check", "wait-check", "record", "clean-up"]
    by_name = {c["name"]: c for c in pod["initContainers"] + pod["containers"]}
    assert by_name["wait-ready"]["args"][:3] == ["wait", "clusters.postgresql.cnpg.io/oracle-db-drill",
                                                 "--for=condition=Ready"]
    assert by_name["clean-up"]["args"][:3] == ["delete", "clusters.postgresql.cnpg.io", "oracle-db-drill"]
    assert by_name["check"]["args"] == ["create", "-f", "/drill/check-job.yaml"]
    assert by_name["wait-check"]["args"][:3] == ["wait", "jobs.batch/oracle-db-drill-check", "--for=condition=Complete"]
    # No container of the drill pod (which holds the token) runs anything but kubectl.
    assert {c["image"] for c in pod["initContainers"] + pod["containers"]} == {versions.KUBECTL_IMAGE}
    check_job = yaml.safe_load(objects["ConfigMap"].manifest["data"]["check-job.yaml"])
    check_pod = check_job["spec"]["template"]
    (check,) = check_pod["spec"]["containers"]
    assert check_pod["spec"]["automountServiceAccountToken"] is False and "serviceAccountName" not in check_pod["spec"]
    assert check_pod["metadata"]["labels"]["app.kubernetes.io/name"] == "oracle"  # the app's egress policy
    assert "minnova.io/restore-drill" not in check_pod["metadata"]["labels"]  # not the drill's broader one
    assert check["env"][0]["valueFrom"]["secretKeyRef"] == {"name": "oracle-db-drill-app", "key": "uri"}
    assert check["image"] == versions.POSTGRES_IMAGES[versions.DEFAULT_POSTGRES_VERSION]
    assert check["command"][-2:] == ["-f", "/drill/check.sql"]
    # The restored Cluster: the app's latest backup, one instance, never archiving (no plugins entry).
    cluster = yaml.safe_load(objects["ConfigMap"].manifest["data"]["cluster.yaml"])
    assert cluster["metadata"]["name"] == "oracle-db-drill" and cluster["spec"]["instances"] == 1
    assert "plugins" not in cluster["spec"] and "recoveryTarget" not in cluster["spec"]["bootstrap"]["recovery"]
    assert cluster["spec"]["externalClusters"][0]["plugin"]["parameters"] == {
        "barmanObjectName": "oracle-backups", "serverName": "oracle-db"}
    assert objects["ConfigMap"].manifest["data"]["check.sql"] == "select 1;\n"
    event = yaml.safe_load(objects["ConfigMap"].manifest["data"]["succeeded.yaml"])
    assert event["reason"] == "RestoreDrillSucceeded" and event["involvedObject"]["name"] == "oracle-db-drill"


def test_the_drill_can_touch_no_database_but_its_own():
    rules = drill()["Role"].manifest["rules"]
    named = [r for r in rules if "resourceNames" in r]
    assert named == [{"apiGroups": ["postgresql.cnpg.io"], "resources": ["clusters"], "resourceNames": ["oracle-db-drill"],
                      "verbs": ["get", "list", "watch", "delete"]},
                     {"apiGroups": ["batch"], "resources": ["jobs"], "resourceNames": ["oracle-db-drill-check"],
                      "verbs": ["get", "list", "watch", "delete"]}]
    unnamed = [r for r in rules if "resourceNames" not in r]
    assert sorted(v for r in unnamed for v in r["verbs"]) == ["create"] * 3  # clusters, jobs, events: nothing else
    assert not any(r["resources"] in (["secrets"], ["pods/exec"]) for r in rules)
    binding = drill()["RoleBinding"].manifest
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "oracle-db-drill", "namespace": "oracle-prod"}]


def test_the_drill_runs_the_apps_own_check_and_is_strictly_valid():
    objects = drill(check="select count(*) > 0 from orders;\n")
    assert objects["ConfigMap"].manifest["data"]["check.sql"] == "select count(*) > 0 from orders;\n"
    require_crds()
    validate_objects([o.manifest for o in objects.values()])
    validate_objects([yaml.safe_load(objects["ConfigMap"].manifest["data"][key])
                      for key in ("cluster.yaml", "check-job.yaml")])


def test_drills_follow_the_stack_and_the_app():
    assert drill(schedule=None) == {}  # minnova:restoreDrillSchedule: null
    assert drill(oracle(restoreDrill=False)) == {}
    assert drill(schedule="@daily")["CronJob"].manifest["spec"]["schedule"] == "@daily"
    # Previews never get one: they have no backups.
    from minnova_idp.render.preview import preview_request, render_preview

    request = preview_request({"app": "oracle", "pr_number": "1", "head_sha": "a" * 40,
                               "preview_domain": "preview.acme.dev", "deployment": "acme", "ingress_class": "t"}, {})
    assert not any(o["kind"] == "CronJob" for o in render_preview(oracle(), request, None))


@pytest.mark.parametrize("schedule", ["weekly", "0 5 * *", "0 5 * * 0 1"])
def test_a_bad_drill_schedule_is_named(schedule):
    with pytest.raises(pydantic.ValidationError, match="is not a cron schedule"):
        StackSettings.model_validate({
            "deployment": "acme", "environments": ["prod"], "baseDomain": "acme.dev", "ingressClass": "traefik",
            "ingressAddress": "203.0.113.7", "git": {"provider": "github"}, "restoreDrillSchedule": schedule})


def test_the_example_stacks_drill_their_databases(tmp_path):
    from minnova_idp.plan.recorder import run_plan

    project = project_copy(tmp_path)
    (project / "examples/oracle/.minnova/restore-check.sql").write_text("select count(*) from pg_tables;\n")
    plan = run_plan(project, "prod", cache_dir=tmp_path / "cache")
    # oracle's (PostgreSQL); ledger's MySQL drill has its own (render/mysql_drill.py)
    (config_map,) = [m for m in plan.manifests() if m["kind"] == "ConfigMap" and "cluster.yaml" in m["data"]]
    assert config_map["data"]["check.sql"] == "select count(*) from pg_tables;\n"
    (project / "examples/oracle/.minnova/restore-check.sql").write_bytes(b"x" * (64 * 1024 + 1))
    with pytest.raises(ConfigError, match="restore-check.sql: is larger than the limit of 65536 bytes"):
        run_plan(project, "prod", cache_dir=tmp_path / "cache", only_app="oracle")  # the app's CI gate (ADR 0012)


# ---- Cloudflare: token quota, one token per app ---------------------------------------------------------------

def cloudflare(**extra) -> str:
    return json.dumps({"accountId": ACCOUNT, "zoneId": "f" * 32, **extra})


def test_no_namespace_holds_a_token_for_another_environments_backups():
    """The former perApp mode put one read/write token for dev's and prod's buckets into both namespaces."""
    inputs = ProgramInputs(stack=stack(cloudflare=cloudflare(backupTokens="perApp")), apps=[loaded(oracle())])
    assert [p.field for p in backup_problems(inputs)] == ["minnova:cloudflare.backupTokens"]
    assert "a dev pod could delete prod's backups" in str(backup_problems(inputs)[0])
    resources, _ = record(lambda: Platform("platform", inputs) and None, project="minnova-idp", stack="test")
    tokens = {r.name: json.loads(r.inputs["policies"][0]["resources"]) for r in resources
              if r.type == "cloudflare:index/accountToken:AccountToken" and r.name != "cert-manager-dns01"}
    # even if a caller skipped the check: each environment's token covers its own bucket only
    assert tokens == {f"oracle-{env}-backups": {f"com.cloudflare.edge.r2.bucket.{ACCOUNT}_default_acme-oracle-{env}": "*"}
                      for env in ("dev", "prod")}


@pytest.mark.parametrize("limit,refused", [(3, False), (2, True)])
def test_the_account_token_quota_is_checked_before_anything_is_created(limit, refused):
    """oracle in dev and prod: 2 backup tokens (1 per environment), plus cert-manager's DNS-01 token.
    load_inputs raises every problem backup_problems finds, before the program registers anything."""
    inputs = ProgramInputs(stack=stack(cloudflare=cloudflare(maxAccountTokens=limit)),
                           apps=[loaded(oracle()), loaded(WEB)])
    found = [str(p) for p in backup_problems(inputs)]
    if refused:
        assert found == [f"Pulumi.test.yaml: minnova:cloudflare.maxAccountTokens: this stack would create {limit + 1} "
                         "Cloudflare account API tokens (one per backed-up app environment and cert-manager's), more "
                         f"than the {limit} it may create (hint: ask Cloudflare to raise the account's token quota, "
                         "then raise minnova:cloudflare.maxAccountTokens, or split the registry over more accounts)"]
    else:
        assert found == []


def test_the_cloudflare_floor_covers_every_input_the_program_passes(monkeypatch):
    """Record what a plan passes to pulumi_cloudflare; each must be in SDK_INPUTS_SINCE, no newer than the floor."""
    import inspect
    import re as re_module
    import tomllib

    import pulumi_cloudflare

    from components.cloudflare import SDK_INPUTS_SINCE
    from minnova_idp.plan.recorder import run_plan

    passed: set[tuple[str, str]] = set()
    originals = {}
    for name in ("Provider", "R2Bucket", "AccountToken", "AccountTokenPolicyArgs", "DnsRecord",
                 "get_account_api_token_permission_groups_list_output"):
        original = originals[name] = getattr(pulumi_cloudflare, name)

        def recording(*args, __name=name, __original=original, **kwargs):
            passed.update((__name, key) for key in kwargs if key != "opts")
            return __original(*args, **kwargs)

        monkeypatch.setattr(pulumi_cloudflare, name, recording)
    run_plan(PROJECT_DIR, "dev")
    run_plan(PROJECT_DIR, "prod")
    assert passed and passed <= set(SDK_INPUTS_SINCE), passed - set(SDK_INPUTS_SINCE)
    for (name, key) in passed:  # and the installed SDK has each of them (resources take them in _internal_init)
        target = originals[name]
        function = getattr(target, "_internal_init", None) or (target.__init__ if inspect.isclass(target) else target)
        assert key in inspect.signature(function).parameters, (name, key)
    floor = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())["project"]["optional-dependencies"]["platform"]
    (spec,) = [d for d in floor if d.startswith("pulumi-cloudflare")]
    minimum = re_module.search(r">=([0-9.]+)", spec)[1]
    version = lambda text: (tuple(int(part) for part in text.split(".")) + (0, 0))[:3]  # noqa: E731
    assert version(minimum) >= max(version(SDK_INPUTS_SINCE[item]) for item in passed)
    assert max(version(SDK_INPUTS_SINCE[item]) for item in passed) == (6, 12, 0)  # policies' resources as JSON


def test_the_readme_restore_procedure_against_the_plan(tmp_path):
    """docs/databases.md "Disaster recovery", step by step, on the example prod stack's plans."""
    from minnova_idp.plan.recorder import run_plan

    project = project_copy(tmp_path)
    app_yaml = project / "examples/oracle/.minnova/app.yaml"
    original = app_yaml.read_text()
    cache = tmp_path / "cache"

    def plan(database: str, previous: dict | None = None):
        app_yaml.write_text(original.replace("database: {instances: 3}", database))
        found = run_plan(project, "prod", cache_dir=cache, previous_outputs=previous)
        return {r.urn: r for r in found.resources}, found

    before, before_plan = plan("database: {instances: 3}")
    assert before_plan.outputs["databaseClusters"] == {"oracle-prod": "oracle-db"}
    # Step 2: declare the restore into a new name.
    during, during_plan = plan('database: {instances: 3, backupName: oracle-db-2, '
                               'restore: {fromBackup: oracle-db, targetTime: "2026-11-20T09:30:00Z"}}',
                               previous=before_plan.outputs)
    guide = (PROJECT_DIR / "docs/databases.md").read_text()
    old_cluster = ("urn:pulumi:prod::minnova-idp::minnova:index:Platform$minnova:index:MinnovaApp$"
                   "kubernetes:postgresql.cnpg.io/v1:Cluster::oracle-prod-cluster-oracle-db")
    assert old_cluster in guide  # the URN docs/databases.md tells you to unprotect is the real one
    changed = {urn for urn in before if urn in during and before[urn].as_json() != during[urn].as_json()}
    prefix = "urn:pulumi:prod::minnova-idp::minnova:index:Platform$minnova:index:MinnovaApp$kubernetes:"
    # Only the app's processes move (they read DATABASE_URL): the web process, the worker, the cron job.
    assert changed == {f"{prefix}apps/v1:Deployment::oracle-prod-deployment-oracle",
                       f"{prefix}apps/v1:Deployment::oracle-prod-deployment-oracle-worker",
                       f"{prefix}apps/v1:Deployment::oracle-prod-deployment-oracle-api",  # every process reads it
                       f"{prefix}batch/v1:CronJob::oracle-prod-cronjob-oracle-cleanup"}
    # Nothing holding data is removed: the old Cluster and its backups stay as they were. Only the weekly drill
    # moves to the database the app now uses (it holds nothing: a throwaway Cluster, created and deleted per run),
    # and the release Job is a new one (its name follows what it runs with: the database is part of that).
    removed = {before[urn].name for urn in set(before) - set(during)}
    assert {name for name in removed if "release" not in name} == {
        f"oracle-prod-{kind}-oracle-db-drill" for kind in ("configmap", "cronjob", "role", "rolebinding",
                                                           "serviceaccount", "networkpolicy")}
    new = during[old_cluster + "-2"].inputs
    assert new["spec"]["externalClusters"][0]["plugin"]["parameters"]["serverName"] == "oracle-db"
    assert new["spec"]["plugins"][0]["parameters"]["serverName"] == "oracle-db-2"
    assert during[old_cluster + "-2"].protect and during[old_cluster + "-2"].retain_on_delete
    deployment = during["urn:pulumi:prod::minnova-idp::minnova:index:Platform$minnova:index:MinnovaApp$"
                        "kubernetes:apps/v1:Deployment::oracle-prod-deployment-oracle"]
    assert old_cluster + "-2" in deployment.dependencies
    assert "oracle-db-2-app" in json.dumps(deployment.inputs)
    # Step 5: remove `restore`, keep backupName: the old Cluster is no longer declared; the guard agrees.
    after, after_plan = plan("database: {instances: 3, backupName: oracle-db-2}", previous=during_plan.outputs)
    assert old_cluster not in after and old_cluster + "-2" in after
    kept, declared_during = after[old_cluster + "-2"].inputs, during[old_cluster + "-2"].inputs
    # What differs once `restore` is gone: bootstrap and externalClusters (ignored on a live Cluster) and how long
    # Pulumi would wait for a recovery (an annotation only Pulumi reads).
    assert {key for key in kept["spec"] if kept["spec"].get(key) != declared_during["spec"].get(key)} | {
        key for key in declared_during["spec"] if key not in kept["spec"]} == {"bootstrap", "externalClusters"}
    assert {**kept["metadata"], "annotations": None} == {**declared_during["metadata"], "annotations": None}
    assert after_plan.outputs["databaseClusters"] == {"oracle-prod": "oracle-db-2"}


# ---- seed data --------------------------------------------------------------------------------------------------

def test_dev_can_be_seeded_too_and_prod_never_is_unless_asked(tmp_path):
    from minnova_idp.plan.recorder import run_plan

    project = project_copy(tmp_path)
    (project / "examples/oracle/.minnova/seed").mkdir()
    (project / "examples/oracle/.minnova/seed/demo.sql").write_text("select 1;\n")
    app_yaml = project / "examples/oracle/.minnova/app.yaml"
    app_yaml.write_text(app_yaml.read_text().replace(
        "database: {enabled: true, size: 5Gi}",
        "database: {enabled: true, size: 5Gi, seed: {files: [seed/demo.sql], environments: [dev]}}"))
    dev = {(m["kind"], m["metadata"]["name"]): m for m in run_plan(project, "dev", cache_dir=tmp_path / "c").manifests()}
    assert dev[("ConfigMap", "oracle-db-seed")]["data"]["demo.sql"] == "select 1;\n"
    assert dev[("Job", "oracle-db-seed")]["spec"]["template"]["spec"]["containers"][0]["command"][-2:] == [
        "-f", "/seed/minnova-seed.psql"]
    assert "annotations" not in dev[("Job", "oracle-db-seed")]["metadata"]  # sync waves are for previews only
    prod = {(m["kind"], m["metadata"]["name"]) for m in run_plan(project, "prod", cache_dir=tmp_path / "c").manifests()}
    assert ("ConfigMap", "oracle-db-seed") not in prod


@pytest.mark.parametrize("seed,message", [
    ("{files: [schema.sql]}", "database.seed.files[0]: 'schema.sql' must be a .sql file in .minnova/seed/"),
    ("{files: [seed/../../etc/x.sql]}", "must be a .sql file in .minnova/seed/"),
    ("{files: [seed/a.sql], environments: [staging]}", "database.seed.environments[0]: 'staging' is not one of"),
    ("{files: []}", "database.seed.files: List should have at least 1 item"),
])
def test_bad_seed_config_is_named(seed, message):
    from minnova_idp.model.errors import ConfigError

    text = BASE.replace("database: {enabled: true, size: 5Gi}", f"database: {{enabled: true, size: 5Gi, seed: {seed}}}")
    assert "seed" in text
    with pytest.raises(ConfigError) as caught:
        validate_document(AppConfig, load_yaml(text, "app.yaml"))
    assert any(message in str(p) for p in caught.value.problems), [str(p) for p in caught.value.problems]


def test_the_drill_outcome_is_readable_from_the_cli(tmp_path):
    """`minnova-idp drills` reads the CronJobs and Jobs with kubectl (a fake here, printing what a cluster would)."""
    import os
    import subprocess
    import sys
    from datetime import datetime, timedelta, timezone

    now = datetime.now(timezone.utc)
    stamp = lambda days: (now - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    cron_jobs = {"items": [
        {"metadata": {"namespace": "oracle-prod", "name": "oracle-db-drill"}, "status": {"lastSuccessfulTime": stamp(6)}},
        {"metadata": {"namespace": "shop-prod", "name": "shop-db-drill"}, "status": {"lastSuccessfulTime": stamp(20)}},
        {"metadata": {"namespace": "api-prod", "name": "api-db-drill"}, "status": {"lastSuccessfulTime": stamp(1)}}]}
    job = lambda ns, cron, name, days, kind: {  # noqa: E731
        "metadata": {"namespace": ns, "name": name, "ownerReferences": [{"kind": "CronJob", "name": cron}]},
        "status": {"startTime": stamp(days), "conditions": [{"type": kind, "status": "True"}]}}
    jobs = {"items": [job("oracle-prod", "oracle-db-drill", "oracle-db-drill-1", 6, "Complete"),
                      job("api-prod", "api-db-drill", "api-db-drill-1", 1, "Complete"),
                      job("api-prod", "api-db-drill", "api-db-drill-2", 0, "Failed")]}
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (tmp_path / "cronjobs.json").write_text(json.dumps(cron_jobs))
    (tmp_path / "jobs.json").write_text(json.dumps(jobs))
    (bin_dir / "kubectl").write_text(f"#!/bin/sh\ncase \"$*\" in *cronjobs*) cat {tmp_path}/cronjobs.json;; "
                                     f"*) cat {tmp_path}/jobs.json;; esac\n")
    (bin_dir / "kubectl").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    result = subprocess.run([sys.executable, "-m", "minnova_idp.cli", "drills", "--json"], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 4, result.stderr  # one failed, one overdue
    rows = {row["drill"]: row for row in json.loads(result.stdout)}
    assert rows["oracle-db-drill"]["healthy"] and rows["oracle-db-drill"]["latestRun"] == "passed"
    assert not rows["shop-db-drill"]["healthy"] and rows["shop-db-drill"]["latestRun"] == "never run"
    assert not rows["api-db-drill"]["healthy"] and rows["api-db-drill"]["latestRun"] == "failed"
    assert rows["api-db-drill"]["latestJob"] == "api-db-drill-2"
    text = subprocess.run([sys.executable, "-m", "minnova_idp.cli", "drills"], env=env, capture_output=True, text=True,
                          timeout=60).stdout
    assert "FAILING  api-prod/api-db-drill" in text and "OVERDUE  shop-prod/shop-db-drill" in text
