"""`minnova-idp ci-template`: the app repositories' workflows ship in the package and are written without surprises."""

from __future__ import annotations

import pytest

from minnova_idp.authoring.ci_templates import PREVIEWS, template_names, template_text, write_templates
from minnova_idp.model.errors import ConfigError
from tests.conftest import PROJECT_DIR

SHIPPED = PROJECT_DIR / "minnova_idp/authoring/app_ci"


def test_every_shipped_workflow_is_a_template_and_reads_back_as_committed():
    assert sorted(template_names()) == sorted(path.name for path in SHIPPED.glob("*.y*ml"))
    for name in template_names():
        assert template_text(name) == (SHIPPED / name).read_text()


def test_package_data_names_the_templates():
    import tomllib

    data = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert data == {"minnova_idp.authoring": ["app_ci/*.yml"]}


def test_writes_into_a_new_directory_and_refuses_to_overwrite(tmp_path):
    out = tmp_path / ".github" / "workflows"
    assert [p.name for p in write_templates(out, previews=False, force=False)] == ["minnova.yml"]
    with pytest.raises(ConfigError) as refused:
        write_templates(out, previews=True, force=False)
    assert [p.message for p in refused.value.problems] == ["already exists"]
    assert sorted(p.name for p in out.iterdir()) == ["minnova.yml"]  # nothing half-written
    written = write_templates(out, previews=True, force=True)
    assert [p.name for p in written] == ["minnova.yml", *PREVIEWS]


def test_never_writes_through_a_symlink(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / ".github").symlink_to(elsewhere)
    with pytest.raises(ConfigError) as refused:
        write_templates(tmp_path / "repo" / ".github" / "workflows", previews=False, force=False)
    assert "symlink" in refused.value.problems[0].message and list(elsewhere.iterdir()) == []
    target = tmp_path / "out"
    target.mkdir()
    (target / "minnova.yml").symlink_to(elsewhere / "victim.yml")
    write_templates(target, previews=False, force=True)
    assert not (target / "minnova.yml").is_symlink() and not (elsewhere / "victim.yml").exists()


def test_an_unknown_template_is_named():
    with pytest.raises(ConfigError) as refused:
        template_text("minnova.yaml")
    assert "minnova.yml" in refused.value.problems[0].hint
