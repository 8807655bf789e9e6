"""Platform: one client deployment's cluster, and a MinnovaApp per registered app and environment.

Everything it holds is decided by minnova_idp/render/declaration.py (`declare`); the Platform
makes the providers and creates the declared resources, in order.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.cloudflare import CloudflareAccount
from components.creator import ResourceCreator
from components.minnova_app import MinnovaApp
from minnova_idp.model.inputs import ProgramInputs
from minnova_idp.render.declaration import declare

TYPE = "minnova:index:Platform"
# Renaming a provider would replace every resource it manages: keep these names.
KUBERNETES_PROVIDER_NAME = "kubernetes"
CLOUDFLARE_PROVIDER_NAME = "cloudflare"


class Platform(pulumi.ComponentResource):
    urls: pulumi.Output[dict[str, str]]
    host_aliases: dict[str, list[str]]
    guarded: dict[str, pulumi.Output[dict[str, str]]]  # output name -> its value (policy/guards.py GUARDED)

    def __init__(self, name: str, inputs: ProgramInputs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE, name, None, opts)
        declaration = declare(inputs)
        kubeconfig = inputs.stack.secrets.kubeconfig
        provider = k8s.Provider(
            KUBERNETES_PROVIDER_NAME,
            kubeconfig=pulumi.Output.secret(kubeconfig) if kubeconfig else None,
            context=inputs.stack.settings.kubernetes.context,
            opts=pulumi.ResourceOptions(parent=self),
        )
        cloudflare = None
        if declaration.cloudflare_account is not None:
            cloudflare = CloudflareAccount(self._cloudflare_provider(inputs), declaration.cloudflare_account)
        creator = ResourceCreator(provider, cloudflare)
        for declared in declaration.platform:
            creator.create(declared, parent=self)
        urls = {}
        for instance in declaration.apps:
            app = MinnovaApp(instance, creator, opts=pulumi.ResourceOptions(parent=self, providers=[provider]))
            urls[instance.component] = app.url
        self.urls = pulumi.Output.all(**urls) if urls else pulumi.Output.from_input({})
        self.host_aliases = declaration.host_aliases  # component -> its other hosts' URLs (none: not exported)
        self.guarded = {output: pulumi.Output.from_input(value)
                        for output, value in declaration.guarded_outputs.items()}
        # Internal services and who may call them (ADR 0016): the internalServices output, `plan --json`.
        self.internal_services = pulumi.Output.from_input(declaration.internal_services)
        self.register_outputs({"urls": self.urls, **self.guarded})

    def _cloudflare_provider(self, inputs: ProgramInputs) -> pulumi.ProviderResource:
        import pulumi_cloudflare as cloudflare  # large (seconds to import): only for stacks that use Cloudflare

        token = inputs.stack.secrets.cloudflare_api_token
        return cloudflare.Provider(
            CLOUDFLARE_PROVIDER_NAME,
            api_token=pulumi.Output.secret(token) if token else None,
            opts=pulumi.ResourceOptions(parent=self),
        )
