"""SOPS (age) decryption against files written by the real `sops` CLI, tampering, and our encryptor."""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import pyrage
import pytest
import yaml
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from minnova_idp.model.errors import ConfigError
from minnova_idp.sops import cipher, formats
from minnova_idp.sops import document as sops
from minnova_idp.sops.identities import AgeIdentity
from minnova_idp.sops.errors import SopsError
from tests.support.sops_fixtures import sops_fixture

NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)

AGE_RECIPIENT = "age1l44xcng8dqj32nlv6d930qvvrny05hglzcv9qpc7kxjc6902ma4qufys29"
GLOBAL_RECIPIENT = "age1henwn645drkd3fa34t27t2w2x0nsgw3w4h62gmg5x5xflyjpy38s5cncph"
# Plaintexts that must never show up in an error message.
SECRETS = ("global-value", "hunter2-token", "alpha-secret", "beta-secret", "nested-secret", "sekrit")

GOLDEN = {
    "age.enc.yaml": ("age.key.txt", {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "age"}, "stringData": {"key": "value"}}),
    "global.enc.yaml": ("global.key.txt", {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "global-age-secret", "namespace": "default"},
        "type": "Opaque", "stringData": {"key": "global-value"}}),
    "merge1.enc.yaml": ("age.key.txt", {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "secret"}, "stringData": {"key": "merge1"}}),
    "merge2.enc.yaml": ("age.key.txt", {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "secret"}, "stringData": {"merge2": "merge2"}}),
}




def key(name: str) -> list[AgeIdentity]:
    return sops.parse_identities(sops_fixture(name).read_text(), name)


def refused(call: Callable[[], Any], match: str) -> SopsError:
    """The call fails with a SopsError matching `match`, and the message leaks no plaintext or key."""
    with pytest.raises(SopsError, match=match) as info:
        call()
    text = str(info.value)
    for secret in SECRETS:
        assert secret not in text
    assert "AGE-SECRET-KEY" not in text
    return info.value


def tampered(tmp_path: Path, fixture: str, old: str, new: str) -> Path:
    """A copy of a fixture with the first `old` replaced by `new`."""
    text = sops_fixture(fixture).read_text()
    assert old in text, f"{old!r} not in {fixture}"
    copy = tmp_path / fixture
    copy.write_text(text.replace(old, new, 1))
    return copy


def flip_data(text: str, key_name: str) -> tuple[str, str]:
    """(old, new) for the ENC value of `key_name` with one ciphertext bit flipped."""
    match = re.search(rf"{re.escape(key_name)}: (ENC\[AES256_GCM,data:([^,]+),)", text)
    assert match, key_name
    data = bytearray(base64.b64decode(match.group(2)))
    data[0] ^= 1
    return match.group(1), match.group(1).replace(match.group(2), base64.b64encode(bytes(data)).decode())


def secret_doc() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "oracle-db", "labels": {"yes-like": "yes", "octal-like": "0o17", "date-like": "2024-01-01"}},
        "type": "Opaque",
        "stringData": {
            "token": "hunter2-token",
            "port": 5432,
            "ratio": 0.75,
            "enabled": True,
            "disabled": False,
            "empty": "",
            "pem": "-----BEGIN-----\nnested-secret\n-----END-----\n",
        },
        "data": {"nested": {"inner": "bmVzdGVkLXNlY3JldA==", "list": ["alpha-secret", 7]}},
    }


# --- real sops files ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_fixture_decrypts_to_the_expected_plaintext(name):
    key_file, expected = GOLDEN[name]
    identities = key(key_file)
    content = sops_fixture(name).read_bytes()
    document = sops.decrypt(content, identities, name)
    assert document == expected
    assert list(document) == list(expected)  # document order, and no `sops` key
    # Kubernetes metadata stays in clear in the file (encrypted_regex ^(data|stringData)$).
    assert yaml.safe_load(content)["metadata"] == expected["metadata"]
    assert sops.recipients(content, name) == (identities[0].recipient,)


def test_dotenv_fixture_decrypts():
    identities = key("age.key.txt")
    content = sops_fixture("env.enc.env").read_text()
    assert sops.decrypt(content, identities, "env.enc.env") == {"key": "value"}
    # The format can be forced when the name does not say it.
    assert sops.decrypt(content, identities, "secret.txt", format="dotenv") == {"key": "value"}
    assert sops.recipients(content, "env.enc.env") == (AGE_RECIPIENT,)


def test_dotenv_value_is_bound_to_its_key(tmp_path):
    identities = key("age.key.txt")
    copy = tampered(tmp_path, "env.enc.env", "key=ENC[", "other=ENC[")
    refused(lambda: sops.decrypt(copy.read_text(), identities, "env.enc.env"), r"env\.enc\.env: other: value cannot be decrypted")


def test_wrong_key_names_the_recipient_and_no_plaintext():
    error = refused(lambda: sops.decrypt(sops_fixture("global.enc.yaml").read_bytes(), key("age.key.txt"), "global.enc.yaml"),
                    "none of the given age identities can decrypt this file")
    assert error.file == "global.enc.yaml"
    assert error.recipients == (GLOBAL_RECIPIENT,)
    assert str(error).endswith(f"(encrypted for: {GLOBAL_RECIPIENT})")


def test_post_quantum_recipient_is_refused_clearly():
    # How this was determined for pyrage 1.4.0: dir(pyrage) has x25519, ssh, passphrase, plugin, tag and
    # tagpq; x25519.Identity.from_str rejects "AGE-SECRET-KEY-PQ-1..." ("incorrect HRP"); tagpq only has a
    # Recipient (hybrid tags for hardware tokens, nothing to decrypt with); plugin identities need an
    # external age-plugin binary. So no identity type can open the file's mlkem768x25519 stanza.
    # The next assertion fails once pyrage learns post-quantum keys: then support them instead.
    pq_secret = next(line for line in sops_fixture("age-pq.key.txt").read_text().splitlines()
                     if line.startswith("AGE-SECRET-KEY-PQ-1"))
    with pytest.raises(pyrage.IdentityError):
        pyrage.x25519.Identity.from_str(pq_secret)

    content = sops_fixture("age-pq.enc.yaml").read_bytes()
    refused(lambda: sops.decrypt(content, key("age-pq.key.txt"), "age-pq.enc.yaml"),
            r"age-pq\.key\.txt: line 3 is a post-quantum age identity: post-quantum age recipients .* are not "
            r"supported by the installed pyrage version .*X25519 \(age1…\) recipient")
    # With any usable identity, the file itself is reported as post-quantum only.
    error = refused(lambda: sops.decrypt(content, key("age.key.txt"), "age-pq.enc.yaml"),
                    r"^age-pq\.enc\.yaml: post-quantum age recipients \(age1pq…\) are not supported")
    assert error.recipients[0].startswith("age1pq1ehusfwsvr") and len(error.recipients[0]) < 40
    assert sops.recipients(content, "age-pq.enc.yaml")[0].startswith("age1pq1")


# --- tampering with real files ------------------------------------------------------------------


def test_changed_encrypted_value_is_refused_with_its_path(tmp_path):
    text = sops_fixture("age.enc.yaml").read_text()
    copy = tampered(tmp_path, "age.enc.yaml", *flip_data(text, "key"))
    refused(lambda: sops.decrypt(copy.read_bytes(), key("age.key.txt"), "age.enc.yaml"),
            r"^age\.enc\.yaml: stringData\.key: value cannot be decrypted")


def test_changed_clear_value_is_a_mac_mismatch(tmp_path):
    copy = tampered(tmp_path, "global.enc.yaml", "namespace: default", "namespace: kube-system")
    refused(lambda: sops.decrypt(copy.read_bytes(), key("global.key.txt"), "global.enc.yaml"),
            "MAC mismatch: the file was changed after it was encrypted")


def test_renamed_key_is_refused(tmp_path):
    copy = tampered(tmp_path, "age.enc.yaml", "  key: ENC[", "  other: ENC[")
    refused(lambda: sops.decrypt(copy.read_bytes(), key("age.key.txt"), "age.enc.yaml"),
            r"stringData\.other: value cannot be decrypted")


def test_changed_mac_is_refused(tmp_path):
    text = sops_fixture("age.enc.yaml").read_text()
    copy = tampered(tmp_path, "age.enc.yaml", *flip_data(text, "mac"))
    refused(lambda: sops.decrypt(copy.read_bytes(), key("age.key.txt"), "age.enc.yaml"), "MAC mismatch")


def test_changed_lastmodified_is_refused(tmp_path):
    copy = tampered(tmp_path, "age.enc.yaml", '"2024-11-12T13:33:42Z"', '"2024-11-12T13:33:43Z"')
    refused(lambda: sops.decrypt(copy.read_bytes(), key("age.key.txt"), "age.enc.yaml"), "MAC mismatch")


def test_mac_from_another_file_with_the_same_key_is_refused(tmp_path):
    # merge1 and merge2 have the same lastmodified but different data keys: the MAC cannot be moved.
    merge2_mac = re.search(r"mac: (ENC\[.*\])", sops_fixture("merge2.enc.yaml").read_text()).group(1)
    merge1_mac = re.search(r"mac: (ENC\[.*\])", sops_fixture("merge1.enc.yaml").read_text()).group(1)
    copy = tampered(tmp_path, "merge1.enc.yaml", merge1_mac, merge2_mac)
    refused(lambda: sops.decrypt(copy.read_bytes(), key("age.key.txt"), "merge1.enc.yaml"), "MAC mismatch")


@pytest.mark.parametrize(("old", "new"), [
    ("  namespace: default", "  namespaze: default"),  # a clear key renamed
    ("stringData:\n", 'stringData:\n  injected: ""\n'),  # an empty string added (sops never encrypts "")
    ("type: Opaque\n", "type: Opaque\nimmutable: null\n"),  # a null added
])
def test_what_the_sops_mac_does_not_cover(tmp_path, old, new):
    """sops's MAC covers the values (clear or not) and their order, not clear key names, nulls or empty
    strings (sops.go: walkValue skips nil, ToBytes("") adds nothing). A sops-compatible reader cannot do
    better; callers must check the keys they accept."""
    copy = tampered(tmp_path, "global.enc.yaml", old, new)
    document = sops.decrypt(copy.read_bytes(), key("global.key.txt"), "global.enc.yaml")
    assert document["stringData"]["key"] == "global-value"


def test_plaintext_in_place_of_an_encrypted_value_is_refused(tmp_path):
    text = sops_fixture("age.enc.yaml").read_text()
    enc = re.search(r"key: (ENC\[.*\])", text).group(1)
    copy = tampered(tmp_path, "age.enc.yaml", enc, "sekrit")
    refused(lambda: sops.decrypt(copy.read_bytes(), key("age.key.txt"), "age.enc.yaml"),
            r"stringData\.key: value is not encrypted")


def test_not_a_sops_file():
    refused(lambda: sops.decrypt("apiVersion: v1\nkind: Secret\n", key("age.key.txt"), "plain.yaml"),
            r"^plain\.yaml: not a sops file")
    refused(lambda: sops.recipients("KEY=value\n", "plain.env"), r"^plain\.env: not a sops file")
    refused(lambda: sops.recipients("a: 1\na: 2\nsops: {}\n", "dup.yaml"), r"^dup\.yaml: line 2: duplicate key 'a'")
    refused(lambda: sops.decrypt("a: 1\n", [], "x.yaml", format="json"), "unsupported format")


# --- our encryptor ------------------------------------------------------------------------------


def test_round_trip_with_two_recipients():
    first, second = sops.generate_identity(), sops.generate_identity()
    document = secret_doc()
    text = sops.encrypt_yaml(document, [first.recipient, second.recipient], now=NOW)

    for identity in (first, second):
        decrypted = sops.decrypt(text, [identity], "secret.enc.yaml")
        assert decrypted == document
        assert [type(v) for v in decrypted["stringData"].values()] == [str, int, float, bool, bool, str, str]
        assert decrypted["data"]["nested"]["list"] == ["alpha-secret", 7]
    assert sops.recipients(text, "secret.enc.yaml") == (first.recipient, second.recipient)

    for plaintext in ("hunter2-token", "nested-secret", "alpha-secret", "bmVzdGVkLXNlY3JldA=="):
        assert plaintext not in text
    loaded = yaml.safe_load(text)
    assert loaded["metadata"] == document["metadata"]  # clear, and strings stay strings (quoted)
    assert loaded["kind"] == "Secret" and loaded["type"] == "Opaque"
    assert loaded["stringData"]["empty"] == ""  # sops leaves empty strings as they are
    assert list(loaded["sops"]) == ["age", "lastmodified", "mac", "encrypted_regex", "version"]
    assert loaded["sops"]["lastmodified"] == "2025-01-02T03:04:05Z"
    assert loaded["sops"]["version"] == "3.10.2"
    assert loaded["sops"]["encrypted_regex"] == "^(data|stringData)$"
    assert '\n  lastmodified: "2025-01-02T03:04:05Z"\n' in text  # the layout sops writes
    assert all(v.startswith("ENC[AES256_GCM,") and v.endswith(",type:str]") for v in [loaded["stringData"]["token"]])
    assert loaded["stringData"]["port"].endswith(",type:int]")
    assert loaded["stringData"]["ratio"].endswith(",type:float]")
    assert loaded["stringData"]["enabled"].endswith(",type:bool]")


def test_value_encoding_and_additional_data():
    """The plaintext bytes and additional data of each type, read back with plain AES-GCM."""
    identity = sops.generate_identity()
    text = sops.encrypt_yaml({"data": {"n": 5, "f": 1e20, "g": 0.5, "b": False, "s": "x", "l": ["item"]}},
                             [identity.recipient], now=NOW)
    loaded = yaml.safe_load(text)
    data_key = pyrage.decrypt(loaded["sops"]["age"][0]["enc"].encode(),
                              [pyrage.x25519.Identity.from_str(identity.secret)])

    def opened(value: str, additional_data: str) -> bytes:
        data, iv, tag = re.match(r"ENC\[AES256_GCM,data:(.*),iv:(.*),tag:(.*),type:", value).groups()
        assert len(base64.b64decode(iv)) == 32
        return AESGCM(data_key).decrypt(base64.b64decode(iv), base64.b64decode(data) + base64.b64decode(tag),
                                        additional_data.encode())

    values = loaded["data"]
    assert opened(values["n"], "data:n:") == b"5"
    assert opened(values["f"], "data:f:") == b"100000000000000000000"  # Go FormatFloat 'f', -1
    assert opened(values["g"], "data:g:") == b"0.5"
    assert opened(values["b"], "data:b:") == b"False"
    assert opened(values["s"], "data:s:") == b"x"
    assert opened(values["l"][0], "data:l:") == b"item"  # list items use their list's path
    mac = opened(loaded["sops"]["mac"], "2025-01-02T03:04:05Z").decode()
    assert re.fullmatch(r"[0-9A-F]{128}", mac)  # SHA-512, uppercase hex


def test_reordered_keys_are_a_mac_mismatch(tmp_path):
    identity = sops.generate_identity()
    text = sops.encrypt_yaml({"stringData": {"first": "alpha-secret", "second": "beta-secret"}}, [identity.recipient])
    first = re.search(r"\n  first: .*", text).group(0)
    second = re.search(r"\n  second: .*", text).group(0)
    swapped = text.replace(first + second, second + first)
    assert swapped != text
    sops.decrypt(text, [identity], "x.yaml")  # the original is fine
    refused(lambda: sops.decrypt(swapped, [identity], "x.yaml"), "MAC mismatch")
    removed = text.replace(second, "")
    refused(lambda: sops.decrypt(removed, [identity], "x.yaml"), "MAC mismatch")


def test_values_swapped_between_keys_are_refused():
    identity = sops.generate_identity()
    text = sops.encrypt_yaml({"stringData": {"first": "alpha-secret", "second": "beta-secret"}}, [identity.recipient])
    first_value = re.search(r"first: (.*)", text).group(1)
    second_value = re.search(r"second: (.*)", text).group(1)
    swapped = text.replace(first_value, "@").replace(second_value, first_value).replace("@", second_value)
    refused(lambda: sops.decrypt(swapped, [identity], "x.yaml"), r"stringData\.first: value cannot be decrypted")


def test_default_unencrypted_suffix_without_a_rule(tmp_path):
    identity = sops.generate_identity()
    document = {"password": "hunter2-token", "host_unencrypted": "db.local", "tree_unencrypted": {"leaf": "visible"}}
    text = sops.encrypt_yaml(document, [identity.recipient], encrypted_regex=None, now=NOW)
    loaded = yaml.safe_load(text)
    assert loaded["host_unencrypted"] == "db.local"
    assert loaded["tree_unencrypted"] == {"leaf": "visible"}  # a matching key covers its subtree
    assert loaded["password"].startswith("ENC[")
    assert loaded["sops"]["unencrypted_suffix"] == "_unencrypted"
    assert sops.decrypt(text, [identity], "x.yaml") == document
    # Without any rule in the metadata, sops (and we) still assume _unencrypted.
    without_rule = text.replace("  unencrypted_suffix: _unencrypted\n", "")
    assert without_rule != text
    assert sops.decrypt(without_rule, [identity], "x.yaml") == document
    # ...and a clear value still counts in the MAC.
    refused(lambda: sops.decrypt(text.replace("db.local", "db.evil"), [identity], "x.yaml"), "MAC mismatch")


def test_mac_only_encrypted():
    identity = sops.generate_identity()
    document = {"metadata": {"name": "app"}, "stringData": {"token": "hunter2-token"}}
    text = sops._encrypt_yaml(document, [identity.recipient], "^stringData$", NOW, mac_only_encrypted=True)
    assert "mac_only_encrypted: true" in text
    assert sops.decrypt(text, [identity], "x.yaml") == document
    # sops's documented trade-off: clear values are then not covered by the MAC.
    assert sops.decrypt(text.replace("name: app", "name: other"), [identity], "x.yaml")["metadata"] == {"name": "other"}
    # The hash starts from sha256("sops") (the constant in sops.go), so dropping the flag breaks the MAC.
    assert cipher.MAC_ONLY_ENCRYPTED_SEED.hex() == "8a3fd2ad54ce66527b1034f3d147be0b0b975b3bf44f72c6fdadec8176f27d69"
    refused(lambda: sops.decrypt(text.replace("  mac_only_encrypted: true\n", ""), [identity], "x.yaml"), "MAC mismatch")


def test_clear_values_count_in_the_mac_as_sops_reads_them():
    """The MAC is over yaml.v3's reading of clear values, which differs from PyYAML's (YAML 1.1)."""
    identity = sops.generate_identity()
    text = sops.encrypt_yaml({"metadata": {"a": "yes", "b": 15, "c": 1000.0}, "stringData": {"k": "v"}},
                             [identity.recipient])
    assert 'a: "yes"' in text and "b: 15" in text and "c: 1000.0" in text
    # Spellings that sops reads as the same value keep the MAC valid: unquoted `yes` is still the
    # string "yes" for yaml.v3, 0o17 is 15 and 1e3 is 1000.0.
    same = text.replace('a: "yes"', "a: yes").replace("b: 15", "b: 0o17").replace("c: 1000.0", "c: 1e3")
    assert sops.decrypt(same, [identity], "x.yaml")["stringData"] == {"k": "v"}
    refused(lambda: sops.decrypt(text.replace("b: 15", "b: 16"), [identity], "x.yaml"), "MAC mismatch")


@pytest.mark.parametrize(("text", "value"), [
    ("yes", "yes"), ("on", "on"), ("true", True), ("FALSE", False), ("~", None), ("null", None),
    ("0o17", 15), ("017", 15), ("0x1F", 31), ("-0b101", -5), ("1_000", 1000), ("+7", 7), ("08", 8.0),
    ("1e3", 1000.0), (".5", 0.5), ("1:30", "1:30"), ("2024-01-01", "2024-01-01"), ("1e999", "1e999"),
    ("ENC[AES256_GCM,data:x]", "ENC[AES256_GCM,data:x]"),
])
def test_go_yaml_plain_scalars(text, value):
    resolved = formats.go_plain_scalar(text)
    assert resolved == value and type(resolved) is type(value)


@pytest.mark.parametrize(("value", "expected"), [
    (True, b"True"), (False, b"False"), (42, b"42"), (-7, b"-7"), (1.0, b"1"), (1.5, b"1.5"), (-0.0, b"-0"),
    (1e20, b"100000000000000000000"), (1.5e-7, b"0.00000015"), (0.1, b"0.1"), (float("inf"), b"+Inf"),
    ("väl", "väl".encode()), (b"\x00\xff", b"\x00\xff"),
])
def test_mac_bytes_match_sops(value, expected):
    assert cipher.mac_bytes(value, "f", "p") == expected


def test_encrypt_refuses_what_sops_cannot_write():
    identity = sops.generate_identity()
    refused(lambda: sops.encrypt_yaml({"data": {"when": datetime.now()}}, [identity.recipient]),
            r"data\.when: unsupported value type datetime")
    refused(lambda: sops.encrypt_yaml({"sops": {}}, [identity.recipient]), "already has a top-level `sops` key")
    refused(lambda: sops.encrypt_yaml({"a": "b"}, []), "at least one age recipient")
    refused(lambda: sops.encrypt_yaml({"a": "b"}, ["age1nope"]), r"recipient 1 is not an age X25519 recipient")


@pytest.mark.skipif(shutil.which("age") is None, reason="the age CLI is not installed (apt-get install age)")
def test_data_key_opens_with_the_age_cli(tmp_path):
    """Cross-check with the Go age implementation that our armored data keys are standard age files."""
    identity = sops.generate_identity()
    text = sops.encrypt_yaml({"stringData": {"k": "hunter2-token"}}, [identity.recipient])
    loaded = yaml.safe_load(text)
    (tmp_path / "key.txt").write_text(identity.secret + "\n")
    (tmp_path / "enc.age").write_text(loaded["sops"]["age"][0]["enc"])
    result = subprocess.run(["age", "--decrypt", "-i", str(tmp_path / "key.txt"), str(tmp_path / "enc.age")],
                            capture_output=True, check=True)
    data_key = result.stdout
    assert len(data_key) == 32
    data, iv, tag = re.match(r"ENC\[AES256_GCM,data:(.*),iv:(.*),tag:(.*),type:str\]", loaded["stringData"]["k"]).groups()
    plain = AESGCM(data_key).decrypt(base64.b64decode(iv), base64.b64decode(data) + base64.b64decode(tag), b"stringData:k:")
    assert plain == b"hunter2-token"


# --- identities ---------------------------------------------------------------------------------


def test_parse_identities_skips_comments_and_rejects_garbage_without_echoing_it():
    first, second = sops.generate_identity(), sops.generate_identity()
    text = f"# created: today\n# public key: {first.recipient}\n{first.secret}\n\n  {second.secret}  \n"
    assert sops.parse_identities(text, "keys.txt") == [first, second]
    error = refused(lambda: sops.parse_identities(f"{first.secret}\nAGE-SECRET-KEY-1sekrit\n", "keys.txt"),
                    r"^keys\.txt: line 2 is not an age identity$")
    assert error.recipients == ()
    assert first.secret not in repr(first)  # the secret never shows in a repr


def test_identities_from_environment_precedence(tmp_path):
    flag, env_file, env_key = (sops.generate_identity() for _ in range(3))
    flag_path = tmp_path / "flag.txt"
    flag_path.write_text(flag.secret + "\n")
    file_path = tmp_path / "env.txt"
    file_path.write_text(env_file.secret + "\n")
    environ = {"SOPS_AGE_KEY_FILE": str(file_path), "SOPS_AGE_KEY": env_key.secret}

    assert sops.identities_from_environment(flag_path, environ) == [flag]
    assert sops.identities_from_environment(None, environ) == [env_file]
    assert sops.identities_from_environment(None, {"SOPS_AGE_KEY": env_key.secret}) == [env_key]


def test_identities_from_environment_several_keys_and_errors(tmp_path):
    first, second = sops.generate_identity(), sops.generate_identity()
    several = {"SOPS_AGE_KEY": f"# two keys\n{first.secret}\n{second.secret}\n"}
    assert sops.identities_from_environment(environ=several) == [first, second]

    error = refused(lambda: sops.identities_from_environment(environ={}), "no age identity")
    assert str(error) == ("<identities>: no age identity: pass --identity KEYFILE or set SOPS_AGE_KEY_FILE / "
                          "SOPS_AGE_KEY")
    refused(lambda: sops.identities_from_environment(tmp_path / "missing.txt", {}), "age key file not found")
    (tmp_path / "empty.txt").write_text("# nothing here\n")
    refused(lambda: sops.identities_from_environment(tmp_path / "empty.txt", {}), "contains no age identity")
    refused(lambda: sops.identities_from_environment(environ={"SOPS_AGE_KEY": "sekrit"}),
            r"^SOPS_AGE_KEY: line 1 is not an age identity$")


def test_identities_from_the_environment_decrypt_a_fixture():
    environ = {"SOPS_AGE_KEY_FILE": str(sops_fixture("global.key.txt"))}
    document = sops.decrypt(sops_fixture("global.enc.yaml").read_bytes(),
                            sops.identities_from_environment(environ=environ), "global.enc.yaml")
    assert document["stringData"] == {"key": "global-value"}
    # Several identities: the one that fits is found.
    both = key("age.key.txt") + key("global.key.txt")
    assert sops.decrypt(sops_fixture("global.enc.yaml").read_bytes(), both, "global.enc.yaml") == document


# --- values no key protects (issue 13) --------------------------------------------------------------------------


def test_an_added_empty_value_passes_the_mac_and_is_reported_unauthenticated(tmp_path):
    """sops's MAC is SHA-512 over the values' bytes, and "" has none; aes/cipher.go passes "" through
    unencrypted. So an empty value added to a real sops file verifies: `unauthenticated_values` finds it."""
    copy = tampered(tmp_path, "age.enc.yaml", "stringData:\n", 'stringData:\n  NODE_OPTIONS: ""\n  EMPTY:\n')
    content = copy.read_bytes()
    assert sops.decrypt(content, key("age.key.txt"), "age.enc.yaml")["stringData"] == {
        "NODE_OPTIONS": "", "EMPTY": None, "key": "value"}
    found = sops.unauthenticated_values(content, "age.enc.yaml", sections=("stringData", "data"))
    assert [path for path, _ in found] == ["stringData.NODE_OPTIONS", "stringData.EMPTY"]
    assert all(why.startswith("is empty; sops neither encrypts nor authenticates") for _, why in found)
    # Every clear value of the untouched fixture (apiVersion, kind, metadata.name) is reported without `sections`.
    original = sops_fixture("age.enc.yaml").read_bytes()
    assert sops.unauthenticated_values(original, "age.enc.yaml", sections=("stringData", "data")) == []
    assert [p for p, _ in sops.unauthenticated_values(original, "age.enc.yaml")] == [
        "apiVersion", "kind", "metadata.name"]


def test_an_added_empty_dotenv_value_is_reported_unauthenticated(tmp_path):
    content = sops_fixture("env.enc.env").read_text() + "NODE_OPTIONS=\n"
    assert sops.decrypt(content, key("age.key.txt"), "env.enc.env") == {"key": "value", "NODE_OPTIONS": ""}
    assert [p for p, _ in sops.unauthenticated_values(content, "env.enc.env")] == ["NODE_OPTIONS"]


def test_clear_values_where_the_rules_say_clear_or_where_an_enc_value_belongs_are_reported():
    identity = sops.generate_identity()
    text = sops.encrypt_yaml({"stringData": {"A": "x", "B_unencrypted": "y"}}, [identity.recipient],
                             encrypted_regex=None)
    assert sops.unauthenticated_values(text, "x.yaml") == [
        ("stringData.B_unencrypted", "is not encrypted (the file's encryption rules leave it in clear), so anyone "
                                     "could have changed it")]
    replaced = re.sub(r"A: ENC\[[^\]]*\]", "A: plain", text)
    assert [p for p, _ in sops.unauthenticated_values(replaced, "x.yaml")][0] == "stringData.A"


def test_an_age_key_file_is_read_bounded_and_regular_only(tmp_path):
    from tests.load.test_hostile_inputs import within  # a FIFO that blocks fails the test instead of hanging it

    # /dev/null, not /dev/zero: were the check gone, this fails on its message instead of eating memory.
    refused(lambda: sops.identities_from_environment(Path("/dev/null"), {}),
            "cannot read the age key file: is a character device")
    fifo = tmp_path / "key.fifo"
    os.mkfifo(fifo)
    refused(lambda: within(5, lambda: sops.identities_from_environment(fifo, {}), fifo),
            r"cannot read the age key file: is a named pipe")
    big = tmp_path / "big.txt"
    big.write_text("#" * (sops.MAX_KEY_FILE_BYTES + 1))
    refused(lambda: sops.identities_from_environment(big, {}), "cannot read the age key file: file is")
    link = tmp_path / "link.txt"  # Kubernetes mounts secret files as symlinks: followed
    (tmp_path / "real.txt").write_text(sops_fixture("age.key.txt").read_text())
    link.symlink_to(tmp_path / "real.txt")
    assert sops.identities_from_environment(link, {}) == key("age.key.txt")


def test_an_empty_section_is_not_an_unauthenticated_value():
    identity = sops.generate_identity()
    text = sops.encrypt_yaml({"kind": "Secret", "stringData": {"A": "x"}, "data": None}, [identity.recipient])
    assert sops.unauthenticated_values(text, "x.yaml", sections=("stringData", "data")) == []


# --- re-encrypting and plaintext (secrets encrypt / edit / rotate, issue 15) ----------------------------------


def test_reencrypt_a_real_file_keeps_its_data_key_rules_and_recipients():
    identities = key("age.key.txt")
    original = sops_fixture("age.enc.yaml").read_text()
    document = sops.decrypt(original, identities, "age.enc.yaml")
    document["stringData"]["key"] = "hunter2-token"
    text = sops.reencrypt(original, document, identities, "age.enc.yaml", now=NOW)
    assert sops.decrypt(text, identities, "age.enc.yaml") == document
    written, real = yaml.safe_load(text)["sops"], yaml.safe_load(original)["sops"]
    assert written["age"] == real["age"]  # same stanza: same data key, as `sops edit`
    assert written["encrypted_regex"] == real["encrypted_regex"] and written["lastmodified"] == "2025-01-02T03:04:05Z"
    assert "hunter2-token" not in text
    # a fresh data key (rotate): a new stanza, still opened by the same identity
    rotated = sops.reencrypt(original, document, identities, "age.enc.yaml", fresh_key=True)
    assert yaml.safe_load(rotated)["sops"]["age"][0]["enc"] != real["age"][0]["enc"]
    assert sops.decrypt(rotated, identities, "age.enc.yaml") == document


def test_reencrypt_for_other_recipients_always_uses_a_new_data_key():
    identities = key("age.key.txt")
    original = sops_fixture("age.enc.yaml").read_text()
    document = sops.decrypt(original, identities, "age.enc.yaml")
    new = sops.generate_identity()
    text = sops.reencrypt(original, document, identities, "age.enc.yaml", recipients=[new.recipient])
    assert sops.recipients(text, "x.yaml") == (new.recipient,)
    assert sops.decrypt(text, [new], "x.yaml") == document
    refused(lambda: sops.decrypt(text, identities, "x.yaml"), "none of the given age identities")
    # without an identity that opens the original, nothing is written for anyone
    refused(lambda: sops.reencrypt(original, document, [new], "age.enc.yaml", recipients=[new.recipient]),
            "none of the given age identities")


def test_reencrypt_keeps_mac_only_encrypted_and_other_rules():
    identity = sops.generate_identity()
    document = {"metadata": {"name": "app"}, "stringData": {"token": "hunter2-token"}}
    original = sops._encrypt_yaml(document, [identity.recipient], "^stringData$", NOW, mac_only_encrypted=True)
    changed = {**document, "stringData": {"token": "sekrit"}}
    text = sops.reencrypt(original, changed, [identity], "x.yaml")
    loaded = yaml.safe_load(text)["sops"]
    assert loaded["mac_only_encrypted"] is True and loaded["encrypted_regex"] == "^stringData$"
    assert sops.decrypt(text, [identity], "x.yaml") == changed


def test_dotenv_text_escapes_newlines_as_the_sops_store_does():
    # getsops/sops@v3.10.2 stores/dotenv/store.go:144 (EmitPlainFile) writes "\n" in a value as the two characters
    # `\\n`; :95 (LoadPlainFile) reads them back as a newline.
    text = sops.dotenv_text({"A": "x\ny\n", "B": "", "C": "a=b"})
    assert text == "A=x\\ny\\n\nB=\nC=a=b\n"
    assert sops.plaintext_dotenv(text, "<text>") == {"A": "x\ny\n", "B": "", "C": "a=b"}


def test_our_dotenv_files_are_laid_out_as_sops_writes_them():
    identities = key("age.key.txt")
    real = sops_fixture("env.enc.env").read_text()
    ours = sops.encrypt_dotenv({"key": "value"}, [identities[0].recipient])
    assert [line.split("=", 1)[0] for line in ours.splitlines()] == [line.split("=", 1)[0] for line in real.splitlines()]
    assert sops.decrypt(ours, identities, "x.env") == sops.decrypt(real, identities, "env.enc.env") == {"key": "value"}
    multi = sops.encrypt_dotenv({"PEM": "line1\nline2", "plain_unencrypted": "a\nb"}, [identities[0].recipient])
    assert len(multi.splitlines()) == 2 + 6 and "plain_unencrypted=a\\nb" in multi
    assert sops.decrypt(multi, identities, "x.env") == {"PEM": "line1\nline2", "plain_unencrypted": "a\nb"}
    refused(lambda: sops.encrypt_dotenv({"A": "back\\nslash"}, [identities[0].recipient]), "backslash followed by 'n'")
    refused(lambda: sops.encrypt_dotenv({"A=B": "x"}, [identities[0].recipient]), "cannot be a dotenv key")
    refused(lambda: sops.encrypt_dotenv({"A": 1}, [identities[0].recipient]), "dotenv values are strings")


def test_plaintext_is_read_as_sops_reads_it():
    assert sops.plaintext_yaml("stringData:\n  A: yes\n  B: 2024-01-01\n  C: 0o17\n  D: '5'\n  E: ~\n", "p.yaml") == {
        "stringData": {"A": "yes", "B": "2024-01-01", "C": 15, "D": "5", "E": None}}
    document = {"stringData": {"A": "yes", "B": "0o17", "C": 15, "D": True, "E": "multi\nline", "F": 0.5}}
    assert sops.plaintext_yaml(sops.dump_plaintext_yaml(document), "p.yaml") == document
    refused(lambda: sops.plaintext_yaml("stringData: {A: b}\nsops: {}\n", "p.yaml"), "is already encrypted")
    # keys are the text written, as for sops (and then refused by name where they are not env-var names)
    assert sops.plaintext_yaml("stringData:\n  1: b\n  yes: c\n", "p.yaml") == {"stringData": {"1": "b", "yes": "c"}}
    with pytest.raises(ConfigError, match="duplicate key"):
        sops.plaintext_yaml("a: 1\na: 2\n", "p.yaml")
    assert sops.plaintext_dotenv("# c\nA=b=c\nB=\"q\"\nC=x\\ny\n", "p.env") == {"A": "b=c", "B": '"q"', "C": "x\ny"}
    refused(lambda: sops.plaintext_dotenv("A=1\nsops_mac=x\n", "p.env"), "is already encrypted")
    refused(lambda: sops.plaintext_dotenv("JUSTTEXT\n", "p.env"), "line 1 is not KEY=VALUE")


def test_plaintext_length_and_is_encrypted_read_no_key():
    identity = sops.generate_identity()
    text = sops.encrypt_yaml({"stringData": {"A": "x" * 1000, "B": "väl"}}, [identity.recipient])
    values = yaml.safe_load(text)["stringData"]
    assert sops.plaintext_length(values["A"]) == 1000 and sops.plaintext_length(values["B"]) == len("väl".encode())
    assert sops.plaintext_length("plain") is None and sops.plaintext_length(5) is None
    assert sops.is_encrypted(text) and sops.is_encrypted(sops_fixture("env.enc.env").read_bytes())
    assert not sops.is_encrypted("stringData:\n  sops: x\n") and not sops.is_encrypted("A=b\n")
