"""minnova_idp/load/yamlsafe.py's composition cache (refusals themselves: tests/load/test_hostile_inputs.py)."""

from __future__ import annotations

import pytest

from minnova_idp.load.secrets import AppKey, load_secret_values
from minnova_idp.load.yamlsafe import compose_yaml, load_yaml
from minnova_idp.model.errors import ConfigError
from minnova_idp.sops import document as sops
from tests.conftest import PROJECT_DIR

KEYS = (PROJECT_DIR / "tests/fixtures/example-age-keys.txt").read_text().splitlines()
PREVIEW_KEY = KEYS[KEYS.index(next(line for line in KEYS if line.startswith("# oracle/preview"))) + 1]


def test_values_are_new_each_time_from_a_tree_composed_once():
    text = "a:\n  b: [1, 2]\n  c: x\n"
    compose_yaml.cache_clear()
    first = load_yaml(text, "one.yaml")
    first.data["a"]["b"].append(3)  # a caller may change what it got (sops pops its metadata)
    del first.data["a"]["c"]
    second = load_yaml(text, "two.yaml")
    assert second.data == {"a": {"b": [1, 2], "c": "x"}} and second.lines == {(): 1, ("a",): 1, ("a", "b"): 2,
                                                                           ("a", "b", 0): 2, ("a", "b", 1): 2,
                                                                           ("a", "c"): 3}
    assert compose_yaml.cache_info().misses == 1 and compose_yaml(text) is compose_yaml(text)


@pytest.mark.parametrize("text", ["a: &x 1\nb: *x\n", "a: [\n", "a: 1\na: 2\n"])
def test_a_refused_document_is_refused_every_time(text):
    compose_yaml.cache_clear()
    for file in ("one.yaml", "two.yaml"):
        with pytest.raises(ConfigError) as caught:
            load_yaml(text, file)
        assert caught.value.problems[0].file == file


def test_render_preview_composes_a_secrets_file_once():
    """load_secret_values runs every check (recipients, unauthenticated values, structure) and then decrypts:
    each parses the file again, and all of them read one composed tree (issue 21: render-preview's cold start)."""
    content = (PROJECT_DIR / "examples/oracle/.minnova/secrets/preview.enc.yaml").read_bytes()
    identities = sops.parse_identities(PREVIEW_KEY, "oracle")
    compose_yaml.cache_clear()
    values = load_secret_values(content, "preview.enc.yaml", "oracle", "preview", AppKey(identities[0].recipient),
                                stack_file="keys/oracle", identities=identities, database=True, redis=True)
    assert values.string_data["SECRET_KEY_BASE"] == "example-preview-secret-key-base-22aa"
    info = compose_yaml.cache_info()
    assert (info.misses, info.hits) == (1, 9)
