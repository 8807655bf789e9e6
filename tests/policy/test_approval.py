"""The preview approval decision (policy/approval.py) and what the platform gives render-preview for it."""

from __future__ import annotations

import json

import pytest

from minnova_idp.model.stack import StackSecrets
from minnova_idp.policy.approval import APPROVAL_CONTEXT, CommitStatus, approval_problem, parse_statuses
from minnova_idp.render import argocd
from minnova_idp.render.approval import approval_settings

SHA = "a" * 40


def statuses(*rows, writer="github-actions[bot]"):
    return [CommitStatus(i, c, s, writer) for i, c, s in rows]


def test_the_newest_approval_status_decides_whatever_order_the_page_has():
    assert approval_problem("github", statuses((1, APPROVAL_CONTEXT, "success")), SHA, "x") is None
    revoked = statuses((2, APPROVAL_CONTEXT, "failure"), (1, APPROVAL_CONTEXT, "success"))
    assert "latest approval status is 'failure'" in str(approval_problem("github", revoked, SHA, "x"))
    assert approval_problem("github", list(reversed(revoked)), SHA, "x") is not None
    reapproved = statuses((3, APPROVAL_CONTEXT, "success"), (2, APPROVAL_CONTEXT, "failure"))
    assert approval_problem("gitea", reapproved, SHA, "x", approvers=["github-actions[bot]"]) is None


def test_no_approval_other_contexts_and_a_full_page_are_refused():
    assert "is not approved" in str(approval_problem("github", [], SHA, "x"))
    other = statuses((5, "ci/build", "success"), (6, "minnova/preview", "success"),
                     (7, APPROVAL_CONTEXT.upper(), "success"))
    assert approval_problem("github", other, SHA, "x") is not None
    assert "first page of statuses held none" in str(approval_problem("github", other, SHA, "x", page_full=True))
    # GitHub and Gitea list newest first, so a full page still holds the newest; GitLab's filtered page may not.
    approved = statuses((9, APPROVAL_CONTEXT, "success"))
    assert approval_problem("github", approved, SHA, "x", page_full=True) is None
    assert "than one page holds" in str(approval_problem("gitlab", approved, SHA, "x", page_full=True,
                                                         approvers=["github-actions[bot]"]))


@pytest.mark.parametrize("provider, payload, expected", [
    ("github", [{"id": 1, "state": "success", "context": APPROVAL_CONTEXT}], [CommitStatus(1, APPROVAL_CONTEXT, "success")]),
    ("github", [{"id": 1, "state": "success", "context": APPROVAL_CONTEXT, "creator": {"login": "octocat"}}],
     [CommitStatus(1, APPROVAL_CONTEXT, "success", "octocat")]),
    ("gitlab", [{"id": 2, "status": "success", "name": APPROVAL_CONTEXT, "author": {"username": "ann"},
                 "pipeline_id": 7}], [CommitStatus(2, APPROVAL_CONTEXT, "success", "ann", 7)]),
    ("gitea", [{"id": 3, "status": "success", "context": APPROVAL_CONTEXT, "creator": None}],
     [CommitStatus(3, APPROVAL_CONTEXT, "success")]),
    ("gitlab", [{"id": 2, "status": "success", "name": APPROVAL_CONTEXT}], [CommitStatus(2, APPROVAL_CONTEXT, "success")]),
    ("gitea", [{"id": 3, "status": "success", "context": APPROVAL_CONTEXT}], [CommitStatus(3, APPROVAL_CONTEXT, "success")]),
    # GitHub's field names on Gitea mean nothing there (Gitea's state is `status`), and the reverse.
    ("gitea", [{"id": 3, "state": "success", "context": APPROVAL_CONTEXT}], None),
    ("github", [{"id": 1, "status": "success", "context": APPROVAL_CONTEXT}], None),
    ("github", {"message": "Not Found"}, None),
    ("github", [{"id": True, "state": "success", "context": APPROVAL_CONTEXT}], None),
    ("github", [["not", "an", "object"]], None),
])
def test_each_providers_shape_is_read_strictly(provider, payload, expected):
    assert parse_statuses(provider, payload) == expected


def test_the_platform_names_the_apps_own_repository_and_a_read_only_token(tmp_path):
    from tests.conftest import PROJECT_DIR, load_stack_inputs

    inputs = load_stack_inputs(PROJECT_DIR)
    app = argocd.PreviewApp("oracle", "https://github.com/minnova/oracle.git")
    settings = inputs.stack.settings
    given = approval_settings([app], StackSecrets(preview_approval_token="read-only"), settings)
    assert given == {"provider": "github", "api": "https://api.github.com/", "approvers": ["github-actions[bot]"],
                     "apps": {"oracle": {"repository": "minnova/oracle", "token": "read-only"}}}
    gitlab = settings.model_copy(update={"git": settings.git.model_copy(
        update={"provider": "gitlab", "url": "https://gitlab.example.com/"})})
    app = argocd.PreviewApp("oracle", "https://gitlab.example.com/minnova/oracle.git", project_id=42)
    given = approval_settings([app], StackSecrets(gitlab_project_tokens={"oracle": "project-token"}), gitlab)
    assert given["apps"] == {"oracle": {"repository": "42", "token": "project-token"}}  # its own project token
    keys = argocd.preview_keys_secret([app], StackSecrets(), approval_settings([app], StackSecrets(
        gitlab_project_tokens={"oracle": "t"}), gitlab))
    assert json.loads(keys["stringData"].value[argocd.PREVIEW_APPROVAL])["api"] == "https://gitlab.example.com/"


# --- Approvals bound to approvers (issue 25 item 4; rv25 review): a status with the name is not enough -------------

def test_a_status_another_integration_wrote_on_github_does_not_approve():
    """Buildkite, Jenkins or another App with statuses:write writes whatever context the PR's pipeline file names;
    only the approve workflow's identity (or listed approvers) counts. Old code: approved."""
    buildkite = parse_statuses("github", [{"id": 5, "context": APPROVAL_CONTEXT, "state": "success",
                                           "creator": {"login": "buildkite[bot]", "type": "Bot"}}])
    assert "written by buildkite[bot] (not approvers) do not count" in str(approval_problem("github", buildkite, SHA, "x"))
    workflow = parse_statuses("github", [{"id": 6, "context": APPROVAL_CONTEXT, "state": "success",
                                          "creator": {"login": "github-actions[bot]", "type": "Bot"}}])
    assert approval_problem("github", workflow, SHA, "x") is None
    # A hand approval counts only from a listed approver; listing replaces the default.
    maria = parse_statuses("github", [{"id": 7, "context": APPROVAL_CONTEXT, "state": "success",
                                       "creator": {"login": "maria"}}])
    assert approval_problem("github", maria, SHA, "x") is not None
    assert approval_problem("github", maria, SHA, "x", approvers=["maria"]) is None
    assert approval_problem("github", workflow, SHA, "x", approvers=["maria"]) is not None
    # An unapproved newer status by someone else neither approves nor revokes.
    mixed = workflow + parse_statuses("github", [{"id": 9, "context": APPROVAL_CONTEXT, "state": "failure",
                                                  "creator": {"login": "mallory"}}])
    assert approval_problem("github", mixed, SHA, "x") is None


def test_a_gitlab_ci_job_named_like_the_approval_does_not_approve():
    """A fork's MR pipeline run in the app's project (started by a maintainer) has a job named
    minnova/preview-approved: it lists like an API status, with the maintainer as author. Only a status in a
    pipeline the status API made (source external) counts. Old code: approved."""
    job = parse_statuses("gitlab", [{"id": 9001, "name": APPROVAL_CONTEXT, "status": "success", "sha": SHA,
                                     "pipeline_id": 77, "author": {"username": "maria"}}])
    assert "not one the status API made" in str(approval_problem(
        "gitlab", job, SHA, "x", approvers=["maria"], pipeline_sources={77: "merge_request_event"}))
    assert approval_problem("gitlab", job, SHA, "x", approvers=["maria"]) is not None  # source unknown: refused
    assert approval_problem("gitlab", job, SHA, "x", approvers=["maria"], pipeline_sources={77: "external"}) is None
    # Nobody listed: nothing on GitLab, Gitea or Forgejo is approved (there is no default approver there).
    for provider in ("gitlab", "gitea", "forgejo"):
        assert "no approvers are configured" in str(approval_problem(provider, job, SHA, "x"))
    # Someone not listed, even with Developer access, does not approve.
    assert approval_problem("gitlab", job, SHA, "x", approvers=["ann"], pipeline_sources={77: "external"}) is not None


def test_revoking_says_what_it_does_and_how_to_stop_a_running_preview():
    """Argo CD answers a rendered commit from its manifest cache (argo-cd v3.4.4 reposerver/repository/
    repository.go:968-1041) and keeps objects on a failed render (controller/state.go:641): a revocation stops no
    running preview. Old message: "its preview stays down"."""
    revoked = statuses((1, APPROVAL_CONTEXT, "success"), (2, APPROVAL_CONTEXT, "failure"))
    message = str(approval_problem("github", revoked, SHA, "x"))
    assert "stays down" not in message and "preview label is removed or the pull request is closed" in message


def test_the_approval_api_must_be_https():
    from minnova_idp.policy.approval import api_problem

    assert api_problem("https://api.github.com/") is None
    assert api_problem("http://127.0.0.1:8080/") is None  # the tests' forge: never leaves the host
    for api in ("http://gitlab.example.com/", "http://127.0.0.1.evil.io/", "ftp://x/"):
        assert "not an https:// URL" in str(api_problem(api))


def test_the_gitlab_command_names_the_ref_a_forks_commit_needs():
    from minnova_idp.policy.approval import how_to_approve

    command = how_to_approve("gitlab", "https://gitlab.example.com/", "42", SHA)
    assert "&ref=<source-branch>'" in command and f"statuses/{SHA}?state=success" in command

