"""database.version on a deployed environment: minor updates need nothing, a major upgrade archives under a new
server name (and takes a base backup there), a downgrade is refused; the stack records versions and server names
(policy/guards.py GUARDED) so the next run keeps them."""

from __future__ import annotations

import pulumi
import pytest
import yaml

from minnova_idp.model import versions
from minnova_idp.model.inputs import ProgramInputs
from minnova_idp.policy.guards import archive_server, guard_problems
from minnova_idp.render.declaration import declare
from minnova_idp.render.resources import KubernetesObject
from tests.conftest import PROJECT_DIR
from tests.plan.test_recorder import run_main
from tests.render.test_database import loaded, oracle, stack


def recorded(version: int, server: str | None = None, cluster: str = "oracle-db") -> dict:
    return {"databaseVersions": {"oracle-prod": str(version)}, "databaseClusters": {"oracle-prod": cluster},
            **({"databaseServers": {"oracle-prod": server}} if server else {})}


def inputs(version: int, record: dict | None = None, **database) -> ProgramInputs:
    return ProgramInputs(stack=stack(environments='["prod"]'), apps=[loaded(oracle(version=version, **database))],
                         recorded=record or {})


def manifests(inputs_: ProgramInputs) -> list[dict]:
    (instance,) = declare(inputs_).apps
    return [r.manifest for r in instance.resources if isinstance(r, KubernetesObject)]


def archived_under(objects: list[dict]) -> str:
    (cluster,) = [o for o in objects if o["kind"] == "Cluster" and o["metadata"]["name"] == "oracle-db"]
    return cluster["spec"]["plugins"][0]["parameters"]["serverName"]


def test_the_deployed_version_keeps_todays_server_name():
    for record in ({}, recorded(17), recorded(17, "oracle-db")):
        objects = manifests(inputs(17, record))
        assert archived_under(objects) == "oracle-db"
        assert not [o for o in objects if o["kind"] == "Backup"]
    assert declare(inputs(17, recorded(17))).guarded_outputs["databaseServers"] == {"oracle-prod": "oracle-db"}
    assert declare(inputs(17)).guarded_outputs["databaseVersions"] == {"oracle-prod": "17"}


def test_a_major_upgrade_archives_under_a_new_server_and_backs_up_there_at_once():
    upgrade = inputs(18, recorded(17))
    assert guard_problems(upgrade, upgrade.recorded) == []
    objects = manifests(upgrade)
    assert archived_under(objects) == "oracle-db-pg18"
    (backup,) = [o for o in objects if o["kind"] == "Backup"]
    assert backup["metadata"]["name"] == "oracle-db-pg18-first"
    assert backup["spec"]["cluster"] == {"name": "oracle-db"}
    assert declare(upgrade).guarded_outputs["databaseServers"] == {"oracle-prod": "oracle-db-pg18"}
    # the drill and the preview copy read the new path
    (drill,) = [o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "oracle-db-drill"]
    recovered = yaml.safe_load(drill["data"]["cluster.yaml"])["spec"]["externalClusters"][0]["plugin"]["parameters"]
    assert recovered["serverName"] == "oracle-db-pg18"
    # the next run (the upgrade recorded) keeps the name, and the upgrade after that starts another
    assert archived_under(manifests(inputs(18, recorded(18, "oracle-db-pg18")))) == "oracle-db-pg18"
    assert archive_server(oracle(version=18).model_copy(), "prod", recorded(17)) == "oracle-db-pg18"


def test_a_downgrade_is_refused_naming_the_environment():
    downgrade = inputs(16, recorded(17))
    assert [str(p) for p in guard_problems(downgrade, downgrade.recorded)] == [
        "oracle/.minnova/app.yaml: database.version: PostgreSQL 16 is older than the 17 that environments.prod runs; "
        "a database cannot be downgraded in place (its files are in the newer format) (hint: keep version: 17; to go "
        "back, restore a backup taken before the upgrade into a new backupName (docs/databases.md: Major upgrades))"]


def test_a_restore_and_an_upgrade_at_once_are_refused():
    both = inputs(18, recorded(17), **{})
    data = both.apps[0].config.model_dump(by_alias=True, exclude_none=True)
    data["environments"]["prod"]["database"] = {"backupName": "oracle-db-2", "restore": {"fromBackup": "oracle-db"}}
    from minnova_idp.model.app_config import AppConfig
    restoring = inputs(18, recorded(17))
    restoring = ProgramInputs(stack=restoring.stack, apps=[loaded(AppConfig.model_validate(data))],
                              recorded=recorded(17))
    assert any("declares a restore and an upgrade" in str(p) for p in guard_problems(restoring, restoring.recorded))
    # restoring an upgraded database is refused too (its source would lose its server name afterwards)
    data["database"]["version"] = 18
    after = ProgramInputs(stack=restoring.stack, apps=[loaded(AppConfig.model_validate(data))],
                          recorded=recorded(18, "oracle-db-pg18"))
    assert [p.field for p in guard_problems(after, after.recorded)] == ["environments.prod.database.restore"]


def test_the_program_stops_a_downgrade_before_any_resource():
    with pytest.raises(pulumi.RunError, match="PostgreSQL 17 is older than the 99"):
        run_main(PROJECT_DIR, "prod", previous_outputs={"databaseVersions": {"oracle-prod": "99"}})


FIRST_RUN = {"databaseClusters": {"oracle-prod": "oracle-db"}}  # deployed before versions were recorded


def test_a_deployed_database_without_a_recorded_version_keeps_its_path_and_is_warned_about():
    """The first run after this version: the deployed major is unknown, so a version change in that run cannot be
    seen. It records the declared version, plans no new archive path, and says so loudly."""
    from minnova_idp.policy.guards import unrecorded_versions

    first = inputs(18, FIRST_RUN)
    assert archived_under(manifests(first)) == "oracle-db"  # no new archive path planned
    assert declare(first).guarded_outputs["databaseVersions"] == {"oracle-prod": "18"}  # the version only
    (warning,) = unrecorded_versions(first, FIRST_RUN)
    assert warning.startswith("oracle-prod: its PostgreSQL major version is not recorded yet")
    assert "do not change database.version in this run" in warning and "docs/databases.md: Major upgrades" in warning
    assert unrecorded_versions(first, recorded(17)) == []  # recorded: no warning
    assert unrecorded_versions(first, {}) == []  # nothing deployed yet: nothing to warn about


def test_pulumi_up_and_plan_warn_about_unrecorded_versions(monkeypatch):
    from minnova_idp.plan.recorder import render_tree, run_plan

    warned: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *args, **kwargs: warned.append(message))
    run_main(PROJECT_DIR, "prod", previous_outputs=FIRST_RUN)
    assert [w for w in warned if w.startswith("oracle-prod: its PostgreSQL major version is not recorded yet")]
    warned.clear()
    run_main(PROJECT_DIR, "prod", previous_outputs={**FIRST_RUN, "databaseVersions": {"oracle-prod": "17"}})
    assert not [w for w in warned if "not recorded yet" in w]

    plan = run_plan(PROJECT_DIR, "prod", previous_outputs=FIRST_RUN)
    assert [w for w in plan.warnings if w.startswith("oracle-prod:")]
    assert "WARNINGS:" in render_tree(plan) and "do not change database.version in this run" in render_tree(plan)


def test_an_upgrade_records_what_a_rollback_goes_back_to():
    assert declare(inputs(18, recorded(17))).guarded_outputs["databaseUpgradedFrom"] == {"oracle-prod": "17/oracle-db"}
    later = {**recorded(18, "oracle-db-pg18"), "databaseUpgradedFrom": {"oracle-prod": "17/oracle-db"}}
    assert declare(inputs(18, later)).guarded_outputs["databaseUpgradedFrom"] == {"oracle-prod": "17/oracle-db"}
    assert declare(inputs(17, recorded(17))).guarded_outputs["databaseUpgradedFrom"] == {}


def _rollback(version: int, record: dict, listed: str = '["oracle-prod"]') -> ProgramInputs:
    return ProgramInputs(stack=stack(environments='["prod"]', databaseUpgradeRollbacks=listed),
                         apps=[loaded(oracle(version=version))], recorded=record)


def test_a_failed_upgrade_can_be_rolled_back_for_one_run_by_the_platform_team():
    """pg_upgrade failed after the stack recorded 18 (Pulumi's wait on Ready met the stale condition): CNPG's
    rollback is the old image, which the downgrade guard refuses unless the stack lists the component."""
    from minnova_idp.policy.guards import apply_rollbacks

    failed = {**recorded(18, "oracle-db-pg18"), "databaseUpgradedFrom": {"oracle-prod": "17/oracle-db"}}
    refused = inputs(17, failed)
    assert [p.field for p in guard_problems(refused, refused.recorded)] == ["database.version"]  # without it

    rollback = _rollback(17, failed)
    record, problems = apply_rollbacks(rollback, failed)
    assert problems == [] and guard_problems(rollback, record) == []
    back = ProgramInputs(stack=rollback.stack, apps=rollback.apps, recorded=record)
    objects = manifests(back)
    assert archived_under(objects) == "oracle-db"  # the old server name again
    (cluster,) = [o for o in objects if o["kind"] == "Cluster" and o["metadata"]["name"] == "oracle-db"]
    assert versions.IMAGE_REFERENCE.match(cluster["spec"]["imageName"])["tag"].startswith("17.")
    assert not [o for o in objects if o["kind"] == "Backup"]
    outputs = declare(back).guarded_outputs
    assert (outputs["databaseVersions"], outputs["databaseServers"], outputs["databaseUpgradedFrom"]) == (
        {"oracle-prod": "17"}, {"oracle-prod": "oracle-db"}, {})


def test_a_rollback_with_nothing_to_roll_back_or_another_version_is_refused():
    from minnova_idp.policy.guards import apply_rollbacks

    (stale,) = apply_rollbacks(_rollback(17, recorded(17)), recorded(17))[1]  # done already: remove it
    assert stale.field == "minnova:databaseUpgradeRollbacks" and "no recorded major upgrade" in stale.message
    failed = {**recorded(18, "oracle-db-pg18"), "databaseUpgradedFrom": {"oracle-prod": "17/oracle-db"}}
    (other,) = apply_rollbacks(_rollback(16, failed), failed)[1]
    assert other.field == "database.version" and "back to PostgreSQL 17, but 16 is declared" in other.message


def test_the_program_rolls_back_a_listed_component_and_refuses_an_unlisted_one(tmp_path):
    from tests.conftest import project_copy

    failed = {"databaseVersions": {"oracle-prod": "18"}, "databaseServers": {"oracle-prod": "oracle-db-pg18"},
              "databaseClusters": {"oracle-prod": "oracle-db"}, "databaseUpgradedFrom": {"oracle-prod": "17/oracle-db"}}
    with pytest.raises(pulumi.RunError, match="PostgreSQL 17 is older than the 18"):
        run_main(PROJECT_DIR, "prod", previous_outputs=failed)
    project = project_copy(tmp_path)
    stack_file = project / "Pulumi.prod.yaml"
    stack_file.write_text(stack_file.read_text().replace(
        "  minnova:clusterIssuer: letsencrypt-prod\n",
        "  minnova:clusterIssuer: letsencrypt-prod\n  minnova:databaseUpgradeRollbacks: [oracle-prod]\n"))
    resources, _ = run_main(project, "prod", previous_outputs=failed)
    (cluster,) = [r.inputs for r in resources if r.is_kubernetes_object and r.inputs["kind"] == "Cluster"
                  and r.inputs["metadata"]["name"] == "oracle-db"]
    assert cluster["spec"]["plugins"][0]["parameters"]["serverName"] == "oracle-db"  # the path from before
    assert versions.IMAGE_REFERENCE.match(cluster["spec"]["imageName"])["tag"].startswith("17.")
    assert not [r for r in resources if r.is_kubernetes_object and r.inputs["kind"] == "Backup"]


def test_with_the_storage_guard_off_a_restore_still_archives_under_its_own_name():
    """The clusters record is read for state even with minnova:databaseStorageGuard false (not checked): without
    it, a restored Cluster took its source's server name, two Clusters archiving into one path (re-review)."""
    from minnova_idp.policy.guards import checked_rows, outputs_to_read
    from tests.render.test_database import restored

    previous = {**recorded(17, "oracle-db"), "databaseServers": {"oracle-prod": "oracle-db"}}
    for guard in ("true", "false"):
        run = ProgramInputs(stack=stack(environments='["prod"]', databaseStorageGuard=guard),
                            apps=[loaded(restored({"fromBackup": "oracle-db"}))])
        read = {output: previous[output] for output in outputs_to_read(run) if output in previous}
        assert "databaseClusters" in read
        servers = {o["metadata"]["name"]: o["spec"]["plugins"][0]["parameters"]["serverName"]
                   for o in manifests(ProgramInputs(stack=run.stack, apps=run.apps, recorded=read))
                   if o["kind"] == "Cluster"}
        assert servers == {"oracle-db": "oracle-db", "oracle-db-2": "oracle-db-2"}, guard
        # With the guard off the record is never a reason to refuse: a changed backupName passes.
        changed = {**read, "databaseClusters": {"oracle-prod": "other"}}
        assert guard == "true" or guard_problems(run, changed, checked_rows(run)) == []
    assert guard_problems(run, changed)  # the check itself still finds it (the program runs only checked_rows)
