"""The preview approval decision (policy/approval.py) and what the platform gives render-preview for it."""

from __future__ import annotations

import json

import pytest

from minnova_idp.model.stack import StackSecrets
from minnova_idp.policy.approval import APPROVAL_CONTEXT, CommitStatus, approval_problem, parse_statuses
from minnova_idp.render import argocd
from minnova_idp.render.approval import approval_settings

SHA = "a" * 40


def statuses(*rows):
    return [CommitStatus(i, c, s) for i, c, s in rows]


def test_the_newest_approval_status_decides_whatever_order_the_page_has():
    assert approval_problem("github", statuses((1, APPROVAL_CONTEXT, "success")), SHA, "x") is None
    revoked = statuses((2, APPROVAL_CONTEXT, "failure"), (1, APPROVAL_CONTEXT, "success"))
    assert "latest approval status is 'failure'" in str(approval_problem("github", revoked, SHA, "x"))
    assert approval_problem("github", list(reversed(revoked)), SHA, "x") is not None
    reapproved = statuses((3, APPROVAL_CONTEXT, "success"), (2, APPROVAL_CONTEXT, "failure"))
    assert approval_problem("gitea", reapproved, SHA, "x") is None


def test_no_approval_other_contexts_and_a_full_page_are_refused():
    assert "is not approved" in str(approval_problem("github", [], SHA, "x"))
    other = statuses((5, "ci/build", "success"), (6, "minnova/preview", "success"),
                     (7, APPROVAL_CONTEXT.upper(), "success"))
    assert approval_problem("github", other, SHA, "x") is not None
    assert "first page of statuses held none" in str(approval_problem("github", other, SHA, "x", page_full=True))
    # GitHub and Gitea list newest first, so a full page still holds the newest; GitLab's filtered page may not.
    approved = statuses((9, APPROVAL_CONTEXT, "success"))
    assert approval_problem("github", approved, SHA, "x", page_full=True) is None
    assert "than one page holds" in str(approval_problem("gitlab", approved, SHA, "x", page_full=True))


@pytest.mark.parametrize("provider, payload, expected", [
    ("github", [{"id": 1, "state": "success", "context": APPROVAL_CONTEXT}], [CommitStatus(1, APPROVAL_CONTEXT, "success")]),
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
    assert given == {"provider": "github", "api": "https://api.github.com/",
                     "apps": {"oracle": {"repository": "minnova/oracle", "token": "read-only"}}}
    gitlab = settings.model_copy(update={"git": settings.git.model_copy(
        update={"provider": "gitlab", "url": "https://gitlab.example.com/"})})
    app = argocd.PreviewApp("oracle", "https://gitlab.example.com/minnova/oracle.git", project_id=42)
    given = approval_settings([app], StackSecrets(gitlab_project_tokens={"oracle": "project-token"}), gitlab)
    assert given["apps"] == {"oracle": {"repository": "42", "token": "project-token"}}  # its own project token
    keys = argocd.preview_keys_secret([app], StackSecrets(), approval_settings([app], StackSecrets(
        gitlab_project_tokens={"oracle": "t"}), gitlab))
    assert json.loads(keys["stringData"].value[argocd.PREVIEW_APPROVAL])["api"] == "https://gitlab.example.com/"
