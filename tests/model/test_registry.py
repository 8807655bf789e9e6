"""The registry entry model (minnova_idp/model/registry.py): what its errors say."""

import pytest

from minnova_idp.load.validation import validate_document
from minnova_idp.load.yamlsafe import load_yaml
from minnova_idp.model.errors import ConfigError
from minnova_idp.model.registry import RegistryEntry


@pytest.mark.parametrize("allow_from, field, message", [
    ("[Storefront]", "allowFrom[0]", "try 'storefront'"),
    ("[{app: storefront, process: [api]}]", "allowFrom[0].process", "unknown key 'process'"),
    ("[{app: storefront, processes: [Web]}]", "allowFrom[0].processes[0]", "'Web' must be lowercase"),
    ("[{app: Storefront}]", "allowFrom[0].app", "try 'storefront'"),
    ("[3]", "allowFrom[0]", "an app name or a mapping"),
    ("[[storefront]]", "allowFrom[0]", "an app name or a mapping"),
])
def test_a_bad_allow_from_item_is_one_problem_at_its_field_with_no_pydantic_internals(allow_from, field, message):
    with pytest.raises(ConfigError) as caught:
        validate_document(RegistryEntry, load_yaml(f"name: oracle\nlocal: examples/oracle\nallowFrom: {allow_from}\n",
                                                   "oracle.yaml"))
    problems = [str(problem) for problem in caught.value.problems]
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"oracle.yaml:3: {field}: ") and message in problems[0], problems
    assert "function-after" not in problems[0] and "AllowedCaller" not in problems[0], problems


def test_the_unknown_key_of_an_allow_from_item_suggests_the_right_one():
    with pytest.raises(ConfigError) as caught:
        validate_document(RegistryEntry, load_yaml("name: oracle\nlocal: examples/oracle\n"
                                                   "allowFrom: [{app: storefront, process: [api]}]\n", "oracle.yaml"))
    assert caught.value.problems[0].hint == "did you mean 'processes'?", caught.value.problems
