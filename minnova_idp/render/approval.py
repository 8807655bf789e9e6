"""What render-preview needs to check a preview's approval (policy/approval.py): written by the platform into the
plugin sidecar's keys Secret (argocd.PREVIEW_APPROVAL), never taken from the pull request or plugin env."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from minnova_idp.policy.approval import default_approvers
from minnova_idp.render.argocd import PreviewApp, api_url, owner_and_repo

if TYPE_CHECKING:
    from minnova_idp.model.stack import StackSecrets
    from minnova_idp.model.stack_settings import StackSettings


def approval_settings(apps: list[PreviewApp], secrets: StackSecrets, settings: StackSettings) -> dict[str, Any]:
    """What render-preview needs to read an app's approvals: the provider's API, the app's own repository (never the
    fork's: statuses there are the fork owner's) and a read-only token (minnova:previewApprovalToken; on GitLab the
    app's project token, read_api, when that is not set), and whose statuses count (minnova:previews.approvers)."""
    provider = settings.git.provider

    def repository(app: PreviewApp) -> str:
        return str(app.project_id) if provider == "gitlab" else "/".join(owner_and_repo(app.repo))

    def token(app: PreviewApp) -> str | None:
        if secrets.preview_approval_token:
            return secrets.preview_approval_token
        return secrets.gitlab_project_tokens.get(app.name) if provider == "gitlab" else None

    previews = settings.previews
    return {"provider": provider, "api": api_url(settings),
            "approvers": default_approvers(provider, previews.approvers if previews is not None else None),
            "apps": {app.name: {"repository": repository(app), "token": token(app)} for app in apps}}
