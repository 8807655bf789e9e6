"""Stack settings: Pulumi config namespace `minnova`, validated like app configs."""

from __future__ import annotations

import json

import pytest

from minnova_idp.load.stack import from_stack_file, parse_stack_config
from minnova_idp.model.errors import ConfigError
from minnova_idp.model.secrets import SECRET_PLACEHOLDER

BASE = {
    "minnova:deployment": "acme",
    "minnova:environments": json.dumps(["dev"]),
    "minnova:baseDomain": "acme.dev",
    "minnova:ingressClass": "traefik",
    "minnova:ingressAddress": "203.0.113.7",
    "minnova:git": json.dumps({"provider": "github"}),
    "kubernetes:context": "ignored-other-namespace",
}


def parse(extra=None, secret_keys=(), drop=()):
    raw = {**BASE, **(extra or {})}
    for key in drop:
        raw.pop(key)
    return parse_stack_config(raw, set(secret_keys), "Pulumi.dev.yaml")


def problems(**kwargs) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse(**kwargs)
    return [str(p) for p in caught.value.problems]


def test_minimal_settings_and_defaults():
    stack = parse()
    assert stack.settings.deployment == "acme"
    assert stack.settings.environments == ["dev"]
    assert stack.settings.registry_dir == "deployments/acme/apps"
    assert stack.settings.cluster_issuer == "letsencrypt-prod"
    assert stack.settings.git.base_url == "https://github.com/" and stack.settings.git.username == "x-access-token"
    assert stack.secrets.git_token is None


def test_secret_values_are_read_and_kept_out_of_repr():
    stack = parse({"minnova:gitToken": "tok-123"}, secret_keys={"minnova:gitToken"})
    assert stack.secrets.git_token == "tok-123"
    assert "tok-123" not in repr(stack)


def test_plaintext_secret_is_refused():
    found = problems(extra={"minnova:gitToken": "tok-123"})
    assert any("minnova:gitToken: holds a secret but is stored in plain text" in p and "--secret" in p for p in found)
    assert not any("tok-123" in p for p in found)


@pytest.mark.parametrize("extra,expected", [
    ({"minnova:baseDomian": "x.io"}, "minnova:baseDomian: unknown setting (hint: did you mean 'minnova:baseDomain'?)"),
    ({"minnova:environments": json.dumps(["dev", "dev"])}, "lists an environment twice"),
    ({"minnova:environments": json.dumps(["Dev"])}, "minnova:environments[0]: 'Dev' is not a valid environment"),
    ({"minnova:environments": "dev"}, "minnova:environments: must be a list"),
    ({"minnova:ingressAddress": "not an address!"}, "minnova:ingressAddress:"),
    ({"minnova:git": json.dumps({"provider": "gitea"})}, "self-hosted: set `url`"),
    ({"minnova:git": json.dumps({"provider": "bitbucket"})}, "minnova:git.provider:"),
    ({"minnova:cloudflare": json.dumps({"accountId": "nope", "zoneId": "0" * 32})},
     "minnova:cloudflare.accountId: 'nope' is not a Cloudflare ID"),
    ({"minnova:registryPath": "../elsewhere"}, "minnova:registryPath:"),
])
def test_bad_settings_are_named(extra, expected):
    found = problems(extra=extra)
    assert any(expected in p and p.startswith("Pulumi.dev.yaml") for p in found), found


def test_setting_in_the_project_namespace_is_not_silently_ignored():
    found = problems(extra={"minnova-idp:cloudflare": "{}"})
    assert any("minnova-idp:cloudflare: is in the project namespace and would be ignored "
               "(hint: set it as minnova:cloudflare)" in p for p in found), found


def test_missing_required_setting():
    assert any("minnova:baseDomain: required key is missing" in p for p in problems(drop=["minnova:baseDomain"]))


def test_stack_file_secure_values_become_placeholders(tmp_path):
    (tmp_path / "Pulumi.s.yaml").write_text(
        "config:\n  minnova:deployment: acme\n  minnova:environments: [dev]\n"
        "  minnova:gitToken:\n    secure: v1:AAAA\n  minnova:git:\n    provider: github\n")
    raw, secret_keys, file = from_stack_file(tmp_path, "s")
    assert raw["minnova:gitToken"] == SECRET_PLACEHOLDER and secret_keys == {"minnova:gitToken"}
    assert json.loads(raw["minnova:environments"]) == ["dev"]
    assert json.loads(raw["minnova:git"]) == {"provider": "github"}
    assert file == "Pulumi.s.yaml"


def test_missing_stack_file_lists_stacks(project_dir):
    with pytest.raises(ConfigError, match="stacks here: dev, prod"):
        from_stack_file(project_dir, "staging")


def test_text_settings_are_never_json_decoded():
    """Pulumi hands config over as strings: a path that looks like a number must stay text."""
    assert parse({"minnova:registryPath": "2026"}).settings.registry_dir == "2026"
