"""Pull-request previews: the same renderer as dev and prod, plus guard rails for untrusted code.

Argo CD runs `minnova-idp render-preview` (a Config Management Plugin) on the PR's checkout;
this module decides what a preview is. Pure functions, no Pulumi import.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping

from minnova_idp.model import names
from minnova_idp.model.app_config import NAMESPACE_DEFAULT_LIMIT, AppConfig, DatabaseRestore, ResourceList, Resources
from minnova_idp.model.errors import ConfigError, Problem
from minnova_idp.model.quantity import parse_quantity
from minnova_idp.model.secrets import SecretValues
from minnova_idp.render import isolation
from minnova_idp.model.mongodb import mongodb_cluster
from minnova_idp.render.app import Manifest, app_code_pods, common_labels, mongodb_pods_label, own_policy_pods, render_app
from minnova_idp.render.mongodb import MongoPlacement, mongodb_password
from minnova_idp.render.database_placement import DatabasePlacement, Origin
from minnova_idp.render.mysql import preview_mysql_placement
from minnova_idp.render.mysql_data import attach_data
from minnova_idp.render.placement import Placement, RenderSettings, build_placement
from minnova_idp.render.redis import RedisPlacement, redis_password
from minnova_idp.render.storage import StoragePlacement
from minnova_idp.render.waves import ready_hook

ENVIRONMENT = names.PREVIEW_ENVIRONMENT
MAX_PR_NUMBER = 10 ** names.MAX_PR_NUMBER_DIGITS - 1
_SHA_RE = re.compile(r"[0-9a-f]{40}")  # fullmatch: `$` would accept a trailing newline
PREVIEW_DATABASE_SIZE = "1Gi"
PREVIEW_DATABASE_RESOURCES = Resources(requests=ResourceList(cpu="50m", memory="128Mi"),
                                       limits=ResourceList(memory="512Mi"))
# What one preview may use in all; generous for an app and its database, small for a cluster.
QUOTA = {"requests.cpu": "2", "requests.memory": "4Gi", "limits.memory": "8Gi", "pods": "20",
         "persistentvolumeclaims": "4", "requests.storage": "10Gi", "services.loadbalancers": "0",
         "services.nodeports": "0"}
PREVIEW_REDIS_RESOURCES = Resources(requests=ResourceList(cpu="25m", memory="32Mi"),
                                    limits=ResourceList(memory="128Mi"))
PREVIEW_MONGODB_RESOURCES = Resources(requests=ResourceList(cpu="50m", memory="256Mi"),
                                      limits=ResourceList(memory="512Mi"))
CONTAINER_DEFAULT_REQUEST = {"cpu": "50m", "memory": "64Mi"}
CONTAINER_DEFAULT_LIMIT = NAMESPACE_DEFAULT_LIMIT  # model/app_config.py checks requests against it
CONTAINER_MAX = {"cpu": "2", "memory": "2Gi"}


# Where render-preview's parameters may come from (argo-cd v3.4.4; see docs/previews.md "Previews: what a pull request can
# and cannot choose"). Trusted: the command line, what the repo server sets from the Application itself
# (reposerver/repository/repository.go:1769-1783 newEnv: computed before `.argocd-source*.yaml` is merged, and
# ARGOCD_APP_NAME/_NAMESPACE/_PROJECT_NAME come from the controller's request, controller/state.go:313-330), and
# the sidecar's own container env, set by the platform (argocd.sidecar_environment). Untrusted: ARGOCD_ENV_*, the
# Application's plugin env, which a pull request rewrites with `.argocd-source.yaml` (mergeSourceParameters,
# repository.go:1808-1859): it may only repeat what the trusted sources say.
PLATFORM_SETTINGS = {"preview_domain": "MINNOVA_PREVIEW_DOMAIN", "deployment": "MINNOVA_DEPLOYMENT",
                     "ingress_class": "MINNOVA_INGRESS_CLASS"}
PLUGIN_ENV = {"app": "ARGOCD_ENV_APP_NAME", "pr_number": "ARGOCD_ENV_PR_NUMBER", "head_sha": "ARGOCD_ENV_HEAD_SHA",
              "preview_domain": "ARGOCD_ENV_PREVIEW_DOMAIN", "deployment": "ARGOCD_ENV_DEPLOYMENT",
              "ingress_class": "ARGOCD_ENV_INGRESS_CLASS"}
FLAGS = {"app": "--app", "pr_number": "--pr", "head_sha": "--head-sha", "preview_domain": "--preview-domain",
         "deployment": "--deployment", "ingress_class": "--ingress-class"}
PROJECT_SUFFIX = "-previews"  # argocd.project_name(app); repeated here so argocd.py can stay out of previews
WHERE = "render-preview"


@dataclass(frozen=True)
class PreviewRequest:
    """Which preview to render, from trusted sources only (preview_request)."""

    app: str
    pr_number: int
    head_sha: str
    preview_domain: str
    deployment: str
    ingress_class: str

    @property
    def namespace(self) -> str:
        return names.preview_namespace(self.app, self.pr_number)

    @property
    def host(self) -> str:
        return names.preview_host(self.app, self.pr_number, self.preview_domain)


def preview_request(flags: Mapping[str, str | None], environ: Mapping[str, str]) -> PreviewRequest:
    """The preview to render: every value from a trusted source, agreeing with every other source that gives it.

    `flags`: command-line values by field (None when not given); `environ`: the process environment.
    """
    problems: list[Problem] = []
    trusted: dict[str, list[tuple[str, str]]] = {field: [] for field in PLUGIN_ENV}  # field -> [(source, value)]
    for field, flag in FLAGS.items():
        if flags.get(field):
            trusted[field].append((flag, str(flags[field])))
    for field, variable in PLATFORM_SETTINGS.items():
        if environ.get(variable):
            trusted[field].append((variable, environ[variable]))
    if environ.get("ARGOCD_APP_NAME"):
        problems += _from_application(environ, trusted)
    chosen: dict[str, str] = {}
    for field, sources in trusted.items():
        untrusted = environ.get(PLUGIN_ENV[field])
        if not sources:
            named = " or ".join([FLAGS[field], *([PLATFORM_SETTINGS[field]] if field in PLATFORM_SETTINGS else [])])
            hint = (f"{PLUGIN_ENV[field]} alone is not trusted: a pull request can set it" if untrusted else
                    "Argo CD sets it for the plugin" if field not in PLATFORM_SETTINGS else
                    "the platform sets it in the plugin sidecar's environment")
            problems.append(Problem(WHERE, named if field in PLATFORM_SETTINGS else
                                    f"{named} (or ARGOCD_APP_* from Argo CD)", "is not set", hint=hint))
            continue
        values = {value for _, value in sources}
        if untrusted:
            sources = [*sources, (PLUGIN_ENV[field], untrusted)]
            values.add(untrusted)
        if len(values) > 1:
            problems.append(Problem(WHERE, field, "sources disagree: " + ", ".join(f"{s}={v!r}" for s, v in sources),
                                    hint="a pull request cannot choose its app, number, revision or domain"))
            continue
        chosen[field] = values.pop()
    if problems:
        raise ConfigError(problems)
    return _checked(chosen)


def _from_application(environ: Mapping[str, str], trusted: dict[str, list[tuple[str, str]]]) -> list[Problem]:
    """What the repo server says of the Application being rendered: its project, name, namespace and revision."""
    problems = []
    project = environ.get("ARGOCD_APP_PROJECT_NAME", "")
    if not project.endswith(PROJECT_SUFFIX):
        problems.append(Problem(WHERE, "ARGOCD_APP_PROJECT_NAME", f"'{project}' is not a preview project "
                                f"(<app>{PROJECT_SUFFIX}); this plugin renders previews only"))
        return problems
    app = project.removesuffix(PROJECT_SUFFIX)
    trusted["app"].append(("ARGOCD_APP_PROJECT_NAME", app))
    name, namespace = environ.get("ARGOCD_APP_NAME", ""), environ.get("ARGOCD_APP_NAMESPACE", "")
    match = re.fullmatch(re.escape(names.preview_namespace(app, 0)[:-1]) + r"([1-9][0-9]*)", name)
    if match is None or namespace != name:
        problems.append(Problem(WHERE, "ARGOCD_APP_NAME", f"the Application '{name}' (namespace '{namespace}') is "
                                f"not a preview of {app}: both must be {app}-pr-<number>"))
    else:
        trusted["pr_number"].append(("ARGOCD_APP_NAME", match[1]))
    revision = environ.get("ARGOCD_APP_REVISION", "")
    target = environ.get("ARGOCD_APP_SOURCE_TARGET_REVISION")
    if target and target != revision:
        problems.append(Problem(WHERE, "ARGOCD_APP_REVISION", f"checked out {revision}, but the Application asks for "
                                f"{target}"))
    elif revision:
        trusted["head_sha"].append(("ARGOCD_APP_REVISION", revision))
    return problems


def _checked(chosen: dict[str, str]) -> PreviewRequest:
    from minnova_idp.model.fields import validate_hostname

    problems = []
    if (why := names.check_app_name(chosen["app"])) is not None:
        problems.append(Problem(WHERE, "app", why))
    number = chosen["pr_number"]
    if not (number.isdigit() and len(number) <= names.MAX_PR_NUMBER_DIGITS and 1 <= int(number) <= MAX_PR_NUMBER):
        problems.append(Problem(WHERE, "pr_number", f"'{number[:20]}' is not a pull request number (1-{MAX_PR_NUMBER})"))
    if not _SHA_RE.fullmatch(chosen["head_sha"]):
        problems.append(Problem(WHERE, "head_sha", f"'{chosen['head_sha'][:80]}' is not a full commit SHA "
                                "(40 lowercase hex characters)"))
    try:
        validate_hostname(chosen["preview_domain"])
    except ValueError as exc:
        problems.append(Problem(WHERE, "preview_domain", str(exc)))
    if (why := names.check_app_name(chosen["deployment"])) is not None:
        problems.append(Problem(WHERE, "deployment", why))
    if problems:
        raise ConfigError(problems)
    return PreviewRequest(app=chosen["app"], pr_number=int(number), head_sha=chosen["head_sha"],
                          preview_domain=chosen["preview_domain"], deployment=chosen["deployment"],
                          ingress_class=chosen["ingress_class"])


def preview_placement(app: AppConfig, request: PreviewRequest, secrets: SecretValues | None,
                      seed: tuple[tuple[str, str], ...] = (), pull_secret: bool = False,
                      password_key: str | None = None, origin: Origin | None = None,
                      storage: StoragePlacement | None = None,
                      mysql_seed: tuple[tuple[str, str], ...] = ()) -> Placement:
    """`password_key`: the sidecar's preview password key (redis.preview_password_key), for an app with Redis or
    MySQL;
    `origin`: for `preview.database.from`, the archive the platform lets this app's previews copy and the masking
    SQL from the app's registered branch (the sidecar's origin file, origin.py)."""
    database = None
    if app.database.enabled and app.preview.database is not None:
        if origin is None or not origin.mask:
            raise ValueError(f"{app.name}: a preview copying {app.preview.database.from_} needs its origin and mask")
        # A physical copy: the origin's whole data directory, so its size, within what a preview may use.
        if parse_quantity(app.database.size) > parse_quantity(QUOTA["requests.storage"]):
            raise ConfigError([Problem(WHERE, "database.size", f"'{app.database.size}' is more storage than a preview "
                                       f"may use ({QUOTA['requests.storage']}), and a copy of "
                                       f"{origin.environment} needs all of it",
                                       hint="remove preview.database (previews then start empty or seeded)")])
        database = DatabasePlacement(
            instances=1, size=app.database.size, version=app.database.version, resources=PREVIEW_DATABASE_RESOURCES,
            cluster=names.preview_copy(app.name), origin=origin,
            # parse_origin checked the server name (a Cluster's name, or it with a major upgrade's -pg<major>)
            restore=DatabaseRestore.model_construct(from_backup=origin.server_name, target_time=None))
    elif app.database.enabled:
        # One small instance and no backups: a preview's data is disposable. Seeded from the PR's own files.
        database = DatabasePlacement(instances=1, size=PREVIEW_DATABASE_SIZE, version=app.database.version,
                                     resources=PREVIEW_DATABASE_RESOURCES, cluster=names.database_cluster(app.name),
                                     seed=seed)
    redis = None
    if app.redis.enabled:
        if not password_key:
            raise ConfigError([Problem(WHERE, "redis.enabled", "the preview needs a Redis password, and the plugin "
                                       "sidecar has no preview password key",
                                       hint="the platform team sets minnova:passwordKey in the stack (pulumi config "
                                            "set --secret minnova:passwordKey \"$(openssl rand -hex 32)\")")])
        # Memory only and small: a preview's data is disposable. The password is the same on every re-render.
        redis = RedisPlacement(version=app.redis.version, resources=PREVIEW_REDIS_RESOURCES,
                               password=redis_password(password_key, request.namespace))
    mysql = None
    if app.mysql.enabled:
        if not password_key:
            raise ConfigError([Problem(WHERE, "mysql.enabled", "the preview needs a MySQL password, and the plugin "
                                       "sidecar has no preview password key",
                                       hint="the platform team sets minnova:passwordKey in the stack (pulumi config "
                                            "set --secret minnova:passwordKey \"$(openssl rand -hex 32)\")")])
        # One small instance of its own, in the preview's namespace and gone with it; same password on re-renders.
        mysql = preview_mysql_placement(app, request.namespace, password_key)
        # No backups (a preview's data is disposable); seeded from the PR's own files (render/mysql_data.py).
        mysql = attach_data(mysql, app, ENVIRONMENT, None, mysql_seed)
    if app.storage.enabled and (storage is None or storage.declares_bucket
                                or storage.prefix != names.preview_storage_prefix(request.pr_number)):
        # Only what the stack provisioned for this app's previews (storage.parse_preview_storage): never a bucket
        # the renderer would declare, which is an environment's.
        raise ValueError(f"{app.name}: a preview with storage needs its app's previews bucket and its own prefix")
    mongodb = None
    if app.mongodb.enabled:
        if not password_key:
            raise ConfigError([Problem(WHERE, "mongodb.enabled", "the preview needs a MongoDB password, and the "
                                       "plugin sidecar has no preview password key",
                                       hint="the platform team sets minnova:passwordKey in the stack")])
        # One member, small, no backups: a preview's data is disposable, and goes with the preview's namespace.
        mongodb = MongoPlacement(version=app.mongodb.version, instances=1, size=PREVIEW_DATABASE_SIZE,
                                 resources=PREVIEW_MONGODB_RESOURCES, cluster=mongodb_cluster(app.name),
                                 database=app.name, password=mongodb_password(password_key, request.namespace))
    # app CI pushes <repository>:<head SHA> for pull requests
    return build_placement(app, ENVIRONMENT, request.namespace, request.host, request.head_sha, secrets=secrets,
                           database=database, pull_secret=pull_secret, redis=redis,
                           storage=storage if app.storage.enabled else None, mongodb=mongodb, mysql=mysql)


def render_preview(app: AppConfig, request: PreviewRequest, secrets: SecretValues | None,
                   seed: tuple[tuple[str, str], ...] = (), pull_credentials: str | None = None,
                   password_key: str | None = None, origin: Origin | None = None,
                   storage: StoragePlacement | None = None,
                   mysql_seed: tuple[tuple[str, str], ...] = ()) -> list[Manifest]:
    """`pull_credentials`: the stack's read-only registry credentials (the sidecar's copy), for private images;
    `password_key`: the sidecar's preview password key, for an app with Redis; `origin`: see preview_placement;
    `storage`: the app's previews bucket with this preview's prefix (the sidecar's `<app>.storage.json`)."""
    placement = preview_placement(app, request, secrets, seed, pull_secret=pull_credentials is not None,
                                  password_key=password_key, origin=origin, storage=storage, mysql_seed=mysql_seed)
    settings = RenderSettings(deployment=request.deployment, ingress_class=request.ingress_class, cluster_issuer=None)
    namespace, *rest = render_app(app, placement, settings, pull_credentials)
    labels = common_labels(app, placement, settings)
    namespace["metadata"]["labels"]["minnova.io/preview"] = "true"
    return [namespace, *guard_rails(placement.namespace, labels, app_code_pods(app), own_policy_pods(placement),
                                    mongodb_pods_label(placement)),
            *rest, ready_hook(placement.namespace, labels, request.head_sha)]


def guard_rails(namespace: str, labels: dict[str, str], app_pods: dict[str, str],
                own_policy: tuple[str, ...] | None = None, also_own: tuple[tuple[str, str], ...] = ()
                ) -> list[Manifest]:
    """A preview runs a pull request's code: cap what it can use and who can reach it, and what it can reach."""
    return [
        isolation.resource_quota(namespace, labels, "preview-quota", QUOTA),
        isolation.limit_range(namespace, labels, "preview-limits", CONTAINER_DEFAULT_REQUEST, CONTAINER_DEFAULT_LIMIT,
                              CONTAINER_MAX),
        isolation.ingress_policy(namespace, labels, own_policy=own_policy, also_own=also_own),
        isolation.egress_policy(namespace, labels, app_pods, "preview-egress"),
    ]


def to_yaml(objects: list[Manifest]) -> str:
    """As `yaml.safe_dump_all(objects, sort_keys=False, explicit_start=True)` writes them (yaml_text.py)."""
    from minnova_idp.render import yaml_text

    return yaml_text.dump_all(objects, sort_keys=False)
