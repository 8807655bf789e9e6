"""App secrets through the platform: per-app keys, refusal of foreign files, Pulumi secrets, CLI."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from components.program import program
from minnova_idp.load.inputs import load_inputs
from minnova_idp.load.stack import from_stack_file
from minnova_idp.plan.recorder import record, run_plan, write_plan
from minnova_idp.sops import document as sops

from tests.conftest import PROJECT_DIR, load_stack_inputs, project_copy, stack_problems
from tests.support.cli import cli

KEYS_FILE = PROJECT_DIR / "tests" / "fixtures" / "example-age-keys.txt"
EXAMPLE_KEYS = {line.split(":")[0].removeprefix("# oracle/"): key.secret
                for line, key in zip(
                    [l for l in KEYS_FILE.read_text().splitlines() if l.startswith("# oracle/")],
                    sops.parse_identities(KEYS_FILE.read_text(), str(KEYS_FILE)))}
DEV_PLAINTEXT = {"SECRET_KEY_BASE": "example-dev-secret-key-base-7f3a", "STRIPE_API_KEY": "sk_test_example_dev_91c2",
                 "SMTP_PORT": "2525", "FEATURE_BETA": "true"}
# Distinctive values only ("true" and "2525" occur in any plan for other reasons).
PLAINTEXTS = ["example-dev-secret-key-base-7f3a", "sk_test_example_dev_91c2", "example-prod-secret-key-base-d41b",
              "sk_live_example_not_real_5e8d"]


def identities():
    return sops.parse_identities(KEYS_FILE.read_text(), str(KEYS_FILE))


def test_keys_decrypt_the_example_and_values_become_strings():
    inputs = load_stack_inputs(PROJECT_DIR, identities=identities())
    values = inputs.secrets[("oracle", "dev")]
    assert values.decrypted and values.string_data == DEV_PLAINTEXT
    assert values.source == "examples/oracle/.minnova/secrets/dev.enc.yaml"
    assert "example-dev" not in repr(inputs)


def test_stack_secret_config_decrypts_in_a_real_run_and_state_holds_only_secrets():
    """The identity comes from Pulumi secret config, as in `pulumi up`; recorded inputs mask every value."""
    raw, secret_keys, file = from_stack_file(PROJECT_DIR, "dev")
    raw["minnova:secretsKeys"] = json.dumps({"oracle": {"dev": EXAMPLE_KEYS["dev"]}})
    secret_keys = secret_keys | {"minnova:secretsKeys"}
    inputs = load_inputs(PROJECT_DIR, raw, secret_keys, file)
    assert inputs.secrets[("oracle", "dev")].string_data == DEV_PLAINTEXT
    async def declare():
        await program(inputs)

    resources, _ = record(declare, project="minnova-idp", stack="dev", config=raw, secret_keys=secret_keys)
    (secret,) = [r for r in resources if r.name == "oracle-dev-secret-oracle-secrets"]
    assert secret.inputs["stringData"] == {name: "[secret]" for name in DEV_PLAINTEXT}
    assert secret.inputs["metadata"]["namespace"] == "oracle-dev"
    (deployment,) = [r for r in resources if r.name == "oracle-dev-deployment-oracle"]
    assert deployment.inputs["spec"]["template"]["spec"]["containers"][0]["envFrom"] == [
        {"secretRef": {"name": "oracle-secrets"}}]
    assert secret.urn in deployment.dependencies
    dump = json.dumps([r.as_json() for r in resources])
    assert not [value for value in PLAINTEXTS if value in dump]
    assert EXAMPLE_KEYS["dev"] not in dump


def test_plan_output_never_holds_plaintext(tmp_path):
    for stack in ("dev", "prod"):
        out = tmp_path / stack
        write_plan(run_plan(PROJECT_DIR, stack, identities=identities()), out)
        secret = yaml.safe_load((out / "manifests" / f"oracle-{stack}" / "secret-oracle-secrets.yaml").read_text())
        assert secret["stringData"] and set(secret["stringData"].values()) == {"[secret]"}
        for path in out.rglob("*"):
            if path.is_file():
                text = path.read_text()
                assert not [value for value in PLAINTEXTS if value in text], path


def test_without_keys_the_plan_shows_names_and_checks_recipients():
    values = load_stack_inputs(PROJECT_DIR, "prod").secrets[("oracle", "prod")]
    assert not values.decrypted
    assert values.keys == ["SECRET_KEY_BASE", "STRIPE_API_KEY"]


def test_a_file_copied_from_another_app_is_refused(tmp_path):
    project = project_copy(tmp_path)
    other = sops.generate_identity()
    (project / "examples/storefront/.minnova/secrets").mkdir()
    shutil.copy(project / "examples/oracle/.minnova/secrets/dev.enc.yaml",
                project / "examples/storefront/.minnova/secrets/dev.enc.yaml")
    extra = {"minnova:secretsRecipients": json.dumps({
        "oracle": {"dev": identities()[0].recipient}, "storefront": {"dev": other.recipient}}),
        "minnova:secretsKeys": json.dumps({"storefront": {"dev": other.secret}})}
    found = stack_problems(project, extra=extra, secret={"minnova:secretsKeys"})
    assert found == [f"examples/storefront/.minnova/secrets/dev.enc.yaml: is encrypted for {identities()[0].recipient}, "
                     f"not for storefront/dev's key {other.recipient} (hint: sops --encrypt --age {other.recipient} "
                     "(see: minnova-idp secrets recipients storefront dev))"]
    # Holding oracle's identity changes nothing: only storefront/dev's key is ever used for its file.
    assert stack_problems(project, extra=extra, secret={"minnova:secretsKeys"}, identities=identities()) == found


def test_a_file_of_another_environment_is_refused(tmp_path):
    project = project_copy(tmp_path)
    secrets_dir = project / "examples/oracle/.minnova/secrets"
    shutil.copy(secrets_dir / "prod.enc.yaml", secrets_dir / "dev.enc.yaml")
    found = stack_problems(project, identities=identities())
    assert len(found) == 1 and "not for oracle/dev's key" in found[0]


def test_tampered_file_is_refused_when_decrypting(tmp_path):
    project = project_copy(tmp_path)
    path = project / "examples/oracle/.minnova/secrets/dev.enc.yaml"
    path.write_text(path.read_text().replace("name: oracle-secrets", "name: evil-secrets"))
    found = stack_problems(project, identities=identities())
    assert len(found) == 1 and "MAC mismatch" in found[0] and found[0].startswith(
        "examples/oracle/.minnova/secrets/dev.enc.yaml:")


def test_a_secrets_file_without_a_key_is_an_error(tmp_path):
    project = project_copy(tmp_path)
    (project / "examples/storefront/.minnova/secrets").mkdir()
    (project / "examples/storefront/.minnova/secrets/dev.enc.yaml").write_text("stringData: {A: b}\n")
    assert stack_problems(project) == [
        "examples/storefront/.minnova/secrets/dev.enc.yaml: there is no age key for storefront/dev "
        "(hint: minnova-idp secrets new-key storefront dev)"]


def test_identity_must_match_its_public_recipient():
    other = sops.generate_identity()
    found = stack_problems(PROJECT_DIR, extra={"minnova:secretsKeys": json.dumps({"oracle": {"dev": other.secret}})},
                        secret={"minnova:secretsKeys"})
    assert found == ["Pulumi.dev.yaml: minnova:secretsKeys.oracle.dev: is not the identity of recipient "
                     f"{identities()[0].recipient} (hint: the secret key and the public recipient must be one key pair)"]
    assert other.secret not in " ".join(found)


def test_identity_without_recipient_is_an_error():
    other = sops.generate_identity()
    found = stack_problems(PROJECT_DIR, extra={"minnova:secretsKeys": json.dumps({"web": {"dev": other.secret}})},
                        secret={"minnova:secretsKeys"})
    assert found == ["Pulumi.dev.yaml: minnova:secretsKeys.web.dev: has no public recipient in "
                     "minnova:secretsRecipients (hint: minnova-idp secrets new-key web dev prints both commands)"]


def test_shared_key_is_an_explicit_opt_in(tmp_path):
    project = project_copy(tmp_path)
    shared = sops.generate_identity()
    doc = {"apiVersion": "v1", "kind": "Secret", "stringData": {"SHARED_TOKEN": "s3cr3t-shared"}}
    (project / "examples/storefront/.minnova/secrets").mkdir()
    (project / "examples/storefront/.minnova/secrets/dev.enc.yaml").write_text(
        sops.encrypt_yaml(doc, [shared.recipient]))
    extra = {"minnova:secretsSharedRecipient": shared.recipient, "minnova:secretsSharedKey": shared.secret}
    inputs = load_stack_inputs(project, extra=extra, secret={"minnova:secretsSharedKey"}, identities=None)
    assert inputs.secrets[("storefront", "dev")].string_data == {"SHARED_TOKEN": "s3cr3t-shared"}
    # oracle keeps its own key: the shared key is not enough for oracle's file.
    assert not inputs.secrets[("oracle", "dev")].decrypted


@pytest.mark.parametrize("string_data,message", [
    ({"lower-case": "x"}, "stringData.lower-case: is not a valid environment variable name"),
    ({"PORT": "80"}, "stringData.PORT: is set by the platform"),
    ({"NESTED": {"a": "b"}}, "stringData.NESTED: must be a single value"),
])
def test_secret_values_must_suit_env_from(tmp_path, string_data, message):
    project = project_copy(tmp_path)
    key = identities()[0]
    doc = {"apiVersion": "v1", "kind": "Secret", "stringData": string_data}
    (project / "examples/oracle/.minnova/secrets/dev.enc.yaml").write_text(sops.encrypt_yaml(doc, [key.recipient]))
    found = stack_problems(project, identities=identities())
    assert any(message in p for p in found), found


def test_file_metadata_cannot_choose_the_namespace(tmp_path):
    project = project_copy(tmp_path)
    key = identities()[0]
    doc = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "kube-admin", "namespace": "kube-system"},
           "stringData": {"A": "b"}}
    (project / "examples/oracle/.minnova/secrets/dev.enc.yaml").write_text(sops.encrypt_yaml(doc, [key.recipient]))
    plan = run_plan(project, "dev", identities=identities())
    (secret,) = [m for m in plan.manifests() if m["kind"] == "Secret" and m["metadata"]["name"].endswith("secrets")]
    assert secret["metadata"]["name"] == "oracle-secrets" and secret["metadata"]["namespace"] == "oracle-dev"


# ---- CLI ------------------------------------------------------------------------------------

def test_cli_recipients_and_sops_config():
    result = cli("secrets", "recipients", "oracle", "prod")
    assert result.returncode == 0 and result.stdout.strip() == identities()[1].recipient
    result = cli("secrets", "sops-config", "oracle")
    assert result.returncode == 0, result.stderr
    rules = yaml.safe_load(result.stdout)["creation_rules"]
    assert [rule["age"] for rule in rules] == [key.recipient for key in (identities()[0], identities()[2],
                                                                         identities()[1])]
    assert all(rule["encrypted_regex"] == "^(data|stringData)$" for rule in rules)
    assert "prod" in rules[2]["path_regex"]
    missing = cli("secrets", "recipients", "storefront", "prod")
    assert missing.returncode == 1 and "secrets new-key storefront prod" in missing.stderr


def test_cli_new_key_prints_a_working_key_pair():
    result = cli("secrets", "new-key", "oracle", "staging", "--stack", "prod")
    assert result.returncode == 0
    secret_line = next(line for line in result.stdout.splitlines() if "--secret" in line)
    recipient_line = next(line for line in result.stdout.splitlines() if "secretsRecipients" in line)
    assert "--stack prod --secret --path 'minnova:secretsKeys.oracle.staging'" in secret_line
    (identity,) = sops.parse_identities(secret_line.split()[-1], "stdout")
    assert recipient_line.split()[-1] == identity.recipient
    assert cli("secrets", "new-key", "Oracle", "prod").returncode == 1


def test_cli_check_prints_names_only_and_decrypt_prints_the_document(tmp_path):
    file = "examples/oracle/.minnova/secrets/dev.enc.yaml"
    result = cli("secrets", "check", file, "--identity", str(KEYS_FILE))
    assert result.returncode == 0, result.stderr
    assert "MAC verified" in result.stdout and "stringData.SECRET_KEY_BASE" in result.stdout
    assert not [value for value in PLAINTEXTS if value in result.stdout]
    result = cli("secrets", "decrypt", file, env={"SOPS_AGE_KEY_FILE": str(KEYS_FILE)})
    assert result.returncode == 0 and yaml.safe_load(result.stdout)["stringData"]["SECRET_KEY_BASE"] == \
        DEV_PLAINTEXT["SECRET_KEY_BASE"]
    result = cli("secrets", "decrypt", file, env={"SOPS_AGE_KEY": EXAMPLE_KEYS["dev"]})
    assert result.returncode == 0


def test_cli_wrong_key_fails_without_plaintext(tmp_path):
    wrong = tmp_path / "wrong.txt"
    wrong.write_text(sops.generate_identity().secret + "\n")
    result = cli("secrets", "decrypt", "examples/oracle/.minnova/secrets/dev.enc.yaml", "--identity", str(wrong))
    assert result.returncode == 1
    assert identities()[0].recipient in result.stderr and "Traceback" not in result.stderr
    assert not [value for value in PLAINTEXTS if value in result.stderr + result.stdout]
    no_key = cli("secrets", "check", "examples/oracle/.minnova/secrets/dev.enc.yaml")
    assert no_key.returncode == 1 and "SOPS_AGE_KEY_FILE" in no_key.stderr


def test_secrets_of_an_app_fetched_from_git(tmp_path):
    """The production path: .minnova/secrets/ comes from the app's repository at the fetched commit."""
    from tests.conftest import make_app_repo

    key = sops.generate_identity()
    doc = {"apiVersion": "v1", "kind": "Secret", "stringData": {"API_TOKEN": "fetched-s3cr3t"}}
    app_yaml = (PROJECT_DIR / "examples/storefront/.minnova/app.yaml").read_text()
    commit = make_app_repo(tmp_path / "repos/storefront", {
        ".minnova/app.yaml": app_yaml, ".minnova/secrets/dev.enc.yaml": sops.encrypt_yaml(doc, [key.recipient])})
    project = project_copy(tmp_path)
    url = (tmp_path / "repos/storefront").as_uri()
    (project / "deployments/minnova/apps/storefront.yaml").write_text(f"name: storefront\nrepo: {url}\nhosts: [shop.minnova.io, shop.dev.minnova.io]\n")
    raw, secret_keys, file = from_stack_file(project, "dev")
    del raw["minnova:previews"]  # previews need a GitHub URL; this test is about the fetched secrets
    raw["minnova:secretsRecipients"] = json.dumps({"oracle": {"dev": identities()[0].recipient},
                                                   "storefront": {"dev": key.recipient}})
    raw["minnova:secretsKeys"] = json.dumps({"storefront": {"dev": key.secret}})
    inputs = load_inputs(project, raw, secret_keys | {"minnova:secretsKeys"}, file, cache_dir=tmp_path / "cache")
    values = inputs.secrets[("storefront", "dev")]
    assert values.string_data == {"API_TOKEN": "fetched-s3cr3t"}
    assert values.source == f"{url}@{commit[:12]}:.minnova/secrets/dev.enc.yaml"


def test_an_oversized_secrets_file_is_refused_without_reading_it_all(tmp_path):
    project = project_copy(tmp_path)
    path = project / "examples/oracle/.minnova/secrets/dev.enc.yaml"
    path.write_bytes(b"#" * (4 * 1024 * 1024))
    assert stack_problems(project) == [
        "examples/oracle/.minnova/secrets/dev.enc.yaml: file is larger than the limit of 262144 bytes"]


def test_the_mysql_variables_are_reserved_when_the_app_has_mysql():
    """Review of issue 26, finding 6: a secrets file could set MYSQL_* (and DATABASE_URL with mysql.databaseUrl),
    which the platform's own `env` would silently override."""
    from minnova_idp.load.secrets import platform_database_url, secret_values
    from minnova_idp.model.errors import ConfigError
    from minnova_idp.model.app_config import AppConfig

    config = AppConfig.model_validate({"name": "shop", "image": {"repository": "ghcr.io/acme/shop"}, "port": 8080,
                                       "database": {"enabled": False},
                                       "mysql": {"enabled": True, "databaseUrl": True},
                                       "environments": {"dev": {"host": "shop.dev.example.com"}}})
    for name in ("MYSQL_URL", "MYSQL_PASSWORD", "DATABASE_URL"):
        document = {"apiVersion": "v1", "kind": "Secret", "stringData": {name: "x"}}
        with pytest.raises(ConfigError) as refused:
            secret_values(document, "dev.enc.yaml", database=platform_database_url(config),
                          mysql=config.mysql.enabled)
        assert f"{name}" in str(refused.value.problems[0]) and "set by the platform" in \
            refused.value.problems[0].message, name
    assert "MYSQL_URL" in secret_values({"stringData": {"MYSQL_URL": "x"}}, "dev.enc.yaml", database=False).keys
