"""The record of an app's last good config (the `appSources` stack output), and the app loaded back from it.

An app whose config, secrets or fetch fails keeps running what it last deployed (ADR 0012). For the re-render to be
exact and need nothing the failure may have taken away (the app repository, the network), each run records the files
of each app's `.minnova/` that the loader reads, as it read them: app.yaml, the SOPS secrets files and their `<env>.d/`
overlays exactly as committed (ciphertext: their values stay encrypted for the stack's keys, as in the app
repository; never a decrypted value), the listed seed files, the mask and the restore-check SQL. Nothing else under
`.minnova/` is recorded: a stray file (a decrypted copy committed by mistake) never reaches the outputs.

Each file is base64 in a JSON payload, so any byte costs 4/3 of a byte and the payload has a known maximum
(MAX_PAYLOAD_BYTES: the cap a reader decompresses to). The payload is compressed (zlib), with the commit, the name
shown for the config file and a SHA-256 of the payload, so a record edited or cut short is refused instead of
re-rendered differently. A record is read back before it is written (`record_of`), and an app's record is at most
MAX_RECORD_BYTES: a record that cannot be written is the app's own problem (it keeps its previous one). The kept app
is loaded by the same code as a fetched one, from a directory the record is written back into (content-addressed
under the git cache), and its secrets are decrypted with the stack's current keys, as every run does.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import shutil
import tempfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Any, Mapping

from minnova_idp.model import names
from minnova_idp.model.errors import ConfigError, Problem
from minnova_idp.model.loaded import LoadedApp
from minnova_idp.render.drill import CHECK_FILE
from minnova_idp.render.origin import MASK_FILE

CONFIG_DIR = names.APP_CONFIG.parent.name  # ".minnova"
# The fetcher's bounds (load/git.py MAX_FILES, MAX_TOTAL_BYTES): a record never holds more than a fetch could.
MAX_FILES = 64
MAX_TOTAL_BYTES = 1024 * 1024
# A recorded name: a path under .minnova/ of the files the loader reads (app.yaml, secrets/<env>.enc.yaml,
# secrets/<env>.d/<NAME>.enc.yaml|.unset, seed/<file>.sql, restore-check.sql): JSON writes these characters as
# they are, one byte each, so the payload's size is known.
MAX_NAME_CHARS = 255
_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*(/[A-Za-z0-9_][A-Za-z0-9._-]*)*$")
# The largest payload a record can hold: `{"name":"base64",...}` of MAX_FILES names of MAX_NAME_CHARS and
# MAX_TOTAL_BYTES of content (base64: 4 characters per 3 bytes, each file padded to a multiple of 3).
MAX_PAYLOAD_BYTES = 2 + MAX_FILES * (MAX_NAME_CHARS + 6) + 4 * (MAX_TOTAL_BYTES + 2 * MAX_FILES) // 3
# An app's record in the outputs (its base64 `files`): 256 KiB, so 500 apps stay within what a state holds well;
# .minnova/ of config, SOPS files and SQL compresses far below it (the example oracle: about 5 KB).
MAX_RECORD_BYTES = 256 * 1024
_KEYS = {"commit", "configFile", "files", "sha256"}
_OVERLAY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\.(enc\.yaml|unset)$")  # load/secret_overlays.py's overlay names


def recorded_paths(app: LoadedApp) -> list[PurePosixPath]:
    """The files under `.minnova/` the loader reads for `app` (relative to `.minnova/`), those that exist."""
    from minnova_idp.load.secret_overlays import overlay_dir
    from minnova_idp.load.secrets import secrets_file

    root = app.directory / CONFIG_DIR
    inside = lambda relative: PurePosixPath(relative).relative_to(CONFIG_DIR)  # noqa: E731
    wanted = [PurePosixPath(names.APP_CONFIG.name), PurePosixPath(CHECK_FILE), PurePosixPath(MASK_FILE)]
    seed = app.config.database.seed
    wanted += [PurePosixPath(relative) for relative in (seed.files if seed is not None else [])]
    for environment in sorted(app.config.environments):
        wanted.append(inside(secrets_file(environment)))
        overlays = root / inside(overlay_dir(environment))
        if overlays.is_dir() and not overlays.is_symlink():
            wanted += [inside(overlay_dir(environment)) / entry.name for entry in sorted(os.scandir(overlays),
                       key=lambda entry: entry.name) if _OVERLAY_RE.fullmatch(entry.name)]
    # the loader reads regular files only, never through a link (load/yamlsafe.py read_regular_file)
    return sorted({relative for relative in wanted if _regular(root, relative)})


def _regular(root: Path, relative: PurePosixPath) -> bool:
    path = root / relative
    return (not any(part.is_symlink() for part in [path, *path.parents] if part.is_relative_to(root))
            and path.is_file())


def record_of(app: LoadedApp) -> dict[str, Any] | None:
    """The appSources record of a loaded app (None: no files read). Raises ConfigError, the app's own problem, when
    the record cannot be written: too many or too large files, a record over MAX_RECORD_BYTES, or one that does not
    read back exactly."""
    if app.directory is None:
        return None
    root = app.directory / CONFIG_DIR
    files = {relative.as_posix(): (root / relative).read_bytes() for relative in recorded_paths(app)}
    total = sum(map(len, files.values()))

    def refused(message: str, hint: str = f"keep only config, secrets and SQL in {CONFIG_DIR}/") -> ConfigError:
        return ConfigError([Problem(app.shown(""), message=f"{message}: the record of the last good config cannot "
                                    "be written, so the app keeps its previous one", hint=hint)])

    if len(files) > MAX_FILES or total > MAX_TOTAL_BYTES:
        raise refused(f"{CONFIG_DIR}/ holds {len(files)} files the platform reads, {total} bytes: more than a "
                      f"record may hold ({MAX_FILES} files, {MAX_TOTAL_BYTES} bytes)")
    if bad := [name for name in files if len(name) > MAX_NAME_CHARS or not _NAME_RE.fullmatch(name)]:
        raise refused(f"{CONFIG_DIR}/{bad[0][:80]!r} is not a name a record holds")
    payload = json.dumps({name: base64.b64encode(content).decode("ascii") for name, content in files.items()},
                         sort_keys=True, separators=(",", ":")).encode("ascii")
    record = {"commit": app.commit, "configFile": app.config_file,
              "files": base64.b64encode(zlib.compress(payload, 9)).decode("ascii"),
              "sha256": hashlib.sha256(payload).hexdigest()}
    if len(record["files"]) > MAX_RECORD_BYTES:
        raise refused(f"its record is {len(record['files'])} bytes compressed, more than {MAX_RECORD_BYTES}")
    try:  # read back as a later run will: a record that cannot be read would strand the app at its next failure
        back = _files(json.loads(json.dumps(record)))
    except ValueError as exc:
        raise refused(f"its record does not read back ({exc})", hint="report this to the platform team") from None
    if back != files:
        raise refused("its record does not read back exactly", hint="report this to the platform team")
    return record


def malformed(record: Any) -> str | None:
    """Why a recorded value cannot be used (`plan --previous-outputs` checks it), or None."""
    try:
        _files(record)
    except ValueError as exc:
        return str(exc)
    return None


def _files(record: Any) -> dict[str, bytes]:
    """The files of a record, or ValueError saying why it is not one this stack writes."""
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
    not_ours = "files is not a record this stack writes"
    if not isinstance(record["files"], str) or len(record["files"]) > MAX_RECORD_BYTES:
        raise ValueError(not_ours)
    try:
        packed = base64.b64decode(record["files"], validate=True)
        stream = zlib.decompressobj()
        payload = stream.decompress(packed, MAX_PAYLOAD_BYTES + 1)  # bounded: the largest payload a record holds
        complete = stream.eof and not stream.unconsumed_tail and not stream.unused_data
    except (TypeError, ValueError, zlib.error):
        raise ValueError(not_ours) from None
    if not complete or len(payload) > MAX_PAYLOAD_BYTES:
        raise ValueError("files is cut short or too long: not a record this stack writes")
    if hashlib.sha256(payload).hexdigest() != record["sha256"]:
        raise ValueError("files does not match its sha256: the record was changed or cut short")
    try:
        files = json.loads(payload)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, nested too deep
        raise ValueError(not_ours) from None
    if not isinstance(files, dict) or len(files) > MAX_FILES:
        raise ValueError(not_ours)
    result = {}
    for relative, text in files.items():
        if len(relative) > MAX_NAME_CHARS or not _NAME_RE.fullmatch(relative) or \
                any(part in (".", "..") for part in relative.split("/")):
            raise ValueError(f"files holds an unsafe name {relative[:80]!r}")
        if not isinstance(text, str):
            raise ValueError(not_ours)
        try:
            result[relative] = base64.b64decode(text, validate=True)
        except (ValueError, binascii.Error):  # a record of an earlier format held text here
            raise ValueError(not_ours) from None
    if sum(map(len, result.values())) > MAX_TOTAL_BYTES:
        raise ValueError(not_ours)
    if clash := next((name for name in result if any(other.startswith(name + "/") for other in result)), None):
        raise ValueError(f"files holds {clash[:80]!r} both as a file and as a directory")
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
    try:
        for relative, content in files.items():
            path = scratch / CONFIG_DIR / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        (scratch / ".complete").write_text("")
        try:
            os.rename(scratch, target)
        except OSError:  # another run wrote it first: equally good
            pass
    finally:
        shutil.rmtree(scratch, ignore_errors=True)  # gone after a rename; a failed write leaves no scratch behind
    return target
