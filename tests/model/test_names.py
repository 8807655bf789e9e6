"""The app-name limit is chosen so that every derived name fits; prove it for the longest name."""

import re

import pytest

from minnova_idp.model import names
from minnova_idp.model.app_config import AppConfig
from minnova_idp.render.placement import RenderSettings, environment_placement
from minnova_idp.render.app import render_app

LONGEST_APP = "a" * (names.APP_NAME_MAX - 1) + "z"
LONGEST_ENV = "e" * names.ENV_NAME_MAX
LARGEST_PR = 10 ** names.MAX_PR_NUMBER_DIGITS - 1
DNS_1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def test_longest_names_are_accepted():
    assert names.check_app_name(LONGEST_APP) is None
    assert names.check_environment_name(LONGEST_ENV) is None
    assert names.check_app_name(LONGEST_APP + "a") is not None
    assert names.check_environment_name(LONGEST_ENV + "e") is not None


@pytest.mark.parametrize("derived", [
    names.namespace(LONGEST_APP, LONGEST_ENV),
    names.preview_namespace(LONGEST_APP, LARGEST_PR),
    names.tls_secret(LONGEST_APP),
    # CloudNativePG names pods and jobs "<cluster>-<n>-initdb"; leave room for that too.
    f"{LONGEST_APP}-db-99-initdb",
])
def test_derived_names_are_dns_labels(derived):
    assert len(derived) <= names.DNS_LABEL_MAX and DNS_1123_LABEL.match(derived), derived


def test_preview_host_first_label_fits():
    host = names.preview_host(LONGEST_APP, LARGEST_PR, "preview.minnova.io")
    assert len(host.split(".")[0]) <= names.DNS_LABEL_MAX


def test_rendered_names_of_longest_app_fit():
    from minnova_idp.render.database_placement import Origin
    from minnova_idp.render.preview import PreviewRequest, render_preview

    config = {"name": LONGEST_APP, "image": {"repository": "r.io/x", "tag": "1"}, "port": 80,
              "database": {"enabled": True}, "redis": {"enabled": True}, "storage": {"enabled": True},
              "environments": {LONGEST_ENV: {"replicas": 2, "host": f"{LONGEST_APP}.example.com"}}}
    app = AppConfig.model_validate(config)
    from minnova_idp.render.storage import StoragePlacement, storage_target

    placement = environment_placement(app, LONGEST_ENV, "1", password_key="k" * 64,
                                      storage=storage_target(app, LONGEST_ENV, "d" * names.DEPLOYMENT_NAME_MAX, "0" * 32))
    storage = StoragePlacement(names.preview_storage_bucket("d", LONGEST_APP), "https://e",
                               names.preview_storage_prefix(LARGEST_PR), access_key_id="i", secret_access_key="s")
    copying = AppConfig.model_validate({**config, "preview": {"database": {"from": LONGEST_ENV}}})
    origin = Origin(LONGEST_ENV, names.database_cluster(LONGEST_APP), "b", "https://e", "i", "s", mask="select 1;")
    request = PreviewRequest(LONGEST_APP, LARGEST_PR, "a" * 40, "preview.example.com", "d", "traefik")
    objects = [*render_app(app, placement, RenderSettings("d", "traefik", "le")),
               *render_preview(copying, request, None, password_key="k" * 64, origin=origin, storage=storage)]
    assert {"Deployment", "Job", "ObjectStore", "Cluster"} <= {obj["kind"] for obj in objects}
    assert f"{LONGEST_APP}-storage-cleanup" in {obj["metadata"]["name"] for obj in objects}
    for obj in objects:
        assert DNS_1035_LABEL.match(obj["metadata"]["name"]) and len(obj["metadata"]["name"]) <= 63
        template = obj.get("spec", {}).get("template", {}).get("metadata", {})
        for value in [*obj["metadata"].get("labels", {}).values(), *template.get("labels", {}).values()]:
            assert len(value) <= 63, value


@pytest.mark.parametrize("bad", ["", "-a", "a-", "A", "a_b", "a--b", "1a", "a.b"])
def test_bad_app_names(bad):
    assert names.check_app_name(bad) is not None


def test_namespaces_of_different_apps_never_collide():
    """No hyphen in environment names: '<app>-<env>' splits one way only."""
    assert names.check_environment_name("pr-1") is not None
    assert names.namespace("oracle-dev", "prod") != names.namespace("oracle", "devprod")


# ---- cron schedules: what Kubernetes' parser (robfig/cron v3 standard) would reject is refused at validate ----

@pytest.mark.parametrize("schedule, problem", [
    ("*/0 * * * *", "the minute step '0' must be a positive number"),
    ("99 99 99 99 99", "the minute '99' is not a number from 0 to 59"),
    ("a b c d e", "the minute 'a' is not a number from 0 to 59"),
    ("0 24 * * *", "the hour '24' is not a number from 0 to 23"),
    ("0 0 0 * *", "the day of month '0' is not a number from 1 to 31"),
    ("0 0 * 13 *", "the month '13' is not a number from 1 to 12 or a name"),
    ("0 0 * * funday", "the day of week 'funday' is not a number from 0 to 6 or a name"),
    ("30-10 * * * *", "the minute range '30-10' ends before it starts"),
])
def test_cron_fields_are_checked_by_range_and_step(schedule, problem):
    from minnova_idp.model.fields import _cron_schedule

    with pytest.raises(ValueError, match="is not a cron schedule") as refused:
        _cron_schedule(schedule)
    assert problem in str(refused.value)


@pytest.mark.parametrize("schedule", ["0 5 * * 0", "*/15 0-23/2 1,15 JAN-dec mon-fri", "5/10 * * * *", "@weekly"])
def test_valid_cron_schedules_pass(schedule):
    from minnova_idp.model.fields import _cron_schedule

    assert _cron_schedule(schedule) == schedule
