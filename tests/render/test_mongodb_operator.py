"""render/mongodb_operator.py: the Percona Operator for MongoDB release, rendered through the real chart."""

from __future__ import annotations

import pytest

from minnova_idp.model import versions
from minnova_idp.render.mongodb_operator import VALUES
from tests.support.helm import render_chart, require_chart
from tests.support.k8s_strict import validate_objects


@pytest.fixture(scope="module")
def chart_objects() -> dict:
    path = require_chart(versions.PSMDB_OPERATOR.name, versions.PSMDB_OPERATOR.version)
    objects = render_chart(path, VALUES, versions.PSMDB_OPERATOR.release_name, versions.PSMDB_OPERATOR.namespace)
    return {(o["kind"], o["metadata"]["name"]): o for o in objects}


def test_the_chart_renders_strictly_valid_objects(chart_objects):
    validate_objects(list(chart_objects.values()))
    assert {kind for kind, _ in chart_objects} == {"Deployment", "ServiceAccount", "ClusterRole",
                                                    "ClusterRoleBinding"}


def test_it_watches_every_namespace_without_telemetry_hardened(chart_objects):
    """App namespaces (and previews') come and go: a cluster-wide watch (ADR 0014), nothing sent to Percona."""
    deployment = chart_objects[("Deployment", "psmdb-operator")]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["WATCH_NAMESPACE"] == ""  # every namespace (chart templates/deployment.yaml:68-73)
    assert env["DISABLE_TELEMETRY"] == "true"
    assert container["image"] == "percona/percona-server-mongodb-operator:1.22.0"  # the chart's appVersion
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert {"name": "tmpdir", "mountPath": "/tmp"} in container["volumeMounts"]
    assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    binding = chart_objects[("ClusterRoleBinding", "service-account-psmdb-operator")]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "psmdb-operator",
                                    "namespace": versions.PSMDB_OPERATOR.namespace}]


def test_the_release_is_protected_retained_and_after_cert_manager():
    from minnova_idp.render.declaration import _database_operators
    from minnova_idp.render.resources import HelmRelease

    cert_manager = HelmRelease(versions.CERT_MANAGER, {})
    release = _database_operators(cert_manager, True)[-1]
    assert release.chart == versions.PSMDB_OPERATOR and release.values == VALUES
    assert release.lifecycle.protect and release.lifecycle.retain_on_delete
    assert cert_manager.key in release.lifecycle.depends_on
