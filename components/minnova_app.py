"""MinnovaApp: one app in one environment, created from the core's AppInstance.

What the app consists of, what waits for what and what is protected or retained are decided
in minnova_idp/render/app.py (app_objects); this component only creates it, in order.
"""

from __future__ import annotations

import pulumi

from components.creator import ResourceCreator
from minnova_idp.render.declaration import AppInstance

TYPE = "minnova:index:MinnovaApp"


class MinnovaApp(pulumi.ComponentResource):
    url: pulumi.Output[str]
    namespace: pulumi.Output[str]

    def __init__(self, instance: AppInstance, creator: ResourceCreator, opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE, instance.component, None, opts)
        for declared in instance.resources:
            creator.create(declared, parent=self)
        self.url = pulumi.Output.from_input(instance.url)
        self.namespace = pulumi.Output.from_input(instance.placement.namespace)
        self.register_outputs({"url": self.url, "namespace": self.namespace})
