"""The data half of an app's MariaDB on the real engine (Debian's mariadb-server and mariadb-backup, 10.11 here):
backups taken and restored the way mariadb-operator 26.6.0's Jobs do, under the prefix the renderer declares, in an
S3 server (moto) on 127.0.0.1; and the seed Job's script, as rendered, run with the real client against a server
whose app user has what the operator's Grant gives it (its database only: no FILE).

Needs mariadbd and its tools, and MINNOVA_PGENGINE_VENV (moto[server], boto3) for the S3 parts; skips naming what
is missing otherwise (.ci/run installs them)."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest

from minnova_idp.model.mysql_data import mysql_backup_prefix
from minnova_idp.render.mysql_data import SEED_SCRIPT_KEY, TLS_CA_DIR
from tests.render.test_mysql_data import data, objects, shop
from tests.support.mysqlengine import (
    MariaServer,
    OperatorBackups,
    binlog_gtid,
    replay_binlogs,
    require_engine,
    wait_next_second,
)
from tests.support.pgengine import MotoS3, Workspace

pytestmark = pytest.mark.integration


@pytest.fixture
def workspace():
    require_engine(s3=False)
    ws = Workspace()
    yield ws
    if os.environ.get("PGENGINE_KEEP") != "1":
        ws.cleanup()


@pytest.fixture
def servers(workspace):
    started: list[MariaServer] = []

    def make(name: str, install: bool = True) -> MariaServer:
        server = MariaServer(workspace, name)
        started.append(server)
        return server.install().start() if install else server
    yield make
    for server in started:
        server.stop()


@pytest.fixture
def s3(workspace):
    require_engine(s3=True)
    server = MotoS3(workspace.root / "moto.log").start()
    yield server
    server.stop()


def make_table(server: MariaServer) -> None:
    server.sql("CREATE DATABASE shop")
    server.sql("CREATE TABLE orders (id int PRIMARY KEY AUTO_INCREMENT, at datetime(6) DEFAULT now(6)) ENGINE=InnoDB",
               "shop")


def insert(server: MariaServer, n: int) -> None:
    server.sql("INSERT INTO orders () VALUES " + ", ".join(["()"] * n), "shop")


def ids(server: MariaServer) -> list[int]:
    return [int(row[0]) for row in server.sql("SELECT id FROM orders ORDER BY id", "shop")]


def test_a_full_backup_restores_into_a_new_server_and_says_what_it_loses(servers, s3, workspace):
    """(a) The daily PhysicalBackup, as the operator's Job takes it, under the prefix the renderer declares; a
    restore into a NEW server (the old one untouched) has every row up to the backup, and a single instance (no
    binlog archive) loses what came after it: the loss docs/mysql-data.md states."""
    app = shop()
    placed = data(app)
    backup_spec = objects(app)[("PhysicalBackup", "shop-mysql-daily")].manifest["spec"]
    assert backup_spec["storage"]["s3"]["prefix"] == mysql_backup_prefix(placed.server) == "mysql/shop-mysql/"
    assert backup_spec["compression"] == "gzip"
    bucket = backup_spec["storage"]["s3"]["bucket"]
    s3.create_bucket(bucket)
    work = workspace.pg_dir("backups", 0o755)
    store = OperatorBackups(s3, bucket, backup_spec["storage"]["s3"]["prefix"], work)

    old = servers("old")
    make_table(old)
    old.sql("CREATE USER 'shop'@'%' IDENTIFIED BY 'pw'")
    insert(old, 300)
    key = store.take(old)
    assert key.startswith("mysql/shop-mysql/physicalbackup-") and key.endswith(".xb.gz")
    wait_next_second()
    taken = datetime.now(timezone.utc)
    insert(old, 40)  # after the backup: only in the old server (and its binlogs)

    new = servers("new", install=False)
    store.restore_into(new, store.closest(taken))
    new.start()
    assert ids(new) == list(range(1, 301))
    assert ids(old) == list(range(1, 341))  # the source is untouched: the 40 rows are still there to copy over
    # the restored server is a whole server: its users and grants came with it (mysql.global_priv is in the backup)
    assert new.sql("SELECT COUNT(*) FROM mysql.global_priv WHERE User = 'shop'") == [["1"]]


def test_a_point_in_time_restore_replays_binlogs_to_the_second(servers, s3, workspace):
    """Replicated servers archive binary logs (PointInTimeRecovery): the restore replays them from the backup's
    GTID up to the target time with the operator's mariadb-binlog command: rows before the time are back, rows after
    it are not."""
    bucket = f"pitr-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(bucket)
    work = workspace.pg_dir("pitr", 0o755)
    store = OperatorBackups(s3, bucket, "mysql/shop-mysql/", work)
    old = servers("pitr-old")
    make_table(old)
    insert(old, 100)
    store.take(old)
    wait_next_second()
    insert(old, 20)  # 101-120: before the target
    wait_next_second()
    target = datetime.now(timezone.utc).replace(microsecond=0)
    wait_next_second()
    insert(old, 5)  # 121-125: after it (the bad change a point-in-time restore undoes)
    old.sql("FLUSH BINARY LOGS")

    new = servers("pitr-new", install=False)
    prepared = store.restore_into(new, store.closest(target))
    new.start()
    gtid = binlog_gtid(prepared)
    assert gtid, "mariadb-backup recorded no binlog position"
    replay_binlogs(old, new, gtid, target)
    assert ids(new) == list(range(1, 121))


# ---- the seed Job's script, as rendered, with the real client --------------------------------------------------------

def _seed_run(server: MariaServer, tmp: Path, files: dict[str, str], *, path_dir: Path | None = None,
              without: tuple[str, ...] = (), env_without: tuple[str, ...] = (),
              ca_dir: Path | None = None) -> subprocess.CompletedProcess:
    """Run the seed Job's container command against `server` as the app user: the ConfigMap's script and files
    at what /seed/ would be, the container's env with the Secret's values."""
    app = shop({"seed": {"files": [f"seed/{name}" for name in files]}})
    found = objects(app, seed=tuple(files.items()), preview=True)
    config_map = found[("ConfigMap", "shop-mysql-seed")].manifest["data"]
    (container,) = found[("Job", "shop-mysql-seed")].manifest["spec"]["template"]["spec"]["containers"]
    seed_dir = tmp / "seed"
    seed_dir.mkdir(exist_ok=True)
    for name, text in config_map.items():
        script = text
        for option in without:
            script = script.replace(f" {option}", "")
        (seed_dir / name).write_text(script)
    secret = {"password": "shop-password"}  # the app Secret's key (render/mysql.py PASSWORD_KEY)
    here = {"MYSQL_HOST": "127.0.0.1", "MYSQL_PORT": str(server.port)}  # the Service, on this machine
    env = {"PATH": f"{path_dir}:{os.environ['PATH']}" if path_dir else os.environ["PATH"], "LC_ALL": "C"}
    for entry in container["env"]:
        if entry["name"] in env_without:
            continue
        env[entry["name"]] = (secret[entry["valueFrom"]["secretKeyRef"]["key"]] if "valueFrom" in entry
                              else here.get(entry["name"], entry["value"]))
    assert env["MYSQL_USER"] == "shop" and env["MYSQL_DATABASE"] == "shop"
    env["HOME"] = str(tmp)
    argv = [part.replace("/seed/", f"{seed_dir}/") for part in container["command"]]
    # the server's CA where the Job mounts its `<server>-ca-bundle` Secret (render/mysql_data.py TLS_CA_DIR)
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == TLS_CA_DIR]
    script_file = seed_dir / SEED_SCRIPT_KEY
    script_file.write_text(script_file.read_text().replace(f"{TLS_CA_DIR}/", f"{ca_dir or server.ca_dir}/"))
    assert argv[:2] == ["bash", f"{seed_dir}/{SEED_SCRIPT_KEY}"]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, cwd=tmp)


def make_tls(directory: Path, ip: str) -> Path:
    """A CA and a server certificate for `ip` (openssl), readable by the server's user."""
    directory.mkdir(mode=0o755)

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
            "-subj", "/CN=shop-mysql-ca")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
            "-subj", "/CN=shop-mysql")
    (directory / "san.ext").write_text(f"subjectAltName=IP:{ip},DNS:shop-mysql.shop-prod.svc\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.crt", "-days", "2", "-extfile", "san.ext")
    for file in directory.iterdir():
        file.chmod(0o644)
    return directory


@pytest.fixture(scope="module")
def seed_server():
    require_engine(s3=False)
    ws = Workspace()
    server = MariaServer(ws, "seed").install()
    # TLS as the operator sets it up: a CA, a server certificate naming the host the client is given (here
    # 127.0.0.1, in the cluster `<service>.<namespace>.svc`), TLS optional on the server.
    server.ca_dir = make_tls(server.root / "tls", "127.0.0.1")
    server.extra_args = [f"--ssl-ca={server.ca_dir}/ca.crt", f"--ssl-cert={server.ca_dir}/server.crt",
                         f"--ssl-key={server.ca_dir}/server.key"]
    server.start()
    # What the operator's User and Grant give the app (render/mysql.py): its own database, nothing global.
    server.sql("CREATE USER 'shop'@'%' IDENTIFIED BY 'shop-password'")
    server.sql("GRANT ALL PRIVILEGES ON `shop`.* TO 'shop'@'%'")
    yield server
    server.stop()
    if os.environ.get("PGENGINE_KEEP") != "1":
        ws.cleanup()


@pytest.fixture
def app_server(seed_server):
    seed_server.sql("DROP DATABASE IF EXISTS shop")
    seed_server.sql("CREATE DATABASE shop")
    return seed_server


def test_the_seed_runs_once_as_the_app_user(app_server, tmp_path):
    files = {"schema.sql": "CREATE TABLE t (id int PRIMARY KEY, note text);\n",
             "demo.sql": "INSERT INTO t VALUES (1, 'it''s \\\\ fine');\nDELIMITER //\nCREATE PROCEDURE p() BEGIN "
                         "SELECT 1; END //\nDELIMITER ;\n"}
    first = _seed_run(app_server, tmp_path, files)
    assert first.returncode == 0, first.stderr
    assert app_server.sql("SELECT id, note FROM t", "shop") == [["1", "it's \\\\ fine"]]
    again = _seed_run(app_server, tmp_path, files)
    assert again.returncode == 0 and "already seeded" in again.stdout
    assert app_server.sql("SELECT done FROM minnova_seed", "shop") == [["1"]]


def test_a_seed_that_failed_half_way_fails_again_never_reports_success(app_server, tmp_path):
    """Review of issue 26, finding 3: the old script saw tables after a failed first attempt and exited 0 on the
    retry, the seed half applied. The marker is written only after every file succeeded."""
    files = {"a.sql": "CREATE TABLE accounts (id int);\nINSERT INTO accounts VALUES (1);\n"
                      "INSERT INTO no_such_table VALUES (2);\nINSERT INTO accounts VALUES (3);\n"}
    first = _seed_run(app_server, tmp_path, files)
    assert first.returncode != 0 and "no_such_table" in first.stderr
    retry = _seed_run(app_server, tmp_path, files)
    assert retry.returncode == 1 and "an earlier seed failed half-way" in retry.stderr
    assert app_server.sql("SELECT done FROM minnova_seed", "shop") == [["0"]]


def test_a_database_that_already_holds_tables_is_not_seeded(app_server, tmp_path):
    app_server.sql("CREATE TABLE mine (id int)", "shop")
    result = _seed_run(app_server, tmp_path, {"a.sql": "CREATE TABLE t (id int);\n"})
    assert result.returncode == 0 and "already holds tables; not seeded" in result.stdout
    assert app_server.sql("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'shop'") == [["1"]]


@pytest.mark.parametrize("escape", ["system touch {marker}", "\\! touch {marker}", "source {other}",
                                    "\\. {other}", "tee {marker}"])
def test_the_seed_cannot_run_programs_or_read_files(app_server, tmp_path, escape):
    """(b) `system`, `\\!`, `source`, `tee`: refused by --sandbox; the Job fails at that line."""
    marker, other = tmp_path / "ran", tmp_path / "other.sql"
    other.write_text("system touch " + str(marker) + "\n")
    result = _seed_run(app_server, tmp_path, {"a.sql": "CREATE TABLE t (id int);\n" +
                                              escape.format(marker=marker, other=other) + "\nSELECT 1;\n"})
    assert result.returncode != 0 and "Not allowed in the sandbox mode" in result.stderr
    assert not marker.exists()


def test_without_sandbox_the_shell_escape_runs(app_server, tmp_path):
    """The failure --sandbox prevents, reproduced: the same file through the client without it runs the program."""
    marker = tmp_path / "ran"
    result = _seed_run(app_server, tmp_path, {"a.sql": f"CREATE TABLE t (id int);\n\\! touch {marker}\n"},
                       without=("--sandbox",))
    assert result.returncode == 0, result.stderr
    assert marker.exists()


@pytest.mark.parametrize("statement, refusal", [
    ("LOAD DATA LOCAL INFILE '{secret}' INTO TABLE t;", "disabled the local infile capability"),
    ("SELECT 'x' INTO OUTFILE '{out}';", "FILE privilege"),
    ("LOAD DATA INFILE '/etc/passwd' INTO TABLE t;", "Access denied for user 'shop'"),  # FILE, needed there
    ("SELECT 1 / (LOAD_FILE('/etc/passwd') IS NOT NULL);", None),  # no FILE: NULL, so 1/0 is NULL, not an error
])
def test_the_seed_cannot_load_local_files_or_touch_server_files(app_server, tmp_path, statement, refusal):
    secret, out = tmp_path / "secret.txt", tmp_path / "out.txt"
    secret.write_text("s3cr3t\n")
    result = _seed_run(app_server, tmp_path, {"a.sql": "CREATE TABLE t (v text);\n" +
                                              statement.format(secret=secret, out=out) + "\n"})
    if refusal is None:
        assert result.returncode == 0 and result.stdout.split()[-3:] == ["NULL", "minnova-idp:", "seeded"], \
            result.stdout
    else:
        assert result.returncode != 0 and refusal in result.stderr, result.stderr
    assert not out.exists() and app_server.sql("SELECT COUNT(*) FROM t", "shop") == [["0"]]


def test_edit_runs_no_program_of_the_apps_choosing(app_server, tmp_path):
    """Sandbox mode leaves `\\e` on (MDEV-21778): the client runs $EDITOR, else `vi`, even in batch mode. With the
    Job's EDITOR/VISUAL (/bin/false) nothing else runs; without them, the `vi` first on PATH does."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    marker = tmp_path / "vi-ran"
    (bin_dir / "vi").write_text(f"#!/bin/sh\ntouch {marker}\n")
    (bin_dir / "vi").chmod(0o755)
    sql = {"a.sql": "CREATE TABLE t (id int);\n\\e\nSELECT 1;\n"}
    _seed_run(app_server, tmp_path, sql, path_dir=bin_dir)
    assert not marker.exists()
    app_server.sql("DROP TABLE IF EXISTS shop.t, shop.minnova_seed")  # a fresh database again
    _seed_run(app_server, tmp_path, sql, path_dir=bin_dir, env_without=("EDITOR", "VISUAL"))
    assert marker.exists()


# ---- (c) another app's backups, with this app's key ---------------------------------------------------------------

_IAM_SETUP = """
import json, sys, boto3, botocore.exceptions
url, mine, theirs = sys.argv[1], sys.argv[2], sys.argv[3]
def client(service, key="unchecked", secret="unchecked"):
    return boto3.client(service, endpoint_url=url, region_name="us-east-1", aws_access_key_id=key,
                        aws_secret_access_key=secret)
iam = client("iam")
keys = {}
for user, bucket in (("admin", "*"), ("mine", mine)):
    iam.create_user(UserName=user)
    resources = ["*"] if bucket == "*" else [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]
    # What the environment's R2 token is: object read and write on its one bucket (render/database.py
    # R2_PERMISSION_GROUPS, r2_bucket_resource), as an IAM policy moto enforces.
    actions = ["*"] if bucket == "*" else ["s3:GetObject", "s3:PutObject", "s3:ListBucket", "s3:DeleteObject"]
    iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": resources}]}))
    k = iam.create_access_key(UserName=user)["AccessKey"]
    keys[user] = (k["AccessKeyId"], k["SecretAccessKey"])
for _ in range(20):
    try:
        client("s3").list_buckets()
    except botocore.exceptions.ClientError:
        break
admin = client("s3", *keys["admin"])
for bucket in (mine, theirs):
    admin.create_bucket(Bucket=bucket)
    admin.put_object(Bucket=bucket, Key="mysql/x-mysql/physicalbackup-20261207030000.xb.gz", Body=b"data")
me = client("s3", *keys["mine"])
# (moto 5.2.6 answers ListObjectsV2 AccessDenied even for a bucket the policy allows s3:ListBucket on, so the own
# bucket is checked by reading and writing an object.)
out = {"own": me.get_object(Bucket=mine, Key="mysql/x-mysql/physicalbackup-20261207030000.xb.gz")["Body"].read().decode()}
me.put_object(Bucket=mine, Key="mysql/x-mysql/new", Body=b"x")
for what, call in (("list", lambda: me.list_objects_v2(Bucket=theirs, Prefix="mysql/")),
                   ("get", lambda: me.get_object(Bucket=theirs, Key="mysql/x-mysql/physicalbackup-20261207030000.xb.gz")),
                   ("put", lambda: me.put_object(Bucket=theirs, Key="mysql/x-mysql/evil", Body=b"x"))):
    try:
        call()
        out[what] = "allowed"
    except botocore.exceptions.ClientError as exc:
        out[what] = exc.response["Error"]["Code"]
print(json.dumps(out))
"""


def test_another_apps_backups_cannot_be_read_with_this_apps_key(workspace, monkeypatch):
    """(c) Each app environment's backups are in its own bucket, and its key opens that bucket only (R2 tokens are
    scoped to buckets, never to prefixes: render/database.py). moto's IAM stands in for R2's token policy."""
    from tests.support.pgengine import ENGINE_VENV

    require_engine(s3=True)
    python = Path(ENGINE_VENV) / "bin" / "python"
    mine = objects(shop())[("PhysicalBackup", "shop-mysql-daily")].manifest["spec"]["storage"]["s3"]["bucket"]
    other = shop().model_copy(update={"name": "blog"})
    theirs = data(other).backup.bucket
    assert mine != theirs
    monkeypatch.setenv("INITIAL_NO_AUTH_ACTION_COUNT", "8")
    server = MotoS3(workspace.root / "moto-iam.log").start()
    try:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        result = subprocess.run([str(python), "-c", _IAM_SETUP, server.endpoint_url, mine, theirs], env=clean,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr[-2000:]
        outcome = json.loads(result.stdout)
    finally:
        server.stop()
    assert outcome == {"own": "data", "list": "AccessDenied", "get": "AccessDenied", "put": "AccessDenied"}


def test_backups_are_named_for_the_operators_restore(s3, workspace):
    """The operator lists the prefix without recursion and keeps only `physicalbackup-<time>.xb[.gz]` names
    (pkg/backup/processor.go:253-271): the binlog prefix below it, and PostgreSQL's archive beside it, are never
    taken for a backup or pruned by its retention."""
    bucket = f"layout-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(bucket)
    client = s3.client()
    for key in ("shop-db/base/20261207T030000/data.tar", "shop-db/wals/0000000100000000/000000010000000000000001",
                "mysql/shop-mysql/binlogs/server-10/binlog.000001.gz", "mysql/shop-mysql-2/physicalbackup-20261206030000.xb.gz"):
        client.put_object(Bucket=bucket, Key=key, Body=b"x")
    store = OperatorBackups(s3, bucket, "mysql/shop-mysql/", workspace.pg_dir("layout-backups", 0o755))
    key = "mysql/shop-mysql/physicalbackup-20261207030000.xb.gz"  # the name store.take gives (test above)
    client.put_object(Bucket=bucket, Key=key, Body=b"x")
    assert store.keys() == [key]
    assert store.closest(datetime(2026, 12, 7, 3, 0, 1, tzinfo=timezone.utc)) == key
    with pytest.raises(LookupError):
        store.closest(datetime(2026, 12, 7, 2, 59, 59, tzinfo=timezone.utc))


def test_the_seed_client_verifies_the_servers_certificate(app_server, tmp_path):
    """Review of issue 26, finding 8: the client is given the server's CA (the operator's `<server>-ca-bundle`) and
    verifies the server against it; a server it cannot verify is refused, not trusted."""
    files = {"a.sql": "CREATE TABLE t (id int);\n"}
    result = _seed_run(app_server, tmp_path, files)
    assert result.returncode == 0, result.stderr
    other_ca = make_tls(tmp_path / "other-ca", "127.0.0.1")
    app_server.sql("DROP DATABASE shop")
    app_server.sql("CREATE DATABASE shop")
    refused = _seed_run(app_server, tmp_path, files, ca_dir=other_ca)
    assert refused.returncode != 0 and "certificate" in refused.stderr.lower(), refused.stderr
