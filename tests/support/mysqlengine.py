"""Real-engine harness for the MariaDB data path: Debian's mariadbd on 127.0.0.1 (a throwaway datadir, as `nobody`
when root), backups and restores with the tools and flags mariadb-operator 26.6.0's Jobs run, and the moto S3 server
of tests/support/pgengine.py (MINNOVA_PGENGINE_VENV).

What the operator runs, mirrored here (mariadb-operator@v26.6.0):
* backup: `mariadb-backup <conn> --backup --stream=xbstream --databases-exclude='lost+found' > file`
  (pkg/command/backup.go:258-298, 628-651), then `mariadb-operator backup` gzips it
  (pkg/compression/compressor.go:46-63) to `physicalbackup-<YYYYMMDDhhmmss>.xb.gz`
  (internal/controller/physicalbackup_controller_job.go:416-426) and uploads it under the prefix
  (pkg/minio/minio.go:289-306).
* restore: the closest backup at or before the target time (pkg/backup/processor.go:198-234), then `mbstream -x -C
  dir < file`, `mariadb-backup --prepare --target-dir=dir`, `mariadb-backup --copy-back --target-dir=dir
  --force-non-empty-directories` (pkg/command/backup.go:427-477) into the new server's empty datadir.
* point in time: `mariadb-binlog --start-position=<gtid of the backup> --stop-datetime=<target> <binlogs> | mariadb`
  (pkg/command/backup.go:592-626; the GTID from the backup's binlog info, copyBinlogMetaCmds).
The operator's image mounts the data volume at the default datadir; here `--datadir` names the throwaway one, and
`--no-defaults` keeps this machine's /etc/mysql out.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.support.pgengine import (
    ENGINE_VENV,
    PG_USER,
    Workspace,
    _engine_imports,
    _pg_identity,
    chown_to_pg,
    free_port,
    tool,
    wait_until,
)

MARIADBD = Path(os.environ.get("MYSQLENGINE_MARIADBD", "/usr/sbin/mariadbd"))
CLIENT_TOOLS = ("mariadb", "mariadb-install-db", "mariadb-backup", "mbstream", "mariadb-binlog")


def missing_requirements(s3: bool = True) -> list[str]:
    missing = [] if MARIADBD.exists() else [f"{MARIADBD} (apt-get install mariadb-server)"]
    missing += [f"{name} (apt-get install mariadb-server mariadb-backup)" for name in CLIENT_TOOLS
                if not shutil.which(name)]
    if s3:
        if not ENGINE_VENV:
            missing.append("MINNOVA_PGENGINE_VENV (moto[server] and boto3; .ci/run builds it)")
        elif why := _engine_imports():
            missing.append(why)
        elif not tool("moto_server"):
            missing.append("moto_server in MINNOVA_PGENGINE_VENV")
    return missing


def require_engine(s3: bool = True) -> None:
    missing = missing_requirements(s3)
    if missing:
        pytest.skip("MariaDB engine prerequisites missing: " + ", ".join(missing))


def run(cmd: list[str], *, as_server_user: bool = True, stdin=None, env: dict | None = None, check: bool = True,
        timeout: float = 120) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, stdin=stdin, capture_output=True, timeout=timeout, cwd="/",
                          env=env if env is not None else {"PATH": os.environ.get("PATH", ""), "LC_ALL": "C", "TZ": "UTC"},
                          **(_pg_identity() if as_server_user else {}))
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.decode()[-2000:]}")
    return proc


class MariaServer:
    """One mariadbd with its own datadir, socket and port, binary logs on (what replication turns on)."""

    def __init__(self, ws: Workspace, name: str):
        self.ws, self.name = ws, name
        self.root = ws.pg_dir(name, 0o755)
        self.datadir = self.root / "data"
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.extra_args: list[str] = []  # more mariadbd options (TLS: --ssl-cert, --ssl-key)

    def install(self) -> "MariaServer":
        self.datadir.mkdir()
        chown_to_pg(self.datadir)
        run(["mariadb-install-db", "--no-defaults", f"--datadir={self.datadir}", "--auth-root-authentication-method=normal",
             "--skip-test-db"])
        return self

    def start(self) -> "MariaServer":
        log = self.root / "server.err"
        self.proc = subprocess.Popen(
            [str(MARIADBD), "--no-defaults", f"--datadir={self.datadir}", f"--socket={self.root}/mysqld.sock",
             f"--port={self.port}", "--bind-address=127.0.0.1", f"--pid-file={self.root}/mysqld.pid",
             f"--log-error={log}", "--log-bin=binlog", "--server-id=1", "--skip-name-resolve",
             "--innodb-buffer-pool-size=16M", "--innodb-log-file-size=8M", "--performance-schema=OFF",
             *self.extra_args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/", **_pg_identity())

        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError(f"mariadbd exited: {log.read_text()[-2000:] if log.exists() else ''}")
            return self.client(["--execute=SELECT 1"], check=False).returncode == 0
        wait_until(ready, timeout=60, interval=0.2, what=f"mariadbd {self.name}")
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)

    def client(self, args: list[str], user: str = "root", password: str = "", stdin=None, check: bool = True,
               env: dict | None = None) -> subprocess.CompletedProcess:
        env = {"PATH": os.environ.get("PATH", ""), "MYSQL_PWD": password, **(env or {})}
        return run(["mariadb", "--no-defaults", "--host=127.0.0.1", f"--port={self.port}", f"--user={user}", *args],
                   as_server_user=False, stdin=stdin, env=env, check=check)

    def sql(self, query: str, database: str = "") -> list[list[str]]:
        out = self.client(["--batch", "--skip-column-names", *([f"--database={database}"] if database else []),
                           f"--execute={query}"]).stdout.decode()
        return [line.split("\t") for line in out.splitlines()]

    def binlogs(self) -> list[Path]:
        index = (self.datadir / "binlog.index").read_text().split()
        return [self.datadir / Path(name).name for name in index]


class OperatorBackups:
    """Physical backups as mariadb-operator's PhysicalBackup Job takes them, in an S3 bucket under a prefix."""

    def __init__(self, s3, bucket: str, prefix: str, work: Path):
        self.s3, self.bucket, self.prefix, self.work = s3, bucket, prefix, work

    def take(self, server: MariaServer, at: datetime | None = None) -> str:
        at = at or datetime.now(timezone.utc)
        name = f"physicalbackup-{at.strftime('%Y%m%d%H%M%S')}.xb"
        stream = self.work / name
        with open(stream, "wb") as out:
            # pkg/command/backup.go:290-294 and 632-638 (no --slave-info: the primary; no TLS here)
            proc = subprocess.run(["mariadb-backup", "--no-defaults", f"--datadir={server.datadir}", "--user=root",
                                   "--password=", "--host=127.0.0.1", f"--port={server.port}", "--backup",
                                   "--stream=xbstream", "--databases-exclude=lost+found"],
                                  stdout=out, stderr=subprocess.PIPE, cwd="/", timeout=300, **_pg_identity())
        if proc.returncode != 0:
            raise RuntimeError(f"mariadb-backup failed: {proc.stderr.decode()[-2000:]}")
        compressed = stream.with_name(name + ".gz")
        with open(stream, "rb") as raw, gzip.open(compressed, "wb") as gz:
            shutil.copyfileobj(raw, gz)
        key = self.prefix + compressed.name
        self.s3.client().upload_file(str(compressed), self.bucket, key)
        return key

    def keys(self) -> list[str]:
        listed = self.s3.client().list_objects_v2(Bucket=self.bucket, Prefix=self.prefix, Delimiter="/")
        return sorted(o["Key"] for o in listed.get("Contents", []))

    def closest(self, target: datetime) -> str:
        """pkg/backup/processor.go:198-234: the latest backup taken at or before `target`."""
        dated = [(datetime.strptime(k.rsplit("/", 1)[-1].split(".")[0].removeprefix("physicalbackup-"),
                                    "%Y%m%d%H%M%S").replace(tzinfo=timezone.utc), k) for k in self.keys()]
        candidates = [(at, key) for at, key in dated if at <= target]
        if not candidates:
            raise LookupError("no valid backup files were found")
        return max(candidates)[1]

    def restore_into(self, server: MariaServer, key: str) -> Path:
        """Download, gunzip, extract, prepare and copy back into `server`'s empty datadir (not started)."""
        local = self.work / f"restore-{server.name}.xb.gz"
        self.s3.client().download_file(self.bucket, key, str(local))
        stream = local.with_suffix("")
        with gzip.open(local, "rb") as gz, open(stream, "wb") as raw:
            shutil.copyfileobj(gz, raw)
        chown_to_pg(stream)
        target = self.ws_dir(f"full-{server.name}")
        with open(stream, "rb") as src:
            run(["mbstream", "-x", "-C", str(target)], stdin=src)
        run(["mariadb-backup", "--no-defaults", "--prepare", f"--target-dir={target}"], timeout=300)
        server.datadir.mkdir()
        chown_to_pg(server.datadir)
        run(["mariadb-backup", "--no-defaults", "--copy-back", f"--target-dir={target}", "--force-non-empty-directories",
             f"--datadir={server.datadir}"], timeout=300)
        return target

    def ws_dir(self, name: str) -> Path:
        path = self.work / name
        path.mkdir()
        chown_to_pg(path)
        return path


def binlog_gtid(prepared: Path) -> str:
    """The GTID position the backup ends at (mariadb-backup writes it beside the data; the operator copies it as the
    binlog replay's start, pkg/command/backup.go:781-799 copyBinlogMetaCmds: `mariadb_backup_binlog_info`, or the
    legacy `xtrabackup_binlog_info` that 10.11 writes, pkg/replication/replication.go:5-8)."""
    for name in ("mariadb_backup_binlog_info", "xtrabackup_binlog_info"):
        if (prepared / name).exists():
            info = (prepared / name).read_text().split()
            return info[2] if len(info) >= 3 else ""
    return ""


def replay_binlogs(source: MariaServer, target: MariaServer, start_gtid: str, stop: datetime) -> None:
    """pkg/command/backup.go:607-625: mariadb-binlog from the backup's GTID up to the target time, piped into
    the new server."""
    binlog = subprocess.run(["mariadb-binlog", "--no-defaults", f"--start-position={start_gtid}",
                             f"--stop-datetime={stop.strftime('%Y-%m-%d %H:%M:%S')}",
                             *map(str, source.binlogs())], capture_output=True, timeout=120,
                            env={"PATH": os.environ.get("PATH", ""), "TZ": "UTC"})
    if binlog.returncode != 0:
        raise RuntimeError(binlog.stderr.decode()[-2000:])
    proc = subprocess.run(["mariadb", "--no-defaults", "--host=127.0.0.1", f"--port={target.port}", "--user=root"],
                          input=binlog.stdout, capture_output=True, timeout=120,
                          env={"PATH": os.environ.get("PATH", ""), "MYSQL_PWD": ""})
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.decode()[-2000:])


def wait_next_second() -> None:
    """Backup names and --stop-datetime have one-second resolution."""
    now = time.time()
    time.sleep(1.05 - (now - int(now)))


__all__ = ["MariaServer", "OperatorBackups", "PG_USER", "binlog_gtid", "replay_binlogs", "require_engine",
           "wait_next_second"]
