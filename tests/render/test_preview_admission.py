"""The cluster holds a preview's Ingress to its own host (render/preview_admission.py), whatever renders it.

The CEL rules are evaluated with cel-python (a CEL implementation; the API server uses cel-go with Kubernetes'
extension libraries), on the Ingress render-preview makes and on Ingresses a reopened render path could make."""

from __future__ import annotations

import copy
import re

import pytest

from minnova_idp.render import preview_admission
from minnova_idp.render.argocd import preview_namespace_globs
from tests.support.k8s_strict import validate_objects

celpy = pytest.importorskip("celpy", reason="cel-python evaluates the policy's CEL rules (pip install cel-python)")

DOMAIN, CLASS = "preview.minnova.io", "traefik"
OWN = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
       "metadata": {"name": "oracle", "namespace": "oracle-pr-12",
                    "annotations": {"argocd.argoproj.io/tracking-id": "oracle-pr-12:networking.k8s.io/Ingress:x"}},
       "spec": {"ingressClassName": CLASS,
                "rules": [{"host": f"oracle-pr-12.{DOMAIN}", "http": {"paths": [{"path": "/", "pathType": "Prefix",
                           "backend": {"service": {"name": "oracle", "port": {"number": 80}}}}]}}],
                "tls": [{"hosts": [f"oracle-pr-12.{DOMAIN}"]}]}}


def refusals(ingress: dict, namespace: str = "oracle-pr-12", policies=None) -> list[str]:
    environment = celpy.Environment()
    activation = {"object": celpy.json_to_cel(ingress), "request": celpy.json_to_cel({"namespace": namespace})}
    policy, _ = policies or preview_admission.render_policy(DOMAIN, CLASS, {})
    (condition,) = policy["spec"]["matchConditions"]
    matched = environment.program(environment.compile(condition["expression"])).evaluate(activation)
    if not matched:
        return ["not a preview namespace"]
    results = {rule["message"]: environment.program(environment.compile(rule["expression"])).evaluate(activation)
               for rule in policy["spec"]["validations"]}
    # A rule admits only with a boolean true (an error or a non-boolean refuses, as failurePolicy Fail does).
    return [message for message, result in results.items()
            if not (isinstance(result, celpy.celtypes.BoolType) and bool(result))]


def changed(path: str, value) -> dict:
    ingress = copy.deepcopy(OWN)
    *parents, last = path.split(".")
    node = ingress
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    if value is None:
        del node[last]
    else:
        node[last] = value
    return ingress


def test_render_previews_own_ingress_is_admitted():
    assert refusals(OWN) == []
    applied = changed("metadata.annotations", {"kubectl.kubernetes.io/last-applied-configuration": "{}",
                                               "argocd.argoproj.io/sync-wave": "0"})
    assert refusals(applied) == []


@pytest.mark.parametrize("ingress, message", [
    (changed("spec.rules.0.host", "oracle.minnova.io"), "serves only"),  # the app's production host
    (changed("spec.rules.0.host", f"shop-pr-3.{DOMAIN}"), "serves only"),  # another preview
    (changed("spec.rules.0.host", None), "serves only"),  # a rule without host catches every host
    (changed("spec.rules", None), "serves only"),
    (changed("spec.defaultBackend", {"service": {"name": "oracle", "port": {"number": 80}}}), "default backend"),
    (changed("spec.tls.0.hosts", ["argocd.minnova.io"]), "TLS names only"),
    # rv25 review: these were admitted.
    (changed("spec.tls", [{"secretName": "forged-cert-for-oracle-prod"}]), "TLS names only"),  # no hosts: any host
    (changed("spec.tls.0.hosts", []), "TLS names only"),
    (changed("spec.tls.0.secretName", "oracle-tls"), "names no TLS secret"),
    (changed("spec.rules.0.http.paths.0.backend", {"resource": {"apiGroup": "x.io", "kind": "Thing", "name": "y"}}),
     "only to a Service"),
    (changed("spec.ingressClassName", "nginx-internal"), "IngressClass"),
    (changed("spec.ingressClassName", None), "IngressClass"),
    (changed("metadata.annotations", {"nginx.ingress.kubernetes.io/server-alias": "oracle.minnova.io"}), "annotation"),
])
def test_an_ingress_for_any_other_host_is_refused_in_a_preview_namespace(ingress, message):
    assert any(message in refusal for refusal in refusals(ingress)), refusals(ingress)


def test_only_preview_namespaces_are_matched():
    hostile = changed("spec.rules.0.host", "oracle.minnova.io")
    assert refusals(hostile, "oracle-prod") == ["not a preview namespace"]
    assert refusals(hostile, "argocd") == ["not a preview namespace"]
    # Every namespace a preview AppProject may deploy to is matched (the project's globs, 1 to 7 digits).
    for glob in preview_namespace_globs("oracle"):
        namespace = glob.replace("[0-9]", "1")
        assert re.match(preview_admission.PREVIEW_NAMESPACE_REGEX, namespace), namespace
        assert refusals(hostile, namespace) != ["not a preview namespace"]


def test_the_policy_and_binding_are_valid_objects():
    validate_objects(preview_admission.render_policy(DOMAIN, CLASS, {"app.kubernetes.io/managed-by": "minnova-idp"}))


def test_a_stack_with_previews_creates_the_policy_before_any_applicationset(dev_plan):
    from tests.conftest import resource_named

    policy = resource_named(dev_plan, "platform-validatingadmissionpolicy-minnova-preview-ingress-hosts")
    binding = resource_named(dev_plan, "platform-validatingadmissionpolicybinding-minnova-preview-ingress-hosts")
    assert "'.preview.minnova.io'" in policy.inputs["spec"]["validations"][2]["expression"]
    services = resource_named(dev_plan, "platform-validatingadmissionpolicy-minnova-preview-services")
    services_binding = resource_named(dev_plan, "platform-validatingadmissionpolicybinding-minnova-preview-services")
    appset = resource_named(dev_plan, "platform-applicationset-oracle-previews")
    assert {policy.urn, binding.urn, services.urn, services_binding.urn} <= set(appset.dependencies)


SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "oracle", "namespace": "oracle-pr-12"},
           "spec": {"type": "ClusterIP", "selector": {"app.kubernetes.io/name": "oracle"},
                    "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]}}


def service_refusals(service: dict, namespace: str = "oracle-pr-12") -> list[str]:
    return refusals(service, namespace, preview_admission.render_service_policy({}))


def test_a_preview_service_is_cluster_ip_only():
    """rv25 review: nothing stopped a preview's LoadBalancer, NodePort, ExternalName or externalIPs Service (the
    preview's ResourceQuota counts LoadBalancers and NodePorts, not ExternalName or externalIPs)."""
    assert service_refusals(SERVICE) == []
    assert service_refusals({**SERVICE, "spec": {k: v for k, v in SERVICE["spec"].items() if k != "type"}}) == []
    for spec, message in [({"type": "LoadBalancer"}, "is ClusterIP"), ({"type": "NodePort"}, "is ClusterIP"),
                          ({"type": "ExternalName", "externalName": "oracle.oracle-prod.svc.cluster.local"},
                           "is ClusterIP"), ({"externalIPs": ["10.0.0.5"]}, "no externalIPs")]:
        hostile = {**SERVICE, "spec": {**SERVICE["spec"], **spec}}
        assert any(message in refusal for refusal in service_refusals(hostile)), spec
        assert service_refusals(hostile, "oracle-prod") == ["not a preview namespace"]


def test_every_service_and_ingress_render_preview_makes_is_admitted():
    """The real renderer's objects pass both policies (a policy that refused them would stop every preview)."""
    from tests.render.test_preview import EXAMPLE, _render

    objects = _render(EXAMPLE)
    services = [o for o in objects if o["kind"] == "Service"]
    ingresses = [o for o in objects if o["kind"] == "Ingress"]
    assert services and ingresses
    for service in services:
        assert service_refusals(service, service["metadata"]["namespace"]) == []
    for ingress in ingresses:
        # The preview domain of that render (tests/render/test_preview.py REQUEST).
        policies = preview_admission.render_policy("preview.io", "traefik", {})
        assert refusals(ingress, ingress["metadata"]["namespace"], policies) == [], ingress


def test_the_service_policy_and_binding_are_valid_objects():
    validate_objects(preview_admission.render_service_policy({"app.kubernetes.io/managed-by": "minnova-idp"}))
