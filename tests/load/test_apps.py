"""Registry and app configs from real git repositories on this machine (file://), all or nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from minnova_idp.load.apps import load_apps
from minnova_idp.load.stack import parse_stack_config
from minnova_idp.model.errors import ConfigError

from tests.conftest import DESIGN_DOC_APP_YAML, git, make_app_repo

STOREFRONT_YAML = """\
name: storefront
image: {repository: registry.minnova.io/storefront, tag: "2.0.1"}
port: 3000
environments:
  dev: {host: shop.dev.minnova.io, imageTag: "2.1.0-rc.1"}
"""


def stack(extra: dict | None = None):
    raw = {"minnova:deployment": "acme", "minnova:environments": '["dev"]', "minnova:baseDomain": "minnova.io",
           "minnova:ingressClass": "traefik", "minnova:ingressAddress": "203.0.113.7",
           "minnova:git": '{"provider": "github"}', **(extra or {})}
    return parse_stack_config(raw, set(), "Pulumi.dev.yaml")


class Project:
    def __init__(self, root: Path):
        self.root = root
        self.registry = root / "deployments" / "acme" / "apps"
        self.registry.mkdir(parents=True)
        self.cache = root / "cache"

    def register(self, name: str, **fields: str) -> None:
        lines = [f"name: {name}", *(f"{key}: {value}" for key, value in fields.items())]
        (self.registry / f"{name}.yaml").write_text("\n".join(lines) + "\n")

    def repo(self, name: str, files: dict[str, str]) -> tuple[str, str]:
        path = self.root / "repos" / name
        commit = make_app_repo(path, files)
        return path.as_uri(), commit

    def load(self):
        return load_apps(self.root, stack(), cache_dir=self.cache)

    def problems(self) -> list[str]:
        with pytest.raises(ConfigError) as caught:
            self.load()
        return [str(p) for p in caught.value.problems]


@pytest.fixture
def project(tmp_path) -> Project:
    return Project(tmp_path)


def test_loads_apps_from_git_with_commit_and_tag_defaults(project):
    oracle_url, oracle_commit = project.repo("oracle", {".minnova/app.yaml": DESIGN_DOC_APP_YAML, "src/x": "x"})
    shop_url, shop_commit = project.repo("shop", {".minnova/app.yaml": STOREFRONT_YAML})
    project.register("oracle", repo=oracle_url)
    project.register("storefront", repo=shop_url, ref="main")
    apps = project.load()
    assert [a.name for a in apps] == ["oracle", "storefront"]
    oracle, storefront = apps
    assert oracle.commit == oracle_commit and storefront.commit == shop_commit
    assert oracle.image_tag("dev") == oracle_commit  # app CI pushes <repository>:<sha>
    assert storefront.image_tag("dev") == "2.1.0-rc.1"  # pinned per environment wins
    assert oracle.config_file == f"{oracle_url}@{oracle_commit[:12]}:.minnova/app.yaml"


def test_new_commits_are_picked_up(project):
    url, first = project.repo("oracle", {".minnova/app.yaml": DESIGN_DOC_APP_YAML})
    project.register("oracle", repo=url)
    assert project.load()[0].config.port == 4000
    repo = Path(url.removeprefix("file://"))
    (repo / ".minnova" / "app.yaml").write_text(DESIGN_DOC_APP_YAML.replace("4000", "4001"))
    git(repo, "commit", "-qam", "new port")
    app = project.load()[0]
    assert app.config.port == 4001 and app.commit != first


def test_monorepo_path(project):
    url, _ = project.repo("mono", {"services/oracle/.minnova/app.yaml": DESIGN_DOC_APP_YAML})
    project.register("oracle", repo=url, path="services/oracle")
    app = project.load()[0]
    assert app.name == "oracle" and app.config_file.endswith(":services/oracle/.minnova/app.yaml")


def test_unreachable_repo_stops_everything(project):
    good_url, _ = project.repo("shop", {".minnova/app.yaml": STOREFRONT_YAML})
    project.register("storefront", repo=good_url)
    missing = (project.root / "repos" / "nope").as_uri()
    project.register("oracle", repo=missing)
    found = project.problems()
    assert len(found) == 1
    assert found[0].startswith(f"deployments/acme/apps/oracle.yaml: repo: cannot fetch {missing}:")


def test_every_problem_of_every_app_is_listed(project):
    bad_url, bad_commit = project.repo("oracle", {".minnova/app.yaml": DESIGN_DOC_APP_YAML.replace("4000", "0")})
    empty_url, _ = project.repo("empty", {"README.md": "no config"})
    project.register("oracle", repo=bad_url)
    project.register("ghost", repo=empty_url)
    project.register("Bad_Name", repo=bad_url)
    (project.registry / "typo.yml").write_text("name: typo\n")
    found = project.problems()
    assert f"{bad_url}@{bad_commit[:12]}:.minnova/app.yaml:3: port: Input should be greater than or equal to 1" in found
    assert any(p.startswith(f"{empty_url}@") and "app config not found" in p for p in found)
    assert any(p.startswith("deployments/acme/apps/Bad_Name.yaml:1: name:") for p in found)
    assert any(p.startswith("deployments/acme/apps/typo.yml: registry files must end in .yaml") for p in found)


def test_missing_ref(project):
    url, _ = project.repo("oracle", {".minnova/app.yaml": DESIGN_DOC_APP_YAML})
    project.register("oracle", repo=url, ref="release-9")
    found = project.problems()
    assert len(found) == 1 and "release-9" in found[0]


def test_registry_name_must_match_file_and_app_config(project):
    url, _ = project.repo("oracle", {".minnova/app.yaml": DESIGN_DOC_APP_YAML})
    (project.registry / "oracle.yaml").write_text(f"name: sphinx\nrepo: {url}\n")
    assert project.problems() == ["deployments/acme/apps/oracle.yaml: name: 'sphinx' does not match the file name "
                                  "(hint: rename the file to sphinx.yaml or set name: oracle)"]
    (project.registry / "oracle.yaml").unlink()
    project.register("sphinx", repo=url)
    assert any("name: 'oracle' does not match the registry entry 'sphinx'" in p for p in project.problems())


def test_two_apps_claiming_one_host_names_both(project):
    first, _ = project.repo("oracle", {".minnova/app.yaml": DESIGN_DOC_APP_YAML})
    copycat = DESIGN_DOC_APP_YAML.replace("name: oracle", "name: copycat").replace(
        "oracle.minnova.io", "copycat.minnova.io")
    second, _ = project.repo("copycat", {".minnova/app.yaml": copycat})
    project.register("oracle", repo=first)
    project.register("copycat", repo=second)
    found = project.problems()
    assert len(found) == 1
    # Apps are taken in name order: copycat holds the host, oracle's claim is the one refused.
    assert found[0].startswith(f"{first}@") and ": environments.dev.host: " in found[0]
    assert "'oracle.dev.minnova.io' is already the host of app 'copycat' (dev)" in found[0]


@pytest.mark.parametrize("entry,message", [
    ({"repo": "http://github.com/acme/oracle.git"}, "uses plain http"),
    ({"repo": "https://user:token@github.com/acme/oracle.git"}, "embeds credentials"),
    ({"repo": "-uhack"}, "is not a git URL"),
    ({"repo": "ftp://x/y"}, "not supported"),
    ({}, "set `repo` (a git URL), `local`"),
    ({"repo": "https://github.com/a/b.git", "local": "x", "ref": "main"}, "`ref` applies to fetching `repo`"),
    ({"repo": "https://github.com/a/b.git", "projectId": 0}, "greater than or equal to 1"),
    ({"repo": "https://github.com/a/b.git", "ref": "a..b"}, "not a valid git branch"),
    ({"repo": "https://github.com/a/b.git", "path": "../etc"}, "without '..'"),
    ({"repo": "https://github.com/a/b.git", "branch": "main"}, "unknown key 'branch'"),
])
def test_bad_registry_entries(project, entry, message):
    project.register("oracle", **entry)
    found = project.problems()
    assert any(p.startswith("deployments/acme/apps/oracle.yaml") and message in p for p in found), found


def test_local_config_with_a_repo_for_previews(project):
    (project.root / "apps" / "oracle" / ".minnova").mkdir(parents=True)
    (project.root / "apps" / "oracle" / ".minnova" / "app.yaml").write_text(
        DESIGN_DOC_APP_YAML.replace("registry.minnova.io/oracle}", "registry.minnova.io/oracle, tag: '1'}"))
    project.register("oracle", local="apps/oracle", repo="https://github.com/acme/oracle.git")
    (app,) = project.load()
    assert app.commit is None and app.entry.repo == "https://github.com/acme/oracle.git"  # nothing was fetched


def test_local_source_needs_pinned_tags(project):
    (project.root / "apps" / "oracle" / ".minnova").mkdir(parents=True)
    (project.root / "apps" / "oracle" / ".minnova" / "app.yaml").write_text(DESIGN_DOC_APP_YAML)
    project.register("oracle", local="apps/oracle")
    found = project.problems()
    assert "apps/oracle/.minnova/app.yaml: environments.dev.imageTag: no image tag: a local source has no commit " \
           "to default to (hint: set image.tag or environments.<env>.imageTag)" in found


def test_missing_registry_directory(tmp_path):
    with pytest.raises(ConfigError, match="deployments/acme/apps: registry directory not found"):
        load_apps(tmp_path, stack(), cache_dir=tmp_path / "cache")


def test_registry_path_setting(tmp_path):
    (tmp_path / "apps").mkdir()
    assert load_apps(tmp_path, stack({"minnova:registryPath": "apps"}), cache_dir=tmp_path / "cache") == []


@pytest.mark.parametrize("repo", [
    "https://bot:ghp_SUPERSECRET123@github.com/acme/oracle.git",
    "https://ghp_SUPERSECRET123@github.com/acme/oracle.git",
    "ssh://git:SUPERSECRET123@git.acme.dev/acme/oracle.git",
    "https://gitlab.com/acme/oracle.git?private_token=SUPERSECRET123",
    "git@github.com:acme/oracle.git?token=SUPERSECRET123",
])
def test_credentials_in_a_repo_url_are_refused_and_never_echoed(project, repo):
    project.register("oracle", repo=repo)
    found = project.problems()
    assert any(p.startswith("deployments/acme/apps/oracle.yaml") and "repo: " in p and "embeds " in p
               for p in found), found
    assert "SUPERSECRET123" not in "\n".join(found)


def test_an_age_secret_key_where_a_recipient_belongs_is_refused_and_never_echoed():
    from minnova_idp.load.stack import parse_stack_config
    from minnova_idp.model.errors import ConfigError

    secret = "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ"
    raw = {"minnova:deployment": "acme", "minnova:environments": '["dev"]', "minnova:baseDomain": "acme.dev",
           "minnova:ingressClass": "traefik", "minnova:ingressAddress": "203.0.113.7",
           "minnova:git": '{"provider": "gitea", "url": "https://bot:SUPERSECRET123@git.acme.dev/"}',
           "minnova:secretsRecipients": '{"oracle": {"dev": "%s"}}' % secret}
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(raw, set(), "Pulumi.dev.yaml")
    found = [str(p) for p in caught.value.problems]
    assert any("minnova:secretsRecipients.oracle.dev: is an age secret key" in p for p in found), found
    assert any("minnova:git.url: 'https://***@git.acme.dev/' embeds credentials" in p for p in found), found
    assert secret not in "\n".join(found) and "SUPERSECRET123" not in "\n".join(found)


def test_an_oversized_file_under_minnova_stops_the_app_with_its_registry_entry_named(project):
    url, commit = project.repo("oracle", {".minnova/app.yaml": DESIGN_DOC_APP_YAML,
                                          ".minnova/restore-check.sql": "-- x\n" * 70_000})
    project.register("oracle", repo=url)
    assert project.problems() == [
        f"deployments/acme/apps/oracle.yaml: repo: cannot fetch {url}: .minnova/restore-check.sql: larger than the "
        "limit of 262144 bytes per file, so not fetched (.minnova/ is for config, secrets and SQL only)"]


def test_registry_links_and_directories_stop_the_run_without_being_read(project, tmp_path):
    """(FIFOs and devices: tests/load/test_hostile_inputs.py, where a hang fails instead of blocking the suite.)"""
    url, _ = project.repo("shop", {".minnova/app.yaml": STOREFRONT_YAML})
    outside = tmp_path / "outside.yaml"
    outside.write_text(f"name: storefront\nrepo: {url}\n")
    (project.registry / "storefront.yaml").symlink_to(outside)
    (project.registry / "oracle.yaml").mkdir()
    assert project.problems() == [
        "deployments/acme/apps/oracle.yaml: is a directory, expected a file",
        "deployments/acme/apps/storefront.yaml: is a symbolic link; only regular files are read here "
        "(hint: commit the entry itself: a link could point outside the repository)"]
