"""`minnova-idp validate` and `minnova-idp schema`: exit codes, messages naming file and field, never a traceback."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml

from tests.conftest import DESIGN_DOC_APP_YAML, PROJECT_DIR
from tests.support.cli import cli


def test_schema_command_prints_a_schema_that_accepts_the_examples_and_catches_mistakes():
    result = cli("schema")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    validator = jsonschema.Draft202012Validator(schema)
    validator.check_schema(schema)
    for example in PROJECT_DIR.glob("examples/*/.minnova/app.yaml"):
        assert list(validator.iter_errors(yaml.safe_load(example.read_text()))) == [], example
    bad = yaml.safe_load(DESIGN_DOC_APP_YAML.replace("image:", "imagee:").replace("5Gi", "5GB"))
    messages = [e.message for e in validator.iter_errors(bad)]
    assert any("imagee" in m for m in messages) and any("5GB" in m for m in messages)


def test_validate_accepts_a_valid_file_and_a_repo_dir(tmp_path):
    (tmp_path / ".minnova").mkdir()
    (tmp_path / ".minnova" / "app.yaml").write_text(DESIGN_DOC_APP_YAML)
    for target in (tmp_path, tmp_path / ".minnova" / "app.yaml"):
        result = cli("validate", str(target))
        assert result.returncode == 0, result.stderr
        assert "valid (app oracle; environments dev, prod)" in result.stdout


@pytest.mark.parametrize("content,expected", [
    (DESIGN_DOC_APP_YAML.replace("image:", "imagee:"), ":2: imagee: unknown key 'imagee' (hint: did you mean 'image'?)"),
    (DESIGN_DOC_APP_YAML.replace("5Gi", "5GB"), ":4: database.size: '5GB' is not a Kubernetes quantity"),
    (DESIGN_DOC_APP_YAML + "port: 1\n", "duplicate key 'port'"),
    ("a: &x 1\nb: *x\n", "anchors (&x) are not allowed"),
    ("\xff", "not UTF-8"),
])
def test_validate_rejects_with_file_and_field_and_no_traceback(tmp_path, content, expected):
    path = tmp_path / "app.yaml"
    path.write_bytes(content.encode("latin-1") if content == "\xff" else content.encode())
    result = cli("validate", str(path))
    assert result.returncode == 1
    assert f"{path}" in result.stderr and expected in result.stderr, result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_validate_missing_path(tmp_path):
    result = cli("validate", str(tmp_path))
    assert result.returncode == 1 and "file not found" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("path,kind", [("Pulumi.dev.yaml", "stack"),
                                       ("deployments/minnova/apps/oracle.yaml", "registry entry"),
                                       ("examples/oracle", "app")])
def test_validate_takes_each_kind_of_file(path, kind):
    result = cli("validate", path, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["kind"] == kind


def test_validate_names_the_field_of_a_bad_stack_file_or_registry_entry(tmp_path):
    stack = tmp_path / "Pulumi.bad.yaml"
    stack.write_text("config:\n  minnova:deployment: acme\n  minnova:baseDomian: acme.io\n")
    result = cli("validate", str(stack))
    assert result.returncode == 1 and "minnova:baseDomian" in result.stderr and "Traceback" not in result.stderr
    entry = tmp_path / "deployments" / "acme" / "apps" / "web.yaml"
    entry.parent.mkdir(parents=True)
    entry.write_text("name: web\nrepo: http://github.com/acme/web.git\n")
    result = cli("validate", str(entry))
    assert result.returncode == 1 and "repo: 'http://github.com/acme/web.git' uses plain http" in result.stderr


def test_validate_checks_a_registry_entrys_allow_from_against_its_neighbours(tmp_path):
    """ADR 0016: a caller that is not registered beside the entry is named with file, line and field; --json too."""
    apps = tmp_path / "deployments" / "acme" / "apps"
    apps.mkdir(parents=True)
    (apps / "web.yaml").write_text("name: web\nrepo: https://github.com/acme/web.git\n")
    entry = apps / "api.yaml"
    entry.write_text("name: api\nrepo: https://github.com/acme/api.git\nallowFrom: [web, {app: wbe}]\n")
    result = cli("validate", str(entry), "--json")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    [problem] = json.loads(result.stdout)["problems"]
    assert (problem["line"], problem["field"]) == (3, "allowFrom[1].app") and "'wbe' is not a registered app" in \
        problem["message"]
    entry.write_text("name: api\nrepo: https://github.com/acme/api.git\nallowFrom: [web]\n")
    result = cli("validate", str(entry), "--json")
    assert result.returncode == 0 and json.loads(result.stdout)["allowFrom"] == [{"app": "web"}]
