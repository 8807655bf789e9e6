"""Failure isolation per app (issue 24, ADR 0004) with real git repositories on this machine (file://): an app whose
fetch or config fails keeps its recorded last good config; a new claim on a running app's host is the one refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from minnova_idp.load.inputs import Isolation, load_inputs
from minnova_idp.model.errors import ConfigError
from tests.conftest import DESIGN_DOC_APP_YAML, git

STACK = {"minnova:deployment": "acme", "minnova:environments": '["dev"]', "minnova:baseDomain": "minnova.io",
         "minnova:ingressClass": "traefik", "minnova:ingressAddress": "203.0.113.7",
         "minnova:git": '{"provider": "github"}',
         "minnova:cloudflare": json.dumps({"accountId": "0123456789abcdef0123456789abcdef",
                                           "zoneId": "fedcba9876543210fedcba9876543210"})}
SHOP_YAML = """\
name: shop
image: {repository: registry.minnova.io/shop, tag: "2.0.1"}
port: 3000
environments:
  dev: {host: shop.dev.minnova.io}
"""


class Project:
    def __init__(self, root: Path):
        self.root = root
        self.registry = root / "deployments" / "acme" / "apps"
        self.registry.mkdir(parents=True)

    def app(self, name: str, app_yaml: str) -> Path:
        repo = self.root / "repos" / name
        (repo / ".minnova").mkdir(parents=True)
        git(repo, "init", "-q", "-b", "main")
        self.commit(repo, app_yaml)
        (self.registry / f"{name}.yaml").write_text(f"name: {name}\nrepo: {repo.as_uri()}\n")
        return repo

    @staticmethod
    def commit(repo: Path, app_yaml: str) -> str:
        (repo / ".minnova" / "app.yaml").write_text(app_yaml)
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "--allow-empty", "-m", "config")
        return git(repo, "rev-parse", "HEAD")

    def load(self, outputs: dict | None, cache: str = "cache"):
        return load_inputs(self.root, dict(STACK), set(), "Pulumi.dev.yaml", cache_dir=self.root / cache,
                           isolation=Isolation(outputs or {}, known=outputs is not None))


def outputs_of(inputs) -> dict:
    """The outputs a run of `inputs` records that isolation reads, as `pulumi stack output --json` prints them."""
    from minnova_idp.model import names

    return json.loads(json.dumps({"appSources": inputs.sources,
                                  "imageTags": {names.component_name(app.name, env): [app.image_tag(env)]
                                                for app, env in inputs.deployed()}}))


@pytest.fixture
def project(tmp_path) -> Project:
    return Project(tmp_path)


@pytest.mark.integration  # git repositories and fetches
def test_a_failed_fetch_keeps_the_last_good_config_without_the_repository(project):
    """The repository is gone and the cache is new: the record alone re-renders the app, at its commit."""
    oracle = project.app("oracle", DESIGN_DOC_APP_YAML)
    project.app("shop", SHOP_YAML)
    good = project.load({})
    commit = good.apps[0].commit
    shutil.rmtree(oracle)
    kept = project.load(outputs_of(good), cache="fresh-cache")
    assert [app.name for app in kept.apps] == ["oracle", "shop"]
    oracle_app = kept.apps[0]
    assert oracle_app.commit == commit and oracle_app.config == good.apps[0].config
    assert oracle_app.image_tag("dev") == commit  # the tag it deployed (the commit), not a new one
    (degraded,) = kept.degraded.values()
    assert degraded.app == "oracle"
    assert degraded.keeps == f"keeps its last good config ({oracle.as_uri()}@{commit[:12]})"
    assert "cannot fetch" in str(degraded.problems[0])
    assert kept.sources["oracle"] == outputs_of(good)["appSources"]["oracle"]  # recorded again, unchanged


@pytest.mark.integration  # git repositories and fetches
def test_a_broken_commit_keeps_the_last_good_one_and_a_fixed_one_deploys(project):
    oracle = project.app("oracle", DESIGN_DOC_APP_YAML)
    good = project.load({})
    first = good.apps[0].commit
    project.commit(oracle, DESIGN_DOC_APP_YAML.replace("size: 5Gi", "size: 5GB"))  # issue 24's broken commit
    kept = project.load(outputs_of(good))
    assert kept.apps[0].commit == first and "database.size" in str(kept.degraded["oracle"].problems[0])
    fixed = project.commit(oracle, DESIGN_DOC_APP_YAML.replace("size: 5Gi", "size: 6Gi"))
    again = project.load(outputs_of(kept))
    assert again.apps[0].commit == fixed and not again.degraded


@pytest.mark.integration  # git repositories and fetches
def test_a_new_claim_on_a_running_apps_host_is_the_one_refused(project):
    """copycat sorts first, so name order alone would refuse oracle's (running) claim and keep it degraded."""
    project.app("oracle", DESIGN_DOC_APP_YAML)
    good = project.load({})
    project.app("copycat", DESIGN_DOC_APP_YAML.replace("name: oracle", "name: copycat"))
    inputs = project.load(outputs_of(good))
    assert [app.name for app in inputs.apps] == ["oracle"] and list(inputs.degraded) == ["copycat"]
    assert inputs.degraded["copycat"].keeps == "not added (never deployed by this stack)"
    assert "'oracle.dev.minnova.io' is already the host of app 'oracle'" in str(inputs.degraded["copycat"].problems[0])


@pytest.mark.integration  # git repositories and fetches
def test_the_registry_still_stops_the_run(project):
    project.app("oracle", DESIGN_DOC_APP_YAML)
    good = project.load({})
    (project.registry / "typo.yml").write_text("name: typo\n")
    with pytest.raises(ConfigError) as caught:
        project.load(outputs_of(good))
    assert [p.file for p in caught.value.problems] == ["deployments/acme/apps/typo.yml"]


def test_a_problem_belongs_to_the_app_whose_files_it_names_else_to_the_platform():
    """Apps of one monorepo share the repository's prefix: the longest prefix names the app."""
    from minnova_idp.load.inputs import _by_app
    from minnova_idp.model.app_config import AppConfig
    from minnova_idp.model.errors import Problem
    from minnova_idp.model.loaded import LoadedApp
    from minnova_idp.model.registry import RegistryEntry

    def app(name: str, shown: str) -> LoadedApp:
        config = AppConfig.model_validate({"name": name, "image": {"repository": f"r/{name}", "tag": "1"},
                                           "port": 1, "environments": {"dev": {"host": f"{name}.example.com"}}})
        return LoadedApp(RegistryEntry(name=name, local="x"), config, None, shown)

    apps = [app("root", "https://git.example/mono@abc:.minnova/app.yaml"),
            app("api", "https://git.example/mono@abc:services/api/.minnova/app.yaml")]
    problems = [Problem("https://git.example/mono@abc:services/api/.minnova/app.yaml", "port", "bad"),
                Problem("https://git.example/mono@abc:.minnova/secrets/dev.enc.yaml", "x", "bad"),
                Problem("Pulumi.dev.yaml", "minnova:cloudflare", "required"),
                Problem("deployments/acme/apps/api.yaml", "repo", "bad")]
    own, platform = _by_app(apps, problems)
    assert own == {"api": [problems[0]], "root": [problems[1]]} and platform == problems[2:]
