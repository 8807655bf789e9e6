"""Stack settings: the Pulumi config of one stack (namespace `minnova`), as the platform team writes it."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from minnova_idp.model import names
from minnova_idp.model.fields import (
    DEFAULT_DRILL_SCHEDULE,
    AppName,
    CronSchedule,
    EnvironmentName,
    Hostname,
    HostPattern,
    ImageRepository,
    ImageTag,
    Quantity,
    RepoSubpath,
    StrictModel,
    validate_environment_name,
    validate_hostname,
    validate_image_repository,
    validate_image_tag,
)


def _dns_label_63(value: str) -> str:
    if len(value) > names.DNS_LABEL_MAX or not names.DNS_LABEL_RE.fullmatch(value):
        raise ValueError(f"'{value}' is not a namespace name (a DNS label: lowercase letters, digits, '-')")
    return value


def _ingress_address(value: str) -> str:
    try:
        ipaddress.ip_address(value)
        return value
    except ValueError:
        pass
    try:
        return validate_hostname(value)
    except ValueError:
        raise ValueError(f"'{value}' must be an IPv4/IPv6 address or a host name") from None


def _dns_label(value: str) -> str:
    if len(value) > names.DEPLOYMENT_NAME_MAX or not names.APP_NAME_RE.fullmatch(value):
        raise ValueError(f"'{value}' must be a DNS label of at most {names.DEPLOYMENT_NAME_MAX} characters "
                         "(lowercase letters, digits, '-')")
    return value


_OBJECT_NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")


def _object_name(value: str) -> str:
    if not _OBJECT_NAME_RE.fullmatch(value):
        raise ValueError(f"'{value}' is not a valid Kubernetes object name (lowercase letters, digits, '-', '.')")
    return value


_AGE_RECIPIENT_RE = re.compile(r"^age1[02-9ac-hj-np-z]{58}$")  # bech32 X25519 recipient


def _age_recipient(value: str) -> str:
    """A public age recipient. Never echoes what it got: a secret key pasted here must not reach a CI log."""
    if value.strip().upper().startswith("AGE-SECRET-KEY-"):
        raise ValueError("is an age secret key (AGE-SECRET-KEY-..., not shown), not a recipient: it is now in plain "
                         "text in the stack file and its history; create a new key (minnova-idp secrets new-key) and "
                         "store its secret half with `pulumi config set --secret minnova:secretsKeys...`")
    if value.startswith("age1pq1"):
        raise ValueError("post-quantum age recipients (age1pq1...) are not supported yet; use an X25519 key "
                         "(minnova-idp secrets new-key)")
    if not _AGE_RECIPIENT_RE.fullmatch(value):
        raise ValueError("is not an age recipient (age1 followed by 58 characters; the value is not shown)")
    return value


def _secrets_environment(value: str) -> str:
    if value == names.PREVIEW_ENVIRONMENT:  # the key of an app's pull-request previews
        return value
    return validate_environment_name(value)


AgeRecipient = Annotated[str, AfterValidator(_age_recipient)]
SecretsEnvironment = Annotated[str, AfterValidator(_secrets_environment)]


def _email(value: str) -> str:
    if not re.fullmatch(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", value):
        raise ValueError(f"'{value}' is not an email address")
    return value


_HEX32 = re.compile(r"^[0-9a-f]{32}$")


def _cloudflare_id(value: str) -> str:
    if not _HEX32.fullmatch(value):
        raise ValueError(f"'{value}' is not a Cloudflare ID (32 lowercase hex characters)")
    return value


def _digits(value: str) -> str:
    if not value.isdigit():
        raise ValueError(f"'{value}' must be a number (as a string)")
    return value


def _image_reference(value: str) -> str:
    repository, separator, tag = value.rpartition("@") if "@" in value else value.rpartition(":")
    if not separator or "/" in tag or tag in ("", "latest"):
        raise ValueError(f"'{value}' must pin a version: <repository>:<tag> (not latest) or <repository>@sha256:...")
    validate_image_repository(repository)
    validate_image_tag(tag)
    return value


def _https_base_url(value: str) -> str:
    from minnova_idp.model.gitrules import redact_url

    if not value.startswith("https://"):
        raise ValueError(f"'{redact_url(value)}' must start with https://")
    if redact_url(value) != value.split("#", 1)[0].split("?", 1)[0] or "?" in value or "#" in value:
        raise ValueError(f"'{redact_url(value)}' embeds credentials (not shown); set minnova:gitToken as a Pulumi "
                         "secret instead, and revoke the one written here")
    return value if value.endswith("/") else value + "/"


class GitSettings(StrictModel):
    provider: Literal["github", "gitlab", "gitea", "forgejo"]
    github_app_id: Annotated[str, AfterValidator(_digits)] | None = Field(
        default=None, description="GitHub App ID (Argo CD checkouts and the pull-request generator).")
    github_app_installation_id: Annotated[str, AfterValidator(_digits)] | None = Field(
        default=None, description="The App's installation ID in the organisation.")
    url: Annotated[str, AfterValidator(_https_base_url)] | None = Field(
        default=None, description="Base URL of the git server; default https://github.com/ or https://gitlab.com/.")
    token_username: str | None = Field(
        default=None, description="User name sent with minnova:gitToken over https (default per provider).")

    @model_validator(mode="after")
    def _self_hosted_needs_url(self) -> "GitSettings":
        if self.provider in ("gitea", "forgejo") and self.url is None:
            raise ValueError(f"provider {self.provider} is self-hosted: set `url` (e.g. https://git.example.com/)")
        return self

    @property
    def base_url(self) -> str:
        return self.url or {"github": "https://github.com/", "gitlab": "https://gitlab.com/"}[self.provider]

    @property
    def username(self) -> str:
        default = {"github": "x-access-token", "gitlab": "oauth2"}.get(self.provider, "git")
        return self.token_username or default


# A GitHub login or app bot (`name[bot]`), a GitLab username, a Gitea/Forgejo user name.
APPROVER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[bot\])?$"


class PreviewSettings(StrictModel):
    """Pull-request previews through Argo CD (docs/previews.md: "Previews")."""

    renderer_image: Annotated[str, AfterValidator(_image_reference)] = Field(
        description="The minnova-idp image Argo CD's plugin sidecar runs (Dockerfile in this repo), pinned.")
    label: Annotated[str, Field(min_length=1, max_length=50)] = Field(
        default="preview", description="Only pull requests with this label get a preview.")
    requeue_after_seconds: int = Field(
        default=180, ge=30, le=3600, description="Polling fallback for GitHub/GitLab (webhooks refresh at once).")
    forge_requeue_after_seconds: int = Field(
        default=60, ge=15, le=3600, description="Polling for Gitea/Forgejo, whose PR events get no webhook refresh.")
    webhook_host: Hostname | None = Field(
        default=None, description="Host of the ApplicationSet webhook (/api/webhook), inside the zone.")
    max_per_app: int = Field(
        default=5, ge=1, le=100, description="Previews one app may run at once: past it, render-preview refuses the "
        "newest (its pull request is told why) until another ends; the app-repo workflow (minnova-preview-auto.yml, "
        "MINNOVA_PREVIEW_MAX) tells authors earlier when set equal.")
    max_total: int = Field(
        default=50, ge=1, le=10_000, description="Previews the stack runs at once, all apps together: past it, "
        "render-preview refuses the newest (policy/preview_cap.py). Not a quota on Applications, which would stop "
        "the ApplicationSet controller's deletions.")
    approvers: list[Annotated[str, Field(min_length=1, max_length=100, pattern=APPROVER_PATTERN)]] | None = Field(
        default=None, max_length=100, description="Accounts whose `minnova/preview-approved` commit status approves "
        "a preview (policy/approval.py; docs/security.md, \"Preview approval\"): a status anyone or anything else "
        "wrote (a CI job, another integration) never counts. GitHub default: `github-actions[bot]` (the approve "
        "workflow); list it too when you add maintainers who approve by hand. GitLab, Gitea, Forgejo: required (user "
        "names of the people who approve; never an account whose token reaches CI).")


# Cloudflare's quota of account API tokens (developers.cloudflare.com fundamentals/api/reference/limits, 2025-03:
# "Account API token quota 500"; Enterprise accounts can ask for more).
CLOUDFLARE_ACCOUNT_TOKEN_QUOTA = 500


class NamespaceQuota(StrictModel):
    """What one app environment's namespace may request in all (a ResourceQuota)."""

    cpu: Quantity = Field(default="16", description="requests.cpu")
    memory: Quantity = Field(default="32Gi", description="requests.memory")
    memory_limit: Quantity = Field(default="64Gi", description="limits.memory")
    storage: Quantity = Field(default="1Ti", description="requests.storage (database volumes)")
    pods: int = Field(default=100, ge=1, le=10_000)

    def as_hard(self) -> dict[str, str]:
        return {"requests.cpu": self.cpu, "requests.memory": self.memory, "limits.memory": self.memory_limit,
                "requests.storage": self.storage, "pods": str(self.pods), "services.loadbalancers": "0",
                "services.nodeports": "0"}


class CloudflareSettings(StrictModel):
    account_id: Annotated[str, AfterValidator(_cloudflare_id)]
    zone_id: Annotated[str, AfterValidator(_cloudflare_id)]
    backup_tokens: Literal["perEnvironment", "perApp"] = Field(
        default="perEnvironment", description="One R2 token per backed-up app environment, each for its own bucket. "
        "`perApp` (one token for all of an app's buckets) is refused: it put a credential that can write every "
        "environment's backups into each environment's namespace.")
    max_account_tokens: int = Field(
        default=CLOUDFLARE_ACCOUNT_TOKEN_QUOTA, ge=1, le=100_000,
        description="How many account API tokens this stack may create; the account's quota is shared by every "
                    "stack and token in it.")


class MongoDBSettings(StrictModel):
    enabled: bool = Field(
        default=False, description="Offer MongoDB to this stack's apps: installs Percona's operator; an app with "
        "`mongodb.enabled` on a stack without it is refused. Off by default: the server is SSPL, and whether running "
        "it for a client's self-serving developers is \"offering it as a service\" (SSPL section 13) needs legal "
        "review first (ADR 0014).")


class KubernetesSettings(StrictModel):
    context: str | None = Field(default=None, description="kubeconfig context; default: the current context.")


class StackSettings(StrictModel):
    """Pulumi config of one stack, namespace `minnova` (docs/stack-config.md)."""

    deployment: Annotated[str, AfterValidator(_dns_label)]
    environments: list[EnvironmentName] = Field(min_length=1)
    base_domain: Hostname
    registry_path: RepoSubpath | None = None
    ingress_class: Annotated[str, AfterValidator(_object_name)]
    ingress_address: Annotated[str, AfterValidator(_ingress_address)]
    cluster_issuer: Annotated[str, AfterValidator(_object_name)] = "letsencrypt-prod"
    git: GitSettings
    cloudflare: CloudflareSettings | None = None
    kubernetes: KubernetesSettings = KubernetesSettings()
    mongodb: MongoDBSettings = Field(default=MongoDBSettings(), description="MongoDB for this stack's apps (ADR 0014).")
    protected_environments: list[EnvironmentName] = Field(
        default_factory=lambda: ["prod"],
        description="Environments whose databases, buckets and backup credentials are `protect`ed.")
    image_gate: Literal["wait", "keep", "off"] = Field(
        default="keep", description="Before a new image tag is deployed, check its registry has it (HEAD "
        "/v2/<name>/manifests/<tag>): keep the tag deployed last when it does not (a first deploy stops); wait: stop "
        "the run; off: no check. An unreachable registry always stops the run.")
    database_storage_guard: bool = Field(
        default=True, description="Refuse database.size (and redis.persistence.size) shrinks by comparing with this "
                                  "stack's last outputs.")
    database_upgrade_rollbacks: list[Annotated[str, AfterValidator(_dns_label_63)]] = Field(
        default_factory=list, max_length=50,
        description="Components (`<app>-<environment>`) whose failed major upgrade this run rolls back: the "
        "database.version and server name recorded before the upgrade (databaseUpgradedFrom), for this run only "
        "(docs/databases.md: Major upgrades).")
    dns_proxied: bool = Field(default=False, description="Proxy app hosts through Cloudflare (orange cloud).")
    network_policies: bool = Field(
        default=True, description="NetworkPolicies in every app namespace: ingress from its own pods and non-app "
        "namespaces only; the app's egress to DNS, its database and public addresses only.")
    ingress_namespaces: list[Annotated[str, AfterValidator(_dns_label_63)]] | None = Field(
        default=None, max_length=50, description="Namespaces allowed to connect to apps (the ingress controller's, "
        "monitoring); default: every namespace that is not an app's. The CloudNativePG operator's is always added.")
    namespace_quota: NamespaceQuota | None = Field(
        default=NamespaceQuota(), description="ResourceQuota of every app environment namespace; null: none.")
    image_pins: dict[AppName, dict[EnvironmentName, ImageTag]] = Field(
        default_factory=dict, description="Platform-team override of an app environment's image tag (rollbacks: "
        "minnova-idp rollback); wins over app.yaml until cleared.")
    image_registry: ImageRepository | None = Field(
        default=None, description="The registry (host, optionally with a path: `registry.example.com/team`) whose "
        "`<registry>/<app>` is each app's image repository unless its registry entry lists `images`; unset: an "
        "app without `images` may run any image, and `plan` says so.")
    reserved_hosts: list[HostPattern] = Field(
        default_factory=list, max_length=200,
        description="Hosts no app may use (`*` = one label), besides the apex, the preview domain and the webhook host.")
    restore_drill_schedule: CronSchedule | None = Field(
        default=DEFAULT_DRILL_SCHEDULE, description="When every backed-up database is restored into a throwaway "
        "Cluster and checked (cron, UTC); null turns drills off for the stack.")
    previews: PreviewSettings | None = Field(default=None, description="Pull-request previews (Argo CD).")
    preview_domain: Hostname | None = Field(
        default=None, description="Domain of pull-request previews (<app>-pr-<n>.<domain>); wildcard DNS and TLS.")
    acme_email: Annotated[str, AfterValidator(_email)] | None = Field(
        default=None, description="Contact address for the Let's Encrypt account (optional).")
    secrets_recipients: dict[AppName, dict[SecretsEnvironment, AgeRecipient]] = Field(
        default_factory=dict, description="Public age recipient of each app and environment (and `preview`).")
    secrets_shared_recipient: AgeRecipient | None = Field(
        default=None, description="Opt-in: one recipient for every app without its own (small setups).")

    @model_validator(mode="after")
    def _environments_unique(self) -> "StackSettings":
        if len(set(self.environments)) != len(self.environments):
            raise ValueError("`environments` lists an environment twice")
        return self

    @property
    def registry_dir(self) -> str:
        return self.registry_path or f"deployments/{self.deployment}/apps"


# Keys of the `minnova` namespace that hold secrets; they must be set with `pulumi config set --secret`.
SECRET_KEYS = {
    "gitToken": "https token for fetching app repositories",
    "gitSshPrivateKey": "SSH private key for fetching app repositories over ssh",
    "kubeconfig": "kubeconfig contents for the cluster (default: the ambient kubeconfig)",
    "cloudflareApiToken": "Cloudflare API token of the platform (default: CLOUDFLARE_API_TOKEN)",
    "secretsKeys": "age identity of each app and environment: {app: {env: AGE-SECRET-KEY-1...}}",
    "secretsSharedKey": "opt-in shared age identity for apps without their own key",
    "githubAppPrivateKey": "private key (PEM) of the GitHub App Argo CD uses",
    "gitDeployKeys": "Gitea/Forgejo: SSH deploy key of each app repo: {app: private key}",
    "gitlabProjectTokens": "GitLab: project access token of each app repo: {app: token}",
    "previewStatusTokens": "GitLab, Gitea, Forgejo: a token per app repo that may set commit statuses there, for "
                           "preview reports (GitLab: project access token, Developer, scope api; Gitea/Forgejo: a "
                           "bot collaborator's token, write:repository): {app: token}",
    "webhookSecret": "shared secret of the GitHub/GitLab webhooks to Argo CD",
    "passwordKey": "random key the passwords the platform generates are derived from (each app environment's Redis and MongoDB; "
                   "previews get a key derived from it): `openssl rand -hex 32`; changing it changes them all",
    "registryCredentials": "image pull credentials (a .dockerconfigjson: {\"auths\": {host: {auth}}}) for private "
                           "images, read-only",
    "appRegistryCredentials": "per-app image pull credentials {app: .dockerconfigjson}: an app listed here (its "
                              "environments and previews) pulls with its own, scoped to its own repositories, never "
                              "with registryCredentials",
    "previewApprovalToken": "read-only API token render-preview reads previews' approvals with (commit statuses of "
                            "the app repositories): GitHub fine-grained token with Commit statuses: read; Gitea/"
                            "Forgejo token with read:repository; GitLab: read_api (default: each app's project token)",
}
PLAIN_EXTRA_KEYS = {"gitKnownHosts": "known_hosts lines for the git server (ssh)"}
