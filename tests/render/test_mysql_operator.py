"""mariadb-operator 26.6.0 rendered through its real charts (the pinned charts tests/support/helm.py finds) with the
platform's values."""

from __future__ import annotations

import pytest

from minnova_idp.model import versions
from minnova_idp.render.mysql_operator import mysql_operator_releases, operator_values
from minnova_idp.render.resources import HelmRelease, Lifecycle
from tests.support.helm import render_chart, require_chart
from tests.support.k8s_strict import crds_dir, require_crds, validate_objects


@pytest.fixture(scope="module")
def operator_chart():
    path = require_chart(versions.MARIADB_OPERATOR.name, versions.MARIADB_OPERATOR.version)
    objects = render_chart(path, operator_values(), versions.MARIADB_OPERATOR.release_name,
                           versions.MARIADB_OPERATOR.namespace)
    return {(o["kind"], o["metadata"]["name"]): o for o in objects}


def test_the_rendered_chart_is_the_pinned_one(operator_chart):
    charts = {o["metadata"].get("labels", {}).get("helm.sh/chart") for o in operator_chart.values()} - {None}
    assert charts == {f"mariadb-operator-{versions.MARIADB_OPERATOR.version}"}


def test_operator_and_webhook_run_the_pinned_image_hardened(operator_chart):
    deployments = {name: o for (kind, name), o in operator_chart.items() if kind == "Deployment"}
    assert set(deployments) == {"mariadb-operator", "mariadb-operator-webhook"}  # no cert-controller
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["seccompProfile"] == {
            "type": "RuntimeDefault"}, name
        for container in pod["containers"]:
            assert container["image"] == "ghcr.io/mariadb-operator/mariadb-operator:26.6.0", name
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, name
            assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}, name
            assert container["resources"]["requests"], name


def test_least_privilege_rbac_and_a_cert_manager_certificate(operator_chart):
    # Not aggregated into the cluster's view/edit roles: namespace editors get no MariaDB rights from it.
    for (kind, name), o in operator_chart.items():
        if kind == "ClusterRole":
            assert not any(key.startswith("rbac.authorization.k8s.io/aggregate-to")
                           for key in o["metadata"].get("labels", {})), name
    assert not any("cert-controller" in name for _, name in operator_chart)
    assert ("Certificate", "mariadb-operator-webhook-cert") in operator_chart
    assert ("Issuer", "mariadb-operator-selfsigned-issuer") in operator_chart
    assert not any(kind == "CustomResourceDefinition" for kind, _ in operator_chart)  # the CRDs' own release
    config = operator_chart[("ConfigMap", "mariadb-operator-env")]["data"]
    assert config["RELATED_IMAGE_MARIADB"] == versions.MARIADB_IMAGES[versions.DEFAULT_MARIADB_VERSION]


def test_the_charts_objects_validate_strictly(operator_chart):
    require_crds()
    validate_objects(list(operator_chart.values()))


def test_the_crds_chart_ships_the_crds_the_tests_validate_against():
    path = require_chart(versions.MARIADB_OPERATOR_CRDS.name, versions.MARIADB_OPERATOR_CRDS.version)
    crds = {o["metadata"]["name"]: o for o in render_chart(path, {}, versions.MARIADB_OPERATOR_CRDS.release_name,
                                                           versions.MARIADB_OPERATOR_CRDS.namespace)
            if o["kind"] == "CustomResourceDefinition"}
    require_crds()
    shared = {p.name.removeprefix("k8s.mariadb.com_").removesuffix(".yaml") for p in crds_dir().glob("k8s.mariadb.com_*")}
    assert {name.removesuffix(".k8s.mariadb.com") for name in crds} == shared
    for kind in ("mariadbs", "databases", "users", "grants"):
        assert crds[f"{kind}.k8s.mariadb.com"]["spec"]["versions"][0]["name"] == "v1alpha1"


def test_both_releases_are_protected_and_the_operator_waits_for_its_crds_and_cert_manager():
    cert_manager = HelmRelease(versions.CERT_MANAGER, {}, Lifecycle(protect=True))
    crds, operator = mysql_operator_releases(cert_manager)
    assert crds.chart == versions.MARIADB_OPERATOR_CRDS and operator.chart == versions.MARIADB_OPERATOR
    for release in (crds, operator):
        assert release.lifecycle.protect and release.lifecycle.retain_on_delete
    assert set(operator.lifecycle.depends_on) == {cert_manager.key, crds.key}
    assert crds.chart.namespace == operator.chart.namespace == "mariadb-operator"
