"""An app's MySQL-compatible database (render/mysql.py): MariaDB, its database, user and grant, the Secret, the
variables the app gets, and who can reach it; previews; the plan; the guards (policy/mysql_guards.py)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from minnova_idp.load.validation import validate_document
from minnova_idp.load.yamlsafe import load_yaml
from minnova_idp.model import versions
from minnova_idp.model.app_config import AppConfig
from minnova_idp.model.errors import ConfigError
from minnova_idp.model.secrets import SECRET_PLACEHOLDER
from minnova_idp.plan.recorder import run_plan, write_plan
from minnova_idp.render import mysql as mariadb
from minnova_idp.render import redis as valkey
from minnova_idp.render.app import app_objects
from minnova_idp.render.placement import RenderSettings, environment_placement
from minnova_idp.render.preview import PreviewRequest, render_preview
from minnova_idp.render.resources import KubernetesObject, plain
from tests.conftest import PROJECT_DIR, resource_named
from tests.support.k8s_strict import require_crds, validate_objects
from tests.support.pod_security import restricted_problems

KEY = "k" * 64
SETTINGS = RenderSettings(deployment="acme", ingress_class="traefik", cluster_issuer=None, network_policies=True)
APP = """name: books
image: {repository: ghcr.io/acme/books}
port: 8080
mysql: {enabled: true, size: 3Gi}
processes:
  mailer: {command: [bin/mailer]}
cron:
  sweep: {schedule: "@hourly", command: [bin/sweep], previews: true}
release: {command: [bin/migrate]}
environments:
  dev: {host: books.dev.acme.dev}
  prod: {host: books.acme.dev, mysql: {instances: 3}}
"""
REQUEST = PreviewRequest(app="books", pr_number=7, head_sha="a" * 40, preview_domain="preview.acme.dev",
                         deployment="acme", ingress_class="traefik")
# Global privileges no app user may hold (a database-level grant cannot carry them; this list must never name one)
GLOBAL_PRIVILEGES = {"FILE", "SUPER", "PROCESS", "RELOAD", "SHUTDOWN", "CREATE USER", "REPLICATION SLAVE",
                     "REPLICATION CLIENT", "BINLOG ADMIN", "CONNECTION ADMIN", "READ_ONLY ADMIN", "ALL",
                     "ALL PRIVILEGES", "GRANT OPTION"}


def config(text: str = APP) -> AppConfig:
    return validate_document(AppConfig, load_yaml(text, "app.yaml"))


def declared(environment: str = "dev", protected: bool = False, text: str = APP) -> dict:
    app = config(text)
    placement = environment_placement(app, environment, "1.0.0", password_key=KEY)
    return {(o.manifest["kind"], o.manifest["metadata"]["name"]): o
            for o in app_objects(app, placement, SETTINGS, protected=protected) if isinstance(o, KubernetesObject)}


def preview(text: str = APP, key: str = KEY) -> dict:
    return {(o["kind"], o["metadata"]["name"]): o
            for o in render_preview(config(text), REQUEST, None, password_key=valkey.preview_password_key(key))}


def env_of(manifest: dict) -> dict:
    spec = manifest["spec"]
    pod = spec["jobTemplate"]["spec"]["template"] if manifest["kind"] == "CronJob" else spec["template"]
    return {e["name"]: e for e in pod["spec"]["containers"][0]["env"]}


def test_one_instance_in_dev_replication_in_prod_every_object_strictly_valid():
    require_crds()
    dev, prod = declared("dev"), declared("prod")
    single, replicated = dev[("MariaDB", "books-mysql")].manifest, prod[("MariaDB", "books-mysql")].manifest
    assert single["spec"]["replicas"] == 1 and "replication" not in single["spec"]
    assert replicated["spec"]["replicas"] == 3
    replication = replicated["spec"]["replication"]
    assert replication["enabled"] and replication["semiSyncEnabled"] and replication["semiSyncWaitPoint"] == "AfterSync"
    assert replication["initContainer"]["image"] == "ghcr.io/mariadb-operator/mariadb-operator:26.6.0"
    assert "galera" not in replicated["spec"]
    for spec in (single["spec"], replicated["spec"]):
        assert spec["image"] == versions.MARIADB_IMAGES[versions.DEFAULT_MARIADB_VERSION] == "docker.io/library/mariadb:11.8.8"
        assert spec["storage"]["size"] == "3Gi" and spec["port"] == 3306
        assert spec["storage"]["pvcRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
        assert spec["rootPasswordSecretKeyRef"] == {"name": "books-mysql-root", "key": "password", "generate": True}
        assert {"name": "MARIADB_AUTO_UPGRADE", "value": "1"} in spec["env"]
    validate_objects([plain(o.manifest) for o in (*dev.values(), *prod.values())])


def test_pods_meet_the_restricted_pod_security_standard():
    """The namespace enforces "restricted" (render/app.py): pods the operator makes from this must pass it."""
    spec = declared("prod")[("MariaDB", "books-mysql")].manifest["spec"]
    pod = spec["podSecurityContext"]
    assert pod["runAsNonRoot"] and pod["seccompProfile"] == {"type": "RuntimeDefault"} and pod["runAsUser"] == 999
    assert restricted_problems(pod, {"mariadb": spec["securityContext"],
                                     "init": spec["replication"]["initContainer"]["securityContext"],
                                     "agent": spec["replication"]["agent"]["securityContext"]}) == []


def test_the_app_user_gets_its_own_database_and_nothing_global():
    objects = declared()
    grant = objects[("Grant", "books-mysql")].manifest["spec"]
    assert grant["database"] == "books" and grant["table"] == "*" and grant["username"] == "books"
    assert grant["grantOption"] is False and grant["host"] == "%"
    assert not set(grant["privileges"]) & GLOBAL_PRIVILEGES
    assert {"SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "ALTER", "DROP", "INDEX"} <= set(grant["privileges"])
    user = objects[("User", "books-mysql")].manifest["spec"]
    assert user["name"] == "books" and user["passwordSecretKeyRef"] == {"name": "books-mysql-app", "key": "password"}
    database = objects[("Database", "books-mysql")].manifest["spec"]
    assert database["name"] == "books" and database["characterSet"] == "utf8mb4"
    for kind in ("Database", "User", "Grant"):
        spec = objects[(kind, "books-mysql")].manifest["spec"]
        assert spec["cleanupPolicy"] == "Skip", kind  # deleting the object never drops data or the user
        assert spec["mariaDbRef"] == {"name": "books-mysql", "waitForIt": True}  # no namespace: its own


def test_an_app_with_dashes_gets_underscored_identifiers():
    objects = declared(text=APP.replace("name: books", "name: book-keeper"))
    assert objects[("Grant", "book-keeper-mysql")].manifest["spec"]["database"] == "book_keeper"
    assert objects[("User", "book-keeper-mysql")].manifest["spec"]["name"] == "book_keeper"


def test_data_is_retained_always_and_protected_where_the_environment_is():
    prod, dev = declared("prod", protected=True), declared("dev")
    for kind in ("MariaDB", "Database"):
        assert prod[(kind, "books-mysql")].lifecycle.retain_on_delete and prod[(kind, "books-mysql")].lifecycle.protect
        assert dev[(kind, "books-mysql")].lifecycle.retain_on_delete and not dev[(kind, "books-mysql")].lifecycle.protect


def test_every_process_gets_mysql_variables_from_the_secret_and_waits_for_its_grant():
    objects = declared("prod")
    grant = objects[("Grant", "books-mysql")]
    for kind, name in [("Deployment", "books"), ("Deployment", "books-mailer"), ("CronJob", "books-sweep")]:
        env = env_of(objects[(kind, name)].manifest)
        assert env["MYSQL_URL"]["valueFrom"] == {"secretKeyRef": {"name": "books-mysql-app", "key": "url"}}
        assert env["MYSQL_PASSWORD"]["valueFrom"] == {"secretKeyRef": {"name": "books-mysql-app", "key": "password"}}
        assert env["MYSQL_HOST"]["value"] == "books-mysql-primary.books-prod.svc"  # replication: the primary
        assert (env["MYSQL_PORT"]["value"], env["MYSQL_USER"]["value"], env["MYSQL_DATABASE"]["value"]) == (
            "3306", "books", "books")
        assert "DATABASE_URL" not in env
        assert grant.key in objects[(kind, name)].lifecycle.depends_on
    assert env_of(declared("dev")[("Deployment", "books")].manifest)["MYSQL_HOST"]["value"] == "books-mysql.books-dev.svc"


def test_database_url_only_when_asked():
    objects = declared(text=APP.replace("size: 3Gi}", "size: 3Gi, databaseUrl: true}"))
    env = env_of(objects[("Deployment", "books")].manifest)
    assert env["DATABASE_URL"]["valueFrom"] == {"secretKeyRef": {"name": "books-mysql-app", "key": "url"}}


def test_the_password_is_a_secret_derived_per_namespace_and_the_url_agrees():
    def data(environment: str) -> dict:
        return plain(declared(environment)[("Secret", "books-mysql-app")].manifest["stringData"])

    dev, prod = data("dev"), data("prod")
    assert dev == data("dev") and dev["password"] != prod["password"] and len(dev["password"]) == 64
    assert dev["password"] == mariadb.mysql_password(KEY, "books-dev") != valkey.redis_password(KEY, "books-dev")
    url = urlsplit(prod["url"])
    assert (url.scheme, url.username, url.password, url.hostname, url.port, url.path) == (
        "mysql", "books", prod["password"], "books-mysql-primary.books-prod.svc", 3306, "/books")
    assert type(declared()[("Secret", "books-mysql-app")].manifest["stringData"]).__name__ == "Secret"


def test_a_new_password_rolls_the_apps_deployments():
    def annotations(key: str) -> dict:
        app = config()
        placement = environment_placement(app, "dev", "1.0.0", password_key=key)
        return {o.manifest["metadata"]["name"]: o.manifest["spec"]["template"]["metadata"].get("annotations", {})
                for o in app_objects(app, placement, SETTINGS)
                if isinstance(o, KubernetesObject) and o.manifest["kind"] == "Deployment"}

    before, after = annotations(KEY), annotations("z" * 64)
    assert set(before) == {"books", "books-mailer"}
    for name in before:
        assert before[name]["minnova.io/mysql-url-sha256"] != after[name]["minnova.io/mysql-url-sha256"]
    assert before == annotations(KEY)


def _selects(selector: dict, labels: dict) -> bool:
    """A LabelSelector (matchLabels, In/NotIn matchExpressions) against pod labels, as Kubernetes evaluates it."""
    if not all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        present = labels.get(expression["key"]) in expression["values"]
        if present != (expression["operator"] == "In"):
            return False
    return True


def _server_pod_labels(mariadb_manifest: dict) -> dict:
    """The labels the operator gives the server's pods: its own (mariadb-operator@v26.6.0
    pkg/builder/labels/labels.go:13-19, 56-59) and the CR's podMetadata."""
    return {"app.kubernetes.io/name": "mariadb", "app.kubernetes.io/instance": mariadb_manifest["metadata"]["name"],
            **mariadb_manifest["spec"]["podMetadata"]["labels"]}


def _admits(policy: dict, source_namespace: str, source_labels: dict, namespace: str, port: int) -> bool:
    """Whether one ingress NetworkPolicy admits a connection from a pod (namespace, labels) to `port`."""
    for rule in policy["spec"].get("ingress", []):
        if "ports" in rule and not any(p["port"] == port for p in rule["ports"]):
            continue
        for peer in rule.get("from", []):
            ns_ok = ("namespaceSelector" not in peer and source_namespace == namespace) or (
                "namespaceSelector" in peer and _selects(peer["namespaceSelector"],
                                                         {"kubernetes.io/metadata.name": source_namespace,
                                                          "app.kubernetes.io/managed-by": "minnova-idp"
                                                          if source_namespace.startswith("other-") else "helm"}))
            pod_ok = "podSelector" not in peer or _selects(peer["podSelector"], source_labels)
            if ns_ok and pod_ok:
                return True
    return False


@pytest.mark.parametrize("where", ["prod", "preview"])
def test_another_app_cannot_reach_this_apps_mysql_nor_name_its_secret(where):
    """The trust model (issue 22): only the app's own pods, the server's own, the operator's namespace and the
    platform's labelled clients reach port 3306; another app's pods (another namespace) never do."""
    objects = ({key: o.manifest for key, o in declared("prod").items()} if where == "prod" else preview())
    namespace = objects[("MariaDB", "books-mysql")]["metadata"]["namespace"]
    server = _server_pod_labels(objects[("MariaDB", "books-mysql")])
    policies = [o for (kind, _), o in objects.items() if kind == "NetworkPolicy" and
                "Ingress" in o["spec"]["policyTypes"] and _selects(o["spec"]["podSelector"], server)]
    # Policies add up: the namespace-wide one must leave the server's pods to their own.
    assert [p["metadata"]["name"] for p in policies] == ["books-mysql"]

    def reaches(source_namespace: str, labels: dict) -> bool:
        return any(_admits(p, source_namespace, labels, namespace, 3306) for p in policies)

    app_pod = objects[("Deployment", "books")]["spec"]["template"]["metadata"]["labels"]
    assert reaches(namespace, app_pod)
    assert reaches("mariadb-operator", {"app.kubernetes.io/name": "mariadb-operator"})
    assert reaches(namespace, {mariadb.CLIENT_LABEL: "books-mysql"})  # the data half's backup jobs
    other_app = {**app_pod, "app.kubernetes.io/instance": "other-prod"}
    assert not reaches("other-prod", other_app)  # another app, even with the same labels
    assert not reaches("other-prod", {"app.kubernetes.io/name": "mariadb", "app.kubernetes.io/instance": "books-mysql"})
    assert not reaches("traefik", {"app.kubernetes.io/name": "traefik"})  # not even the ingress controller
    assert not reaches(namespace, {"app.kubernetes.io/name": "something-else"})
    # Secrets are namespaced and named by the platform: every reference is to this namespace's own objects
    # (a secretKeyRef has no namespace field; the CRs' references have none either).
    secret = objects[("Secret", "books-mysql-app")]
    assert secret["metadata"]["namespace"] == namespace
    for kind in ("User", "Database", "Grant"):
        assert set(objects[(kind, "books-mysql")]["spec"]["mariaDbRef"]) == {"name", "waitForIt"}


def test_app_yaml_cannot_point_at_another_apps_database():
    """Nothing in `mysql:` names a server, a secret or a namespace: an app cannot ask for another app's."""
    from minnova_idp.model.mysql import EnvironmentMysql, Mysql

    assert set(Mysql.model_fields) == {"enabled", "version", "size", "resources", "database_url",
                                       "backup_retention", "restore_drill", "seed"}
    # serverName and restore.fromBackup name servers only inside the app environment's own namespace and its own
    # backup bucket (tests/render/test_mysql_data.py test_a_restore_reads_only_the_environments_own_bucket)
    assert set(EnvironmentMysql.model_fields) == {"instances", "server_name", "restore"}


def test_a_preview_gets_one_small_instance_of_its_own_with_a_stable_password():
    require_crds()
    objects = preview()
    server = objects[("MariaDB", "books-mysql")]
    assert server["metadata"]["namespace"] == "books-pr-7" and server["spec"]["replicas"] == 1
    assert server["spec"]["storage"]["size"] == mariadb.PREVIEW_SIZE and "replication" not in server["spec"]
    password = objects[("Secret", "books-mysql-app")]["stringData"]["password"]
    assert password == mariadb.mysql_password(valkey.preview_password_key(KEY), "books-pr-7")
    assert password == preview()[("Secret", "books-mysql-app")]["stringData"]["password"]  # every re-render
    assert password != mariadb.mysql_password(KEY, "books-pr-7")  # the stack's own key opens nothing here
    # In the first wave, with the database: the app's processes wait (render/waves.py).
    assert "argocd.argoproj.io/sync-wave" not in server["metadata"].get("annotations", {})
    assert objects[("Deployment", "books")]["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"] == "3"
    validate_objects(list(objects.values()))


def test_a_preview_without_the_sidecar_key_is_refused():
    with pytest.raises(ConfigError) as caught:
        render_preview(config(), REQUEST, None, password_key=None)
    assert [p.field for p in caught.value.problems] == ["mysql.enabled"]


def test_the_plan_shows_no_password_and_protects_prods_data(tmp_path, dev_plan):
    write_plan(dev_plan, tmp_path / "plan")
    secret = resource_named(dev_plan, "ledger-dev-secret-ledger-mysql-app")
    assert set(secret.inputs["stringData"].values()) == {SECRET_PLACEHOLDER}
    password = mariadb.mysql_password(SECRET_PLACEHOLDER, "ledger-dev")
    written = [p for p in (tmp_path / "plan").rglob("*") if p.is_file()]
    assert written and not any(password in p.read_text() for p in written)
    server = resource_named(dev_plan, "ledger-dev-mariadb-ledger-mysql")
    assert server.retain_on_delete
    operator = resource_named(dev_plan, "mariadb-operator")
    assert {operator.urn, resource_named(dev_plan, "mariadb-operator-crds").urn} <= set(server.dependencies)
    prod = run_plan(PROJECT_DIR, "prod")
    prod_server = resource_named(prod, "ledger-prod-mariadb-ledger-mysql")
    assert prod_server.protect and prod_server.retain_on_delete and prod_server.inputs["spec"]["replicas"] == 3


@pytest.mark.parametrize("previous, field, message", [
    ({"mysqlSizes": {"ledger-dev": "5Gi"}}, "mysql.size",
     "'2Gi' is smaller than the 5Gi deployed in dev; MySQL volumes can grow but never shrink"),
    ({"mysqlVersions": {"ledger-dev": "12.3"}}, "mysql.version",
     "MariaDB 11.8 is older than the 12.3 that environments.dev runs"),
    ({"mysqlInstances": {"ledger-dev": "3"}}, "environments.dev.mysql.instances",
     "1 in place of the 3 that dev runs turns replication off"),
])
def test_what_would_lose_data_is_refused_before_anything_registers(previous, field, message):
    with pytest.raises(ConfigError) as caught:
        run_plan(PROJECT_DIR, "dev", previous_outputs=previous)
    problems = [str(p) for p in caught.value.problems]
    assert problems[0].startswith(f"examples/ledger/.minnova/app.yaml: {field}: ") and message in problems[0], problems


def test_growing_and_upgrading_are_allowed():
    plan = run_plan(PROJECT_DIR, "dev", previous_outputs={"mysqlSizes": {"ledger-dev": "1Gi"},
                                                          "mysqlVersions": {"ledger-dev": "10.11"},
                                                          "mysqlInstances": {"ledger-dev": "1"}})
    assert (plan.outputs["mysqlSizes"], plan.outputs["mysqlVersions"], plan.outputs["mysqlInstances"]) == (
        {"ledger-dev": "2Gi"}, {"ledger-dev": "11.8"}, {"ledger-dev": "1"})
