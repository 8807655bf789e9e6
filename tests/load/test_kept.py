"""The record of an app's last good config (appSources): exact round trip of what the loader reads (and nothing
else), any byte within the record's bounds, refused when changed or malformed, bounded in size."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import zlib
from pathlib import Path

import pytest

from minnova_idp.load import kept
from minnova_idp.load.kept import malformed, materialise, record_of
from minnova_idp.model.errors import ConfigError
from minnova_idp.model.app_config import AppConfig
from minnova_idp.model.loaded import LoadedApp
from minnova_idp.model.registry import RegistryEntry

# What the loader reads: app.yaml, each environment's secrets file and <env>.d/ overlays, the listed seed files, the
# mask and the restore check.
FILES = {"app.yaml": b"name: shop\n", "secrets/dev.enc.yaml": b"A: ENC[AES256_GCM,data:abc]\nsops: {}\n",
         "secrets/dev.d/B.enc.yaml": b"B: ENC[AES256_GCM,data:def]\nsops: {}\n", "secrets/dev.d/C.unset": b"unset: C\n",
         "seed/001.sql": b"insert into t values ('\xff');\n",  # a byte that is not UTF-8 survives too
         "seed/mask.sql": b"update t set a = null;\n", "restore-check.sql": b"select 1;\n"}
# What it never reads: never recorded (a decrypted copy committed by mistake must never reach the outputs).
STRAY = {"secrets.dev.decrypted.env": b"STRIPE_KEY=sk_live_123\n", "secrets/dev.yaml": b"A: plain\n",
         "secrets/dev.d/notes.txt": b"x\n", "seed/unlisted.sql": b"select 2;\n", "notes/readme.md": b"x\n"}


def app_in(directory: Path, commit: str | None = "a" * 40, files: dict[str, bytes] | None = None) -> LoadedApp:
    for relative, content in {**STRAY, **(FILES if files is None else files)}.items():
        path = directory / ".minnova" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    (directory / ".minnova" / "link").symlink_to("/etc/passwd")  # never recorded (the fetcher skips links too)
    (directory / ".minnova" / "secrets" / "dev.d" / "D.enc.yaml").symlink_to("/etc/passwd")  # nor here
    config = AppConfig.model_validate({"name": "shop", "image": {"repository": "r/shop", "tag": "1"}, "port": 1,
                                       "database": {"enabled": True, "seed": {"files": ["seed/001.sql"],
                                                                              "environments": ["dev"]}},
                                       "environments": {"dev": {"host": "shop.dev.example.com"}}})
    return LoadedApp(entry=RegistryEntry(name="shop", local="x"), config=config, commit=commit,
                     config_file="https://git.example/shop@aaaaaaaaaaaa:.minnova/app.yaml", directory=directory)


def test_a_record_gives_back_every_file_exactly(tmp_path):
    record = json.loads(json.dumps(record_of(app_in(tmp_path / "src"))))  # as the stack's outputs hold it
    assert malformed(record) is None and record["commit"] == "a" * 40
    back = materialise(record, tmp_path / "cache")
    found = {p.relative_to(back / ".minnova").as_posix(): p.read_bytes()
             for p in (back / ".minnova").rglob("*") if p.is_file()}
    assert found == FILES
    assert materialise(record, tmp_path / "cache") == back  # content-addressed: written once


def test_a_record_changed_or_cut_is_refused(tmp_path):
    record = record_of(app_in(tmp_path / "src"))
    assert "does not match its sha256" in malformed({**record, "sha256": "0" * 64})
    assert malformed({**record, "files": record["files"][:-8]}) is not None
    assert "40-hex" in malformed({**record, "commit": "main"})
    assert malformed({key: value for key, value in record.items() if key != "commit"}) is None  # Pulumi drops None
    unsafe = json.dumps({"../escape": "x"}).encode()
    import hashlib

    forged = {**record, "files": base64.b64encode(zlib.compress(unsafe)).decode(),
              "sha256": hashlib.sha256(unsafe).hexdigest()}
    assert "unsafe name" in malformed(forged)
    with pytest.raises(ValueError):
        materialise(forged, tmp_path / "cache")


def test_a_record_holds_only_what_the_loader_reads(tmp_path):
    record = record_of(app_in(tmp_path / "src"))
    assert set(kept._files(record)) == set(FILES)  # no stray file, no link


def forged(files: bytes | dict) -> dict:
    """A record as record_of writes it around any payload (a forged or corrupted output passes its own sha256)."""
    payload = files if isinstance(files, bytes) else json.dumps(files).encode()
    return {"commit": "a" * 40, "configFile": "x/.minnova/app.yaml",
            "files": base64.b64encode(zlib.compress(payload, 9)).decode(), "sha256": hashlib.sha256(payload).hexdigest()}


def test_bytes_json_would_escape_fit_a_record_at_the_fetchers_bounds(tmp_path):
    """Control bytes cost 6 characters each as JSON string escapes: 1000 KiB of them made a payload over the reader's
    cap, so the record could never be read back and a later failure of the app stopped the run."""
    blob = bytes(range(32)) * (250 * 1024 // 32)  # 250 KiB of control bytes per file: 4 files, under 1 MiB
    files = {"app.yaml": b"name: shop\n", "secrets/dev.enc.yaml": blob, "secrets/dev.d/B.enc.yaml": blob,
             "seed/001.sql": blob, "restore-check.sql": blob}
    assert sum(map(len, files.values())) <= kept.MAX_TOTAL_BYTES
    record = json.loads(json.dumps(record_of(app_in(tmp_path / "src", files=files))))
    assert malformed(record) is None
    back = materialise(record, tmp_path / "cache")
    assert {relative: (back / ".minnova" / relative).read_bytes() for relative in files} == files


def test_the_readers_cap_is_the_largest_payload_a_record_holds():
    """MAX_FILES names of MAX_NAME_CHARS holding MAX_TOTAL_BYTES, each size the worst for base64's padding."""
    size = kept.MAX_TOTAL_BYTES // kept.MAX_FILES
    size -= (size - 1) % 3  # 1 more than a multiple of 3: two padding characters
    names = [f"seed/{index:02d}" + "x" * (kept.MAX_NAME_CHARS - 7) for index in range(kept.MAX_FILES)]
    payload = json.dumps({name: base64.b64encode(b"\x01" * size).decode() for name in names},
                         sort_keys=True, separators=(",", ":")).encode()
    assert all(len(name) == kept.MAX_NAME_CHARS and kept._NAME_RE.match(name) for name in names)
    assert kept.MAX_PAYLOAD_BYTES - 3 * kept.MAX_FILES <= len(payload) <= kept.MAX_PAYLOAD_BYTES
    assert malformed(forged(payload)) is None


def test_a_record_over_its_size_is_the_apps_own_problem(tmp_path):
    files = {**FILES, "seed/001.sql": os.urandom(300 * 1024)}  # does not compress
    with pytest.raises(ConfigError) as caught:
        record_of(app_in(tmp_path / "src", files=files))
    assert "cannot be written" in str(caught.value.problems[0])
    assert caught.value.problems[0].file.startswith("https://git.example/shop@aaaaaaaaaaaa:")


@pytest.mark.parametrize("payload", [
    b"[" * 200_000,  # nesting deeper than json can parse: RecursionError before
    b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    b"\xff\xfe{}",  # not UTF-8
    json.dumps({"a\x00b": "eA=="}).encode(),  # a NUL in a name: ValueError from the file system before
    json.dumps({"app.yaml": "eA==", "app.yaml/y": "eA=="}).encode(),  # a file and a directory: FileExistsError
    json.dumps({"app.yaml": "name: shop"}).encode(),  # text, not base64 (an earlier format)
])
def test_a_malformed_payload_is_refused_and_leaves_no_scratch(tmp_path, payload):
    record = forged(payload)
    assert malformed(record) is not None
    with pytest.raises(ValueError):
        materialise(record, tmp_path / "cache")
    assert not list((tmp_path / "cache").rglob(".tmp-*"))


def test_a_failed_write_leaves_no_scratch(tmp_path, monkeypatch):
    record = record_of(app_in(tmp_path / "src"))

    def full(self, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(OSError):
        materialise(record, tmp_path / "cache")
    assert list((tmp_path / "cache" / "kept").iterdir()) == []
