"""The preview cap (minnova_idp/policy/preview_cap.py): which previews run, and what a refused one is told."""

from __future__ import annotations

from minnova_idp.policy.preview_cap import CAP_REFUSAL, PreviewApplication, admitted, cap_problem


def apps(*rows: tuple[str, str, str]) -> list[PreviewApplication]:
    return [PreviewApplication(name, app, created) for name, app, created in rows]


RUNNING = apps(("oracle-pr-3", "oracle", "2026-12-01T10:00:00Z"), ("oracle-pr-1", "oracle", "2026-12-01T09:00:00Z"),
               ("shop-pr-9", "shop", "2026-12-01T09:30:00Z"), ("oracle-pr-8", "oracle", "2026-12-01T11:00:00Z"))


def test_the_oldest_previews_hold_the_slots_per_app():
    assert [a.name for a in admitted(RUNNING, max_per_app=2, max_total=10)] == ["oracle-pr-1", "shop-pr-9",
                                                                                 "oracle-pr-3"]


def test_the_total_cap_counts_all_apps_and_a_refused_preview_takes_no_slot():
    rows = RUNNING + apps(("shop-pr-10", "shop", "2026-12-01T12:00:00Z"))
    # per app 2: oracle-pr-8 is refused; it must not keep shop-pr-10 out of the fourth total slot.
    assert [a.name for a in admitted(rows, max_per_app=2, max_total=4)] == ["oracle-pr-1", "shop-pr-9", "oracle-pr-3",
                                                                            "shop-pr-10"]
    assert [a.name for a in admitted(rows, max_per_app=5, max_total=2)] == ["oracle-pr-1", "shop-pr-9"]


def test_same_second_ties_are_broken_by_pr_number_so_every_render_agrees():
    rows = apps(("a-pr-2", "a", "2026-12-01T10:00:00Z"), ("a-pr-1", "a", "2026-12-01T10:00:00Z"))
    assert [a.name for a in admitted(rows, 1, 9)] == ["a-pr-1"]
    assert [a.name for a in admitted(list(reversed(rows)), 1, 9)] == ["a-pr-1"]
    # As text "a-pr-10" < "a-pr-9": the older PR (the lower number) holds the slot (rv23 F7).
    rows = apps(("a-pr-10", "a", "2026-12-01T10:00:00Z"), ("a-pr-9", "a", "2026-12-01T10:00:00Z"))
    assert [a.name for a in admitted(rows, 1, 9)] == ["a-pr-9"]
    assert [a.name for a in admitted(list(reversed(rows)), 1, 9)] == ["a-pr-9"]


def test_a_preview_being_deleted_holds_no_slot_and_is_never_refused_its_deletion_render():
    """Argo CD renders a closed PR's Application to find its PreDelete hooks (argo-cd v3.4.4 controller/hook.go:
    119-121); a refusal there would fail the hook step and stop the deletion (appcontroller.go:1241-1252)."""
    rows = apps(("oracle-pr-1", "oracle", "2026-12-01T09:00:00Z"), ("oracle-pr-2", "oracle", "2026-12-01T10:00:00Z"))
    closing = [PreviewApplication("oracle-pr-1", "oracle", "2026-12-01T09:00:00Z", deleting=True), rows[1]]
    assert cap_problem("oracle-pr-2", "oracle", rows, 1, 10, "render-preview") is not None
    assert cap_problem("oracle-pr-2", "oracle", closing, 1, 10, "render-preview") is None  # its slot is free
    # The one being deleted renders although, oldest or not, it holds no slot and the cap is full.
    late = [rows[0], PreviewApplication("oracle-pr-2", "oracle", "2026-12-01T10:00:00Z", deleting=True)]
    assert cap_problem("oracle-pr-2", "oracle", late, 1, 10, "render-preview") is None


def test_a_refused_preview_is_told_why_and_that_it_will_start_by_itself():
    assert cap_problem("oracle-pr-8", "oracle", RUNNING, 3, 10, "render-preview") is None
    assert cap_problem("oracle-pr-3", "oracle", RUNNING, 2, 10, "render-preview") is None
    refused = cap_problem("oracle-pr-8", "oracle", RUNNING, 2, 10, "render-preview")
    assert refused.message == f"{CAP_REFUSAL}: at most 2 previews of oracle run at once, and 2 do (oracle-pr-1, " \
                              "oracle-pr-3)"
    assert "within minutes" in refused.hint
    total = cap_problem("oracle-pr-8", "oracle", RUNNING, 5, 3, "render-preview")
    assert total.message == f"{CAP_REFUSAL}: at most 3 previews run at once on this platform, all apps together, " \
                            "and 3 do"


def test_an_application_not_listed_yet_is_the_newest():
    assert cap_problem("oracle-pr-99", "oracle", RUNNING, 3, 10, "render-preview") is not None
    assert cap_problem("shop-pr-99", "shop", RUNNING, 3, 10, "render-preview") is None
