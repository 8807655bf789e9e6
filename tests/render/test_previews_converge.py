"""Previews that converge on a real Argo CD and report the truth (issue 23): the notification triggers run through
an expr model of notifications-engine's loop, their templates through Go's text/template, and the ApplicationSet
controller's reconcile loop modelled as argo-cd v3.4.4 runs it."""

from __future__ import annotations

import pytest

from minnova_idp.render import argocd, waves

from tests.support.expr import ExprError, evaluate, once_per
from tests.support.helm import go_template

A, B, C = "a" * 40, "b" * 40, "c" * 40
URL = "https://oracle-pr-7.preview.acme.dev"


def app(head: str, **status) -> dict:
    return {"app": {"metadata": {"name": "oracle-pr-7", "annotations": {argocd.PREVIEW_URL_ANNOTATION: URL}},
                    "spec": {"source": {"repoURL": "https://github.com/acme/oracle.git", "targetRevision": head}},
                    "status": {"sync": {"status": "Synced"}, "health": {"status": "Healthy"}, **status}}}


# The preview's PostSync hook as the operation's syncResult lists it once it ran (gitops-engine setResourceResult,
# argo-cd v3.4.4 gitops-engine/pkg/sync/sync_context.go:1716-1737: hookType, hookPhase).
READY_HOOK_RESULT = {"kind": "ConfigMap", "name": waves.READY_HOOK_NAME, "status": "Synced", "hookType": "PostSync",
                     "hookPhase": "Succeeded", "syncPhase": "PostSync"}


def operation(phase: str, revision: str | None, message: str | None = None, **result) -> dict:
    """A Succeeded operation of a preview ran its PostSync hook (the render always has it: waves.ready_hook)."""
    state: dict = {"phase": phase, "operation": {"sync": {"revision": revision}}}
    if message is not None:
        state["message"] = message
    if revision is not None and phase != "Running":
        if phase == "Succeeded":
            result = {**result, "resources": [*result.get("resources", []), READY_HOOK_RESULT]}
        state["syncResult"] = {"revision": revision, **result}
    return {"operationState": state}


class Notifier:
    """notifications-engine's controller for one Application and one destination: each trigger condition whose
    `when` holds sends its templates once per `oncePer` value (pkg/triggers/service.go:74-110; the sent keys live
    in the Application's notified annotation). A `when` that fails to evaluate is skipped, as upstream logs it."""

    def __init__(self, triggers: dict, templates: dict):
        self.triggers, self.templates, self.sent = triggers, templates, set()

    def observe(self, data: dict) -> list[tuple[str, str, str]]:
        """(template, revision the status goes on, comment) for each notification this state sends."""
        out = []
        for trigger, conditions in self.triggers.items():
            for index, condition in enumerate(conditions):
                try:
                    if not evaluate(condition["when"], data):
                        continue
                except ExprError:
                    continue
                key = (trigger, index, once_per(condition["oncePer"], data))
                if key in self.sent:
                    continue
                self.sent.add(key)
                for name in condition["send"]:
                    github = self.templates[name]["github"]
                    out.append((name, go_template(github["revisionPath"], data),
                                go_template(github["pullRequestComment"]["content"], data)))
        return out


# The first version's triggers (oncePer the head SHA the ApplicationSet sets), kept to show the model catches them.
OLD_TRIGGERS = {
    "minnova-preview-ready": [{
        "when": "app.status.operationState != nil and app.status.operationState.phase in ['Succeeded'] "
                "and app.status.health.status == 'Healthy'",
        "send": ["minnova-preview-ready"], "oncePer": "app.spec.source.targetRevision"}],
    "minnova-preview-failed": [
        {"when": "app.status.operationState != nil and app.status.operationState.phase in ['Error', 'Failed']",
         "send": ["minnova-preview-sync-failed"], "oncePer": "app.spec.source.targetRevision"}],
}
OLD_TEMPLATES = {name: {"github": {"revisionPath": "{{.app.spec.source.targetRevision}}",
                                   "pullRequestComment": {"content": "{{.app.spec.source.targetRevision}}"}}}
                 for name in ("minnova-preview-ready", "minnova-preview-sync-failed")}


def history() -> list[dict]:
    """A preview's life: A syncs and is healthy; B is pushed (the ApplicationSet moves targetRevision at once, the
    last operation still reads Succeeded for A), then syncs; C is pushed and fails to apply; D never renders."""
    return [
        app(A, **operation("Succeeded", A, "successfully synced (all tasks run)")),
        app(B, **operation("Succeeded", A, "successfully synced (all tasks run)")),
        app(B, **operation("Running", B)),
        app(B, **operation("Succeeded", B, "successfully synced (all tasks run)")),
        app(C, **operation("Succeeded", B, "successfully synced (all tasks run)")),
        app(C, **operation("Failed", C, "one or more objects failed to apply",
                           resources=[{"kind": "Job", "name": "oracle-seed", "status": "SyncFailed",
                                       "message": "spec.template: field is immutable"}])),
    ]


def test_each_commit_is_reported_once_on_itself_after_it_synced():
    notifier = Notifier(argocd.TRIGGERS, argocd.TEMPLATES)
    sent = [[(name, revision) for name, revision, _ in notifier.observe(state)] for state in history()]
    assert sent == [[("minnova-preview-ready", A)], [], [], [("minnova-preview-ready", B)], [],
                    [("minnova-preview-sync-failed", C)]]
    # Observing the same state again sends nothing more (once per revision).
    assert notifier.observe(history()[-1]) == []


def test_the_old_triggers_reported_the_new_commit_ready_before_it_ran():
    notifier = Notifier(OLD_TRIGGERS, OLD_TEMPLATES)
    sent = [[(name, revision) for name, revision, _ in notifier.observe(state)] for state in history()]
    assert sent[1] == [("minnova-preview-ready", B)]  # B was never synced: that was A's result
    assert sent[3] == []  # and once B really synced, nothing was sent


def test_a_failed_operation_without_a_sync_result_is_keyed_on_its_own_revision():
    state = app(C, operationState={"phase": "Error", "message": "ComparisonError: rpc error",
                                   "operation": {"sync": {"revision": C}}})
    (condition,) = [c for c in argocd.TRIGGERS["minnova-preview-failed"] if "'Error'" in c["when"]]
    assert once_per(condition["oncePer"], state) == C  # never "<nil>", which would report once ever
    ((name, revision, comment),) = Notifier(argocd.TRIGGERS, argocd.TEMPLATES).observe(state)
    assert (name, revision) == ("minnova-preview-sync-failed", C)
    assert "ComparisonError: rpc error" in comment


def test_a_render_error_is_reported_on_the_head_it_could_not_render():
    state = app(B, sync={"status": "Unknown"}, conditions=[{
        "type": "ComparisonError", "message": "`minnova-idp render-preview` failed exit status 1: "
        ".minnova/app.yaml:8: port: must be at most 65535"}], **operation("Succeeded", A, "successfully synced"))
    ((name, revision, comment),) = Notifier(argocd.TRIGGERS, argocd.TEMPLATES).observe(state)
    assert (name, revision) == ("minnova-preview-render-failed", B)
    assert ".minnova/app.yaml:8: port: must be at most 65535" in comment
    assert "successfully synced" not in comment  # never the previous operation's text


def test_a_degraded_preview_lists_what_is_unhealthy_not_the_stale_sync_message():
    state = app(B, **operation("Succeeded", B, "successfully synced (all tasks run)"))
    state["app"]["status"]["health"] = {"status": "Degraded"}
    state["app"]["status"]["resources"] = [
        {"kind": "Deployment", "name": "oracle-web", "health": {"status": "Degraded", "message": "CrashLoopBackOff"}},
        {"kind": "Service", "name": "oracle-web"}]
    ((name, revision, comment),) = Notifier(argocd.TRIGGERS, argocd.TEMPLATES).observe(state)
    assert (name, revision) == ("minnova-preview-degraded", B)
    assert "Deployment/oracle-web: CrashLoopBackOff" in comment and "successfully synced" not in comment
    assert "Service/oracle-web" not in comment


@pytest.mark.parametrize("status", [
    {},  # nothing yet: a fresh Application
    {"operationState": {"phase": "Failed"}},  # controller/sync.go:76-82: no message, no syncResult
    {"operationState": {"phase": "Error", "operation": {}}, "conditions": [{"type": "ComparisonError"}]},
    {"operationState": {"phase": "Failed", "syncResult": {"resources": [{"status": "SyncFailed"}]}}},
    {"resources": [{"health": {"status": "Degraded"}}, {}]},
])
@pytest.mark.parametrize("name", sorted(argocd.TEMPLATES))
def test_every_template_executes_on_an_application_missing_fields(name, status):
    data = {"app": {"metadata": {"annotations": {argocd.PREVIEW_URL_ANNOTATION: URL}},
                    "spec": {"source": {"repoURL": "https://github.com/acme/oracle.git", "targetRevision": B}},
                    "status": status}}
    github = argocd.TEMPLATES[name]["github"]
    for text in (argocd.TEMPLATES[name]["message"], github["pullRequestComment"]["content"], github["revisionPath"],
                 github["status"]["targetURL"]):
        go_template(text, data)  # raises on "invalid value; expected string" and nil dereferences


def test_the_old_failure_template_broke_on_an_operation_without_a_message():
    old = "{{with .app.status.operationState}}{{.message | trunc 3000}}{{end}}"
    with pytest.raises(Exception, match="expected string"):
        go_template(old, {"app": {"status": {"operationState": {"phase": "Failed"}}}})


def test_text_from_the_pull_request_cannot_leave_its_block():
    hostile = "```\n</pre>\n# Approved <img src=x onerror=alert(1)> [click](https://evil)\n```"
    state = app(C, **operation("Failed", C, hostile, resources=[
        {"kind": "Job", "name": "`x`</pre>", "status": "SyncFailed", "message": hostile}]))
    ((_, _, comment),) = Notifier(argocd.TRIGGERS, argocd.TEMPLATES).observe(state)
    head, _, rest = comment.partition("<pre>\n")
    body, _, tail = rest.partition("</pre>")
    assert "Preview of ccccccc failed" in head and tail.strip() == ""
    assert "<" not in body and ">" not in body  # no tag can open or close inside the block
    assert "&lt;/pre&gt;" in body and "```" in body  # shown as text, inside the block
    # The status description (the message's first 140 characters) carries no PR-controlled text at all: executed on
    # an Application whose every message, name and condition is hostile, it holds none of it.
    state["app"]["status"].update(conditions=[{"type": "ComparisonError", "message": hostile}],
                                  resources=[{"kind": "Job", "name": hostile, "health": {"status": "Degraded",
                                                                                        "message": hostile}}])
    for template in argocd.TEMPLATES.values():
        description = go_template(template["message"], state)
        assert "evil" not in description and "<" not in description and "`" not in description, description


# ---- "ready" only once the new revision's workload is healthy (gitops-engine's sync loop) -------------------------

# The triggers of the previous turn: keyed on the synced revision, but "ready" on a Succeeded operation and a Healthy
# app, and every report once per revision.
PREVIOUS_TRIGGERS = {
    "minnova-preview-ready": [{
        "when": "app.status.operationState?.phase == 'Succeeded' and app.status.health?.status == 'Healthy' "
                f"and {argocd.SYNCED_REVISION} == {argocd.HEAD_REVISION}",
        "send": ["minnova-preview-ready"], "oncePer": argocd.SYNCED_REVISION}],
    "minnova-preview-failed": [
        {"when": "app.status.sync?.status == 'Unknown' and any(app.status?.conditions ?? [], "
                 "{.type == 'ComparisonError'})",
         "send": ["minnova-preview-render-failed"], "oncePer": argocd.HEAD_REVISION},
        {"when": "app.status.operationState?.phase in ['Error', 'Failed']",
         "send": ["minnova-preview-sync-failed"], "oncePer": argocd.OPERATION_REVISION},
        {"when": "app.status.health?.status == 'Degraded' and app.status.operationState?.phase == 'Succeeded'",
         "send": ["minnova-preview-degraded"], "oncePer": argocd.SYNCED_REVISION}],
}
PHASES = ("PreSync", "Sync", "PostSync")


def sync_tasks(objects: list[dict]) -> list[dict]:
    """The sync tasks of rendered objects, in gitops-engine's order (phase, then wave)."""
    tasks = []
    for obj in objects:
        annotations = obj["metadata"].get("annotations", {})
        hook = annotations.get(waves.HOOK_ANNOTATION)
        tasks.append({"kind": obj["kind"], "name": obj["metadata"]["name"], "hook": hook,
                      "phase": hook or "Sync", "wave": int(annotations.get(waves.SYNC_WAVE_ANNOTATION, "0")),
                      "state": "pending"})
    return sorted(tasks, key=lambda t: (PHASES.index(t["phase"]), t["wave"]))


def sync_operation(tasks: list[dict], live_health):
    """argo-cd v3.4.4 gitops-engine/pkg/sync/sync_context.go Sync(), one call per step, yielding the operation's
    phase and its resource results. `live_health(task, step)`: the live object's health (None: no health check).
    - running tasks take their live health: a hook is Succeeded when Healthy or without health, Running while
      Progressing, Failed when Degraded (getOperationPhase, :351-372); a resource is Succeeded when Healthy or
      without health, Failed when Degraded, else stays running (:525-558);
    - multi-step (first and last task differ in phase or wave, sync_tasks.go:274-276) or a hook: wait while any
      task runs (:561-582);
    - a completed, unsuccessful task fails the sync (:619-624); nothing pending: Succeeded (:633-639);
    - the next (phase, wave) is applied; if it was the last and holds no hook: Succeeded "EVEN if those objects
      subsequently degrades" (:688-697)."""
    multi_step = (tasks[0]["phase"], tasks[0]["wave"]) != (tasks[-1]["phase"], tasks[-1]["wave"])
    for step in range(100):
        for task in tasks:
            if task["state"] == "running":
                health = live_health(task, step)
                if health in (None, "Healthy"):
                    task["state"] = "Succeeded"
                elif health == "Degraded":
                    task["state"] = "Failed"
        results = [{"kind": t["kind"], "name": t["name"], "status": "Synced",
                    "hookType": t["hook"] or "", "hookPhase": "Running" if t["state"] == "running" else t["state"]}
                   for t in tasks if t["state"] != "pending"]
        if any((multi_step or t["hook"]) and t["state"] == "running" for t in tasks):
            yield "Running", results
            continue
        if any(t["state"] == "Failed" for t in tasks):
            yield "Failed", results
            return
        pending = [t for t in tasks if t["state"] == "pending"]
        if not pending:
            yield "Succeeded", results
            return
        batch = [t for t in pending if (t["phase"], t["wave"]) == (pending[0]["phase"], pending[0]["wave"])]
        for task in batch:
            task["state"] = "running"
        results = [{"kind": t["kind"], "name": t["name"], "status": "Synced", "hookType": t["hook"] or "",
                    "hookPhase": "Running" if t["state"] == "running" else t["state"]}
                   for t in tasks if t["state"] != "pending"]
        if len(batch) == len(pending) and not any(t["hook"] for t in batch):
            yield "Succeeded", results
            return
        yield "Running", results
    raise AssertionError("the sync never ended")


def new_pods_healthy_after(step: int):
    """The new commit's Deployments roll out slowly: Progressing until `step`; everything else is at once."""
    def health(task, now):
        if task["kind"] == "Deployment":
            return "Healthy" if now >= step else "Progressing"
        return None if task["kind"] in ("ConfigMap", "Secret", "Service", "NetworkPolicy") else "Healthy"
    return health


def ready_while_the_new_pods_roll_out(objects: list[dict], triggers: dict) -> list[tuple[bool, str]]:
    """B syncs over A; app.status.health stays A's Healthy the whole time (the controller has not refreshed it).
    For each report sent: (were B's Deployments Healthy at that step, the report)."""
    notifier = Notifier(triggers, argocd.TEMPLATES)
    notifier.observe(app(A, **operation("Succeeded", A, "successfully synced")))
    healthy_from = 6
    sent = []
    for step, (phase, results) in enumerate(sync_operation(sync_tasks(objects), new_pods_healthy_after(healthy_from))):
        state = app(B, operationState={"phase": phase, "operation": {"sync": {"revision": B}},
                                       "syncResult": {"revision": B, "resources": results}})
        sent += [(step >= healthy_from, name) for name, _, _ in notifier.observe(state)]
    return sent


def test_ready_waits_for_the_new_revisions_pods():
    objects = seeded_preview_objects()
    assert [o for o in objects if o["metadata"]["name"] == waves.READY_HOOK_NAME]  # the render has the hook
    assert ready_while_the_new_pods_roll_out(objects, argocd.TRIGGERS) == [(True, "minnova-preview-ready")]


def test_without_the_hook_the_previous_trigger_said_ready_before_the_pods_ran():
    """The operation ended when the last wave was applied (sync_context.go:688-697) and the app still read A's
    Healthy: ready for B while B's Deployment was Progressing."""
    objects = [o for o in seeded_preview_objects() if o["metadata"]["name"] != waves.READY_HOOK_NAME]
    assert ready_while_the_new_pods_roll_out(objects, PREVIOUS_TRIGGERS) == [(False, "minnova-preview-ready")]
    # Upstream's on-deployed guard would not have stopped it either: health never left Healthy, so its
    # lastTransitionTime is older than the operation's start (on-deployed.yaml:1, second alternative).
    # And the new trigger never calls a render without the hook ready: the hook is what it requires.
    assert ready_while_the_new_pods_roll_out(objects, argocd.TRIGGERS) == []


def test_a_pod_that_degrades_during_the_sync_fails_it():
    """With the hook the sync waits on the Deployment: Degraded (a progress deadline passed: ImagePullBackOff, a
    crash loop) fails the operation, reported as sync failed on that revision, never as ready."""
    tasks = sync_tasks(seeded_preview_objects())
    degraded = lambda task, now: "Degraded" if task["kind"] == "Deployment" else None  # noqa: E731
    phase, results = list(sync_operation(tasks, degraded))[-1]
    assert phase == "Failed" and not any(r["name"] == waves.READY_HOOK_NAME for r in results)


def statuses(triggers: dict, states: list[dict]) -> dict[str, str]:
    """The commit statuses GitHub ends with: one context (minnova/preview), the last one posted on a SHA wins."""
    notifier, final = Notifier(triggers, argocd.TEMPLATES), {}
    for state in states:
        for name, revision, _ in notifier.observe(state):
            final[revision] = go_template(argocd.TEMPLATES[name]["github"]["status"]["state"], state)
    return final


def comparison_error(head: str, synced: str) -> dict:
    return app(head, sync={"status": "Unknown"}, conditions=[{"type": "ComparisonError", "message": "rpc error: "
               "code = Unavailable desc = connection refused"}], **operation("Succeeded", synced, "successfully synced"))


def test_a_transient_comparison_error_on_a_ready_commit_does_not_fail_it():
    ready = app(B, **operation("Succeeded", B, "successfully synced"))
    states = [ready, comparison_error(B, B), ready]
    assert statuses(argocd.TRIGGERS, states) == {B: "success"}
    assert statuses(PREVIOUS_TRIGGERS, states) == {B: "failure"}  # stuck: B's ready was already sent


def test_a_transient_comparison_error_before_a_commit_syncs_is_replaced_by_its_result():
    states = [app(B, **operation("Succeeded", B, "successfully synced")), comparison_error(C, B),
              app(C, **operation("Running", C)), app(C, **operation("Succeeded", C, "successfully synced"))]
    assert statuses(argocd.TRIGGERS, states[:2]) == {B: "success", C: "failure"}  # while it lasts: C failed
    assert statuses(argocd.TRIGGERS, states) == {B: "success", C: "success"}  # replaced once C ran
    broken = [*states[:2], app(C, **operation("Failed", C, "one or more objects failed to apply"))]
    assert statuses(argocd.TRIGGERS, broken) == {B: "success", C: "failure"}


def test_a_preview_that_recovers_is_reported_ready_again():
    def health(status: str, since: str) -> dict:
        state = app(B, **operation("Succeeded", B, "successfully synced"))
        state["app"]["status"]["health"] = {"status": status, "lastTransitionTime": since}
        return state
    states = [health("Healthy", "10:00"), health("Degraded", "10:05"), health("Healthy", "10:07")]
    assert statuses(argocd.TRIGGERS, states) == {B: "success"}
    assert statuses(PREVIOUS_TRIGGERS, states) == {B: "failure"}


# ---- the preview cap and the ApplicationSet controller's loop ----------------------------------------------------

def reconcile(offered: list[int], existing: set[int], quota: int | None) -> set[int]:
    """One Reconcile of an ApplicationSet as argo-cd v3.4.4 runs it: create or update every generated Application,
    keeping going after an error but remembering the first (applicationset_controller.go:777-795); on an error,
    return before deleting (325-351); only then delete what the generator no longer offers (355-357). `quota`:
    a ResourceQuota on Applications in the namespace (None: none), which refuses a create past it."""
    apps, first_error = set(existing), None
    for number in sorted(offered):
        if number not in apps:
            if quota is not None and len(apps) >= quota:
                first_error = first_error or f"exceeded quota: count/applications.argoproj.io={quota}"
                continue
            apps.add(number)
    if first_error:
        return apps  # ctrl.Result{}, err: deleteInCluster never runs
    return {number for number in apps if number in offered}


def offered_by_the_label_workflow(labelled: list[int], cap: int) -> list[int]:
    """minnova-preview-auto.yml: past the cap the label is not added (or removed again), so the generator, which
    offers labelled PRs only (its `labels` filter), never sees more than `cap`."""
    return sorted(labelled)[:cap]


def test_a_quota_on_applications_stops_every_later_cleanup():
    """The old design: 3 previews, quota 3, a fourth PR labelled. Closing two others frees nothing, ever."""
    existing = {1, 2, 3}
    existing = reconcile([1, 2, 3, 4], existing, quota=3)  # PR 4 refused
    for _ in range(5):
        existing = reconcile([3, 4], existing, quota=3)  # PRs 1 and 2 closed
    assert existing == {1, 2, 3}  # 1 and 2 never deleted, 4 never created


def test_the_cap_in_what_the_generator_offers_always_lets_deletions_through():
    cap = 3
    existing: set[int] = set()
    history = [[1, 2, 3], [1, 2, 3, 4], [3, 4], [3, 4, 5, 6], [], [7]]
    for labelled in history:
        offered = offered_by_the_label_workflow(labelled, cap)
        existing = reconcile(offered, existing, quota=None)
        assert existing == set(offered) and len(existing) <= cap, labelled


def test_the_cap_in_the_plugin_never_stops_deletions_and_bounds_what_runs():
    """Every labelled PR gets its Application (nothing refuses a create: deletions always run, 355-357); of those,
    render-preview renders only the oldest maxPerApp of an app and maxTotal in all (policy/preview_cap.py). A
    refused one holds nothing and starts by itself once a slot frees."""
    from minnova_idp.policy.preview_cap import PreviewApplication, admitted

    cap, created, existing = 3, {}, set()
    history = [[1, 2, 3], [1, 2, 3, 4], [3, 4], [3, 4, 5, 6], [], [7]]
    running_each_time = []
    for labelled in history:
        existing = reconcile(labelled, existing, quota=None)
        assert existing == set(labelled)  # closed or unlabelled PRs' Applications are deleted at once
        for number in existing:
            created.setdefault(number, f"2026-12-01T10:{len(created):02d}:00Z")
        running = {int(a.name.rsplit("-", 1)[1]) for a in admitted(
            [PreviewApplication(f"oracle-pr-{n}", "oracle", created[n]) for n in existing], cap, 50)}
        assert len(running) <= cap
        running_each_time.append(running)
    # PR 4 waits while 1-3 run, then runs once 1 and 2 are closed; 6 waits behind 3, 4 and 5.
    assert running_each_time == [{1, 2, 3}, {1, 2, 3}, {3, 4}, {3, 4, 5}, set(), {7}]


def test_a_preview_refused_by_the_cap_is_pending_then_ready():
    from minnova_idp.policy.preview_cap import PreviewApplication, cap_problem

    problem = cap_problem("oracle-pr-7", "oracle", [PreviewApplication("oracle-pr-2", "oracle", "2026")], 1, 50, "x")
    refused = app(B, sync={"status": "Unknown"}, conditions=[{
        "type": "ComparisonError", "message": f"Failed to load target state: `minnova-idp render-preview` failed exit "
        f"status 1: 1 problem found:\n  - x: {problem.message}"}])
    notifier = Notifier(argocd.TRIGGERS, argocd.TEMPLATES)
    ((name, revision, comment),) = notifier.observe(refused)
    assert (name, revision) == ("minnova-preview-render-failed", B)
    template = argocd.TEMPLATES[name]
    assert go_template(template["github"]["status"]["state"], refused) == "pending"
    assert go_template(template["message"], refused) == (
        "Preview of bbbbbbb waits: refused by the preview cap (it starts once another preview ends)")
    assert "at most 1 previews of oracle run at once, and 1 do (oracle-pr-2)" in comment
    # Any other render error is still a failure.
    broken = app(B, sync={"status": "Unknown"}, conditions=[{"type": "ComparisonError", "message": "port: bad"}])
    assert go_template(template["github"]["status"]["state"], broken) == "failure"
    # Admitted later, it syncs and the pending status is replaced.
    assert statuses(argocd.TRIGGERS, [refused, app(B, **operation("Succeeded", B, "ok"))]) == {B: "success"}


def test_a_commit_waiting_for_its_approval_is_pending_not_failed():
    """render-preview refuses an unapproved head (policy/approval.py): the author is told it waits for an approval,
    as for the cap, on GitHub and through the forges' webhook body. The old template said it failed."""
    import json

    from minnova_idp.policy.approval import CommitStatus, approval_problem
    from minnova_idp.render.notifications import forge_template

    problem = approval_problem("github", [CommitStatus(1, "ci/tests", "success", "x")], B, "render-preview")
    waiting = app(B, sync={"status": "Unknown"}, conditions=[{
        "type": "ComparisonError", "message": f"Failed to load target state: `minnova-idp render-preview` failed exit "
        f"status 1: 1 problem found:\n  - render-preview: minnova/preview-approved: {problem.message}"}])
    ((name, revision, _),) = Notifier(argocd.TRIGGERS, argocd.TEMPLATES).observe(waiting)
    template = argocd.TEMPLATES[name]
    assert go_template(template["github"]["status"]["state"], waiting) == "pending"
    assert go_template(template["message"], waiting) == "Preview of bbbbbbb waits: approval needed (a maintainer " \
        "reviews this commit and approves it)"
    for provider in ("gitlab", "gitea"):
        (hook,) = forge_template(name, provider, {"minnova-status-oracle": "42"})["webhook"].values()
        assert json.loads(go_template(hook["body"], waiting))["state"] == "pending"
    # A failure to read the approval (the API down) is still a failure of that render.
    down = app(B, sync={"status": "Unknown"}, conditions=[{"type": "ComparisonError", "message":
                                                           "could not read the approval of b: HTTP 502"}])
    assert go_template(template["github"]["status"]["state"], down) == "failure"


# ---- item 4: seed and mask Jobs never wedge a preview ----------------------------------------------------------------

def seeded_preview_jobs() -> list[dict]:
    return [o for o in seeded_preview_objects() if o["kind"] == "Job"]


def seeded_preview_objects() -> list[dict]:
    from minnova_idp.model.app_config import AppConfig
    from minnova_idp.render.preview import preview_request, render_preview

    app = AppConfig.model_validate({
        "name": "oracle", "image": {"repository": "registry.minnova.io/oracle"}, "port": 4000,
        "database": {"enabled": True, "size": "5Gi", "seed": {"files": ["seed/a.sql"], "environments": ["dev"]}},
        "environments": {"dev": {"host": "oracle.dev.acme.dev"}}})
    request = preview_request({"app": "oracle", "pr_number": "7", "head_sha": "b" * 40,
                               "preview_domain": "preview.acme.dev", "deployment": "acme", "ingress_class": "t"}, {})
    return render_preview(app, request, None, seed=(("seed/a.sql", "create table t (id int);\n"),))


def test_the_seed_job_is_a_sync_hook_made_again_on_every_sync():
    """A plain Job that failed is Degraded for good (gitops-engine pkg/health/health_job.go) and its pod template is
    immutable: every later sync of the preview would stop at its wave. As a Sync hook with BeforeHookCreation
    (argo-cd@v3.4.4 gitops-engine/pkg/sync/doc.go:38-41, 62-67), the next sync deletes it and runs it again."""
    (seed,) = [job for job in seeded_preview_jobs() if "seed" in job["metadata"]["name"]]
    annotations = seed["metadata"]["annotations"]
    assert annotations["argocd.argoproj.io/hook"] == "Sync"
    assert annotations["argocd.argoproj.io/hook-delete-policy"] == "BeforeHookCreation"
    assert annotations["argocd.argoproj.io/sync-wave"] == "1"  # still before the release phase and the app
    # A failing seed holds the sync (and the next commit) only minutes, not the half hour a stack's Job may retry.
    assert seed["spec"]["backoffLimit"] <= 2 and seed["spec"]["activeDeadlineSeconds"] <= 600


def test_a_named_hook_without_a_delete_policy_would_run_once():
    """What the annotations buy, as gitops-engine documents it: a named hook is created once; only
    BeforeHookCreation (or generateName) makes it again (doc.go:40-41)."""
    def runs(annotations: dict, syncs: int) -> int:
        existing, count = False, 0
        for _ in range(syncs):
            if annotations.get("argocd.argoproj.io/hook-delete-policy") == "BeforeHookCreation":
                existing = False
            if not existing:
                count, existing = count + 1, True
        return count

    (seed,) = [job for job in seeded_preview_jobs() if "seed" in job["metadata"]["name"]]
    assert runs(seed["metadata"]["annotations"], 3) == 3
    assert runs({"argocd.argoproj.io/hook": "Sync"}, 3) == 1


def test_the_docs_say_what_an_author_sees_in_each_case():
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[2] / "docs" / "previews.md").read_text()
    rows = [line.split("|")[1].strip() for line in docs.splitlines() if line.startswith("| ")]
    for case in ("building", "ready", "render failed", "sync failed", "refused by the cap", "waiting for approval",
                 "expired", "merge conflicts"):
        assert any(row.startswith(case) for row in rows), case
    # The texts the docs quote are the ones the templates send.
    from minnova_idp.policy.preview_cap import CAP_REFUSAL

    assert f"waits: {CAP_REFUSAL} (it starts once another preview ends)" in docs
    assert f"waits: {CAP_REFUSAL} (it starts once another preview ends)" in argocd.TEMPLATES[
        "minnova-preview-render-failed"]["message"]
    from minnova_idp.render.notifications import APPROVAL_NEEDED

    assert f"waits: {APPROVAL_NEEDED}" in docs
    assert f"waits: {APPROVAL_NEEDED}" in argocd.TEMPLATES["minnova-preview-render-failed"]["message"]
