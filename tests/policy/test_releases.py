"""The releases output: what each app environment deployed when, newest first, bounded."""

from __future__ import annotations

from minnova_idp.model.app_config import AppConfig
from minnova_idp.model.inputs import RELEASE_HISTORY, Degraded, ProgramInputs
from minnova_idp.model.loaded import LoadedApp
from minnova_idp.model.registry import RegistryEntry
from minnova_idp.policy.releases import degraded_output, is_release, release_history
from tests.conftest import PROJECT_DIR, load_stack_inputs

COMMIT = "c" * 40


def inputs_with(tag: str, commit: str | None = COMMIT) -> ProgramInputs:
    inputs = load_stack_inputs(PROJECT_DIR, "prod")
    config = AppConfig.model_validate({"name": "shop", "image": {"repository": "registry.minnova.io/shop",
                                                                 "tag": tag}, "port": 1,
                                       "environments": {"prod": {"host": "shop.example.com"}}})
    app = LoadedApp(entry=RegistryEntry(name="shop", local="x"), config=config, commit=commit,
                    config_file="x/.minnova/app.yaml")
    return ProgramInputs(stack=inputs.stack, apps=[app])


def test_a_new_tag_or_commit_is_a_new_release_and_the_same_is_not():
    first = release_history(inputs_with("1.0"), {}, {}, "2026-12-01T00:00:00Z")
    assert first == {"shop-prod": [["2026-12-01T00:00:00Z", "1.0", COMMIT]]}
    assert release_history(inputs_with("1.0"), first, {}, "later") == first
    second = release_history(inputs_with("1.1"), first, {}, "2026-12-02T00:00:00Z")
    assert second["shop-prod"] == [["2026-12-02T00:00:00Z", "1.1", COMMIT], *first["shop-prod"]]
    third = release_history(inputs_with("1.1", "d" * 40), second, {}, "t3")
    assert third["shop-prod"][0] == ["t3", "1.1", "d" * 40] and all(is_release(r) for r in third["shop-prod"])


def test_history_is_bounded_and_starts_from_image_tags():
    history: dict = {}
    for index in range(RELEASE_HISTORY + 10):
        history = release_history(inputs_with(f"1.{index}"), history, {}, f"t{index}")
    assert len(history["shop-prod"]) == RELEASE_HISTORY and history["shop-prod"][0][1] == f"1.{RELEASE_HISTORY + 9}"
    migrated = release_history(inputs_with("1.2"), {}, {"shop-prod": ["1.2", "1.1"]}, "now")
    assert migrated["shop-prod"] == [[None, "1.2", None], [None, "1.1", None]]  # no new release: 1.2 runs already


def test_degraded_output_says_what_each_app_keeps():
    inputs = inputs_with("1.0")
    from minnova_idp.model.errors import Problem

    kept = Degraded("shop", (Problem("x/.minnova/app.yaml", "port", "bad", line=3),), "keeps its last good config (x)",
                    inputs.apps[0])
    output = degraded_output(ProgramInputs(stack=inputs.stack, apps=inputs.apps, degraded={"shop": kept}))
    assert output == {"shop": {"keeps": "keeps its last good config (x)", "commit": COMMIT,
                               "problems": ["x/.minnova/app.yaml:3: port: bad"]}}
