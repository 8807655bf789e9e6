"""How many previews run at once: at most `maxPerApp` of one app and `maxTotal` in all, decided by render-preview.

Not a quota on Applications: the ApplicationSet controller returns on the first refused create before it deletes
anything (argo-cd v3.4.4 applicationset/controllers/applicationset_controller.go:325-351, deletion at 355-357,
createOrUpdateInCluster keeps the first error at 777-795), so one refused PR kept every closed PR's preview. Here
every labelled PR gets its Application (the controller's loop always reaches its deletions) and the cap is decided
when Argo CD asks the plugin for the Application's manifests: the oldest Applications hold the slots (creation time,
then PR number: every render sees the same order), and a preview past the cap renders nothing but a problem, so it holds
no namespace, pod or volume. Argo CD shows that problem as the Application's ComparisonError, which the
notifications report as "refused by the preview cap" (argocd.TEMPLATES). A slot freed by a closed, unlabelled or
expired PR goes to the oldest refused one at its next render (argocd.REPO_SERVER_ENV: a failed render is retried
within minutes). The app-repo workflow's label cap (minnova-preview-auto.yml) only tells the author earlier.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from minnova_idp.model.errors import Problem

CAP_REFUSAL = "refused by the preview cap"  # the notification templates look for it (argocd.py)


@dataclass(frozen=True)
class PreviewApplication:
    """A preview's Argo CD Application, as the cap sees it."""

    name: str  # <app>-pr-<number>
    app: str  # its minnova.io/app label (the ApplicationSet's template sets it)
    created: str  # metadata.creationTimestamp, RFC 3339 in UTC: sorts as text
    deleting: bool = False  # metadata.deletionTimestamp is set: its PR was closed, Argo CD is deleting it

    @property
    def order(self) -> tuple[str, int, str]:
        """Oldest first; within one second (creationTimestamp has no finer unit), the lower PR number, so pr-9
        comes before pr-10 (as text it would not); the name last, for anything not named by our template."""
        number = self.name.rpartition("-pr-")[2]
        return self.created, int(number) if number.isdigit() else 10**9, self.name


def admitted(applications: list[PreviewApplication], max_per_app: int, max_total: int) -> list[PreviewApplication]:
    """The previews that run, oldest first: each one while its app has fewer than `max_per_app` and all apps fewer
    than `max_total` running before it. A refused one takes no slot, so it cannot push out a later one of another
    app that fits. One being deleted takes none either: its PR is closed, and its slot goes to the oldest waiting
    preview at that one's next render, while Argo CD still removes the closed one's resources (a short overlap,
    docs/previews.md)."""
    per_app: Counter[str] = Counter()
    running = []
    for application in sorted((a for a in applications if not a.deleting), key=lambda a: a.order):
        if per_app[application.app] < max_per_app and len(running) < max_total:
            per_app[application.app] += 1
            running.append(application)
    return running


def cap_problem(name: str, app: str, applications: list[PreviewApplication], max_per_app: int,
                max_total: int, where: str) -> Problem | None:
    """Why preview `name` of `app` may not run now, or None when it may. An Application missing from the list
    (just made, not listed yet) is the newest. One being deleted is never refused: Argo CD renders it to find its
    PreDelete hooks (argo-cd v3.4.4 controller/hook.go:119-121), and a failed render there stops its deletion."""
    if any(application.name == name and application.deleting for application in applications):
        return None
    if not any(application.name == name for application in applications):
        applications = [*applications, PreviewApplication(name, app, "9999")]
    running = admitted(applications, max_per_app, max_total)
    if any(application.name == name for application in running):
        return None
    own = [a.name for a in running if a.app == app]
    if len(own) >= max_per_app:
        reason = f"at most {max_per_app} previews of {app} run at once, and {len(own)} do ({', '.join(own)})"
    else:
        reason = f"at most {max_total} previews run at once on this platform, all apps together, and {len(running)} do"
    return Problem(where, message=f"{CAP_REFUSAL}: {reason}",
                   hint="this preview starts by itself within minutes once another one is closed, unlabelled or "
                        "expires; nothing in this pull request needs to change")
