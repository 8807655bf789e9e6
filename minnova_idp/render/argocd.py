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
from minnova_idp.render.notifications import (  # noqa: F401 (re-exported: the notifications are part of Argo CD)
    HEAD_BRANCH_ANNOTATION,
    HEAD_REVISION,
    HEALTH_EPISODE,
    NOTIFICATION_LABEL,
    OPERATION_REVISION,
    PREVIEW_URL_ANNOTATION,
    READY_HOOK_RAN,
    SYNCED_REVISION,
    TEMPLATES,
    TRIGGERS,
    notifications,
    status_service,
)

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
# In PREVIEW_KEYS_DIR: where and with which read-only token render-preview reads approvals (render/approval.py).
PREVIEW_APPROVAL = "approval.json"
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
# Every kind render-preview may output (tests/render/test_argocd.py keeps this in step with the renderer).
PREVIEW_KINDS = (("", "Namespace"), ("", "ResourceQuota"), ("", "LimitRange"), ("", "Secret"), ("", "Service"),
                 ("", "ConfigMap"), ("batch", "Job"), ("batch", "CronJob"),
                 ("apps", "Deployment"), ("networking.k8s.io", "Ingress"), ("networking.k8s.io", "NetworkPolicy"),
                 ("policy", "PodDisruptionBudget"), ("postgresql.cnpg.io", "Cluster"),
                 ("barmancloud.cnpg.io", "ObjectStore"),  # the read-only origin of a copied database (origin.py)
                 ("psmdb.percona.com", "PerconaServerMongoDB"),  # a preview's MongoDB (mongodb.py)
                 # a preview's own MariaDB (mysql.py)
                 ("k8s.mariadb.com", "MariaDB"), ("k8s.mariadb.com", "Database"), ("k8s.mariadb.com", "User"),
                 ("k8s.mariadb.com", "Grant"))
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


MONGODB_OFFERED_ENV = "MINNOVA_MONGODB_OFFERED"


def sidecar_environment(settings: StackSettings) -> dict[str, str]:
    """What render-preview reads from its own container (cli.py: PLATFORM_SETTINGS)."""
    return {"MINNOVA_PREVIEW_KEYS_DIR": PREVIEW_KEYS_DIR, "MINNOVA_DEPLOYMENT": settings.deployment,
            "MINNOVA_PREVIEW_DOMAIN": settings.preview_domain or "", "MINNOVA_INGRESS_CLASS": settings.ingress_class,
            # The preview cap (policy/preview_cap.py), checked by render-preview against the live Applications.
            "MINNOVA_PREVIEW_MAX_PER_APP": str(settings.previews.max_per_app),
            "MINNOVA_PREVIEW_MAX_TOTAL": str(settings.previews.max_total),
            # Whether the stack offers MongoDB (policy/offered.py): a pull request cannot bring it to a stack that
            # does not (its operator and CRDs are not there, and the licence decision is the stack's).
            MONGODB_OFFERED_ENV: "true" if settings.mongodb.enabled else "false"}


def sidecar_volumes(origin_apps: tuple[str, ...] = (), storage_apps: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """`origin_apps`: apps whose previews copy an environment's database: each one's origin file (origin.py) joins the
    keys directory as `<app>.origin.json`, from a Secret its environment makes (optional: the sidecar starts before
    the environment has made it, and the file appears once it has). `storage_apps`: apps whose previews store
    objects: each one's `<app>.storage.json` (storage.py), the same way."""
    from minnova_idp.render.origin import ORIGIN_KEY, origin_file, origin_secret
    from minnova_idp.render.storage import PREVIEW_STORAGE_KEY, preview_storage_file, preview_storage_secret

    keys: dict[str, Any] = {"secret": {"secretName": PREVIEW_KEYS_SECRET}}
    if origin_apps or storage_apps:
        keys = {"projected": {"sources": [{"secret": {"name": PREVIEW_KEYS_SECRET}}, *(
            {"secret": {"name": origin_secret(app), "optional": True,
                        "items": [{"key": ORIGIN_KEY, "path": origin_file(app)}]}} for app in origin_apps), *(
            {"secret": {"name": preview_storage_secret(app), "optional": True,
                        "items": [{"key": PREVIEW_STORAGE_KEY, "path": preview_storage_file(app)}]}}
            for app in storage_apps)]}}
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


# The preview cap (policy/preview_cap.py): render-preview, in the repo server's pod, lists the preview Applications.
# Read-only, Argo CD's namespace only (the chart makes a Role from these rules: chart 10.1.1
# templates/argocd-repo-server/role.yaml; its values.yaml gives this rule, with `get`, as the example). `list` only:
# render-preview never reads one Application by name, and asks for metadata only (load/preview_applications.py).
# Applications hold no secret (repository credentials are Secrets).
REPO_SERVER_RBAC = [{"apiGroups": ["argoproj.io"], "resources": ["applications"], "verbs": ["list"]}]
# A refused preview must be rendered again soon after a slot frees: the repo server answers from its cache after 3
# failed renders of a revision, for 60 minutes by default (argo-cd v3.4.4 reposerver/repository/repository.go:
# 962-1030, defaults cmd/argocd-repo-server/commands/argocd_repo_server.go:44-45; env names common/common.go:281-283).
# An unapproved head fails to render too (policy/approval.py) until a maintainer approves it: with
# ARGOCD_PAUSE_GEN_AFTER_FAILED_ATTEMPTS 0 no failed render is cached at all (repository.go:907, 977), so an approval
# or a freed slot counts at the next refresh; PAUSE_GEN_MINUTES then has nothing to pause. Meanwhile the last approved
# objects stay: resources whose manifests failed are Unknown (controller/state.go:641, 945-947) and auto-sync runs
# only OutOfSync (controller/appcontroller.go:2204-2207).
REPO_SERVER_ENV = {"ARGOCD_PAUSE_GEN_MINUTES": "5", "ARGOCD_PAUSE_GEN_AFTER_FAILED_ATTEMPTS": "0"}


def chart_values(settings: StackSettings, github_notifications: bool, known_hosts: str | None = None,
                 origin_apps: tuple[str, ...] = (), forge_apps: dict[str, str] | None = None,
                 storage_apps: tuple[str, ...] = ()) -> dict:
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
        "repoServer": {"extraContainers": [sidecar(settings)], "volumes": sidecar_volumes(origin_apps, storage_apps),
                       "rbac": REPO_SERVER_RBAC, "env": [{"name": k, "value": v} for k, v in REPO_SERVER_ENV.items()]},
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
    if github_notifications or forge_apps:
        values["notifications"] = notifications(settings, github_enterprise_url(settings), forge_apps)
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


def notifications_secret(values: dict[str, str]) -> Manifest:
    """`values`: the keys the notification services name with `$key` (notifications.py): GitHub's
    `github-privateKey`, or each forge app's status token under its service's name."""
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "argocd-notifications-secret", "namespace": NAMESPACE,
                         "labels": {"app.kubernetes.io/part-of": "argocd", **_LABELS}},
            "type": "Opaque", "stringData": {key: Secret(value) for key, value in sorted(values.items())}}


def notification_secret_values(settings: StackSettings, apps: list[PreviewApp], secrets: StackSecrets) -> dict[str, str]:
    """What argocd-notifications-secret holds; empty: no notifications. GitHub: the App's key. GitLab, Gitea,
    Forgejo: the status token of each previewed app that has one (minnova:previewStatusTokens)."""
    if settings.git.provider == "github":
        return {"github-privateKey": secrets.github_app_private_key} if secrets.github_app_private_key else {}
    return {status_service(app.name): secrets.preview_status_tokens[app.name] for app in apps
            if app.name in secrets.preview_status_tokens}


def forge_status_apps(settings: StackSettings, apps: list[PreviewApp], secrets: StackSecrets) -> dict[str, str]:
    """App -> where its statuses go (GitLab's project ID, Gitea's owner/repo), for apps with a status token."""
    if settings.git.provider == "github":
        return {}
    return {app.name: str(app.project_id) if settings.git.provider == "gitlab" else "/".join(owner_and_repo(app.repo))
            for app in apps if app.name in secrets.preview_status_tokens}


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


def render_application_set(app: PreviewApp, settings: StackSettings, forge_status: bool = False) -> Manifest:
    """`forge_status`: on GitLab, Gitea or Forgejo, the app has a status token (notifications.forge_template)."""
    number = "{{.number}}"
    namespace = f"{app.name}-pr-{number}"
    # Shown in Argo CD and cross-checked by render-preview, never trusted: a pull request can rewrite plugin env
    # (.argocd-source.yaml). What render-preview acts on comes from the project, the Application's own name and
    # namespace, the checked-out revision and the sidecar's environment (cli.py, preview_request).
    env = {"APP_NAME": app.name, "PR_NUMBER": number, "HEAD_SHA": "{{.head_sha}}"}
    annotations = {PREVIEW_URL_ANNOTATION: f"https://{namespace}.{settings.preview_domain}"}
    service = "github" if settings.git.provider == "github" else status_service(app.name) if forge_status else None
    if service is not None:
        for trigger in ("minnova-preview-ready", "minnova-preview-failed"):
            # An empty value is one destination with no recipient (notifications-engine pkg/subscriptions/
            # annotations.go:77-78): the services need none.
            annotations[f"notifications.argoproj.io/subscribe.{trigger}.{service}"] = ""
        if settings.git.provider == "gitlab":  # the commit status's ref (notifications.forge_template)
            annotations[HEAD_BRANCH_ANNOTATION] = "{{.branch}}"
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


def preview_keys_secret(apps: list[PreviewApp], secrets: StackSecrets, approval: dict[str, Any] | None = None) -> Manifest:
    """Each app's preview identity, one file per app in the sidecar: only preview keys, never a dev or prod key.
    `approval`: the approval gate's settings (PREVIEW_APPROVAL, render/approval.py)."""
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
    if approval is not None:
        keys[PREVIEW_APPROVAL] = json.dumps(approval, sort_keys=True)
    keys.update({names.app_pull_credentials_file(app.name): secrets.app_registry_credentials[app.name] for app in apps
                 if app.name in secrets.app_registry_credentials})  # an app's own, scoped by its registry
    if secrets.registry_credentials:
        # Read-only pull credentials for previews' private images ('.' keeps it apart from any app's key file).
        keys[PREVIEW_PULL_CREDENTIALS] = secrets.registry_credentials
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": PREVIEW_KEYS_SECRET, "namespace": NAMESPACE, "labels": _LABELS},
            "type": "Opaque", "stringData": Secret(keys)}


# No ResourceQuota on Applications: the ApplicationSet controller returns on the first refused create before it
# deletes anything (argo-cd v3.4.4 applicationset/controllers/applicationset_controller.go:325-351, deletion at
# 355-357; createOrUpdateInCluster keeps the first error, 777-795), so one PR refused by such a quota would stop
# every closed PR of that app from being cleaned up (still so in v3.5.1). Every labelled PR gets its Application;
# render-preview decides which of them run (policy/preview_cap.py, with REPO_SERVER_RBAC and the sidecar's
# MINNOVA_PREVIEW_MAX_* environment).


def render_namespace() -> Manifest:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE, "labels": dict(_LABELS)}}


_OWNER_REPO = re.compile(r"^(?:https://[^/]+/|ssh://[^/]+/|[^@/]+@[^:]+:)(?P<path>.+?)(?:\.git)?/?$")


def owner_and_repo(url: str) -> tuple[str, str]:
    match = _OWNER_REPO.fullmatch(url)
    parts = match["path"].split("/") if match else []
    if len(parts) < 2:
        raise ValueError(f"'{url}' does not name an owner and a repository")
    return "/".join(parts[:-1]), parts[-1]
