"""MinnovaApp: one app in one environment, as Kubernetes resources rendered by minnova_idp.renderer."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from minnova_idp.models import AppConfig
from minnova_idp.renderer import Placement, RenderSettings, render_app, url

from . import kubernetes_objects

TYPE = "minnova:index:MinnovaApp"


@dataclass(frozen=True)
class MinnovaAppArgs:
    app: AppConfig
    placement: Placement
    settings: RenderSettings


class MinnovaApp(pulumi.ComponentResource):
    url: pulumi.Output[str]
    namespace: pulumi.Output[str]

    def __init__(self, name: str, args: MinnovaAppArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE, name, None, opts)
        manifests = render_app(args.app, args.placement, args.settings)
        namespace_manifest, *namespaced = manifests
        namespace = kubernetes_objects.create(name, namespace_manifest, pulumi.ResourceOptions(parent=self))
        # The rendered objects already carry their namespace name; depends_on orders creation
        # after the Namespace (and deletion before it) without rewriting what was rendered.
        for manifest in namespaced:
            kubernetes_objects.create(name, manifest, pulumi.ResourceOptions(parent=self, depends_on=[namespace]))

        self.url = pulumi.Output.from_input(url(args.placement))
        self.namespace = pulumi.Output.from_input(args.placement.namespace)
        self.register_outputs({"url": self.url, "namespace": self.namespace})
