"""The data half of an app's MariaDB as rendered (minnova_idp/render/mysql_data.py): backups, binlog archiving,
restores, seed Jobs; every object strictly against the CRDs of mariadb-operator 26.6.0 (tests/support/k8s_strict)."""

from __future__ import annotations

import pytest

from minnova_idp.model.app_config import AppConfig
from minnova_idp.model.mysql_data import mysql_backup_prefix, retention_duration
from minnova_idp.render.database import backup_target
from minnova_idp.render.mysql import mysql_placement, preview_mysql_placement
from minnova_idp.render.mysql_data import CLIENT_OPTIONS, attach_data, mariadb_data_spec, mysql_data_objects
from minnova_idp.render.mysql_placement import MysqlData, MysqlPlacement
from minnova_idp.render.resources import Lifecycle
from tests.support.k8s_strict import require_crds, validate_objects

LABELS = {"app.kubernetes.io/name": "shop", "app.kubernetes.io/instance": "shop-prod"}


def shop(mysql: dict | None = None, prod: dict | None = None, **extra) -> AppConfig:
    return AppConfig.model_validate({
        "name": "shop", "image": {"repository": "ghcr.io/acme/shop"}, "port": 8080,
        "mysql": {"enabled": True, **(mysql or {})},
        "environments": {"dev": {"host": "shop.dev.example.com"},
                         "prod": {"host": "shop.example.com", **({"mysql": prod} if prod else {})}},
        **extra})


def data(app: AppConfig, environment: str = "prod", seed=(), preview: bool = False) -> MysqlData:
    return placed(app, environment, seed, preview).data


def placed(app: AppConfig, environment: str = "prod", seed=(), preview: bool = False) -> MysqlPlacement:
    namespace = f"shop-{environment}"
    mysql = (preview_mysql_placement(app, namespace, "k" * 64) if preview else
             mysql_placement(app, environment, "k" * 64))
    backup = backup_target(app, environment, "acme", "0123456789abcdef")
    return attach_data(mysql, app, environment, backup, seed)


def objects(app: AppConfig, environment: str = "prod", preview: bool = False, **kw) -> dict[tuple[str, str], dict]:
    declared = mysql_data_objects("shop-prod", app, placed(app, environment, preview=preview, **kw), "shop-prod",
                                  LABELS, Lifecycle(retain_on_delete=True, protect=True), ("Namespace/x",),
                                  "KubernetesObject/m", "KubernetesObject/grant", {"app.kubernetes.io/name": "shop"})
    return {(o.manifest["kind"], o.manifest["metadata"]["name"]): o for o in declared}


def test_a_single_instance_gets_a_daily_full_backup_to_its_own_prefix_with_retention():
    found = objects(shop({"backupRetention": "2w"}))
    assert set(found) == {("PhysicalBackup", "shop-mysql-daily")}
    # the server's NetworkPolicy admits the platform's labelled clients (render/mysql.py client_pods)
    assert found[("PhysicalBackup", "shop-mysql-daily")].manifest["spec"]["podMetadata"] == {
        "labels": {"minnova.io/mysql-client": "shop-mysql"}}
    backup = found[("PhysicalBackup", "shop-mysql-daily")]
    spec = backup.manifest["spec"]
    assert spec["mariaDbRef"] == {"name": "shop-mysql"}
    # the operator's default target (Replica) would never back up a server without replicas
    assert spec["target"] == "PreferReplica"
    assert spec["maxRetention"] == "336h" and spec["schedule"]["immediate"] is True
    s3 = spec["storage"]["s3"]
    # the environment's own backup bucket (PostgreSQL's too), MariaDB's prefix in it, its one-bucket token's keys
    assert (s3["bucket"], s3["prefix"]) == ("acme-shop-prod", "mysql/shop-mysql/")
    assert s3["endpoint"] == "0123456789abcdef.r2.cloudflarestorage.com" and s3["tls"] == {"enabled": True}
    assert s3["accessKeyIdSecretKeyRef"]["name"] == "shop-backups-r2"
    assert backup.lifecycle.retain_on_delete and backup.lifecycle.protect
    assert "KubernetesObject/m" in backup.lifecycle.depends_on
    assert mariadb_data_spec(shop(), data(shop())) == {}  # no binlog archiving without replication


def test_a_replicated_server_archives_binlogs_for_point_in_time_recovery():
    app = shop(prod={"instances": 3})
    found = objects(app)
    pitr = found[("PointInTimeRecovery", "shop-mysql-pitr")].manifest["spec"]
    assert pitr["physicalBackupRef"] == {"name": "shop-mysql-daily"}
    assert pitr["storage"]["s3"]["prefix"] == "mysql/shop-mysql/binlogs/" and pitr["strictMode"] is True
    assert mariadb_data_spec(app, data(app)) == {"pointInTimeRecoveryRef": {"name": "shop-mysql-pitr"}}


def test_a_restore_creates_a_new_server_from_the_sources_prefix():
    app = shop(prod={"serverName": "shop-mysql-2",
                     "restore": {"fromBackup": "shop-mysql", "targetTime": "2026-11-20T09:30:00Z"}})
    placed = data(app)
    assert placed.server == "shop-mysql-2"
    bootstrap = mariadb_data_spec(app, placed)["bootstrapFrom"]
    # the source's full backups, read from its prefix: no object of the source needs to exist
    assert bootstrap["s3"]["prefix"] == mysql_backup_prefix("shop-mysql") and bootstrap["backupContentType"] == "Physical"
    assert bootstrap["targetRecoveryTime"] == "2026-11-20T09:30:00Z"
    # the new server backs up under its own prefix, never into the source's
    assert objects(app)[("PhysicalBackup", "shop-mysql-2-daily")].manifest["spec"]["storage"]["s3"]["prefix"] == \
        "mysql/shop-mysql-2/"


def test_a_restore_from_a_gone_source_declares_nothing_of_it():
    """sourceGone (review of issue 26, finding 2): no MariaDB, PhysicalBackup or PointInTimeRecovery of the source
    (one declared anew would be empty and back up, immediately, into the prefix being restored from), and the
    bootstrap reads the source's prefix even with 2+ instances (its PointInTimeRecovery object is gone)."""
    for instances in (1, 2):
        app = shop(prod={"instances": instances, "serverName": "shop-mysql-2",
                         "restore": {"fromBackup": "shop-mysql", "sourceGone": True}})
        declared = objects(app)
        assert not [key for key in declared if key[1] in ("shop-mysql", "shop-mysql-daily", "shop-mysql-pitr")]
        bootstrap = mariadb_data_spec(app, data(app))["bootstrapFrom"]
        assert bootstrap["s3"]["prefix"] == "mysql/shop-mysql/" and bootstrap["backupContentType"] == "Physical"
    kept = objects(shop(prod={"serverName": "shop-mysql-2", "restore": {"fromBackup": "shop-mysql"}}))
    assert ("PhysicalBackup", "shop-mysql-daily") in kept  # a running source stays declared as it runs


def test_a_replicated_restore_replays_the_sources_binlogs():
    app = shop(prod={"instances": 2, "serverName": "shop-mysql-2",
                     "restore": {"fromBackup": "shop-mysql", "targetTime": "2026-11-20T09:30:00Z"}})
    spec = mariadb_data_spec(app, data(app))
    assert spec["bootstrapFrom"] == {"pointInTimeRecoveryRef": {"name": "shop-mysql-pitr"},
                                     "targetRecoveryTime": "2026-11-20T09:30:00Z"}
    assert spec["pointInTimeRecoveryRef"] == {"name": "shop-mysql-2-pitr"}


def test_restoring_into_the_running_server_is_refused():
    problems = dict(shop(prod={"restore": {"fromBackup": "shop-mysql"}}).cross_field_problems())
    assert "is also the server this environment runs" in problems[("environments", "prod", "mysql", "restore",
                                                                   "fromBackup")]
    assert not shop(prod={"serverName": "shop-mysql-2", "restore": {"fromBackup": "shop-mysql"}}).cross_field_problems()


def test_a_postgresql_server_named_like_the_mysql_prefix_is_refused():
    app = shop(database={"enabled": True}, environments={"prod": {"host": "shop.example.com",
                                                                  "database": {"backupName": "mysql"}}})
    assert ("environments", "prod", "database", "backupName") in dict(app.cross_field_problems())


def test_retention_is_a_duration_the_operator_reads():
    assert retention_duration("30d") == "720h" and retention_duration("4w") == "672h"
    with pytest.raises(ValueError):
        shop({"backupRetention": "6m"})  # months are not a fixed duration


def test_a_preview_has_no_backups_and_its_seed_runs_as_a_token_less_sync_hook():
    app = shop({"seed": {"files": ["seed/a.sql"]}})
    found = objects(app, seed=(("a.sql", "CREATE TABLE t (id int);\n"),), preview=True)
    assert {kind for kind, _ in found} == {"ConfigMap", "Job"}
    job = found[("Job", "shop-mysql-seed")].manifest
    pod = job["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False and pod["securityContext"]["runAsNonRoot"] is True
    assert job["metadata"]["annotations"]["argocd.argoproj.io/hook"] == "Sync"
    (container,) = pod["containers"]
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}
    assert env["EDITOR"] == env["VISUAL"] == "/bin/false"
    assert env["MYSQL_PWD"] == {"secretKeyRef": {"name": "shop-mysql-app", "key": "password"}}
    assert env["MYSQL_HOST"] == "shop-mysql.shop-prod.svc" and "MYSQL_URL" not in env and "MYSQL_PASSWORD" not in env
    script = found[("ConfigMap", "shop-mysql-seed")].manifest["data"]["minnova-seed.sh"]
    # every client run is hardened: the marker check, its done flag, the table check, the marker, each file, done
    assert script.count(" ".join(CLIENT_OPTIONS)) == script.count("mariadb ") == 6
    assert container["command"] == ["bash", "/seed/minnova-seed.sh", "/seed/a.sql"]


def test_a_restore_is_not_seeded():
    app = shop({"seed": {"files": ["seed/a.sql"], "environments": ["prod"]}},
               prod={"serverName": "shop-mysql-2", "restore": {"fromBackup": "shop-mysql"}})
    assert not [k for k in objects(app, seed=(("a.sql", "x"),)) if k[0] == "Job"]


def test_every_object_validates_against_the_operators_crds():
    require_crds()
    manifests = []
    for app in (shop({"seed": {"files": ["seed/a.sql"], "environments": ["prod"]}}, prod={"instances": 3}),
                shop(prod={"serverName": "shop-mysql-2", "restore": {"fromBackup": "shop-mysql",
                                                                     "targetTime": "2026-11-20T09:30:00Z"}})):
        manifests += [o.manifest for o in objects(app, seed=(("a.sql", "x"),)).values()]
        spec = mariadb_data_spec(app, data(app))
        # the MariaDB's own spec is render/mysql.py's; what this module adds must fit the CRD beside a minimal one
        manifests.append({"apiVersion": "k8s.mariadb.com/v1alpha1", "kind": "MariaDB",
                          "metadata": {"name": data(app).server, "namespace": "shop-prod"},
                          "spec": {"storage": {"size": "1Gi"}, **spec}})
    validate_objects(manifests)


def test_a_restore_keeps_the_source_server_declared_as_it_runs():
    app = shop(prod={"serverName": "shop-mysql-2", "restore": {"fromBackup": "shop-mysql"}})
    found = objects(app)
    source = found[("MariaDB", "shop-mysql")]
    assert "bootstrapFrom" not in source.manifest["spec"]  # never re-bootstrapped
    assert source.lifecycle.retain_on_delete and source.lifecycle.protect
    # both servers keep backing up, each under its own prefix
    assert {name for kind, name in found if kind == "PhysicalBackup"} == {"shop-mysql-daily", "shop-mysql-2-daily"}
    assert found[("PhysicalBackup", "shop-mysql-daily")].lifecycle.depends_on[-1] == source.key
    # still behind its own ingress policy (the namespace-wide one leaves MariaDB's pods out)
    policy = found[("NetworkPolicy", "shop-mysql")].manifest["spec"]
    assert policy["podSelector"]["matchLabels"]["app.kubernetes.io/instance"] == "shop-mysql"


def test_the_drill_restores_the_latest_backup_into_a_throwaway_server_that_never_backs_up():
    from minnova_idp.render.mysql_drill import mysql_drill_objects
    import json

    app = shop(prod={"instances": 3})
    mysql = attach_data(mysql_placement(app, "prod", "k" * 64), app, "prod",
                        backup_target(app, "prod", "acme", "0123456789abcdef"), drill_schedule="0 5 * * 0")
    found = {(o.manifest["kind"], o.manifest["metadata"]["name"]): o.manifest
             for o in mysql_drill_objects("shop-prod", app, mysql, "shop-prod", LABELS, None, ("Namespace/x",))}
    assert ("CronJob", "shop-mysql-drill") in found and ("NetworkPolicy", "shop-mysql-drill") in found
    files = found[("ConfigMap", "shop-mysql-drill")]["data"]
    server = json.loads(files["mariadb.yaml"])
    assert server["metadata"]["name"] == "shop-mysql-drill" and server["spec"]["replicas"] == 1
    assert server["spec"]["bootstrapFrom"]["s3"]["prefix"] == "mysql/shop-mysql/"
    assert "targetRecoveryTime" not in server["spec"]["bootstrapFrom"]  # the latest backup
    assert "pointInTimeRecoveryRef" not in server["spec"]  # never archives into the backups it tests
    check = json.loads(files["check-job.yaml"])
    pod = check["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env["MYSQL_HOST"] == "shop-mysql-drill.shop-prod.svc" and env["EDITOR"] == "/bin/false"
    rules = found[("Role", "shop-mysql-drill")]["rules"]
    assert {"apiGroups": ["k8s.mariadb.com"], "resources": ["mariadbs"], "resourceNames": ["shop-mysql-drill"],
            "verbs": ["get", "list", "watch", "delete"]} in rules
    assert not [r for r in rules if "secrets" in r["resources"]]
    require_crds()
    validate_objects([*found.values(), server, check])
    # off for the app, or with no schedule: nothing
    off = shop({"restoreDrill": False}, prod={"instances": 3})
    assert mysql_drill_objects("p", off, attach_data(mysql_placement(off, "prod", "k" * 64), off, "prod",
                                                     backup_target(off, "prod", "a", "b"), drill_schedule="0 5 * * 0"),
                               "n", LABELS, None, ()) == []


def test_a_restore_reads_only_the_environments_own_bucket():
    """`restore.fromBackup` is a server name, never a bucket, namespace or Secret: naming another app's server reads
    this environment's own bucket (where that prefix is empty, so the restore fails) with this environment's key."""
    app = shop(prod={"serverName": "shop-mysql-2", "restore": {"fromBackup": "blog-mysql"}})
    bootstrap = mariadb_data_spec(app, data(app))["bootstrapFrom"]["s3"]
    assert bootstrap["bucket"] == "acme-shop-prod" and bootstrap["prefix"] == "mysql/blog-mysql/"
    assert bootstrap["accessKeyIdSecretKeyRef"]["name"] == "shop-backups-r2"


def test_status_says_where_the_backups_are_and_what_a_restore_brings_back():
    from minnova_idp.model.inputs import ProgramInputs
    from minnova_idp.render.status import stack_status
    from tests.render.test_database import loaded, stack

    def line(app, environment="prod"):
        inputs = ProgramInputs(stack=stack(environments=f'["{environment}"]'), apps=[loaded(app)])
        (row,) = stack_status(inputs)
        return row.mysql

    single = line(shop())
    assert "server shop-mysql)" in single and "acme-shop-prod/mysql/shop-mysql/" in single
    assert "kept 30d" in single and "to the last full backup only" in single and "drill '" in single
    assert "to any second (binlogs archived)" in line(shop(prod={"instances": 3}))
    restored = line(shop({"restoreDrill": False}, prod={"serverName": "shop-mysql-2",
                                                        "restore": {"fromBackup": "shop-mysql"}}))
    assert "server shop-mysql-2)" in restored and "restored from shop-mysql (shop-mysql kept until removed)" in restored
    assert restored.endswith("no drill")


def test_a_server_name_never_takes_an_app_service_and_no_process_takes_the_servers():
    """Review of issue 26, finding 4: the operator's ServiceReconciler overwrites the selector of an existing Service
    of the MariaDB's names (mariadb-operator@v26.6.0 pkg/controller/service/controller.go:35-55)."""
    workers = {"processes": {"api": {"command": ["api"], "port": 9000}}}
    for server in ("shop", "shop-redis", "shop-api", "shop-mysql-drill"):
        problems = dict(shop(prod={"serverName": server}, **workers).cross_field_problems())
        assert ("environments", "prod", "mysql", "serverName") in problems, server
    problems = dict(shop(prod={"serverName": "shop"}).cross_field_problems())
    assert "'shop' would be the app's own Service" in problems[("environments", "prod", "mysql", "serverName")]
    # `<server>-primary` is one of the MariaDB's Services too
    clash = {"processes": {"x-primary": {"command": ["api"], "port": 9000}}}
    assert ("environments", "prod", "mysql", "serverName") in dict(
        shop(prod={"serverName": "shop-x"}, **clash).cross_field_problems())
    assert not shop(prod={"serverName": "shop-mysql-2"}, **workers).cross_field_problems()
    problems = dict(shop(processes={"mysql-primary": {"command": ["api"], "port": 9000}}).cross_field_problems())
    assert "is reserved while mysql.enabled is true" in problems[("processes", "mysql-primary")]
    assert not AppConfig.model_validate({**shop().model_dump(by_alias=True, exclude_none=True), "mysql": {},
                                         "processes": {"mysql-primary": {"command": ["x"]}}}).cross_field_problems()


def test_a_server_name_never_takes_a_postgres_or_mongodb_service_of_the_app():
    """Re-review of issue 26: `serverName: <app>-db-rw` was accepted beside PostgreSQL; the MariaDB's Service would take
    CloudNativePG's read-write Service (the one DATABASE_URL names), which CNPG then refuses to reconcile
    (cloudnative-pg@v1.30.0 internal/controller/cluster_create.go:416-417)."""
    both = {"database": {"enabled": True}}
    for server in ("shop-db-rw", "shop-db-ro", "shop-db-r", "shop-db-drill-rw"):
        problems = dict(shop(prod={"serverName": server}, **both).cross_field_problems())
        assert "a Service of CloudNativePG's Cluster" in problems[("environments", "prod", "mysql", "serverName")], server
    mongo = {"mongodb": {"enabled": True}}
    problems = dict(shop(prod={"serverName": "shop-mongodb-rs0"}, **mongo).cross_field_problems())
    assert "PerconaServerMongoDB shop-mongodb" in problems[("environments", "prod", "mysql", "serverName")]
    assert not shop(prod={"serverName": "shop-mysql-2"}, **both).cross_field_problems()


def test_a_server_name_equal_to_the_postgres_cluster_is_reported_where_the_file_sets_it():
    problems = dict(shop(prod={"serverName": "shop-db"}, database={"enabled": True}).cross_field_problems())
    assert ("environments", "prod", "mysql", "serverName") in problems
    assert ("environments", "prod", "database", "backupName") not in problems
