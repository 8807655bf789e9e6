"""`--version` names the exact build: from a git checkout, or from what pip recorded for a git install (PEP 610)."""

from __future__ import annotations

import json

import pytest

from minnova_idp.cli import version


class FakeDistribution:
    def __init__(self, direct_url: str | None):
        self.direct_url = direct_url

    def read_text(self, name: str) -> str | None:
        return self.direct_url if name == "direct_url.json" else None


@pytest.mark.parametrize(("direct_url", "expected"), [
    (json.dumps({"url": "git+https://example.com/acme/infra",
                 "vcs_info": {"vcs": "git", "commit_id": "bbbd5218" + "0" * 32}}), "bbbd52180000"),
    (json.dumps({"url": "file:///src", "dir_info": {"editable": True}}), None),  # a local or editable install
    ("not json", None),
    (None, None),  # installed from an index or a wheel file: no direct_url.json
])
def test_a_git_install_names_its_commit(monkeypatch, direct_url, expected):
    import importlib.metadata

    monkeypatch.setattr(importlib.metadata, "distribution", lambda name: FakeDistribution(direct_url))
    assert version.installed_commit() == expected


def test_the_version_text_falls_back_to_the_installed_commit(monkeypatch):
    monkeypatch.setattr(version, "checkout_commit", lambda directory=None: None)
    monkeypatch.setattr(version, "installed_commit", lambda: "bbbd52180000")
    assert version.version_text().endswith("(commit bbbd52180000)")
