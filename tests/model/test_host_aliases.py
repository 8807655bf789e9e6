"""environments.<env>.aliases: accepted as the docs write them; every mistake named with file, line and field."""

from __future__ import annotations

import pytest

from minnova_idp.load.validation import validate_document
from minnova_idp.load.yamlsafe import load_yaml
from minnova_idp.model.app_config import MAX_ALIASES, AppConfig
from minnova_idp.model.errors import ConfigError

FILE = "repo/.minnova/app.yaml"


def app_yaml(prod_aliases: str, dev_aliases: str = "[]") -> str:
    return f"""\
name: shop
image: {{repository: registry.example.com/shop, tag: "1"}}
port: 3000
environments:
  dev:
    host: shop.dev.example.com
    aliases: {dev_aliases}
  prod:
    host: example.com
    aliases: {prod_aliases}
"""


def load(text: str) -> AppConfig:
    return validate_document(AppConfig, load_yaml(text, FILE))


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(text)
    return [str(problem) for problem in caught.value.problems]


def test_aliases_redirect_by_default_and_serve_when_asked():
    prod = load(app_yaml("[{host: www.example.com}, {host: shop.example.com, redirect: false}]")).environments["prod"]
    assert [(alias.host, alias.redirect) for alias in prod.aliases] == [("www.example.com", True),
                                                                       ("shop.example.com", False)]
    assert prod.hosts == ("example.com", "www.example.com", "shop.example.com")


def test_an_environment_without_aliases_has_only_its_host():
    config = load(app_yaml("[]").replace("    aliases: []\n", ""))
    assert config.environments["prod"].aliases == [] and config.environments["prod"].hosts == ("example.com",)


# (prod's aliases, dev's aliases, the one problem expected: file:line: field: message)
ERRORS = [
    ("[{host: example.com}]", "[]",
     f"{FILE}:10: environments.prod.aliases[0].host: 'example.com' is already named by environments.prod.host; "
     "an app names each host once"),
    ("[{host: shop.dev.example.com}]", "[]",
     f"{FILE}:10: environments.prod.aliases[0].host: 'shop.dev.example.com' is already named by "
     "environments.dev.host; an app names each host once"),
    ("[{host: www.example.com}, {host: www.example.com, redirect: false}]", "[]",
     f"{FILE}:10: environments.prod.aliases[1].host: 'www.example.com' is already named by "
     "environments.prod.aliases[0].host; an app names each host once"),
    ("[{host: www.example.com}]", "[{host: www.example.com}]",
     f"{FILE}:10: environments.prod.aliases[0].host: 'www.example.com' is already named by "
     "environments.dev.aliases[0].host; an app names each host once"),
]


@pytest.mark.parametrize("prod,dev,expected", ERRORS)
def test_a_host_named_twice_is_refused_at_the_alias(prod, dev, expected):
    assert problems(app_yaml(prod, dev)) == [expected]


@pytest.mark.parametrize("aliases,field,message", [
    ("[{host: 'https://www.example.com'}]", "environments.prod.aliases[0].host", "scheme"),
    ("[{host: '*.example.com'}]", "environments.prod.aliases[0].host", "wildcard"),
    ("[{host: www.example.com, redirects: true}]", "environments.prod.aliases[0].redirects", "did you mean"),
    ("[{host: www.example.com, redirect: 'yes'}]", "environments.prod.aliases[0].redirect", "bool"),
    ("[www.example.com]", "environments.prod.aliases[0]", ""),
    ("[{redirect: true}]", "environments.prod.aliases[0].host", "required"),
    ("[" + ", ".join(f"{{host: a{i}.example.com}}" for i in range(MAX_ALIASES + 1)) + "]",
     "environments.prod.aliases", str(MAX_ALIASES)),
])
def test_a_bad_alias_is_named_with_its_field(aliases, field, message):
    found = problems(app_yaml(aliases))
    assert len(found) == 1 and found[0].startswith(f"{FILE}:10: {field}: "), found
    assert message.lower() in found[0].lower(), found
