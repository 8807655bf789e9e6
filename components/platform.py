"""Platform: one client deployment's cluster, and a MinnovaApp per registered app and environment."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from minnova_idp import names, versions
from minnova_idp.database import backup_target
from minnova_idp.program import ProgramInputs
from minnova_idp.renderer import RenderSettings, environment_placement

from .minnova_app import BackupInfrastructure, MinnovaApp, MinnovaAppArgs

TYPE = "minnova:index:Platform"
# Renaming a provider would replace every resource it manages: keep these names.
KUBERNETES_PROVIDER_NAME = "kubernetes"
CLOUDFLARE_PROVIDER_NAME = "cloudflare"
# Looked up by name: IDs differ between Cloudflare accounts and API versions.
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
        operators = self._database_operators(in_cluster)
        backups = self._backup_infrastructure(args) if settings.cloudflare and _any_database(args) else None
        render_settings = RenderSettings(
            deployment=settings.deployment,
            ingress_class=settings.ingress_class,
            cluster_issuer=settings.cluster_issuer,
        )
        urls: dict[str, pulumi.Output[str]] = {}
        database_sizes: dict[str, str] = {}
        for app in args.apps:
            for environment in settings.environments:
                if environment not in app.config.environments:
                    continue  # the app does not run in this environment (yet)
                component = names.component_name(app.name, environment)
                backup = None
                if app.config.database.enabled:
                    database_sizes[component] = app.config.database.size
                    backup = backup_target(app.config, environment, settings.deployment,
                                           settings.cloudflare.account_id)
                placement = environment_placement(app.config, environment, app.image_tag(environment),
                                                  secrets=args.secrets.get((app.name, environment)), backup=backup)
                deployed = MinnovaApp(
                    component,
                    MinnovaAppArgs(app=app.config, placement=placement, settings=render_settings,
                                   protected=environment in settings.protected_environments,
                                   operators=operators, backups=backups),
                    opts=pulumi.ResourceOptions(parent=self, providers=[provider]),
                )
                urls[component] = deployed.url
        self.urls = pulumi.Output.all(**urls) if urls else pulumi.Output.from_input({})
        self.database_sizes = pulumi.Output.from_input(database_sizes)
        self.register_outputs({"urls": self.urls, "databaseSizes": self.database_sizes})

    def _database_operators(self, in_cluster: pulumi.ResourceOptions) -> list[pulumi.Resource]:
        """cert-manager, the CloudNativePG operator and its Barman Cloud plugin, in that order.

        Protected and retained: uninstalling a chart deletes its CRDs, and with them every
        Cluster (and its volumes) in the cluster.
        """
        keep = pulumi.ResourceOptions(protect=True, retain_on_delete=True)
        cert_manager = _release(versions.CERT_MANAGER, {"crds": {"enabled": True, "keep": True}},
                                pulumi.ResourceOptions.merge(in_cluster, pulumi.ResourceOptions(protect=True)))
        cnpg = _release(versions.CLOUDNATIVE_PG, {"crds": {"create": True}},
                        pulumi.ResourceOptions.merge(in_cluster, keep))
        plugin = _release(
            versions.BARMAN_CLOUD_PLUGIN,
            {"image": {"tag": versions.BARMAN_CLOUD_PLUGIN_VERSION},
             "sidecarImage": {"tag": versions.BARMAN_CLOUD_PLUGIN_VERSION}},
            pulumi.ResourceOptions.merge(in_cluster, pulumi.ResourceOptions(
                protect=True, retain_on_delete=True, depends_on=[cert_manager, cnpg])))
        return [cnpg, plugin]

    def _backup_infrastructure(self, args: ProgramInputs) -> BackupInfrastructure:
        import pulumi_cloudflare as cloudflare  # large (seconds to import): only when there are backups

        account_id = args.stack.settings.cloudflare.account_id
        token = args.stack.secrets.cloudflare_api_token
        provider = cloudflare.Provider(
            CLOUDFLARE_PROVIDER_NAME,
            api_token=pulumi.Output.secret(token) if token else None,
            opts=pulumi.ResourceOptions(parent=self),
        )
        lookups = [
            cloudflare.get_account_api_token_permission_groups_list_output(
                account_id=account_id, name=group, opts=pulumi.InvokeOptions(provider=provider))
            for group in R2_PERMISSION_GROUPS
        ]
        ids = pulumi.Output.all(*(lookup.results for lookup in lookups)).apply(
            lambda results: [_group_id(group, found) for group, found in zip(R2_PERMISSION_GROUPS, results)])
        return BackupInfrastructure(provider=provider, account_id=account_id, permission_group_ids=ids)


def _release(chart: versions.HelmChart, values: dict, opts: pulumi.ResourceOptions) -> k8s.helm.v3.Release:
    return k8s.helm.v3.Release(
        chart.name,
        name=chart.name,
        chart=chart.name,
        version=chart.version,
        namespace=chart.namespace,
        create_namespace=True,
        repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repository),
        values=values,
        opts=opts,
    )


def _group_id(group: str, results) -> str:
    for result in results or []:
        if (result["name"] if isinstance(result, dict) else result.name) == group:
            return result["id"] if isinstance(result, dict) else result.id
    raise ValueError(f"Cloudflare has no API token permission group named '{group}'")


def _any_database(args: ProgramInputs) -> bool:
    return any(app.config.database.enabled for app in args.apps)
