"""minnova-idp init and register: files a developer starts with, valid as written."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from minnova_idp.core.app_config import AppConfig
from minnova_idp.core.registry import RegistryEntry
from minnova_idp.core.onboarding import SCHEMA_URL
from minnova_idp.core.registry import read_registry
from minnova_idp.core.validation import validate_document
from minnova_idp.core.yamlsafe import load_yaml_file

from .conftest import PROJECT_DIR


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "minnova_idp.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60)


def test_init_writes_a_valid_commented_app_yaml(tmp_path):
    repo = tmp_path / "Payments_Service"
    repo.mkdir()
    result = cli("init", cwd=repo)
    assert result.returncode == 0, result.stderr
    text = (repo / ".minnova/app.yaml").read_text()
    assert text.startswith(f"# yaml-language-server: $schema={SCHEMA_URL}\n")
    config = validate_document(AppConfig, load_yaml_file(repo / ".minnova/app.yaml"))
    assert config.name == "payments-service" and config.port == 8080
    assert sum(line.lstrip().startswith("#") for line in text.splitlines()) >= 5


def test_init_flags_and_refusing_to_overwrite(tmp_path):
    args = ["init", str(tmp_path), "--name", "oracle", "--port", "4000", "--image", "ghcr.io/acme/oracle",
            "--domain", "acme.dev"]
    assert cli(*args, cwd=tmp_path).returncode == 0
    config = validate_document(AppConfig, load_yaml_file(tmp_path / ".minnova/app.yaml"))
    assert (config.name, config.port, config.image.repository) == ("oracle", 4000, "ghcr.io/acme/oracle")
    assert config.environments["prod"].host == "oracle.acme.dev"
    again = cli(*args, cwd=tmp_path)
    assert again.returncode == 1 and "already exists (hint: pass --force" in again.stderr
    assert cli(*args, "--force", cwd=tmp_path).returncode == 0


def test_init_rejects_bad_flags_clearly(tmp_path):
    result = cli("init", str(tmp_path), "--name", "Bad_Name", "--port", "0", cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "name:" in result.stderr and "port:" in result.stderr
    assert not (tmp_path / ".minnova").exists()


def test_register_writes_an_entry_the_registry_reads(tmp_path):
    project = tmp_path / "infra"
    shutil.copytree(PROJECT_DIR / "deployments", project / "deployments")
    result = cli("register", "ledger", "git@github.com:minnova/ledger.git", "--ref", "v1.2.0", "--path", "svc/ledger",
                 "--project-dir", str(project), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    entry = validate_document(RegistryEntry, load_yaml_file(project / "deployments/minnova/apps/ledger.yaml"))
    assert (entry.repo, entry.ref, entry.path) == ("git@github.com:minnova/ledger.git", "v1.2.0", "svc/ledger")
    registered, problems = read_registry(project, "deployments/minnova/apps")
    assert not problems and "ledger" in [r.entry.name for r in registered]


def test_register_errors(tmp_path):
    project = tmp_path / "infra"
    (project / "deployments/a/apps").mkdir(parents=True)
    (project / "deployments/b/apps").mkdir(parents=True)
    ambiguous = cli("register", "ledger", "https://github.com/x/y.git", "--project-dir", str(project), cwd=tmp_path)
    assert ambiguous.returncode == 1 and "which deployment? there are: a, b" in ambiguous.stderr
    bad = cli("register", "ledger", "http://github.com/x/y.git", "--deployment", "a", "--project-dir", str(project),
              cwd=tmp_path)
    assert bad.returncode == 1 and "uses plain http" in bad.stderr and "Traceback" not in bad.stderr
    assert not (project / "deployments/a/apps/ledger.yaml").exists()
