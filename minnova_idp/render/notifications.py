"""Argo CD notifications for pull-request previews: what a PR author is told, on which commit, and when.

The triggers (expr-lang) decide when, once per what; the templates (Go text/template with sprig) what. Both are
data here and dumped as YAML into argocd-notifications-cm by the chart (argocd.chart_values). Tested by
tests/render/test_previews_converge.py against models of notifications-engine's and gitops-engine's loops.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from minnova_idp.policy.approval import UNAPPROVED
from minnova_idp.policy.preview_cap import CAP_REFUSAL
from minnova_idp.render.waves import READY_HOOK_NAME

if TYPE_CHECKING:
    from minnova_idp.model.stack_settings import StackSettings

NOTIFICATION_LABEL = "minnova/preview"
PREVIEW_URL_ANNOTATION = "minnova.io/preview-url"
# GitLab only: the merge request's source branch, as the Pull Request generator gives it ({{.branch}}), for the
# commit status's `ref` (forge_template).
HEAD_BRANCH_ANNOTATION = "minnova.io/head-branch"

# Notification templates and triggers are YAML documents inside ConfigMap values: notifications-engine parses every
# one when it loads its config and, on one error, loads none (pkg/api/config.go:75-143), so they are built as data
# and dumped here, never written as YAML text by hand. `when`/`oncePer` are expr-lang expressions
# (github.com/expr-lang/expr v1.17.8: argo-cd v3.4.4 go.mod:32 pins it, and the notifications controller is built
# from that module; notifications-engine's own go.mod asks for v1.16.9, the minimum); a failing `when` only skips
# its condition, and `oncePer`'s value is printed with %v, so nil would be "<nil>": once ever
# (notifications-engine pkg/triggers/service.go:88-101).
#
# Every report names the revision that actually synced, never the one the ApplicationSet has just asked for:
# `spec.source.targetRevision` moves to a new head SHA before that commit is synced, while the previous operation
# still reads Succeeded (or Failed), so keying on it reported the old result for the new commit and never the new
# one. Upstream's on-deployed trigger keys on the same field (argo-cd v3.4.4
# notifications_catalog/triggers/on-deployed.yaml:4). When rendering failed there is no operation at all: that
# report is about the head SHA the controller tried to render, and keys on it.
_CONDITIONS = "app.status?.conditions ?? []"
SYNCED_REVISION = "app.status.operationState?.syncResult?.revision"
# An operation that failed before its sync result was written still names the revision it was for (auto-sync sets
# it: argo-cd v3.4.4 controller/appcontroller.go autoSync, `Sync: &SyncOperation{Revision: ...}`).
OPERATION_REVISION = f"{SYNCED_REVISION} ?? app.status.operationState?.operation?.sync?.revision"
HEAD_REVISION = "app.spec.source.targetRevision"
# "Ready" needs more than a Succeeded operation and a Healthy app: the operation ends with its last wave applied
# and app.status.health may still be the previous commit's. Upstream's on-deployed guard (argo-cd v3.4.4
# notifications_catalog/triggers/on-deployed.yaml:1) compares health.lastTransitionTime with the operation's times,
# which a health that never left Healthy passes. The preview's PostSync hook (waves.READY_HOOK_NAME) is applied
# only after every resource of the synced revision was Healthy (see waves.py), so its Succeeded result in that
# operation's syncResult is the proof.
READY_HOOK_RAN = (f"any(app.status.operationState?.syncResult?.resources ?? [], {{.hookType == 'PostSync' "
                  f"and .name == '{READY_HOOK_NAME}' and .hookPhase == 'Succeeded'}})")
# A health that left Healthy and came back (or degraded again) is a new report on the same revision:
# health.lastTransitionTime changes only when health.status does (argo-cd v3.4.4 controller/appcontroller.go:
# 2135-2146), so a ready that follows a degraded report replaces it instead of being swallowed by oncePer.
HEALTH_EPISODE = f"({SYNCED_REVISION} ?? '') + ' ' + (app.status.health?.lastTransitionTime ?? '')"
TRIGGERS = {
    "minnova-preview-ready": [{
        "when": "app.status.operationState?.phase == 'Succeeded' and app.status.health?.status == 'Healthy' "
                f"and {SYNCED_REVISION} == {HEAD_REVISION} and {READY_HOOK_RAN}",
        "send": ["minnova-preview-ready"], "oncePer": HEALTH_EPISODE}],
    "minnova-preview-failed": [
        # render-preview failed (invalid app.yaml, missing key, refused by the cap): Argo CD records a
        # ComparisonError, sync status Unknown, and never syncs (argo-cd v3.4.4 controller/state.go:624-642,
        # appcontroller.go:2203-2207). A ComparisonError also comes and goes on its own (a repo server restarting,
        # a git timeout): reported only while the head has not synced, so the report is replaced (same commit,
        # same status context and comment) by that head's ready or failed once it syncs, and an error on a
        # commit already reported ready never marks it failed.
        {"when": f"app.status.sync?.status == 'Unknown' and any({_CONDITIONS}, {{.type == 'ComparisonError'}}) "
                 f"and {SYNCED_REVISION} != {HEAD_REVISION}",
         "send": ["minnova-preview-render-failed"], "oncePer": HEAD_REVISION},
        {"when": "app.status.operationState?.phase in ['Error', 'Failed']",
         "send": ["minnova-preview-sync-failed"], "oncePer": OPERATION_REVISION},
        # Applied, then unhealthy (a crash-looping Deployment, a failed Job): the operation's own message says
        # "successfully synced", so this report lists the unhealthy resources instead.
        {"when": "app.status.health?.status == 'Degraded' and app.status.operationState?.phase == 'Succeeded'",
         "send": ["minnova-preview-degraded"], "oncePer": HEALTH_EPISODE},
    ],
}
# What an author reads while their commit waits for a maintainer's approval (docs/security.md, "Preview approval").
APPROVAL_NEEDED = "approval needed (a maintainer reviews this commit and approves it)"
_URL = '{{index .app.metadata.annotations "' + PREVIEW_URL_ANNOTATION + '"}}'
# Go templates read the Application as unstructured maps: a missing key is nil, a field of nil fails the whole
# notification, and sprig's trunc refuses nil ("invalid value; expected string"), so every optional field goes
# through `dig` with a default (controller/sync.go:76-82 creates operationState without a message).
_SYNCED = ('{{dig "status" "operationState" "syncResult" "revision" '
           '(dig "status" "operationState" "operation" "sync" "revision" "" .app) .app}}')
_HEAD = "{{.app.spec.source.targetRevision}}"


def _short(revision: str) -> str:
    return revision.replace("}}", " | trunc 7}}", 1)


def _pre(body: str) -> str:
    """Text a pull request controls (its app.yaml, SQL, resource names; Argo CD quotes them in its messages) inside
    an HTML <pre> block, HTML-escaped by text/template's `html`: no backtick, `</pre>` or markup in it can end
    the block or reach the Markdown around it, which a ``` fence could not promise."""
    return f"<pre>\n{body}</pre>\n"


# One line per reason, each escaped and cut on its own (escaping after cutting never splits an entity).
_RENDER_ERRORS = ('{{range (dig "status" "conditions" list .app)}}{{if eq (.type | default "") "ComparisonError"}}'
                  '{{.message | default "" | trunc 3000 | html}}\n{{end}}{{end}}')
_SYNC_ERRORS = ('{{dig "status" "operationState" "message" "" .app | trunc 3000 | html}}\n'
                '{{range (dig "status" "operationState" "syncResult" "resources" list .app)}}'
                '{{if or (eq (.status | default "") "SyncFailed") (has (.hookPhase | default "") (list "Failed" "Error"))}}'
                '{{.kind | default "" | html}}/{{.name | default "" | html}}: {{.message | default "" | trunc 500 | html}}\n'
                '{{end}}{{end}}')
_UNHEALTHY = ('{{range (dig "status" "resources" list .app)}}{{if eq (dig "health" "status" "" .) "Degraded"}}'
              '{{.kind | default "" | html}}/{{.name | default "" | html}}: '
              '{{dig "health" "message" "" . | trunc 500 | html}}\n{{end}}{{end}}')


def _if_refused_by(phrase: str, variable: str, then: str, otherwise: str) -> str:
    """`then` when a ComparisonError's message holds `phrase` (what render-preview says when it refused on purpose),
    else `otherwise`. (Text a pull request controls can reach a ComparisonError's message; the most it can do with
    the phrase is call its own failed render "waiting".)"""
    return (f'{{{{{variable} := false}}}}{{{{range (dig "status" "conditions" list .app)}}}}'
            '{{if and (eq (.type | default "") "ComparisonError") '
            f'(contains "{phrase}" (.message | default ""))}}}}{{{{{variable} = true}}}}{{{{end}}}}{{{{end}}}}'
            f'{{{{if {variable}}}}}{then}{{{{else}}}}{otherwise}{{{{end}}}}')


def _if_capped(then: str, otherwise: str) -> str:
    """`then` when render-preview refused the preview past the cap (policy/preview_cap.py), else `otherwise`. A
    refused preview is not failed: its commit status is pending, and is replaced when it runs."""
    return _if_refused_by(CAP_REFUSAL, "$capped", then, otherwise)


def _if_unapproved(then: str, otherwise: str) -> str:
    """`then` when render-preview refused the head commit as not approved (policy/approval.py), else `otherwise`:
    like the cap, a commit waiting for its approval has not failed."""
    return _if_refused_by(UNAPPROVED, "$unapproved", then, otherwise)


def _if_waiting(then: str, otherwise: str) -> str:
    return _if_capped(then, _if_unapproved(then, otherwise))


def notification_template(state: str, summary: str, details: str, revision: str) -> dict[str, Any]:
    """A commit status on `revision` (GitHub shows it on the pull request, forks included) and one pull-request
    comment, edited in place (commentTag). `summary` is the message: the status's description is its first 140
    characters (notifications-engine pkg/services/github.go:549-571), so it is one line, with no PR text in it."""
    return {
        "message": summary,
        "github": {
            "repoURLPath": "{{.app.spec.source.repoURL}}",
            "revisionPath": revision,
            "status": {"state": state, "label": NOTIFICATION_LABEL, "targetURL": _URL},
            "pullRequestComment": {"commentTag": NOTIFICATION_LABEL, "content": f"{summary}\n\n{details}"},
        },
    }


# Each report: (its state, the state instead when it waits (the cap, an approval) or None, the one-line summary, the comment's
# details, the revision it is about). GitHub's states; forge_state() maps them for GitLab.
REPORTS = {
    "minnova-preview-ready": ("success", None, f"Preview of {_short(_SYNCED)} is ready: {_URL}", "", _SYNCED),
    "minnova-preview-render-failed": (
        "failure", "pending",
        _if_capped(f"Preview of {_short(_HEAD)} waits: {CAP_REFUSAL} (it starts once another preview ends)",
                   _if_unapproved(f"Preview of {_short(_HEAD)} waits: {APPROVAL_NEEDED}",
                                  f"Preview of {_short(_HEAD)} failed: .minnova/ could not be rendered")),
        _pre(_RENDER_ERRORS), _HEAD),
    "minnova-preview-sync-failed": (
        "failure", None, f"Preview of {_short(_SYNCED)} failed: Argo CD could not apply it", _pre(_SYNC_ERRORS),
        _SYNCED),
    "minnova-preview-degraded": (
        "failure", None, f"Preview of {_short(_SYNCED)} failed: applied, but not healthy", _pre(_UNHEALTHY), _SYNCED),
}


def forge_state(state: str, provider: str) -> str:
    """GitHub's status state as `provider` names it (Gitea and Forgejo use GitHub's names)."""
    return "failed" if provider == "gitlab" and state == "failure" else state


def _state(state: str, capped: str | None, provider: str = "github") -> str:
    if capped is None:
        return forge_state(state, provider)
    return _if_waiting(forge_state(capped, provider), forge_state(state, provider))


TEMPLATES = {name: notification_template(_state(state, capped), summary, details, revision)
             for name, (state, capped, summary, details, revision) in REPORTS.items()}


# ---- GitLab, Gitea and Forgejo: commit statuses through the webhook service ----------------------------------------
# notifications-engine has no GitLab, Gitea or Forgejo service (1dbe3de pkg/services/services.go:134-248), but its
# webhook service sends a template's `webhook.<service>` {method, path, body} to the service's URL + path, with the
# service's headers (pkg/services/webhook.go:19-23, 31-66, 112-167); `$key` in a service's config is replaced by
# that key of argocd-notifications-secret (pkg/api/config.go:60-72, 154). Comments need a PR number the Application
# does not carry, so on these forges the report is the commit status alone.
# - GitLab: POST /api/v4/projects/:id/statuses/:sha {state: pending|running|success|failed|canceled, name,
#   target_url, description}, header PRIVATE-TOKEN. The token: a project access token of that project only, role
#   Developer, scope `api` (GitLab has no narrower scope that may write a status).
# - Gitea and Forgejo: POST /api/v1/repos/:owner/:repo/statuses/:sha {state: pending|success|error|failure|warning,
#   context, target_url, description} (go-gitea/gitea modules/structs/status.go CreateStatusOption), header
#   `Authorization: token ...`; the route needs write access to the repository's code and a token with the
#   repository scope (routers/api/v1/api.go: reqRepoWriter(unit.TypeCode) under
#   tokenRequiresScopes(AccessTokenScopeCategoryRepository)). Tokens belong to users there: a bot user that is a
#   collaborator (Write) on that one repository, its token scoped write:repository only.
# One service per app, each with its own token (minnova:previewStatusTokens), so no token reaches another repo.
STATUS_SERVICE_PREFIX = "minnova-status-"


def status_service(app: str) -> str:
    """The webhook service (and its secret key) that sets `app`'s commit statuses."""
    return f"{STATUS_SERVICE_PREFIX}{app}"


# The webhook service sends only the headers configured here (notifications-engine 1dbe3de
# pkg/services/webhook.go:156-162: retryablehttp.NewRequest, then Header.Set per configured header), so the JSON
# body goes out with no Content-Type unless it is one of them. Gitea and Forgejo bind the body by Content-Type and
# refuse an empty one ("Empty Content-Type", gitea.com/go-chi/binding Bind); GitLab's Grape API reads an untyped
# body as form data. Both get it explicitly.
JSON_CONTENT_TYPE = {"name": "Content-Type", "value": "application/json"}


def forge_service(provider: str, base_url: str, app: str) -> dict[str, Any]:
    secret = f"${status_service(app)}"
    if provider == "gitlab":
        return {"url": f"{base_url}api/v4", "headers": [{"name": "PRIVATE-TOKEN", "value": secret}, JSON_CONTENT_TYPE]}
    return {"url": f"{base_url}api/v1",
            "headers": [{"name": "Authorization", "value": f"token {secret}"}, JSON_CONTENT_TYPE]}


def forge_status_path(provider: str, app_path: str, revision: str) -> str:
    """`app_path`: the GitLab project's numeric ID, or Gitea's `owner/repo`."""
    if provider == "gitlab":
        return f"/projects/{app_path}/statuses/{revision}"
    return f"/repos/{app_path}/statuses/{revision}"


def forge_template(name: str, provider: str, services: dict[str, str]) -> dict[str, Any]:
    """Template `name` for the forge: one `webhook` entry per app service (`services`: service -> the app's
    project ID or owner/repo). Only the summary, our URL annotation and a hex revision reach the JSON body: none
    of them holds a quote or a backslash, and no pull-request text is in them (tests run it through Go and JSON)."""
    state, capped, summary, _, revision = REPORTS[name]
    context = "name" if provider == "gitlab" else "context"
    ref = ""
    if provider == "gitlab":
        # Without `ref`, GitLab takes the ref of a pipeline on that SHA or the first branch of the project that
        # contains it, and answers 404 "References for commit" when there is neither (gitlabhq
        # app/services/ci/create_commit_status_service.rb `validate`, `ref`): a fork's merge request before any
        # pipeline ran on it. The source branch comes from the merge request (a fork's branch name is the
        # author's text), so it goes through toJson: JSON-quoted whatever it holds; an Application made before
        # the annotation existed sends null, which GitLab treats as absent.
        ref = ', "ref": {{index .app.metadata.annotations "' + HEAD_BRANCH_ANNOTATION + '" | toJson}}'
    body = ('{"state": "' + _state(state, capped, provider) + f'", "{context}": "{NOTIFICATION_LABEL}", '
            '"target_url": "' + _URL + '", "description": "' + summary + '"' + ref + '}')
    return {"message": summary,
            "webhook": {service: {"method": "POST", "path": forge_status_path(provider, path, revision), "body": body}
                        for service, path in sorted(services.items())}}


def notifications(settings: StackSettings, github_enterprise_url: str | None,
                  forge_apps: dict[str, str] | None = None) -> dict[str, Any]:
    """Preview reports on the pull request. GitHub: a commit status and one comment, kept up to date. GitLab,
    Gitea, Forgejo: a commit status, for `forge_apps` (app -> project ID or owner/repo: those with a status
    token)."""
    import yaml

    def document(value: Any) -> str:
        return yaml.safe_dump(value, sort_keys=False, width=1000)

    provider = settings.git.provider
    if provider == "github":
        github: dict[str, Any] = {"appID": settings.git.github_app_id,
                                  "installationID": settings.git.github_app_installation_id,
                                  "privateKey": "$github-privateKey"}
        if (enterprise := github_enterprise_url) is not None:
            github["enterpriseBaseURL"] = enterprise
        notifiers = {"service.github": document(github)}
        templates = TEMPLATES
    else:
        apps = forge_apps or {}
        notifiers = {f"service.webhook.{status_service(app)}": document(
            forge_service(provider, settings.git.base_url, app)) for app in sorted(apps)}
        services = {status_service(app): path for app, path in apps.items()}
        templates = {name: forge_template(name, provider, services) for name in REPORTS}
    return {
        "enabled": True,
        "secret": {"create": False},  # argocd.notifications_secret() instead
        "notifiers": notifiers,
        "templates": {f"template.{name}": document(body) for name, body in templates.items()},
        "triggers": {f"trigger.{name}": document(body) for name, body in TRIGGERS.items()},
    }
