"""The record of an app's last good config (appSources): exact round trip, refused when changed."""

from __future__ import annotations

import base64
import json
import zlib
from pathlib import Path

import pytest

from minnova_idp.load.kept import malformed, materialise, record_of
from minnova_idp.model.app_config import AppConfig
from minnova_idp.model.loaded import LoadedApp
from minnova_idp.model.registry import RegistryEntry

FILES = {"app.yaml": b"name: shop\n", "secrets/prod.enc.yaml": b"A: ENC[AES256_GCM,data:abc]\nsops: {}\n",
         "seed/001.sql": b"insert into t values ('\xff');\n"}  # a byte that is not UTF-8 survives too


def app_in(directory: Path, commit: str | None = "a" * 40) -> LoadedApp:
    for relative, content in FILES.items():
        path = directory / ".minnova" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    (directory / ".minnova" / "link").symlink_to("/etc/passwd")  # never recorded (the fetcher skips links too)
    config = AppConfig.model_validate({"name": "shop", "image": {"repository": "r/shop", "tag": "1"}, "port": 1,
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
