"""Hosts: inside the stack's zone, never the platform's, and only those an app's registry entry allows."""

from __future__ import annotations

from minnova_idp.model.errors import Problem
from minnova_idp.model.fields import host_matches
from minnova_idp.model.host_aliases import host_locations
from minnova_idp.model.inputs import ProgramInputs
from minnova_idp.model.loaded import LoadedApp
from minnova_idp.render.tls import ACME_SERVERS, in_zone


def dns_problems(inputs: ProgramInputs) -> list[Problem]:
    """Hosts must be in the stack's zone (baseDomain): records are made there, certificates issued for it."""
    settings = inputs.stack.settings
    zone = settings.base_domain
    problems = []
    for app, environment, host, field in _hosts(inputs):
        if not in_zone(host, zone):
            problems.append(Problem(app.config_file, field,
                                    f"'{host}' is outside this stack's zone {zone}",
                                    hint=f"use a host ending in .{zone}"))
        elif settings.dns_proxied and host.count(".") > zone.count(".") + 1:
            problems.append(Problem(app.config_file, field,
                                    f"'{host}' is proxied through Cloudflare (minnova:dnsProxied), whose edge "
                                    f"certificate covers only one level below {zone}",
                                    hint=f"use a host like {app.name}.{zone}, or turn minnova:dnsProxied off"))
    problems += host_ownership_problems(inputs) + reserved_name_problems(inputs) + redirect_problems(inputs)
    if settings.preview_domain and not in_zone(settings.preview_domain, zone):
        problems.append(Problem(inputs.stack.file, "minnova:previewDomain",
                                f"'{settings.preview_domain}' is outside this stack's zone {zone}"))
    if settings.cloudflare is not None and settings.cluster_issuer not in ACME_SERVERS:
        problems.append(Problem(inputs.stack.file, "minnova:clusterIssuer",
                                f"'{settings.cluster_issuer}' is not an issuer this stack creates",
                                hint=f"one of: {', '.join(ACME_SERVERS)}"))
    return problems


# The IngressClass that says the stack's controller is Traefik (the Traefik chart's default IngressClass name): a
# redirecting alias is a Traefik Middleware (render/host_aliases.py), which no other controller reads (ADR 0015).
TRAEFIK_INGRESS_CLASS = "traefik"


def redirect_problems(inputs: ProgramInputs) -> list[Problem]:
    """`redirect: true` only where the stack says its controller is Traefik: elsewhere the redirect Ingress would
    route the alias to nothing useful. The app's own problem (its file), so only that app is kept back."""
    settings = inputs.stack.settings
    if settings.ingress_class == TRAEFIK_INGRESS_CLASS:
        return []
    return [Problem(app.config_file, f"environments.{environment}.aliases[{index}].redirect",
                    f"'{alias.host}' redirects, which needs Traefik, but the stack file {inputs.stack.file} sets "
                    f"minnova:ingressClass: {settings.ingress_class} (redirects are Traefik Middlewares, ADR 0015)",
                    hint=f"use `redirect: false` (the alias serves the app), or ask the platform team to run "
                         f"Traefik with minnova:ingressClass: {TRAEFIK_INGRESS_CLASS}")
            for app, environment in inputs.deployed()
            for index, alias in enumerate(app.config.environments[environment].aliases) if alias.redirect]


def _hosts(inputs: ProgramInputs) -> list[tuple[LoadedApp, str, str, str]]:
    """(app, environment, host, field) of every host the stack deploys: each environment's host and its aliases,
    every one checked alike (an alias is a host like any other: a record, a certificate, an app's traffic)."""
    return [(app, environment, host, field) for app, environment in inputs.deployed()
            for host, field in host_locations(environment, app.config.environments[environment])]


def default_host_patterns(app: str, zone: str, environments: tuple[str, ...] | list[str] = ()) -> list[str]:
    """What an app may use unless its registry entry lists `hosts`: its own name below the zone, below each of the
    stack's environments, and everything below its own name. Never `<app>.*.<zone>`: with another app named `b`,
    `<app>.b.<zone>` would be under `*.b.<zone>` too, and the first to claim it would win; and reserved_name_problems
    keeps apps from being named like an environment."""
    return [f"{app}.{zone}", *(f"{app}.{environment}.{zone}" for environment in environments), f"*.{app}.{zone}"]


def host_ownership_problems(inputs: ProgramInputs) -> list[Problem]:
    """An app's hosts are the ones its registry entry (reviewed by the platform team) lets it use, and never the
    platform's: each gets a certificate through the stack's DNS-01 token and a record beside the others."""
    settings = inputs.stack.settings
    zone, file = settings.base_domain, inputs.stack.file
    platform = [(zone, "the zone apex (minnova:baseDomain)")]
    if settings.previews is not None and settings.previews.webhook_host:
        platform.append((settings.previews.webhook_host, "the Argo CD webhook host (minnova:previews.webhookHost)"))
    problems = []
    for app, _, host, field in _hosts(inputs):
        if not in_zone(host, zone):
            continue  # reported as outside the zone
        taken = [owner for reserved, owner in platform if host == reserved]
        if settings.preview_domain and in_zone(host, settings.preview_domain):
            taken.append(f"in the preview domain (minnova:previewDomain {settings.preview_domain}), where pull "
                         "requests get their hosts")
        taken += [f"reserved ({file}: minnova:reservedHosts {pattern})" for pattern in settings.reserved_hosts
                  if host_matches(pattern, host)]
        if taken:
            problems.append(Problem(app.config_file, field, f"'{host}' is {taken[0]}; apps cannot use it"))
            continue
        allowed = app.entry.hosts or default_host_patterns(app.name, zone, settings.environments)
        if not any(host_matches(pattern, host) for pattern in allowed):
            source = "its registry entry's `hosts`" if app.entry.hosts else "the default for its name"
            problems.append(Problem(app.config_file, field, f"'{host}' is not a host app '{app.name}' may use "
                                    f"({source}: {', '.join(allowed)})",
                                    hint=f"the platform team adds it to `hosts` in {settings.registry_dir}/"
                                         f"{app.name}.yaml"))
    return problems


def reserved_labels(inputs: ProgramInputs) -> dict[str, str]:
    """Labels the platform uses in this stack's host names, each with what uses it: an app named like one would, by
    its default host patterns (`*.<name>.<zone>`), cover hosts that are not its own."""
    settings = inputs.stack.settings
    zone = settings.base_domain
    found = {environment: f"environment {environment}" for environment in settings.environments}
    found["argocd"] = "Argo CD"
    for host, what in ((settings.preview_domain, "minnova:previewDomain"),
                       (settings.previews.webhook_host if settings.previews else None, "minnova:previews.webhookHost")):
        if host and in_zone(host, zone):
            for label in host.removesuffix("." + zone).split("."):
                found.setdefault(label, f"{what} {host}")
    return found


def reserved_name_problems(inputs: ProgramInputs) -> list[Problem]:
    """An app whose registry entry lists no `hosts` gets `<name>.<zone>`, `<name>.<env>.<zone>` and `*.<name>.<zone>`:
    named like a label the platform uses (an environment, the preview domain, Argo CD), those patterns reach
    other apps' and the platform's hosts (`*.dev.<zone>`)."""
    reserved = reserved_labels(inputs)
    return [Problem(f"{inputs.stack.settings.registry_dir}/{app.name}.yaml", "name",
                    f"'{app.name}' is a label this stack's hosts use ({reserved[app.name]}): its default hosts "
                    f"(*.{app.name}.{inputs.stack.settings.base_domain}) would cover hosts that are not its own",
                    hint="rename the app, or list the hosts it may use in its registry entry (`hosts`)")
            for app in inputs.apps if not app.entry.hosts and app.name in reserved]
