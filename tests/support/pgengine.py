"""Real-engine pytest harness for the CloudNativePG Barman Cloud plugin.

Runs real PostgreSQL servers whose WAL archiving, base backups and restores go
through the real ``barman-cloud-*`` tools against a local S3 server (moto), with
the same command lines the plugin builds.  It exists to prove, on the engine
rather than in YAML, what a rendered Cluster will do on restore: which backup
is picked, which timeline recovery follows, and what is lost or kept at a
cutover.

Upstream behaviour mirrored here (all citations are ``repo@tag path:line``):

* WAL archive: ``[--endpoint-url URL] [--cloud-provider aws-s3] DEST SERVER WAL``
  cloudnative-pg/barman-cloud@950b0f5 pkg/archiver/command.go:33-90
  (the commit plugin-barman-cloud@v0.14.0 go.mod pins).
* Base backup: ``--user postgres --name NAME [data opts] --endpoint-url URL
  --cloud-provider aws-s3 DEST SERVER``
  cloudnative-pg/barman-cloud@950b0f5 pkg/backup/backup.go:91-132.
* Restore: latest DONE backup from ``barman-cloud-backup-list`` for the
  recovery serverName, check its begin WAL is in the archive, then
  ``barman-cloud-restore [--cloud-provider] --endpoint-url URL DEST SERVER ID PGDATA``
  plugin-barman-cloud@v0.14.0 internal/cnpgi/restore/restore.go:122-150,169-210,
  363-441; recovery config is only ``recovery_target_action = promote`` plus a
  ``restore_command`` (restore.go:350-361), so the timeline is PostgreSQL's
  default ``latest`` unless ``recoveryTarget.targetTLI`` is set
  (cloudnative-pg@v1.30.0 api/v1/cluster_funcs.go:1522-1553).
* WAL restore: ``--endpoint-url URL [--cloud-provider] DEST SERVER WAL DEST_PATH``
  cloudnative-pg/barman-cloud@950b0f5 pkg/command/commandbuilder.go:29-56.

PostgreSQL refuses to run as root, so when the harness runs as root every
server and every barman command that touches a data directory runs as
``nobody``.  Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import pytest

PG_BIN = Path(os.environ.get("PGENGINE_PG_BIN", "/usr/lib/postgresql/15/bin"))
# The barman-cloud tools, moto, psycopg and boto3 live in their own venv (.ci/run builds it from /usr/bin/python3,
# which `nobody` can run: archive_command runs inside postgres), named by MINNOVA_PGENGINE_VENV. Its site-packages
# are appended to sys.path (after the project's own) for psycopg and boto3: the same Python minor version is needed.
ENGINE_VENV = os.environ.get("MINNOVA_PGENGINE_VENV", "")
TOOLS_BIN = Path(os.environ.get("PGENGINE_TOOLS_BIN", Path(ENGINE_VENV) / "bin" if ENGINE_VENV
                                else Path(sys.executable).parent))


def _engine_imports() -> str:
    """Why psycopg and boto3 cannot be imported from the engine venv ('' when they can)."""
    if ENGINE_VENV:
        for site in sorted(Path(ENGINE_VENV).glob("lib/python*/site-packages")):
            if str(site) not in sys.path:
                sys.path.append(str(site))
    try:
        import boto3  # noqa: F401
        import psycopg  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - any import failure is a reason to skip
        return (f"psycopg and boto3 from MINNOVA_PGENGINE_VENV={ENGINE_VENV or '(unset)'} ({exc}; built for "
                f"another Python than {sys.version_info.major}.{sys.version_info.minor}?)")
    return ""

PG_USER = "nobody"  # only used when running as root
DB_SUPERUSER = "postgres"  # the plugin's backup always connects as this user
CLOUD_PROVIDER = "aws-s3"
# moto accepts any credentials; real ones must never reach a test.
TEST_ACCESS_KEY = "pgengine-test-key"
TEST_SECRET_KEY = "pgengine-test-secret"
TEST_REGION = "us-east-1"

BARMAN_TOOLS = (
    "barman-cloud-wal-archive",
    "barman-cloud-wal-restore",
    "barman-cloud-backup",
    "barman-cloud-backup-list",
    "barman-cloud-restore",
    "barman-cloud-check-wal-archive",
)
PG_TOOLS = ("initdb", "pg_ctl", "postgres", "pg_controldata", "pg_resetwal")

DEFAULT_TIMEOUT = 60.0


# --------------------------------------------------------------------------
# Prerequisites
# --------------------------------------------------------------------------


def tool(name: str) -> str:
    """Absolute path of a barman/moto console script, or '' if absent."""
    candidate = TOOLS_BIN / name
    if candidate.exists():
        return str(candidate)
    return shutil.which(name) or ""


def missing_requirements() -> list[str]:
    """Everything the harness needs that this machine lacks (empty if none)."""
    missing = [f"{PG_BIN}/{t}" for t in PG_TOOLS if not (PG_BIN / t).exists()]
    if not ENGINE_VENV and not os.environ.get("PGENGINE_TOOLS_BIN"):
        return missing + ["MINNOVA_PGENGINE_VENV (a venv with barman[cloud] and moto[server]; .ci/run builds one)"]
    if why := _engine_imports():
        missing.append(why)
    missing += [t for t in BARMAN_TOOLS + ("moto_server",) if not tool(t)]
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(PG_USER)
        except KeyError:
            missing.append(f"user {PG_USER!r} (postgres cannot run as root)")
        else:
            # The archive_command runs inside postgres, i.e. as PG_USER: the
            # venv interpreter must be reachable by that user (a venv made from
            # a pyenv Python under /root is not).
            try:
                probe = run_as_pg([tool("barman-cloud-wal-archive") or "true", "--version"],
                                  timeout=30, check=False)
                problem = "" if probe.returncode == 0 else (probe.stderr or probe.stdout).strip()
            except OSError as exc:
                problem = str(exc)
            if problem:
                missing.append(f"barman tools runnable as {PG_USER!r} ({problem[:200]}; "
                               "build the venv from a Python outside /root)")
    return missing


def require_engine() -> None:
    """Skip the calling test (or fixture) with a precise reason."""
    missing = missing_requirements()
    if missing:
        pytest.skip("pgengine prerequisites missing: " + ", ".join(missing))


# --------------------------------------------------------------------------
# Process helpers
# --------------------------------------------------------------------------


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1 (racy by nature, fine for tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_identity() -> dict:
    """subprocess kwargs that drop root to PG_USER; empty when not root."""
    if os.geteuid() != 0:
        return {}
    pw = pwd.getpwnam(PG_USER)
    return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}


def chown_to_pg(path: Path) -> None:
    if os.geteuid() == 0:
        pw = pwd.getpwnam(PG_USER)
        os.chown(path, pw.pw_uid, pw.pw_gid)


def base_env(extra: dict | None = None) -> dict:
    """Environment for servers and barman tools.

    Starts from the caller's environment but drops libpq and AWS variables so
    a developer's PGHOST or AWS profile can never leak into a test, and turns
    off the EC2 metadata lookup (it would contact a non-loopback address).
    """
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PG", "AWS_", "BOTO"))}
    env.update({
        "AWS_ACCESS_KEY_ID": TEST_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": TEST_SECRET_KEY,
        "AWS_DEFAULT_REGION": TEST_REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
        "LC_ALL": "C",
        "TZ": "UTC",
    })
    env.update(extra or {})
    return env


def run_as_pg(cmd: Sequence[str], *, env: dict | None = None, timeout: float = DEFAULT_TIMEOUT,
              check: bool = True, cwd: str | Path | None = None) -> subprocess.CompletedProcess:
    """Run a command as the PostgreSQL OS user with a hard timeout."""
    proc = subprocess.run(
        list(cmd), env=env if env is not None else base_env(), cwd=cwd or "/",
        capture_output=True, text=True, timeout=timeout, **_pg_identity())
    if check and proc.returncode != 0:
        raise CommandFailed(cmd, proc)
    return proc


class CommandFailed(RuntimeError):
    def __init__(self, cmd: Sequence[str], proc: subprocess.CompletedProcess):
        self.cmd, self.proc = list(cmd), proc
        super().__init__(
            f"{' '.join(map(str, cmd))} exited {proc.returncode}\n"
            f"stdout: {proc.stdout[-2000:]}\nstderr: {proc.stderr[-2000:]}")


def wait_until(predicate, *, timeout: float, interval: float = 0.1, what: str = "condition"):
    """Poll ``predicate`` until it returns a truthy value or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


# --------------------------------------------------------------------------
# Workspace: one world-traversable temp dir for everything a test creates
# --------------------------------------------------------------------------


class Workspace:
    """Temp root that PG_USER can traverse.

    pytest's tmp_path lives under /tmp/pytest-of-root (mode 0700), which
    ``nobody`` cannot enter, and unix socket paths must stay under ~100 bytes,
    so the harness keeps its own short directory under /tmp.
    """

    def __init__(self, root: Path | None = None):
        self.root = Path(root or tempfile.mkdtemp(prefix="pge-", dir="/tmp"))
        self.root.chmod(0o755)

    def pg_dir(self, name: str, mode: int = 0o700) -> Path:
        """A fresh empty directory owned by PG_USER."""
        path = self.root / name
        path.mkdir(parents=True, exist_ok=False)
        path.chmod(mode)
        chown_to_pg(path)
        return path

    def unique(self, prefix: str) -> str:
        n = 1
        while (self.root / f"{prefix}{n}").exists():
            n += 1
        return f"{prefix}{n}"

    def cleanup(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


# --------------------------------------------------------------------------
# S3 (moto server)
# --------------------------------------------------------------------------


class MotoS3:
    """A moto S3 server subprocess on 127.0.0.1:<free port>."""

    def __init__(self, log_path: Path):
        self.port = free_port()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._proc: subprocess.Popen | None = None
        self._log = None

    def start(self, timeout: float = 30.0) -> "MotoS3":
        self._log = open(self.log_path, "wb")
        self._proc = subprocess.Popen(
            [tool("moto_server"), "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=self._log, stderr=subprocess.STDOUT, env=base_env(),
            start_new_session=True)  # own process group: stop() can reap children

        def ready():
            if self._proc.poll() is not None:
                raise RuntimeError(f"moto_server exited: {self.log_path.read_text()[-2000:]}")
            try:
                # moto's own health endpoint; needs no S3 signature.
                with urllib.request.urlopen(f"{self.endpoint_url}/moto-api/", timeout=1):
                    return True
            except OSError:
                return False

        wait_until(ready, timeout=timeout, interval=0.2, what="moto_server to accept requests")
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._proc and self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGTERM)
            try:
                self._proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self._proc.pid, signal.SIGKILL)
                self._proc.wait(timeout=timeout)
        if self._log:
            self._log.close()

    def client(self):
        import boto3  # imported lazily: only the harness process needs it
        return boto3.client(
            "s3", endpoint_url=self.endpoint_url, region_name=TEST_REGION,
            aws_access_key_id=TEST_ACCESS_KEY, aws_secret_access_key=TEST_SECRET_KEY)

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)


@dataclass(frozen=True)
class ObjectStore:
    """What an ``ObjectStore`` resource's ``.spec.configuration`` carries.

    ``destination_path`` is the plugin's destinationPath; the serverName is
    passed per call because it lives in the Cluster's plugin parameters, not
    in the ObjectStore (plugin-barman-cloud@v0.14.0 web/docs/parameters.md:13-18).
    Archive layout: ``<destination_path>/<server_name>/{wals,base}/...``.
    """

    s3: MotoS3
    bucket: str
    prefix: str
    immediate_checkpoint: bool = True  # data.immediateCheckpoint (see backup_cmd)

    @property
    def destination_path(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    @property
    def endpoint_url(self) -> str:
        return self.s3.endpoint_url

    # -- command lines, in the same argument order the plugin uses ----------

    def wal_archive_cmd(self, server_name: str) -> list[str]:
        # barman-cloud@950b0f5 pkg/archiver/command.go:53-88 (the WAL path is
        # appended per file by the caller / PostgreSQL's %p).
        return [tool("barman-cloud-wal-archive"), "--endpoint-url", self.endpoint_url,
                "--cloud-provider", CLOUD_PROVIDER, self.destination_path, server_name]

    def wal_restore_cmd(self, server_name: str, spool_dir: Path | None = None) -> list[str]:
        # barman-cloud@950b0f5 pkg/command/commandbuilder.go:35-53.  barman
        # >= 3.x looks in its spool dir (default /var/tmp/walrestore, shared
        # by every server on the host, keyed only by WAL name) before the
        # bucket; a per-server spool keeps one restore from ever being fed
        # another system's prefetched WAL.  Without --parallel nothing is
        # written there, so behaviour is otherwise the plugin's.
        cmd = [tool("barman-cloud-wal-restore"), "--endpoint-url", self.endpoint_url,
               "--cloud-provider", CLOUD_PROVIDER]
        if spool_dir is not None:
            cmd += ["--spool-dir", str(spool_dir)]
        return cmd + [self.destination_path, server_name]

    def backup_cmd(self, server_name: str, backup_name: str) -> list[str]:
        # barman-cloud@950b0f5 pkg/backup/backup.go:96-129.  CNPG's default is
        # a spread checkpoint (data.immediateCheckpoint unset), which can make
        # barman wait minutes; tests set immediateCheckpoint like a fast
        # ObjectStore would.
        cmd = [tool("barman-cloud-backup"), "--user", DB_SUPERUSER, "--name", backup_name]
        if self.immediate_checkpoint:
            cmd.append("--immediate-checkpoint")
        return cmd + ["--endpoint-url", self.endpoint_url, "--cloud-provider", CLOUD_PROVIDER,
                      self.destination_path, server_name]

    def restore_cmd(self, server_name: str, backup_id: str, pgdata: Path) -> list[str]:
        # plugin-barman-cloud@v0.14.0 internal/cnpgi/restore/restore.go:175-191
        return [tool("barman-cloud-restore"), "--cloud-provider", CLOUD_PROVIDER,
                "--endpoint-url", self.endpoint_url, self.destination_path, server_name,
                backup_id, str(pgdata)]

    # -- queries --------------------------------------------------------------

    def list_backups(self, server_name: str) -> list[dict]:
        proc = run_as_pg([tool("barman-cloud-backup-list"), "--format", "json",
                          "--endpoint-url", self.endpoint_url, "--cloud-provider", CLOUD_PROVIDER,
                          self.destination_path, server_name], timeout=60)
        return json.loads(proc.stdout).get("backups_list", [])

    def latest_backup(self, server_name: str) -> dict:
        """The backup the plugin restores when no recovery target is given:
        the last DONE one by time (barman-cloud@950b0f5 pkg/catalog/catalog.go:63-79,
        pkg/catalog/sorting.go)."""
        done = [b for b in self.list_backups(server_name) if b.get("status") == "DONE"]
        if not done:
            raise LookupError(f"no DONE backup under {self.destination_path}/{server_name}")
        return max(done, key=_backup_end)

    def check_wal_archive(self, server_name: str) -> subprocess.CompletedProcess:
        """What CNPG runs before a *new* cluster archives into serverName
        (plugin-barman-cloud@v0.14.0 internal/cnpgi/common/check.go:32-53)."""
        return run_as_pg([tool("barman-cloud-check-wal-archive"), "--endpoint-url",
                          self.endpoint_url, "--cloud-provider", CLOUD_PROVIDER,
                          self.destination_path, server_name], timeout=60, check=False)

    def keys(self, server_name: str, kind: str = "wals") -> list[str]:
        """Object names under <server>/<kind>/ (kind: 'wals' or 'base')."""
        client = self.s3.client()
        prefix = f"{self.prefix}/{server_name}/{kind}/"
        out: list[str] = []
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            out += [o["Key"][len(prefix):] for o in page.get("Contents", [])]
        return out

    def archived_wal_names(self, server_name: str) -> set[str]:
        """Bare WAL/history file names in the archive (compression suffixes kept)."""
        return {k.rsplit("/", 1)[-1] for k in self.keys(server_name, "wals")}


def _backup_end(b: dict) -> tuple:
    # barman >= 3.10 adds end_time_iso (microseconds); older ones only have
    # the one-second end_time text.  Backup ids (YYYYMMDDTHHMMSS) break ties.
    iso = b.get("end_time_iso")
    if iso:
        return (_dt.datetime.fromisoformat(iso).timestamp(), b["backup_id"])
    try:
        ts = _dt.datetime.strptime(" ".join((b.get("end_time") or "").split()),
                                   "%a %b %d %H:%M:%S %Y").timestamp()
    except ValueError:
        ts = 0.0
    return (ts, b["backup_id"])


# --------------------------------------------------------------------------
# PostgreSQL servers
# --------------------------------------------------------------------------


class RecoveryFailed(RuntimeError):
    """PostgreSQL refused to recover; ``fatal`` holds the FATAL/DETAIL lines."""

    def __init__(self, server: "PgServer", reason: str):
        self.server = server
        self.log = server.log_text()
        self.fatal = [ln.split("] ", 1)[-1] if "] " in ln else ln
                      for ln in self.log.splitlines()
                      if "FATAL:" in ln or "DETAIL:" in ln or "PANIC:" in ln]
        super().__init__(f"{reason}\n" + "\n".join(self.fatal or self.log.splitlines()[-20:]))


@dataclass
class PgServer:
    """One PostgreSQL cluster (data dir + config) on 127.0.0.1.

    All harness settings live in ``pgengine.conf`` included at the end of
    postgresql.conf, mirroring how CNPG keeps its own settings in custom.conf.
    """

    ws: Workspace
    name: str
    datadir: Path
    socket_dir: Path
    port: int = field(default_factory=free_port)
    settings: dict = field(default_factory=dict)
    archive_to: tuple[ObjectStore, str] | None = None

    HARNESS_CONF = "pgengine.conf"

    # -- creation ----------------------------------------------------------

    @classmethod
    def initdb(cls, ws: Workspace, name: str, *, wal_segsize_mb: int = 16) -> "PgServer":
        datadir = ws.pg_dir(f"{name}/data")
        srv = cls(ws=ws, name=name, datadir=datadir, socket_dir=ws.pg_dir(f"{name}/sock", 0o755))
        run_as_pg([str(PG_BIN / "initdb"), "-D", str(datadir), "-U", DB_SUPERUSER,
                   "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync",
                   f"--wal-segsize={wal_segsize_mb}"], timeout=120)
        with open(datadir / "postgresql.conf", "a") as f:
            f.write(f"\ninclude '{cls.HARNESS_CONF}'\n")
        srv.configure()
        return srv

    def configure(self, *, archive_to: tuple[ObjectStore, str] | None = None, **settings) -> None:
        """(Re)write pgengine.conf.  ``archive_to=(store, serverName)`` turns
        on archiving with the plugin's barman-cloud-wal-archive command line."""
        conf = {
            "listen_addresses": "127.0.0.1",
            "port": self.port,
            "unix_socket_directories": str(self.socket_dir),
            # Tests never survive an OS crash, so durability flushes only cost time.
            "fsync": "off",
            "archive_mode": "off",
        }
        if archive_to is not None:
            store, server_name = archive_to
            conf["archive_mode"] = "on"
            conf["archive_command"] = _shell_join(store.wal_archive_cmd(server_name)) + " %p"
            self.archive_to = archive_to
        conf.update(self.settings)
        conf.update(settings)
        self.settings.update(settings)
        lines = [f"{k} = {_conf_value(v)}" for k, v in conf.items()]
        path = self.datadir / self.HARNESS_CONF
        path.write_text("# written by pgengine; overrides postgresql.conf\n" + "\n".join(lines) + "\n")
        chown_to_pg(path)

    # -- lifecycle ---------------------------------------------------------

    @property
    def log_path(self) -> Path:
        return self.ws.root / self.name / "server.log"

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def pg_ctl(self, *args: str, timeout: float = DEFAULT_TIMEOUT, check: bool = True):
        return run_as_pg([str(PG_BIN / "pg_ctl"), "-D", str(self.datadir), *args],
                         timeout=timeout + 10, check=check)

    def start(self, timeout: float = DEFAULT_TIMEOUT) -> "PgServer":
        if not self.log_path.exists():
            self.log_path.touch()
            chown_to_pg(self.log_path)
        proc = self.pg_ctl("-l", str(self.log_path), "-w", "-t", str(int(timeout)), "start",
                           timeout=timeout, check=False)
        if proc.returncode != 0:
            raise RecoveryFailed(self, f"{self.name}: pg_ctl start failed ({proc.stdout.strip()})")
        return self

    def stop(self, mode: str = "fast", timeout: float = DEFAULT_TIMEOUT) -> None:
        """Stop the server.  'fast'/'smart' write a shutdown checkpoint and,
        with archive_mode=on, switch and archive the last segment first
        (PostgreSQL xlog.c ShutdownXLOG: RequestXLogSwitch when archiving is
        active); 'immediate' does neither."""
        if self.is_running():
            self.pg_ctl("-m", mode, "-w", "-t", str(int(timeout)), "stop", timeout=timeout)

    def is_running(self) -> bool:
        return self.pg_ctl("status", timeout=10, check=False).returncode == 0

    def reload(self) -> None:
        self.pg_ctl("reload", timeout=10)

    # -- SQL ---------------------------------------------------------------

    def connect(self, **kw):
        import psycopg  # lazily: the skip check must not need it
        return psycopg.connect(host=str(self.socket_dir), port=self.port, user=DB_SUPERUSER,
                               dbname="postgres", autocommit=True, connect_timeout=10, **kw)

    def sql(self, query: str, params: Sequence | None = None) -> list[tuple]:
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchall() if cur.description else []

    def scalar(self, query: str, params: Sequence | None = None):
        rows = self.sql(query, params)
        return rows[0][0] if rows else None

    # -- WAL / archive -----------------------------------------------------

    def current_walfile(self) -> str:
        """Segment holding the current insert position (what the next commit
        lands in; not yet archivable)."""
        return self.scalar("SELECT pg_walfile_name(pg_current_wal_insert_lsn())")

    def timeline(self) -> int:
        """Current timeline, read from the WAL insert position: unlike
        pg_control_checkpoint() it is right straight after a promotion."""
        return int(self.current_walfile()[:8], 16)

    def archiver_stats(self) -> dict:
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute("SELECT archived_count, last_archived_wal, failed_count, last_failed_wal"
                        " FROM pg_stat_archiver")
            return dict(zip([d.name for d in cur.description], cur.fetchone(), strict=True))

    def wait_archived(self, walfile: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Wait until pg_stat_archiver reports ``walfile`` (or a later one on
        the same or a later timeline) archived.  Names compare correctly as
        strings: TLI, then log, then segment, all fixed-width hex."""
        last = {}

        def done():
            nonlocal last
            last = self.archiver_stats()
            return (last["last_archived_wal"] or "") >= walfile

        try:
            wait_until(done, timeout=timeout, interval=0.1, what=f"{walfile} to be archived")
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}; pg_stat_archiver={last}") from None

    def switch_wal_and_wait(self, timeout: float = DEFAULT_TIMEOUT) -> str:
        """Close the current segment and wait for the archiver to ship it.
        Returns the segment name.  pg_switch_wal() returns the end of the
        just-closed segment, and pg_walfile_name() of a segment boundary names
        the segment before it, i.e. the one that was closed."""
        walfile = self.scalar("SELECT pg_walfile_name(pg_switch_wal())")
        self.wait_archived(walfile, timeout)
        return walfile

    def controldata(self) -> dict:
        proc = run_as_pg([str(PG_BIN / "pg_controldata"), "-D", str(self.datadir)], timeout=30)
        return dict(ln.split(":", 1) for ln in proc.stdout.splitlines() if ":" in ln)

    # -- backups -----------------------------------------------------------

    def backup(self, store: ObjectStore, server_name: str, timeout: float = 120.0) -> str:
        """Take a base backup with barman-cloud-backup the way the plugin does;
        returns the barman backup id.  barman-cloud-backup returns after
        pg_backup_stop() has waited for the end WAL to be archived."""
        name = f"backup-{uuid.uuid4().hex[:12]}"
        # The plugin relies on PGHOST/PGPORT from the pod environment rather
        # than --host/--port, so the harness does the same.
        env = base_env({"PGHOST": str(self.socket_dir), "PGPORT": str(self.port)})
        run_as_pg(store.backup_cmd(server_name, name), env=env, timeout=timeout)
        for b in store.list_backups(server_name):
            if b.get("backup_name") == name:
                return b["backup_id"]
        raise LookupError(f"backup {name} not listed under {server_name}")


def _conf_value(v) -> str:
    if isinstance(v, bool):
        return "on" if v else "off"
    if isinstance(v, int):
        return str(v)
    return "'" + str(v).replace("'", "''") + "'"


def _shell_join(args: Iterable[str]) -> str:
    import shlex
    return " ".join(shlex.quote(a) for a in args)


# --------------------------------------------------------------------------
# Restore (what the plugin's restore job + CNPG's full-recovery do)
# --------------------------------------------------------------------------


def restore(ws: Workspace, store: ObjectStore, server_name: str, name: str, *,
            backup_id: str | None = None,
            recovery_target_timeline: str | None = None,
            recovery_target: dict | None = None,
            archive_to: tuple[ObjectStore, str] | None = None,
            check_begin_wal: bool = True,
            timeout: float = DEFAULT_TIMEOUT) -> PgServer:
    """Restore ``backup_id`` (default: the plugin's choice, latest DONE) of
    ``server_name`` into a new data dir and run recovery to completion.

    With no ``recovery_target`` PostgreSQL replays until restore_command stops
    finding WAL ("end of archive"), then promotes onto a new timeline.
    ``recovery_target_timeline`` None means PostgreSQL's default ('latest'),
    as CNPG leaves it unless ``recoveryTarget.targetTLI`` is set.
    ``archive_to`` lets the promoted server archive (by default it does not,
    like CNPG's recovery job, which sets archive_command='false' until the
    instance restarts with its own serverName:
    cloudnative-pg@v1.30.0 pkg/management/postgres/restore.go:660-668).

    Returns the running, promoted server.  Raises RecoveryFailed with
    PostgreSQL's FATAL/DETAIL lines if recovery is refused.
    """
    if backup_id is None:
        chosen = store.latest_backup(server_name)
    else:
        chosen = next(b for b in store.list_backups(server_name) if b["backup_id"] == backup_id)

    datadir = ws.pg_dir(f"{name}/data")
    srv = PgServer(ws=ws, name=name, datadir=datadir, socket_dir=ws.pg_dir(f"{name}/sock", 0o755))
    spool = ws.pg_dir(f"{name}/spool")

    if check_begin_wal:
        # plugin-barman-cloud@v0.14.0 restore.go:212-247: fail early when the
        # archive lacks the WAL the backup starts from.
        probe = ws.pg_dir(f"{name}/probe")
        run_as_pg(store.wal_restore_cmd(server_name, spool)
                  + [chosen["begin_wal"], str(probe / chosen["begin_wal"])], timeout=60)

    run_as_pg(store.restore_cmd(server_name, chosen["backup_id"], datadir), timeout=180)

    restore_command = _shell_join(store.wal_restore_cmd(server_name, spool)) + " %f %p"
    extra: dict = {"restore_command": restore_command, "recovery_target_action": "promote"}
    if recovery_target_timeline is not None:
        extra["recovery_target_timeline"] = recovery_target_timeline
    extra.update(recovery_target or {})
    srv.configure(archive_to=archive_to, **extra)
    signal_file = datadir / "recovery.signal"
    signal_file.touch()
    chown_to_pg(signal_file)

    srv.start(timeout=timeout)  # raises RecoveryFailed on FATAL during startup

    def promoted():
        try:
            return srv.scalar("SELECT NOT pg_is_in_recovery()")
        except Exception as exc:  # noqa: BLE001 - server may be mid-restart or dead
            if not srv.is_running():
                raise RecoveryFailed(srv, f"{name}: server died during recovery") from exc
            return False

    try:
        wait_until(promoted, timeout=timeout, interval=0.2, what=f"{name} to finish recovery")
    except TimeoutError as exc:
        raise RecoveryFailed(srv, f"{name}: {exc}") from None
    return srv


def pg_upgrade_like(ws: Workspace, name: str, old: PgServer, **kw) -> PgServer:
    """A brand-new system as ``pg_upgrade`` leaves it: fresh initdb (new
    system identifier), timeline 1, WAL position moved past the old cluster's
    with ``pg_resetwal -l 00000001<old REDO segment>``, exactly like
    pg_upgrade's copy_xact_xlog_xid() ("use timeline 1 to match controldata
    and no WAL history file").  ``old`` must be stopped."""
    redo_seg = old.controldata()["Latest checkpoint's REDO WAL file"].strip()
    new = PgServer.initdb(ws, name, **kw)
    run_as_pg([str(PG_BIN / "pg_resetwal"), "-l", "00000001" + redo_seg[8:], str(new.datadir)],
              timeout=60)
    return new


# --------------------------------------------------------------------------
# Background writer (cutover tests)
# --------------------------------------------------------------------------


class Writer(threading.Thread):
    """Inserts one committed row per iteration into ``table`` until stopped.

    ``committed`` holds ids whose COMMIT returned, so after the thread ends
    it is exactly the set of acknowledged writes.  Bounded in rows and time.
    """

    def __init__(self, srv: PgServer, table: str, *, max_rows: int = 20000,
                 max_seconds: float = 120.0, pause: float = 0.005):
        super().__init__(daemon=True)
        self.srv, self.table = srv, table
        self.max_rows, self.max_seconds, self.pause = max_rows, max_seconds, pause
        self.committed: list[int] = []
        self.error: BaseException | None = None
        self._stop_evt = threading.Event()

    def run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        try:
            with self.srv.connect() as conn:
                while (not self._stop_evt.is_set() and len(self.committed) < self.max_rows
                       and time.monotonic() < deadline):
                    row = conn.execute(f"INSERT INTO {self.table} DEFAULT VALUES RETURNING id").fetchone()
                    self.committed.append(row[0])
                    time.sleep(self.pause)
        except BaseException as exc:  # noqa: BLE001 - surfaced by stop()
            self.error = exc

    def wait_rows(self, n: int, timeout: float = 30.0) -> None:
        wait_until(lambda: len(self.committed) >= n or self.error, timeout=timeout,
                   what=f"{n} committed rows")

    def stop(self, timeout: float = 30.0) -> list[int]:
        self._stop_evt.set()
        self.join(timeout)
        if self.error:
            raise self.error
        return self.committed


# --------------------------------------------------------------------------
# pytest fixtures
# --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_workspace() -> Iterator[Workspace]:
    require_engine()
    ws = Workspace()
    yield ws
    if os.environ.get("PGENGINE_KEEP") != "1":  # keep logs/data for debugging
        ws.cleanup()


@pytest.fixture(scope="session")
def moto_s3(pg_workspace: Workspace) -> Iterator[MotoS3]:
    s3 = MotoS3(pg_workspace.root / "moto.log").start()
    try:
        s3.create_bucket("pgengine")
        yield s3
    finally:
        s3.stop()


@pytest.fixture
def object_store(moto_s3: MotoS3, request) -> ObjectStore:
    """A destinationPath unique to the test, so archives never mix across tests."""
    safe = "".join(c if c.isalnum() else "-" for c in request.node.name)[:60]
    return ObjectStore(s3=moto_s3, bucket="pgengine", prefix=f"{safe}-{uuid.uuid4().hex[:6]}")


class PgFactory:
    """Creates servers for one test and stops every one of them afterwards."""

    def __init__(self, ws: Workspace, prefix: str):
        self.ws, self.prefix = ws, prefix
        self.servers: list[PgServer] = []

    def _name(self, label: str) -> str:
        return self.ws.unique(f"{self.prefix}-{label}-")

    def initdb(self, label: str, *, archive_to=None, start: bool = True, **kw) -> PgServer:
        srv = PgServer.initdb(self.ws, self._name(label), **kw)
        self.servers.append(srv)
        srv.configure(archive_to=archive_to)
        return srv.start() if start else srv

    def restore(self, label: str, store: ObjectStore, server_name: str, **kw) -> PgServer:
        name = self._name(label)
        try:
            srv = restore(self.ws, store, server_name, name, **kw)
        except RecoveryFailed as exc:
            self.servers.append(exc.server)
            raise
        self.servers.append(srv)
        return srv

    def pg_upgrade_like(self, label: str, old: PgServer, *, archive_to=None, **kw) -> PgServer:
        srv = pg_upgrade_like(self.ws, self._name(label), old, **kw)
        self.servers.append(srv)
        srv.configure(archive_to=archive_to)
        return srv.start()

    def close(self) -> None:
        for srv in self.servers:
            try:
                # Teardown only needs the processes gone, not a clean shutdown.
                srv.stop("immediate", timeout=20)
            except Exception:  # noqa: BLE001 - best effort, keep stopping the rest
                pass


@pytest.fixture
def pg_factory(pg_workspace: Workspace, request) -> Iterator[PgFactory]:
    prefix = "t" + uuid.uuid4().hex[:4]
    factory = PgFactory(pg_workspace, prefix)
    try:
        yield factory
    finally:
        factory.close()
