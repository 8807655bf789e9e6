"""What the cluster itself enforces on previews' Ingresses and Services: ValidatingAdmissionPolicies
(admissionregistration.k8s.io/v1, GA since Kubernetes 1.30).

render-preview sets a preview's host to `<namespace>.<preview domain>` and nothing else renders a preview (the
`.git` source path closes Argo CD's `.argocd-source.yaml` merge), but an AppProject cannot restrict hosts. This
policy holds even if that path were reopened: in every namespace named like a preview (`<app>-pr-<number>`, the only
namespaces a preview AppProject may deploy to, argocd.preview_namespace_globs), an Ingress must
- use the platform's IngressClass,
- name only its own host, `<namespace>.<preview domain>`, in every rule and TLS entry (no rule without a host, no
  default backend: either would catch other hosts' traffic; no TLS entry without hosts, which would apply its
  certificate to any host),
- name no TLS secret: previews are served by the wildcard certificate, the ingress controller's default
  (tls.render_preview_certificate), so a `secretName` could only bring a certificate the pull request chose,
- send traffic only to a Service of its own namespace (`backend.service`), never a `backend.resource` (whatever
  the controller makes of another kind of object),
- carry no annotation but Argo CD's own (`argocd.argoproj.io/`, and kubectl's last-applied record): controller
  annotations such as ingress-nginx's
  `server-alias` add hosts.
And a Service there is ClusterIP without external IPs (SERVICE_POLICY_NAME): no LoadBalancer or NodePort (reachable
from outside the cluster, around the Ingress), no ExternalName (a name in the preview that points at another
app's or the platform's Service), no `externalIPs` (traffic to any address captured by kube-proxy).
Pure: the manifests; the Platform creates them (render/declaration.py).
"""

from __future__ import annotations

from typing import Any

from minnova_idp.model import names

POLICY_NAME = "minnova-preview-ingress-hosts"
# Every preview namespace and nothing else the platform makes: `<app>-pr-<1 to 7 digits>` (names.preview_namespace).
PREVIEW_NAMESPACE_REGEX = rf"^[a-z0-9]([-a-z0-9]*[a-z0-9])?-pr-[1-9][0-9]{{0,{names.MAX_PR_NUMBER_DIGITS - 1}}}$"


def validations(preview_domain: str, ingress_class: str) -> list[dict[str, str]]:
    """CEL rules (k8s.io/apiserver's CEL environment: `object`, `request`; has(), all(), startsWith())."""
    own = f"request.namespace + '.{preview_domain}'"
    return [
        {"expression": f"has(object.spec.ingressClassName) && object.spec.ingressClassName == '{ingress_class}'",
         "message": f"a preview Ingress uses the IngressClass {ingress_class}"},
        {"expression": "!has(object.spec.defaultBackend)",
         "message": "a preview Ingress has no default backend (it would serve other hosts)"},
        {"expression": f"has(object.spec.rules) && object.spec.rules.all(rule, has(rule.host) && rule.host == {own})",
         "message": f"a preview Ingress serves only <namespace>.{preview_domain}"},
        {"expression": f"!has(object.spec.tls) || object.spec.tls.all(t, has(t.hosts) && size(t.hosts) > 0 && "
                       f"t.hosts.all(h, h == {own}))",
         "message": f"a preview Ingress's TLS names only <namespace>.{preview_domain}"},
        {"expression": "!has(object.spec.tls) || object.spec.tls.all(t, !has(t.secretName))",
         "message": "a preview Ingress names no TLS secret (the wildcard certificate serves previews)"},
        {"expression": "!has(object.spec.rules) || object.spec.rules.all(rule, !has(rule.http) || "
                       "rule.http.paths.all(p, has(p.backend.service) && !has(p.backend.resource)))",
         "message": "a preview Ingress sends traffic only to a Service (backend.service)"},
        # Client-side apply's record of the object cannot add a host; Argo CD's tracking annotation neither.
        {"expression": "!has(object.metadata.annotations) || object.metadata.annotations.all(key, "
                       "key.startsWith('argocd.argoproj.io/') || key == 'kubectl.kubernetes.io/last-applied-configuration')",
         "message": "a preview Ingress carries no annotation but Argo CD's (controller annotations can add hosts)"},
    ]


SERVICE_POLICY_NAME = "minnova-preview-services"
SERVICE_VALIDATIONS = [
    # Admission sees the defaulted object (spec.type ClusterIP when not given); absent is accepted all the same.
    {"expression": "!has(object.spec.type) || object.spec.type == 'ClusterIP'",
     "message": "a preview Service is ClusterIP (no LoadBalancer, NodePort or ExternalName)"},
    {"expression": "!has(object.spec.externalIPs) || size(object.spec.externalIPs) == 0",
     "message": "a preview Service has no externalIPs"},
]


def _policy(name: str, resource_rule: dict[str, Any], rules: list[dict[str, str]],
            labels: dict[str, str]) -> list[dict[str, Any]]:
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [{**resource_rule, "operations": ["CREATE", "UPDATE"]}]},
            "matchConditions": [{"name": "preview-namespaces",
                                 "expression": f"request.namespace.matches('{PREVIEW_NAMESPACE_REGEX}')"}],
            "validations": rules,
        },
    }
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name, "labels": labels},
        "spec": {"policyName": name, "validationActions": ["Deny"]},
    }
    return [policy, binding]


def render_policy(preview_domain: str, ingress_class: str, labels: dict[str, str]) -> list[dict[str, Any]]:
    """The Ingress policy and its binding."""
    return _policy(POLICY_NAME, {"apiGroups": ["networking.k8s.io"], "apiVersions": ["*"], "resources": ["ingresses"]},
                   validations(preview_domain, ingress_class), labels)


def render_service_policy(labels: dict[str, str]) -> list[dict[str, Any]]:
    """The Service policy and its binding."""
    return _policy(SERVICE_POLICY_NAME, {"apiGroups": [""], "apiVersions": ["*"], "resources": ["services"]},
                   SERVICE_VALIDATIONS, labels)
