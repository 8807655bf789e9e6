"""Platform: one client deployment's cluster, and a MinnovaApp per registered app and environment."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from minnova_idp import names
from minnova_idp.renderer import RenderSettings, environment_placement
from minnova_idp.program import ProgramInputs

from .minnova_app import MinnovaApp, MinnovaAppArgs

TYPE = "minnova:index:Platform"
# Renaming the provider would replace every resource in the cluster: keep this name.
KUBERNETES_PROVIDER_NAME = "kubernetes"


class Platform(pulumi.ComponentResource):
    urls: pulumi.Output[dict[str, str]]

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
        render_settings = RenderSettings(
            deployment=settings.deployment,
            ingress_class=settings.ingress_class,
            cluster_issuer=settings.cluster_issuer,
        )
        urls: dict[str, pulumi.Output[str]] = {}
        for app in args.apps:
            for environment in settings.environments:
                if environment not in app.config.environments:
                    continue  # the app does not run in this environment (yet)
                component = names.component_name(app.name, environment)
                placement = environment_placement(app.config, environment, app.image_tag(environment))
                deployed = MinnovaApp(
                    component,
                    MinnovaAppArgs(app=app.config, placement=placement, settings=render_settings),
                    opts=pulumi.ResourceOptions(parent=self, providers=[provider]),
                )
                urls[component] = deployed.url
        self.urls = pulumi.Output.all(**urls) if urls else pulumi.Output.from_input({})
        self.register_outputs({"urls": self.urls})
