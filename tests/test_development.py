"""docs/development.md "Adding a field to app.yaml" stays true: what a test can see of that checklist.

Every app.yaml field has a description (the reference row and the editor tooltip), the committed reference has a
row for it, and some test under tests/model/ or tests/render/ names it (a refused value or a rendered object).
"""

from __future__ import annotations

import re

import pytest
from minnova_idp.authoring.reference import _rows
from minnova_idp.model.app_config import AppConfig
from tests.conftest import PROJECT_DIR

DEVELOPMENT = (PROJECT_DIR / "docs/development.md").read_text()
REFERENCE = (PROJECT_DIR / "docs/app-yaml.md").read_text()


# (key, meaning) of every row the generated reference lists: what an app developer can write.
FIELDS = [(key, meaning) for key, _, meaning in _rows(AppConfig, "", False)]
TESTS_TEXT = "\n".join(path.read_text() for folder in ("model", "render")
                       for path in (PROJECT_DIR / "tests" / folder).glob("test_*.py"))


def test_the_walk_sees_nested_fields():
    paths = [path for path, _ in FIELDS]
    assert {"database.size", "image.repository", "environments.<env>.database.instances"} <= set(paths)
    assert len(paths) > 30


@pytest.mark.parametrize("path,description", FIELDS, ids=[path for path, _ in FIELDS])
def test_every_field_is_described_in_the_reference_and_named_by_a_test(path, description):
    assert description.strip(), f"{path}: no description (docs/development.md step 1)"
    assert f"| `{path}` |" in REFERENCE, f"{path}: no row in docs/app-yaml.md, the app.yaml reference (step 7)"
    leaf = path.rsplit(".", 1)[-1].strip("<>")
    snake = re.sub(r"(?<!^)([A-Z])", r"_\1", leaf).lower()  # app.yaml's camelCase key, the model's attribute
    # As app.yaml spells it (`leaf:` in YAML, "leaf" as a key, leaf= as a keyword) or as the attribute (`.snake`).
    named = rf"(\b{re.escape(leaf)}\s*[:=]|[\"']{re.escape(leaf)}[\"']|\.{re.escape(snake)}\b)"
    assert re.search(named, TESTS_TEXT), f"{path}: no test in tests/model or tests/render names it"


def test_the_checklist_names_files_that_exist():
    named = set(re.findall(r"`((?:minnova_idp|components|tests)/[\w/]+\.py)`", DEVELOPMENT))
    assert len(named) >= 8
    assert sorted(p for p in named if not (PROJECT_DIR / p).exists()) == []
