"""The app user's grant on a real MariaDB (mariadbd of Debian's mariadb-server, on 127.0.0.1): the statements
mariadb-operator 26.6.0 runs for the rendered Database, User and Grant, then what that user can and cannot do.

The operator's statements, rebuilt from the rendered objects exactly as its SQL client writes them:
`CREATE DATABASE \\`<name>\\` CHARACTER SET = '<cs>' COLLATE = '<co>' ;` (mariadb-operator@v26.6.0 pkg/sql/sql.go:671-690),
`CREATE USER IF NOT EXISTS '<user>'@'<host>' IDENTIFIED BY '<password>' WITH MAX_USER_CONNECTIONS <n> ;`
(sql.go:491-530; the account name: api/v1alpha1/user_types.go:133-135) and
`GRANT <privileges> ON \\`<db>\\`.* TO '<user>'@'<host>' ;` (sql.go:587-612, 659-664).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from minnova_idp.render.resources import plain
from tests.conftest import stop_process
from tests.render.test_mysql import declared

pytestmark = pytest.mark.integration

MARIADBD = shutil.which("mariadbd") or "/usr/sbin/mariadbd"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not Path(MARIADBD).exists() or not shutil.which("mariadb-install-db") or not shutil.which("mariadb"):
        pytest.skip("mariadb-server is not installed (Debian: apt-get install mariadb-server)")
    base = tmp_path_factory.mktemp("mariadb")
    data, sock, port = base / "data", base / "mysqld.sock", _free_port()
    subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={data}", "--user=root",
                    "--auth-root-authentication-method=socket", "--skip-test-db"],
                   check=True, capture_output=True, timeout=120)
    process = subprocess.Popen([MARIADBD, "--no-defaults", f"--datadir={data}", f"--socket={sock}", f"--port={port}",
                                "--bind-address=127.0.0.1", "--user=root", f"--pid-file={base / 'mariadbd.pid'}",
                                "--skip-log-bin", f"--secure-file-priv={base}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while subprocess.run(["mariadb", "--no-defaults", f"--socket={sock}", "-uroot", "-e", "select 1"],
                             capture_output=True).returncode != 0:
            if time.monotonic() > deadline or process.poll() is not None:
                pytest.fail("mariadbd did not start")
            time.sleep(0.2)
        yield {"socket": sock, "port": port, "dir": base}
    finally:
        stop_process(process, timeout=30)


def _root(server, sql: str) -> str:
    result = subprocess.run(["mariadb", "--no-defaults", f"--socket={server['socket']}", "-uroot", "-N", "-B", "-e", sql],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _as_app(server, user: str, password: str, sql: str) -> subprocess.CompletedProcess:
    # Over TCP, as the app connects ('%' host); the password through the environment, never argv.
    return subprocess.run(["mariadb", "--no-defaults", "--protocol=TCP", "-h127.0.0.1", f"-P{server['port']}",
                           f"-u{user}", "-N", "-B", "-e", sql], capture_output=True, text=True, timeout=60,
                          env={"MYSQL_PWD": password, "PATH": "/usr/bin:/bin"})


@pytest.fixture(scope="module")
def app_user(server):
    objects = declared("dev")
    database = objects[("Database", "books-mysql")].manifest["spec"]
    user = objects[("User", "books-mysql")].manifest["spec"]
    grant = objects[("Grant", "books-mysql")].manifest["spec"]
    password = plain(objects[("Secret", "books-mysql-app")].manifest["stringData"])["password"]
    account = f"'{user['name']}'@'{user['host']}'"
    _root(server, f"CREATE DATABASE `{database['name']}` CHARACTER SET = '{database['characterSet']}' "
                  f"COLLATE = '{database['collate']}' ;")
    _root(server, f"CREATE USER IF NOT EXISTS {account} IDENTIFIED BY '{password}' "
                  f"WITH MAX_USER_CONNECTIONS {user['maxUserConnections']} ;")
    assert not grant["grantOption"]
    _root(server, f"GRANT {','.join(grant['privileges'])} ON `{grant['database']}`.{grant['table']} TO "
                  f"'{grant['username']}'@'{grant['host']}' ;")
    # Another app's database on the same server, which the grant must not open.
    _root(server, "CREATE DATABASE other; CREATE TABLE other.secrets (v text); INSERT INTO other.secrets VALUES ('x');")
    return user["name"], password


def test_the_app_uses_its_own_database_fully(server, app_user):
    user, password = app_user
    sql = ("CREATE TABLE books.entries (id int primary key auto_increment, amount decimal(10,2), note text); "
           "INSERT INTO books.entries (amount, note) VALUES (1.50, '☕ coffee'); "
           "CREATE INDEX by_amount ON books.entries (amount); ALTER TABLE books.entries ADD COLUMN at datetime; "
           "CREATE VIEW books.totals AS SELECT sum(amount) s FROM books.entries; "
           "CREATE TRIGGER books.t BEFORE INSERT ON books.entries FOR EACH ROW SET NEW.at = NOW(); "
           "CREATE PROCEDURE books.p() SELECT 1; CALL books.p(); "
           "CREATE TEMPORARY TABLE books.scratch (x int); LOCK TABLES books.entries WRITE; UNLOCK TABLES; "
           "SELECT note FROM books.entries;")
    result = _as_app(server, user, password, sql)
    assert result.returncode == 0, result.stderr
    assert "☕ coffee" in result.stdout  # utf8mb4: four-byte characters kept


@pytest.mark.parametrize("sql, refused", [
    ("SELECT * FROM other.secrets", "denied"),                                   # another app's database
    ("CREATE DATABASE sneaky", "denied"),                                        # no new databases
    ("SELECT LOAD_FILE('/etc/passwd') IS NULL", None),                            # FILE: NULL, never the file
    ("SELECT 1 INTO OUTFILE '{dir}/out.txt'", "denied"),                          # FILE
    ("SHOW GRANTS FOR root@localhost", "denied"),
    ("CREATE USER intruder IDENTIFIED BY 'x'", "denied"),                        # CREATE USER
    ("GRANT SELECT ON books.* TO 'other'@'%'", "denied"),                        # no GRANT OPTION
    ("SET GLOBAL max_connections = 1", "denied"),                                # SUPER
    ("SELECT user FROM mysql.user", "denied"),                                   # the system tables
    ("KILL 1", None),                                                            # PROCESS/SUPER: not its thread
])
def test_the_app_user_cannot_leave_its_database(server, app_user, sql, refused):
    user, password = app_user
    result = _as_app(server, user, password, sql.format(dir=server["dir"]))
    if sql.startswith("SELECT LOAD_FILE"):
        assert result.returncode == 0 and result.stdout.strip() == "1", result  # NULL: no FILE privilege
    elif sql.startswith("KILL"):
        assert result.returncode != 0 and ("not owner" in result.stderr or "Unknown thread" in result.stderr), result
    else:
        assert result.returncode != 0 and refused in result.stderr.lower(), (sql, result.stdout, result.stderr)


def test_the_user_sees_only_its_own_connections_and_holds_no_global_privilege(server, app_user):
    user, password = app_user
    result = _as_app(server, user, password, "SHOW GRANTS")
    assert result.returncode == 0, result.stderr
    grants = result.stdout.splitlines()
    assert grants[0].startswith(f"GRANT USAGE ON *.* TO `{user}`@`%`")  # USAGE: no global privilege at all
    assert all("ON `books`.*" in line for line in grants[1:]) and "WITH GRANT OPTION" not in result.stdout
    listed = _as_app(server, user, password, "SELECT count(*) FROM information_schema.processlist WHERE user <> '"
                     + user + "'")
    assert listed.returncode == 0 and listed.stdout.strip() == "0"  # no PROCESS: other sessions are invisible
    limit = _root(server, f"SELECT max_user_connections FROM mysql.user WHERE user = '{user}'").strip()
    assert limit == "100"
