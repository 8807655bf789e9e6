"""render/preview.py: what in a preview a pull request can and cannot choose."""

from __future__ import annotations

import copy

import pytest
import yaml

from minnova_idp.load.validation import validate_document
from minnova_idp.load.yamlsafe import load_yaml
from minnova_idp.model.app_config import AppConfig
from minnova_idp.render.argocd import PREVIEW_KINDS
from minnova_idp.render.preview import preview_request, render_preview
from tests.conftest import PROJECT_DIR

EXAMPLE = yaml.safe_load((PROJECT_DIR / "examples/oracle/.minnova/app.yaml").read_text())
REQUEST = preview_request({"app": "oracle", "pr_number": "12", "head_sha": "a" * 40, "preview_domain": "preview.io",
                           "deployment": "minnova", "ingress_class": "traefik"}, {})


def _render(document: dict) -> list[dict]:
    app = validate_document(AppConfig, load_yaml(yaml.safe_dump(document), "app.yaml"))
    return render_preview(app, REQUEST, None, (), None, "0" * 64)


def _guard_rails(objects: list[dict]) -> list[dict]:
    return [o for o in objects if o["kind"] in ("Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange")]


def _variant(**changes) -> dict:
    document = copy.deepcopy(EXAMPLE)
    document["environments"]["prod"].pop("processes")  # so that variants may drop the worker
    for key, value in changes.items():
        if value is None:
            document.pop(key, None)
        else:
            document[key] = value
    return document


# What a pull request may write in app.yaml, as far from the example as validation allows.
HOSTILE = [
    _variant(processes={"worker": {"command": ["sh"]}, "kube-dns": {"command": ["sh"]},
                        "x" * 20: {"command": ["sh"], "replicas": 3}}),
    _variant(port=53, healthCheck={"path": "/../../etc"}, env={"NAMESPACE": "kube-system", "HOSTNAME": "evil"}),
    _variant(image={"repository": "registry.minnova.io/oracle", "tag": "anything"}, release=None, cron=None),
    _variant(environments={"dev": {"host": "argocd.minnova.io", "env": {"X": "y"}}}),
    _variant(resources={"requests": {"cpu": "2", "memory": "2Gi"}, "limits": {"memory": "2Gi"}}),
]


@pytest.mark.parametrize("document", HOSTILE, ids=lambda d: ",".join(sorted(set(d) ^ set(EXAMPLE)) or "changed"))
def test_nothing_a_pull_request_writes_changes_its_namespace_or_network_policies(document):
    """The preview AppProject lets render-preview create a Namespace (its own, by name) and NetworkPolicies: they
    are fixed by the plugin. With the same database and Redis switches, every app.yaml a pull request can write gives
    exactly the guard rails of a bare app of that name: Namespace (Pod Security `restricted`), quota, limits and
    policies come from the platform's request (app, number, deployment), never from the file."""
    bare = _variant(processes=None, cron=None, release=None, env=None, healthCheck=None, resources=None,
                    environments={"dev": {"host": "oracle.dev.minnova.io"}})
    assert _guard_rails(_render(document)) == _guard_rails(_render(bare))


def test_the_database_and_redis_switches_choose_only_among_the_platforms_policies():
    names = {}
    for database in (True, False):
        for redis in (True, False):
            document = _variant(database={"enabled": database}, redis={"enabled": redis})
            if not database:
                document["environments"] = {env: {k: v for k, v in cfg.items() if k != "database"}
                                            for env, cfg in document["environments"].items()}
            names[(database, redis)] = sorted(o["metadata"]["name"] for o in _render(document)
                                              if o["kind"] == "NetworkPolicy")
    assert names[(False, False)] == ["deny-other-apps", "preview-egress"]
    assert set(names[(True, True)]) >= set(names[(False, False)])
    assert {name for found in names.values() for name in found} <= {
        "deny-other-apps", "preview-egress", "oracle-redis", "oracle-db", "oracle-db-egress"} | set(names[(True, True)])


def test_the_project_allows_only_what_render_preview_outputs():
    kinds = {(o["apiVersion"].rpartition("/")[0] if "/" in o["apiVersion"] else "", o["kind"])
             for document in [EXAMPLE, *HOSTILE] for o in _render(document)}
    assert kinds <= set(PREVIEW_KINDS)


def test_a_head_sha_with_a_trailing_newline_is_refused():
    """`^…$` with re.match accepted "<sha>\\n" (`$` matches before a final newline): fullmatch now (rv25 review)."""
    from minnova_idp.model.errors import ConfigError

    flags = {"app": "oracle", "pr_number": "12", "head_sha": "a" * 40 + "\n", "preview_domain": "preview.io",
             "deployment": "minnova", "ingress_class": "traefik"}
    with pytest.raises(ConfigError, match="is not a full commit SHA"):
        preview_request(flags, {})
