"""Everything a stack declares, decided in one pure function: `declare(inputs)`.

The Platform's own resources (operators, certificates, Argo CD and its credentials, DNS) and,
per app and environment, an AppInstance: the app's placement and every resource of it with its
lifecycle (renderer.app_objects). The Pulumi shell creates exactly this, in this order, and the
offline plan prints what it created. Pure: no Pulumi import.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from minnova_idp.model import names, versions
from minnova_idp.model.app_config import AppConfig
from minnova_idp.model.inputs import ProgramInputs
from minnova_idp.model.loaded import LoadedApp
from minnova_idp.model.stack import pull_credentials
from minnova_idp.policy import guards
from minnova_idp.policy.previews import preview_apps, preview_origins, preview_storage_apps
from minnova_idp.render import argocd, preview_admission, tls
from minnova_idp.render.app import app_objects, url
from minnova_idp.render.approval import approval_settings
from minnova_idp.render.database import backup_target
from minnova_idp.render.internal_services import InternalAccess, access_for, caller_index, described, own_env_names
from minnova_idp.render.mongodb_operator import mongodb_operator
from minnova_idp.render.mysql_operator import mysql_operator_releases
from minnova_idp.render.origin import origin_offer
from minnova_idp.render.placement import DnsTarget, Placement, RenderSettings, environment_placement
from minnova_idp.render.resources import (
    AccountToken,
    Declared,
    FromToken,
    HelmRelease,
    Lifecycle,
    R2Bucket,
    Secret,
    keys,
    kubernetes_object,
)
from minnova_idp.render.storage import preview_storage_offer, storage_target

PLATFORM_PREFIX = "platform"  # Pulumi names of the Platform's own Kubernetes objects


@dataclass(frozen=True)
class AppInstance:
    """One app in one environment: a MinnovaApp component and everything in it."""

    component: str  # the MinnovaApp's Pulumi name: changing it replaces every resource below
    app: AppConfig
    placement: Placement
    resources: tuple[Declared, ...]

    @property
    def url(self) -> str:
        return url(self.placement)


@dataclass(frozen=True)
class Declaration:
    platform: tuple[Declared, ...]  # the Platform's own resources, in creation order
    apps: tuple[AppInstance, ...]
    cloudflare_account: str | None  # a Cloudflare provider is needed (and this account) when set
    recorded: dict = field(default_factory=dict)  # the guarded outputs of the stack's last update (inputs.recorded)
    deployment: str = ""  # the stack's minnova:deployment (bucket names in the guarded outputs)

    @property
    def urls(self) -> dict[str, str]:
        return {instance.component: instance.url for instance in self.apps}

    @property
    def host_aliases(self) -> dict[str, list[str]]:
        """component -> the URLs of its other hosts, for the environments that have any (HOST_ALIASES_OUTPUT)."""
        return {instance.component: [f"https://{alias}" for alias, _ in instance.placement.aliases]
                for instance in self.apps if instance.placement.aliases}

    @property
    def internal_services(self) -> dict[str, dict]:
        """The `internalServices` output: per app environment with an internal service or a path to one, its
        services (URL, port, who may call each) and what it may call (internal_services.described)."""
        out = {}
        for instance in self.apps:
            placement = instance.placement
            shown = described(instance.app.name, placement.namespace, instance.app, placement.internal,
                              own_env_names(placement.env, placement.secrets.keys if placement.secrets else ()))
            if shown["services"] or shown["calls"]:
                out[instance.component] = shown
        return out

    @property
    def guarded_outputs(self) -> dict[str, dict[str, str]]:
        """The guarded values (policy/guards.py GUARDED) as declared: the next run checks its own against them."""
        return guards.declared_outputs(
            [(instance.component, instance.app, instance.placement.environment) for instance in self.apps],
            self.recorded, self.deployment)


def declare(inputs: ProgramInputs) -> Declaration:
    settings = inputs.stack.settings
    declared: list[Declared] = []
    # Protected: uninstalling it deletes its CRDs, and every issuer and certificate with them.
    cert_manager = HelmRelease(versions.CERT_MANAGER, {"crds": {"enabled": True, "keep": True}},
                               Lifecycle(protect=True))
    operators = _database_operators(cert_manager, settings.mongodb.enabled) + mysql_operator_releases(cert_manager)
    declared += [cert_manager, *operators]
    dns = None
    if settings.cloudflare is not None:
        dns = DnsTarget(zone_id=settings.cloudflare.zone_id, address=settings.ingress_address,
                        proxied=settings.dns_proxied)
        declared += _certificates(inputs, dns, cert_manager)
    if settings.previews is not None:
        declared += _previews(inputs, dns)
    quota = settings.namespace_quota
    render_settings = RenderSettings(
        deployment=settings.deployment, ingress_class=settings.ingress_class, cluster_issuer=settings.cluster_issuer,
        network_policies=settings.network_policies,
        ingress_namespaces=tuple(settings.ingress_namespaces) if settings.ingress_namespaces is not None else None,
        quota=tuple(quota.as_hard().items()) if quota is not None else None)
    # app -> the environment its previews copy, decided once (not per app environment)
    origins = {app.name: environment for app, environment in preview_origins(inputs)}
    # App-to-app paths (ADR 0016): among the apps this stack declares, loaded or kept; the callers indexed once.
    declared_apps = [(app.entry, app.config) for app in inputs.apps]
    callers = caller_index(declared_apps)
    instances = tuple(_app_instance(inputs, app, environment, render_settings, keys(*operators), dns,
                                    offered=origins.get(app.name) == environment,
                                    internal=access_for(app.name, environment, declared_apps, callers))
                      for app, environment in inputs.deployed())
    return Declaration(platform=tuple(declared), apps=instances,
                       cloudflare_account=settings.cloudflare.account_id if settings.cloudflare else None,
                       recorded=inputs.recorded, deployment=settings.deployment)


def _app_instance(inputs: ProgramInputs, app: LoadedApp, environment: str, settings: RenderSettings,
                  operators: tuple[str, ...], dns: DnsTarget | None, offered: bool = False,
                  internal: InternalAccess | None = None) -> AppInstance:
    """`offered`: this environment's backups are what the app's previews copy (inputs.preview_origins);
    `internal`: its app-to-app paths (internal_services.access_for)."""
    stack = inputs.stack.settings
    component = names.component_name(app.name, environment)
    backup = None
    if app.config.database.enabled or app.config.mysql.enabled:  # MySQL's backups share the bucket (mysql_data.py)
        backup = backup_target(app.config, environment, stack.deployment, stack.cloudflare.account_id)
    placement = environment_placement(app.config, environment, inputs.image_tag(app, environment)[0],
                                      secrets=inputs.secrets.get((app.name, environment)), backup=backup,
                                      drill_schedule=stack.restore_drill_schedule,
                                      drill_check=inputs.restore_checks.get(app.name),
                                      seed=inputs.seeds.get(app.name, ()),
                                      mysql_seed=inputs.mysql_seeds.get(app.name, ()),
                                      pull_secret=bool(pull_credentials(inputs.stack.secrets, app.name)),
                                      password_key=inputs.stack.secrets.password_key,
                                      server_name=guards.archive_server(app.config, environment, inputs.recorded),
                                      storage=storage_target(app.config, environment, stack.deployment,
                                                             stack.cloudflare.account_id) if stack.cloudflare else None,
                                      mongodb_backup=backup_target(app.config, environment, stack.deployment,
                                                                   stack.cloudflare.account_id)
                                      if app.config.mongodb.enabled and stack.cloudflare else None)
    placement = replace(placement, internal=internal)
    pull = pull_credentials(inputs.stack.secrets, app.name)
    resources = app_objects(app.config, placement, settings, component=component,
                            protected=environment in stack.protected_environments, operators=operators, dns=dns,
                            pull_credentials=Secret(pull) if pull else None)
    if offered:
        # This environment's backups are what the app's previews copy: a read-only token for them, for the sidecar.
        bucket = next(r for r in resources if isinstance(r, R2Bucket) and r.name == f"{component}-backups")
        argocd_namespace = kubernetes_object(PLATFORM_PREFIX, argocd.render_namespace())
        resources += origin_offer(component, app.name, environment, placement.database.archive_server,
                                  bucket.bucket, bucket.key, stack.deployment, stack.cloudflare.account_id,
                                  argocd.NAMESPACE, keys(argocd_namespace), inputs.masks[app.name])
    return AppInstance(component=component, app=app.config, placement=placement, resources=tuple(resources))


def _database_operators(cert_manager: HelmRelease, mongodb: bool) -> list[HelmRelease]:
    """The CloudNativePG operator and its Barman Cloud plugin (which needs cert-manager); Percona's MongoDB
    operator where the stack offers MongoDB.

    Protected and retained: uninstalling a chart deletes its CRDs, and with them every
    Cluster (and its volumes) in the cluster.
    """
    cnpg = HelmRelease(versions.CLOUDNATIVE_PG, {"crds": {"create": True}},
                       Lifecycle(protect=True, retain_on_delete=True))
    plugin = HelmRelease(
        versions.BARMAN_CLOUD_PLUGIN,
        {"image": {"tag": versions.BARMAN_CLOUD_PLUGIN_VERSION},
         "sidecarImage": {"tag": versions.BARMAN_CLOUD_PLUGIN_VERSION}},
        Lifecycle(protect=True, retain_on_delete=True, depends_on=keys(cert_manager, cnpg)))
    # Percona's operator only where the platform team offers MongoDB (minnova:mongodb.enabled, ADR 0014: SSPL).
    return [cnpg, plugin, *([mongodb_operator(cert_manager)] if mongodb else [])]


def _certificates(inputs: ProgramInputs, dns: DnsTarget, cert_manager: HelmRelease) -> list[Declared]:
    """Let's Encrypt issuers answering DNS-01 in Cloudflare; the preview wildcard record and certificate."""
    settings = inputs.stack.settings
    token = AccountToken(name="cert-manager-dns01",
                         display_name=f"minnova-idp {settings.deployment}: cert-manager DNS-01",
                         permission_groups=tls.DNS_PERMISSION_GROUPS, resources=(tls.zone_resource(dns.zone_id),))
    token_secret = kubernetes_object(PLATFORM_PREFIX, tls.render_dns_token_secret(FromToken(token.key, tls.dns_token_data)),
                                     Lifecycle(depends_on=keys(cert_manager)))
    issuers = [kubernetes_object(PLATFORM_PREFIX, issuer, Lifecycle(depends_on=keys(cert_manager, token_secret)))
               for issuer in tls.render_cluster_issuers(settings)]
    declared: list[Declared] = [token, token_secret, *issuers]
    if settings.preview_domain:
        # Never proxied: Cloudflare's edge certificate does not cover a wildcard this deep.
        namespace = kubernetes_object(PLATFORM_PREFIX, tls.render_platform_namespace())
        declared += [
            dns.record("preview-wildcard", f"*.{settings.preview_domain}",
                       f"minnova-idp {settings.deployment}: pull-request previews", proxied=False),
            namespace,
            kubernetes_object(PLATFORM_PREFIX, tls.render_preview_certificate(settings),
                              Lifecycle(depends_on=keys(namespace, *issuers))),
        ]
    return declared


def _previews(inputs: ProgramInputs, dns: DnsTarget | None) -> list[Declared]:
    """Argo CD with this deployment's git credentials, and per app a project and an ApplicationSet."""
    settings, secrets = inputs.stack.settings, inputs.stack.secrets
    apps = preview_apps(inputs)
    namespace = kubernetes_object(PLATFORM_PREFIX, argocd.render_namespace())
    after_namespace = Lifecycle(depends_on=keys(namespace))
    own_secrets = [kubernetes_object(PLATFORM_PREFIX, argocd.preview_keys_secret(
        apps, secrets, approval_settings(apps, secrets, settings)), after_namespace),
                   kubernetes_object(PLATFORM_PREFIX, argocd.argocd_secret(settings, secrets.webhook_secret),
                                     after_namespace)]
    notification_secrets = argocd.notification_secret_values(settings, apps, secrets)
    github_notifications = settings.git.provider == "github" and bool(notification_secrets)
    forge_apps = argocd.forge_status_apps(settings, apps, secrets)
    if notification_secrets:
        own_secrets.append(kubernetes_object(
            PLATFORM_PREFIX, argocd.notifications_secret(notification_secrets), after_namespace))
    origin_apps = tuple(app.name for app, _ in preview_origins(inputs))
    storage_apps = preview_storage_apps(inputs)
    # The sidecar reads every previewed app's previews-storage Secret if it exists (optional), not only of the apps
    # with storage now: the Secret is retained when storage is turned off (storage.preview_storage_offer), and a
    # preview made before still renders, its PreDelete cleanup included, until it is closed.
    mounted_storage = tuple(app.name for app in apps) if settings.cloudflare is not None else ()
    release = HelmRelease(versions.ARGO_CD, argocd.chart_values(settings, github_notifications,
                                                                      inputs.stack.git_known_hosts, origin_apps,
                                                                      forge_apps, mounted_storage),
                          Lifecycle(depends_on=keys(namespace, *own_secrets)))
    after_release = Lifecycle(depends_on=keys(release))
    credentials = [kubernetes_object(PLATFORM_PREFIX, manifest, after_release)
                   for manifest in argocd.credential_secrets(settings, apps, secrets)]
    # The cluster holds previews' Ingresses to their own host (preview_admission.py), before any preview exists.
    # Services there are ClusterIP only (new resources: additions to the golden URNs, nothing renamed).
    admission = [kubernetes_object(PLATFORM_PREFIX, manifest) for manifest in [
        *preview_admission.render_policy(settings.preview_domain, settings.ingress_class, names.managed_labels()),
        *preview_admission.render_service_policy(names.managed_labels())]]
    declared: list[Declared] = [namespace, *own_secrets, release, *credentials, *admission]
    for app in apps:
        project = kubernetes_object(PLATFORM_PREFIX, argocd.render_app_project(app), after_release)
        declared += [project, kubernetes_object(PLATFORM_PREFIX, argocd.render_application_set(
            app, settings, app.name in forge_apps),
                                                Lifecycle(depends_on=keys(release, project, *credentials, *admission)))]
    for app in storage_apps:
        # Each app's previews write to a bucket of their own, never an environment's (storage.py).
        declared += preview_storage_offer(app, settings.deployment, settings.cloudflare.account_id, argocd.NAMESPACE,
                                          keys(namespace), Lifecycle(retain_on_delete=True))
    if dns is not None and settings.previews.webhook_host:
        declared.append(dns.record("argocd-webhook", settings.previews.webhook_host,
                                   f"minnova-idp {settings.deployment}: Argo CD webhooks"))
    return declared

