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
    assert "get and list" in problem.hint
