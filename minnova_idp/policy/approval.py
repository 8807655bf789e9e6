"""Whether a pull request's head commit is approved for a preview: the same gate on every git provider.

The approval record is a commit status named APPROVAL_CONTEXT on the exact head SHA, in the app's own repository
(never the fork's), whose latest state is success. What makes that a maintainer's decision is who can write one:
- GitHub: "Users with push access in a repository can create commit statuses for a given SHA" (REST docs, Create a
  commit status); a fork's `pull_request` workflow gets a read-only GITHUB_TOKEN. Statuses are per repository.
- GitLab: `POST /projects/:id/statuses/:sha` is `authorize! :create_commit_status` (lib/api/commit_statuses.rb),
  a Developer-or-above permission of the project. A job named like the context also lists as a status, but only in
  a pipeline of the app's own project, which for a fork's commit a Developer must start by hand: that is a
  write-access person running that exact SHA, which counts as approving it.
- Gitea/Forgejo: `POST /repos/{owner}/{repo}/statuses/{sha}` needs reqRepoWriter(unit.TypeCode)
  (go-gitea/gitea@001727e5 routers/api/v1/api.go, the /statuses group); Actions' own statuses are named
  "<workflow> / <job> (<event>)", never APPROVAL_CONTEXT.
A new push is a new SHA, which has no status yet: it is not approved until someone approves it, and render-preview
refuses to render it, so Argo CD keeps the last approved commit running (a failed generation prunes nothing).

Pure: statuses in, a Problem or None out (load/approval.py fetches them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from minnova_idp.model.errors import Problem

APPROVAL_CONTEXT = "minnova/preview-approved"
PROVIDERS = ("github", "gitlab", "gitea", "forgejo")
# What each provider calls the fields (GitHub REST "List commit statuses for a reference"; GitLab
# Entities::CommitStatus; go-gitea/gitea modules/structs/status.go CommitStatus: `status`, `context`).
_FIELDS = {"github": ("context", "state", "success"), "gitlab": ("name", "status", "success"),
           "gitea": ("context", "status", "success"), "forgejo": ("context", "status", "success")}


@dataclass(frozen=True)
class CommitStatus:
    id: int
    context: str
    state: str


def parse_statuses(provider: str, payload: Any) -> list[CommitStatus] | None:
    """The provider's JSON list of statuses, or None when it is not one (never trust its shape)."""
    context_key, state_key, _ = _FIELDS[provider]
    if not isinstance(payload, list):
        return None
    statuses = []
    for item in payload:
        if not isinstance(item, dict):
            return None
        status_id, context, state = item.get("id"), item.get(context_key), item.get(state_key)
        if not isinstance(status_id, int) or isinstance(status_id, bool) or not isinstance(context, str) \
                or not isinstance(state, str):
            return None
        statuses.append(CommitStatus(status_id, context, state))
    return statuses


def approval_problem(provider: str, statuses: list[CommitStatus], sha: str, shown: str, page_full: bool = False,
                     how: str = "") -> Problem | None:
    """None when the latest APPROVAL_CONTEXT status on `sha` is success. The latest is the highest id: ids grow with
    time on every provider, whatever order a page comes in. `page_full`: the page was full, so older or newer
    statuses may be missing from it: an approval found in it still counts only if it is the newest one seen, and
    none found is refused (fail closed)."""
    success = _FIELDS[provider][2]
    mine = [status for status in statuses if status.context == APPROVAL_CONTEXT]
    if not mine:
        more = " (the first page of statuses held none; approve again so it is the newest)" if page_full else ""
        return Problem(shown, APPROVAL_CONTEXT, f"commit {sha} is not approved for a preview{more}",
                       hint=how or None)
    if page_full and provider == "gitlab":
        # GitLab's page is filtered to this context but not ordered newest first: a newer revocation may be unseen.
        return Problem(shown, APPROVAL_CONTEXT, f"commit {sha} has more {APPROVAL_CONTEXT} statuses than one page "
                       "holds; its latest cannot be read", hint=how or None)
    latest = max(mine, key=lambda status: status.id)
    if latest.state != success:
        return Problem(shown, APPROVAL_CONTEXT, f"commit {sha}'s latest approval status is '{latest.state}', "
                       f"not {success}: its preview stays down", hint=how or None)
    return None


def how_to_approve(provider: str, api: str, repository: str, sha: str) -> str:
    """The one command a maintainer runs after reviewing `sha` (docs/security.md, "Preview approval")."""
    base = api.rstrip("/")
    if provider == "github":
        return (f"after reviewing {sha}, someone with write access runs: gh api repos/{repository}/statuses/{sha} "
                f"-f state=success -f context={APPROVAL_CONTEXT} (or labels the pull request once they approved "
                "that commit in a review: minnova-preview-approve.yml)")
    if provider == "gitlab":
        return (f"after reviewing {sha}, a Developer or above runs: curl -X POST -H 'PRIVATE-TOKEN: <token>' "
                f"'{base}/api/v4/projects/{repository}/statuses/{sha}?state=success&name={APPROVAL_CONTEXT}'")
    return (f"after reviewing {sha}, someone with write access runs: curl -X POST -H 'Authorization: token <token>' "
            f"-H 'Content-Type: application/json' -d '{{\"state\":\"success\",\"context\":\"{APPROVAL_CONTEXT}\"}}' "
            f"{base}/api/v1/repos/{repository}/statuses/{sha}")
