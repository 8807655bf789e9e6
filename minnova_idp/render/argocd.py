"""Argo CD for pull-request previews, written once as pure functions (no Pulumi import).

Argo CD renders each preview with `minnova-idp render-preview`, a Config Management Plugin
(CMP v2 sidecar on the repo server), so previews come from the same renderer as dev and
prod. Chart keys and Argo CD formats checked against argo-cd 3.4 / argo-helm argo-cd 10.2.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from minnova_idp.model import names, versions
from minnova_idp.render.redis import preview_password_key
from minnova_idp.render.resources import Secret

if TYPE_CHECKING:  # annotations only: render-preview reads this module's constants without loading the stack models
    from minnova_idp.model.stack import StackSecrets
    from minnova_idp.model.stack_settings import StackSettings

Manifest = dict[str, Any]

NAMESPACE = versions.ARGO_CD.namespace
PLUGIN_NAME = "minnova-preview"
PREVIEW_KEYS_SECRET = "minnova-preview-keys"
PREVIEW_KEYS_DIR = "/var/run/minnova/preview-keys"
PREVIEW_PULL_CREDENTIALS = "registry-credentials.json"  # in PREVIEW_KEYS_DIR, when the stack has any
PREVIEW_PASSWORD_KEY = "preview-passwords.key"  # in PREVIEW_KEYS_DIR, when the stack has minnova:passwordKey
PREVIEW_APP_IMAGES = "app-images.json"  # in PREVIEW_KEYS_DIR, when an app's images are confined: {app: [repo, ...]}
PREVIEW_APP_PATHS = "app-paths.json"  # in PREVIEW_KEYS_DIR, when a previewed app lives in a monorepo: {app: path}
# The preview Application's source.path: the checkout's own .git directory, where no pull request can put a file.
# The repo server merges `<source.path>/.argocd-source.yaml` and `.argocd-source-<app>.yaml` from the checkout over
# the Application's source before it picks the tool (argo-cd v3.4.4 reposerver/repository/repository.go:1808-1878),
# so a PR's `{plugin: null, directory: {}}` there would apply its raw YAML without render-preview
# (pkg/apis/application/v1alpha1/types.go:3577-3603 ExplicitType), and no setting turns the merge off. git refuses
# to check out any path with a `.git` component ("error: invalid path '.git/…'", tests/test_preview_plugin.py
# proves it with the local git), so `.git/.argocd-source*.yaml` cannot exist. The path must exist and be a directory
# (util/app/path/path.go:15-33): the repo server's clone has one. render-preview then reads the checkout's root (or the
# app's monorepo path, from PREVIEW_APP_PATHS: never from the PR) one level up.
PREVIEW_SOURCE_PATH = ".git"
IN_CLUSTER = "https://kubernetes.default.svc"
GITHUB_APP_SECRET_PREFIX = "minnova-github-app"
FORGE_TOKEN_SECRET = "minnova-forge-token"
NOTIFICATION_LABEL = "minnova/preview"
PREVIEW_URL_ANNOTATION = "minnova.io/preview-url"
# Every kind render-preview may output (tests/render/test_argocd.py keeps this in step with the renderer).
PREVIEW_KINDS = (("", "Namespace"), ("", "ResourceQuota"), ("", "LimitRange"), ("", "Secret"), ("", "Service"),
                 ("", "ConfigMap"), ("batch", "Job"), ("batch", "CronJob"),
                 ("apps", "Deployment"), ("networking.k8s.io", "Ingress"), ("networking.k8s.io", "NetworkPolicy"),
                 ("policy", "PodDisruptionBudget"), ("postgresql.cnpg.io", "Cluster"),
                 ("barmancloud.cnpg.io", "ObjectStore"))  # the read-only origin of a copied database (origin.py)
_LABELS = names.managed_labels()


@dataclass(frozen=True)
class PreviewApp:
    """What Argo CD needs of a registered app."""

    name: str
    repo: str
    path: str | None = None
    project_id: int | None = None  # GitLab
    copies_database: bool = False  # its previews recover another environment's backups (origin.py)
    images: tuple[str, ...] | None = None  # the image repositories it may run (policy/images.py); None: any


# ---- the plugin ------------------------------------------------------------------------------

def plugin_spec() -> dict[str, Any]:
    """The ConfigManagementPlugin's spec. No `discover`: Applications name the plugin explicitly."""
    return {"generate": {"command": ["minnova-idp", "render-preview"]}}


def plugin_manifest() -> Manifest:
    """plugin.yaml as a sidecar reads it (deploy/argocd/plugin.yaml is this, for other installs)."""
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "ConfigManagementPlugin",
            "metadata": {"name": PLUGIN_NAME}, "spec": plugin_spec()}


def sidecar(settings: StackSettings) -> dict[str, Any]:
    """The CMP v2 sidecar, as the Argo CD docs give it, plus the preview keys (read-only).

    The deployment's settings reach render-preview as the container's own environment: an
    Application's plugin env can be rewritten by the pull request (`.argocd-source.yaml`), this cannot
    (argo-cd v3.4.4 cmpserver/plugin/plugin.go:252 appends plugin env, all prefixed ARGOCD_ENV_).
    """
    return {
        "name": PLUGIN_NAME,
        "image": settings.previews.renderer_image,
        "command": ["/var/run/argocd/argocd-cmp-server"],
        "env": [{"name": name, "value": value} for name, value in sidecar_environment(settings).items()],
        "securityContext": {"runAsNonRoot": True, "runAsUser": 999, "allowPrivilegeEscalation": False,
                            "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]},
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
        "volumeMounts": [
            {"mountPath": "/var/run/argocd", "name": "var-files"},
            {"mountPath": "/home/argocd/cmp-server/plugins", "name": "plugins"},
            {"mountPath": "/home/argocd/cmp-server/config/plugin.yaml", "subPath": f"{PLUGIN_NAME}.yaml",
             "name": "argocd-cmp-cm"},
            # Its own /tmp: never share the repo server's (Argo CD docs, since 2.4).
            {"mountPath": "/tmp", "name": "minnova-cmp-tmp"},
            {"mountPath": PREVIEW_KEYS_DIR, "name": PREVIEW_KEYS_SECRET, "readOnly": True},
        ],
    }


def sidecar_environment(settings: StackSettings) -> dict[str, str]:
    """What render-preview reads from its own container (cli.py: PLATFORM_SETTINGS)."""
    return {"MINNOVA_PREVIEW_KEYS_DIR": PREVIEW_KEYS_DIR, "MINNOVA_DEPLOYMENT": settings.deployment,
            "MINNOVA_PREVIEW_DOMAIN": settings.preview_domain or "", "MINNOVA_INGRESS_CLASS": settings.ingress_class}


def sidecar_volumes(origin_apps: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """`origin_apps`: apps whose previews copy an environment's database: each one's origin file (origin.py) joins the
    keys directory as `<app>.origin.json`, from a Secret its environment makes (optional: the sidecar starts before
    the environment has made it, and the file appears once it has)."""
    from minnova_idp.render.origin import ORIGIN_KEY, origin_file, origin_secret

    keys: dict[str, Any] = {"secret": {"secretName": PREVIEW_KEYS_SECRET}}
    if origin_apps:
        keys = {"projected": {"sources": [{"secret": {"name": PREVIEW_KEYS_SECRET}}, *(
            {"secret": {"name": origin_secret(app), "optional": True,
                        "items": [{"key": ORIGIN_KEY, "path": origin_file(app)}]}} for app in origin_apps)]}}
    # `var-files` and `plugins` are the chart's own volumes.
    return [{"name": "argocd-cmp-cm", "configMap": {"name": "argocd-cmp-cm"}},
            {"name": "minnova-cmp-tmp", "emptyDir": {}},
            {"name": PREVIEW_KEYS_SECRET, **keys}]


# ---- the chart's values ----------------------------------------------------------------------

# What a pull request's checkout may make the repo server fetch or hand on (docs/security.md "Security model"):
# - Submodules are on by default (argo-cd v3.4.4 cmd/argocd-repo-server/commands/argocd_repo_server.go:47,
#   common/common.go:272-273) and `git submodule update --init --recursive` runs with the repository's own
#   credentials (util/git/client.go:574-620, runCredentialedCmd 1257-1278), whose askpass helper answers any host
#   (cmd/argocd-git-ask-pass/commands/argocd_git_ask_pass.go:42-45): a PR's .gitmodules pointing elsewhere would
#   receive the git token. Off, in the repo server and in the ApplicationSet controller's git generator (chart
#   10.1.1 templates/argocd-repo-server/deployment.yaml:285-289, argocd-applicationset/deployment.yaml:151-154).
# - The repo server tars the whole checkout, .git included, for the plugin sidecar (util/io/files/tar.go:219-232):
#   render-preview reads only .minnova/, so what is inside .git stays behind (`.git/*` matches every entry in it,
#   and a matching directory is skipped whole: tar.go:219-232; ";"-separated,
#   cmd/argocd-repo-server/commands/argocd_repo_server.go:256). `.git` itself still travels, empty: it is the
#   preview's source.path (PREVIEW_SOURCE_PATH), the directory the sidecar runs the plugin in (cmpserver/plugin/
#   plugin.go:82,224; directories are tar entries, tar.go:283-289, made on the other side, tar.go:127-135).
# Git LFS is off unless the repository enables it (pkg/apis/application/v1alpha1/repository_types.go:79-80) and
# the repo server sets GIT_LFS_SKIP_SMUDGE=1 (util/git/client.go:1288); we never enable it.
REPO_SERVER_PARAMS = {"reposerver.enable.git.submodule": "false",
                      "applicationsetcontroller.enable.git.submodule": "false",
                      "reposerver.plugin.tar.exclusions": ".git/*"}


# Waves that always converge. A sync applies wave N+1 only once wave N is healthy (argo-cd v3.4.4
# gitops-engine/pkg/sync/sync_context.go:523-565), and Argo CD calls an Ingress Progressing until its controller
# publishes status.loadBalancer.ingress (gitops-engine/pkg/health/health_ingress.go:7-16), which some ingress
# controllers never do (Traefik without publishedService, ingress-nginx without --publish-service, kube-vip/
# hostPort setups). The preview Ingress is in wave 0, before the database, seed, release and processes: there, it
# would stop every later wave and the sync would stay Running, reporting neither ready nor failed. Moving it to
# the last wave would not help (the operation still waits for its health). So this Argo CD reads an Ingress as
# healthy once applied: a health override is consulted before the built-in check
# (gitops-engine/pkg/health/health.go:78-82), keyed `resource.customizations.health.<group>_<kind>` in argocd-cm.
# Whether traffic reaches the app is what the preview's readiness probes and the ready report's link show.
INGRESS_HEALTH_KEY = "resource.customizations.health.networking.k8s.io_Ingress"
INGRESS_HEALTH_LUA = ('hs = {}\nhs.status = "Healthy"\n'
                      'hs.message = "applied (minnova-idp does not wait for status.loadBalancer)"\nreturn hs\n')


def chart_values(settings: StackSettings, github_notifications: bool, known_hosts: str | None = None,
                 origin_apps: tuple[str, ...] = ()) -> dict:
    """Values of the argo-cd chart: no secret in them (one would make Pulumi hide all of them).

    `argocd-secret` and `argocd-notifications-secret` are made by the Platform instead (argocd_secret,
    notifications_secret below), as Pulumi secrets of their own. `known_hosts`: minnova:gitKnownHosts,
    added to the chart's known hosts (values `configs.ssh.extraHosts`, mounted into the repo server):
    Argo CD checks SSH host keys strictly (argo-cd v3.4.4 util/git/creds.go).
    """
    previews = settings.previews
    values: dict[str, Any] = {
        "configs": {
            "cm": {INGRESS_HEALTH_KEY: INGRESS_HEALTH_LUA},
            "cmp": {"create": True, "plugins": {PLUGIN_NAME: plugin_spec()}},
            "params": {"applicationsetcontroller.allowed.scm.providers": api_url(settings), **REPO_SERVER_PARAMS},
            "secret": {"createSecret": False},
        },
        "repoServer": {"extraContainers": [sidecar(settings)], "volumes": sidecar_volumes(origin_apps)},
    }
    if known_hosts:
        values["configs"]["ssh"] = {"extraHosts": known_hosts.strip() + "\n"}
    if previews.webhook_host:
        values["applicationSet"] = {"ingress": {
            "enabled": True,
            "ingressClassName": settings.ingress_class,
            "hostname": previews.webhook_host,
            "path": "/api/webhook",
            "pathType": "Prefix",
            "annotations": {"cert-manager.io/cluster-issuer": settings.cluster_issuer},
            "extraTls": [{"hosts": [previews.webhook_host], "secretName": "argocd-applicationset-webhook-tls"}],
        }}
    if github_notifications:
        values["notifications"] = notifications(settings)
    return values


def argocd_secret(settings: StackSettings, webhook_secret: str | None) -> Manifest:
    """Argo CD's own Secret (the chart's is turned off). The API server adds server.secretkey itself."""
    data = {}
    if webhook_secret and settings.git.provider in ("github", "gitlab"):
        # The ApplicationSet controller's /api/webhook checks the same shared secret.
        data[f"webhook.{settings.git.provider}.secret"] = Secret(webhook_secret)
        # The ApplicationSet controller reads this Secret once, at start, and runs no webhook server at all
        # while `server.secretkey` is missing (argo-cd v3.4.4 util/settings/settings.go:1339-1361,1594-1599;
        # cmd/argocd-applicationset-controller/commands/applicationset_controller.go:226-232), which the API
        # server only adds later. So it is set here, derived from the webhook secret (HMAC, domain-separated):
        # stable across runs, and never the webhook secret itself.
        data["server.secretkey"] = Secret(hmac.new(webhook_secret.encode(), b"minnova-idp argocd server.secretkey",
                                                   hashlib.sha256).hexdigest())
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "argocd-secret", "namespace": NAMESPACE,
                         "labels": {"app.kubernetes.io/name": "argocd-secret", "app.kubernetes.io/part-of": "argocd",
                                    **_LABELS}},
            "type": "Opaque", "stringData": data}


def notifications_secret(github_private_key: str) -> Manifest:
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "argocd-notifications-secret", "namespace": NAMESPACE,
                         "labels": {"app.kubernetes.io/part-of": "argocd", **_LABELS}},
            "type": "Opaque", "stringData": {"github-privateKey": Secret(github_private_key)}}


def api_url(settings: StackSettings) -> str:
    """The API the pull-request generator may call (Argo CD compares it as a string)."""
    base = settings.git.base_url
    if settings.git.provider == "github":
        return "https://api.github.com/" if base == "https://github.com/" else f"{base}api/v3/"
    return base  # GitLab, Gitea and Forgejo take the server's base URL


def github_enterprise_url(settings: StackSettings) -> str | None:
    """GitHub Enterprise Server's API (`https://HOST/api/v3`), or None on github.com.

    Both the repo-creds' `githubAppEnterpriseBaseUrl` (argo-cd v3.4.4 util/db/repository_secrets.go) and the
    notifications' `enterpriseBaseURL` (notifications-engine pkg/services/github.go:449-457) take it; without it
    they ask api.github.com for the App's tokens.
    """
    if settings.git.provider != "github" or settings.git.base_url == "https://github.com/":
        return None
    return f"{settings.git.base_url}api/v3"


# Notification templates and triggers are YAML documents inside ConfigMap values: notifications-engine parses every
# one when it loads its config and, on one error, loads none (pkg/api/config.go:75-143), so they are built as data
# and dumped here, never written as YAML text by hand. `when`/`oncePer` are expr-lang expressions (v1.16.9, as
# notifications-engine 1dbe3de pins it); a failing `when` only skips its condition, and `oncePer`'s value is
# printed with %v, so nil would be "<nil>": once ever (pkg/triggers/service.go:88-101).
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
TRIGGERS = {
    "minnova-preview-ready": [{
        "when": "app.status.operationState?.phase == 'Succeeded' and app.status.health?.status == 'Healthy' "
                f"and {SYNCED_REVISION} == {HEAD_REVISION}",
        "send": ["minnova-preview-ready"], "oncePer": SYNCED_REVISION}],
    "minnova-preview-failed": [
        # render-preview failed (invalid app.yaml, missing key): Argo CD records a ComparisonError, sync status
        # Unknown, and never syncs (argo-cd v3.4.4 controller/state.go:624-642, appcontroller.go:2203-2207).
        {"when": f"app.status.sync?.status == 'Unknown' and any({_CONDITIONS}, {{.type == 'ComparisonError'}})",
         "send": ["minnova-preview-render-failed"], "oncePer": HEAD_REVISION},
        {"when": "app.status.operationState?.phase in ['Error', 'Failed']",
         "send": ["minnova-preview-sync-failed"], "oncePer": OPERATION_REVISION},
        # Applied, then unhealthy (a crash-looping Deployment, a failed Job): the operation's own message says
        # "successfully synced", so this report lists the unhealthy resources instead.
        {"when": "app.status.health?.status == 'Degraded' and app.status.operationState?.phase == 'Succeeded'",
         "send": ["minnova-preview-degraded"], "oncePer": SYNCED_REVISION},
    ],
}
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


TEMPLATES = {
    "minnova-preview-ready": notification_template(
        "success", f"Preview of {_short(_SYNCED)} is ready: {_URL}", "", _SYNCED),
    "minnova-preview-render-failed": notification_template(
        "failure", f"Preview of {_short(_HEAD)} failed: .minnova/ could not be rendered",
        _pre(_RENDER_ERRORS), _HEAD),
    "minnova-preview-sync-failed": notification_template(
        "failure", f"Preview of {_short(_SYNCED)} failed: Argo CD could not apply it", _pre(_SYNC_ERRORS), _SYNCED),
    "minnova-preview-degraded": notification_template(
        "failure", f"Preview of {_short(_SYNCED)} failed: applied, but not healthy", _pre(_UNHEALTHY), _SYNCED),
}


def notifications(settings: StackSettings) -> dict[str, Any]:
    """Preview URL and status on the pull request: a commit status and one comment, kept up to date."""
    import yaml

    def document(value: Any) -> str:
        return yaml.safe_dump(value, sort_keys=False, width=1000)

    github: dict[str, Any] = {"appID": settings.git.github_app_id,
                              "installationID": settings.git.github_app_installation_id,
                              "privateKey": "$github-privateKey"}
    if (enterprise := github_enterprise_url(settings)) is not None:
        github["enterpriseBaseURL"] = enterprise
    return {
        "enabled": True,
        "secret": {"create": False},  # notifications_secret() instead
        "notifiers": {"service.github": document(github)},
        "templates": {f"template.{name}": document(body) for name, body in TEMPLATES.items()},
        "triggers": {f"trigger.{name}": document(body) for name, body in TRIGGERS.items()},
    }


# ---- per app: project and ApplicationSet -------------------------------------------------------

def project_name(app: str) -> str:
    return f"{app}-previews"


def preview_namespace_globs(app: str) -> list[str]:
    """`<app>-pr-<1 to 7 digits>`, one pattern per length: neither gobwas/glob (destinations) nor Go's
    filepath.Match (resource names) has "one or more digits", and `<app>-pr-[0-9]*` would also match
    `<app>-pr-1x-prod` (argo-cd v3.4.4 pkg/apis/application/v1alpha1/app_project_types.go:507-527 and
    types.go:3634-3654; both matchers checked with gobwas v0.2.3 and Go's path/filepath)."""
    prefix = names.preview_namespace(app, 0)[:-1]
    return [prefix + "[0-9]" * digits for digits in range(1, names.MAX_PR_NUMBER_DIGITS + 1)]


def namespace_pattern(app: str) -> str:
    """Every preview namespace of `app` as one gobwas glob (`{a,b}` alternatives), for destinations."""
    return "{" + ",".join(preview_namespace_globs(app)) + "}"


def render_app_project(app: PreviewApp) -> Manifest:
    """One project per app: its repository only, its preview namespaces only, a short list of kinds."""
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AppProject",
        "metadata": {"name": project_name(app.name), "namespace": NAMESPACE, "labels": _LABELS},
        "spec": {
            "description": f"Pull-request previews of {app.name} (minnova-idp)",
            "sourceRepos": [app.repo],
            "destinations": [{"server": IN_CLUSTER, "namespace": namespace_pattern(app.name)}],
            # Namespaces by name: without one, the project could create or take over any namespace.
            "clusterResourceWhitelist": [{"group": group, "kind": kind, "name": pattern}
                                         for group, kind in PREVIEW_KINDS if kind == "Namespace"
                                         for pattern in preview_namespace_globs(app.name)],
            "namespaceResourceWhitelist": [{"group": group, "kind": kind} for group, kind in PREVIEW_KINDS
                                           if kind != "Namespace" and (kind != "ObjectStore" or app.copies_database)],
        },
    }


def render_application_set(app: PreviewApp, settings: StackSettings) -> Manifest:
    number = "{{.number}}"
    namespace = f"{app.name}-pr-{number}"
    # Shown in Argo CD and cross-checked by render-preview, never trusted: a pull request can rewrite plugin env
    # (.argocd-source.yaml). What render-preview acts on comes from the project, the Application's own name and
    # namespace, the checked-out revision and the sidecar's environment (cli.py, preview_request).
    env = {"APP_NAME": app.name, "PR_NUMBER": number, "HEAD_SHA": "{{.head_sha}}"}
    annotations = {PREVIEW_URL_ANNOTATION: f"https://{namespace}.{settings.preview_domain}"}
    if settings.git.provider == "github":
        for trigger in ("minnova-preview-ready", "minnova-preview-failed"):
            annotations[f"notifications.argoproj.io/subscribe.{trigger}.github"] = ""
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "ApplicationSet",
        "metadata": {"name": f"{app.name}-previews", "namespace": NAMESPACE, "labels": _LABELS},
        "spec": {
            "goTemplate": True,
            "goTemplateOptions": ["missingkey=error"],
            "generators": [{"pullRequest": {**pull_request_source(app, settings),
                                            "requeueAfterSeconds": requeue_seconds(settings)}}],
            "template": {
                "metadata": {
                    "name": namespace,
                    "labels": {**_LABELS, "minnova.io/app": app.name, "minnova.io/preview": "true"},
                    "annotations": annotations,
                    # Closing the PR deletes the Application, and this finalizer deletes what it made.
                    "finalizers": ["resources-finalizer.argocd.argoproj.io"],
                },
                "spec": {
                    "project": project_name(app.name),
                    "source": {
                        "repoURL": app.repo,
                        "targetRevision": "{{.head_sha}}",
                        "path": PREVIEW_SOURCE_PATH,  # never app.path: see PREVIEW_SOURCE_PATH
                        "plugin": {"name": PLUGIN_NAME,
                                   "env": [{"name": key, "value": value} for key, value in env.items()]},
                    },
                    "destination": {"server": IN_CLUSTER, "namespace": namespace},
                    "syncPolicy": {
                        # allowEmpty stays false: an empty render never prunes a preview away.
                        "automated": {"prune": True, "selfHeal": True},
                        "syncOptions": ["ServerSideApply=true"],
                    },
                },
            },
        },
    }


def requeue_seconds(settings: StackSettings) -> int:
    previews = settings.previews
    if settings.git.provider in ("gitea", "forgejo"):  # no webhook refresh for their PR events upstream
        return previews.forge_requeue_after_seconds
    return previews.requeue_after_seconds


def pull_request_source(app: PreviewApp, settings: StackSettings) -> dict[str, Any]:
    provider, labels = settings.git.provider, [settings.previews.label]
    if provider == "github":
        owner, repo = owner_and_repo(app.repo)
        source: dict[str, Any] = {"owner": owner, "repo": repo, "appSecretName": github_app_secret(owner),
                                  "labels": labels}
        if settings.git.base_url != "https://github.com/":
            source["api"] = api_url(settings)
        return {"github": source}
    if provider == "gitlab":
        return {"gitlab": {"api": api_url(settings), "project": str(app.project_id),
                           "tokenRef": {"secretName": scm_token_secret(app.name), "key": "token"},
                           "labels": labels, "pullRequestState": "opened"}}
    owner, repo = owner_and_repo(app.repo)
    return {"gitea": {"api": api_url(settings), "owner": owner, "repo": repo,
                      "tokenRef": {"secretName": FORGE_TOKEN_SECRET, "key": "token"}, "labels": labels}}


# ---- credentials -----------------------------------------------------------------------------

def github_app_secret(owner: str) -> str:
    return f"{GITHUB_APP_SECRET_PREFIX}-{owner.lower()}"


def repository_secret(app: str) -> str:
    return f"minnova-repo-{app}"


def scm_token_secret(app: str) -> str:
    return f"minnova-scm-{app}"


def credential_secrets(settings: StackSettings, apps: list[PreviewApp], secrets: StackSecrets) -> list[Manifest]:
    """Argo CD credential Secrets of this deployment; every credential in them is a Secret value."""
    provider = settings.git.provider

    def argocd_secret(name: str, secret_type: str, data: dict[str, Any]) -> Manifest:
        return {"apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": name, "namespace": NAMESPACE,
                             "labels": {**_LABELS, "argocd.argoproj.io/secret-type": secret_type}},
                "type": "Opaque", "stringData": data}

    if provider == "github":
        owners = sorted({owner_and_repo(app.repo)[0] for app in apps})
        enterprise = github_enterprise_url(settings)
        return [argocd_secret(github_app_secret(owner), "repo-creds", {
            # The trailing '/': repo-creds match by URL prefix (argo-cd v3.4.4 util/db/repository_secrets.go:591-607),
            # and without it https://github.com/acme would also lend its App to https://github.com/acme-other/....
            "type": "git", "url": f"{settings.git.base_url}{owner}/",
            "githubAppID": settings.git.github_app_id,
            "githubAppInstallationID": settings.git.github_app_installation_id,
            **({"githubAppEnterpriseBaseUrl": enterprise} if enterprise else {}),
            "githubAppPrivateKey": Secret(secrets.github_app_private_key)}) for owner in owners]
    if provider == "gitlab":
        # A password makes Argo CD use HTTPS credentials whatever the URL's scheme (argo-cd v3.4.4
        # pkg/apis/application/v1alpha1/repository_types.go:232-252): GitLab previews are https only
        # (inputs.py refuses ssh URLs). The generator's token is its own scm-creds Secret, as the
        # ApplicationSet controller's tokenref strict mode requires (applicationset/utils/kubernetes.go:35-37).
        return [secret for app in apps for secret in (
            argocd_secret(repository_secret(app.name), "repository", {
                "type": "git", "url": app.repo, "username": "minnova-idp",
                "password": Secret(secrets.gitlab_project_tokens.get(app.name))}),
            argocd_secret(scm_token_secret(app.name), "scm-creds", {
                "token": Secret(secrets.gitlab_project_tokens.get(app.name))}))]
    return [argocd_secret(repository_secret(app.name), "repository", {
        "type": "git", "url": app.repo, "sshPrivateKey": Secret(secrets.git_deploy_keys.get(app.name))})
        for app in apps] + [argocd_secret(FORGE_TOKEN_SECRET, "scm-creds", {"token": Secret(secrets.git_token)})]


def preview_keys_secret(apps: list[PreviewApp], secrets: StackSecrets) -> Manifest:
    """Each app's preview identity, one file per app in the sidecar: only preview keys, never a dev or prod key."""
    keys = {app.name: secrets.secrets_keys[app.name][names.PREVIEW_ENVIRONMENT] for app in apps
            if names.PREVIEW_ENVIRONMENT in secrets.secrets_keys.get(app.name, {})}
    if secrets.password_key:
        # Previews' Redis passwords derive from this (redis.py): a key for previews only, not the stack's own.
        keys[PREVIEW_PASSWORD_KEY] = preview_password_key(secrets.password_key)
    if paths := {app.name: app.path for app in apps if app.path}:
        # Where each monorepo app's .minnova/ is, since the Application's path is .git (PREVIEW_SOURCE_PATH).
        keys[PREVIEW_APP_PATHS] = json.dumps(paths, sort_keys=True)
    if images := {app.name: list(app.images) for app in apps if app.images}:
        # The image repositories each app's previews may run (policy/images.py): the platform's list, never the PR's.
        keys[PREVIEW_APP_IMAGES] = json.dumps(images, sort_keys=True)
    if secrets.registry_credentials:
        # Read-only pull credentials for previews' private images ('.' keeps it apart from any app's key file).
        keys[PREVIEW_PULL_CREDENTIALS] = secrets.registry_credentials
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": PREVIEW_KEYS_SECRET, "namespace": NAMESPACE, "labels": _LABELS},
            "type": "Opaque", "stringData": Secret(keys)}


# No ResourceQuota on Applications: the ApplicationSet controller returns on the first refused create before it
# deletes anything (argo-cd v3.4.4 applicationset/controllers/applicationset_controller.go:325-351, deletion at
# 355-357; createOrUpdateInCluster keeps the first error, 777-795), so one PR refused by such a quota would stop
# every closed PR of that app from being cleaned up (still so in v3.5.1). The cap is decided in what the generator
# is offered instead: only labelled PRs (pull_request_source), the label capped per app by the app-repo workflow
# (minnova-preview-auto.yml), and the stack refuses a maxPerApp that could exceed maxTotal (policy/previews.py).


def render_namespace() -> Manifest:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE, "labels": dict(_LABELS)}}


_OWNER_REPO = re.compile(r"^(?:https://[^/]+/|ssh://[^/]+/|[^@/]+@[^:]+:)(?P<path>.+?)(?:\.git)?/?$")


def owner_and_repo(url: str) -> tuple[str, str]:
    match = _OWNER_REPO.match(url)
    parts = match["path"].split("/") if match else []
    if len(parts) < 2:
        raise ValueError(f"'{url}' does not name an owner and a repository")
    return "/".join(parts[:-1]), parts[-1]
