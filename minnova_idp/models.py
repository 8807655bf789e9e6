"""Config models: what a user may write, validated once at the edge.

pydantic v2 in strict mode with unknown keys rejected: `port: "4000"` is an error,
not a silent coercion, and `imagee:` is a typo, not an ignored key. Keys are
camelCase in YAML (`healthCheck`), as in Kubernetes manifests.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema, field_validator, model_validator
from pydantic.alias_generators import to_camel

from . import names, versions
from .quantity import QuantityError, parse_quantity


class StrictModel(BaseModel):
    # defer_build: validators are built on first use, so a command pays only for the models it uses.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, alias_generator=to_camel, defer_build=True)


# ---- field types ---------------------------------------------------------------------------

def _app_name(value: str) -> str:
    if (why := names.check_app_name(value)) is not None:
        raise ValueError(why)
    return value


def _environment_name(value: str) -> str:
    if (why := names.check_environment_name(value)) is not None:
        raise ValueError(why)
    return value


def _hostname(value: str) -> str:
    if "://" in value:
        raise ValueError(f"'{value}' must be a bare host name, without a scheme such as https://")
    if "*" in value:
        raise ValueError(f"'{value}': wildcard hosts are not allowed; give one host per environment")
    if "/" in value or ":" in value:
        raise ValueError(f"'{value}' must be a bare host name, without a path or port")
    if value != value.lower():
        raise ValueError(f"'{value}' must be lowercase; try '{value.lower()}'")
    if value.endswith("."):
        raise ValueError(f"'{value}' must not end with a dot")
    labels = value.split(".")
    if len(value) > 253 or len(labels) < 2:
        raise ValueError(f"'{value}' is not a fully qualified domain name (e.g. app.example.com)")
    for label in labels:
        if len(label) > names.DNS_LABEL_MAX or not names.DNS_LABEL_RE.match(label):
            raise ValueError(f"'{value}': '{label}' is not a valid DNS label "
                             f"(lowercase letters, digits and '-', at most 63 characters)")
    if labels[-1].isdigit():
        raise ValueError(f"'{value}' looks like an IP address; give a DNS name")
    return value


def _quantity(value: str) -> str:
    try:
        amount = parse_quantity(value)
    except QuantityError as exc:
        raise ValueError(str(exc)) from None
    if amount <= 0:
        raise ValueError(f"'{value}' must be greater than zero")
    return value


_ENV_VAR_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Set by the platform; an app defining them would silently lose or override them.
RESERVED_ENV_VARS = {"PORT": "set `port:` instead; the platform sets PORT to it"}


def _env_var_name(value: str) -> str:
    if not _ENV_VAR_RE.match(value):
        raise ValueError(f"'{value}' is not a valid environment variable name "
                         "(letters, digits and '_', not starting with a digit)")
    if value in RESERVED_ENV_VARS:
        raise ValueError(f"'{value}' is set by the platform; {RESERVED_ENV_VARS[value]}")
    return value


_IMAGE_REPO_RE = re.compile(
    r"^(?:[a-z0-9]([a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(?::\d+)?/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$"
)
_IMAGE_TAG_RE = re.compile(r"^(?:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|sha256:[a-f0-9]{64})$")


def _image_repository(value: str) -> str:
    if "://" in value:
        raise ValueError(f"'{value}': give the repository without a scheme (e.g. registry.example.com/team/app)")
    if "@" in value or ":" in value.rsplit("/", 1)[-1]:
        raise ValueError(f"'{value}' includes a tag or digest; put it in `tag:` (or per environment in `imageTag:`)")
    if not _IMAGE_REPO_RE.match(value):
        raise ValueError(f"'{value}' is not a valid image repository (lowercase, e.g. registry.example.com/team/app)")
    return value


def _image_tag(value: str) -> str:
    if not _IMAGE_TAG_RE.match(value):
        raise ValueError(f"'{value}' is not a valid image tag (letters, digits, '_', '.', '-', at most 128) "
                         "or digest (sha256:<64 hex>)")
    return value


def _http_path(value: str) -> str:
    if not value.startswith("/") or any(c.isspace() for c in value):
        raise ValueError(f"'{value}' must be an absolute URL path such as /healthz")
    return value


def _documented(pattern: str, max_length: int | None = None, **extra) -> WithJsonSchema:
    """What editors check as you type; the validators above are the authority and explain."""
    schema = {"type": "string", "pattern": pattern, **extra}
    if max_length:
        schema["maxLength"] = max_length
    return WithJsonSchema(schema)


AppName = Annotated[str, AfterValidator(_app_name),
                    _documented(names.APP_NAME_RE.pattern, names.APP_NAME_MAX, examples=["oracle"])]
EnvironmentName = Annotated[str, AfterValidator(_environment_name),
                            _documented(names.ENV_NAME_RE.pattern, names.ENV_NAME_MAX)]
Hostname = Annotated[str, AfterValidator(_hostname), _documented(
    r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$", 253, examples=["app.example.com"])]
Quantity = Annotated[str, AfterValidator(_quantity), _documented(
    r"^(\d+(\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$", examples=["5Gi", "250m"])]
EnvVarName = Annotated[str, AfterValidator(_env_var_name), _documented(_ENV_VAR_RE.pattern)]
ImageRepository = Annotated[str, AfterValidator(_image_repository),
                            _documented(_IMAGE_REPO_RE.pattern, examples=["registry.example.com/team/app"])]
ImageTag = Annotated[str, AfterValidator(_image_tag), _documented(_IMAGE_TAG_RE.pattern)]
HttpPath = Annotated[str, AfterValidator(_http_path), _documented(r"^/\S*$", examples=["/healthz"])]


# ---- app.yaml ------------------------------------------------------------------------------

class Image(StrictModel):
    repository: ImageRepository
    tag: ImageTag | None = Field(
        default=None, description="Tag for every environment; default: the commit SHA the config was read at.")
    pull_policy: Literal["IfNotPresent", "Always"] = "IfNotPresent"


class ResourceList(StrictModel):
    cpu: Quantity | None = None
    memory: Quantity | None = None


class Resources(StrictModel):
    requests: ResourceList = ResourceList(cpu="100m", memory="128Mi")
    limits: ResourceList = ResourceList(memory="256Mi")

    def as_kubernetes(self) -> dict[str, dict[str, str]]:
        """The `resources` of a Kubernetes container or CNPG Cluster; empty sections left out."""
        out = {}
        for section in ("requests", "limits"):
            values = getattr(self, section).model_dump(exclude_none=True)
            if values:
                out[section] = values
        return out

    @model_validator(mode="after")
    def _limits_cover_requests(self) -> "Resources":
        for key in ("cpu", "memory"):
            request, limit = getattr(self.requests, key), getattr(self.limits, key)
            if request and limit and parse_quantity(limit) < parse_quantity(request):
                raise ValueError(f"limits.{key} ({limit}) is below requests.{key} ({request})")
        return self


_RETENTION_RE = re.compile(r"^[1-9][0-9]*[dwm]$")  # the Barman Cloud plugin's format


def _retention(value: str) -> str:
    if not _RETENTION_RE.match(value):
        raise ValueError(f"'{value}' is not a retention period: a number and d, w or m (e.g. 30d, 4w, 6m)")
    return value


def _backup_name(value: str) -> str:
    if len(value) > names.DNS_LABEL_MAX or not names.DNS_LABEL_RE.match(value):
        raise ValueError(f"'{value}' must be lowercase letters, digits and '-', at most 63 characters")
    return value


def _timestamp(value: str) -> str:
    from datetime import datetime

    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"'{value}' is not an RFC 3339 timestamp (e.g. 2026-11-20T09:30:00Z)") from None
    if parsed.tzinfo is None:
        raise ValueError(f"'{value}' has no time zone; add Z or an offset such as +01:00")
    return value


BackupName = Annotated[str, AfterValidator(_backup_name)]


class Database(StrictModel):
    enabled: bool = False
    size: Quantity = Field(default="1Gi", description="Storage per instance, e.g. 5Gi. Can grow, never shrink.")
    version: Literal[16, 17, 18] = Field(default=versions.DEFAULT_POSTGRES_VERSION,
                                         description="PostgreSQL major version.")
    backup_retention: Annotated[str, AfterValidator(_retention)] = Field(
        default="30d", description="How long backups are kept, e.g. 30d, 4w, 6m.")
    resources: Resources = Resources(requests=ResourceList(cpu="100m", memory="256Mi"),
                                     limits=ResourceList(memory="1Gi"))


class DatabaseRestore(StrictModel):
    from_backup: BackupName = Field(
        description="Server name of the backup to restore (the backupName it was archived under, "
                    "by default <app>-db).")
    target_time: Annotated[str, AfterValidator(_timestamp)] | None = Field(
        default=None, description="Point in time to recover to (RFC 3339); default: the end of the WAL archive.")


class EnvironmentDatabase(StrictModel):
    instances: int = Field(default=1, ge=1, le=5, description="PostgreSQL instances; 2-3 for high availability.")
    backup_name: BackupName | None = Field(
        default=None, description="Server name this database archives under in its bucket; default <app>-db.")
    restore: DatabaseRestore | None = Field(
        default=None, description="Create the database from a backup (only when it is created).")


class HealthCheck(StrictModel):
    path: HttpPath = Field(description="HTTP path answering 2xx/3xx when the app is ready, e.g. /healthz.")


EnvVars = dict[EnvVarName, str]


class Environment(StrictModel):
    replicas: int = Field(default=1, ge=0, le=50)
    host: Hostname
    image_tag: ImageTag | None = Field(default=None, description="Overrides image.tag for this environment.")
    env: EnvVars = Field(default_factory=dict, description="Merged over the top-level env.")
    resources: Resources | None = Field(default=None, description="Replaces the top-level resources.")
    database: EnvironmentDatabase | None = Field(default=None, description="Database settings of this environment.")


class AppConfig(StrictModel):
    """`.minnova/app.yaml` in an app's repository."""

    model_config = ConfigDict(title="Minnova app config (.minnova/app.yaml)")

    name: AppName
    image: Image
    port: int = Field(ge=1, le=65535)
    database: Database = Database()
    environments: dict[EnvironmentName, Environment] = Field(min_length=1)
    env: EnvVars = Field(default_factory=dict)
    health_check: HealthCheck | None = Field(
        default=None, description="HTTP health check; without it, probes check that the port accepts connections.")
    resources: Resources = Resources()
    command: list[str] | None = Field(default=None, min_length=1, description="Replaces the image's ENTRYPOINT.")
    args: list[str] | None = Field(default=None, description="Replaces the image's CMD.")
    run_as_user: int = Field(default=10001, ge=1, le=2**31 - 1, description="Non-root UID the container runs as.")

    @field_validator("environments")
    @classmethod
    def _hosts_are_distinct(cls, environments: dict[str, Environment]) -> dict[str, Environment]:
        seen: dict[str, str] = {}
        for env_name, environment in environments.items():
            if environment.host in seen:
                raise ValueError(f"environments {seen[environment.host]} and {env_name} share the host "
                                 f"'{environment.host}'; each environment needs its own host")
            seen[environment.host] = env_name
        return environments

    def cross_field_problems(self) -> list[tuple[tuple[str, ...], str]]:
        """Rules across fields, each with the location it is about (validation.py reports them)."""
        problems = []
        for env_name, environment in self.environments.items():
            if self.database.enabled:
                for where in (("env",), ("environments", env_name, "env")):
                    values = self.env if where == ("env",) else environment.env
                    if "DATABASE_URL" in values:
                        problems.append(((*where, "DATABASE_URL"), "is set by the platform from the app's "
                                         "database (database.enabled is true); remove it"))
            if environment.database is not None and not self.database.enabled:
                problems.append((("environments", env_name, "database"),
                                 "is set but the app has no database (database.enabled is false)"))
            restore = environment.database.restore if environment.database else None
            if restore is not None and restore.from_backup == self.backup_name(env_name):
                problems.append((
                    ("environments", env_name, "database", "restore", "fromBackup"),
                    f"'{restore.from_backup}' is also the name this database archives under; restoring into the "
                    f"same name would mix two timelines in one archive: set environments.{env_name}.database."
                    f"backupName to a new name (e.g. {self.name}-db-2)"))
        return sorted(set(problems))

    def database_instances(self, environment: str) -> int:
        settings = self.environments[environment].database
        return settings.instances if settings else 1

    def backup_name(self, environment: str) -> str:
        settings = self.environments[environment].database
        return (settings.backup_name if settings else None) or names.database_cluster(self.name)


# ---- registry entry ------------------------------------------------------------------------

_SCP_LIKE_RE = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:(?!//)[^\s]+$")
_URL_RE = re.compile(r"^(?P<scheme>[a-z][a-z0-9+.-]*)://(?P<rest>\S+)$")


def _git_url(value: str) -> str:
    if value.startswith("-"):
        raise ValueError(f"'{value}' is not a git URL")
    if _SCP_LIKE_RE.match(value):
        return value
    match = _URL_RE.match(value)
    if not match:
        raise ValueError(f"'{value}' is not a git URL; use https://host/owner/repo.git or git@host:owner/repo.git")
    scheme, rest = match["scheme"], match["rest"]
    if scheme == "http":
        raise ValueError(f"'{value}' uses plain http; use https://")
    if scheme not in ("https", "ssh", "file"):
        raise ValueError(f"'{value}': scheme {scheme}:// is not supported; use https:// or ssh://")
    authority = rest.split("/", 1)[0]
    if scheme == "https" and "@" in authority:
        raise ValueError(f"'{value}' embeds credentials; never put them in the registry, "
                         "set minnova:gitToken as a Pulumi secret instead")
    return value


_BAD_REF_RE = re.compile(r"(\.\.|[\x00-\x20~^:?*\[\\]|@\{|//|^[-/.]|[/.]$|\.lock$)")


def _git_ref(value: str) -> str:
    if not value or _BAD_REF_RE.search(value):
        raise ValueError(f"'{value}' is not a valid git branch, tag or commit SHA")
    return value


def _repo_subpath(value: str) -> str:
    parts = value.strip("/").split("/")
    if value.startswith("/") or any(part in ("", ".", "..") or part.startswith("-") for part in parts):
        raise ValueError(f"'{value}' must be a relative path inside the repository, without '..'")
    return value.strip("/")


GitUrl = Annotated[str, AfterValidator(_git_url)]
GitRef = Annotated[str, AfterValidator(_git_ref)]
RepoSubpath = Annotated[str, AfterValidator(_repo_subpath)]


class RegistryEntry(StrictModel):
    """`deployments/<deployment>/apps/<name>.yaml`: where an app's `.minnova/` lives."""

    name: AppName
    repo: GitUrl | None = Field(default=None, description="The app repository (https or ssh).")
    ref: GitRef | None = Field(default=None, description="Branch, tag or commit SHA; default: the default branch.")
    path: RepoSubpath | None = Field(default=None, description="Directory holding .minnova/ in a monorepo.")
    local: RepoSubpath | None = Field(
        default=None, description="Read .minnova/ from this directory of the infra repo instead of fetching "
                                  "`repo` (bundled examples; apps whose config lives here). Previews still use `repo`.")
    project_id: int | None = Field(default=None, ge=1, description="GitLab: the numeric project ID (previews).")

    @model_validator(mode="after")
    def _one_source(self) -> "RegistryEntry":
        if self.repo is None and self.local is None:
            raise ValueError("set `repo` (a git URL), `local` (a directory in this repository), or both")
        if self.local is not None and self.ref is not None:
            raise ValueError("`ref` applies to fetching `repo`; a `local` source is read as it is on disk")
        return self


# ---- stack settings (Pulumi config namespace `minnova`) -------------------------------------

def _ingress_address(value: str) -> str:
    try:
        ipaddress.ip_address(value)
        return value
    except ValueError:
        pass
    try:
        return _hostname(value)
    except ValueError:
        raise ValueError(f"'{value}' must be an IPv4/IPv6 address or a host name") from None


def _dns_label(value: str) -> str:
    if len(value) > names.DEPLOYMENT_NAME_MAX or not names.APP_NAME_RE.match(value):
        raise ValueError(f"'{value}' must be a DNS label of at most {names.DEPLOYMENT_NAME_MAX} characters "
                         "(lowercase letters, digits, '-')")
    return value


_OBJECT_NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")


def _object_name(value: str) -> str:
    if not _OBJECT_NAME_RE.match(value):
        raise ValueError(f"'{value}' is not a valid Kubernetes object name (lowercase letters, digits, '-', '.')")
    return value


_AGE_RECIPIENT_RE = re.compile(r"^age1[02-9ac-hj-np-z]{58}$")  # bech32 X25519 recipient


def _age_recipient(value: str) -> str:
    if value.startswith("age1pq1"):
        raise ValueError("post-quantum age recipients (age1pq1...) are not supported yet; use an X25519 key "
                         "(minnova-idp secrets new-key)")
    if not _AGE_RECIPIENT_RE.match(value):
        raise ValueError(f"'{value}' is not an age recipient (age1 followed by 58 characters)")
    return value


def _secrets_environment(value: str) -> str:
    if value == "preview":  # the key of an app's pull-request previews
        return value
    return _environment_name(value)


AgeRecipient = Annotated[str, AfterValidator(_age_recipient)]
SecretsEnvironment = Annotated[str, AfterValidator(_secrets_environment)]


def _email(value: str) -> str:
    if not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", value):
        raise ValueError(f"'{value}' is not an email address")
    return value


_HEX32 = re.compile(r"^[0-9a-f]{32}$")


def _cloudflare_id(value: str) -> str:
    if not _HEX32.match(value):
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
    _image_repository(repository)
    _image_tag(tag)
    return value


def _https_base_url(value: str) -> str:
    if not value.startswith("https://"):
        raise ValueError(f"'{value}' must start with https://")
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


class PreviewSettings(StrictModel):
    """Pull-request previews through Argo CD (README: "Previews")."""

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


class CloudflareSettings(StrictModel):
    account_id: Annotated[str, AfterValidator(_cloudflare_id)]
    zone_id: Annotated[str, AfterValidator(_cloudflare_id)]


class KubernetesSettings(StrictModel):
    context: str | None = Field(default=None, description="kubeconfig context; default: the current context.")


class StackSettings(StrictModel):
    """Pulumi config of one stack, namespace `minnova` (see the README's table)."""

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
    protected_environments: list[EnvironmentName] = Field(
        default_factory=lambda: ["prod"],
        description="Environments whose databases, buckets and backup credentials are `protect`ed.")
    database_storage_guard: bool = Field(
        default=True, description="Refuse database.size shrinks by comparing with this stack's last outputs.")
    dns_proxied: bool = Field(default=False, description="Proxy app hosts through Cloudflare (orange cloud).")
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
    "webhookSecret": "shared secret of the GitHub/GitLab webhooks to Argo CD",
}
PLAIN_EXTRA_KEYS = {"gitKnownHosts": "known_hosts lines for the git server (ssh)"}
