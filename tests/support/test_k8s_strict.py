"""Tests for the strict Kubernetes validator in tests/support/k8s_strict.py."""

from __future__ import annotations

import copy
import pathlib
import textwrap
from typing import Any

import kubernetes_validate.utils
import pytest

from tests.support.k8s_strict import (
    CRDS_DIR_ENV,
    KUBERNETES_VERSIONS,
    StrictValidationError,
    crds_dir,
    is_custom_resource,
    require_crds,
    validate_object,
    validate_objects,
)


def _error(obj: dict[str, Any]) -> str:
    with pytest.raises(StrictValidationError) as caught:
        validate_object(obj)
    return str(caught.value)


@pytest.fixture
def crds() -> pathlib.Path:
    return require_crds()


# --- built-in kinds ---------------------------------------------------------------------


def deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "apps", "labels": {"app.kubernetes.io/name": "web"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": "nginx:1.27",
                            "ports": [{"containerPort": 8080, "name": "http"}],
                            "resources": {"requests": {"cpu": "100m", "memory": 128}},
                        }
                    ]
                },
            },
        },
    }


def test_kubernetes_versions_are_shipped_by_kubernetes_validate() -> None:
    # kubernetes_validate silently uses an older schema set for a version it does not ship.
    shipped = kubernetes_validate.utils.all_versions()
    assert KUBERNETES_VERSIONS == tuple(sorted(KUBERNETES_VERSIONS, key=lambda v: tuple(map(int, v.split(".")))))
    for version in KUBERNETES_VERSIONS:
        assert version in shipped


def test_valid_deployment_passes() -> None:
    validate_object(deployment())


def test_unknown_container_field_fails_with_its_path() -> None:
    obj = deployment()
    obj["spec"]["template"]["spec"]["containers"][0]["imagee"] = "nginx"
    message = _error(obj)
    assert "Deployment/web" in message
    assert "spec.template.spec.containers[0].imagee: unknown field 'imagee'" in message
    assert "1.33" in message and "1.37" in message


def test_wrong_type_fails() -> None:
    obj = deployment()
    obj["spec"]["replicas"] = "3"
    message = _error(obj)
    assert "spec.replicas: '3' is not of type 'integer'" in message


def test_unknown_metadata_field_fails_for_builtin_kind() -> None:
    obj = deployment()
    obj["metadata"]["labelz"] = {"a": "b"}
    assert "metadata.labelz: unknown field" in _error(obj)


@pytest.mark.parametrize(
    ("api_version", "kind"),
    [
        ("apps/v1", "Deploymnt"),
        ("apps/v2", "Deployment"),
        ("v1", "Deployment"),
    ],
)
def test_unknown_kind_fails(api_version: str, kind: str) -> None:
    obj = deployment()
    obj["apiVersion"], obj["kind"] = api_version, kind
    assert "unknown kind" in _error(obj)


def test_kind_missing_in_oldest_supported_version_fails() -> None:
    # resource.k8s.io/v1 is GA since 1.34: fine for the newest version, not for the oldest.
    claim = {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim", "metadata": {"name": "gpu"}, "spec": {}}
    message = _error(claim)
    assert "unknown kind 'ResourceClaim'" in message
    assert "Kubernetes 1.33)" in message


@pytest.mark.parametrize("missing", ["apiVersion", "kind"])
def test_missing_api_version_or_kind_fails(missing: str) -> None:
    obj = deployment()
    del obj[missing]
    assert f"{missing}: required" in _error(obj)


def test_validate_objects_lists_every_failure() -> None:
    bad_field, bad_type = deployment(), deployment()
    bad_field["metadata"]["name"] = "bad-field"
    bad_field["spec"]["template"]["spec"]["containers"][0]["imagee"] = "nginx"
    bad_type["metadata"]["name"] = "bad-type"
    bad_type["spec"]["replicas"] = "3"
    with pytest.raises(StrictValidationError) as caught:
        validate_objects([deployment(), bad_field, bad_type])
    message = str(caught.value)
    assert "2 of 3 Kubernetes objects failed" in message
    assert "Deployment/bad-field" in message and "imagee" in message
    assert "Deployment/bad-type" in message and "spec.replicas" in message
    validate_objects([deployment(), deployment()])


def test_is_custom_resource() -> None:
    assert not is_custom_resource(deployment())
    assert not is_custom_resource({"apiVersion": "v1", "kind": "ConfigMap"})
    assert not is_custom_resource({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress"})
    assert is_custom_resource({"apiVersion": "cert-manager.io/v1", "kind": "Certificate"})
    assert is_custom_resource({"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster"})


# --- custom resources -------------------------------------------------------------------


def certificate() -> dict[str, Any]:
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": "web-tls", "namespace": "apps", "labels": {"app": "web"}},
        "spec": {
            "secretName": "web-tls",
            "dnsNames": ["web.example.com"],
            "issuerRef": {"name": "letsencrypt", "kind": "ClusterIssuer", "group": "cert-manager.io"},
        },
    }


def cnpg_cluster() -> dict[str, Any]:
    return {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Cluster",
        "metadata": {"name": "db", "namespace": "apps"},
        "spec": {"instances": 2, "storage": {"size": "10Gi"}},
    }


def argocd_application() -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "web", "namespace": "argocd"},
        "spec": {
            "project": "default",
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "apps"},
            "source": {
                "repoURL": "https://charts.example.com",
                "chart": "web",
                "targetRevision": "1.2.3",
                "helm": {"valuesObject": {"image": {"tag": "1.0"}}},
            },
        },
    }


def test_valid_certificate_passes(crds: pathlib.Path) -> None:
    validate_object(certificate())


def test_certificate_unknown_spec_field_fails(crds: pathlib.Path) -> None:
    obj = certificate()
    obj["spec"]["dnsName"] = "web.example.com"
    message = _error(obj)
    assert "Certificate/web-tls (cert-manager.io/v1)" in message
    assert "spec.dnsName: unknown field 'dnsName'" in message


def test_certificate_missing_required_field_fails(crds: pathlib.Path) -> None:
    obj = certificate()
    del obj["spec"]["issuerRef"]
    assert "spec: 'issuerRef' is a required property" in _error(obj)


def test_valid_cnpg_cluster_passes(crds: pathlib.Path) -> None:
    validate_object(cnpg_cluster())


def test_cnpg_cluster_unknown_storage_field_fails(crds: pathlib.Path) -> None:
    obj = cnpg_cluster()
    obj["spec"]["storage"]["sizee"] = "10Gi"
    assert "spec.storage.sizee: unknown field 'sizee'" in _error(obj)


def test_cnpg_cluster_wrong_type_fails(crds: pathlib.Path) -> None:
    obj = cnpg_cluster()
    obj["spec"]["instances"] = "2"
    assert "spec.instances: '2' is not of type 'integer'" in _error(obj)


@pytest.mark.parametrize("cpu", [1, "500m"])
def test_int_or_string_accepts_both(crds: pathlib.Path, cpu: int | str) -> None:
    obj = cnpg_cluster()
    obj["spec"]["resources"] = {"requests": {"cpu": cpu, "memory": "1Gi"}}
    validate_object(obj)


@pytest.mark.parametrize("cpu", [True, 0.5, ["1"]])
def test_int_or_string_rejects_other_types(crds: pathlib.Path, cpu: Any) -> None:
    obj = cnpg_cluster()
    obj["spec"]["resources"] = {"requests": {"cpu": cpu}}
    assert "spec.resources.requests.cpu" in _error(obj)


def test_preserve_unknown_fields_accepts_anything(crds: pathlib.Path) -> None:
    obj = argocd_application()
    obj["spec"]["source"]["helm"]["valuesObject"] = {
        "anything": {"nested": [1, "two", {"three": None}]},
        "replicaCount": 3,
    }
    validate_object(obj)
    # ...but the object holding valuesObject is still closed.
    obj["spec"]["source"]["helm"]["valuesObjectt"] = {}
    assert "spec.source.helm.valuesObjectt: unknown field" in _error(obj)


def test_nested_object_without_properties_is_closed(crds: pathlib.Path) -> None:
    # CNPG declares this metadata as bare {type: object}; the API server prunes its fields.
    obj = cnpg_cluster()
    obj["spec"]["ephemeralVolumeSource"] = {
        "volumeClaimTemplate": {"metadata": {"labels": {"a": "b"}}, "spec": {"accessModes": ["ReadWriteOnce"]}}
    }
    assert "spec.ephemeralVolumeSource.volumeClaimTemplate.metadata.labels: unknown field" in _error(obj)


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        ({"name": "web-tls", "labelz": {"a": "b"}}, "metadata.labelz: unknown field 'labelz'"),
        ({"name": "web-tls", "labels": {"replicas": 3}}, "metadata.labels.replicas: 3 is not of type 'string'"),
        ({"name": ["web-tls"]}, "metadata.name: ['web-tls'] is not of type 'string'"),
        ({"name": "web-tls", "namespace": 1}, "metadata.namespace: 1 is not of type 'string'"),
        ({"name": "web-tls", "annotations": {"a": True}}, "metadata.annotations.a: True is not of type 'string'"),
    ],
)
def test_custom_resource_metadata_is_checked(crds: pathlib.Path, metadata: dict[str, Any], expected: str) -> None:
    obj = certificate()
    obj["metadata"] = metadata
    assert expected in _error(obj)


def test_custom_resource_full_metadata_passes(crds: pathlib.Path) -> None:
    obj = certificate()
    obj["metadata"] = {
        "name": "web-tls",
        "namespace": "apps",
        "labels": {"app.kubernetes.io/name": "web"},
        "annotations": {"pulumi.com/skipAwait": "true"},
        "finalizers": ["example.com/cleanup"],
        "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": "1234"}],
    }
    validate_object(obj)


def test_custom_resource_unknown_top_level_field_fails(crds: pathlib.Path) -> None:
    obj = certificate()
    obj["specc"] = copy.deepcopy(obj["spec"])
    assert "specc: unknown field 'specc'" in _error(obj)


def test_unknown_custom_kind_or_version_fails(crds: pathlib.Path) -> None:
    obj = certificate()
    obj["kind"] = "Certificat"
    assert "no CRD in" in _error(obj)
    obj = certificate()
    obj["apiVersion"] = "cert-manager.io/v1alpha2"
    message = _error(obj)
    assert "no CRD in" in message and "cert-manager.io/v1 Certificate" in message
    obj["apiVersion"] = "example.com/v1"
    assert "no CRD for group 'example.com'" in _error(obj)
    # kubernetes_validate alone would look this up in its apps/v1 schema files.
    obj = deployment()
    obj["apiVersion"] = "apps.example.com/v1"
    assert "no CRD for group 'apps.example.com'" in _error(obj)


def test_validate_objects_mixes_builtin_and_custom(crds: pathlib.Path) -> None:
    bad_cluster = cnpg_cluster()
    bad_cluster["spec"]["storage"]["sizee"] = "1Gi"
    bad_deployment = deployment()
    bad_deployment["spec"]["replicas"] = "3"
    with pytest.raises(StrictValidationError) as caught:
        validate_objects([certificate(), bad_cluster, argocd_application(), bad_deployment])
    assert len(caught.value.problems) == 2
    assert "Cluster/db" in caught.value.problems[0]
    assert "Deployment/web" in caught.value.problems[1]


# --- CRD directory handling -------------------------------------------------------------


def test_missing_crd_dir_is_reported(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "no-such-dir"
    monkeypatch.setenv(CRDS_DIR_ENV, str(missing))
    assert crds_dir() is None
    message = _error(certificate())
    assert "CRD directory" in message and str(missing) in message and CRDS_DIR_ENV in message
    validate_object(deployment())  # built-in kinds do not need the CRDs
    with pytest.raises(pytest.skip.Exception, match=f"CRDs not found at {missing}"):
        require_crds()


def test_empty_crd_dir_is_reported(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CRDS_DIR_ENV, str(tmp_path))
    assert crds_dir() == tmp_path.resolve()
    message = _error(certificate())
    assert f"no CRD in {tmp_path.resolve()}" in message


SYNTHETIC_CRD = textwrap.dedent(
    """\
    apiVersion: apiextensions.k8s.io/v1
    kind: CustomResourceDefinition
    metadata:
      name: widgets.example.com
    spec:
      group: example.com
      names: {kind: Widget, plural: widgets}
      scope: Namespaced
      versions:
      - name: v1
        served: true
        storage: true
        schema:
          openAPIV3Schema:
            type: object
            properties:
              spec:
                type: object
                required: [size]
                properties:
                  size: {x-kubernetes-int-or-string: true}
                  note: {type: string, nullable: true}
                  mode: {type: string, enum: [fast, slow]}
                  ratio: {type: number, minimum: 0, exclusiveMinimum: true}
                  template: {type: object, x-kubernetes-embedded-resource: true, properties: {spec: {type: object}}}
                  extra: {type: object, x-kubernetes-preserve-unknown-fields: true, properties: {known: {type: integer}}}
      - name: v0
        served: false
        storage: false
        schema:
          openAPIV3Schema: {type: object}
    """
)


@pytest.fixture
def widget_crds(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "example.com_widgets.yaml").write_text(SYNTHETIC_CRD)
    monkeypatch.setenv(CRDS_DIR_ENV, str(tmp_path))


def widget(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 1, **spec}}


@pytest.mark.usefixtures("widget_crds")
def test_synthetic_crd_translation() -> None:
    validate_object(widget(size="1Gi", note=None, mode="fast", ratio=0.5, extra={"known": 1, "free": {"x": 1}}))
    validate_object(widget(template={"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}}))
    assert "spec.size: True is not of type 'integer', 'string'" in _error(widget(size=True))
    assert "spec: 'size' is a required property" in _error(
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {}}
    )
    assert "spec.mode: 'medium' is not one of" in _error(widget(mode="medium"))
    assert "spec.ratio: 0 is less than or equal to the minimum" in _error(widget(ratio=0))
    assert "spec.extra.known: 'one' is not of type 'integer'" in _error(widget(extra={"known": "one"}))
    assert "spec.template.metadata.labelz: unknown field" in _error(widget(template={"metadata": {"labelz": {}}}))
    assert "spec.template.spec.x: unknown field" in _error(widget(template={"spec": {"x": 1}}))
    # Not nullable: null is rejected (the API server would silently prune it).
    assert "spec.mode: None is not" in _error(widget(mode=None))
    # v0 is not served.
    assert "no CRD in" in _error({**widget(), "apiVersion": "example.com/v0"})
