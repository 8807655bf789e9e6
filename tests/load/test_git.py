"""Tests for minnova_idp.load.git against real git repositories (file://, git://, http://).

Nothing here mocks git: repositories are built with the git CLI, served over file://, a
real `git daemon` and a tiny HTTP server that only records what git sends it.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import os
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from minnova_idp.load import git as gitsource
from minnova_idp.load import git_auth
from minnova_idp.load.git import FetchedSource, FetchError, RepoSpec, default_cache_dir, fetch_sources
from minnova_idp.load.git_auth import GitAuth, build_git_env, build_ssh_command, ssh_command_for
from tests.conftest import stop_process

GIT = shutil.which("git")
pytestmark = [pytest.mark.skipif(GIT is None, reason="git is not installed"), pytest.mark.integration]


def _git_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull, HOME=str(home), LC_ALL="C")
    return env


def git(cwd: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", *args],
        cwd=cwd,
        env=_git_env(cwd),
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout.strip()


@dataclass
class Repo:
    path: Path

    @property
    def url(self) -> str:
        return self.path.as_uri()

    def commit(self, files: dict[str, str], message: str = "change") -> str:
        for name, content in files.items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
        git(self.path, "add", "-A")
        git(self.path, "commit", "-q", "-m", message)
        return self.head()

    def head(self) -> str:
        return git(self.path, "rev-parse", "HEAD")

    def blob(self, rev_path: str) -> str:
        return git(self.path, "rev-parse", rev_path)


def make_repo(root: Path, name: str, files: dict[str, str]) -> Repo:
    path = root / name
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    # Serve partial clones, like GitHub/GitLab do; git's default is off.
    git(path, "config", "uploadpack.allowFilter", "true")
    repo = Repo(path)
    repo.commit(files, "initial")
    return repo


def app_yaml(result: FetchedSource | FetchError) -> str:
    assert isinstance(result, FetchedSource), result
    return (result.directory / ".minnova" / "app.yaml").read_text()


def fetch_repo_dir(cache: Path, url: str) -> Path:
    return cache / "repos" / hashlib.sha256(url.encode()).hexdigest()[:16]


def local_objects(git_dir: Path) -> set[str]:
    # --batch-all-objects only enumerates what is on disk: it never lazy-fetches.
    out = subprocess.run(
        [
            "git",
            f"--git-dir={git_dir}",
            "cat-file",
            "--batch-all-objects",
            "--batch-check=%(objectname)",
        ],
        env=_git_env(git_dir),
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return set(out.split())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def repos(tmp_path: Path) -> Path:
    root = tmp_path / "repos"
    root.mkdir()
    return root


# --------------------------------------------------------------------------- basic fetching


def test_default_branch_snapshot_holds_only_minnova(repos: Path, cache: Path) -> None:
    repo = make_repo(
        repos,
        "app",
        {
            ".minnova/app.yaml": "name: app\n",
            ".minnova/env/prod.yaml": "replicas: 3\n",
            "README.md": "big file outside .minnova\n",
            "src/main.py": "print('hi')\n",
        },
    )
    readme_blob = repo.blob("HEAD:README.md")

    [result] = fetch_sources([RepoSpec(repo.url, None)], cache)

    assert isinstance(result, FetchedSource), result
    assert result.commit == repo.head()
    assert app_yaml(result) == "name: app\n"
    assert (result.directory / ".minnova" / "env" / "prod.yaml").read_text() == "replicas: 3\n"
    files = {
        p.relative_to(result.directory).as_posix()
        for p in result.directory.rglob("*")
        if p.is_file() and not p.name.startswith(".snapshot")
    }
    assert files == {".minnova/app.yaml", ".minnova/env/prod.yaml"}
    # Blobless fetch: the README was never downloaded into the fetch repo.
    objects = local_objects(fetch_repo_dir(cache, repo.url))
    assert result.commit in objects
    assert readme_blob not in objects
    # The token-free remote URL lives in env, so the repo config holds no URL at all.
    assert repo.url not in (fetch_repo_dir(cache, repo.url) / "config").read_text()


def test_branch_annotated_tag_and_old_sha(repos: Path, cache: Path) -> None:
    repo = make_repo(repos, "app", {".minnova/app.yaml": "v: 1\n"})
    first = repo.head()
    git(repo.path, "tag", "-a", "v1.0", "-m", "release 1.0")
    repo.commit({".minnova/app.yaml": "v: 2\n"})
    git(repo.path, "checkout", "-q", "-b", "feature")
    feature = repo.commit({".minnova/app.yaml": "v: feature\n"})
    git(repo.path, "checkout", "-q", "main")
    main = repo.head()

    results = fetch_sources(
        [
            RepoSpec(repo.url, "feature"),
            RepoSpec(repo.url, "v1.0"),
            RepoSpec(repo.url, first),
            RepoSpec(repo.url, "main"),
            RepoSpec(repo.url, "refs/tags/v1.0"),
        ],
        cache,
    )

    contents = [app_yaml(r) for r in results]
    assert contents == ["v: feature\n", "v: 1\n", "v: 1\n", "v: 2\n", "v: 1\n"]
    # The annotated tag resolves to the commit it points at, not the tag object.
    commits = [r.commit for r in results if isinstance(r, FetchedSource)]
    assert commits == [feature, first, first, main, first]


def test_monorepo_path(repos: Path, cache: Path) -> None:
    repo = make_repo(
        repos,
        "mono",
        {
            ".minnova/app.yaml": "name: root\n",
            "services/api/.minnova/app.yaml": "name: api\n",
            "services/web/.minnova/app.yaml": "name: web\n",
        },
    )

    api, web, root = fetch_sources(
        [
            RepoSpec(repo.url, "main", "services/api"),
            RepoSpec(repo.url, "main", "services/web/"),
            RepoSpec(repo.url, "main"),
        ],
        cache,
    )

    assert app_yaml(api) == "name: api\n"
    assert app_yaml(web) == "name: web\n"
    assert app_yaml(root) == "name: root\n"
    assert isinstance(api, FetchedSource) and not (api.directory / "services").exists()


def test_repo_without_minnova_yields_snapshot_without_it(repos: Path, cache: Path) -> None:
    repo = make_repo(repos, "plain", {"README.md": "no config here\n"})

    [result] = fetch_sources([RepoSpec(repo.url, None)], cache)

    assert isinstance(result, FetchedSource), result
    assert result.directory.is_dir()
    assert not (result.directory / ".minnova").exists()


def test_symlinks_in_minnova_are_not_materialised(repos: Path, cache: Path) -> None:
    repo = make_repo(repos, "app", {".minnova/app.yaml": "name: app\n"})
    (repo.path / ".minnova" / "secret.yaml").symlink_to("/etc/passwd")
    repo.commit({})

    [result] = fetch_sources([RepoSpec(repo.url, None)], cache)

    assert app_yaml(result) == "name: app\n"
    assert isinstance(result, FetchedSource)
    assert not (result.directory / ".minnova" / "secret.yaml").exists()
    assert not (result.directory / ".minnova" / "secret.yaml").is_symlink()


# --------------------------------------------------------------------------- sizes


@pytest.fixture
def scratch_objects(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """Every blob that reached the throwaway repository the .minnova blobs are fetched into."""
    seen: set[str] = set()
    real = gitsource._object_sizes

    def spy(git_runner, repo):
        sizes = real(git_runner, repo)
        seen.update(sizes)
        return sizes

    monkeypatch.setattr(gitsource, "_object_sizes", spy)
    return seen


def test_oversized_files_under_minnova_are_refused_and_never_downloaded(
    repos: Path, cache: Path, scratch_objects: set[str]
) -> None:
    """Before: a 400 MB blob under .minnova was fetched whole and read into memory (1.2 GB RSS)."""
    repo = make_repo(repos, "app", {
        ".minnova/app.yaml": "name: app\n",
        ".minnova/dump.sql": "x" * (gitsource.MAX_FILE_BYTES + 1),
    })
    big = repo.blob("HEAD:.minnova/dump.sql")

    [result] = fetch_sources([RepoSpec(repo.url, None)], cache)

    assert isinstance(result, FetchError), result
    assert result.reason == (".minnova/dump.sql: larger than the limit of 262144 bytes per file, so not fetched "
                             "(.minnova/ is for config, secrets and SQL only)")
    assert repo.blob("HEAD:.minnova/app.yaml") in scratch_objects  # the small one came, the big one never did
    assert big not in scratch_objects
    assert big not in local_objects(fetch_repo_dir(cache, repo.url))
    assert not list((cache / "repos").glob(".blobs-*"))  # the throwaway repository is gone
    assert not list((cache / "snapshots").rglob(".minnova"))  # nothing partial


def test_a_file_at_the_limit_is_fetched(repos: Path, cache: Path) -> None:
    content = "y" * gitsource.MAX_FILE_BYTES
    repo = make_repo(repos, "app", {".minnova/app.yaml": "name: app\n", ".minnova/check.sql": content})

    [result] = fetch_sources([RepoSpec(repo.url, None)], cache)

    assert isinstance(result, FetchedSource), result
    assert (result.directory / ".minnova" / "check.sql").read_text() == content


def test_monorepo_oversized_file_names_its_path(repos: Path, cache: Path, scratch_objects: set[str]) -> None:
    repo = make_repo(repos, "mono", {
        "svc/api/.minnova/app.yaml": "name: api\n",
        "svc/api/.minnova/secrets/big.enc.yaml": "z" * (gitsource.MAX_FILE_BYTES + 10),
        "svc/web/.minnova/app.yaml": "name: web\n",
    })
    api, web = fetch_sources([RepoSpec(repo.url, "main", "svc/api"), RepoSpec(repo.url, "main", "svc/web")], cache)
    assert isinstance(api, FetchError) and api.reason.startswith("svc/api/.minnova/secrets/big.enc.yaml: larger")
    assert app_yaml(web) == "name: web\n"  # one repo's problem stays in its slot
    assert repo.blob("HEAD:svc/api/.minnova/secrets/big.enc.yaml") not in scratch_objects


def test_total_size_and_number_of_files_are_bounded(repos: Path, cache: Path) -> None:
    per_file = gitsource.MAX_FILE_BYTES - 1000
    count = gitsource.MAX_TOTAL_BYTES // per_file + 1
    heavy = make_repo(repos, "heavy", {f".minnova/part{i}.sql": f"{i}" * per_file for i in range(count)})
    many = make_repo(repos, "many", {f".minnova/f{i}.yaml": "a: 1\n" for i in range(gitsource.MAX_FILES + 1)})
    enough = make_repo(repos, "enough", {f".minnova/f{i}.yaml": f"a: {i}\n" for i in range(gitsource.MAX_FILES)})

    heavy_result, many_result, enough_result = fetch_sources(
        [RepoSpec(heavy.url, None), RepoSpec(many.url, None), RepoSpec(enough.url, None)], cache)

    assert isinstance(heavy_result, FetchError)
    assert heavy_result.reason.startswith(f"the files under .minnova/ add up to {count * per_file} bytes; the limit "
                                          f"is {gitsource.MAX_TOTAL_BYTES}")
    assert isinstance(many_result, FetchError)
    assert many_result.reason.startswith(f".minnova/ holds {gitsource.MAX_FILES + 1} files; the limit is "
                                         f"{gitsource.MAX_FILES}")
    assert isinstance(enough_result, FetchedSource), enough_result


def test_protocol_v0_fallback_bounds_sizes_too(
    repos: Path, cache: Path, monkeypatch: pytest.MonkeyPatch, scratch_objects: set[str]
) -> None:
    """A v0 server refuses a tree wanted by id: the commit is fetched by name, with the same blob filter."""
    monkeypatch.setattr(git_auth, "_BASE_CONFIG", (*git_auth._BASE_CONFIG, ("protocol.version", "0")))
    repo = make_repo(repos, "app", {".minnova/app.yaml": "name: app\n", "README.md": "r\n"})
    [ok] = fetch_sources([RepoSpec(repo.url, "main")], cache)
    assert app_yaml(ok) == "name: app\n"
    repo.commit({".minnova/big.yaml": "b" * (gitsource.MAX_FILE_BYTES + 1)})

    [result] = fetch_sources([RepoSpec(repo.url, "main")], cache)

    assert isinstance(result, FetchError) and result.reason.startswith(".minnova/big.yaml: larger than the limit")
    assert repo.blob("HEAD:.minnova/big.yaml") not in scratch_objects


def test_why_sizes_are_not_asked_with_ls_tree(repos: Path, tmp_path: Path) -> None:
    """What this design rests on, for the git on this machine (2.39): in a blobless clone `ls-tree -l` downloads
    the blobs to print their sizes, and a blob wanted by id (without "have" lines, as git's lazy fetch asks) is
    sent whatever `--filter=blob:limit` says; a tree wanted by id into a repository without it is filtered. If git
    changes this, the design can be simpler."""
    repo = make_repo(repos, "app", {".minnova/big.bin": "q" * 300_000})
    git(repo.path, "config", "uploadpack.allowAnySHA1InWant", "true")
    big = repo.blob("HEAD:.minnova/big.bin")
    tree = repo.blob("HEAD:.minnova")

    def clone(name: str) -> Path:
        target = tmp_path / name
        git(tmp_path, "-c", "protocol.version=2", "clone", "-q", "--bare", "--filter=blob:none", "--depth", "1",
            repo.url, str(target))
        assert big not in local_objects(target)
        return target

    listed = clone("listed")
    git(listed, "--git-dir", str(listed), "ls-tree", "-l", "-r", "HEAD")
    assert big in local_objects(listed)

    def fetch(target: Path, oid: str) -> None:
        # As git's own lazy fetch and gitsource ask: no "have" lines (noop negotiation).
        subprocess.run(["git", f"--git-dir={target}", "-c", "protocol.version=2", "-c",
                        "fetch.negotiationAlgorithm=noop", "fetch", "-q",
                        "--filter=blob:limit=1000", "--stdin", "origin"], input=f"{oid}\n", text=True,
                       env=_git_env(target), check=True, capture_output=True)

    by_blob = clone("by-blob")
    fetch(by_blob, big)
    assert big in local_objects(by_blob)

    by_tree = tmp_path / "by-tree"
    git(tmp_path, "init", "-q", "--bare", str(by_tree))
    git(by_tree, "--git-dir", str(by_tree), "remote", "add", "origin", repo.url)
    fetch(by_tree, tree)
    assert tree in local_objects(by_tree) and big not in local_objects(by_tree)


# --------------------------------------------------------------------------- cache


def test_warm_path_does_not_fetch_and_picks_up_new_commits(repos: Path, cache: Path) -> None:
    repo = make_repo(repos, "app", {".minnova/app.yaml": "v: 1\n"})
    spec = RepoSpec(repo.url, "main")
    [cold] = fetch_sources([spec], cache)
    assert isinstance(cold, FetchedSource), cold

    # Without the fetch repo a fetch would have to re-create it; the warm path must not.
    fetch_dir = fetch_repo_dir(cache, repo.url)
    shutil.rmtree(fetch_dir)
    [warm] = fetch_sources([spec], cache)
    assert warm == cold
    assert not fetch_dir.exists()

    new = repo.commit({".minnova/app.yaml": "v: 2\n"})
    [updated] = fetch_sources([spec], cache)
    assert isinstance(updated, FetchedSource), updated
    assert updated.commit == new
    assert app_yaml(updated) == "v: 2\n"
    assert app_yaml(cold) == "v: 1\n"  # the old snapshot is immutable


def test_sha_ref_warm_path_needs_no_network(repos: Path, cache: Path, tmp_path: Path) -> None:
    repo = make_repo(repos, "app", {".minnova/app.yaml": "v: 1\n"})
    spec = RepoSpec(repo.url, repo.head())
    [cold] = fetch_sources([spec], cache)
    assert isinstance(cold, FetchedSource), cold

    repo.path.rename(tmp_path / "gone")  # the remote is now unreachable
    [warm] = fetch_sources([spec], cache)
    [by_branch] = fetch_sources([RepoSpec(repo.url, "main")], cache)

    assert warm == cold
    assert isinstance(by_branch, FetchError)  # proves the remote really is gone


def test_incomplete_snapshot_is_rebuilt(repos: Path, cache: Path) -> None:
    repo = make_repo(repos, "app", {".minnova/app.yaml": "v: 1\n"})
    [first] = fetch_sources([RepoSpec(repo.url, None)], cache)
    assert isinstance(first, FetchedSource)
    # Simulate a writer that died before writing the completion marker.
    for marker in first.directory.glob(".snapshot*"):
        marker.unlink()
    (first.directory / ".minnova" / "app.yaml").write_text("garbage")

    [second] = fetch_sources([RepoSpec(repo.url, None)], cache)

    assert app_yaml(second) == "v: 1\n"


# --------------------------------------------------------------------------- errors


def test_failures_stay_in_their_slots(repos: Path, cache: Path, tmp_path: Path) -> None:
    repo = make_repo(repos, "app", {".minnova/app.yaml": "name: app\n"})
    missing = (tmp_path / "does-not-exist").as_uri()

    specs = [
        RepoSpec(missing, None),
        RepoSpec(repo.url, None),
        RepoSpec(repo.url, "nope"),
        RepoSpec(repo.url, None, "../x"),
        RepoSpec(repo.url, None, "/etc"),
        RepoSpec(repo.url, None, "-x"),
        RepoSpec("--upload-pack=touch /tmp/pwned", None),
        RepoSpec(repo.url, "--upload-pack=x"),
        RepoSpec("ext::sh -c true", None),
    ]
    results = fetch_sources(specs, cache)

    assert [r.spec for r in results] == specs
    assert isinstance(results[1], FetchedSource), results[1]
    errors = [r for i, r in enumerate(results) if i != 1]
    assert all(isinstance(e, FetchError) for e in errors), errors
    reasons = [e.reason for e in errors]
    assert reasons[0].startswith("git ls-remote failed:") and "does-not-exist" in reasons[0]
    assert reasons[1] == "ref 'nope' not found"
    assert "'..'" in reasons[2]
    assert "relative" in reasons[3]
    assert "'-'" in reasons[4] and "'-'" in reasons[5] and "'-'" in reasons[6]
    assert "transport 'ext' not allowed" in reasons[7]
    assert all("\n" not in r for r in reasons)


def test_empty_repository_has_no_head(repos: Path, cache: Path) -> None:
    path = repos / "empty"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")

    [result] = fetch_sources([RepoSpec(path.as_uri(), None)], cache)

    assert isinstance(result, FetchError)
    assert "no HEAD" in result.reason


@pytest.mark.parametrize("scheme", ["git", "http"])
def test_timeout_is_reported(cache: Path, scheme: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    results: list[FetchedSource | FetchError] = []
    # A server that accepts TCP connections (kernel backlog) but never answers. Over
    # http, git's helper (git-remote-http) must be killed too, or we would hang.
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        port = server.getsockname()[1]
        url = f"{scheme}://127.0.0.1:{port}/app"
        worker = threading.Thread(
            target=lambda: results.extend(
                fetch_sources([RepoSpec(url, None)], cache, timeout=0.5)
            ),
            daemon=True,
        )
        worker.start()
        worker.join(timeout=10)
        assert not worker.is_alive(), "fetch_sources did not return after its timeout"

    [result] = results
    assert isinstance(result, FetchError)
    assert result.reason == "git ls-remote timed out after 0.5s"


# --------------------------------------------------------------------------- concurrency


def test_many_repos_concurrently_in_input_order(repos: Path, cache: Path) -> None:
    apps = [
        make_repo(repos, f"app{i}", {".minnova/app.yaml": f"name: app{i}\n"}) for i in range(10)
    ]
    # Several apps in one monorepo: same URL, so they serialise on the per-URL lock.
    mono_files = {f"svc{i}/.minnova/app.yaml": f"name: svc{i}\n" for i in range(4)}
    mono = make_repo(repos, "mono", mono_files)
    specs = [RepoSpec(a.url, None) for a in apps]
    specs += [RepoSpec(mono.url, "main", f"svc{i}") for i in range(4)]

    results = fetch_sources(specs, cache, max_workers=4)

    assert [r.spec for r in results] == specs
    expected = [f"name: app{i}\n" for i in range(10)] + [f"name: svc{i}\n" for i in range(4)]
    assert [app_yaml(r) for r in results] == expected


_CHILD = """
import sys
from pathlib import Path
from minnova_idp.load.git import FetchedSource, RepoSpec, fetch_sources
url, cache = sys.argv[1], Path(sys.argv[2])
specs = [RepoSpec(url, "main", f"svc{i}") for i in range(6)]
results = fetch_sources(specs, cache, max_workers=6)
bad = [r for r in results if not isinstance(r, FetchedSource)]
print(bad or "ok")
sys.exit(1 if bad else 0)
"""


def test_two_processes_share_one_cache(repos: Path, cache: Path) -> None:
    files = {f"svc{i}/.minnova/app.yaml": f"name: svc{i}\n" for i in range(6)}
    mono = make_repo(repos, "mono", files)
    root = Path(__file__).resolve().parents[2]
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, mono.url, str(cache)],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [child.communicate(timeout=60)[0] for child in children]

    assert [child.returncode for child in children] == [0, 0, 0], outputs
    snapshots = list((cache / "snapshots").glob("*/*/*/.minnova/app.yaml"))
    assert sorted(p.read_text() for p in snapshots) == [f"name: svc{i}\n" for i in range(6)]


# --------------------------------------------------------------------------- protocol fallbacks


def test_protocol_v0_server_falls_back_to_ref_names(
    repos: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # v0 servers only serve advertised tips by id; a peeled tag's commit and the
    # blobs of a partial clone are not advertised.
    v0_config = (*git_auth._BASE_CONFIG, ("protocol.version", "0"))  # last one wins
    monkeypatch.setattr(git_auth, "_BASE_CONFIG", v0_config)
    repo = make_repo(repos, "app", {".minnova/app.yaml": "v: 1\n", "README.md": "x\n"})
    tagged = repo.head()
    git(repo.path, "tag", "-a", "v1", "-m", "v1")
    old = repo.commit({".minnova/app.yaml": "v: 2\n"})
    repo.commit({".minnova/app.yaml": "v: 3\n"})

    by_tag, by_old_sha, by_branch = fetch_sources(
        [RepoSpec(repo.url, "v1"), RepoSpec(repo.url, old), RepoSpec(repo.url, "main")], cache
    )

    assert isinstance(by_tag, FetchedSource) and by_tag.commit == tagged
    assert app_yaml(by_tag) == "v: 1\n"
    assert app_yaml(by_branch) == "v: 3\n"
    assert isinstance(by_old_sha, FetchError)
    assert "unadvertised object" in by_old_sha.reason


# --------------------------------------------------------------------------- git daemon


@pytest.fixture
def git_daemon(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    exec_path = subprocess.run(
        ["git", "--exec-path"], capture_output=True, text=True, check=True
    ).stdout.strip()
    if not (Path(exec_path) / "git-daemon").exists():
        pytest.skip("git daemon is not available in this git installation")
    base = tmp_path / "served"
    base.mkdir()
    port = free_port()
    log = tmp_path / "daemon.log"
    log_file = log.open("wb")
    proc = subprocess.Popen(
        [
            "git",
            "daemon",
            "--reuseaddr",
            f"--base-path={base}",
            "--export-all",
            "--listen=127.0.0.1",
            f"--port={port}",
            "--informative-errors",
            str(base),
        ],
        env=_git_env(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=log_file,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            if proc.poll() is not None:
                pytest.skip(f"git daemon did not start: {log.read_text()[:200]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.skip("git daemon did not start listening within 10s")
                time.sleep(0.05)
        yield base, port
    finally:
        stop_process(proc, timeout=5)
        log_file.close()


def test_fetch_over_git_daemon(git_daemon: tuple[Path, int], cache: Path) -> None:
    base, port = git_daemon
    repo = make_repo(base, "app", {".minnova/app.yaml": "v: 1\n", "README.md": "large\n"})
    first = repo.head()
    git(repo.path, "tag", "-a", "v1", "-m", "v1")
    repo.commit({".minnova/app.yaml": "v: 2\n", "services/api/.minnova/app.yaml": "api\n"})
    readme_blob = repo.blob("HEAD:README.md")
    url = f"git://127.0.0.1:{port}/app"

    head, tag, old, api, missing = fetch_sources(
        [
            RepoSpec(url, None),
            RepoSpec(url, "v1"),
            RepoSpec(url, first),
            RepoSpec(url, "main", "services/api"),
            RepoSpec(f"git://127.0.0.1:{port}/nope", None),
        ],
        cache,
    )

    assert isinstance(head, FetchedSource) and head.commit == repo.head()
    assert app_yaml(head) == "v: 2\n"
    assert app_yaml(tag) == "v: 1\n" and app_yaml(old) == "v: 1\n"
    assert app_yaml(api) == "api\n"
    assert isinstance(missing, FetchError) and missing.reason.startswith("git ls-remote failed:")
    # Fetch by id and --filter=blob:none both work over git:// (protocol v2).
    assert readme_blob not in local_objects(fetch_repo_dir(cache, url))


# --------------------------------------------------------------------------- credentials


def test_token_only_in_env_and_only_for_its_prefix(tmp_path: Path) -> None:
    auth = GitAuth(token="s3cret-token", token_url_prefix="https://github.com/")
    home = tmp_path / "home"
    expected = "Authorization: Basic " + base64.b64encode(b"x-access-token:s3cret-token").decode()

    url = "https://github.com/org/repo.git"
    env = build_git_env(auth, url, home=home, base_env={"PATH": "/usr/bin"})

    keys = {env[k]: env[k.replace("KEY", "VALUE")] for k in env if k.startswith("GIT_CONFIG_KEY_")}
    assert keys["http.https://github.com/.extraHeader"] == expected
    assert int(env["GIT_CONFIG_COUNT"]) == len(keys)
    assert env["GIT_TERMINAL_PROMPT"] == "0" and env["GIT_ASKPASS"] == ""
    assert env["GIT_CONFIG_NOSYSTEM"] == "1" and env["HOME"] == str(home)

    others = (
        "https://gitlab.com/org/repo.git",
        "https://github.com.evil.example/x",
        "git@github.com:org/repo.git",
    )
    for other in others:
        other_env = build_git_env(auth, other, home=home, base_env={})
        assert not any("s3cret" in v or expected in v for v in other_env.values()), other
        assert not any(v.endswith(".extraHeader") for v in other_env.values())

    unscoped = GitAuth(token="s3cret-token")  # no prefix: the token is never sent
    no_prefix = build_git_env(unscoped, "https://github.com/o/r", home=home, base_env={})
    assert not any("Authorization" in v for v in no_prefix.values())


def test_inherited_git_variables_are_dropped(tmp_path: Path) -> None:
    env = build_git_env(
        GitAuth(),
        "file:///x",
        home=tmp_path,
        base_env={
            "PATH": "/bin",
            "GIT_DIR": "/elsewhere",
            "GIT_TRACE_CURL": "1",
            "SSH_ASKPASS": "/bin/x",
        },
    )
    assert env["PATH"] == "/bin"
    assert "GIT_DIR" not in env and "GIT_TRACE_CURL" not in env and "SSH_ASKPASS" not in env


class _RecordingHandler(http.server.BaseHTTPRequestHandler):
    seen: list[tuple[str, str | None]] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        self.seen.append((self.path, self.headers.get("Authorization")))
        self.send_response(404)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def test_token_reaches_only_the_prefix_over_http_and_never_argv(
    tmp_path: Path, cache: Path, repos: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Record every argv our code passes to git, via a wrapper that execs the real git.
    argv_log = tmp_path / "argv.log"
    shim_dir = tmp_path / "shim"
    shim_dir.mkdir()
    shim = shim_dir / "git"
    shim.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{argv_log}"\nexec "{GIT}" "$@"\n')
    shim.chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim_dir}{os.pathsep}{os.environ['PATH']}")
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)

    _RecordingHandler.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RecordingHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    token = "tok-9f8e7d"
    local = make_repo(repos, "app", {".minnova/app.yaml": "ok\n"})
    auth = GitAuth(token=token, token_url_prefix=f"http://127.0.0.1:{port}/org/")
    try:
        results = fetch_sources(
            [
                RepoSpec(f"http://127.0.0.1:{port}/org/repo.git", None),
                RepoSpec(f"http://127.0.0.1:{port}/other/repo.git", None),
                RepoSpec(local.url, None),
            ],
            cache,
            auth=auth,
        )
    finally:
        server.shutdown()
        server.server_close()

    header = "Basic " + base64.b64encode(f"x-access-token:{token}".encode()).decode()
    org = [h for p, h in _RecordingHandler.seen if p.startswith("/org/")]
    other = [h for p, h in _RecordingHandler.seen if p.startswith("/other/")]
    assert org and all(h == header for h in org)
    assert other and all(h is None for h in other)
    assert isinstance(results[0], FetchError) and "not found" in results[0].reason
    assert isinstance(results[2], FetchedSource)
    assert all(token not in str(r) for r in results)
    logged = argv_log.read_text()
    assert "ls-remote" in logged and "fetch" in logged
    assert token not in logged and header.split()[1] not in logged
    for path in cache.rglob("*"):
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path


def test_ssh_key_file_is_private_and_removed(tmp_path: Path) -> None:
    auth = GitAuth(
        ssh_private_key="-----BEGIN OPENSSH PRIVATE KEY-----\nabc",
        ssh_known_hosts="github.com ssh-ed25519 AAAA",
    )

    with ssh_command_for(auth) as command:
        parts = command.split()
        key = Path(parts[parts.index("-i") + 1])
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        assert key.read_text().endswith("abc\n")
        assert "IdentitiesOnly=yes" in parts and "BatchMode=yes" in parts
        assert "StrictHostKeyChecking=yes" in parts and "GlobalKnownHostsFile=/dev/null" in parts
        known = Path(next(p for p in parts if p.startswith("UserKnownHostsFile=")).split("=", 1)[1])
        assert known.read_text() == "github.com ssh-ed25519 AAAA\n"

    assert not key.exists() and not key.parent.exists()
    assert build_ssh_command(None, None) == "ssh -o BatchMode=yes"


def test_ssh_failure_does_not_prompt(cache: Path) -> None:
    # Port 1 refuses connections: ssh must fail fast instead of prompting.
    spec = RepoSpec("ssh://git@127.0.0.1:1/org/repo.git", None)
    [result] = fetch_sources([spec], cache, timeout=20)
    assert isinstance(result, FetchError)
    assert result.reason.startswith("git ls-remote failed:")


# --------------------------------------------------------------------------- misc


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MINNOVA_IDP_CACHE_DIR", str(tmp_path / "explicit"))
    assert default_cache_dir() == tmp_path / "explicit"
    monkeypatch.delenv("MINNOVA_IDP_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "minnova-idp"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "minnova-idp"


def test_fetch_error_is_readable_and_redacted() -> None:
    error = FetchError(RepoSpec("https://user:pw@example.com/r.git", None), "boom")
    assert str(error) == "https://user:***@example.com/r.git: boom"
    assert error.reason == "boom" and error.spec.ref is None


def test_progress_hears_of_every_repository_as_it_finishes(repos: Path, cache: Path) -> None:
    good = make_repo(repos, "good", {".minnova/app.yaml": "v: 1\n"})
    specs = [RepoSpec(good.url, None), RepoSpec((repos / "missing").as_uri(), None)]
    heard: list = []
    results = fetch_sources(specs, cache, progress=heard.append)
    assert sorted(id(r) for r in heard) == sorted(id(r) for r in results)  # each once, as it ended
    assert {type(r).__name__ for r in heard} == {"FetchedSource", "FetchError"}


def test_a_corrupted_cache_repository_is_fetched_afresh(repos: Path, cache: Path) -> None:
    repo = make_repo(repos, "app", {".minnova/app.yaml": "v: 1\n"})
    assert isinstance(fetch_sources([RepoSpec(repo.url, None)], cache)[0], FetchedSource)
    git_dir = fetch_repo_dir(cache, repo.url)
    shutil.rmtree(cache / "snapshots")  # force the next run to use the cached repository
    (git_dir / "HEAD").write_text("garbage\n")  # a killed run, a full disk
    for child in (git_dir / "objects").iterdir():
        if child.is_dir() and len(child.name) == 2:
            shutil.rmtree(child)
    result = fetch_sources([RepoSpec(repo.url, None)], cache)[0]
    assert isinstance(result, FetchedSource), result
    assert app_yaml(result) == "v: 1\n"


def test_an_unusable_cache_dir_and_a_bad_timeout_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess as sp
    import sys

    from tests.conftest import PROJECT_DIR

    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    project = tmp_path / "project"
    shutil.copytree(PROJECT_DIR, project, ignore=shutil.ignore_patterns(".venv", ".git", "__pycache__", "plan-*"))
    entry = project / "deployments/minnova/apps/storefront.yaml"
    entry.write_text(entry.read_text().replace("local: examples/storefront\n", "") + "")
    result = sp.run([sys.executable, "-m", "minnova_idp.cli", "plan", "--stack", "dev", "--cache-dir", str(blocker)],
                    cwd=project, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "--cache-dir: the git cache cannot be used" in result.stderr, result.stderr
    env = {**__import__("os").environ, "MINNOVA_IDP_GIT_TIMEOUT": "soon"}
    result = sp.run([sys.executable, "-m", "minnova_idp.cli", "plan", "--stack", "dev"], cwd=project, env=env,
                    capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "MINNOVA_IDP_GIT_TIMEOUT: 'soon' is not a number of seconds" in result.stderr
