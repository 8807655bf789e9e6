"""Fetch the ``.minnova/`` directory of many app repositories with real ``git``.

Each repository is fetched shallow (``--depth 1``) and blobless (``--filter=blob:none``);
only the blobs under ``<path>/.minnova`` are then downloaded and copied into an immutable
snapshot directory keyed by URL, commit and path::

    <cache_dir>/snapshots/<sha256(url)[:16]>/<commit>/<path-key>/.minnova/...
    <cache_dir>/repos/<sha256(url)[:16]>/      bare fetch repo, reused across runs
    <cache_dir>/locks/<sha256(url)[:16]>.lock  flock, one writer per URL across processes
    <cache_dir>/home/                          empty HOME for git (no user config, no .netrc)

Warm path: one ``git ls-remote`` (none at all for a 40-hex ref) and no fetch.

Sizes are bounded before anything is downloaded whole: the ``.minnova`` tree is fetched into a
throwaway repository with ``--filter=blob:limit=<MAX_FILE_BYTES + 1>``, so a blob over the limit
never leaves the server; it is reported as too large. (With git 2.39 there is no way to learn a
blob's size without downloading it: ``ls-tree -l`` in a blobless clone fetches the blob, and a
blob wanted by id the way git's lazy fetch asks for it is sent whatever the filter; the blobs of a
tree wanted by id are filtered. tests/load/test_git.py checks both.) The number of files and their
total size are bounded too, and sizes are checked again before a byte is read.

Credentials never reach argv or any file in a repository (git_auth.py builds the environment
every git call runs in: the token, the SSH command, the config that applies to every call, and
the redaction of what git prints). Symlinks and submodules inside ``.minnova`` are skipped, so a
snapshot never points outside itself.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from minnova_idp.load.git_auth import (  # re-exported: callers import GitAuth and the builders from here
    GitAuth,
    build_git_env,
    build_ssh_command,
    redact,
    redact_url,
    ssh_command_for,
    summarize_stderr,
)
from minnova_idp.load import fetch_limits
from minnova_idp.model import gitrules

__all__ = [
    "CacheDirError",
    "DEFAULT_TIMEOUT",
    "TIMEOUT_ENV",
    "FetchError",
    "FetchedSource",
    "GitAuth",
    "RepoSpec",
    "build_git_env",
    "build_ssh_command",
    "default_cache_dir",
    "fetch_sources",
    "ssh_command_for",
]

CONFIG_DIR_NAME = ".minnova"
_MARKER = ".snapshot-complete"
_SHA_RE = re.compile(r"[0-9a-fA-F]{40}")
_MAX_REASON = 300
# The limits of what is fetched, shared with `validate` (load/fetch_limits.py).
MAX_FILE_BYTES = fetch_limits.MAX_FILE_BYTES
MAX_FILES = fetch_limits.MAX_FILES
MAX_TOTAL_BYTES = fetch_limits.MAX_TOTAL_BYTES


@dataclass(frozen=True)
class RepoSpec:
    url: str  # https://..., ssh://..., git@host:owner/repo.git (scp-like), or file:///...
    ref: str | None  # branch, tag, or full 40-hex commit SHA; None = the remote's HEAD
    path: str = ""  # subdirectory that holds `.minnova/` (monorepo apps); "" = repo root


@dataclass(frozen=True)
class FetchedSource:
    spec: RepoSpec
    commit: str  # resolved 40-hex SHA
    directory: Path  # snapshot dir D: D/.minnova/app.yaml is the file at `commit`


class FetchError(Exception):
    """One repository could not be fetched; `reason` is one line, credentials redacted."""

    def __init__(self, spec: RepoSpec, reason: str) -> None:
        # args=(spec, reason) keeps the exception picklable.
        super().__init__(spec, reason)
        self.spec = spec
        self.reason = reason

    def __str__(self) -> str:
        return f"{redact_url(self.spec.url)}: {self.reason}"


class _GitFailed(Exception):
    """A git subprocess failed; converted to FetchError by the caller that knows why."""

    def __init__(self, command: str, detail: str, timed_out: bool = False) -> None:
        super().__init__(command, detail, timed_out)
        self.command = command
        self.detail = detail
        self.timed_out = timed_out

    def reason(self) -> str:
        if self.timed_out:
            return f"git {self.command} {self.detail}"
        return f"git {self.command} failed: {self.detail}"


def default_cache_dir() -> Path:
    explicit = os.environ.get("MINNOVA_IDP_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    # The XDG spec says relative values are invalid and must be ignored.
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "minnova-idp"
    return Path.home() / ".cache" / "minnova-idp"




# --------------------------------------------------------------------------- git runner


@dataclass(frozen=True)
class _Layout:
    root: Path

    @property
    def home(self) -> Path:
        return self.root / "home"

    def url_key(self, url: str) -> str:
        return hashlib.sha256(url.encode()).hexdigest()[:16]

    def repo(self, url: str) -> Path:
        return self.root / "repos" / self.url_key(url)

    def lock_file(self, url: str) -> Path:
        return self.root / "locks" / f"{self.url_key(url)}.lock"

    def snapshot(self, url: str, commit: str, path: str) -> Path:
        path_key = "root" if not path else "p-" + hashlib.sha256(path.encode()).hexdigest()[:16]
        return self.root / "snapshots" / self.url_key(url) / commit / path_key

    def prepare(self) -> None:
        for sub in ("home", "repos", "locks", "snapshots"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)


@dataclass(frozen=True)
class _Git:
    """Runs git for one spec's URL with the isolated environment and a timeout."""

    url: str
    auth: GitAuth
    layout: _Layout
    ssh_command: str
    timeout: float

    def run(
        self,
        args: Sequence[str],
        *,
        git_dir: Path | None = None,
        stdin: bytes | None = None,
        config: Sequence[tuple[str, str]] = (),
    ) -> bytes:
        argv = ["git"]
        if git_dir is not None:
            argv.append(f"--git-dir={git_dir}")
        argv.extend(args)
        env = build_git_env(
            self.auth,
            self.url,
            home=self.layout.home,
            ssh_command=self.ssh_command,
            # The remote lives in env, not .git/config: a URL with embedded
            # credentials is never written to disk.
            extra_config=[("remote.origin.url", self.url), *config],
        )
        return self._execute(argv, env, stdin, command=args[0])

    def _execute(
        self, argv: list[str], env: dict[str, str], stdin: bytes | None, command: str
    ) -> bytes:
        try:
            # Own session: on timeout we kill git *and* its helpers (ssh,
            # git-remote-https, upload-pack) which would otherwise keep our pipes open.
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                cwd=self.layout.home,
                start_new_session=True,
            )
        except FileNotFoundError as exc:
            raise _GitFailed(command, "git executable not found") from exc
        try:
            out, err = proc.communicate(stdin, timeout=self.timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise _GitFailed(command, f"timed out after {self.timeout:g}s", timed_out=True)
        if proc.returncode != 0:
            detail = summarize_stderr(err.decode(errors="replace"), proc.returncode)
            raise _GitFailed(command, redact(detail, self.auth)[:_MAX_REASON])
        return out


# --------------------------------------------------------------------------- ref resolution


def _ref_candidates(ref: str | None) -> list[str]:
    """ls-remote names to look for, best first (peeled tag before the tag object)."""
    if ref is None:
        return ["HEAD"]
    if ref.startswith("refs/"):
        return [f"{ref}^{{}}", ref]
    return [f"refs/heads/{ref}", f"refs/tags/{ref}^{{}}", f"refs/tags/{ref}"]


def _parse_ls_remote(output: str) -> dict[str, str]:
    refs: dict[str, str] = {}
    for line in output.splitlines():
        sha, _, name = line.partition("\t")
        if _SHA_RE.fullmatch(sha) and name:
            refs[name] = sha.lower()
    return refs


def _resolve(git: _Git, ref: str | None) -> tuple[str, str]:
    """Return (commit sha, ref name to fetch if the server refuses fetch-by-sha)."""
    candidates = _ref_candidates(ref)
    output = git.run(["ls-remote", "--", git.url, *candidates]).decode(errors="replace")
    refs = _parse_ls_remote(output)
    for name in candidates:
        if name in refs:
            return refs[name], name.removesuffix("^{}")
    if ref is None:
        raise LookupError("remote has no HEAD (empty repository?)")
    raise LookupError(f"ref {ref!r} not found")


# --------------------------------------------------------------------------- fetching


def _ensure_repo(git: _Git, repo: Path) -> None:
    if not (repo / "HEAD").is_file():
        # Re-running init on a half-initialised dir is safe.
        git.run(["init", "--bare", "--quiet", str(repo)])


def _has_commit(git: _Git, repo: Path, sha: str) -> bool:
    # rev-list --missing=print never triggers a lazy (promisor) fetch, unlike
    # cat-file -e or rev-parse, which would fetch the commit's whole history.
    try:
        git.run(["rev-list", "--missing=print", "--no-walk", sha], git_dir=repo)
    except _GitFailed as exc:
        if exc.timed_out:
            raise
        return False
    return True


def _fetch_commit(
    git: _Git, repo: Path, sha: str, ref_name: str | None, *, filter_spec: str
) -> None:
    """Depth-1 fetch of `sha`; fall back to its ref name for servers refusing wants by id.

    Protocol v0 servers without uploadpack.allow*SHA1InWant only serve advertised tips,
    and a peeled tag's commit is not one of them.
    """
    options = ["fetch", "--quiet", "--depth", "1", "--no-tags", "--recurse-submodules=no",
               f"--filter={filter_spec}"]
    try:
        git.run([*options, "--", "origin", sha], git_dir=repo, config=_FETCH_CONFIG)
        return
    except _GitFailed as exc:
        if exc.timed_out or ref_name is None:
            raise
        first_error = exc
    try:
        git.run([*options, "--", "origin", ref_name], git_dir=repo, config=_FETCH_CONFIG)
    except _GitFailed:
        raise first_error from None
    fetched = git.run(["rev-parse", "--verify", "FETCH_HEAD^{commit}"], git_dir=repo)
    fetched_sha = fetched.decode().strip()
    if fetched_sha != sha:
        raise LookupError(
            f"ref {ref_name!r} moved during fetch ({sha[:12]} -> {fetched_sha[:12]})"
        )


@dataclass(frozen=True)
class _Entry:
    mode: str
    oid: str
    relpath: str  # below the .minnova dir


# index-pack streams blobs over this size instead of inflating them in memory (default 512m).
_FETCH_CONFIG: tuple[tuple[str, str], ...] = (("core.bigFileThreshold", "1m"),)


def _config_dir(path: str) -> str:
    return f"{path}/{CONFIG_DIR_NAME}" if path else CONFIG_DIR_NAME


def _list_config_files(git: _Git, repo: Path, sha: str, path: str) -> tuple[str | None, list[_Entry]]:
    """The `<path>/.minnova` tree's id and its regular files at `sha` (trees only, no blob downloads)."""
    config_dir = _config_dir(path)
    out = git.run(["ls-tree", "-r", "-t", "-z", "--full-tree", sha, "--", config_dir], git_dir=repo)
    tree: str | None = None
    entries: list[_Entry] = []
    for record in out.decode("utf-8", errors="surrogateescape").split("\0"):
        if not record:
            continue
        meta, _, name = record.partition("\t")
        mode, kind, oid = meta.split(" ")
        if kind == "tree" and name == config_dir:
            tree = oid
        # Skip symlinks (could point outside the snapshot) and submodules; a file
        # literally named .minnova does not start with "<dir>/".
        if kind != "blob" or mode not in ("100644", "100755"):
            continue
        if not name.startswith(config_dir + "/"):
            continue
        relpath = name[len(config_dir) + 1 :]
        if any(p in ("", ".", "..", ".git") for p in relpath.split("/")):
            raise LookupError(f"unsafe file name in tree: {name!r}")
        entries.append(_Entry(mode, oid, relpath))
    refused = fetch_limits.count_refused(config_dir, len(entries))
    if refused:
        raise LookupError(refused)
    return tree, entries


def _shown_name(name: str) -> str:
    printable = name.isprintable() and len(name) <= 80
    return name if printable else repr(name[:80])


def _fetch_config_blobs(
    git: _Git, sha: str, ref_name: str | None, path: str, tree: str | None, entries: list[_Entry]
) -> dict[str, bytes]:
    """The listed blobs, none of them over MAX_FILE_BYTES, all of them together at most MAX_TOTAL_BYTES.

    They are fetched into a throwaway repository that holds none of the wanted objects yet: the
    `.minnova` tree is wanted by id with `--filter=blob:limit`, so the server sends its subtrees and
    only the blobs under the limit. (Blobs wanted by id, without "have" lines, are sent whatever the
    filter, and with them the fetch fails; a tree the fetch repo already has is not fetched at all.)
    A server that cannot serve wants by id gets the commit by name with the same filter; one that
    ignores filters sends everything, and the sizes below still stop us before we read a byte.
    """
    if not entries:
        return {}
    config_dir = _config_dir(path)
    blob_filter = f"blob:limit={MAX_FILE_BYTES + 1}"  # omits blobs of MAX_FILE_BYTES + 1 bytes and more
    scratch = Path(tempfile.mkdtemp(dir=git.layout.root / "repos", prefix=".blobs-"))
    try:
        git.run(["init", "--bare", "--quiet", str(scratch)])
        fetched = False
        if tree is not None:
            try:
                git.run(
                    ["fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--recurse-submodules=no",
                     f"--filter={blob_filter}", "--stdin", "origin"],
                    git_dir=scratch,
                    stdin=f"{tree}\n".encode(),
                    config=[("fetch.negotiationAlgorithm", "noop"), *_FETCH_CONFIG],
                )
                fetched = True
            except _GitFailed as exc:
                if exc.timed_out:
                    raise
        if not fetched:
            # A v0 server may refuse wants for a tree id: take the commit, with the same filter.
            _fetch_commit(git, scratch, sha, ref_name, filter_spec=blob_filter)
        sizes = _object_sizes(git, scratch)
        # A blob the filter left out is over the limit; the same blob at two paths is fetched (and counted) once.
        by_oid = {e.oid: e.relpath for e in sorted(entries, key=lambda e: e.relpath)}
        over = {e.relpath: MAX_FILE_BYTES + 1 for e in entries if e.oid not in sizes}
        refused = fetch_limits.sizes_refused(config_dir, {**{name: sizes[oid] for oid, name in by_oid.items()
                                                             if oid in sizes}, **over}, shown=_shown_name)
        if refused:
            raise LookupError(refused)
        return _read_blobs(git, scratch, sorted({e.oid for e in entries}))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _object_sizes(git: _Git, repo: Path) -> dict[str, int]:
    """Size of every blob on disk in `repo`. --batch-all-objects never lazy-fetches a missing one."""
    out = git.run(
        ["cat-file", "--batch-all-objects", "--batch-check=%(objectname) %(objecttype) %(objectsize)"], git_dir=repo
    )
    sizes: dict[str, int] = {}
    for line in out.decode(errors="replace").splitlines():
        oid, kind, size = line.split(" ")
        if kind == "blob":
            sizes[oid] = int(size)
    return sizes


def _read_blobs(git: _Git, repo: Path, oids: list[str]) -> dict[str, bytes]:
    request = "".join(f"{oid}\n" for oid in oids).encode()
    out = git.run(["cat-file", "--batch"], git_dir=repo, stdin=request)
    blobs: dict[str, bytes] = {}
    pos = 0
    while pos < len(out):
        header_end = out.index(b"\n", pos)
        header = out[pos:header_end].decode()
        if header.endswith(" missing"):
            raise LookupError(f"object {header.split()[0]} missing after fetch")
        oid, kind, size = header.split(" ")
        start = header_end + 1
        if kind != "blob":
            raise LookupError(f"object {oid} is a {kind}, expected a blob")
        blobs[oid] = out[start : start + int(size)]
        pos = start + int(size) + 1  # content is followed by a newline
    return blobs


# --------------------------------------------------------------------------- snapshots


def _is_complete(snapshot: Path) -> bool:
    return (snapshot / _MARKER).is_file()


def _write_snapshot(
    snapshot: Path, commit: str, path: str, entries: list[_Entry], blobs: dict[str, bytes]
) -> None:
    """Build the snapshot in a sibling temp dir, then rename it into place atomically."""
    snapshot.parent.mkdir(parents=True, exist_ok=True)
    if snapshot.exists() and not _is_complete(snapshot):
        shutil.rmtree(snapshot)  # left by a crashed writer of an older version
    tmp = Path(tempfile.mkdtemp(dir=snapshot.parent, prefix=".tmp-"))
    try:
        for entry in entries:
            target = tmp / CONFIG_DIR_NAME / entry.relpath
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(blobs[entry.oid])
            target.chmod(0o755 if entry.mode == "100755" else 0o644)
        # Written last: its presence means every file above is complete.
        (tmp / _MARKER).write_text(json.dumps({"commit": commit, "path": path}) + "\n")
        tmp.chmod(0o755)
        try:
            os.rename(tmp, snapshot)
        except OSError:
            if not _is_complete(snapshot):
                raise
            # Lost the race to another writer: its snapshot is equally good.
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


_thread_locks: dict[str, threading.Lock] = {}
_thread_locks_guard = threading.Lock()


@contextlib.contextmanager
def _url_lock(lock_file: Path) -> Iterator[None]:
    # flock alone would do, but the thread lock avoids burning fds on waiters and
    # makes in-process ordering explicit.
    with _thread_locks_guard:
        thread_lock = _thread_locks.setdefault(str(lock_file), threading.Lock())
    with thread_lock:
        fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the flock


# --------------------------------------------------------------------------- per spec


def _fetch_one(git: _Git, spec: RepoSpec) -> FetchedSource:
    layout = git.layout
    path = gitrules.normalize_subpath(spec.path, allow_root=True)
    if spec.ref is not None:
        gitrules.check_ref(spec.ref)
    if spec.ref is not None and _SHA_RE.fullmatch(spec.ref):
        commit, ref_name = spec.ref.lower(), None
    else:
        commit, ref_name = _resolve(git, spec.ref)
    snapshot = layout.snapshot(spec.url, commit, path)
    if _is_complete(snapshot):
        return FetchedSource(spec, commit, snapshot)
    with _url_lock(layout.lock_file(spec.url)):
        if not _is_complete(snapshot):  # another worker may have just written it
            repo = layout.repo(spec.url)
            _ensure_repo(git, repo)
            if not _has_commit(git, repo, commit):
                _fetch_commit(git, repo, commit, ref_name, filter_spec="blob:none")
            tree, entries = _list_config_files(git, repo, commit, path)
            blobs = _fetch_config_blobs(git, commit, ref_name, path, tree, entries)
            _write_snapshot(snapshot, commit, path, entries, blobs)
    return FetchedSource(spec, commit, snapshot)


def _fetch_one_safely(
    spec: RepoSpec,
    layout: _Layout,
    auth: GitAuth,
    ssh_command: str,
    timeout: float,
) -> FetchedSource | FetchError:
    try:
        gitrules.check_fetchable_url(spec.url)
        git = _Git(spec.url, auth, layout, ssh_command, timeout)
        try:
            return _fetch_one(git, spec)
        except _GitFailed as exc:
            # A cache repository left corrupt (a killed run, a full disk) would fail every run until deleted by
            # hand: start it afresh once. Not after a timeout (the remote hangs) nor when the remote refused
            # (ls-remote runs before the cache is touched).
            if exc.timed_out or exc.command.startswith("ls-remote") or not layout.repo(spec.url).exists():
                raise
            with _url_lock(layout.lock_file(spec.url)):
                shutil.rmtree(layout.repo(spec.url), ignore_errors=True)
            return _fetch_one(git, spec)
    except _GitFailed as exc:
        return FetchError(spec, exc.reason())
    except (ValueError, LookupError) as exc:
        return FetchError(spec, redact(str(exc), auth)[:_MAX_REASON])
    except Exception as exc:  # noqa: BLE001 - one bad repo must not sink the others
        return FetchError(spec, redact(f"{type(exc).__name__}: {exc}", auth)[:_MAX_REASON])


DEFAULT_TIMEOUT = 120.0
TIMEOUT_ENV = "MINNOVA_IDP_GIT_TIMEOUT"


class CacheDirError(Exception):
    """The cache directory cannot be used (not a directory, not writable): the caller names its setting."""


def fetch_sources(
    specs: Sequence[RepoSpec],
    cache_dir: Path,
    auth: GitAuth = GitAuth(),
    max_workers: int = 8,
    timeout: float = DEFAULT_TIMEOUT,
    progress: Callable[[FetchedSource | FetchError], None] | None = None,
) -> list[FetchedSource | FetchError]:
    """Fetch every spec's `.minnova/` concurrently; results in the order of `specs`.

    Never raises for a single repository: its slot holds a FetchError instead (a hung one says it timed out).
    `timeout` bounds each git call (seconds); `progress` hears of each repository as it finishes.
    """
    if not specs:
        return []
    layout = _Layout(Path(cache_dir).expanduser().absolute())
    try:
        layout.prepare()
    except OSError as exc:
        raise CacheDirError(f"{layout.root}: {exc.strerror or exc}") from None
    with ssh_command_for(auth) as ssh_command:
        workers = max(1, max_workers)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gitsource") as pool:
            futures = [
                pool.submit(_fetch_one_safely, spec, layout, auth, ssh_command, timeout)
                for spec in specs
            ]
            if progress is not None:
                for future in as_completed(futures):
                    progress(future.result())
            results = [future.result() for future in futures]
    return results
