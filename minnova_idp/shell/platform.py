"""Platform: one client deployment's cluster, and a MinnovaApp per registered app and environment."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from minnova_idp.core import names, tls, versions
from minnova_idp.core.database import backup_target
from minnova_idp.shell.program import ProgramInputs
from minnova_idp.core.renderer import RenderSettings, environment_placement

from . import kubernetes
from .cloudflare import CloudflareAccount, DnsTarget, ingress_record, scoped_token
from .minnova_app import BackupInfrastructure, MinnovaApp, MinnovaAppArgs

TYPE = "minnova:index:Platform"
# Renaming a provider would replace every resource it manages: keep these names.
KUBERNETES_PROVIDER_NAME = "kubernetes"
CLOUDFLARE_PROVIDER_NAME = "cloudflare"
PLATFORM_PREFIX = "platform"  # Pulumi names of the Platform's own Kubernetes objects
R2_PERMISSION_GROUPS = ("Workers R2 Storage Bucket Item Read", "Workers R2 Storage Bucket Item Write")


class Platform(pulumi.ComponentResource):
    urls: pulumi.Output[dict[str, str]]
    database_sizes: pulumi.Output[dict[str, str]]

    def __init__(self, name: str, args: ProgramInputs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE, name, None, opts)
        settings = args.stack.settings
        kubeconfig = args.stack.secrets.kubeconfig
        provider = k8s.Provider(
            KUBERNETES_PROVIDER_NAME,
            kubeconfig=pulumi.Output.secret(kubeconfig) if kubeconfig else None,
            context=settings.kubernetes.context,
            opts=pulumi.ResourceOptions(parent=self),
        )
        in_cluster = pulumi.ResourceOptions(parent=self, provider=provider)
        # Protected: uninstalling it deletes its CRDs, and every issuer and certificate with them.
        cert_manager = _release(versions.CERT_MANAGER, {"crds": {"enabled": True, "keep": True}},
                                pulumi.ResourceOptions.merge(in_cluster, pulumi.ResourceOptions(protect=True)))
        operators = self._database_operators(in_cluster, cert_manager)
        cloudflare = self._cloudflare(args) if settings.cloudflare else None
        dns = None
        if cloudflare is not None:
            dns = DnsTarget(provider=cloudflare.provider, zone_id=settings.cloudflare.zone_id,
                            address=settings.ingress_address, proxied=settings.dns_proxied)
            self._certificates(args, cloudflare, dns, cert_manager, in_cluster)
        if settings.previews is not None:
            self._previews(args, dns, in_cluster)
        backups = None
        if cloudflare is not None and _any_database(args):
            backups = BackupInfrastructure(account=cloudflare,
                                           permission_group_ids=cloudflare.permission_groups(R2_PERMISSION_GROUPS))
        render_settings = RenderSettings(
            deployment=settings.deployment,
            ingress_class=settings.ingress_class,
            cluster_issuer=settings.cluster_issuer,
        )
        urls: dict[str, pulumi.Output[str]] = {}
        database_sizes: dict[str, str] = {}
        for app, environment in args.deployed():
            component = names.component_name(app.name, environment)
            backup = None
            if app.config.database.enabled:
                database_sizes[component] = app.config.database.size
                backup = backup_target(app.config, environment, settings.deployment, settings.cloudflare.account_id)
            placement = environment_placement(app.config, environment, app.image_tag(environment),
                                              secrets=args.secrets.get((app.name, environment)), backup=backup)
            deployed = MinnovaApp(
                component,
                MinnovaAppArgs(app=app.config, placement=placement, settings=render_settings,
                               protected=environment in settings.protected_environments,
                               operators=operators, backups=backups, dns=dns),
                opts=pulumi.ResourceOptions(parent=self, providers=[provider]),
            )
            urls[component] = deployed.url
        self.urls = pulumi.Output.all(**urls) if urls else pulumi.Output.from_input({})
        self.database_sizes = pulumi.Output.from_input(database_sizes)
        self.register_outputs({"urls": self.urls, "databaseSizes": self.database_sizes})

    def _database_operators(self, in_cluster: pulumi.ResourceOptions,
                            cert_manager: pulumi.Resource) -> list[pulumi.Resource]:
        """The CloudNativePG operator and its Barman Cloud plugin (which needs cert-manager).

        Protected and retained: uninstalling a chart deletes its CRDs, and with them every
        Cluster (and its volumes) in the cluster.
        """
        keep = pulumi.ResourceOptions(protect=True, retain_on_delete=True)
        cnpg = _release(versions.CLOUDNATIVE_PG, {"crds": {"create": True}},
                        pulumi.ResourceOptions.merge(in_cluster, keep))
        plugin = _release(
            versions.BARMAN_CLOUD_PLUGIN,
            {"image": {"tag": versions.BARMAN_CLOUD_PLUGIN_VERSION},
             "sidecarImage": {"tag": versions.BARMAN_CLOUD_PLUGIN_VERSION}},
            pulumi.ResourceOptions.merge(in_cluster, pulumi.ResourceOptions(
                protect=True, retain_on_delete=True, depends_on=[cert_manager, cnpg])))
        return [cnpg, plugin]

    def _cloudflare(self, args: ProgramInputs) -> "CloudflareAccount":
        import pulumi_cloudflare as cloudflare  # large (seconds to import): only for stacks that use Cloudflare

        token = args.stack.secrets.cloudflare_api_token
        provider = cloudflare.Provider(
            CLOUDFLARE_PROVIDER_NAME,
            api_token=pulumi.Output.secret(token) if token else None,
            opts=pulumi.ResourceOptions(parent=self),
        )
        return CloudflareAccount(provider=provider, account_id=args.stack.settings.cloudflare.account_id)

    def _certificates(self, args: ProgramInputs, cloudflare: CloudflareAccount, dns: DnsTarget,
                      cert_manager: pulumi.Resource, in_cluster: pulumi.ResourceOptions) -> None:
        """Let's Encrypt issuers answering DNS-01 in Cloudflare; the preview wildcard record and certificate."""
        settings = args.stack.settings
        token = scoped_token("cert-manager-dns01", cloudflare, f"minnova-idp {settings.deployment}: cert-manager DNS-01",
                             cloudflare.permission_groups(tls.DNS_PERMISSION_GROUPS), tls.zone_resource(dns.zone_id),
                             pulumi.ResourceOptions(parent=self))
        token_secret = kubernetes.create(PLATFORM_PREFIX, {
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": tls.DNS_TOKEN_SECRET, "namespace": versions.CERT_MANAGER.namespace},
            "type": "Opaque",
            "stringData": pulumi.Output.secret(token.value.apply(lambda value: {tls.DNS_TOKEN_KEY: value})),
        }, pulumi.ResourceOptions.merge(in_cluster, pulumi.ResourceOptions(depends_on=[cert_manager])))
        issuers = [
            kubernetes.create(PLATFORM_PREFIX, issuer, pulumi.ResourceOptions.merge(
                in_cluster, pulumi.ResourceOptions(depends_on=[cert_manager, token_secret])))
            for issuer in tls.render_cluster_issuers(settings)
        ]
        if settings.preview_domain:
            # Never proxied: Cloudflare's edge certificate does not cover a wildcard this deep.
            ingress_record("preview-wildcard", dns, f"*.{settings.preview_domain}",
                           f"minnova-idp {settings.deployment}: pull-request previews", parent=self, proxied=False)
            namespace = kubernetes.create(PLATFORM_PREFIX, tls.render_platform_namespace(), in_cluster)
            kubernetes.create(PLATFORM_PREFIX, tls.render_preview_certificate(settings),
                                      pulumi.ResourceOptions.merge(in_cluster, pulumi.ResourceOptions(
                                          depends_on=[namespace, *issuers])))

    def _previews(self, args: ProgramInputs, dns: DnsTarget | None, in_cluster: pulumi.ResourceOptions) -> None:
        """Argo CD with this deployment's git credentials, and per app a project and an ApplicationSet."""
        from minnova_idp.core import argocd
        from minnova_idp.shell.program import preview_apps

        settings, secrets = args.stack.settings, args.stack.secrets
        apps = preview_apps(args)

        def after(*resources: pulumi.Resource) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions.merge(in_cluster, pulumi.ResourceOptions(depends_on=list(resources)))

        def secret(value: str | None) -> pulumi.Output | None:
            return pulumi.Output.secret(value) if value else None

        namespace = kubernetes.create(PLATFORM_PREFIX, {
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": argocd.NAMESPACE, "labels": {"app.kubernetes.io/managed-by": "minnova-idp"}}},
            in_cluster)
        # Only preview keys reach the plugin sidecar: never a dev or prod key.
        preview_keys = {app.name: secrets.secrets_keys[app.name]["preview"] for app in apps
                        if "preview" in secrets.secrets_keys.get(app.name, {})}
        keys = kubernetes.create(PLATFORM_PREFIX, {
            **argocd.preview_keys_secret({}), "stringData": pulumi.Output.secret(preview_keys)}, after(namespace))
        own_secrets = [keys, kubernetes.create(
            PLATFORM_PREFIX, argocd.argocd_secret(settings, secret(secrets.webhook_secret)), after(namespace))]
        github_notifications = settings.git.provider == "github" and bool(secrets.github_app_private_key)
        if github_notifications:
            own_secrets.append(kubernetes.create(
                PLATFORM_PREFIX, argocd.notifications_secret(secret(secrets.github_app_private_key)),
                after(namespace)))
        release = _release(versions.ARGO_CD, argocd.chart_values(settings, github_notifications),
                           after(namespace, *own_secrets))

        def credential(kind: str, app: str | None) -> pulumi.Output:
            """A credential's value as a Pulumi secret: encrypted in state, [secret] in plans."""
            value = {"githubAppPrivateKey": secrets.github_app_private_key, "gitToken": secrets.git_token,
                     "gitlabProjectTokens": secrets.gitlab_project_tokens.get(app or ""),
                     "gitDeployKeys": secrets.git_deploy_keys.get(app or "")}[kind]
            return pulumi.Output.secret(value)

        credentials = [kubernetes.create(PLATFORM_PREFIX, manifest, after(release))
                       for manifest in argocd.credential_secrets(settings, apps, credential)]
        for app in apps:
            project = kubernetes.create(PLATFORM_PREFIX, argocd.render_app_project(app), after(release))
            kubernetes.create(PLATFORM_PREFIX, argocd.render_application_set(app, settings),
                                      after(release, project, *credentials))
        if dns is not None and settings.previews.webhook_host:
            ingress_record("argocd-webhook", dns, settings.previews.webhook_host,
                           f"minnova-idp {settings.deployment}: Argo CD webhooks", parent=self)


def _release(chart: versions.HelmChart, values: dict, opts: pulumi.ResourceOptions) -> k8s.helm.v3.Release:
    return k8s.helm.v3.Release(
        chart.release_name,
        name=chart.release_name,
        chart=chart.name,
        version=chart.version,
        namespace=chart.namespace,
        create_namespace=True,
        repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repository),
        values=values,
        opts=opts,
    )


def _any_database(args: ProgramInputs) -> bool:
    return any(app.config.database.enabled for app in args.apps)
