"""Whether a pull request's head commit is approved for a preview: the same gate on every git provider.

The approval record is a commit status named APPROVAL_CONTEXT on the exact head SHA, in the app's own repository
(never the fork's), whose latest state is success, written by an approver the platform lists
(minnova:previews.approvers). Who may write a status at all is each provider's rule:
- GitHub: "Users with push access in a repository can create commit statuses for a given SHA" (REST docs, Create a
  commit status); a fork's `pull_request` workflow gets a read-only GITHUB_TOKEN. But any integration holding
  statuses:write (Buildkite, Jenkins, another App) writes whatever context the repository's content tells it, so
  the status's `creator.login` must be an approver: by default only `github-actions[bot]`, which is what the
  approve workflow posts as (GITHUB_TOKEN), and which a fork's workflow cannot post as.
- GitLab: `POST /projects/:id/statuses/:sha` is `authorize! :create_commit_status` (lib/api/commit_statuses.rb),
  Developer or above. But a CI job named like the context lists as a status too, and a fork's merge request
  pipeline run in the app's project runs the fork's .gitlab-ci.yml, with the maintainer who started it as the
  job's `author`. So the status's `author.username` must be an approver, and its pipeline must be one the API made
  (`source` external, loaded per status: gitlabhq lib/api/commit_statuses.rb creates `source: :external` when no
  pipeline exists for the ref and SHA), never a CI pipeline (a job, or a status attached to a CI pipeline).
- Gitea/Forgejo: `POST /repos/{owner}/{repo}/statuses/{sha}` needs reqRepoWriter(unit.TypeCode)
  (go-gitea/gitea@001727e5 routers/api/v1/api.go, the /statuses group); the status's `creator.login` must be an
  approver.
A new push is a new SHA, which has no status yet: it is not approved until someone approves it, and render-preview
refuses to render it, so Argo CD keeps the last approved commit running (a failed generation prunes nothing).
Revoking the approval of a commit already rendered does not stop it: Argo CD's repo server answers that commit
from its manifest cache (argo-cd v3.4.4 reposerver/repository/repository.go:968-1041, 24h by default
reposerver/cache/cache.go:69) and the controller keeps the objects when a render fails (controller/state.go:641).
To stop a preview, remove the preview label or close the pull request (the Application's finalizer deletes the
namespace).

Pure: statuses in, a Problem or None out (load/approval.py fetches them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from minnova_idp.model.errors import Problem

APPROVAL_CONTEXT = "minnova/preview-approved"
# In every refusal for want of an approval (never in a failure to read one): the preview's notification reports
# such a commit as waiting, not failed (render/notifications.py).
UNAPPROVED = "is not approved for a preview"
PROVIDERS = ("github", "gitlab", "gitea", "forgejo")
# What each provider calls the fields (GitHub REST "List commit statuses for a reference"; GitLab
# Entities::CommitStatus (gitlabhq lib/api/entities/commit_status.rb: name, status, pipeline_id, author: UserBasic);
# go-gitea/gitea modules/structs/status.go CommitStatus: `status`, `context`, `creator`).
_FIELDS = {"github": ("context", "state", "success"), "gitlab": ("name", "status", "success"),
           "gitea": ("context", "status", "success"), "forgejo": ("context", "status", "success")}
# Who wrote a status: GitHub and Gitea/Forgejo `creator.login`, GitLab `author.username`.
_WRITER = {"github": ("creator", "login"), "gitlab": ("author", "username"), "gitea": ("creator", "login"),
           "forgejo": ("creator", "login")}
# What GITHUB_TOKEN posts as: the approve workflow (minnova-preview-approve.yml).
GITHUB_ACTIONS_BOT = "github-actions[bot]"
# The pipeline source of statuses GitLab's API made (Ci::Pipeline sources; lib/api/commit_statuses.rb).
EXTERNAL_PIPELINE = "external"


@dataclass(frozen=True)
class CommitStatus:
    id: int
    context: str
    state: str
    writer: str | None = None  # who wrote it (None: the provider did not say, e.g. a deleted user)
    pipeline_id: int | None = None  # GitLab: the pipeline it belongs to


def default_approvers(provider: str, approvers: list[str] | None) -> list[str]:
    """minnova:previews.approvers, or on GitHub the approve workflow's identity when the stack lists none."""
    if approvers is not None:
        return list(approvers)
    return [GITHUB_ACTIONS_BOT] if provider == "github" else []


def api_problem(api: str) -> str | None:
    """Why the approval API cannot be used, or None: https only, since the token goes with every request (plain
    http only to 127.0.0.1, which never leaves this host: the tests' forge)."""
    if api.startswith("https://") or api.startswith("http://127.0.0.1:") or api.startswith("http://127.0.0.1/"):
        return None
    return f"'{api[:80]}' is not an https:// URL: the approval token would travel in plain text"


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
        who, name_key = _WRITER[provider]
        writer = item.get(who, {}).get(name_key) if isinstance(item.get(who), dict) else None
        pipeline_id = item.get("pipeline_id")
        statuses.append(CommitStatus(status_id, context, state, writer if isinstance(writer, str) else None,
                                     pipeline_id if isinstance(pipeline_id, int) and not isinstance(pipeline_id, bool)
                                     else None))
    return statuses


def approval_candidate(provider: str, statuses: list[CommitStatus], approvers: list[str], sha: str, shown: str,
                       page_full: bool = False, how: str = "") -> CommitStatus | Problem:
    """The approvers' latest APPROVAL_CONTEXT status on `sha` when it is success (on GitLab the caller still checks
    its pipeline: gitlab_pipeline_problem), else why not. Statuses anyone else wrote do not count either way. The
    latest is the highest id: ids grow with time on every provider, whatever order a page comes in. `page_full`:
    the page was full, so older or newer statuses may be missing from it: an approval found in it still counts only
    if it is the newest one seen, and none found is refused (fail closed)."""
    success = _FIELDS[provider][2]
    named = [status for status in statuses if status.context == APPROVAL_CONTEXT]
    mine = [status for status in named if status.writer is not None and status.writer in approvers]
    if not approvers:
        return Problem(shown, APPROVAL_CONTEXT, f"commit {sha} {UNAPPROVED}: no approvers are configured",
                       hint="the platform lists who approves in minnova:previews.approvers (docs/security.md)")
    if not mine:
        more = " (the first page of statuses held none; approve again so it is the newest)" if page_full else ""
        others = sorted({status.writer or "an unknown account" for status in named})
        ignored = f"; {len(named)} written by {', '.join(others[:3])} (not approvers) do not count" if named else ""
        return Problem(shown, APPROVAL_CONTEXT, f"commit {sha} {UNAPPROVED}{more}{ignored}",
                       hint=how or None)
    if page_full and provider == "gitlab":
        # GitLab's page is filtered to this context but not ordered newest first: a newer revocation may be unseen.
        return Problem(shown, APPROVAL_CONTEXT, f"commit {sha} {UNAPPROVED}: it has more {APPROVAL_CONTEXT} "
                       "statuses than one page holds; their latest cannot be read", hint=how or None)
    latest = max(mine, key=lambda status: status.id)
    if latest.state != success:
        return Problem(shown, APPROVAL_CONTEXT, f"commit {sha} {UNAPPROVED}: its latest approval status is "
                       f"'{latest.state}', not {success}: it is not rendered again (a running preview of it stops "
                       "only when the preview label is removed or the pull request is closed)", hint=how or None)
    return latest


def gitlab_pipeline_problem(status: CommitStatus, source: str | None, sha: str, shown: str,
                            how: str = "") -> Problem | None:
    """None when the approving status belongs to a pipeline GitLab's status API made (`source` external): a CI
    job of the same name, or a status added to a CI pipeline, could come from a fork's .gitlab-ci.yml."""
    if source == EXTERNAL_PIPELINE:
        return None
    return Problem(shown, APPROVAL_CONTEXT, f"commit {sha} {UNAPPROVED}: its approval status {status.id} belongs "
                   f"to pipeline {status.pipeline_id} (source '{source}'), not one the status API made: a CI job does "
                   "not approve",
                   hint=how or None)


def approval_problem(provider: str, statuses: list[CommitStatus], sha: str, shown: str, page_full: bool = False,
                     how: str = "", approvers: list[str] | None = None,
                     pipeline_sources: dict[int, str] | None = None) -> Problem | None:
    """None when commit `sha` is approved (approval_candidate, then on GitLab its pipeline's source from
    `pipeline_sources`)."""
    found = approval_candidate(provider, statuses, default_approvers(provider, approvers), sha, shown, page_full, how)
    if isinstance(found, Problem):
        return found
    if provider == "gitlab":
        source = (pipeline_sources or {}).get(found.pipeline_id) if found.pipeline_id is not None else None
        return gitlab_pipeline_problem(found, source, sha, shown, how)
    return None


def how_to_approve(provider: str, api: str, repository: str, sha: str) -> str:
    """The one command a maintainer runs after reviewing `sha` (docs/security.md, "Preview approval")."""
    base = api.rstrip("/")
    if provider == "github":
        return (f"after reviewing {sha}, an approver (minnova:previews.approvers) runs: gh api "
                f"repos/{repository}/statuses/{sha} "
                f"-f state=success -f context={APPROVAL_CONTEXT} (or labels the pull request once they approved "
                "that commit in a review: minnova-preview-approve.yml)")
    if provider == "gitlab":
        # `ref`: without it GitLab takes a branch of this project containing the SHA, and a fork's commit is in
        # none: 404 (gitlabhq lib/api/commit_statuses.rb, the POST's `ref ||= branch_names_contains(sha).first`).
        return (f"after reviewing {sha}, an approver (minnova:previews.approvers) runs: curl -X POST "
                f"-H 'PRIVATE-TOKEN: <token>' '{base}/api/v4/projects/{repository}/statuses/{sha}?state=success"
                f"&name={APPROVAL_CONTEXT}&ref=<source-branch>' (<source-branch>: the merge request's source branch, "
                "URL-encoded)")
    return (f"after reviewing {sha}, an approver (minnova:previews.approvers) runs: curl -X POST "
            f"-H 'Authorization: token <token>' "
            f"-H 'Content-Type: application/json' -d '{{\"state\":\"success\",\"context\":\"{APPROVAL_CONTEXT}\"}}' "
            f"{base}/api/v1/repos/{repository}/statuses/{sha}")
