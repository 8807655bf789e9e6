"""Issue 15: secrets for app developers from the app repository alone, and a CI gate as strict as `pulumi up`.

An app developer has the app repository and the public recipients the platform team published there
(`.minnova/recipients.yaml`), no sops CLI and usually no key: they create, edit and rotate secrets files with
`minnova-idp secrets`, and `minnova-idp validate .` (CI, without keys) refuses what `pulumi up` refuses.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from minnova_idp.load.recipients import PublishedRecipients, read_published
from minnova_idp.load.secrets import (
    MAX_ARG_STRLEN,
    AppKey,
    check_encrypted,
    load_secret_values,
    loaded_app_secrets_problems,
    secrets_directory_problems,
    sops_config_text,
)
from minnova_idp.model.errors import ConfigError
from minnova_idp.sops import document as sops
from tests.conftest import PROJECT_DIR, load_stack_inputs, project_copy, stack_problems
from tests.support.cli import cli
from tests.support.sops_fixtures import sops_fixture

KEYS_FILE = PROJECT_DIR / "tests" / "fixtures" / "example-age-keys.txt"
DEV, PROD, PREVIEW = sops.parse_identities(KEYS_FILE.read_text(), str(KEYS_FILE))  # oracle's, in file order
SECRET = "s3cr3t-never-shown-7f3a"  # a plaintext that must never reach an error message or a temp file
SECRETS_REL = ".minnova/secrets"


def refused(result: subprocess.CompletedProcess, *secrets: str) -> str:
    """Exit 1, a message, no traceback, and none of `secrets` shown."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    for secret in (SECRET, *secrets):
        assert secret not in result.stdout + result.stderr
    return result.stderr


@pytest.fixture
def app_repo(tmp_path: Path) -> Path:
    """A new app repository: `init`, then the recipients the platform team published for it committed."""
    repo = tmp_path / "oracle"
    repo.mkdir()
    assert cli("init", "--name", "oracle", "--port", "4000", "--image", "ghcr.io/acme/oracle", "--domain",
               "acme.io", cwd=repo).returncode == 0
    published = cli("secrets", "publish", "oracle", cwd=PROJECT_DIR)
    assert published.returncode == 0, published.stderr
    (repo / ".minnova/recipients.yaml").write_text(published.stdout)
    return repo


def write_plaintext(repo: Path, environment: str = "prod", values: dict | None = None) -> Path:
    path = repo / SECRETS_REL / f"{environment}.enc.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Secret",
                                    "stringData": values or {"API_TOKEN": SECRET}}, sort_keys=False))
    return path


def decrypted(path: Path, identity=PROD) -> dict:
    return sops.decrypt(path.read_bytes(), [identity], str(path))


# ---- recipients for app developers: published by the platform team, committed in the app repo ------------------


def test_publish_prints_a_valid_recipients_file_of_every_environment():
    result = cli("secrets", "publish", "oracle", cwd=PROJECT_DIR)
    assert result.returncode == 0, result.stderr
    published = PublishedRecipients.model_validate(yaml.safe_load(result.stdout))
    assert published.app == "oracle"
    assert published.recipients == {"dev": [DEV.recipient], "preview": [PREVIEW.recipient], "prod": [PROD.recipient]}
    assert "AGE-SECRET-KEY" not in result.stdout
    only_dev = cli("secrets", "publish", "oracle", "--stack", "dev", cwd=PROJECT_DIR)
    assert set(yaml.safe_load(only_dev.stdout)["recipients"]) == {"dev", "preview"}
    assert "secrets new-key storefront" in refused(cli("secrets", "publish", "storefront", cwd=PROJECT_DIR))


def test_publish_out_writes_the_file(tmp_path):
    out = tmp_path / "recipients.yaml"
    result = cli("secrets", "publish", "oracle", "--out", str(out), cwd=PROJECT_DIR)
    assert result.returncode == 0 and result.stdout == ""
    assert yaml.safe_load(out.read_text())["app"] == "oracle"


@pytest.mark.parametrize(("text", "field", "message"), [
    ("app: oracle\nrecipients:\n  prod: [AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ]\n",
     "recipients.prod[0]", "is an age secret key (AGE-SECRET-KEY-..., not shown)"),
    ("app: oracle\nrecipients:\n  prod: age1nope\n", "recipients.prod[0]", "is not an age recipient"),
    ("app: oracle\nrecipients: {prod: [age1" + "q" * 58 + "]}\ndeployment: acme\n", "deployment",
     "unknown key 'deployment'"),
    ("app: oracle\nrecipients:\n  Prod: [" + "age1" + "q" * 58 + "]\n", "recipients.Prod", "not a valid environment"),
    ("app: oracle\nrecipients: {}\n", "recipients", ""),
    ("app: ledger\nrecipients:\n  prod: " + "age1" + "q" * 58 + "\n", "app", "is not this app ('oracle')"),
])
def test_recipients_file_is_validated_strictly_without_echoing_a_key(app_repo, text, field, message):
    (app_repo / ".minnova/recipients.yaml").write_text(text)
    stderr = refused(cli("validate", ".", cwd=app_repo), "AGE-SECRET-KEY-1QQ")
    assert ".minnova/recipients.yaml" in stderr and f"{field}:" in stderr and message in stderr, stderr
    # encrypt reads it too, and says the same
    write_plaintext(app_repo)
    stderr = refused(cli("secrets", "encrypt", f"{SECRETS_REL}/prod.enc.yaml", cwd=app_repo), "AGE-SECRET-KEY-1QQ")
    assert f"{field}:" in stderr


def test_a_single_recipient_may_be_written_without_a_list(app_repo):
    (app_repo / ".minnova/recipients.yaml").write_text(f"app: oracle\nrecipients:\n  prod: {PROD.recipient}\n")
    assert read_published(app_repo).recipients == {"prod": [PROD.recipient]}


# ---- sops-config and recipients work from the app repository alone ------------------------------------------


def test_sops_config_in_an_app_repo_without_recipients_fails_before_writing_anything(tmp_path):
    """The issue: `sops-config oracle > .sops.yaml` failed with "no Pulumi.<stack>.yaml here" in an app repo."""
    result = cli("secrets", "sops-config", "oracle", cwd=tmp_path)
    assert "secrets publish oracle" in refused(result) and result.stdout == ""
    result = cli("secrets", "sops-config", "oracle", "--out", ".sops.yaml", cwd=tmp_path)
    refused(result)
    assert not (tmp_path / ".sops.yaml").exists()  # --out writes only once everything succeeded
    (tmp_path / ".sops.yaml").write_text("creation_rules: []  # mine\n")
    refused(cli("secrets", "sops-config", "oracle", "--out", ".sops.yaml", cwd=tmp_path))
    assert (tmp_path / ".sops.yaml").read_text() == "creation_rules: []  # mine\n"


def test_sops_config_and_recipients_from_the_published_file(app_repo):
    result = cli("secrets", "sops-config", "oracle", "--out", ".sops.yaml", cwd=app_repo)
    assert result.returncode == 0, result.stderr
    rules = yaml.safe_load((app_repo / ".sops.yaml").read_text())["creation_rules"]
    assert [(rule["age"], rule["encrypted_regex"]) for rule in rules] == [
        (DEV.recipient, "^(data|stringData)$"), (PREVIEW.recipient, "^(data|stringData)$"),
        (PROD.recipient, "^(data|stringData)$")]
    recipients = cli("secrets", "recipients", "oracle", "prod", cwd=app_repo)
    assert recipients.returncode == 0 and recipients.stdout.strip() == PROD.recipient
    missing = refused(cli("secrets", "recipients", "oracle", "staging", cwd=app_repo))
    assert "recipients.staging: is not published" in missing and "secrets publish oracle" in missing
    assert "is not this app" in refused(cli("secrets", "recipients", "ledger", "prod", cwd=app_repo))


def test_sops_config_from_recipient_flags_refuses_a_secret_key_unseen(tmp_path):
    result = cli("secrets", "sops-config", "oracle", "--recipient", f"prod={PROD.recipient}", cwd=tmp_path)
    assert result.returncode == 0 and PROD.recipient in result.stdout
    stderr = refused(cli("secrets", "sops-config", "oracle", "--recipient", f"prod={PROD.secret}", cwd=tmp_path),
                     PROD.secret)
    assert "--recipient: value 1 is an age secret key" in stderr
    assert "not ENV=age1" in refused(cli("secrets", "sops-config", "oracle", "--recipient", PROD.recipient,
                                         cwd=tmp_path))


@pytest.mark.parametrize(("path", "matches"), [
    (".minnova/secrets/prod.enc.yaml", True),
    ("services/oracle/.minnova/secrets/prod.enc.yaml", True),
    ("/home/dev/oracle/.minnova/secrets/prod.enc.yaml", True),
    (".minnova/secrets/prod.enc.yml", False),   # the platform reads only .enc.yaml: sops must refuse it too
    (".minnova/secrets/prd.enc.yaml", False),
    (".minnova/secrets/prod.yaml", False),
    (".minnova/secrets/prod.enc.yaml.bak", False),
    ("x.minnova/secrets/prod.enc.yaml", False),
    (".minnova/secrets/sub/prod.enc.yaml", False),
])
def test_sops_config_rules_match_exactly_the_files_the_platform_reads(path, matches):
    import re

    rules = yaml.safe_load(sops_config_text("oracle", {"prod": [PROD.recipient]}, "test"))["creation_rules"]
    # sops uses Go's regexp (RE2): this pattern means the same in Python's re.
    assert any(re.search(rule["path_regex"], path) for rule in rules) is matches


# ---- secrets encrypt --------------------------------------------------------------------------------------


def test_encrypt_in_place_for_the_published_recipient_and_validate_accepts_it(app_repo):
    path = write_plaintext(app_repo, values={"API_TOKEN": SECRET, "FLAG": "yes", "PORT_NUMBER": 8080})
    result = cli("secrets", "encrypt", f"{SECRETS_REL}/prod.enc.yaml", cwd=app_repo)
    assert result.returncode == 0, result.stderr
    assert SECRET not in path.read_text() and SECRET not in result.stdout
    assert sops.recipients(path.read_bytes(), str(path)) == (PROD.recipient,)
    # yes stays the string "yes", as sops (yaml.v3) reads it; the number keeps its type
    assert decrypted(path)["stringData"] == {"API_TOKEN": SECRET, "FLAG": "yes", "PORT_NUMBER": 8080}
    assert cli("validate", ".", cwd=app_repo).returncode == 0
    with pytest.raises(sops.SopsError):
        decrypted(path, DEV)  # prod's key only


def test_encrypt_from_stdin_and_from_dotenv(app_repo):
    result = cli("secrets", "encrypt", "-", "--out", f"{SECRETS_REL}/dev.enc.yaml", cwd=app_repo,
                 stdin=f"stringData:\n  API_TOKEN: {SECRET}\n")
    assert result.returncode == 0, result.stderr
    assert decrypted(app_repo / SECRETS_REL / "dev.enc.yaml", DEV)["stringData"] == {"API_TOKEN": SECRET}
    (app_repo / "prod.env").write_text(f"# local\nAPI_TOKEN={SECRET}\nMULTI=a\\nb\n")
    result = cli("secrets", "encrypt", "prod.env", "--out", f"{SECRETS_REL}/prod.enc.yaml", cwd=app_repo)
    assert result.returncode == 0, result.stderr
    assert decrypted(app_repo / SECRETS_REL / "prod.enc.yaml")["stringData"] == {"API_TOKEN": SECRET,
                                                                                 "MULTI": "a\nb"}
    # a .env target is a sops dotenv file (for local use; the platform reads .enc.yaml)
    result = cli("secrets", "encrypt", "prod.env", "--env", "prod", cwd=app_repo)
    assert result.returncode == 0, result.stderr
    assert sops.decrypt((app_repo / "prod.env").read_text(), [PROD], "prod.env") == {"API_TOKEN": SECRET,
                                                                                     "MULTI": "a\nb"}
    assert cli("validate", ".", cwd=app_repo).returncode == 0


def test_decrypt_of_a_dotenv_file_round_trips_a_multi_line_value(tmp_path):
    """`secrets decrypt x.env` prints what `sops -d x.env` prints: one KEY=VALUE line per value, a newline written
    as `\\n` (getsops/sops@v3.10.2 stores/dotenv/store.go:144); it reads back, and encrypts back, to the same values."""
    values = {"API_TOKEN": SECRET, "PEM": "-----BEGIN KEY-----\nabc\n-----END KEY-----"}
    (tmp_path / "local.env").write_text(sops.encrypt_dotenv(values, [PROD.recipient]))
    result = cli("secrets", "decrypt", "local.env", "--identity", str(KEYS_FILE), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"API_TOKEN={SECRET}\nPEM=-----BEGIN KEY-----\\nabc\\n-----END KEY-----\n"
    assert sops.plaintext_dotenv(result.stdout, "<stdout>") == values
    (tmp_path / "again.env").write_text(result.stdout)
    result = cli("secrets", "encrypt", "again.env", "--recipient", PROD.recipient, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sops.decrypt((tmp_path / "again.env").read_text(), [PROD], "again.env") == values


def test_encrypt_for_recipient_flags_outside_an_app_repo(tmp_path):
    other = sops.generate_identity()
    (tmp_path / "s.yaml").write_text(f"stringData:\n  API_TOKEN: {SECRET}\n")
    result = cli("secrets", "encrypt", "s.yaml", "--recipient", other.recipient, "--recipient", PROD.recipient,
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sops.recipients((tmp_path / "s.yaml").read_bytes(), "s") == (other.recipient, PROD.recipient)
    (tmp_path / "t.yaml").write_text(f"stringData:\n  API_TOKEN: {SECRET}\n")
    assert "pass --env ENV, or --recipient" in refused(cli("secrets", "encrypt", "t.yaml", cwd=tmp_path))
    stderr = refused(cli("secrets", "encrypt", "t.yaml", "--recipient", other.secret, cwd=tmp_path), other.secret)
    assert "--recipient: value 1 is an age secret key" in stderr


@pytest.mark.parametrize(("values", "field", "why"), [
    ({"PORT": SECRET}, "stringData.PORT", "is set by the platform"),
    ({"lower-case": SECRET}, "stringData.lower-case", "is not a valid environment variable name"),
    ({"EMPTY": ""}, "stringData.EMPTY", "is empty"),
    ({"BIG": "x" * MAX_ARG_STRLEN}, "stringData.BIG", "is too large for an environment variable"),
])
def test_encrypt_refuses_what_the_platform_refuses_naming_the_field_not_the_value(app_repo, values, field, why):
    path = write_plaintext(app_repo, values=values)
    before = path.read_bytes()
    stderr = refused(cli("secrets", "encrypt", f"{SECRETS_REL}/prod.enc.yaml", cwd=app_repo))
    assert f"{SECRETS_REL}/prod.enc.yaml: {field}: {why}" in stderr, stderr
    assert path.read_bytes() == before  # nothing written


def test_encrypt_refuses_misnamed_targets_existing_outputs_and_encrypted_files(app_repo):
    write_plaintext(app_repo)
    stderr = refused(cli("secrets", "encrypt", f"{SECRETS_REL}/prod.enc.yaml", "--out", f"{SECRETS_REL}/prod.enc.yml",
                         cwd=app_repo))
    assert "prod.enc.yml: is not read by the platform" in stderr and "did you mean prod.enc.yaml?" in stderr
    assert not (app_repo / SECRETS_REL / "prod.enc.yml").exists()
    assert cli("secrets", "encrypt", f"{SECRETS_REL}/prod.enc.yaml", cwd=app_repo).returncode == 0
    assert "is already encrypted" in refused(cli("secrets", "encrypt", f"{SECRETS_REL}/prod.enc.yaml", cwd=app_repo))
    (app_repo / "new.yaml").write_text(f"stringData:\n  API_TOKEN: {SECRET}\n")
    stderr = refused(cli("secrets", "encrypt", "new.yaml", "--out", f"{SECRETS_REL}/prod.enc.yaml", cwd=app_repo))
    assert "--out:" in stderr and "pass --force" in stderr
    assert cli("secrets", "encrypt", "new.yaml", "--out", f"{SECRETS_REL}/prod.enc.yaml", "--force",
               cwd=app_repo).returncode == 0
    assert "--out: is required" in refused(cli("secrets", "encrypt", "-", cwd=app_repo, stdin="a: b\n"))


# ---- secrets edit: decrypt to a private file, $EDITOR, encrypt again, no plaintext left ----------------------


def editor(tmp_path: Path, body: str) -> Path:
    """An $EDITOR script; it logs the mode of the file and directory it was given, and the directory."""
    script = tmp_path / "editor.sh"
    log = tmp_path / "editor.log"
    script.write_text("#!/bin/sh\nset -e\n"
                      f"stat -c '%a' \"$1\" \"$(dirname \"$1\")\" > {log}\n"
                      f"dirname \"$(dirname \"$1\")\" >> {log}\n" + body)
    script.chmod(0o755)
    return script


@pytest.fixture
def private_tmp(tmp_path: Path) -> Path:
    directory = tmp_path / "tmpdir"
    directory.mkdir()
    return directory


def no_plaintext_left(directory: Path) -> None:
    assert list(directory.iterdir()) == [], list(directory.rglob("*"))


def edit(repo: Path, script: Path, tmpdir: Path, *args: str) -> subprocess.CompletedProcess:
    return cli("secrets", "edit", f"{SECRETS_REL}/prod.enc.yaml", *args, cwd=repo,
               env={"EDITOR": str(script), "TMPDIR": str(tmpdir), "SOPS_AGE_KEY_FILE": str(KEYS_FILE)})


@pytest.fixture
def encrypted_prod(app_repo: Path) -> Path:
    write_plaintext(app_repo, values={"API_TOKEN": SECRET, "OTHER": "kept-value"})
    assert cli("secrets", "encrypt", f"{SECRETS_REL}/prod.enc.yaml", cwd=app_repo).returncode == 0
    return app_repo / SECRETS_REL / "prod.enc.yaml"


def test_edit_changes_a_value_keeps_recipients_and_data_key_and_leaves_no_plaintext(
        tmp_path, app_repo, encrypted_prod, private_tmp):
    before = yaml.safe_load(encrypted_prod.read_text())
    script = editor(tmp_path, f"sed -i 's/{SECRET}/rotated-value-9c1/' \"$1\"\n")
    result = edit(app_repo, script, private_tmp)
    assert result.returncode == 0, result.stderr
    assert decrypted(encrypted_prod)["stringData"] == {"API_TOKEN": "rotated-value-9c1", "OTHER": "kept-value"}
    after = yaml.safe_load(encrypted_prod.read_text())
    assert after["sops"]["age"] == before["sops"]["age"]  # same recipients, same data key (as sops edit)
    assert after["sops"]["mac"] != before["sops"]["mac"]
    mode_file, mode_dir, parent = (tmp_path / "editor.log").read_text().split()
    assert (mode_file, mode_dir, parent) == ("600", "700", str(private_tmp))
    no_plaintext_left(private_tmp)
    assert cli("validate", ".", cwd=app_repo).returncode == 0


def test_edit_without_changes_leaves_the_file_untouched(tmp_path, app_repo, encrypted_prod, private_tmp):
    before = encrypted_prod.read_bytes()
    result = edit(app_repo, editor(tmp_path, "true\n"), private_tmp)
    assert result.returncode == 0 and "No changes" in result.stdout
    assert encrypted_prod.read_bytes() == before
    no_plaintext_left(private_tmp)


@pytest.mark.parametrize(("body", "exit_code", "message"), [
    ("echo 'stringData: [' >> \"$1\"\n", 1, "invalid YAML"),
    (f"sed -i 's/{SECRET}/changed/' \"$1\"\ncp \"$1\" \"$1~\"\nexit 3\n", 1, "exited with status 3: nothing was changed"),
    ("sed -i 's/  API_TOKEN:/  PORT:/' \"$1\"\n", 1, "stringData.PORT: is set by the platform"),
    ("printf 'stringData:\\n  A: b\\nstringData:\\n  B: c\\n' > \"$1\"\n", 1, "duplicate key"),
    ("sed -i 's/OTHER/other-name/' \"$1\"\nkill -INT $PPID\nexec sleep 30\n", 130, "Interrupted"),
    ("sed -i 's/OTHER/NEW_NAME/' \"$1\"\nkill -TERM $PPID\nexec sleep 30\n", 143, ""),
    ("sed -i 's/OTHER/NEW_NAME/' \"$1\"\nkill -HUP $PPID\nexec sleep 30\n", 129, ""),
    ("cp \"$1\" \"$1.swp\"\nrm \"$1\"\n", 1, "cannot be read back"),
])
def test_edit_fails_safe_on_every_exit_path(tmp_path, app_repo, encrypted_prod, private_tmp, body, exit_code,
                                            message):
    before = encrypted_prod.read_bytes()
    result = edit(app_repo, editor(tmp_path, body), private_tmp)
    assert result.returncode == exit_code, (result.stdout, result.stderr)
    assert message in result.stderr and "Traceback" not in result.stderr
    assert SECRET not in result.stdout + result.stderr and "kept-value" not in result.stderr
    assert encrypted_prod.read_bytes() == before
    no_plaintext_left(private_tmp)  # the editor's copies (~, .swp) too


def test_edit_that_does_not_parse_keeps_what_was_typed_encrypted(tmp_path, app_repo, encrypted_prod, private_tmp):
    before = encrypted_prod.read_bytes()
    result = edit(app_repo, editor(tmp_path, "echo '  TYPED_BY_HAND: precious-typing-81c' >> \"$1\"\n"
                                             "echo 'stringData: [' >> \"$1\"\n"), private_tmp)
    assert result.returncode == 1 and "invalid YAML" in result.stderr
    kept = app_repo / ".minnova" / "prod.enc.yaml.rejected-edit.enc.yaml"
    assert str(kept.relative_to(app_repo)) in result.stderr and "precious-typing-81c" not in kept.read_text()
    assert "precious-typing-81c" in decrypted(kept)["rejectedEdit"] and SECRET in decrypted(kept)["rejectedEdit"]
    assert encrypted_prod.read_bytes() == before
    assert kept.stat().st_mode & 0o777 == 0o600
    no_plaintext_left(private_tmp)


def test_edit_cleans_up_after_an_exception_while_encrypting(tmp_path, app_repo, encrypted_prod, private_tmp,
                                                            monkeypatch, capsys):
    from minnova_idp.cli import main as cli_module

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    before = encrypted_prod.read_bytes()
    monkeypatch.chdir(app_repo)
    monkeypatch.setenv("EDITOR", str(editor(tmp_path, f"sed -i 's/{SECRET}/changed-value/' \"$1\"\n")))
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(KEYS_FILE))
    monkeypatch.delenv("MINNOVA_IDP_DEBUG", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))
    monkeypatch.setattr(sops, "reencrypt", broken)
    assert cli_module.main(["secrets", "edit", f"{SECRETS_REL}/prod.enc.yaml"]) == cli_module.EXIT_INTERNAL
    assert "RuntimeError: boom" in capsys.readouterr().err
    assert encrypted_prod.read_bytes() == before
    no_plaintext_left(private_tmp)


def test_edit_creates_a_new_file_for_the_published_recipient_without_a_key(tmp_path, app_repo, private_tmp):
    script = editor(tmp_path, f"printf 'stringData:\\n  API_TOKEN: {SECRET}\\n' > \"$1\"\n")
    result = cli("secrets", "edit", f"{SECRETS_REL}/preview.enc.yaml", cwd=app_repo,
                 env={"EDITOR": str(script), "TMPDIR": str(private_tmp)})
    assert result.returncode == 0, result.stderr
    path = app_repo / SECRETS_REL / "preview.enc.yaml"
    assert decrypted(path, PREVIEW)["stringData"] == {"API_TOKEN": SECRET}
    no_plaintext_left(private_tmp)
    # leaving the template as it is writes nothing
    unchanged = cli("secrets", "edit", f"{SECRETS_REL}/dev.enc.yaml", cwd=app_repo,
                    env={"EDITOR": "true", "TMPDIR": str(private_tmp)})
    assert unchanged.returncode == 0 and not (app_repo / SECRETS_REL / "dev.enc.yaml").exists()
    # a misnamed new file is refused before the editor opens
    stderr = refused(cli("secrets", "edit", f"{SECRETS_REL}/prd.enc.yaml", cwd=app_repo,
                         env={"EDITOR": "false", "TMPDIR": str(private_tmp)}))
    assert "did you mean prod.enc.yaml?" in stderr


def test_edit_without_the_key_says_so(app_repo, encrypted_prod, private_tmp):
    result = cli("secrets", "edit", f"{SECRETS_REL}/prod.enc.yaml", cwd=app_repo,
                 env={"EDITOR": "true", "TMPDIR": str(private_tmp)})
    assert "SOPS_AGE_KEY_FILE" in refused(result)
    wrong = private_tmp.parent / "wrong.txt"
    wrong.write_text(DEV.secret + "\n")
    result = cli("secrets", "edit", f"{SECRETS_REL}/prod.enc.yaml", "--identity", str(wrong), cwd=app_repo,
                 env={"EDITOR": "true", "TMPDIR": str(private_tmp)})
    assert PROD.recipient in refused(result, DEV.secret)
    no_plaintext_left(private_tmp)


# ---- round trips with files the real sops CLI wrote ---------------------------------------------------------


def test_edit_a_real_sops_yaml_file(tmp_path, private_tmp):
    original = sops_fixture("age.enc.yaml").read_text()
    key = sops.parse_identities(sops_fixture("age.key.txt").read_text(), "age.key.txt")
    work = tmp_path / "work"
    work.mkdir()
    (work / "age.enc.yaml").write_text(original)
    script = editor(tmp_path, "sed -i 's/key: value/key: edited-value/' \"$1\"\n")
    result = cli("secrets", "edit", "age.enc.yaml", "--identity", str(sops_fixture("age.key.txt")), cwd=work,
                 env={"EDITOR": str(script), "TMPDIR": str(private_tmp)})
    assert result.returncode == 0, result.stderr
    text = (work / "age.enc.yaml").read_text()
    expected = sops.decrypt(original, key, "age.enc.yaml")
    expected["stringData"]["key"] = "edited-value"
    assert sops.decrypt(text, key, "age.enc.yaml") == expected
    written, real = yaml.safe_load(text)["sops"], yaml.safe_load(original)["sops"]
    assert written["age"] == real["age"] and written["encrypted_regex"] == real["encrypted_regex"]
    # the metadata keys we write, in the order the real sops writes them (it also writes empty lists of other keys)
    assert list(written) == [k for k in real if k in written]
    assert sops_fixture("age.enc.yaml").read_text() == original
    no_plaintext_left(private_tmp)


def test_edit_and_rotate_a_real_sops_dotenv_file(tmp_path, private_tmp):
    original = sops_fixture("env.enc.env").read_text()
    key_file = sops_fixture("age.key.txt")
    key = sops.parse_identities(key_file.read_text(), "age.key.txt")
    work = tmp_path / "work"
    work.mkdir()
    (work / "env.enc.env").write_text(original)
    script = editor(tmp_path, "sed -i 's/^key=value$/key=edited/' \"$1\"\necho 'ADDED=two\\\\nlines' >> \"$1\"\n")
    result = cli("secrets", "edit", "env.enc.env", "--identity", str(key_file), cwd=work,
                 env={"EDITOR": str(script), "TMPDIR": str(private_tmp)})
    assert result.returncode == 0, result.stderr
    text = (work / "env.enc.env").read_text()
    assert sops.decrypt(text, key, "env.enc.env") == {"key": "edited", "ADDED": "two\nlines"}
    real_keys = [line.split("=", 1)[0] for line in original.splitlines() if line.startswith("sops_")]
    assert [line.split("=", 1)[0] for line in text.splitlines() if line.startswith("sops_")] == real_keys
    no_plaintext_left(private_tmp)
    new = sops.generate_identity()
    result = cli("secrets", "rotate", "env.enc.env", "--identity", str(key_file), "--recipient", new.recipient,
                 cwd=work)
    assert result.returncode == 0, result.stderr
    rotated = (work / "env.enc.env").read_text()
    assert sops.decrypt(rotated, [new], "env.enc.env") == {"key": "edited", "ADDED": "two\nlines"}
    with pytest.raises(sops.SopsError):
        sops.decrypt(rotated, key, "env.enc.env")


@pytest.mark.skipif(shutil.which("sops") is None, reason="the sops CLI is not installed (not needed to use "
                                                        "minnova-idp; this cross-checks our files with it)")
def test_the_sops_cli_opens_what_we_encrypt(tmp_path, app_repo):
    path = write_plaintext(app_repo)
    assert cli("secrets", "encrypt", f"{SECRETS_REL}/prod.enc.yaml", cwd=app_repo).returncode == 0
    result = subprocess.run(["sops", "--decrypt", str(path)], capture_output=True, text=True,
                            env={**os.environ, "SOPS_AGE_KEY_FILE": str(KEYS_FILE)})
    assert result.returncode == 0, result.stderr
    assert yaml.safe_load(result.stdout)["stringData"] == {"API_TOKEN": SECRET}


# ---- rotating: the platform team rotates the key, publishes, the file is re-encrypted ----------------------


def test_rotate_after_a_key_rotation(app_repo, encrypted_prod, tmp_path):
    new = sops.generate_identity()
    published = read_published(app_repo)
    (app_repo / ".minnova/recipients.yaml").write_text(yaml.safe_dump(
        {"app": "oracle", "recipients": {**published.recipients, "prod": [new.recipient]}}))
    # the old file is now refused offline: CI says what to do
    stderr = refused(cli("validate", ".", cwd=app_repo))
    assert f"is encrypted for {PROD.recipient}, not for {new.recipient}" in stderr and "secrets rotate" in stderr
    before = yaml.safe_load(encrypted_prod.read_text())["sops"]["age"]
    result = cli("secrets", "rotate", f"{SECRETS_REL}/prod.enc.yaml", "--identity", str(KEYS_FILE), cwd=app_repo)
    assert result.returncode == 0, result.stderr
    assert decrypted(encrypted_prod, new)["stringData"] == {"API_TOKEN": SECRET, "OTHER": "kept-value"}
    with pytest.raises(sops.SopsError, match="none of the given age identities"):
        decrypted(encrypted_prod, PROD)
    assert yaml.safe_load(encrypted_prod.read_text())["sops"]["age"] != before
    assert cli("validate", ".", cwd=app_repo).returncode == 0


# ---- CI gate = deploy gate ----------------------------------------------------------------------------------


def encrypted_doc(document: dict, recipient: str = PROD.recipient) -> bytes:
    return sops.encrypt_yaml({"apiVersion": "v1", "kind": "Secret", **document}, [recipient]).encode()


MAX_VALUE = MAX_ARG_STRLEN - len("BIG") - 2  # BIG=<value> and the NUL


BAD_FILES = [
    pytest.param({"stringData": {"PORT": SECRET}}, True, "stringData.PORT", id="PORT"),
    pytest.param({"stringData": {"DATABASE_URL": SECRET}}, True, "stringData.DATABASE_URL", id="DATABASE_URL"),
    pytest.param({"stringData": {"lower-case": SECRET}}, True, "stringData.lower-case", id="name"),
    pytest.param({"stringData": {"1ST": SECRET}}, True, "stringData.1ST", id="digit-first"),
    pytest.param({"stringData": {("N" * 254): SECRET}}, True, "stringData." + "N" * 254, id="long-name"),
    pytest.param({"stringData": [SECRET, "b"]}, True, "stringData", id="stringData-list"),
    pytest.param({"data": [base64.b64encode(SECRET.encode()).decode()]}, True, "data", id="data-list"),
    pytest.param({"stringData": {"NESTED": {"a": SECRET}}}, True, "stringData.NESTED", id="nested"),
    pytest.param({"stringData": {"A": SECRET}, "data": {"A": "YQ=="}}, True, "data.A", id="both-sections"),
    pytest.param({"kind": "ConfigMap", "stringData": {"A": SECRET}}, True, "kind", id="kind"),
    pytest.param({"stringData": {"BIG": "x" * (MAX_VALUE + 1)}}, False, "stringData.BIG", id="size"),
    pytest.param({"data": {"BIG": base64.b64encode(b"x" * (MAX_VALUE + 1)).decode()}}, False, "data.BIG",
                 id="data-size"),
]


@pytest.mark.parametrize(("document", "database", "field"), BAD_FILES)
def test_validate_refuses_offline_what_pulumi_up_refuses(document, database, field):
    content = encrypted_doc(document)
    shown = ".minnova/secrets/prod.enc.yaml"
    ci = check_encrypted(content, shown, database=database, recipients=[PROD.recipient])
    gates = {"validate (CI, no key)": ci}
    for name, key in (("plan without key", AppKey(PROD.recipient)), ("pulumi up", AppKey(PROD.recipient, PROD.secret))):
        with pytest.raises(ConfigError) as caught:
            load_secret_values(content, shown, "oracle", "prod", key, "Pulumi.prod.yaml", database=database)
        gates[name] = caught.value.problems
    for name, problems in gates.items():
        assert field in [p.field for p in problems], (name, problems)
        assert all(p.file == shown for p in problems)
        assert SECRET not in " ".join(map(str, problems)), name
    assert {(p.field, p.message) for p in gates["validate (CI, no key)"]} == \
        {(p.field, p.message) for p in gates["plan without key"]} == {(p.field, p.message) for p in gates["pulumi up"]}


@pytest.mark.parametrize("document", [
    {"stringData": {"BIG": "x" * MAX_VALUE}},
    {"data": {"BIG": base64.b64encode(b"x" * MAX_VALUE).decode()}},
    {"stringData": {"DATABASE_URL": "postgres://elsewhere"}},  # the app has no database: it is the app's
])
def test_values_up_to_the_limits_are_accepted_by_every_gate(document):
    content = encrypted_doc(document)
    assert check_encrypted(content, "f", database=False, recipients=[PROD.recipient]) == []
    for key in (AppKey(PROD.recipient), AppKey(PROD.recipient, PROD.secret)):
        load_secret_values(content, "f", "oracle", "prod", key, "Pulumi.prod.yaml", database=False)


def test_a_file_encrypted_without_an_encrypted_regex_passes_every_gate():
    """sops's default rule encrypts kind and apiVersion too: offline, what cannot be read is left to decryption."""
    content = sops.encrypt_yaml({"apiVersion": "v1", "kind": "Secret", "stringData": {"API_TOKEN": SECRET}},
                                [PROD.recipient], encrypted_regex=None).encode()
    assert yaml.safe_load(content)["kind"].startswith("ENC[")
    assert check_encrypted(content, "f", recipients=[PROD.recipient]) == []
    assert not load_secret_values(content, "f", "oracle", "prod", AppKey(PROD.recipient), "P").decrypted
    values = load_secret_values(content, "f", "oracle", "prod", AppKey(PROD.recipient, PROD.secret), "P")
    assert values.string_data == {"API_TOKEN": SECRET}
    wrong_kind = sops.encrypt_yaml({"kind": "ConfigMap", "stringData": {"A": "b"}}, [PROD.recipient],
                                   encrypted_regex=None).encode()
    with pytest.raises(ConfigError, match="kind: must be Secret"):
        load_secret_values(wrong_kind, "f", "oracle", "prod", AppKey(PROD.recipient, PROD.secret), "P")


@pytest.mark.skipif(sys.platform != "linux" or os.sysconf("SC_PAGE_SIZE") != 4096,
                    reason="MAX_ARG_STRLEN is PAGE_SIZE * 32; this checks the 4 KiB-page value on Linux")
def test_the_size_limit_is_the_kernels_one_environment_string_limit():
    """include/uapi/linux/binfmts.h: MAX_ARG_STRLEN (PAGE_SIZE * 32); execve refuses a longer NAME=value."""
    assert MAX_ARG_STRLEN == 131072
    subprocess.run(["/bin/true"], env={"BIG": "x" * MAX_VALUE}, check=True)
    with pytest.raises(OSError) as caught:
        subprocess.run(["/bin/true"], env={"BIG": "x" * (MAX_VALUE + 1)}, check=True)
    assert caught.value.errno == 7  # E2BIG


@pytest.mark.parametrize(("document", "field"), [
    ({"stringData": {"PORT": SECRET}}, "stringData.PORT"),
    ({"stringData": [SECRET]}, "stringData"),
    ({"stringData": {"bad-name": SECRET}}, "stringData.bad-name"),
    ({"stringData": {"BIG": "x" * MAX_ARG_STRLEN}}, "stringData.BIG"),
    ({"stringData": {"EMPTY": ""}}, "stringData.EMPTY"),
])
def test_minnova_idp_validate_checks_the_secrets_files_offline(app_repo, document, field):
    (app_repo / SECRETS_REL).mkdir()
    (app_repo / SECRETS_REL / "prod.enc.yaml").write_bytes(encrypted_doc(document))
    stderr = refused(cli("validate", ".", cwd=app_repo))
    assert f"{SECRETS_REL}/prod.enc.yaml: {field}:" in stderr, stderr


def test_validate_database_url_depends_on_the_database(app_repo):
    (app_repo / SECRETS_REL).mkdir()
    (app_repo / SECRETS_REL / "prod.enc.yaml").write_bytes(encrypted_doc({"stringData": {"DATABASE_URL": SECRET}}))
    assert cli("validate", ".", cwd=app_repo).returncode == 0  # no database: DATABASE_URL is the app's own
    app_yaml = app_repo / ".minnova/app.yaml"
    app_yaml.write_text(app_yaml.read_text().replace("enabled: false", "enabled: true"))
    assert "stringData.DATABASE_URL: is set by the platform" in refused(cli("validate", ".", cwd=app_repo))


def test_validate_refuses_a_plaintext_secrets_file(app_repo):
    write_plaintext(app_repo)
    stderr = refused(cli("validate", ".", cwd=app_repo))
    assert f"{SECRETS_REL}/prod.enc.yaml: not a sops file" in stderr and "rotate them" in stderr


@pytest.mark.parametrize(("name", "content", "message", "hint"), [
    ("prod.enc.yml", "sops", "is not read by the platform", "did you mean prod.enc.yaml?"),
    ("prd.enc.yaml", "sops", "there is no environment 'prd'", "did you mean prod.enc.yaml?"),
    ("prod.yaml", f"stringData:\n  API_TOKEN: {SECRET}\n", "is NOT encrypted", "did you mean prod.enc.yaml?"),
    ("staging.enc.yaml", "sops", "there is no environment 'staging'", "add the environment to app.yaml"),
    ("prod.enc.json", "sops", "is not read by the platform", "did you mean prod.enc.yaml?"),
    (".env", f"API_TOKEN={SECRET}\n", "is NOT encrypted", "move anything else out of .minnova/secrets/"),
    ("previews.enc.yaml", "sops", "there is no environment 'previews'", "did you mean preview.enc.yaml?"),
])
def test_misnamed_secrets_files_are_errors(app_repo, name, content, message, hint):
    (app_repo / SECRETS_REL).mkdir()
    (app_repo / SECRETS_REL / name).write_bytes(encrypted_doc({"stringData": {"A": "b"}}) if content == "sops"
                                                else content.encode())
    stderr = refused(cli("validate", ".", cwd=app_repo))
    assert f"{SECRETS_REL}/{name}: " in stderr and message in stderr and hint in stderr, stderr


def test_directories_and_links_in_the_secrets_directory_are_errors(app_repo, tmp_path):
    secrets = app_repo / SECRETS_REL
    secrets.mkdir()
    (secrets / "old").mkdir()
    (tmp_path / "elsewhere.yaml").write_text("a: b\n")
    (secrets / "prod.enc.yaml").symlink_to(tmp_path / "elsewhere.yaml")
    stderr = refused(cli("validate", ".", cwd=app_repo))
    assert f"{SECRETS_REL}/old: is a directory" in stderr
    assert "prod.enc.yaml: symbolic links are not" in stderr or "prod.enc.yaml: is a symbolic link" in stderr, stderr


def test_the_directory_check_is_a_function_of_the_directory_alone(tmp_path):
    secrets = tmp_path / SECRETS_REL
    secrets.mkdir(parents=True)
    for name in ("dev.enc.yaml", "prod.enc.yaml", "preview.enc.yaml"):
        (secrets / name).write_bytes(encrypted_doc({"stringData": {"A": "b"}}))
    assert secrets_directory_problems(tmp_path, ["dev", "prod"]) == []
    assert [p.file for p in secrets_directory_problems(tmp_path, ["dev"])] == [str(secrets / "prod.enc.yaml")]
    assert secrets_directory_problems(tmp_path / "nothing-here", ["dev"]) == []


# ---- the deploy path: load_inputs (inputs.py calls these) ---------------------------------------------------


def test_deploy_path_directory_checks(tmp_path):
    project = project_copy(tmp_path)
    secrets = project / "examples/oracle" / SECRETS_REL
    inputs = load_stack_inputs(project, "prod")  # loaded while the repository is right...
    shutil.copy(secrets / "prod.enc.yaml", secrets / "prod.enc.yml")  # ...then a misnamed file appears
    found = [str(p) for p in loaded_app_secrets_problems(inputs.apps, inputs.stack)]
    assert found == ["examples/oracle/.minnova/secrets/prod.enc.yml: is not read by the platform: it reads only "
                     "<env>.enc.yaml files, so this one would be ignored (hint: did you mean prod.enc.yaml?)"]
    # a stale recipients file in the app repo: the stack decrypts prod with another key
    (secrets / "prod.enc.yml").unlink()
    (project / "examples/oracle/.minnova/recipients.yaml").write_text(
        f"app: oracle\nrecipients:\n  prod: [{DEV.recipient}]\n")
    found = [str(p) for p in loaded_app_secrets_problems(inputs.apps, inputs.stack)]
    assert found == [f"examples/oracle/.minnova/recipients.yaml: recipients.prod: does not list {PROD.recipient}, the "
                     "key Pulumi.prod.yaml decrypts oracle/prod with (hint: the platform team runs: minnova-idp "
                     "secrets publish oracle, and the app repository commits it)"]
    (project / "examples/oracle/.minnova/recipients.yaml").write_text(
        cli("secrets", "publish", "oracle", cwd=project).stdout)
    assert loaded_app_secrets_problems(inputs.apps, inputs.stack) == []


def test_load_inputs_refuses_misnamed_secrets_files(tmp_path):
    project = project_copy(tmp_path)
    secrets = project / "examples/oracle" / SECRETS_REL
    shutil.copy(secrets / "prod.enc.yaml", secrets / "prd.enc.yaml")
    assert any("prd.enc.yaml: there is no environment 'prd'" in p for p in stack_problems(project, "prod"))


def test_load_inputs_accepts_database_url_for_an_app_without_a_database(tmp_path):
    project = project_copy(tmp_path)
    shared = sops.generate_identity()
    (project / "examples/storefront" / SECRETS_REL).mkdir()
    (project / "examples/storefront" / SECRETS_REL / "dev.enc.yaml").write_bytes(
        encrypted_doc({"stringData": {"DATABASE_URL": "postgres://elsewhere"}}, shared.recipient))
    extra = {"minnova:secretsSharedRecipient": shared.recipient, "minnova:secretsSharedKey": shared.secret}
    inputs = load_stack_inputs(project, extra=extra, secret={"minnova:secretsSharedKey"})
    assert inputs.secrets[("storefront", "dev")].string_data == {"DATABASE_URL": "postgres://elsewhere"}


# ---- hostile files -------------------------------------------------------------------------------------------


def test_a_recipients_file_that_is_a_link_or_a_fifo_is_refused_without_being_read(app_repo, tmp_path):
    from tests.load.test_hostile_inputs import within

    recipients = app_repo / ".minnova/recipients.yaml"
    (tmp_path / "elsewhere.yaml").write_text(recipients.read_text())
    recipients.unlink()
    recipients.symlink_to(tmp_path / "elsewhere.yaml")
    assert ".minnova/recipients.yaml: is a symbolic link" in refused(cli("validate", ".", cwd=app_repo))
    recipients.unlink()
    os.mkfifo(recipients)
    with pytest.raises(ConfigError, match="is a named pipe"):
        within(5, lambda: read_published(app_repo), recipients)
    secrets = app_repo / SECRETS_REL
    secrets.mkdir()
    os.mkfifo(secrets / "prod.enc.yml")  # never opened: listing it is enough to refuse it
    problems = within(5, lambda: secrets_directory_problems(app_repo, ["dev", "prod"]), secrets)
    assert [str(p) for p in problems] == [f"{secrets}/prod.enc.yml: is not a regular file"]


# ---- docs/app-developers.md's walkthrough, command by command ------------------------------------------------


def test_the_package_pipx_installs_is_minnova_idp_with_its_command():
    """`pipx install "minnova-idp @ git+https://github.com/<org>/<infra-repo>"` (the network part is not testable
    here): the distribution is named minnova-idp, installs the `minnova-idp` command, and ships every module."""
    import tomllib

    project = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())
    assert project["project"]["name"] == "minnova-idp"
    assert project["project"]["scripts"] == {"minnova-idp": "minnova_idp.cli.main:main"}
    assert project["tool"]["setuptools"]["packages"]["find"]["include"] == ["minnova_idp", "minnova_idp.*"]


def test_readme_app_developer_walkthrough(tmp_path):
    """The app-developer section's commands, in its order: init, secrets (create, add, edit with a key, rotate),
    CI. Then the platform's offline plan path decrypts what was written."""
    repo = tmp_path / "oracle"
    repo.mkdir()
    private = tmp_path / "tmpdir"
    private.mkdir()

    def run(*args: str, **kwargs) -> subprocess.CompletedProcess:
        result = cli(*args, cwd=repo, **kwargs)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result

    # init
    run("init", "--name", "oracle", "--port", "4000", "--image", "ghcr.io/acme/oracle", "--domain", "acme.io")
    run("validate", ".")
    # the platform team publishes the recipients (infra repo); the app repo commits the file
    assert cli("secrets", "publish", "oracle", "--out", str(repo / ".minnova/recipients.yaml"),
               cwd=PROJECT_DIR).returncode == 0
    # secrets: create a file in $EDITOR (no key needed), or encrypt from stdin
    create = editor(tmp_path, f"printf 'stringData:\\n  API_TOKEN: {SECRET}\\n' > \"$1\"\n")
    run("secrets", "edit", ".minnova/secrets/prod.enc.yaml", env={"EDITOR": str(create), "TMPDIR": str(private)})
    run("secrets", "encrypt", "-", "--out", ".minnova/secrets/dev.enc.yaml",
        stdin="stringData:\n  API_TOKEN: dev-token\n")
    run("validate", ".")
    # with the environment's key (whoever holds it): change a value
    change = editor(tmp_path, f"sed -i 's/{SECRET}/second-value/' \"$1\"\n")
    run("secrets", "edit", ".minnova/secrets/prod.enc.yaml", "--identity", str(KEYS_FILE),
        env={"EDITOR": str(change), "TMPDIR": str(private)})
    assert decrypted(repo / SECRETS_REL / "prod.enc.yaml")["stringData"] == {"API_TOKEN": "second-value"}
    # after the platform rotates a key and publishes again: re-encrypt
    run("secrets", "rotate", ".minnova/secrets/prod.enc.yaml", "--identity", str(KEYS_FILE))
    # optional, for the sops CLI
    run("secrets", "sops-config", "oracle", "--out", ".sops.yaml")
    # CI: the workflow runs `minnova-idp validate .` (copying it into a new repository needs the directory)
    subprocess.run(f"mkdir -p .github/workflows && cp {PROJECT_DIR}/minnova_idp/authoring/app_ci/minnova.yml "
                   ".github/workflows/", shell=True, cwd=repo, check=True)
    assert "minnova-idp validate ." in (repo / ".github/workflows/minnova.yml").read_text()
    run("validate", ".")
    assert list(private.iterdir()) == []

    # The deploy path opens what the app developer wrote (oracle's prod, as registered in the example stack).
    project = project_copy(tmp_path)
    shutil.copy(repo / SECRETS_REL / "prod.enc.yaml", project / "examples/oracle" / SECRETS_REL / "prod.enc.yaml")
    inputs = load_stack_inputs(project, "prod", identities=[PROD])
    assert inputs.secrets[("oracle", "prod")].string_data == {"API_TOKEN": "second-value"}
    assert load_stack_inputs(project, "prod").secrets[("oracle", "prod")].keys == ["API_TOKEN"]  # offline plan
