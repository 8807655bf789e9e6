"""`mysql:` in app.yaml: defaults, versions as YAML writes them, and every mistake named with its line."""

from __future__ import annotations

import pytest

from minnova_idp.load.validation import validate_document
from minnova_idp.load.yamlsafe import load_yaml
from minnova_idp.model import versions
from minnova_idp.model.app_config import AppConfig
from minnova_idp.model.errors import ConfigError
from minnova_idp.model.mysql import Mysql, mysql_instances

APP = """\
name: ledger
image: {repository: registry.example.com/ledger}
port: 8080
mysql: {enabled: true}
environments:
  dev:  {host: ledger.dev.example.com}
  prod: {host: ledger.example.com, mysql: {instances: 3}}
"""


def load(text: str) -> AppConfig:
    return validate_document(AppConfig, load_yaml(text, "repo/.minnova/app.yaml"))


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(text)
    return [str(p) for p in caught.value.problems]


def test_defaults_and_per_environment_instances():
    app = load(APP)
    assert app.mysql.enabled and app.mysql.version == versions.DEFAULT_MARIADB_VERSION
    assert app.mysql.size == "1Gi" and not app.mysql.database_url
    assert app.mysql.resources.limits.memory == "1Gi"
    assert mysql_instances(app, "dev") == 1 and mysql_instances(app, "prod") == 3


def test_no_mysql_by_default():
    assert not load(APP.replace("mysql: {enabled: true}\n", "").replace(", mysql: {instances: 3}", "")).mysql.enabled


@pytest.mark.parametrize("written, series", [("10.11", "10.11"), ('"10.11"', "10.11"), ("11.8", "11.8"),
                                             ("'11.8'", "11.8")])
def test_version_written_as_a_yaml_number_or_a_string(written, series):
    assert load(APP.replace("{enabled: true}", f"{{enabled: true, version: {written}}}")).mysql.version == series


def test_version_literal_is_the_pinned_images_keys():
    from typing import get_args

    assert set(get_args(Mysql.model_fields["version"].annotation)) == set(versions.MARIADB_IMAGES)


@pytest.mark.parametrize("mysql, where, why", [
    ("{enabled: true, version: 10.1}", "mysql.version", "'10.11' or '11.8'"),
    ("{enabled: true, version: 8.0}", "mysql.version", "'10.11' or '11.8'"),
    ("{enabled: true, size: 5GB}", "mysql.size", "5GB"),
    ("{enabled: true, size: 65Ti}", "mysql.size", "more than a MySQL volume may be"),
    ("{enabled: true, sise: 5Gi}", "mysql.sise", "did you mean 'size'"),
    ("{enabled: true, resources: {requests: {memory: 2Gi}, limits: {memory: 1Gi}}}", "mysql.resources",
     "below requests.memory"),
])
def test_bad_values_are_named_with_file_line_and_field(mysql, where, why):
    found = problems(APP.replace("{enabled: true}", mysql))
    assert len(found) == 1, found
    assert "repo/.minnova/app.yaml:4" in found[0] and where in found[0] and why in found[0], found


def test_instances_bounds():
    found = problems(APP.replace("instances: 3", "instances: 6"))
    assert "repo/.minnova/app.yaml:7" in found[0] and "environments.prod.mysql.instances" in found[0], found


def test_database_url_opt_in_refused_beside_postgresql():
    both = APP.replace("{enabled: true}", "{enabled: true, databaseUrl: true}\ndatabase: {enabled: true}")
    found = problems(both)
    assert len(found) == 1 and "mysql.databaseUrl" in found[0] and "PostgreSQL" in found[0], found
    assert load(APP.replace("{enabled: true}", "{enabled: true, databaseUrl: true}")).mysql.database_url


def test_database_url_opt_in_needs_mysql():
    found = problems(APP.replace("{enabled: true}", "{databaseUrl: true}").replace(
        ", mysql: {instances: 3}", ""))
    assert len(found) == 1 and "mysql.databaseUrl" in found[0] and "mysql.enabled is false" in found[0], found


def test_environment_mysql_needs_mysql():
    found = problems(APP.replace("mysql: {enabled: true}\n", ""))
    assert len(found) == 1 and "environments.prod.mysql" in found[0], found


@pytest.mark.parametrize("name", ["MYSQL_URL", "MYSQL_PASSWORD", "MYSQL_HOST"])
def test_platform_variables_may_not_be_set_by_the_app(name):
    found = problems(APP + f"env: {{{name}: x}}\n")
    assert len(found) == 1 and f"env.{name}" in found[0] and "mysql.enabled" in found[0], found


def test_database_url_is_the_apps_own_without_the_opt_in():
    assert load(APP + "env: {DATABASE_URL: 'mysql://elsewhere'}\n").env["DATABASE_URL"]
    found = problems(APP.replace("{enabled: true}", "{enabled: true, databaseUrl: true}")
                     + "env: {DATABASE_URL: x}\n")
    assert len(found) == 1 and "env.DATABASE_URL" in found[0] and "databaseUrl" in found[0], found


def test_mysql_is_a_reserved_process_name():
    found = problems(APP + "processes: {mysql: {command: [x]}}\n")
    assert len(found) == 1 and "reserved" in found[0], found
