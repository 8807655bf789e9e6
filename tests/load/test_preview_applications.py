"""Reading the preview Applications for the cap (minnova_idp/load/preview_applications.py)."""

from __future__ import annotations

import json

import pytest

from minnova_idp.load import preview_applications as loader
from minnova_idp.model.errors import ConfigError
from minnova_idp.policy.preview_cap import PreviewApplication


def test_an_application_list_gives_name_app_and_creation_time():
    body = json.dumps({"kind": "ApplicationList", "items": [
        {"metadata": {"name": "oracle-pr-7", "creationTimestamp": "2026-12-01T10:00:00Z",
                      "labels": {"minnova.io/app": "oracle", "minnova.io/preview": "true"}}},
        {"metadata": {"name": "stray", "creationTimestamp": "2026-12-01T10:00:00Z"}},  # not made by our template
    ]}).encode()
    assert loader.parse_applications(body) == [PreviewApplication("oracle-pr-7", "oracle", "2026-12-01T10:00:00Z")]
    assert loader.parse_applications(b'{"items": null}') == []


def test_a_metadata_only_list_gives_the_same_and_marks_applications_being_deleted():
    """What the API server answers to ACCEPT (PartialObjectMetadataList, meta.k8s.io/v1): items with metadata
    only. A closed PR's Application carries a deletionTimestamp until its finalizers are done (rv23 F2)."""
    body = json.dumps({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
                       "metadata": {"resourceVersion": "81"}, "items": [
        {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
         "metadata": {"name": "oracle-pr-7", "namespace": "argocd", "creationTimestamp": "2026-12-01T10:00:00Z",
                      "labels": {"minnova.io/app": "oracle", "minnova.io/preview": "true"},
                      "annotations": {"minnova.io/preview-url": "https://oracle-pr-7.preview.acme.dev"}}},
        {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
         "metadata": {"name": "oracle-pr-5", "namespace": "argocd", "creationTimestamp": "2026-12-01T09:00:00Z",
                      "deletionTimestamp": "2026-12-02T09:00:00Z", "deletionGracePeriodSeconds": 0,
                      "finalizers": ["pre-delete-finalizer.argocd.argoproj.io",
                                     "resources-finalizer.argocd.argoproj.io"],
                      "labels": {"minnova.io/app": "oracle", "minnova.io/preview": "true"}}},
    ]}).encode()
    assert loader.parse_applications(body) == [
        PreviewApplication("oracle-pr-7", "oracle", "2026-12-01T10:00:00Z"),
        PreviewApplication("oracle-pr-5", "oracle", "2026-12-01T09:00:00Z", deleting=True)]


def test_the_request_asks_for_metadata_only_with_the_service_accounts_token():
    request = loader.applications_request({"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, "argocd", "t0k")
    assert request.get_header("Accept") == ("application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1, "
                                            "application/json")
    assert request.get_header("Authorization") == "Bearer t0k"
    assert request.full_url.startswith("https://10.0.0.1:443/apis/argoproj.io/v1alpha1/namespaces/argocd/")


def test_the_url_lists_preview_applications_of_argo_cds_namespace_only():
    url = loader.applications_url({"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}, "argocd")
    assert url == ("https://10.0.0.1:443/apis/argoproj.io/v1alpha1/namespaces/argocd/applications"
                   "?labelSelector=minnova.io%2Fpreview%3Dtrue")
    assert loader.applications_url({"KUBERNETES_SERVICE_HOST": "fd00::1"}, "argocd").startswith("https://[fd00::1]:443/")


def test_without_a_service_account_the_render_fails_closed_naming_why(tmp_path):
    with pytest.raises(ConfigError) as raised:
        loader.read_preview_applications({"KUBERNETES_SERVICE_HOST": "127.0.0.1"}, tmp_path)
    (problem,) = raised.value.problems
    assert "could not list the preview Applications to check the preview cap" in problem.message
    assert "needs list on applications.argoproj.io" in problem.hint
