"""Internal services and the app-to-app paths the registry opens to them (ADR 0016, docs/internal-services.md).

A process with a `port` serves on a ClusterIP Service `<app>-<process>` in its namespace: never an Ingress, a DNS
record or a certificate. Other apps reach it only where the callee's registry entry names them in `allowFrom`, and
only environment to same-named environment: the callee's namespace gets an ingress NetworkPolicy per (caller,
process) letting the caller's app pods in on that port, the caller's namespace an egress NetworkPolicy letting its
app pods out to exactly those pods on those ports, and the caller's processes get `<CALLEE>_<PROCESS>_URL`.
Previews get none of this (their placement carries no access). Everything else between app namespaces stays as
isolation.py makes it: NetworkPolicies only add up.

Semantics relied on (kubernetes/api@v0.33.13 networking/v1/types.go): policies selecting the same pod combine
additively (62-68: "the ingress rules for each are combined additively"; 70-91: traffic is allowed "if the
traffic matches at least one ingress [egress] rule across all of the NetworkPolicy objects whose podSelector
matches the pod"); a peer with both namespaceSelector and podSelector selects those pods in those namespaces only
(190-209); a rule must match both its ports and its peers (107-150); `port` is the port on the pod (152-164),
which is why each Service's targetPort is the container's own port. Pure: no Pulumi.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from minnova_idp.model import names
from minnova_idp.model.app_config import AppConfig

if TYPE_CHECKING:  # the preview renderer imports this module and loads no registry (test_preview_plugin.py)
    from minnova_idp.model.registry import AllowedCaller, RegistryEntry

    CallerIndex = dict[str, list[tuple[AppConfig, AllowedCaller]]]

Manifest = dict[str, Any]
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"  # set by Kubernetes on every namespace (1.21+)
APP_NAME_LABEL = "app.kubernetes.io/name"  # every pod running an app's code carries its name (app.app_code_pods)


def internal_ports(config: AppConfig) -> dict[str, int]:
    """The app's internal services: process -> the port it serves on."""
    return {name: process.port for name, process in config.processes.items() if process.port is not None}


@dataclass(frozen=True)
class InternalService:
    """One process of one app environment serving on a port, as a caller sees it."""

    app: str
    process: str
    namespace: str
    port: int

    @property
    def service(self) -> str:
        return names.process(self.app, self.process)

    @property
    def host(self) -> str:
        # `<service>.<namespace>.svc`: resolved through the pod's search list, whose last cluster entry is the cluster
        # domain itself (kubelet: searches are `<ns>.svc.<domain> svc.<domain> <domain>`, kubernetes/kubernetes
        # pkg/kubelet/network/dns/dns.go generateSearchesForDNSClusterFirst), so it works whatever the cluster
        # domain is, where a spelled-out `.svc.cluster.local` would not.
        return f"{self.service}.{self.namespace}.svc"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def env_name(self) -> str:
        return f"{self.app}_{self.process}_URL".upper().replace("-", "_")

    @property
    def pods(self) -> dict[str, str]:
        """The process's pods: app.process_selector for the callee's namespace (a test holds them equal)."""
        return {APP_NAME_LABEL: self.app, "app.kubernetes.io/instance": f"{self.namespace}-{self.process}"}


@dataclass(frozen=True)
class Grant:
    """A path the callee's registry entry opens into one of its namespaces: `caller`'s app pods in
    `caller_namespace` to `process`'s pods on `port`."""

    caller: str
    caller_namespace: str
    process: str
    port: int


@dataclass(frozen=True)
class InternalAccess:
    """What one app environment opens (grants, in its namespace) and may call (calls, in other apps')."""

    grants: tuple[Grant, ...] = ()
    calls: tuple[InternalService, ...] = ()


def caller_index(apps: Sequence[tuple[RegistryEntry, AppConfig]]) -> CallerIndex:
    """caller -> every (callee config, its allowFrom item naming the caller), callees in name order: built once per
    stack, so finding an app's calls costs what it calls, not the size of the registry."""
    index: CallerIndex = {}
    for entry, config in sorted(apps, key=lambda pair: pair[1].name):
        for caller in entry.allowed_callers():
            if caller.app != config.name:
                index.setdefault(caller.app, []).append((config, caller))
    return index


def access_for(app: str, environment: str, apps: Sequence[tuple[RegistryEntry, AppConfig]],
               index: CallerIndex | None = None) -> InternalAccess:
    """`app`'s access in `environment`, among `apps` (every app the stack declares: loaded, or kept at its last good
    config; `index`: their caller_index, when it is built once for many calls). Its grants depend on its own registry
    entry and config only, so another app's broken config never changes its objects; its calls exist only where the
    callee is declared with that environment, so a callee that is left out (never deployed, config broken) is simply
    not called (docs/isolation.md)."""
    entry, config = next((entry, config) for entry, config in apps if config.name == app)
    ports = internal_ports(config)
    grants = tuple(Grant(caller.app, names.namespace(caller.app, environment), process, port)
                   for caller in sorted(entry.allowed_callers(), key=lambda c: c.app)
                   for process, port in sorted(ports.items()) if caller.allows(process))
    calls = tuple(InternalService(callee.name, process, names.namespace(callee.name, environment), port)
                  for callee, caller in (index if index is not None else caller_index(apps)).get(app, [])
                  if environment in callee.environments
                  for process, port in sorted(internal_ports(callee).items()) if caller.allows(process))
    return InternalAccess(grants=grants, calls=calls)


def url_env(access: InternalAccess | None, own_env: Iterable[str]) -> list[dict[str, str]]:
    """`<CALLEE>_<PROCESS>_URL` for each service the app may call, except where the app sets that name itself, in its
    app.yaml `env` or its secrets file (`own_env`): its own value wins. An `env` entry would beat the secret's
    `envFrom` (kubernetes/api@v0.33.13 core/v1/types.go:2811: "Values defined by an Env with a duplicate key will
    take precedence"), silently replacing the app's secret; so it is left out, and `described` says so. Two callees
    never spell the same name: policy/internal_names.py refuses that before anything is declared."""
    if access is None:
        return []
    taken = set(own_env)
    env = []
    for service in access.calls:
        if service.env_name not in taken:  # once each, should a caller of render/ skip that policy check
            taken.add(service.env_name)
            env.append({"name": service.env_name, "value": service.url})
    return env


def ingress_policy_name(caller: str, process: str) -> str:
    """`allow.<caller>.<process>`: unambiguous, as app and process names hold no dot (a NetworkPolicy name is a DNS
    subdomain, dots allowed). `allow-<caller>-to-<process>` was not: caller `a-to-b` with process `c` and caller `a`
    with process `b-to-c` made one name, two resources of one URN, and pulumi refused the whole update."""
    return f"allow.{caller}.{process}"


def egress_policy_name(callee: str) -> str:
    """`allow-to.<callee>`: its first label differs from every ingress policy's (`allow`) and every other policy's
    (no dot), so one namespace's policies never share a name (`allow-to-<callee>` was `allow-<caller>-to-<process>`
    for caller `to`)."""
    return f"allow-to.{callee}"


def ingress_policies(namespace: str, labels: dict[str, str], app: str, access: InternalAccess | None
                     ) -> list[Manifest]:
    """In the callee's namespace: per (caller, process), the caller's app pods in the caller's namespace to that
    process's pods on its port. One policy per process, so a caller never reaches one process on another's port."""
    if access is None:
        return []
    return [{
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": ingress_policy_name(grant.caller, grant.process), "namespace": namespace,
                     "labels": labels},
        "spec": {
            "podSelector": {"matchLabels": InternalService(app, grant.process, namespace, grant.port).pods},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: grant.caller_namespace}},
                                   "podSelector": {"matchLabels": {APP_NAME_LABEL: grant.caller}}}],
                         "ports": [{"protocol": "TCP", "port": grant.port}]}],
        },
    } for grant in access.grants]


def egress_policies(namespace: str, labels: dict[str, str], app: str, access: InternalAccess | None
                    ) -> list[Manifest]:
    """In the caller's namespace: per callee, the app's pods out to exactly the callee's allowed processes' pods on
    their ports. The app's egress policy (isolation.egress_policy) keeps refusing every other private address."""
    if access is None or not access.calls:
        return []
    by_callee: dict[str, list[InternalService]] = {}
    for service in access.calls:
        by_callee.setdefault(service.app, []).append(service)
    return [{
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": egress_policy_name(callee), "namespace": namespace, "labels": labels},
        "spec": {
            "podSelector": {"matchLabels": {APP_NAME_LABEL: app}},
            "policyTypes": ["Egress"],
            "egress": [{"to": [{"namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: service.namespace}},
                                "podSelector": {"matchLabels": service.pods}}],
                        "ports": [{"protocol": "TCP", "port": service.port}]} for service in services],
        },
    } for callee, services in sorted(by_callee.items())]


def described(app: str, namespace: str, config: AppConfig, access: InternalAccess | None,
              own_env: Iterable[str] = ()) -> dict[str, Any]:
    """What `status --json` and the `internalServices` stack output show of one app environment: its internal
    services (URL, port, who may call each), the services it may call and, when the app sets a variable itself
    (`own_env`: its env and secret names), `notInjected`: the variables left to the app's own value."""
    grants = access.grants if access is not None else ()
    calls = access.calls if access is not None else ()
    own = set(own_env)
    shown: dict[str, Any] = {
        "services": {process: {"url": InternalService(app, process, namespace, port).url, "port": port,
                               "allowFrom": sorted(g.caller for g in grants if g.process == process)}
                     for process, port in sorted(internal_ports(config).items())},
        "calls": {service.env_name: service.url for service in calls},
    }
    not_injected = sorted(service.env_name for service in calls if service.env_name in own)
    if not_injected:
        shown["notInjected"] = not_injected
    return shown


def own_env_names(env: Iterable[str], secret_names: Iterable[str]) -> set[str]:
    """The variable names an app environment sets itself: app.yaml `env` and its secrets file's keys."""
    return {*env, *secret_names}
