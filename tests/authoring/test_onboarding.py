"""minnova-idp init and register: files a developer starts with, valid as written."""

from __future__ import annotations

import shutil

from minnova_idp.authoring.onboarding import SCHEMA_URL
from minnova_idp.load.registry import read_registry
from minnova_idp.load.validation import validate_document
from minnova_idp.load.yamlsafe import load_yaml, load_yaml_file
from minnova_idp.model.app_config import AppConfig
from minnova_idp.model.registry import RegistryEntry

from tests.conftest import PROJECT_DIR
from tests.support.cli import cli


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
    result = cli("register", "journal", "git@github.com:minnova/journal.git", "--ref", "v1.2.0", "--path", "svc/journal",
                 "--project-dir", str(project), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    entry = validate_document(RegistryEntry, load_yaml_file(project / "deployments/minnova/apps/journal.yaml"))
    assert (entry.repo, entry.ref, entry.path) == ("git@github.com:minnova/journal.git", "v1.2.0", "svc/journal")
    registered, problems = read_registry(project, "deployments/minnova/apps")
    assert not problems and "journal" in [r.entry.name for r in registered]


def test_register_errors(tmp_path):
    project = tmp_path / "infra"
    (project / "deployments/a/apps").mkdir(parents=True)
    (project / "deployments/b/apps").mkdir(parents=True)
    ambiguous = cli("register", "journal", "https://github.com/x/y.git", "--project-dir", str(project), cwd=tmp_path)
    assert ambiguous.returncode == 1 and "which deployment? there are: a, b" in ambiguous.stderr
    bad = cli("register", "journal", "http://github.com/x/y.git", "--deployment", "a", "--project-dir", str(project),
              cwd=tmp_path)
    assert bad.returncode == 1 and "uses plain http" in bad.stderr and "Traceback" not in bad.stderr
    assert not (project / "deployments/a/apps/journal.yaml").exists()


def test_register_deployment_is_a_dns_label_never_a_path(tmp_path):
    """Before: `--deployment ../../escape` wrote tmp/escape/apps/journal.yaml, outside the infra repo."""
    project = tmp_path / "infra"
    (project / "deployments/minnova/apps").mkdir(parents=True)
    for bad in ("../../escape", "/etc", "a/b", "Acme", "a" * 21, "-x", "."):
        result = cli("register", "journal", "https://github.com/x/y.git", f"--deployment={bad}", "--new",
                     "--project-dir", str(project), cwd=tmp_path)
        assert result.returncode == 1 and "Traceback" not in result.stderr, (bad, result.stderr)
        assert "  - --deployment: " in result.stderr and "is not a deployment name: a DNS label" in result.stderr
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == [
        "infra", "infra/deployments", "infra/deployments/minnova", "infra/deployments/minnova/apps"]


def test_register_a_typo_in_the_deployment_is_an_error_and_new_starts_one(tmp_path):
    """Before: a typo'd deployment was silently created."""
    project = tmp_path / "infra"
    (project / "deployments/minnova/apps").mkdir(parents=True)
    typo = cli("register", "journal", "https://github.com/x/y.git", "--deployment", "minova",
               "--project-dir", str(project), cwd=tmp_path)
    assert typo.returncode == 1 and "Traceback" not in typo.stderr
    assert ("--deployment: there is no deployment 'minova' (no deployments/minova/apps directory); there are: minnova "
            "(hint: check the spelling, or pass --new to start the deployment 'minova')") in typo.stderr
    assert not (project / "deployments/minova").exists()
    started = cli("register", "journal", "https://github.com/x/y.git", "--deployment", "globex", "--new",
                  "--project-dir", str(project), cwd=tmp_path)
    assert started.returncode == 0, started.stderr
    registered, problems = read_registry(project, "deployments/globex/apps")
    assert not problems and [r.entry.name for r in registered] == ["journal"]
    lonely = cli("register", "journal", "https://github.com/x/y.git", "--new", "--project-dir", str(project),
                 cwd=tmp_path)
    assert lonely.returncode == 1 and "--new: needs --deployment NAME" in lonely.stderr


def test_register_errors_name_the_flag_and_nothing_is_written(tmp_path):
    project = tmp_path / "infra"
    (project / "deployments/minnova/apps").mkdir(parents=True)
    result = cli("register", "Bad_Name", "http://github.com/x/y.git", "--ref=-x", "--path", "../up",
                 "--deployment", "a/b", "--project-dir", str(project), cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == "5 problems found:"
    assert [line.split(":")[0] for line in lines[1:]] == [
        "  - NAME", "  - REPO", "  - --ref", "  - --path", "  - --deployment"]
    assert "deployments/" not in result.stderr.replace("deployments/<", "")  # no file that was never written
    assert list((project / "deployments/minnova/apps").iterdir()) == []


def test_register_values_read_back_exactly_as_given(tmp_path):
    """Values YAML would read as numbers, booleans or as the end of a quoted string are quoted safely."""
    project = tmp_path / "infra"
    (project / "deployments/minnova/apps").mkdir(parents=True)
    for name, ref, path in (("one", "1.0", "2024"), ("two", "yes", "on/off"), ("three", 'rel"ease', "svc/a b")):
        result = cli("register", name, 'https://github.com/x/"y.git', "--ref", ref, "--path", path,
                     "--project-dir", str(project), cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        entry = validate_document(RegistryEntry, load_yaml_file(project / f"deployments/minnova/apps/{name}.yaml"))
        assert (entry.repo, entry.ref, entry.path) == ('https://github.com/x/"y.git', ref, path)


def test_register_force_replaces_a_symlink_and_never_writes_through_it(tmp_path):
    project = tmp_path / "infra"
    apps = project / "deployments/minnova/apps"
    apps.mkdir(parents=True)
    outside = tmp_path / "outside.txt"
    outside.write_text("not yours\n")
    (apps / "journal.yaml").symlink_to(outside)
    args = ("register", "journal", "https://github.com/x/y.git", "--project-dir", str(project))
    kept = cli(*args, cwd=tmp_path)
    assert kept.returncode == 1 and "deployments/minnova/apps/journal.yaml: already exists" in kept.stderr
    assert cli(*args, "--force", cwd=tmp_path).returncode == 0
    assert outside.read_text() == "not yours\n"
    assert not (apps / "journal.yaml").is_symlink() and "name: journal" in (apps / "journal.yaml").read_text()
    assert sorted(p.name for p in apps.iterdir()) == ["journal.yaml"]  # no temporary file left


def test_init_errors_name_the_flag_and_write_nothing(tmp_path):
    result = cli("init", str(tmp_path), "--name", "BAD_name", "--port", "99999", "--image", "ghcr.io/A/b:tag",
                 "--domain", "https://x", cwd=tmp_path)
    assert result.returncode == 1
    lines = [line.strip() for line in result.stderr.splitlines()[1:]]
    assert [line.split(":")[0] for line in lines] == ["- --name", "- --port", "- --image", "- --domain"]
    assert not (tmp_path / ".minnova").exists()


def test_init_scaffolds_workers_cron_jobs_and_a_release_phase_as_comments_that_validate(tmp_path):
    """Uncommenting the scaffolded blocks gives a valid config: the template cannot drift from the models."""
    from minnova_idp.authoring.onboarding import init_app
    from minnova_idp.load.validation import validate_document
    from minnova_idp.load.yamlsafe import load_yaml
    from minnova_idp.model.app_config import AppConfig

    target = init_app(tmp_path, "demo", 8080, None, "example.com")
    text = target.read_text()
    for block in ("# processes:", "#   worker:", "# cron:", "#   nightly:", "# release:", "#   command:"):
        assert block in text, block
        text = text.replace(block, block.replace("# ", "", 1) if block.startswith("# ") else block.replace("#", " ", 1))
    config = validate_document(AppConfig, load_yaml(text, "app.yaml"))
    assert set(config.processes) == {"worker"} and set(config.cron) == {"nightly"} and config.release is not None


def test_init_scaffolds_host_aliases_as_comments_that_validate(tmp_path):
    """Uncommented, the aliases example is valid: one redirecting, one serving (docs/dns-tls.md)."""
    from minnova_idp.authoring.onboarding import init_app
    from minnova_idp.load.validation import validate_document
    from minnova_idp.load.yamlsafe import load_yaml
    from minnova_idp.model.app_config import AppConfig

    text = init_app(tmp_path, "demo", 8080, None, "example.com").read_text()
    for block in ("    # aliases:", "    #   - {host: www.", "    #   - {host: shop."):
        assert block in text, block
        text = text.replace(block, block.replace("# ", "", 1) if block.endswith("aliases:") else
                            block.replace("#", " ", 1))
    prod = validate_document(AppConfig, load_yaml(text, "app.yaml")).environments["prod"]
    assert [(alias.host, alias.redirect) for alias in prod.aliases] == [("www.demo.example.com", True),
                                                                       ("shop.demo.example.com", False)]
def test_init_scaffolds_an_internal_service_that_validates_once_uncommented(tmp_path):
    """ADR 0016: the commented `processes` block of `init` shows an internal service; uncommented, it is valid and
    gives the process its port. `register` shows `allowFrom` as a comment."""
    assert cli("init", str(tmp_path), "--name", "oracle", cwd=tmp_path).returncode == 0
    lines = (tmp_path / ".minnova/app.yaml").read_text().splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith("# processes:"))
    end = next(i for i in range(start + 1, len(lines)) if not lines[i].startswith("#   "))
    text = "".join(lines[:start] + [line[2:] for line in lines[start:end]] + lines[end:])
    config = validate_document(AppConfig, load_yaml(text, "app.yaml"))
    assert config.processes["api"].port == 8080 and config.processes["worker"].port is None
    project = tmp_path / "infra"
    shutil.copytree(PROJECT_DIR / "deployments", project / "deployments")
    assert cli("register", "journal", "https://github.com/minnova/journal.git", "--project-dir", str(project),
               cwd=tmp_path).returncode == 0
    assert "# allowFrom: [other-app]" in (project / "deployments/minnova/apps/journal.yaml").read_text()


def test_init_comments_say_what_holds_a_port_and_when_mysql_instances_are_fixed(tmp_path):
    """The `# processes:` line introduces a worker and an internal service (with a port): it may not say "no port"
    of processes in general; MySQL's instances cannot change once an environment is deployed (docs/mysql.md)."""
    from minnova_idp.authoring.onboarding import init_app

    lines = init_app(tmp_path, "demo", 8080, None, "example.com").read_text().splitlines()
    processes = next(line for line in lines if line.startswith("# processes:"))
    assert "no port" not in processes and "port" in processes, processes
    at = next(i for i, line in enumerate(lines) if "mysql: {instances: 3}" in line)
    instances = lines[at] + " " + lines[at + 1]
    assert "fixed after the first deploy" in instances and "restore" in instances, instances
