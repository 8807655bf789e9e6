"""The backups the renderer declares, on the real engine: PostgreSQL (Debian) archiving WAL and base backups with
the barman-cloud tools the Barman Cloud plugin runs, to an S3 server (moto) on 127.0.0.1, under the server names
the renderer declares (policy/guards.py archive_server) in the bucket layout of its ObjectStore.

Needs MINNOVA_PGENGINE_VENV (a venv with pinned barman[cloud] and moto[server], built from /usr/bin/python3 by
.ci/run); skips naming what is missing otherwise. One moto server per session (tests/support/pgengine.py)."""

from __future__ import annotations

import pytest

from minnova_idp.policy.guards import archive_server
from tests.render.test_database import oracle
from tests.support.pgengine import (  # noqa: F401 - fixtures
    ObjectStore,
    PgFactory,
    RecoveryFailed,
    Writer,
    moto_s3,
    object_store,
    pg_factory,
    pg_workspace,
)

pytestmark = pytest.mark.integration

CLUSTER = "oracle-db"  # the Cluster (and its server name) the renderer declares for oracle in prod


def _server(version: int, recorded: dict) -> str:
    return archive_server(oracle(version=version), "prod", recorded)


def make_table(srv) -> None:
    srv.sql("CREATE TABLE t (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at timestamptz DEFAULT now())")


def insert(srv, n: int) -> None:
    srv.sql("INSERT INTO t (at) SELECT clock_timestamp() FROM generate_series(1, %s)", [n])


def ids(srv) -> list[int]:
    return [row[0] for row in srv.sql("SELECT id FROM t ORDER BY id")]


def test_a_backup_restores_into_a_new_server(pg_factory: PgFactory, object_store: ObjectStore):  # noqa: F811
    server = _server(17, {})
    assert server == CLUSTER
    a = pg_factory.initdb("a", archive_to=(object_store, server))
    make_table(a)
    insert(a, 500)
    a.backup(object_store, server)
    insert(a, 700)  # only in the WAL after the base backup
    a.switch_wal_and_wait()
    restored = pg_factory.restore("r", object_store, server)  # the plugin's choice: the latest DONE backup
    assert ids(restored) == ids(a) == list(range(1, 1201))


def test_a_major_upgrade_needs_its_own_server_name(pg_factory: PgFactory, object_store: ObjectStore):  # noqa: F811
    """System A reaches timeline 3 under `oracle-db`; pg_upgrade's new system B (timeline 1) archiving there too
    (the old behaviour) makes its latest backup unrestorable; under the name the renderer declares for the
    upgrade it restores."""
    store, old = object_store, _server(17, {"databaseVersions": {"oracle-prod": "17"}})
    a1 = pg_factory.initdb("a1", archive_to=(store, old))
    make_table(a1)
    insert(a1, 100)
    a1.backup(store, old)
    a1.stop()
    a2 = pg_factory.restore("a2", store, old, archive_to=(store, old))
    a2.stop()
    a3 = pg_factory.restore("a3", store, old, archive_to=(store, old))
    assert a3.timeline() == 3
    a3.stop()

    b = pg_factory.pg_upgrade_like("b", a3, archive_to=(store, old))  # the old behaviour: same server name
    make_table(b)
    insert(b, 42)
    b.backup(store, old)
    b.switch_wal_and_wait()
    with pytest.raises(RecoveryFailed) as failed:
        pg_factory.restore("b-old", store, old)
    assert "requested timeline 3 is not a child of this server's history" in "\n".join(failed.value.fatal)

    new = _server(18, {"databaseVersions": {"oracle-prod": "17"}, "databaseClusters": {"oracle-prod": CLUSTER}})
    assert new == "oracle-db-pg18"
    b.configure(archive_to=(store, new))  # what the changed plugin parameter does
    b.reload()
    insert(b, 8)
    b.backup(store, new)  # the Backup <server>-first the renderer declares with the upgrade
    b.switch_wal_and_wait()
    restored = pg_factory.restore("b-new", store, new)
    assert ids(restored) == ids(b) and len(ids(b)) == 50
    # the backups from before the upgrade are still where they were
    assert store.list_backups(old)


def test_an_unfenced_restore_while_writes_continue_loses_the_tail(pg_factory: PgFactory,  # noqa: F811
                                                                   object_store: ObjectStore):  # noqa: F811
    """The contrast the README warns about: the old Cluster keeps serving while the new one recovers to the end of
    the archive, which ends at the last archived WAL segment (plugin-barman-cloud@v0.14.0
    internal/cnpgi/restore/restore.go:350-360): every commit after it exists only in the old Cluster."""
    old = pg_factory.initdb("unfenced", archive_to=(object_store, CLUSTER))
    make_table(old)
    insert(old, 200)
    old.backup(object_store, CLUSTER)
    writer = Writer(old, "t")
    writer.start()
    writer.wait_rows(200)
    restored = set(ids(pg_factory.restore("unfenced-new", object_store, CLUSTER)))
    writer.wait_rows(len(writer.committed) + 50)  # the app keeps writing to the old Cluster meanwhile
    acknowledged = set(range(1, 201)) | set(writer.stop())
    assert restored < acknowledged  # a strict subset: the tail is lost
    assert len(acknowledged - restored) >= 50


def test_a_fenced_cutover_keeps_every_committed_row(pg_factory: PgFactory, object_store: ObjectStore):  # noqa: F811
    """CNPG fencing: CHECKPOINT, then a fast shutdown (cloudnative-pg@v1.30.0 pkg/management/postgres/
    instance.go:1541-1548), which archives the last segment: a recovery to the end of the archive has it all,
    every acknowledged row and nothing else, and exactly what the fenced server holds."""
    old = pg_factory.initdb("old", archive_to=(object_store, CLUSTER))
    make_table(old)
    insert(old, 200)
    old.backup(object_store, CLUSTER)
    writer = Writer(old, "t")
    writer.start()
    writer.wait_rows(400)
    old.sql("CHECKPOINT")
    old.stop("fast")
    writer.join(30)
    assert writer.error is not None  # the fence cut writes off
    acknowledged = set(range(1, 201)) | set(writer.committed)
    restored = set(ids(pg_factory.restore("new", object_store, CLUSTER)))
    assert restored == acknowledged
    old.configure(archive_to=None)  # look at what the fenced server kept, archiving nothing more
    old.start()
    assert restored == set(ids(old))


def test_the_drills_check_runs_against_a_restored_copy(pg_factory: PgFactory, object_store: ObjectStore,  # noqa: F811
                                                       tmp_path):
    """The weekly drill's check Job, as rendered (its psql command and the app's check.sql from the drill's
    ConfigMap), run against a server restored from the archive: a check that holds passes, one that does not
    fails the Job (psql exits non-zero), as the owner role, not a superuser."""
    import shutil
    import subprocess

    import yaml

    from tests.render.test_database import drill

    server = _server(17, {})
    a = pg_factory.initdb("a", archive_to=(object_store, server))
    make_table(a)
    insert(a, 300)
    a.backup(object_store, server)
    insert(a, 50)  # only in the WAL: the check sees the archive's end, not just the base backup
    a.switch_wal_and_wait()
    restored = pg_factory.restore("r", object_store, server)
    restored.sql("CREATE ROLE oracle LOGIN")  # CNPG's `-app` secret connects as the owner role
    restored.sql("GRANT SELECT ON t TO oracle")
    psql = shutil.which("psql")
    if psql is None:
        pytest.skip("psql is not installed (apt-get install postgresql-client)")

    def check(sql: str) -> subprocess.CompletedProcess:
        config_map = drill(check=sql)["ConfigMap"].manifest
        (container,) = yaml.safe_load(config_map["data"]["check-job.yaml"])["spec"]["template"]["spec"]["containers"]
        mounted = tmp_path / "check.sql"  # what the Job mounts at /drill/check.sql from the ConfigMap
        mounted.write_text(config_map["data"]["check.sql"])
        url = f"postgresql://oracle@127.0.0.1:{restored.port}/postgres"
        argv = [psql if part == "psql" else url if part == "$(DATABASE_URL)"
                else str(mounted) if part == "/drill/check.sql" else part for part in container["command"]]
        assert argv[-2:] == ["-f", str(mounted)] and "ON_ERROR_STOP=1" in argv
        return subprocess.run(argv, capture_output=True, text=True, timeout=60)

    rows = "(SELECT count(*) FROM t)"
    holds = check(f"DO $$ BEGIN IF {rows} <> 350 THEN RAISE EXCEPTION 'restored % rows', {rows}; END IF; END $$;\n")
    assert holds.returncode == 0, holds.stderr
    fails = check(f"DO $$ BEGIN IF {rows} < 1000 THEN RAISE EXCEPTION 'restored % rows', {rows}; END IF; END $$;\n")
    assert fails.returncode != 0 and "restored 350 rows" in fails.stderr
