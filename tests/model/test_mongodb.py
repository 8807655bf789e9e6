"""model/mongodb.py: `mongodb:` and `environments.<env>.mongodb` as app developers write them."""

from __future__ import annotations

import pytest

from minnova_idp.load.validation import validate_document
from minnova_idp.load.yamlsafe import load_yaml
from minnova_idp.model.app_config import AppConfig
from minnova_idp.model.mongodb import retention_days
from tests.conftest import app_config_problems

BASE = ("name: shop\nimage: {repository: ghcr.io/acme/shop}\nport: 8080\n"
        "environments:\n  dev: {host: shop.dev.acme.dev}\n")


def config(text: str) -> AppConfig:
    return validate_document(AppConfig, load_yaml(text, "app.yaml"))


def test_defaults_and_what_an_environment_overrides():
    app = config(BASE.replace("port: 8080\n", "port: 8080\nmongodb: {enabled: true}\n")
                 + "  prod: {host: shop.acme.dev, mongodb: {instances: 3, clusterName: shop-mongodb-2}}\n")
    assert app.mongodb.enabled and app.mongodb.version == "8.0" and app.mongodb.size == "1Gi"
    assert app.mongodb.backup_retention == "30d"
    assert (app.mongodb_instances("dev"), app.mongodb_cluster("dev")) == (1, "shop-mongodb")
    assert (app.mongodb_instances("prod"), app.mongodb_cluster("prod")) == (3, "shop-mongodb-2")
    assert not config(BASE).mongodb.enabled


def test_retention_is_a_count_of_daily_backups():
    assert [retention_days(v) for v in ("30d", "4w", "6m")] == [30, 28, 180]


@pytest.mark.parametrize("extra,field,message", [
    ("mongodb: {enabled: true, version: \"6.0\"}\n", "mongodb.version", "'7.0' or '8.0'"),
    ("mongodb: {enabled: true, version: 8}\n", "mongodb.version", "'7.0' or '8.0'"),
    ("mongodb: {enabled: true, size: 5GB}\n", "mongodb.size", "5Gi"),
    ("mongodb: {enabled: true, size: 100Ti}\n", "mongodb.size", "more than a MongoDB volume may be"),
    ("mongodb: {enabled: true, backupRetention: 30x}\n", "mongodb.backupRetention", "not a retention period"),
    ("mongodb: {enabled: true, backupRetention: 500d}\n", "mongodb.backupRetention", "more than 400"),
    ("mongodb: {enabled: true, replicas: 3}\n", "mongodb.replicas", "unknown key"),
])
def test_bad_values_are_refused_naming_the_field(extra, field, message):
    found = app_config_problems(extra)
    assert any(f": {field}: " in p and message in p for p in found), found


def _with_env(env: str, top: str = "mongodb: {enabled: true}\n") -> list[str]:
    text = BASE.replace("port: 8080\n", "port: 8080\n" + top).replace("  dev: {host: shop.dev.acme.dev}\n", env)
    from minnova_idp.model.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        config(text)
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize("env,field,message", [
    ("  dev: {host: d.acme.dev, mongodb: {instances: 2}}\n", "environments.dev.mongodb.instances", "1, 3 or 5"),
    ("  dev: {host: d.acme.dev, mongodb: {clusterName: Shop}}\n", "environments.dev.mongodb.clusterName",
     "lowercase"),
    ("  dev: {host: d.acme.dev, mongodb: {clusterName: " + "a" * 41 + "}}\n",
     "environments.dev.mongodb.clusterName", "at most 40"),
    ("  dev: {host: d.acme.dev, mongodb: {restore: {fromCluster: shop-mongodb, backup: yesterday}}}\n",
     "environments.dev.mongodb.restore.backup", "PBM"),
    ("  dev: {host: d.acme.dev, mongodb: {restore: {fromCluster: shop-mongodb, backup: \"2026-11-20T03:00:21Z\", "
     "targetTime: \"2026-11-20 10:00\"}}}\n", "environments.dev.mongodb.restore.targetTime", "time zone"),
    # A restore creates a NEW cluster: into its own name it would mix two clusters' backups under one prefix.
    ("  dev: {host: d.acme.dev, mongodb: {restore: {fromCluster: shop-mongodb, backup: \"2026-11-20T03:00:21Z\"}}}\n",
     "environments.dev.mongodb.restore.fromCluster", "creates a new cluster"),
    ("  dev: {host: d.acme.dev, env: {MONGODB_URL: x}}\n", "environments.dev.env.MONGODB_URL", "set by the platform"),
])
def test_environment_settings_are_checked(env, field, message):
    found = _with_env(env)
    assert any(f": {field}: " in p and message in p for p in found), found


def test_environment_mongodb_needs_the_app_to_have_one():
    found = _with_env("  dev: {host: d.acme.dev, mongodb: {instances: 3}}\n", top="")
    assert any(": environments.dev.mongodb: " in p and "mongodb.enabled is false" in p for p in found), found


def test_mongodb_url_is_free_without_mongodb_and_other_engines_urls_are_untouched():
    app = config(BASE.replace("port: 8080\n", "port: 8080\nmongodb: {enabled: true}\nenv: {DATABASE_URL: x, "
                              "MYSQL_URL: y}\n"))
    assert app.env == {"DATABASE_URL": "x", "MYSQL_URL": "y"}  # MONGODB_URL is MongoDB's only
    assert config(BASE.replace("port: 8080\n", "port: 8080\nenv: {MONGODB_URL: mongodb://elsewhere}\n")).env


@pytest.mark.parametrize("name", ["admin", "local", "config"])
def test_an_app_named_after_a_mongodb_system_database_is_refused(name):
    """The app's database is its name: `admin` would give it readWrite on the system users and on PBM's own
    collections (admin.pbmConfig holds the R2 keys), `local` on the oplog, `config` on the cluster's metadata."""
    text = BASE.replace("name: shop", f"name: {name}").replace("port: 8080\n", "port: 8080\nmongodb: {enabled: true}\n")
    from minnova_idp.model.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        config(text)
    found = [str(p) for p in caught.value.problems]
    assert any(": mongodb.enabled: " in p and f"'{name}'" in p and "system database" in p for p in found), found
    config(text.replace("mongodb: {enabled: true}\n", ""))  # without MongoDB the name is fine
