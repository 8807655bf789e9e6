"""One secret at a time (issue 24 item 6): `secrets set/unset/list` without the private key, overlays merged wherever
the platform reads secrets (load_inputs for plan and pulumi up, render-preview), folded by key holders."""

from __future__ import annotations

import io
import json
import shutil
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
import yaml

from minnova_idp.cli.main import main
from minnova_idp.load.secret_overlays import (
    Overlay,
    merged_secret_values,
    read_overlays,
    tombstone_text,
)
from minnova_idp.load.secrets import AppKey
from minnova_idp.model.errors import ConfigError
from minnova_idp.sops import document as sops
from tests.conftest import PROJECT_DIR, load_stack_inputs, project_copy, stack_problems
from tests.support.sops_fixtures import sops_fixture

KEYS_FILE = PROJECT_DIR / "tests" / "fixtures" / "example-age-keys.txt"
DEV, PROD, PREVIEW = sops.parse_identities(KEYS_FILE.read_text(), str(KEYS_FILE))  # oracle's, in file order
ORACLE = "examples/oracle"
SECRET = "s3cr3t-one-value-9d1"


def run(*argv: str, stdin: str = "", cwd: Path | None = None) -> tuple[int, str, str]:
    import os
    import sys

    out, err = io.StringIO(), io.StringIO()
    old_stdin, old_cwd = sys.stdin, os.getcwd()
    sys.stdin = io.StringIO(stdin)
    try:
        if cwd:
            os.chdir(cwd)
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = main(list(argv))
            except SystemExit as exc:
                code = exc.code
    finally:
        sys.stdin = old_stdin
        os.chdir(old_cwd)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A project copy whose oracle has its recipients published (what app developers encrypt for)."""
    monkeypatch.delenv("SOPS_AGE_KEY_FILE", raising=False)
    monkeypatch.delenv("SOPS_AGE_KEY", raising=False)
    copy = project_copy(tmp_path)
    code, out, err = run("secrets", "publish", "oracle", "--project-dir", str(copy),
                         "--out", str(copy / ORACLE / ".minnova/recipients.yaml"))
    assert code == 0, err
    return copy


def app_args(project: Path) -> list[str]:
    return ["--app-dir", str(project / ORACLE)]


def test_set_unset_list_without_a_key_and_plan_merges_them(project):
    assert run("secrets", "set", f"API_TOKEN={SECRET}", "--env", "dev", *app_args(project))[0] == 0
    code, out, err = run("secrets", "set", "STRIPE_API_KEY=-", "--env", "dev", *app_args(project),
                         stdin="replaced-stripe\n")
    assert code == 0, err
    code, out, err = run("secrets", "unset", "SMTP_PORT", "--env", "dev", *app_args(project))
    assert code == 0, err
    overlays = project / ORACLE / ".minnova/secrets/dev.d"
    assert sorted(p.name for p in overlays.iterdir()) == ["API_TOKEN.enc.yaml", "SMTP_PORT.unset",
                                                          "STRIPE_API_KEY.enc.yaml"]
    assert SECRET not in (overlays / "API_TOKEN.enc.yaml").read_text()
    code, out, err = run("secrets", "list", "--env", "dev", "--json", *app_args(project))
    assert code == 0 and [s["name"] for s in json.loads(out)["secrets"]] == [
        "API_TOKEN", "FEATURE_BETA", "SECRET_KEY_BASE", "STRIPE_API_KEY"]
    assert SECRET not in out + err

    without_key = load_stack_inputs(project, "dev").secrets[("oracle", "dev")]  # names only, merged
    assert without_key.keys == ["API_TOKEN", "FEATURE_BETA", "SECRET_KEY_BASE", "STRIPE_API_KEY"]
    values = load_stack_inputs(project, "dev", identities=[DEV]).secrets[("oracle", "dev")]
    assert values.string_data["API_TOKEN"] == SECRET and values.string_data["STRIPE_API_KEY"] == "replaced-stripe"
    assert "SMTP_PORT" not in values.keys and values.string_data["SECRET_KEY_BASE"]

    code, out, err = run("validate", str(project / ORACLE))
    assert code == 0, err


def test_decrypt_shows_the_merged_result_and_fold_writes_it_into_the_main_file(project):
    run("secrets", "set", f"API_TOKEN={SECRET}", "--env", "dev", *app_args(project))
    run("secrets", "unset", "SMTP_PORT", "--env", "dev", *app_args(project))
    main_file = project / ORACLE / ".minnova/secrets/dev.enc.yaml"
    code, out, err = run("secrets", "decrypt", str(main_file), "--identity", str(KEYS_FILE))
    assert code == 0 and "merged with 2 overlay(s)" in err
    shown = yaml.safe_load(out)
    assert shown["stringData"]["API_TOKEN"] == SECRET and "SMTP_PORT" not in json.dumps(shown)
    code, out, err = run("secrets", "fold", str(main_file), "--identity", str(KEYS_FILE))
    assert code == 0, err
    assert not (project / ORACLE / ".minnova/secrets/dev.d").exists()
    folded = sops.decrypt(main_file.read_bytes(), [DEV], str(main_file))
    assert folded["stringData"]["API_TOKEN"] == SECRET and "SMTP_PORT" not in json.dumps(folded)
    assert load_stack_inputs(project, "dev", identities=[DEV]).secrets[("oracle", "dev")].string_data[
        "API_TOKEN"] == SECRET


def test_edit_shows_the_merged_result_and_saving_folds_the_overlays(project, monkeypatch, tmp_path):
    run("secrets", "set", f"API_TOKEN={SECRET}", "--env", "dev", *app_args(project))
    seen = []

    def fake_editor(text, name, shown):  # what a person does in $EDITOR, without a process (a unit test)
        seen.append(text)
        return text.replace("FEATURE_BETA", "FEATURE_GAMMA").encode()

    monkeypatch.setattr("minnova_idp.cli.secrets_files.run_editor", fake_editor)
    main_file = project / ORACLE / ".minnova/secrets/dev.enc.yaml"
    code, out, err = run("secrets", "edit", str(main_file), "--identity", str(KEYS_FILE))
    assert code == 0, err
    assert "Folded 1 overlay(s)" in out and not (project / ORACLE / ".minnova/secrets/dev.d").exists()
    edited = sops.decrypt(main_file.read_bytes(), [DEV], str(main_file))["stringData"]
    assert edited["API_TOKEN"] == SECRET and "FEATURE_GAMMA" in edited
    assert f"API_TOKEN: {SECRET}" in seen[0]  # the editor was shown the merged result


@pytest.mark.parametrize("files,expected", [
    ({"A.enc.yaml": None, "A.unset": "unset: A\n"}, "A is both set"),
    ({"a-b.enc.yaml": "x: 1\n"}, "is not read"),
    ({"A.unset": "unset: B\n"}, "a tombstone holds `unset: A` only"),
    ({"notes.txt": "hello\n"}, "is not read"),
])
def test_overlay_directory_problems_name_the_file(project, files, expected):
    directory = project / ORACLE / ".minnova/secrets/dev.d"
    directory.mkdir()
    for name, text in files.items():
        if text is None:
            text = sops.encrypt_yaml({"stringData": {name.split(".")[0]: "v"}}, [DEV.recipient])
        (directory / name).write_text(text)
    problems = stack_problems(project, "dev")
    assert any(expected in problem and str(directory.relative_to(project)) in problem for problem in problems), \
        problems
    code, out, err = run("validate", str(project / ORACLE))
    assert code == 1 and expected in err, err


@pytest.mark.parametrize("document,recipient,expected", [
    ({"stringData": {"OTHER": "v"}}, "dev", "must hold exactly one value, API_TOKEN"),
    ({"stringData": {"API_TOKEN": "v", "MORE": "w"}}, "dev", "must hold exactly one value, API_TOKEN"),
    ({"stringData": {"API_TOKEN": "v"}}, "prod", "not for oracle/dev's key"),
])
def test_an_overlay_is_checked_like_the_main_file(project, document, recipient, expected):
    directory = project / ORACLE / ".minnova/secrets/dev.d"
    directory.mkdir()
    chosen = {"dev": DEV, "prod": PROD}[recipient]
    (directory / "API_TOKEN.enc.yaml").write_text(sops.encrypt_yaml(document, [chosen.recipient]))
    assert any(expected in problem for problem in stack_problems(project, "dev")), stack_problems(project, "dev")


def test_a_reserved_name_is_refused_by_set_and_by_the_platform(project):
    code, out, err = run("secrets", "set", "DATABASE_URL=x", "--env", "dev", *app_args(project))
    assert code == 1 and "DATABASE_URL is set by the platform" in err
    directory = project / ORACLE / ".minnova/secrets/dev.d"
    directory.mkdir()
    (directory / "DATABASE_URL.enc.yaml").write_text(
        sops.encrypt_yaml({"stringData": {"DATABASE_URL": "postgres://elsewhere"}}, [DEV.recipient]))
    assert any("DATABASE_URL" in p and "set by the platform" in p for p in stack_problems(project, "dev"))


def test_set_refuses_an_unknown_environment_and_unset_an_unknown_name(project):
    code, out, err = run("secrets", "set", "A=b", "--env", "staging", *app_args(project))
    assert code == 1 and "there is no environment 'staging'" in err
    code, out, err = run("secrets", "unset", "NOPE", "--env", "dev", *app_args(project))
    assert code == 1 and "NOPE is not one of dev's secrets" in err


def test_real_sops_files_as_main_and_overlays_merge_in_name_order(tmp_path):
    """Files the sops CLI wrote: merge1 (key: merge1) as the main file, age.enc.yaml (key: value) as the overlay
    of `key`, merge2 (merge2: merge2) as the overlay of `merge2`."""
    identities = sops.parse_identities(sops_fixture("age.key.txt").read_text(), "age.key.txt")
    main_file = sops_fixture("merge1.enc.yaml").read_bytes()
    overlays = [Overlay("key", "key.enc.yaml", sops_fixture("age.enc.yaml").read_bytes()),
                Overlay("merge2", "merge2.enc.yaml", sops_fixture("merge2.enc.yaml").read_bytes())]
    key = AppKey(identities[0].recipient)
    merged = merged_secret_values(main_file, overlays, "dev.enc.yaml", "app", "dev", key, "stack", identities)
    assert merged.string_data == {"key": "value", "merge2": "merge2"}
    unset = merged_secret_values(main_file, [Overlay("key", "key.unset", None)], "dev.enc.yaml", "app", "dev", key,
                                 "stack", identities)
    assert unset.keys == []
    names_only = merged_secret_values(main_file, overlays, "dev.enc.yaml", "app", "dev", key, "stack", None)
    assert names_only.keys == ["key", "merge2"] and not names_only.decrypted


def test_read_overlays_refuses_a_link(tmp_path):
    directory = tmp_path / ".minnova/secrets/dev.d"
    directory.mkdir(parents=True)
    (directory / "A.unset").symlink_to("/etc/hostname")
    with pytest.raises(ConfigError) as caught:
        read_overlays(tmp_path, "dev")
    assert "must be a regular file" in str(caught.value.problems[0])
    shutil.rmtree(tmp_path / ".minnova")
    assert read_overlays(tmp_path, "dev") == []
    assert yaml.safe_load(tombstone_text("A", "dev")) == {"unset": "A"}


def test_rotate_re_encrypts_the_overlays_too(project):
    run("secrets", "set", f"API_TOKEN={SECRET}", "--env", "dev", *app_args(project))
    main_file = project / ORACLE / ".minnova/secrets/dev.enc.yaml"
    overlay = project / ORACLE / ".minnova/secrets/dev.d/API_TOKEN.enc.yaml"
    code, out, err = run("secrets", "rotate", str(main_file), "--identity", str(KEYS_FILE),
                         "--recipient", DEV.recipient, "--recipient", PROD.recipient)
    assert code == 0 and "and its 1 overlay(s)" in out, err
    assert sops.recipients(overlay.read_bytes(), str(overlay)) == (DEV.recipient, PROD.recipient)
    assert sops.decrypt(overlay.read_bytes(), [PROD], str(overlay))["stringData"] == {"API_TOKEN": SECRET}


def test_overlays_of_an_app_fetched_from_git_are_merged(tmp_path):
    """The production path: `<env>.d/` comes from the app's repository at the fetched commit (load/git.py fetches
    the whole .minnova/ tree), and is merged like a local one."""
    from minnova_idp.load.inputs import load_inputs
    from minnova_idp.load.stack import from_stack_file
    from tests.conftest import make_app_repo

    key = sops.generate_identity()
    app_yaml = (PROJECT_DIR / "examples/storefront/.minnova/app.yaml").read_text()
    main_doc = {"apiVersion": "v1", "kind": "Secret", "stringData": {"API_TOKEN": "old", "GONE": "x"}}
    commit = make_app_repo(tmp_path / "repos/storefront", {
        ".minnova/app.yaml": app_yaml,
        ".minnova/secrets/dev.enc.yaml": sops.encrypt_yaml(main_doc, [key.recipient]),
        ".minnova/secrets/dev.d/API_TOKEN.enc.yaml": sops.encrypt_yaml({"stringData": {"API_TOKEN": "new"}},
                                                                       [key.recipient]),
        ".minnova/secrets/dev.d/GONE.unset": tombstone_text("GONE", "dev")})
    project = project_copy(tmp_path)
    url = (tmp_path / "repos/storefront").as_uri()
    (project / "deployments/minnova/apps/storefront.yaml").write_text(
        f"name: storefront\nrepo: {url}\nhosts: [shop.minnova.io, shop.dev.minnova.io]\n")
    raw, secret_keys, file = from_stack_file(project, "dev")
    del raw["minnova:previews"]  # previews need a GitHub URL; this test is about the fetched secrets
    recipients = json.loads(raw["minnova:secretsRecipients"])
    recipients["storefront"] = {"dev": key.recipient}
    raw["minnova:secretsRecipients"] = json.dumps(recipients)
    raw["minnova:secretsKeys"] = json.dumps({"storefront": {"dev": key.secret}})
    inputs = load_inputs(project, raw, secret_keys | {"minnova:secretsKeys"}, file, cache_dir=tmp_path / "cache")
    values = inputs.secrets[("storefront", "dev")]
    assert values.string_data == {"API_TOKEN": "new"}
    assert values.source == f"{url}@{commit[:12]}:.minnova/secrets/dev.enc.yaml"


def test_validate_refuses_a_storage_variable_in_an_overlay_as_the_platform_does(project):
    """rv24v: validate checked overlays without `storage=`, so AWS_ACCESS_KEY_ID in preview.d passed validate and
    failed render-preview (preview_plugin.py passes storage=app.storage.enabled)."""
    app_yaml = project / ORACLE / ".minnova/app.yaml"
    app_yaml.write_text(app_yaml.read_text() + "storage: {enabled: true}\n")
    assert run("validate", str(project / ORACLE))[0] == 0
    for environment, key in (("preview", PREVIEW), ("dev", DEV)):
        directory = project / ORACLE / f".minnova/secrets/{environment}.d"
        directory.mkdir()
        (directory / "AWS_ACCESS_KEY_ID.enc.yaml").write_text(
            sops.encrypt_yaml({"stringData": {"AWS_ACCESS_KEY_ID": "AKIA-someone-else"}}, [key.recipient]))
    code, out, err = run("validate", str(project / ORACLE))
    assert code == 1
    for environment in ("preview", "dev"):
        assert f"{environment}.d/AWS_ACCESS_KEY_ID.enc.yaml" in err and "storage.enabled" in err, err


def test_the_docs_list_every_reserved_name():
    from minnova_idp.model import names

    text = (PROJECT_DIR / "docs/cli.md").read_text()
    from minnova_idp.model.mysql import MYSQL_ENV_VARS

    for name in ("PORT", "DATABASE_URL", "REDIS_URL", *names.STORAGE_ENV_VARS, *MYSQL_ENV_VARS, names.MONGODB_URL_ENV,
                 "<CALLEE>_<PROCESS>_URL"):
        assert f"`{name}`" in text, name


def test_a_name_with_a_trailing_newline_is_refused_in_an_overlay_and_in_a_file(project):
    """rv24v: `$` matched before a final newline, so `PORT\\n` passed as a name and as not reserved; Kubernetes
    refuses the Secret key (k8s.io/apimachinery validation IsConfigMapKey, Go regexp `$` = end of text)."""
    directory = project / ORACLE / ".minnova/secrets/dev.d"
    directory.mkdir()
    (directory / "PORT\n.enc.yaml").write_text(sops.encrypt_yaml({"stringData": {"PORT\n": "1"}}, [DEV.recipient]))
    code, out, err = run("validate", str(project / ORACLE))
    assert code == 1 and "is not read" in err, err
    (directory / "PORT\n.enc.yaml").unlink()
    main_file = project / ORACLE / ".minnova/secrets/dev.enc.yaml"
    main_file.write_text(sops.encrypt_yaml({"stringData": {"API_TOKEN\n": "1"}}, [DEV.recipient]))
    assert any("API_TOKEN" in problem for problem in stack_problems(project, "dev"))


def test_overlays_that_add_up_past_a_secret_s_size_are_refused(tmp_path):
    """rv24v: each overlay was checked alone; 10 x 120 kB passed and made a Secret Kubernetes refuses (more than
    corev1.MaxSecretSize, 1 MiB, in pkg/apis/core/validation ValidateSecret)."""
    from minnova_idp.load.secret_overlays import MAX_SECRET_BYTES, merged_secret_values, read_overlays

    directory = tmp_path / ".minnova/secrets/dev.d"
    directory.mkdir(parents=True)
    for i in range(8):
        (directory / f"BLOB_{i}.enc.yaml").write_text(
            sops.encrypt_yaml({"stringData": {f"BLOB_{i}": "x" * 120_000}}, [DEV.recipient]))

    def merged():
        return merged_secret_values(None, read_overlays(tmp_path, "dev"), str(tmp_path / ".minnova/secrets/dev.enc"
                                    ".yaml"), "oracle", "dev", AppKey(DEV.recipient), "stack", [DEV])

    assert len(merged().keys) == 8  # 960,000 bytes: within 1 MiB
    (directory / "BLOB_8.enc.yaml").write_text(
        sops.encrypt_yaml({"stringData": {"BLOB_8": "x" * 120_000}}, [DEV.recipient]))
    with pytest.raises(ConfigError) as caught:
        merged()
    assert f"add up to 1080000 bytes; a Kubernetes Secret holds at most {MAX_SECRET_BYTES}" in str(caught.value)


def _run_with_stdin_bytes(monkeypatch, data: bytes, *argv: str):
    import sys

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))
    return _run_keeping_stdin(*argv)


def _run_keeping_stdin(*argv: str):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exc:
            code = exc.code
    return code, out.getvalue(), err.getvalue()


def test_set_reads_bytes_refuses_non_utf8_clearly_strips_crlf_and_takes_base64(project, monkeypatch):
    """rv24v: non-UTF-8 stdin exited 70 (a traceback); a CRLF kept its \\r in the value."""
    dev_d = project / ORACLE / ".minnova/secrets/dev.d"
    code, out, err = _run_with_stdin_bytes(monkeypatch, b"\xff\xfe binary\n", "secrets", "set", "API_TOKEN=-",
                                           "--env", "dev", *app_args(project))
    assert code == 1 and "stdin: the value is not UTF-8 text" in err and "--base64" in err, (code, err)
    assert not dev_d.exists()
    code, out, err = _run_with_stdin_bytes(monkeypatch, b"from-windows\r\n", "secrets", "set", "API_TOKEN=-",
                                           "--env", "dev", *app_args(project))
    assert code == 0, err
    code, out, err = _run_with_stdin_bytes(monkeypatch, b"/34=\n", "secrets", "set", "KEY_DER=-", "--base64",
                                           "--env", "dev", *app_args(project))
    assert code == 0, err
    values = load_stack_inputs(project, "dev", identities=[DEV]).secrets[("oracle", "dev")]
    assert values.string_data["API_TOKEN"] == "from-windows" and values.data["KEY_DER"] == "/34="
    code, out, err = run("secrets", "set", "KEY_DER=not base64!", "--base64", "--env", "dev", *app_args(project))
    assert code == 1 and "is not base64" in err


def test_set_and_unset_refuse_a_linked_overlay_directory(project, tmp_path):
    """rv24v: `secrets set` wrote through a symlinked <env>.d (and unset deleted through it)."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "SMTP_PORT.enc.yaml").write_text("kept\n")
    (project / ORACLE / ".minnova/secrets/dev.d").symlink_to(outside)
    code, out, err = run("secrets", "set", "API_TOKEN=x", "--env", "dev", *app_args(project))
    assert code == 1 and "symbolic link" in err, err
    code, out, err = run("secrets", "unset", "SMTP_PORT", "--env", "dev", *app_args(project))
    assert code == 1 and "symbolic link" in err, err
    assert sorted(p.name for p in outside.iterdir()) == ["SMTP_PORT.enc.yaml"]


def test_set_refuses_a_storage_variable_when_the_app_has_storage(project):
    app_yaml = project / ORACLE / ".minnova/app.yaml"
    app_yaml.write_text(app_yaml.read_text() + "storage: {enabled: true}\n")
    code, out, err = run("secrets", "set", "S3_BUCKET=mine", "--env", "dev", *app_args(project))
    assert code == 1 and "storage.enabled" in err, err


def test_edit_of_a_missing_main_file_starts_from_its_overlays_or_refuses(project, monkeypatch):
    """rv24v: `secrets edit` of a missing main file wrote a new file that the overlays silently overrode."""
    main_file = project / ORACLE / ".minnova/secrets/dev.enc.yaml"
    main_file.unlink()
    assert run("secrets", "set", f"API_TOKEN={SECRET}", "--env", "dev", *app_args(project))[0] == 0
    seen = []

    def fake_editor(text, name, shown):
        seen.append(text)
        return text.replace(SECRET, "edited-value").encode()

    monkeypatch.setattr("minnova_idp.cli.secrets_files.run_editor", fake_editor)
    code, out, err = run("secrets", "edit", str(main_file))  # no key: refused, nothing written
    assert code == 1 and "would lose to them" in err and not main_file.exists() and not seen, err
    code, out, err = run("secrets", "edit", str(main_file), "--identity", str(KEYS_FILE))
    assert code == 0, err
    assert SECRET in seen[0] and not (project / ORACLE / ".minnova/secrets/dev.d").exists()
    assert sops.decrypt(main_file.read_bytes(), [DEV], str(main_file))["stringData"] == {"API_TOKEN": "edited-value"}


def test_decrypt_and_fold_name_the_values_from_overlays_and_decrypt_reads_overlays_alone(project):
    """rv24v: a key holder could not tell which values came from overlays (written without the key, unreviewed),
    and `secrets decrypt` of a main file that does not exist yet refused though the platform reads its overlays."""
    run("secrets", "set", f"API_TOKEN={SECRET}", "--env", "dev", *app_args(project))
    run("secrets", "unset", "SMTP_PORT", "--env", "dev", *app_args(project))
    main_file = project / ORACLE / ".minnova/secrets/dev.enc.yaml"
    code, out, err = run("secrets", "decrypt", str(main_file), "--identity", str(KEYS_FILE))
    assert code == 0 and "from overlays (set API_TOKEN; unset SMTP_PORT)" in err, err
    code, out, err = run("secrets", "fold", str(main_file), "--identity", str(KEYS_FILE))
    assert code == 0 and "(set API_TOKEN; unset SMTP_PORT)" in out and "check them" in out, out
    main_file.unlink()
    run("secrets", "set", "ONLY_HERE=v", "--env", "dev", *app_args(project))
    code, out, err = run("secrets", "decrypt", str(main_file), "--identity", str(KEYS_FILE))
    assert code == 0 and "does not exist: these are only its 1 overlay(s)" in err, err
    assert yaml.safe_load(out)["stringData"] == {"ONLY_HERE": "v"}
