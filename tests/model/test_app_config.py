"""app.yaml: the design doc's shape is accepted as written; everything a user can get wrong is named."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from minnova_idp.load.validation import validate_document
from minnova_idp.load.yamlsafe import MAX_BYTES, load_yaml
from minnova_idp.model.app_config import AppConfig
from minnova_idp.model.errors import ConfigError

from tests.conftest import DESIGN_DOC_APP_YAML


def load(text: str) -> AppConfig:
    return validate_document(AppConfig, load_yaml(text, "repo/.minnova/app.yaml"))


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(text)
    return [str(p) for p in caught.value.problems]


def test_design_doc_example_is_accepted_as_written():
    app = load(DESIGN_DOC_APP_YAML)
    assert app.name == "oracle"
    assert app.image.repository == "registry.minnova.io/oracle" and app.image.tag is None
    assert app.port == 4000
    assert app.database.enabled and app.database.size == "5Gi"
    assert {name: (e.replicas, e.host) for name, e in app.environments.items()} == {
        "dev": (1, "oracle.dev.minnova.io"), "prod": (3, "oracle.minnova.io")}
    assert app.env == {"LOG_LEVEL": "info"}


def test_optional_fields_have_sane_defaults():
    app = load(DESIGN_DOC_APP_YAML)
    assert app.health_check is None and app.command is None and app.args is None
    assert app.resources.requests.cpu == "100m" and app.resources.limits.memory == "256Mi"
    assert app.run_as_user > 0
    assert app.image.pull_policy == "IfNotPresent"


def test_optional_fields_are_read():
    app = load(DESIGN_DOC_APP_YAML.replace("env: {LOG_LEVEL: info}", """env: {LOG_LEVEL: info}
healthCheck: {path: /healthz}
command: [bin/server]
args: [--port, "4000"]
resources: {requests: {cpu: 500m, memory: 1Gi}, limits: {cpu: "2", memory: 2Gi}}
""").replace("{replicas: 1, host: oracle.dev.minnova.io}",
             "{replicas: 1, host: oracle.dev.minnova.io, imageTag: v1.2.3, env: {LOG_LEVEL: debug}}"))
    assert app.health_check.path == "/healthz"
    assert app.command == ["bin/server"] and app.args == ["--port", "4000"]
    assert app.resources.limits.cpu == "2"
    assert app.environments["dev"].image_tag == "v1.2.3"
    assert app.environments["dev"].env == {"LOG_LEVEL": "debug"}


@dataclass(frozen=True)
class Bad:
    id: str
    old: str
    new: str
    field: str
    message: str

    def apply(self) -> str:
        assert self.old in DESIGN_DOC_APP_YAML, self.old
        return DESIGN_DOC_APP_YAML.replace(self.old, self.new, 1)


BAD_CASES = [
    Bad("typo-top-level-key", "image:", "imagee:", "imagee", "unknown key 'imagee' (hint: did you mean 'image'?)"),
    Bad("typo-nested-key", "{replicas: 1,", "{replica: 1,", "environments.dev.replica", "did you mean 'replicas'?"),
    Bad("missing-image", "image: {repository: registry.minnova.io/oracle}\n", "", "image", "required key is missing"),
    Bad("uppercase-name", "name: oracle", "name: Oracle", "name", "try 'oracle'"),
    Bad("underscore-name", "name: oracle", "name: my_app", "name", "lowercase letters, digits and '-'"),
    Bad("name-too-long", "name: oracle", "name: " + "a" * 31, "name", "the limit is 30"),
    Bad("name-starts-with-digit", "name: oracle", "name: 1oracle", "name", "start with a letter"),
    Bad("port-zero", "port: 4000", "port: 0", "port", "greater than or equal to 1"),
    Bad("port-too-big", "port: 4000", "port: 70000", "port", "less than or equal to 65535"),
    Bad("port-quoted", "port: 4000", 'port: "4000"', "port", "write it without quotes"),
    Bad("replicas-negative", "replicas: 1,", "replicas: -1,", "environments.dev.replicas", "greater than or equal to 0"),
    Bad("replicas-too-many", "replicas: 3,", "replicas: 500,", "environments.prod.replicas", "less than or equal to 50"),
    Bad("host-with-scheme", "host: oracle.minnova.io}", "host: https://oracle.minnova.io}", "environments.prod.host",
        "without a scheme"),
    Bad("host-wildcard", "host: oracle.minnova.io}", "host: '*.minnova.io'}", "environments.prod.host", "wildcard"),
    Bad("host-single-label", "host: oracle.minnova.io}", "host: oracle}", "environments.prod.host",
        "not a fully qualified domain name"),
    Bad("host-uppercase", "host: oracle.minnova.io}", "host: Oracle.minnova.io}", "environments.prod.host",
        "must be lowercase"),
    Bad("host-bad-label", "host: oracle.minnova.io}", "host: -oracle.minnova.io}", "environments.prod.host",
        "not a valid DNS label"),
    Bad("host-with-path", "host: oracle.minnova.io}", "host: oracle.minnova.io/api}", "environments.prod.host",
        "without a path"),
    Bad("host-shared-between-environments", "host: oracle.minnova.io}", "host: oracle.dev.minnova.io}",
        "environments", "share the host 'oracle.dev.minnova.io'"),
    Bad("size-in-gb", "size: 5Gi", "size: 5GB", "database.size", "did you mean '5Gi'?"),
    Bad("size-zero", "size: 5Gi", "size: 0Gi", "database.size", "greater than zero"),
    Bad("size-garbage", "size: 5Gi", "size: lots", "database.size", "not a Kubernetes quantity"),
    Bad("env-var-bad-name", "LOG_LEVEL: info", "LOG-LEVEL: info", "env.LOG-LEVEL", "not a valid environment variable"),
    Bad("env-var-number", "LOG_LEVEL: info", "LOG_LEVEL: 3", "env.LOG_LEVEL", 'quote it: "3"'),
    Bad("env-var-bool", "LOG_LEVEL: info", "LOG_LEVEL: yes", "env.LOG_LEVEL", 'quote it: "true"'),
    Bad("env-var-reserved-port", "LOG_LEVEL: info", "PORT: '80'", "env.PORT", "set `port:` instead"),
    Bad("environment-name-uppercase", "  prod:", "  Prod:", "environments.Prod", "not a valid environment name"),
    Bad("environment-name-hyphen", "  prod:", "  pr-1:", "environments.pr-1", "not a valid environment name"),
    Bad("environment-name-reserved", "  prod:", "  preview:", "environments.preview", "reserved"),
    Bad("no-environments", "environments:\n  dev:  {replicas: 1, host: oracle.dev.minnova.io}\n"
        "  prod: {replicas: 3, host: oracle.minnova.io}\n", "environments: {}\n", "environments", "at least 1 item"),
    Bad("image-with-tag", "repository: registry.minnova.io/oracle}", "repository: registry.minnova.io/oracle:1.0}",
        "image.repository", "put it in `tag:`"),
    Bad("image-uppercase", "repository: registry.minnova.io/oracle}", "repository: registry.minnova.io/Oracle}",
        "image.repository", "not a valid image repository"),
    Bad("image-bad-tag", "repository: registry.minnova.io/oracle}",
        "repository: registry.minnova.io/oracle, tag: 'bad tag'}", "image.tag", "not a valid image tag"),
    Bad("database-enabled-string", "enabled: true", "enabled: 'yes'", "database.enabled", "valid boolean"),
    Bad("limits-below-requests", "env: {LOG_LEVEL: info}",
        "env: {LOG_LEVEL: info}\nresources: {requests: {memory: 1Gi}, limits: {memory: 512Mi}}",
        "resources", "limits.memory (512Mi) is below requests.memory (1Gi)"),
    Bad("health-path-relative", "env: {LOG_LEVEL: info}", "env: {LOG_LEVEL: info}\nhealthCheck: {path: healthz}",
        "healthCheck.path", "absolute URL path"),
    Bad("environment-not-a-mapping", "  dev:  {replicas: 1, host: oracle.dev.minnova.io}", "  dev: oops",
        "environments.dev", "must be a mapping"),
]


@pytest.mark.parametrize("case", BAD_CASES, ids=lambda c: c.id)
def test_bad_config_names_file_field_and_problem(case: Bad):
    found = problems(case.apply())
    matching = [p for p in found if f": {case.field}: " in p and case.message in p]
    assert matching, f"expected '{case.field}: ...{case.message}' in {found}"
    assert all(p.startswith("repo/.minnova/app.yaml:") for p in found)


def test_every_problem_is_reported_at_once_with_its_line():
    text = DESIGN_DOC_APP_YAML.replace("port: 4000", "port: 0").replace("size: 5Gi", "size: 5GB")
    found = problems(text)
    assert any(p.startswith("repo/.minnova/app.yaml:3: port:") for p in found)
    assert any(p.startswith("repo/.minnova/app.yaml:4: database.size:") for p in found)


@dataclass(frozen=True)
class BadYaml:
    id: str
    text: str | bytes
    message: str


BAD_YAML = [
    BadYaml("duplicate-key", DESIGN_DOC_APP_YAML + "port: 5000\n", "duplicate key 'port' (first defined on line 3)"),
    BadYaml("alias", "a: &x [1]\nb: *x\n", "anchors (&x) are not allowed"),
    BadYaml("alias-bomb", "a: &a [x, x]\nb: &b [*a, *a]\nc: &c [*b, *b]\n", "not allowed"),
    BadYaml("python-tag", "name: !!python/object/apply:os.system [ls]\n", "unsupported YAML tag"),
    BadYaml("python-scalar-tag", "name: !!python/name:os.system x\n", "unsupported YAML value"),
    BadYaml("custom-tag", "name: !secret x\n", "unsupported YAML value"),
    BadYaml("set-tag", "env: !!set {A: null}\n", "unsupported YAML tag"),
    BadYaml("syntax", "name: [oracle\n", "invalid YAML"),
    BadYaml("deep-nesting", "a: " + "[" * 100 + "]" * 100 + "\n", "nesting deeper than"),
    BadYaml("oversized", b"name: oracle\n" + b"#" * MAX_BYTES, "the limit is"),
    BadYaml("not-utf8", b"name: \xff\xfe\n", "not UTF-8"),
    BadYaml("empty", "", "file is empty"),
    BadYaml("a-list", "- name: oracle\n", "must be a YAML mapping"),
]


@pytest.mark.parametrize("case", BAD_YAML, ids=lambda c: c.id)
def test_unsafe_or_broken_yaml_is_refused(case: BadYaml):
    with pytest.raises(ConfigError) as caught:
        validate_document(AppConfig, load_yaml(case.text, "app.yaml"))
    assert any(case.message in str(p) for p in caught.value.problems), caught.value.problems


def test_yaml_keys_stay_strings():
    """`on:` is a boolean in YAML 1.1; as a key it must stay the text the user wrote."""
    loaded = load_yaml("on: 1\n1: 2\n", "x.yaml")
    assert loaded.data == {"on": 1, "1": 2}
