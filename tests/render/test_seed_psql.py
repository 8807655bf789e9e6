"""The seed Job's script, run by real psql against a real PostgreSQL on 127.0.0.1 (what the Job does in the
cluster: `psql $DATABASE_URL --single-transaction -f /seed/minnova-seed.psql`, the files as the ConfigMap mounts
them). Skips, saying why, where PostgreSQL's server binaries are not installed (.ci/run installs them as root)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from minnova_idp.model.app_config import AppConfig
from minnova_idp.render.database_placement import DatabasePlacement
from minnova_idp.render.sql_jobs import SEED_SCRIPT_KEY, render_seed_job, seed_script

pytestmark = pytest.mark.integration  # runs a PostgreSQL server and psql


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def database_url():
    initdb, pg_ctl, psql = _binary("initdb"), _binary("pg_ctl"), _binary("psql")
    if not (initdb and pg_ctl and psql):
        pytest.skip("PostgreSQL (initdb, pg_ctl, psql) is not installed: apt-get install postgresql")
    # PostgreSQL refuses to run as root: as root, run the server as `nobody`.
    run_as: list[str] = []
    if os.geteuid() == 0:
        runuser = shutil.which("runuser")
        if not runuser:
            pytest.skip("running as root without runuser: PostgreSQL will not start as root")
        run_as = [runuser, "-u", "nobody", "--"]
    home = Path(tempfile.mkdtemp(prefix="minnova-pg-"))
    home.chmod(0o777)
    data, port = home / "data", _free_port()
    subprocess.run([*run_as, initdb, "-D", str(data), "-A", "trust", "-U", "app", "--no-sync", "-E", "UTF8"],
                   check=True, capture_output=True, timeout=120)
    subprocess.run([*run_as, pg_ctl, "-D", str(data), "-l", str(home / "log"), "-w", "-t", "60", "-o",
                    f"-k {home} -h 127.0.0.1 -p {port} -c fsync=off", "start"],
                   check=True, capture_output=True, timeout=120)
    try:
        yield f"postgresql://app@127.0.0.1:{port}", psql
    finally:
        subprocess.run([*run_as, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(home, ignore_errors=True)


def _seed_dir(tmp_path: Path, files: dict[str, str]) -> Path:
    seed = tmp_path / "seed"
    seed.mkdir(parents=True)
    for name, sql in files.items():
        (seed / name).write_text(sql)
    (seed / SEED_SCRIPT_KEY).write_text(seed_script(tuple(files)))
    return seed


def _run(database_url, tmp_path: Path, database: str, files: dict[str, str]) -> subprocess.CompletedProcess:
    base, psql = database_url
    subprocess.run([psql, f"{base}/postgres", "-Xqc", f'create database "{database}"'], capture_output=True)
    seed = _seed_dir(tmp_path, files)
    app = AppConfig.model_validate({"name": "oracle", "image": {"repository": "r.io/o"}, "port": 80,
                                    "database": {"enabled": True}, "environments": {"dev": {"host": "o.acme.dev"}}})
    placement = DatabasePlacement(instances=1, size="1Gi", version=app.database.version, resources=None,
                                  cluster="oracle-db", seed=tuple(files.items()))
    job = render_seed_job(app, placement, "oracle-dev", {"app.kubernetes.io/instance": "oracle-dev"}, False)
    command = job["spec"]["template"]["spec"]["containers"][0]["command"]
    # What the kubelet runs: $(DATABASE_URL) expanded from the env, the ConfigMap mounted at /seed.
    argv = [psql if arg == "psql" else f"{base}/{database}" if arg == "$(DATABASE_URL)"
            else arg.replace("/seed/", f"{seed}/") for arg in command]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def _query(database_url, database: str, sql: str) -> str:
    base, psql = database_url
    return subprocess.run([psql, f"{base}/{database}", "-XAtc", sql], capture_output=True, text=True,
                          check=True).stdout.strip()


def test_the_seed_runs_in_order_once_and_never_into_a_database_with_tables(database_url, tmp_path):
    files = {"schema.sql": "create table orders (id serial primary key, note text);\n",
             "demo.sql": "insert into orders (note) values ('first'), ('second');\n"}
    first = _run(database_url, tmp_path / "a", "seeded", files)
    assert first.returncode == 0, first.stderr
    assert _query(database_url, "seeded", "select count(*) from orders") == "2"
    # The Job again (recreated, or a seed added to an environment whose database exists): nothing is applied.
    again = _run(database_url, tmp_path / "b", "seeded", files)
    assert again.returncode == 0, again.stderr
    assert "already holds tables; not seeded" in again.stdout
    assert _query(database_url, "seeded", "select count(*) from orders") == "2"


def test_a_failing_seed_fails_the_job_and_leaves_nothing_half_applied(database_url, tmp_path):
    files = {"schema.sql": "create table orders (id int);\n", "demo.sql": "insert into orders values ('x');\n"}
    result = _run(database_url, tmp_path, "broken", files)
    assert result.returncode != 0
    assert "invalid input syntax" in result.stderr
    assert _query(database_url, "broken", "select to_regclass('public.orders') is null") == "t"


def _run_mask(database_url, tmp_path: Path, database: str, mask: str) -> subprocess.CompletedProcess:
    """The mask Job's command (database.render_mask_job), its ConfigMap mounted at /mask."""
    from minnova_idp.render.database_placement import Origin
    from minnova_idp.render.sql_jobs import render_mask, render_mask_job

    base, psql = database_url
    directory = tmp_path / "mask"
    directory.mkdir(parents=True)
    app = AppConfig.model_validate({"name": "oracle", "image": {"repository": "r.io/o"}, "port": 80,
                                    "database": {"enabled": True}, "environments": {"dev": {"host": "o.acme.dev"}}})
    origin = Origin("dev", "oracle-db", "b", "https://e", "id", "secret", mask=mask)
    placement = DatabasePlacement(instances=1, size="1Gi", version=app.database.version, resources=None,
                                  cluster="oracle-db", origin=origin)
    for key, text in render_mask(placement, "oracle-pr-1", {})["data"].items():  # the ConfigMap, as mounted
        (directory / key).write_text(text)
    job = render_mask_job(app, placement, "oracle-pr-1", {"app.kubernetes.io/instance": "oracle-pr-1"}, True)
    command = job["spec"]["template"]["spec"]["containers"][0]["command"]
    # As CNPG's `<cluster>-app` uri connects: the database's owner, not a superuser.
    owner = base.replace("//app@", "//oracle@")
    argv = [psql if arg == "psql" else f"{owner}/{database}" if arg == "$(DATABASE_URL)"
            else arg.replace("/mask/", f"{directory}/") for arg in command]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def _copy_of_dev(database_url, database: str) -> None:
    """A database as a recovery of dev leaves it: owned by the app's role (`oracle`, no superuser), its tables too."""
    base, psql = database_url
    subprocess.run([psql, f"{base}/postgres", "-Xqc", "create role oracle login nosuperuser"], capture_output=True)
    subprocess.run([psql, f"{base}/postgres", "-Xqc", f'create database "{database}" owner oracle'],
                   check=True, capture_output=True)
    owner = base.replace("//app@", "//oracle@")
    subprocess.run([psql, f"{owner}/{database}", "-Xqc", "create table users (id int primary key, email text, name "
                    "text); insert into users values (1, 'ada@real.example', 'Ada'), (2, 'alan@real.example', 'Alan');"],
                   check=True, capture_output=True)


def test_the_mask_rewrites_the_copy_in_one_transaction(database_url, tmp_path):
    _copy_of_dev(database_url, "copied")
    mask = ("update users set email = 'user' || id || '@example.invalid';\n"
            "update users set name = 'User ' || id;\n")
    result = _run_mask(database_url, tmp_path, "copied", mask)
    assert result.returncode == 0, result.stderr
    assert _query(database_url, "copied", "select string_agg(email || '/' || name, ',' order by id) from users") == (
        "user1@example.invalid/User 1,user2@example.invalid/User 2")


def test_a_failing_mask_fails_the_job_and_masks_nothing_half_way(database_url, tmp_path):
    """Fail closed: the Job fails (Argo CD stops the sync before the app's wave) and no row is half masked."""
    _copy_of_dev(database_url, "half")
    result = _run_mask(database_url, tmp_path, "half", "update users set email = 'x@example.invalid';\n"
                                                        "update users set nme = 'x';\n")
    assert result.returncode != 0 and "nme" in result.stderr
    assert _query(database_url, "half", "select count(*) from users where email like '%@real.example'") == "2"


def test_the_mask_runs_without_superuser_powers(database_url, tmp_path):
    """What the mask can do is what the app's own role can: not run programs on the database server."""
    _copy_of_dev(database_url, "nosuper")
    result = _run_mask(database_url, tmp_path, "nosuper", "copy users to program 'cat > /tmp/minnova-leak';\n")
    assert result.returncode != 0
    assert "permission denied" in result.stderr or "must be superuser" in result.stderr, result.stderr


LEAKED = ("select string_agg(tablename || '.' || attname, ',' order by tablename, attname) from pg_stats "
          "where schemaname = 'public' and (most_common_vals::text ~ '(real\\.example|Realname|secret-)' "
          "or histogram_bounds::text ~ '(real\\.example|Realname|secret-)')")


def _copy_with_statistics(database_url, database: str) -> None:
    """dev as a recovery leaves it: planner statistics of the real rows, partitioned parents included."""
    _copy_of_dev(database_url, database)
    base, psql = database_url
    owner = base.replace("//app@", "//oracle@")
    subprocess.run([psql, f"{owner}/{database}", "-Xq", "-v", "ON_ERROR_STOP=1", "-c",
                    "insert into users select g, 'real' || g || '@real.example', 'Realname' || (g % 5) "
                    "from generate_series(3, 400) g; "
                    "create table orders (id int, email text, at date) partition by range (at); "
                    "create table orders_a partition of orders for values from ('2020-01-01') to ('2025-01-01'); "
                    "create table orders_b partition of orders for values from ('2025-01-01') to ('2030-01-01'); "
                    "insert into orders select g, 'real' || (g % 20) || '@real.example', date '2021-01-01' + g "
                    "from generate_series(1, 3000) g; "
                    "create table sessions (token text); "
                    "insert into sessions select 'secret-' || (g % 3) from generate_series(1, 300) g; "
                    "analyze users; analyze orders; analyze orders_a; analyze orders_b; analyze sessions;"],
                   check=True, capture_output=True)


STATISTICS_MASK = ("update users set email = 'user' || id || '@example.invalid', name = 'User';\n"
                   "update orders set email = 'o' || id || '@example.invalid';\n"
                   "delete from sessions;\n"
                   "delete from orders where at >= date '2028-01-01';\n")


def test_the_old_mask_command_left_dev_values_in_the_statistics(database_url, tmp_path):
    """The leak, reproduced with the Job's old command (`psql --single-transaction -f mask.sql`, no epilogue)."""
    _copy_with_statistics(database_url, "oldmask")
    base, psql = database_url
    (tmp_path / "mask.sql").write_text(STATISTICS_MASK)
    owner = base.replace("//app@", "//oracle@")
    subprocess.run([psql, f"{owner}/oldmask", "--no-psqlrc", "-v", "ON_ERROR_STOP=1", "--single-transaction",
                    "-f", str(tmp_path / "mask.sql")], check=True, capture_output=True)
    leaked = _query(database_url, "oldmask", LEAKED).split(",")
    assert {"users.email", "users.name", "orders.email", "orders_a.email", "sessions.token"} <= set(leaked)


def test_after_the_mask_no_statistic_holds_a_copied_value(database_url, tmp_path):
    _copy_with_statistics(database_url, "newmask")
    result = _run_mask(database_url, tmp_path, "newmask", STATISTICS_MASK)
    assert result.returncode == 0, result.stderr
    assert _query(database_url, "newmask", LEAKED) == ""
    # the partitioned parent has fresh statistics of the masked rows, the emptied table none at all
    assert _query(database_url, "newmask", "select count(*) > 0 from pg_stats where tablename = 'orders' "
                  "and inherited and most_common_vals::text like '%example.invalid%' or tablename = 'orders' "
                  "and inherited and histogram_bounds::text like '%example.invalid%'") == "t"
    assert _query(database_url, "newmask", "select count(*) from pg_stats where tablename = 'sessions'") == "0"
    assert _query(database_url, "newmask", "select count(*) from users where email like '%@real.example'") == "0"


def test_statistics_that_cannot_be_cleared_fail_the_mask(database_url, tmp_path):
    """Fail closed: an emptied table whose column a view depends on cannot be rewritten; the mask rolls back."""
    _copy_with_statistics(database_url, "stuck")
    base, psql = database_url
    owner = base.replace("//app@", "//oracle@")
    subprocess.run([psql, f"{owner}/stuck", "-Xqc", "create view tokens as select token from sessions"],
                   check=True, capture_output=True)
    result = _run_mask(database_url, tmp_path, "stuck", STATISTICS_MASK)
    assert result.returncode != 0
    assert "public.sessions is empty after the mask but its statistics keep the copied values" in result.stderr
    assert "cannot alter type of a column used by a view" in result.stderr
    assert _query(database_url, "stuck", "select count(*) from users where email like '%@real.example'") == "400"


def test_an_emptied_partition_fails_the_mask_naming_it(database_url, tmp_path):
    """A partition key cannot be rewritten (PostgreSQL refuses): a mask that empties a partition must drop it."""
    _copy_with_statistics(database_url, "part")
    result = _run_mask(database_url, tmp_path, "part", STATISTICS_MASK + "delete from orders_b;\n")
    assert result.returncode != 0 and "public.orders_b is empty after the mask" in result.stderr
    dropped = _run_mask(database_url, tmp_path / "again", "part", STATISTICS_MASK + "drop table orders_b;\n")
    assert dropped.returncode == 0, dropped.stderr
    assert _query(database_url, "part", LEAKED) == ""


def _as_owner(database_url, database: str, sql: str) -> None:
    base, psql = database_url
    owner = base.replace("//app@", "//oracle@")
    subprocess.run([psql, f"{owner}/{database}", "-Xq", "-v", "ON_ERROR_STOP=1", "-c", sql], check=True,
                   capture_output=True)


EXT_LEAKED = ("select count(*) from pg_stats_ext where schemaname = 'public' "
              "and most_common_vals::text ~ 'real\\.example'")


def test_extended_statistics_with_target_zero_are_recomputed_from_masked_rows(database_url, tmp_path):
    """An extended statistics object whose target dev set to 0 is skipped by ANALYZE, keeping dev's most common
    values in pg_stats_ext: the epilogue resets the target (-1) first. Failed before: EXT_LEAKED was 1."""
    _copy_of_dev(database_url, "extstats")
    _as_owner(database_url, "extstats",
              "create table people (email text, city text); insert into people select 'p' || (g % 7) || "
              "'@real.example', 'c' || (g % 3) from generate_series(1, 500) g; "
              "create statistics s (mcv) on email, city from people; analyze people; "
              "alter statistics s set statistics 0;")
    assert _query(database_url, "extstats", EXT_LEAKED) == "1"
    result = _run_mask(database_url, tmp_path, "extstats", "update people set email = 'm@example.invalid';\n")
    assert result.returncode == 0, result.stderr
    assert _query(database_url, "extstats", EXT_LEAKED) == "0"
    assert _query(database_url, "extstats", "select count(*) from pg_stats_ext where statistics_name = 's' "
                  "and most_common_vals::text like '%example.invalid%'") == "1"


def test_extended_statistics_of_an_emptied_table_keep_nothing(database_url, tmp_path):
    """ANALYZE of an empty table keeps an extended statistics object's data: after the mask none is left in
    pg_stats_ext or pg_stats_ext_exprs (the object is rebuilt; the final check fails the mask otherwise)."""
    _copy_of_dev(database_url, "extempty")
    _as_owner(database_url, "extempty",
              "create table people (email text, city text); insert into people select 'p' || (g % 7) || "
              "'@real.example', 'c' || (g % 3) from generate_series(1, 500) g; "
              "create statistics s on lower(email), city from people; analyze people;")
    assert _query(database_url, "extempty", "select count(*) from pg_stats_ext_exprs "
                  "where most_common_vals::text ~ 'real\\.example'") == "1"
    result = _run_mask(database_url, tmp_path, "extempty", "delete from people;\n"
                       "update users set email = 'u' || id || '@example.invalid';\n")
    assert result.returncode == 0, result.stderr
    assert _query(database_url, "extempty", "select count(*) from pg_stats_ext_exprs where inherited is not null") == "0"
    assert _query(database_url, "extempty", "select count(*) from pg_stats_ext") == "0"


def test_a_column_with_target_zero_is_analysed_again(database_url, tmp_path):
    """`ALTER COLUMN ... SET STATISTICS 0` in dev makes ANALYZE skip the column, so pg_stats kept dev's histogram:
    the epilogue resets the target (-1) before it analyses. Failed before: LEAKED named users.email."""
    _copy_with_statistics(database_url, "target0")
    _as_owner(database_url, "target0", "alter table users alter column email set statistics 0")
    result = _run_mask(database_url, tmp_path, "target0", STATISTICS_MASK)
    assert result.returncode == 0, result.stderr
    assert _query(database_url, "target0", LEAKED) == ""
    assert _query(database_url, "target0", "select attstattarget from pg_attribute "
                  "where attrelid = 'users'::regclass and attname = 'email'") in ("-1", "")


def test_an_inheritance_parent_emptied_of_its_own_rows_keeps_no_statistics(database_url, tmp_path):
    """Plain inheritance: `SELECT FROM ev` counts the children's rows, so a parent emptied of its own rows looked
    non-empty and kept its own (inherited = f) statistics of dev's values. Failed before: LEAKED named ev.email."""
    _copy_of_dev(database_url, "inherit")
    _as_owner(database_url, "inherit",
              "create table ev (email text); create table ev_old () inherits (ev); "
              "insert into ev select 'e' || (g % 9) || '@real.example' from generate_series(1, 300) g; "
              "insert into ev_old select 'o' || (g % 9) || '@real.example' from generate_series(1, 300) g; "
              "analyze ev; analyze ev_old;")
    result = _run_mask(database_url, tmp_path, "inherit", "delete from only ev;\nupdate ev_old set email = 'm';\n"
                       "update users set email = 'u' || id || '@example.invalid';\n")
    assert result.returncode == 0, result.stderr
    assert _query(database_url, "inherit", LEAKED) == ""
    assert _query(database_url, "inherit", "select count(*) from pg_stats where tablename = 'ev' "
                  "and not inherited") == "0"


def test_a_partial_expression_index_without_masked_rows_keeps_no_statistics(database_url, tmp_path):
    """ANALYZE leaves an index's statistics alone when no sampled row is in it: a partial expression index over dev's
    values kept them, and the mask passed (re-review of issue 22). It is made again now, with none."""
    _copy_of_dev(database_url, "partial")
    _as_owner(database_url, "partial",
              "insert into users select g, 'r' || (g % 7) || '@real.example', 'n' from generate_series(3, 500) g; "
              "create index users_real on users (lower(email)) where email like '%@real.example'; analyze users;")
    assert "real.example" in _query(database_url, "partial", "select most_common_vals from pg_stats "
                                    "where tablename = 'users_real'")  # dev's values are there to begin with
    result = _run_mask(database_url, tmp_path, "partial", "update users set email = 'u' || id || '@example.invalid';\n")
    assert result.returncode == 0, result.stderr
    assert _query(database_url, "partial", LEAKED) == ""
    assert _query(database_url, "partial", "select count(*) from pg_stats where tablename = 'users_real'") == "0"


def test_a_parent_whose_children_the_mask_dropped_keeps_no_inherited_statistics(database_url, tmp_path):
    """ANALYZE skips the with-children pass of a parent with no children left, keeping dev's inherited statistics;
    the parent's own (masked) rows made it look non-empty (re-review of issue 22)."""
    _copy_of_dev(database_url, "orphan")
    _as_owner(database_url, "orphan",
              "create table ev (email text); create table ev_old () inherits (ev); "
              "insert into ev select 'm' from generate_series(1, 10); "
              "insert into ev_old select 'o' || (g % 9) || '@real.example' from generate_series(1, 300) g; "
              "analyze ev; analyze ev_old;")
    result = _run_mask(database_url, tmp_path, "orphan", "drop table ev_old;\n"
                       "update users set email = 'u' || id || '@example.invalid';\n")
    assert result.returncode == 0, result.stderr
    assert _query(database_url, "orphan", LEAKED) == ""
    assert _query(database_url, "orphan", "select count(*) from pg_stats where tablename = 'ev' and inherited") == "0"
