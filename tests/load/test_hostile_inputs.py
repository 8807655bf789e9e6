"""Hostile files and numbers (issue 13, findings 6 and 7): every one refused with the file and the field named,
exit 1, no traceback, in bounded time and memory, nothing partial, no secret echoed.

Each test reproduces a finding: before the fix it hung, read without bound, followed a link out of the
repository, ended in an internal error (exit 70) or accepted an unauthenticated value.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from minnova_idp.load import yamlsafe
from minnova_idp.load.registry import read_registry
from minnova_idp.load.secrets import AppKey, load_secret_values, read_secrets_file
from minnova_idp.load.yamlsafe import FileRefused, load_yaml, read_regular_file
from minnova_idp.model.errors import ConfigError
from minnova_idp.sops import document as sops

from tests.conftest import DESIGN_DOC_APP_YAML, PROJECT_DIR, project_copy, stack_problems
from tests.support.sops_fixtures import sops_fixture

KEYS_FILE = PROJECT_DIR / "tests" / "fixtures" / "example-age-keys.txt"
REGISTRY = "deployments/minnova/apps"
SECRETS = "examples/oracle/.minnova/secrets/dev.enc.yaml"


MEMORY_LIMIT = 1536 * 1024 * 1024  # a plan needs under 1 GiB of address space


def _bounded_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run(*args: str, cwd: Path = PROJECT_DIR, timeout: float = 120) -> subprocess.CompletedProcess:
    """The CLI as users run it. A hang fails the test (TimeoutExpired) instead of hanging the suite, and reading
    without bound fails it (MemoryError: exit 70) instead of exhausting the machine's memory."""
    return subprocess.run([sys.executable, "-m", "minnova_idp.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, preexec_fn=_bounded_memory)


def refused_cleanly(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1, (result.returncode, result.stdout[-2000:], result.stderr[-2000:])
    assert "Traceback" not in result.stderr + result.stdout and "internal error" not in result.stderr
    return result.stderr


def within(seconds: float, call, fifo: Path | None = None):
    """`call()`'s result, failing (not hanging) when it takes longer; a FIFO it blocks on is released."""
    outcome: dict = {}

    def target():
        try:
            outcome["value"] = call()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            outcome["error"] = exc

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        if fifo is not None:  # a writer end lets a blocked open() return, so the thread can end
            with open(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK), "wb"):
                pass
        pytest.fail(f"did not return within {seconds}s (blocked on a FIFO or reading without bound?)")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


# --- one bounded, regular-file-only reader ---------------------------------------------------------------------


def test_the_reader_never_opens_a_fifo(tmp_path):
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    with pytest.raises(FileRefused, match=r"named pipe \(FIFO\), not a regular file") as caught:
        within(5, lambda: read_regular_file(fifo), fifo)
    assert caught.value.kind == "special"


def test_the_reader_refuses_devices_and_bounds_what_it_reads(tmp_path):
    with pytest.raises(FileRefused, match="character device"):
        within(5, lambda: read_regular_file("/dev/zero"))
    link = tmp_path / "zero.yaml"
    link.symlink_to("/dev/zero")
    with pytest.raises(FileRefused, match="character device"):
        within(5, lambda: read_regular_file(link))  # followed, still not a regular file
    with pytest.raises(FileRefused, match="symbolic link"):
        read_regular_file(link, follow_symlinks=False)
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * 1001)
    with pytest.raises(FileRefused, match="file is 1001 bytes; the limit is 1000"):
        read_regular_file(big, 1000)
    assert read_regular_file(big, 1001) == b"#" * 1001
    assert read_regular_file(big, 10, truncate=True) == b"#" * 11  # for a caller that refuses it itself
    with pytest.raises(FileRefused, match="file not found") as caught:
        read_regular_file(tmp_path / "missing.yaml")
    assert caught.value.missing


def test_load_yaml_file_goes_through_the_reader(tmp_path):
    fifo = tmp_path / "Pulumi.dev.yaml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="Pulumi.dev.yaml: is a named pipe"):
        within(5, lambda: yamlsafe.load_yaml_file(fifo, "Pulumi.dev.yaml"), fifo)


# --- the registry: regular files in the repository only --------------------------------------------------------


def test_registry_fifo_devices_and_links_out_of_the_repo_are_refused(tmp_path):
    project = tmp_path / "infra"
    registry = project / REGISTRY
    registry.mkdir(parents=True)
    (registry / "ok.yaml").write_text("name: ok\nrepo: https://github.com/acme/ok.git\n")
    os.mkfifo(registry / "fifo.yaml")
    (registry / "zero.yaml").symlink_to("/dev/null")  # in-process: /dev/zero only in the memory-bounded CLI tests
    outside = tmp_path / "outside.yaml"
    outside.write_text("name: outside\nrepo: https://github.com/acme/outside.git\n")
    (registry / "outside.yaml").symlink_to(outside)
    (registry / "dir.yaml").mkdir()

    entries, problems = within(10, lambda: read_registry(project, REGISTRY), registry / "fifo.yaml")

    assert [e.entry.name for e in entries] == ["ok"]  # the outside file was never read
    messages = sorted(str(p) for p in problems)
    assert messages == [
        f"{REGISTRY}/dir.yaml: is a directory, expected a file",
        f"{REGISTRY}/fifo.yaml: is a named pipe (FIFO), not a regular file; only regular files are read",
        f"{REGISTRY}/outside.yaml: is a symbolic link; only regular files are read here "
        "(hint: commit the entry itself: a link could point outside the repository)",
        f"{REGISTRY}/zero.yaml: is a symbolic link; only regular files are read here "
        "(hint: commit the entry itself: a link could point outside the repository)",
    ]


def test_plan_with_hostile_registry_files_stops_at_once(tmp_path):
    """Before: `plan` hung on the FIFO forever and read /dev/zero until memory ran out."""
    project = project_copy(tmp_path)
    registry = project / REGISTRY
    os.mkfifo(registry / "fifo.yaml")
    (registry / "zero.yaml").symlink_to("/dev/zero")
    (registry / "outside.yaml").symlink_to(tmp_path / "elsewhere.yaml")
    (tmp_path / "elsewhere.yaml").write_text("name: outside\nlocal: examples/oracle\n")
    stderr = refused_cleanly(run("plan", "--stack", "dev", "--project-dir", str(project), timeout=60))
    assert f"{REGISTRY}/fifo.yaml: is a named pipe (FIFO)" in stderr
    assert f"{REGISTRY}/zero.yaml: is a symbolic link" in stderr
    assert f"{REGISTRY}/outside.yaml: is a symbolic link" in stderr
    assert "to create" not in stderr  # nothing planned


def test_a_stack_file_that_is_a_fifo_is_refused(tmp_path):
    project = project_copy(tmp_path)
    (project / "Pulumi.dev.yaml").unlink()
    os.mkfifo(project / "Pulumi.dev.yaml")
    stderr = refused_cleanly(run("plan", "--stack", "dev", "--project-dir", str(project), timeout=60))
    assert "Pulumi.dev.yaml: is a named pipe (FIFO), not a regular file" in stderr


def test_an_app_config_that_is_a_fifo_or_a_device_is_refused(tmp_path):
    fifo = tmp_path / "app.yaml"
    os.mkfifo(fifo)
    assert f"{fifo}: is a named pipe (FIFO)" in refused_cleanly(run("validate", str(fifo), timeout=30))
    assert "/dev/zero: is a character device" in refused_cleanly(run("validate", "/dev/zero", timeout=30))


# --- plan --previous-outputs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("content", "expected"), [
    ("FIFO", "cannot read stack outputs: is a named pipe (FIFO), not a regular file"),
    ("/dev/zero", "cannot read stack outputs: is a character device"),
    ("[" * 100_000, "cannot read stack outputs: not JSON this command can read"),  # RecursionError before
    ('{"databaseSizes": {"oracle-prod": ' + "9" * 5000 + "}}", "cannot read stack outputs: not JSON this command"),
    ("[1, 2]", "cannot read stack outputs: must be a JSON object"),  # TypeError before
    ('{"databaseSizes": {"oracle-prod": "1e99999999"}}', "databaseSizes.oracle-prod: '1e99999999': the exponent"),
    ('{"databaseSizes": {"oracle-prod": 5}}', "databaseSizes.oracle-prod: must be a string"),
    ('{"databaseSizes": ["5Gi"]}', "databaseSizes: must be an object"),
    ('{"databaseClusters": {"oracle-prod": 1}}', "databaseClusters.oracle-prod: must be a string"),
    ("{not json", "cannot read stack outputs: not JSON (Expecting property name"),
])
def test_previous_outputs_are_read_bounded_and_checked(tmp_path, content, expected):
    if content == "FIFO":
        path = tmp_path / "outputs.json"
        os.mkfifo(path)
    elif content == "/dev/zero":
        path = Path("/dev/zero")
    else:
        path = tmp_path / "outputs.json"
        path.write_text(content)
    stderr = refused_cleanly(run("plan", "--stack", "prod", "--previous-outputs", str(path), timeout=60))
    assert f"{path}: {expected}" in stderr, stderr
    assert "hint: pulumi stack output --json > FILE" in stderr


# --- numbers --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("port: 4000", "port: " + "9" * 5000, ":3: port: a number of 5000 digits; the limit is 18 digits"),  # exit 70
    ("port: 4000", "port: " + "9" * 19, ":3: port: a number of 19 digits; the limit is 18 digits"),
    ("size: 5Gi", "size: 1e99999999", ":4: database.size: '1e99999999': the exponent is out of range"),  # exit 70
    ("size: 5Gi", 'size: "1' + "0" * 100_000 + '"', ":4: database.size: a quantity of 100001 characters is not"),
    ("size: 5Gi", "size: 9Ei", ":4: database.size: '9Ei' is larger than any Kubernetes quantity"),
    ("replicas: 1", "replicas: 1.0e+99999", ":6: environments.dev.replicas: numbers must be finite"),
    ("replicas: 1", "replicas: .nan", ":6: environments.dev.replicas: numbers must be finite"),
    ("replicas: 1", "replicas: 1." + "0" * 40, ":6: environments.dev.replicas: a number of 42 characters"),
])
def test_absurd_numbers_are_refused_with_file_line_and_field(tmp_path, old, new, expected):
    path = tmp_path / "app.yaml"
    assert old in DESIGN_DOC_APP_YAML
    path.write_text(DESIGN_DOC_APP_YAML.replace(old, new, 1))
    stderr = refused_cleanly(run("validate", str(path), timeout=60))
    assert f"{path}{expected}" in stderr, stderr
    assert len(stderr) < 2000  # the number itself is not echoed back


def test_number_bounds_are_exact():
    """18 digits load, 19 do not; the bound counts digits in any base YAML 1.1 knows."""
    assert load_yaml("a: " + "9" * 18, "x.yaml").data == {"a": int("9" * 18)}
    assert load_yaml("a: -0x" + "f" * 18, "x.yaml").data == {"a": -int("f" * 18, 16)}
    for text in ("a: " + "9" * 19, "a: 0x" + "f" * 19, "a: 0b" + "1" * 19, "a: 1_000_000_000_000_000_000"):
        with pytest.raises(ConfigError, match="x.yaml:1: a: a number of 19 digits"):
            load_yaml(text, "x.yaml")
    assert load_yaml("a: 1.5", "x.yaml").data == {"a": 1.5}


# --- SOPS: nothing unauthenticated reaches a container --------------------------------------------------------


def test_an_empty_value_added_to_a_real_sops_file_passes_the_mac_but_is_refused():
    """sops never encrypts "" and "" adds no bytes to its MAC: anyone who can push could add NODE_OPTIONS."""
    text = sops_fixture("age.enc.yaml").read_text()
    identities = sops.parse_identities(sops_fixture("age.key.txt").read_text(), "age.key.txt")
    injected = text.replace("stringData:\n", 'stringData:\n  NODE_OPTIONS: ""\n', 1)
    assert injected != text
    # The finding: the real sops file still decrypts and its MAC still verifies.
    assert sops.decrypt(injected, identities, "app.enc.yaml")["stringData"] == {"NODE_OPTIONS": "", "key": "value"}
    assert sops.unauthenticated_values(text, "app.enc.yaml", sections=("stringData", "data")) == []
    assert sops.unauthenticated_values(injected, "app.enc.yaml", sections=("stringData", "data")) == [
        ("stringData.NODE_OPTIONS", "is empty; sops neither encrypts nor authenticates empty values, so anyone could "
                                    "have added it")]
    key = AppKey(identities[0].recipient, identities[0].secret)
    for with_key in (key, AppKey(identities[0].recipient)):  # decrypting, and an offline plan without the key
        with pytest.raises(ConfigError) as caught:
            load_secret_values(injected.encode(), "app.enc.yaml", "oracle", "dev", with_key, "Pulumi.dev.yaml")
        [problem] = caught.value.problems
        assert (problem.file, problem.field) == ("app.enc.yaml", "stringData.NODE_OPTIONS")
        assert "anyone could have added it" in problem.message
    assert load_secret_values(text.encode(), "app.enc.yaml", "oracle", "dev", key, "Pulumi.dev.yaml").string_data \
        == {"key": "value"}


@pytest.mark.parametrize(("document", "encrypted_regex", "field", "why"), [
    ({"stringData": {"API_TOKEN": "s3cr3t-value", "NODE_OPTIONS": ""}}, "^(data|stringData)$",
     "stringData.NODE_OPTIONS", "is empty"),
    ({"data": {"EMPTY": ""}, "stringData": {"API_TOKEN": "s3cr3t-value"}}, "^(data|stringData)$",
     "data.EMPTY", "is empty"),
    # sops's default rule leaves *_unencrypted in clear, outside a mac_only_encrypted MAC's reach.
    ({"stringData": {"API_TOKEN": "s3cr3t-value", "LD_PRELOAD_unencrypted": "/tmp/x.so"}}, None,
     "stringData.LD_PRELOAD_unencrypted", "is not encrypted (the file's encryption rules leave it in clear)"),
    ({"stringData": {"API_TOKEN": "s3cr3t-value", "NOTHING": None}}, "^(data|stringData)$",
     "stringData.NOTHING", "is empty"),
])
def test_unauthenticated_values_from_our_encryptor_are_refused(document, encrypted_regex, field, why):
    identity = sops.generate_identity()
    content = sops.encrypt_yaml({"apiVersion": "v1", "kind": "Secret", **document}, [identity.recipient],
                                encrypted_regex=encrypted_regex).encode()
    with pytest.raises(ConfigError) as caught:
        load_secret_values(content, "x.enc.yaml", "oracle", "dev", AppKey(identity.recipient, identity.secret),
                           "Pulumi.dev.yaml")
    [problem] = caught.value.problems
    assert (problem.file, problem.field) == ("x.enc.yaml", field) and problem.message.startswith(why)
    assert "s3cr3t-value" not in str(caught.value) and "/tmp/x.so" not in str(caught.value)


def test_an_empty_value_injected_into_the_example_stops_the_stack(tmp_path):
    project = project_copy(tmp_path)
    path = project / SECRETS
    path.write_text(path.read_text().replace("stringData:\n", 'stringData:\n  NODE_OPTIONS: ""\n', 1))
    keys = sops.parse_identities(KEYS_FILE.read_text(), str(KEYS_FILE))
    for kwargs in ({}, {"identities": keys}):  # offline without keys, and decrypting
        problems = stack_problems(project, **kwargs)
        assert any(p.startswith(f"{SECRETS}: stringData.NODE_OPTIONS: is empty; sops neither encrypts nor "
                                "authenticates empty values") for p in problems), problems
    # The app's own input: its CI gate (`plan --app`) refuses it; the stack's plan leaves it out (ADR 0012).
    stderr = refused_cleanly(run("plan", "--stack", "dev", "--app", "oracle", "--project-dir", str(project),
                                 timeout=120))
    assert f"{SECRETS}: stringData.NODE_OPTIONS: is empty" in stderr


def test_a_secrets_file_that_is_a_link_or_a_fifo_is_refused(tmp_path):
    directory = tmp_path / "app"
    secrets_dir = directory / ".minnova" / "secrets"
    secrets_dir.mkdir(parents=True)
    (secrets_dir / "dev.enc.yaml").symlink_to("/dev/zero")
    with pytest.raises(ConfigError, match="dev.enc.yaml: is a symbolic link"):
        within(5, lambda: read_secrets_file(directory, "dev"))
    (secrets_dir / "dev.enc.yaml").unlink()
    os.mkfifo(secrets_dir / "dev.enc.yaml")
    with pytest.raises(ConfigError, match="dev.enc.yaml: is a named pipe"):
        within(5, lambda: read_secrets_file(directory, "dev"), secrets_dir / "dev.enc.yaml")
    assert read_secrets_file(directory, "prod") is None


def test_secrets_check_refuses_what_the_platform_refuses(tmp_path):
    """sops decrypts and verifies a file with an injected empty value: `secrets check` must not call it fine."""
    import subprocess
    import sys

    from minnova_idp.sops import document as sops

    identity = sops.generate_identity()
    document = {"apiVersion": "v1", "kind": "Secret", "stringData": {"API_KEY": "s3cret"}}
    encrypted = sops.encrypt_yaml(document, [identity.recipient])
    injected = encrypted.replace("stringData:\n", 'stringData:\n  NODE_OPTIONS: ""\n', 1)
    assert injected != encrypted
    file, key = tmp_path / "prod.enc.yaml", tmp_path / "key.txt"
    file.write_text(injected)
    key.write_text(identity.secret + "\n")
    result = subprocess.run([sys.executable, "-m", "minnova_idp.cli", "secrets", "check", str(file), "--identity",
                             str(key)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "stringData.NODE_OPTIONS" in result.stderr and "s3cret" not in result.stderr
    file.write_text(encrypted)
    result = subprocess.run([sys.executable, "-m", "minnova_idp.cli", "secrets", "check", str(file), "--identity",
                             str(key)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "MAC verified" in result.stdout
