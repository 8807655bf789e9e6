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
