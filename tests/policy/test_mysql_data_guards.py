"""The data half's guarded values (minnova_idp/policy/mysql_data_guards.py): a changed serverName without a restore,
a new backup bucket and a shorter retention are refused before anything is registered; a declared restore and the
storage guard off (the explicit step) let them through."""

from __future__ import annotations

from minnova_idp.model.inputs import ProgramInputs
from minnova_idp.policy.guards import ROWS, checked_rows, declared_outputs, guard_problems
from tests.render.test_database import loaded, stack
from tests.render.test_mysql_data import shop

RECORDED = {"mysqlServers": {"shop-prod": "shop-mysql"}, "mysqlBackupBuckets": {"shop-prod": "acme-shop-prod"},
            "mysqlBackupRetentions": {"shop-prod": "30d"}}


def problems(app, **settings) -> list[str]:
    inputs = ProgramInputs(stack=stack(environments='["prod"]', **settings), apps=[loaded(app)], recorded=RECORDED)
    return [f"{p.field}: {p.message}" for p in guard_problems(inputs, RECORDED, checked_rows(inputs))]


def test_what_is_recorded():
    outputs = declared_outputs([("shop-prod", shop(), "prod")], {}, "acme")
    assert {key: outputs[key] for key in RECORDED} == RECORDED


def test_nothing_changed_passes():
    assert problems(shop()) == []


def test_a_new_server_name_without_a_restore_is_refused():
    refused = problems(shop(prod={"serverName": "shop-mysql-2"}))
    assert refused == ["environments.prod.mysql.serverName: 'shop-mysql-2' would give the app a new, empty MySQL in "
                       "place of 'shop-mysql', which prod runs"]
    assert problems(shop(prod={"serverName": "shop-mysql-2", "restore": {"fromBackup": "shop-mysql"}})) == []


def test_a_new_bucket_is_refused():
    refused = problems(shop(), deployment="acme2")
    assert len(refused) == 1 and "new, empty bucket 'acme2-shop-prod' in place of 'acme-shop-prod'" in refused[0]


def test_a_shorter_retention_is_refused_unless_the_guard_is_off():
    refused = problems(shop({"backupRetention": "2w"}))
    assert refused and refused[0].startswith("mysql.backupRetention: '2w' is shorter than the 30d prod keeps")
    assert problems(shop({"backupRetention": "5w"})) == []
    assert problems(shop({"backupRetention": "2w"}), databaseStorageGuard="false") == []


def test_malformed_records_are_named():
    assert ROWS["mysqlServers"].malformed("Shop_mysql")
    assert ROWS["mysqlBackupRetentions"].malformed("6m")
    assert ROWS["mysqlBackupBuckets"].malformed("acme-shop-prod") is None


# ---- mysqlServerHistory (review of issue 26, findings 1, 2 and 5) -------------------------------------------------

def history_problems(app, history: str | None, servers: str | None = "shop-mysql") -> list[str]:
    recorded = {**RECORDED, "mysqlServers": {"shop-prod": servers} if servers else {}}
    if history is not None:
        recorded["mysqlServerHistory"] = {"shop-prod": history}
    inputs = ProgramInputs(stack=stack(environments='["prod"]'), apps=[loaded(app)], recorded=recorded)
    return [f"{p.field}: {p.message}" for p in guard_problems(inputs, recorded, checked_rows(inputs))]


RESTORE = {"fromBackup": "shop-mysql", "targetTime": "2026-11-20T09:30:00Z"}


def test_the_history_is_recorded_and_grows_with_each_new_server():
    first = declared_outputs([("shop-prod", shop(), "prod")], {}, "acme")["mysqlServerHistory"]
    assert first == {"shop-prod": "shop-mysql#1"}
    restored = shop(prod={"serverName": "shop-mysql-2", "restore": RESTORE})
    after = declared_outputs([("shop-prod", restored, "prod")], {"mysqlServerHistory": first}, "acme")
    assert after["mysqlServerHistory"] == {"shop-prod": "shop-mysql#1,shop-mysql-2#1<shop-mysql@2026-11-20T09:30:00Z"}
    # kept as applied, whatever app.yaml says now (the check refuses the difference)
    edited = shop(prod={"serverName": "shop-mysql-2", "restore": {"fromBackup": "shop-mysql"}})
    again = declared_outputs([("shop-prod", edited, "prod")], after, "acme")
    assert again["mysqlServerHistory"] == after["mysqlServerHistory"]
    # before the history was recorded: it starts from mysqlServers
    assert declared_outputs([("shop-prod", shop(), "prod")], {"mysqlServers": {"shop-prod": "shop-mysql"}},
                            "acme")["mysqlServerHistory"] == {"shop-prod": "shop-mysql"}
    assert ROWS["mysqlServerHistory"].malformed("shop-mysql,Shop<x") and \
        ROWS["mysqlServerHistory"].malformed(after["mysqlServerHistory"]["shop-prod"]) is None


def test_a_restore_into_the_server_that_runs_is_refused():
    """The operator ignores bootstrapFrom on an initialised server (mariadb-operator@v26.6.0
    internal/controller/mariadb_controller_init.go:83-85) and its webhook lets it be added (inmutable_webhook.go:
    139-142): the restore would silently do nothing."""
    declared = shop(prod={"serverName": "shop-mysql-2", "restore": {"fromBackup": "shop-mysql-1"}})
    for history in ("shop-mysql-1,shop-mysql-2", None):
        refused = history_problems(declared, history, servers="shop-mysql-2")
        assert refused == ["environments.prod.mysql.restore: 'shop-mysql-2' already runs in prod: the operator reads "
                           "a restore only when it creates a server, so this one would do nothing"], history


def test_an_applied_restore_may_stay_but_not_change():
    applied = "shop-mysql,shop-mysql-2<shop-mysql@2026-11-20T09:30:00Z"
    kept = shop(prod={"serverName": "shop-mysql-2", "restore": RESTORE})
    assert history_problems(kept, applied, servers="shop-mysql-2") == []
    for changed in ({**RESTORE, "targetTime": "2026-11-20T10:00:00Z"}, {"fromBackup": "shop-mysql"},
                    {**RESTORE, "sourceGone": True}):
        refused = history_problems(shop(prod={"serverName": "shop-mysql-2", "restore": changed}), applied,
                                   servers="shop-mysql-2")
        assert len(refused) == 1 and "was created by the restore from shop-mysql at 2026-11-20T09:30:00Z" in refused[0]


def test_a_server_name_run_before_is_never_reused():
    refused = history_problems(shop(prod={"serverName": "shop-mysql", "restore": {"fromBackup": "shop-mysql-2"}}),
                               "shop-mysql,shop-mysql-2<shop-mysql@", servers="shop-mysql-2")
    assert refused == ["environments.prod.mysql.serverName: 'shop-mysql' already ran in prod: its retained volume "
                       "would still hold that server's files and the restore cannot copy its backup into them"]


def test_a_source_that_is_not_running_is_never_declared():
    """A source not recorded as running would be created empty, its PhysicalBackup (immediate) writing into the
    prefix being restored from: refused unless sourceGone says so (which declares nothing of it)."""
    gone = shop(prod={"serverName": "shop-mysql-3", "restore": {"fromBackup": "shop-mysql"}})
    refused = history_problems(gone, "shop-mysql,shop-mysql-2<shop-mysql@", servers="shop-mysql-2")
    assert len(refused) == 1 and refused[0].startswith(
        "environments.prod.mysql.restore.fromBackup: 'shop-mysql' is not running here (the server prod runs is "
        "'shop-mysql-2')")
    explicit = shop(prod={"serverName": "shop-mysql-3", "restore": {"fromBackup": "shop-mysql", "sourceGone": True}})
    assert history_problems(explicit, "shop-mysql,shop-mysql-2<shop-mysql@", servers="shop-mysql-2") == []
    never = shop(prod={"serverName": "shop-mysql-3", "restore": {"fromBackup": "other-mysql", "sourceGone": True}})
    refused = history_problems(never, "shop-mysql,shop-mysql-2<shop-mysql@", servers="shop-mysql-2")
    assert len(refused) == 1 and "'other-mysql' is not a server prod has run" in refused[0]
    # a new environment (nothing recorded): only sourceGone can name a source
    fresh = shop(prod={"serverName": "shop-mysql-2", "restore": {"fromBackup": "shop-mysql"}})
    refused = history_problems(fresh, None, servers=None)
    assert len(refused) == 1 and "prod runs no MySQL yet" in refused[0]
    assert history_problems(shop(prod={"serverName": "shop-mysql-2", "restore": {
        "fromBackup": "shop-mysql", "sourceGone": True}}), None, servers=None) == []
    # the ordinary restore from the running server passes, first run of this version included
    assert history_problems(fresh, "shop-mysql") == [] and history_problems(fresh, None) == []


def test_instances_change_only_for_the_new_server_of_a_restore_whose_source_is_not_declared():
    """docs/mysql.md "Changing instances": a restore into a new serverName with the new count and sourceGone (the
    old server re-declared with the new count would be changed in place)."""
    recorded = {**RECORDED, "mysqlInstances": {"shop-prod": "1"}, "mysqlServerHistory": {"shop-prod": "shop-mysql#1"}}

    def refused(app):
        inputs = ProgramInputs(stack=stack(environments='["prod"]'), apps=[loaded(app)], recorded=recorded)
        return [f"{p.field}: {p.message}" for p in guard_problems(inputs, recorded, checked_rows(inputs))]

    assert refused(shop(prod={"instances": 3})) == [
        "environments.prod.mysql.instances: 3 in place of the 1 that prod runs turns replication on for a server "
        "that has run alone; the operator does not change a running server's topology"]
    declared_source = shop(prod={"instances": 3, "serverName": "shop-mysql-2", "restore": {"fromBackup": "shop-mysql"}})
    assert len(refused(declared_source)) == 1
    moved = shop(prod={"instances": 3, "serverName": "shop-mysql-2",
                       "restore": {"fromBackup": "shop-mysql", "sourceGone": True}})
    assert refused(moved) == []
    # once created, the new server's count is what runs: a later change is refused, restore kept or not
    recorded.update({"mysqlInstances": {"shop-prod": "3"}, "mysqlServers": {"shop-prod": "shop-mysql-2"},
                     "mysqlServerHistory": {"shop-prod": "shop-mysql#1,shop-mysql-2#3<shop-mysql@!gone"}})
    assert refused(moved) == []
    again = shop(prod={"instances": 2, "serverName": "shop-mysql-2",
                       "restore": {"fromBackup": "shop-mysql", "sourceGone": True}})
    assert refused(again) == ["environments.prod.mysql.instances: 2 in place of the 3 that 'shop-mysql-2' runs: a "
                              "restore changes instances only for the new server it creates"]
