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

    def load(self, outputs: dict | None, cache: str = "cache", stack: dict | None = None):
        raw = dict(STACK if stack is None else stack)
        return load_inputs(self.root, raw, {key for key in raw if key == "minnova:passwordKey"}, "Pulumi.dev.yaml",
                           cache_dir=self.root / cache, isolation=Isolation(outputs or {}, known=outputs is not None))


def outputs_of(inputs) -> dict:
    """The outputs a run of `inputs` records that isolation reads, as `pulumi stack output --json` prints them."""
    from minnova_idp.model import names
    from minnova_idp.render.declaration import declare

    return json.loads(json.dumps({"appSources": inputs.sources, "urls": declare(inputs).urls,
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
    assert "'oracle.dev.minnova.io' is already the host of app 'oracle'" in " ".join(
        map(str, inputs.degraded["copycat"].problems))


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


STAGED = SHOP_YAML.replace("environments:\n", "environments:\n  staging: {host: shop.st.minnova.io}\n")


def with_staging_secrets(repo: Path, content) -> None:
    """Three files of an environment this stack does not deploy: recorded (the loader reads an environment's secrets
    wherever a stack deploys it), not read here; 250 KiB each, within the fetcher's bounds (load/git.py)."""
    for relative in ("staging.enc.yaml", "staging.d/A.enc.yaml", "staging.d/B.enc.yaml"):
        path = repo / ".minnova" / "secrets" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content())
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "staging secrets")


@pytest.mark.integration  # git repositories and fetches
def test_a_record_that_cannot_be_written_keeps_the_previous_one(project):
    """A new commit whose record would be over its bound (load/kept.py MAX_RECORD_BYTES) is the app's own problem:
    it keeps the record it has, and the other app deploys."""
    import os

    shop = project.app("shop", STAGED)
    project.app("zed", SHOP_YAML.replace("shop", "zed"))
    good = project.load({})
    with_staging_secrets(shop, lambda: os.urandom(250 * 1024))  # does not compress
    inputs = project.load(outputs_of(good))
    assert list(inputs.degraded) == ["shop"] and "cannot be written" in str(inputs.degraded["shop"].problems[0])
    assert inputs.sources["shop"] == outputs_of(good)["appSources"]["shop"]
    assert [app.name for app in inputs.apps] == ["shop", "zed"]


@pytest.mark.integration  # git repositories and fetches
def test_a_record_of_bytes_json_escapes_reads_back_when_the_app_fails_later(project):
    """issue 24 review: control bytes, 6 characters each as JSON escapes, made a record over the reader's cap, so
    at the app's next failure the run stopped for every app."""
    shop = project.app("shop", STAGED)
    project.app("zed", SHOP_YAML.replace("shop", "zed"))
    with_staging_secrets(shop, lambda: b"\x01" * (250 * 1024))
    good = project.load({})
    assert not good.degraded
    project.commit(shop, STAGED.replace("port: 3000", "port: nope"))
    inputs = project.load(outputs_of(good))
    assert list(inputs.degraded) == ["shop"] and [app.name for app in inputs.apps] == ["shop", "zed"]
    assert inputs.apps[0].commit == good.apps[0].commit


ZED_YAML = SHOP_YAML.replace("shop", "zed")


@pytest.mark.integration  # git repositories and fetches
@pytest.mark.parametrize("allowed", [False, True], ids=["outside-its-hosts", "overlapping-patterns"])
def test_a_deployed_apps_claim_on_another_deployed_apps_host_is_the_one_refused(project, allowed):
    """issue 24 review: aaa and zed both run; aaa's new commit claims zed's host. Settled by name, zed (sorting
    after) was refused too: it fell back, blamed, and its own new release did not deploy. With registry patterns
    that overlap (aaa may use zed's host), zed's kept config clashed again and stopped the run."""
    aaa = project.app("aaa", SHOP_YAML.replace("shop", "aaa"))
    zed = project.app("zed", ZED_YAML)
    if allowed:
        (project.registry / "aaa.yaml").write_text(f"name: aaa\nrepo: {aaa.as_uri()}\nhosts: ['*.dev.minnova.io']\n")
    good = project.load({})
    release = project.commit(zed, ZED_YAML.replace("2.0.1", "2.0.2"))  # zed's own good release
    project.commit(aaa, SHOP_YAML.replace("shop", "aaa").replace("aaa.dev", "zed.dev"))
    inputs = project.load(outputs_of(good))
    assert list(inputs.degraded) == ["aaa"]
    assert "'zed.dev.minnova.io' is already the host of app 'zed'" in " ".join(map(str, inputs.degraded["aaa"].problems))
    (zed_app,) = [app for app in inputs.apps if app.name == "zed"]
    assert zed_app.commit == release and zed_app.image_tag("dev") == "2.0.2"


@pytest.mark.integration  # git repositories and fetches
def test_a_stack_setting_only_an_apps_new_config_needs_is_that_apps_problem(project):
    """issue 24 review: shop's new commit enables Redis on a stack without minnova:passwordKey. Reported on the stack
    file, it stopped every app; its kept config did not need the key, so shop keeps that and zed deploys."""
    shop = project.app("shop", SHOP_YAML)
    zed = project.app("zed", ZED_YAML)
    good = project.load({})
    project.commit(shop, SHOP_YAML + "redis: {enabled: true}\n")
    release = project.commit(zed, ZED_YAML.replace("2.0.1", "2.0.2"))
    inputs = project.load(outputs_of(good))
    assert list(inputs.degraded) == ["shop"] and "minnova:passwordKey" in str(inputs.degraded["shop"].problems[0])
    assert not inputs.apps[0].config.redis.enabled and inputs.apps[1].commit == release


@pytest.mark.integration  # git repositories and fetches
def test_a_first_database_on_a_stack_without_cloudflare_is_that_apps_problem(project):
    without = {key: value for key, value in STACK.items() if key != "minnova:cloudflare"}
    shop = project.app("shop", SHOP_YAML)
    project.app("zed", ZED_YAML)
    good = project.load({}, stack=without)
    project.commit(shop, SHOP_YAML + "database: {enabled: true, size: 1Gi}\n")
    inputs = project.load(outputs_of(good), stack=without)
    assert list(inputs.degraded) == ["shop"] and "minnova:cloudflare" in str(inputs.degraded["shop"].problems[0])
    assert [app.name for app in inputs.apps] == ["shop", "zed"] and not inputs.apps[0].config.database.enabled


@pytest.mark.integration  # git repositories and fetches
def test_a_stack_setting_the_deployed_configs_need_still_stops_the_run(project):
    """The key removed from the stack while shop runs a Redis: its kept config needs it too, so nothing is safe to
    keep and the platform must act."""
    keyed = {**STACK, "minnova:passwordKey": "k" * 40}
    shop = project.app("shop", SHOP_YAML + "redis: {enabled: true}\n")
    project.app("zed", ZED_YAML)
    good = project.load({}, stack=keyed)
    project.commit(shop, SHOP_YAML + "redis: {enabled: true}\nenv: {A: b}\n")
    with pytest.raises(ConfigError) as caught:
        project.load(outputs_of(good))
    assert [problem.field for problem in caught.value.problems] == ["minnova:passwordKey"]


@pytest.mark.integration  # git repositories and fetches
def test_tokens_past_the_accounts_limit_are_refused_to_the_apps_that_add_them(project):
    """maxAccountTokens 3: cert-manager's and two databases'. shop runs one; aaa and zed each add one in the
    same run: the first by name fits, the next is refused and keeps its last good config; shop is untouched."""
    limited = {**STACK, "minnova:cloudflare": json.dumps({**json.loads(STACK["minnova:cloudflare"]),
                                                          "maxAccountTokens": 3})}
    database = "database: {enabled: true, size: 1Gi}\n"
    project.app("shop", SHOP_YAML + database)
    aaa = project.app("aaa", SHOP_YAML.replace("shop", "aaa"))
    zed = project.app("zed", ZED_YAML)
    good = project.load({}, stack=limited)
    project.commit(zed, ZED_YAML + database)
    project.commit(aaa, SHOP_YAML.replace("shop", "aaa") + database)
    inputs = project.load(outputs_of(good), stack=limited)
    assert list(inputs.degraded) == ["zed"] and "maxAccountTokens" in str(inputs.degraded["zed"].problems[0])
    assert {app.name: app.config.database.enabled for app in inputs.apps} == {"aaa": True, "shop": True, "zed": False}
