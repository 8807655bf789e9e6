"""The record of an app's last good config (the `appSources` stack output), and the app loaded back from it.

An app whose config, secrets or fetch fails keeps running what it last deployed (ADR 0004). For the re-render to be
exact and need nothing the failure may have taken away (the app repository, the network), each run records every
file of each app's `.minnova/` as it read them: app.yaml, the SOPS secrets files exactly as committed (ciphertext:
their values stay encrypted for the stack's keys, as in the app repository; never a decrypted value), seed, mask and
restore-check SQL. Compressed (zlib), with the commit and the name shown for the config file, and a SHA-256 of the
payload so a record edited or cut short is refused instead of re-rendered differently. The kept app is then loaded
by the same code as a fetched one, from a directory the record is written back into (content-addressed under the
git cache), and its secrets are decrypted with the stack's current keys, as every run does.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
import zlib
from pathlib import Path
from typing import Any, Mapping

from minnova_idp.model import names
from minnova_idp.model.errors import ConfigError, Problem
from minnova_idp.model.loaded import LoadedApp

CONFIG_DIR = names.APP_CONFIG.parent.name  # ".minnova"
# The fetcher's bounds (load/git.py MAX_FILES, MAX_TOTAL_BYTES): a record never holds more than a fetch could.
MAX_FILES = 64
MAX_TOTAL_BYTES = 1024 * 1024
_KEYS = {"commit", "configFile", "files", "sha256"}


def record_of(app: LoadedApp) -> dict[str, Any] | None:
    """The appSources record of a loaded app: every regular file under its `.minnova/` (None: no files read)."""
    if app.directory is None:
        return None
    root = app.directory / CONFIG_DIR
    files: dict[str, str] = {}
    total = 0
    for path in sorted(root.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue  # the fetcher skips links too (load/git.py): a record never points outside itself
        content = path.read_bytes()
        total += len(content)
        # surrogateescape keeps any byte; json escapes the surrogates and gives them back
        files[path.relative_to(root).as_posix()] = content.decode("utf-8", errors="surrogateescape")
    if len(files) > MAX_FILES or total > MAX_TOTAL_BYTES:
        raise ConfigError([Problem(app.shown(""), message=f"{CONFIG_DIR}/ holds {len(files)} files, {total} bytes: "
                                   f"more than a record of the last good config may hold ({MAX_FILES} files, "
                                   f"{MAX_TOTAL_BYTES} bytes)",
                                   hint=f"keep only config, secrets and SQL in {CONFIG_DIR}/")])
    payload = json.dumps(files, sort_keys=True, separators=(",", ":")).encode()
    return {"commit": app.commit, "configFile": app.config_file,
            "files": base64.b64encode(zlib.compress(payload, 9)).decode("ascii"),
            "sha256": hashlib.sha256(payload).hexdigest()}


def malformed(record: Any) -> str | None:
    """Why a recorded value cannot be used (`plan --previous-outputs` checks it), or None."""
    try:
        _files(record)
    except ValueError as exc:
        return str(exc)
    return None


def _files(record: Any) -> dict[str, bytes]:
    # Pulumi drops a None value from an object it reads back (a local source's commit): absent is None
    # (pulumi@3.272.0 sdk/python/lib/pulumi/runtime/rpc.py:891-894, deserialize_properties).
    if not isinstance(record, dict) or not set(record) - {"commit"} == _KEYS - {"commit"}:
        raise ValueError(f"must be an object of {', '.join(sorted(_KEYS))}")
    commit, shown = record.get("commit"), record["configFile"]
    if commit is not None and not (isinstance(commit, str) and len(commit) == 40
                                   and all(c in "0123456789abcdef" for c in commit)):
        raise ValueError("commit must be a 40-hex commit or null")
    if not isinstance(shown, str) or not shown.endswith(str(names.APP_CONFIG)) or len(shown) > 1000:
        raise ValueError(f"configFile must name the app's {names.APP_CONFIG}")
    try:
        packed = base64.b64decode(record["files"], validate=True)
        stream = zlib.decompressobj()
        payload = stream.decompress(packed, MAX_TOTAL_BYTES * 4)  # bounded: a record of at most MAX_TOTAL_BYTES
        complete = stream.eof and not stream.unconsumed_tail and not stream.unused_data
    except (TypeError, ValueError, zlib.error):
        raise ValueError("files is not a record this stack writes") from None
    if not complete:
        raise ValueError("files is cut short or too long: not a record this stack writes")
    if hashlib.sha256(payload).hexdigest() != record["sha256"]:
        raise ValueError("files does not match its sha256: the record was changed or cut short")
    files = json.loads(payload)
    if not isinstance(files, dict) or len(files) > MAX_FILES:
        raise ValueError("files is not a record this stack writes")
    result = {}
    for relative, text in files.items():
        parts = relative.split("/")
        if not isinstance(text, str) or any(part in ("", ".", "..") for part in parts):
            raise ValueError(f"files holds an unsafe name {relative[:80]!r}")
        result[relative] = text.encode("utf-8", errors="surrogateescape")
    return result


def materialise(record: Mapping[str, Any], cache_dir: Path) -> Path:
    """Writes the record's files back into `<cache_dir>/kept/<sha256>/.minnova/` (once; content-addressed, so a
    directory that is there holds exactly them) and returns the directory that holds `.minnova/`."""
    files = _files(record)
    target = cache_dir / "kept" / record["sha256"]
    if (target / ".complete").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=target.parent, prefix=".tmp-"))
    for relative, content in files.items():
        path = scratch / CONFIG_DIR / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    (scratch / ".complete").write_text("")
    try:
        os.rename(scratch, target)
    except OSError:  # another run wrote it first: equally good
        import shutil

        shutil.rmtree(scratch, ignore_errors=True)
    return target
