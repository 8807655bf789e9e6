"""scripts/fetch_upstream.py offline (issue 24 item 3): it named no cause but a traceback, and left empty
empty crds/ and charts/ directories behind, which the tests then read as present. Now: one line saying which
download failed, exit 1, nothing written; and everything moved into place only once all of it arrived."""

from __future__ import annotations

import importlib.util
import io
import sys
import types
import urllib.error

import pytest

from tests.conftest import PROJECT_DIR


@pytest.fixture
def script(monkeypatch):
    spec = importlib.util.spec_from_file_location("fetch_upstream", PROJECT_DIR / "scripts/fetch_upstream.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def offline(url, timeout):
    raise urllib.error.URLError(OSError(-2, "Name or service not known"))


def served(url, timeout):
    return io.BytesIO(f"# {url}\n".encode())


def fake_helm(monkeypatch, pull):
    monkeypatch.setitem(sys.modules, "helm_python", types.SimpleNamespace(registry=types.SimpleNamespace(pull=pull)))


def test_offline_it_names_the_download_and_writes_nothing(script, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(script.urllib.request, "urlopen", offline)
    assert script.main([str(tmp_path / "upstream")]) == 1
    error = capsys.readouterr().err
    assert error.startswith("fetch_upstream: cannot download https://raw.githubusercontent.com/argoproj/")
    assert "Name or service not known" in error and "nothing was written" in error
    assert not (tmp_path / "upstream").exists()


def test_a_failed_chart_writes_no_crd_either(script, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(script.urllib.request, "urlopen", served)

    def refuse(name, version, repo_url, destination):
        raise RuntimeError("failed to fetch index.yaml")
    fake_helm(monkeypatch, refuse)
    assert script.main([str(tmp_path / "upstream")]) == 1
    assert "cannot pull chart argo-cd" in capsys.readouterr().err
    assert not (tmp_path / "upstream").exists()


def test_everything_arrives_then_moves_into_place(script, monkeypatch, tmp_path):
    monkeypatch.setattr(script.urllib.request, "urlopen", served)

    def pull(name, version, repo_url, destination):
        (destination / f"{name}-{version.lstrip('v')}.tgz").write_bytes(b"chart")
    fake_helm(monkeypatch, pull)
    assert script.main([str(tmp_path / "upstream")]) == 0
    crds = sorted(p.name for p in (tmp_path / "upstream/crds").iterdir())
    assert crds == sorted(script.CRDS) and len(list((tmp_path / "upstream/charts").iterdir())) == len(script.CHARTS)
