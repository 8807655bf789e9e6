"""Everything a stack declares resources from, loaded and checked: all or nothing.

Loading comes first and is all-or-nothing: a problem anywhere stops the run before
a single resource is registered (see loader.py for why). Every check across apps,
environments and the stack's settings lives here; the Pulumi shell only creates.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

from . import gitrules, names
from .argocd import PreviewApp
from .drill import CHECK_FILE, MAX_CHECK_BYTES
from .origin import read_mask
from .seed import read_seed
from .errors import ConfigError, Problem, raise_if_any
from .fields import host_matches
from .gitsource import GitAuth
from .loader import LoadedApp, load_apps
from .quantity import parse_quantity
from .secrets import (SecretValues, app_key, key_problems, load_secret_values, loaded_app_secrets_problems,
                      read_secrets_file, secrets_file)
from .stackconfig import StackConfig, parse_stack_config
from .tls import ACME_SERVERS, in_zone
from .yamlsafe import read_text_file

STOP_HEADER = "Minnova IDP stopped before registering any resource (so nothing is deleted):"
DATABASE_SIZES_OUTPUT = "databaseSizes"
DATABASE_CLUSTERS_OUTPUT = "databaseClusters"
REDIS_SIZES_OUTPUT = "redisSizes"  # component -> the size of its Valkey volume, as declared last
IMAGE_TAGS_OUTPUT = "imageTags"  # component -> the tags it deployed, newest first (rollbacks)
IMAGE_TAG_HISTORY = 5


@dataclass(frozen=True)
class ProgramInputs:
    """Everything the program declares resources from, validated; the Platform's args."""

    stack: StackConfig
    apps: list[LoadedApp]
    secrets: dict[tuple[str, str], SecretValues] = field(default_factory=dict)  # (app, environment)
    restore_checks: dict[str, str] = field(default_factory=dict)  # app -> its .minnova/restore-check.sql
    seeds: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)  # app -> its seed files
    masks: dict[str, str] = field(default_factory=dict)  # app -> its .minnova/seed/mask.sql (preview copies)
    kept_tags: dict[str, str] = field(default_factory=dict)  # component -> the tag the image gate kept

    def deployed(self) -> list[tuple[LoadedApp, str]]:
        """(app, environment) pairs this stack deploys."""
        return [(app, env) for app in self.apps for env in self.stack.settings.environments
                if env in app.config.environments]

    def image_tag(self, app: LoadedApp, environment: str) -> tuple[str | None, str]:
        """The tag an app environment deploys, and why: the image gate's kept tag (the new image is not built yet),
        else a rollback pin (minnova:imagePins), else app.yaml."""
        kept = self.kept_tags.get(names.component_name(app.name, environment))
        if kept:
            return kept, "kept: new image not built yet (minnova:imageGate)"
        pinned = self.stack.settings.image_pins.get(app.name, {}).get(environment)
        if pinned:
            return pinned, "rollback pin (minnova:imagePins)"
        env = app.config.environments[environment]
        source = "imageTag" if env.image_tag else "image.tag" if app.config.image.tag else "commit"
        return app.image_tag(environment), source

    def environments_of(self, app: LoadedApp) -> tuple[str, ...]:
        """The environments of `app` this stack deploys, in the stack's order."""
        return tuple(env for env in self.stack.settings.environments if env in app.config.environments)


def load_inputs(project_dir: Path, raw: dict[str, str], secret_keys: set[str], file: str,
                cache_dir: Path | None = None, auth: GitAuth | None = None,
                identities: Sequence[Any] | None = None, progress=None) -> ProgramInputs:
    """`identities`: age identities to open secrets with instead of the stack's (the offline plan's --identity);
    `progress`: told of each app repository as its fetch ends (loader.load_apps)."""
    stack = parse_stack_config(raw, secret_keys, file)
    raise_if_any(key_problems(stack))
    inputs = ProgramInputs(stack=stack, apps=load_apps(project_dir, stack, cache_dir=cache_dir, auth=auth,
                                                       progress=progress))
    problems = (backup_problems(inputs) + _dns_problems(inputs) + _preview_problems(inputs) + quota_problems(inputs)
                + password_key_problems(inputs) + _origin_problems(inputs))
    problems.extend(loaded_app_secrets_problems(inputs.apps, stack))  # misnamed files: checked without keys
    secrets: dict[tuple[str, str], SecretValues] = {}
    for app, environment in inputs.deployed():
        content = read_secrets_file(app.directory, environment) if app.directory else None
        if content is None:
            continue
        try:
            secrets[(app.name, environment)] = load_secret_values(
                content, app.shown(secrets_file(environment)), app.name, environment,
                app_key(stack, app.name, environment), stack.file, identities,
                database=app.config.database.enabled, redis=app.config.redis.enabled)
        except ConfigError as exc:
            problems.extend(exc.problems)
    restore_checks = {}
    for app in inputs.apps:
        try:
            check = read_restore_check(app)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        if check is not None:
            restore_checks[app.name] = check
    seeds = {}
    for app in inputs.apps:
        seed = app.config.database.seed
        if seed is None or app.directory is None or not set(seed.environments) & set(inputs.environments_of(app)):
            continue  # seeded only where this stack creates a seeded environment's database
        try:
            seeds[app.name] = read_seed(app.config, app.directory, app.shown(""))
        except ConfigError as exc:
            problems.extend(exc.problems)
    masks = {}
    for app, _ in preview_origins(inputs):
        # From the registered branch, as the stack read it: what every preview copy of this app is masked with.
        if app.directory is None:
            problems.append(Problem(app.config_file, "preview.database", "the app's files were not read, so its "
                                    "mask.sql cannot be: previews would copy unmasked data"))
            continue
        try:
            masks[app.name] = read_mask(app.directory, app.shown(""))
        except ConfigError as exc:
            problems.extend(exc.problems)
    raise_if_any(problems)
    return replace(inputs, secrets=secrets, restore_checks=restore_checks, seeds=seeds, masks=masks)


def read_restore_check(app: LoadedApp) -> str | None:
    """The app's `.minnova/restore-check.sql`: UTF-8 text, a regular file, at most MAX_CHECK_BYTES."""
    if app.directory is None or not app.config.database.enabled:
        return None
    relative = names.APP_CONFIG.parent / CHECK_FILE
    return read_text_file(app.directory / relative, app.shown(relative), MAX_CHECK_BYTES, f"{MAX_CHECK_BYTES} bytes",
                          too_large_hint="a restore check is a few queries that prove the data is there",
                          empty_hint="remove it to run `select 1`")


def backup_problems(inputs: ProgramInputs) -> list[Problem]:
    cloudflare = inputs.stack.settings.cloudflare
    backed_up = [(app, env) for app, env in inputs.deployed() if app.config.database.enabled]
    if cloudflare is None:
        if not backed_up:
            return []
        return [Problem(inputs.stack.file, "minnova:cloudflare",
                        f"required: databases are backed up to Cloudflare R2 (apps with a database: "
                        f"{', '.join(sorted({app.name for app, _ in backed_up}))})",
                        hint="set minnova:cloudflare.accountId and .zoneId")]
    # Checked before anything is created: past the account's quota, `pulumi up` would fail half-way through.
    per_app = cloudflare.backup_tokens == "perApp"
    tokens = (1 + (len({app.name for app, _ in backed_up}) if per_app else len(backed_up))  # + cert-manager's
              + len(preview_origins(inputs)))  # + one read-only token per app whose previews copy an environment
    if tokens <= cloudflare.max_account_tokens:
        return []
    return [Problem(inputs.stack.file, "minnova:cloudflare.maxAccountTokens",
                    f"this stack would create {tokens} Cloudflare account API tokens (one per backed-up app "
                    f"{'' if per_app else 'environment '}and cert-manager's), more than the "
                    f"{cloudflare.max_account_tokens} it may create",
                    hint="set minnova:cloudflare.backupTokens to perApp (one token per app for all its buckets in "
                         "this stack)" if not per_app else
                    "ask Cloudflare to raise the account's token quota, then raise minnova:cloudflare.maxAccountTokens")]


def _dns_problems(inputs: ProgramInputs) -> list[Problem]:
    """Hosts must be in the stack's zone (baseDomain): records are made there, certificates issued for it."""
    settings = inputs.stack.settings
    zone = settings.base_domain
    problems = []
    for app, environment in inputs.deployed():
        host = app.config.environments[environment].host
        if not in_zone(host, zone):
            problems.append(Problem(app.config_file, f"environments.{environment}.host",
                                    f"'{host}' is outside this stack's zone {zone}",
                                    hint=f"use a host ending in .{zone}"))
        elif settings.dns_proxied and host.count(".") > zone.count(".") + 1:
            problems.append(Problem(app.config_file, f"environments.{environment}.host",
                                    f"'{host}' is proxied through Cloudflare (minnova:dnsProxied), whose edge "
                                    f"certificate covers only one level below {zone}",
                                    hint=f"use a host like {app.name}.{zone}, or turn minnova:dnsProxied off"))
    problems += host_ownership_problems(inputs)
    if settings.preview_domain and not in_zone(settings.preview_domain, zone):
        problems.append(Problem(inputs.stack.file, "minnova:previewDomain",
                                f"'{settings.preview_domain}' is outside this stack's zone {zone}"))
    if settings.cloudflare is not None and settings.cluster_issuer not in ACME_SERVERS:
        problems.append(Problem(inputs.stack.file, "minnova:clusterIssuer",
                                f"'{settings.cluster_issuer}' is not an issuer this stack creates",
                                hint=f"one of: {', '.join(ACME_SERVERS)}"))
    return problems


def requested_images(inputs: ProgramInputs) -> dict[str, tuple[str, str]]:
    """component -> (repository, tag) each app environment asks to deploy (before the image gate)."""
    return {names.component_name(app.name, environment): (app.config.image.repository,
                                                          inputs.image_tag(app, environment)[0])
            for app, environment in inputs.deployed()}


def image_tag_history(inputs: ProgramInputs, previous: dict[str, list[str]]) -> dict[str, list[str]]:
    """Each app environment's deployed tags, newest first: this run's, then what the stack recorded before."""
    history = {}
    for app, environment in inputs.deployed():
        component = names.component_name(app.name, environment)
        tag, _ = inputs.image_tag(app, environment)
        before = [t for t in previous.get(component, []) if isinstance(t, str) and t != tag]
        history[component] = [tag, *before][:IMAGE_TAG_HISTORY]
    return history


def quota_problems(inputs: ProgramInputs) -> list[Problem]:
    """What each app environment asks for must fit its namespace's quota, with room for a rollout's extra pod and a
    restore drill's extra database instance: pods over the quota are refused by Kubernetes at admission, long after
    `pulumi up` said yes."""
    from .renderer import DEFAULT_CONTAINER_REQUEST

    quota = inputs.stack.settings.namespace_quota
    if quota is None:
        return []
    problems = []
    default = {key: parse_quantity(value) for key, value in DEFAULT_CONTAINER_REQUEST.items()}
    for app, environment in inputs.deployed():
        config, env = app.config, app.config.environments[environment]
        requests = (env.resources or config.resources).requests
        web = (env.autoscale.max if env.autoscale else env.replicas) + 1
        need = {"cpu": web * _quantity_or(requests.cpu, default["cpu"]),
                "memory": web * _quantity_or(requests.memory, default["memory"]),
                "storage": parse_quantity("0"), "pods": web}
        for name, process in config.processes.items():  # workers, with a rollout's extra pod each
            count = (env.processes[name].replicas if name in env.processes else process.replicas) + 1
            wanted = (process.resources or env.resources or config.resources).requests
            need["cpu"] += count * _quantity_or(wanted.cpu, default["cpu"])
            need["memory"] += count * _quantity_or(wanted.memory, default["memory"])
            need["pods"] += count
        if config.database.enabled:
            instances = config.database_instances(environment) + 1  # the restore drill's
            settings = env.database
            if settings is not None and settings.restore is not None:
                instances += config.database_instances(environment)  # the source Cluster stays until retired
            db = config.database.resources.requests
            # Each instance also runs the backup plugin's sidecar, which gets the namespace's default request.
            need["cpu"] += instances * (_quantity_or(db.cpu, default["cpu"]) + default["cpu"])
            need["memory"] += instances * (_quantity_or(db.memory, default["memory"]) + default["memory"])
            need["storage"] += instances * parse_quantity(config.database.size)
            need["pods"] += instances + 1  # and the drill's Job
        if config.redis.enabled:  # one Valkey pod (Recreate: never two), and its volume
            valkey = config.redis.resources.requests
            need["cpu"] += _quantity_or(valkey.cpu, default["cpu"])
            need["memory"] += _quantity_or(valkey.memory, default["memory"])
            need["pods"] += 1
            if config.redis.persistence.enabled:
                need["storage"] += parse_quantity(config.redis.persistence.size)
        limits = {"cpu": quota.cpu, "memory": quota.memory, "storage": quota.storage, "pods": str(quota.pods)}
        for key, needed in need.items():
            if needed > parse_quantity(limits[key]):
                problems.append(Problem(
                    app.config_file, f"environments.{environment}",
                    f"asks for about {_shown(needed, key)} {key} in its namespace (replicas + 1 for rollouts"
                    f"{', database instances + 1 for the restore drill' if config.database.enabled else ''}), more "
                    f"than the {limits[key]} its quota allows ({inputs.stack.file}: minnova:namespaceQuota.{key})",
                    hint="ask for less, or the platform team raises the stack's minnova:namespaceQuota"))
    return problems


def _quantity_or(value: str | None, default):
    return parse_quantity(value) if value else default


def _shown(amount, key: str) -> str:
    if key == "memory" or key == "storage":
        return f"{amount / 2**30:.1f}Gi"
    return f"{amount.normalize():f}" if hasattr(amount, "normalize") else str(amount)


def default_host_patterns(app: str, zone: str) -> list[str]:
    """What an app may use unless its registry entry lists `hosts`: its own name, below the zone."""
    return [f"{app}.{zone}", f"{app}.*.{zone}", f"*.{app}.{zone}"]


def host_ownership_problems(inputs: ProgramInputs) -> list[Problem]:
    """An app's hosts are the ones its registry entry (reviewed by the platform team) lets it use, and never the
    platform's: each gets a certificate through the stack's DNS-01 token and a record beside the others."""
    settings = inputs.stack.settings
    zone, file = settings.base_domain, inputs.stack.file
    platform = [(zone, "the zone apex (minnova:baseDomain)")]
    if settings.previews is not None and settings.previews.webhook_host:
        platform.append((settings.previews.webhook_host, "the Argo CD webhook host (minnova:previews.webhookHost)"))
    problems = []
    for app, environment in inputs.deployed():
        host, field = app.config.environments[environment].host, f"environments.{environment}.host"
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
        allowed = app.entry.hosts or default_host_patterns(app.name, zone)
        if not any(host_matches(pattern, host) for pattern in allowed):
            source = "its registry entry's `hosts`" if app.entry.hosts else "the default for its name"
            problems.append(Problem(app.config_file, field, f"'{host}' is not a host app '{app.name}' may use "
                                    f"({source}: {', '.join(allowed)})",
                                    hint=f"the platform team adds it to `hosts` in {settings.registry_dir}/"
                                         f"{app.name}.yaml"))
    return problems


PASSWORD_KEY_MIN_CHARACTERS = 32


def password_key_problems(inputs: ProgramInputs) -> list[Problem]:
    """A stack whose apps (or previews) have a Redis needs the key their passwords derive from (redis.py)."""
    from .resources import SECRET_PLACEHOLDER

    key, file = inputs.stack.secrets.password_key, inputs.stack.file
    hint = 'pulumi config set --secret minnova:passwordKey "$(openssl rand -hex 32)"'
    if key is None:
        users = sorted({app.name for app, _ in inputs.deployed() if app.config.redis.enabled})
        if not users:
            return []
        return [Problem(file, "minnova:passwordKey", f"is required: the Redis passwords of {', '.join(users)} derive "
                        "from it", hint=hint)]
    if key != SECRET_PLACEHOLDER and len(key.strip()) < PASSWORD_KEY_MIN_CHARACTERS:
        return [Problem(file, "minnova:passwordKey", f"is shorter than {PASSWORD_KEY_MIN_CHARACTERS} characters "
                        "(not shown): every generated password is only as strong as it", hint=hint)]
    return []


def preview_origins(inputs: ProgramInputs) -> list[tuple[LoadedApp, str]]:
    """(app, environment) whose backups this stack lets the app's previews copy (preview.database.from, origin.py):
    only a stack that runs previews and deploys that environment (it owns the bucket)."""
    if inputs.stack.settings.previews is None or inputs.stack.settings.cloudflare is None:
        return []
    return [(app, app.config.preview.database.from_) for app in inputs.apps
            if app.entry.repo and app.config.database.enabled and app.config.preview.database is not None
            and app.config.preview.database.from_ in inputs.environments_of(app)
            and app.config.preview.database.from_ not in inputs.stack.settings.protected_environments]


def _origin_problems(inputs: ProgramInputs) -> list[Problem]:
    if inputs.stack.settings.previews is None:
        return []
    problems = []
    for app in inputs.apps:
        origin = app.config.preview.database
        if app.entry.repo and origin is not None and origin.from_ in inputs.stack.settings.protected_environments:
            problems.append(Problem(app.config_file, "preview.database.from", f"'{origin.from_}' is a protected "
                                    f"environment ({inputs.stack.file}: minnova:protectedEnvironments): previews, which "
                                    "run any approved pull request's code, never get a copy of its data",
                                    hint="copy an environment whose data every approved PR author may see (dev)"))
        elif app.entry.repo and origin is not None and origin.from_ not in inputs.environments_of(app):
            problems.append(Problem(app.config_file, "preview.database.from", f"'{origin.from_}' is not deployed by "
                                    f"this stack ({inputs.stack.file}), which runs {app.name}'s previews: only the "
                                    "stack that owns an environment's backups can let previews read them",
                                    hint=f"run previews from the stack that deploys {origin.from_}, or remove "
                                         "preview.database"))
    return problems


def preview_apps(inputs: ProgramInputs) -> list[PreviewApp]:
    """Registered apps with a repository (a `local`-only app has nothing for Argo CD to check out)."""
    copying = {app.name for app, _ in preview_origins(inputs)}
    return [PreviewApp(name=app.name, repo=app.entry.repo, path=app.entry.path, project_id=app.entry.project_id,
                       copies_database=app.name in copying)
            for app in inputs.apps if app.entry.repo]


def _preview_problems(inputs: ProgramInputs) -> list[Problem]:
    stack = inputs.stack
    settings, secrets, file = stack.settings, stack.secrets, stack.file
    if settings.previews is None:
        return []
    problems = []
    if not settings.preview_domain:
        problems.append(Problem(file, "minnova:previewDomain", "is required with minnova:previews",
                                hint="e.g. preview.<baseDomain>"))
    host = settings.previews.webhook_host
    if host and not in_zone(host, settings.base_domain):
        problems.append(Problem(file, "minnova:previews.webhookHost", f"'{host}' is outside this stack's zone "
                                f"{settings.base_domain}"))
    if host and settings.git.provider in ("gitea", "forgejo"):
        # The ApplicationSet webhook parses GitHub, GitLab and Azure DevOps events only
        # (argo-cd v3.4.4 applicationset/webhook/webhook.go:161-173): Gitea/Forgejo previews poll.
        problems.append(Problem(file, "minnova:previews.webhookHost", f"Argo CD takes no pull-request webhooks from "
                                f"{settings.git.provider}; previews poll (minnova:previews.forgeRequeueAfterSeconds)",
                                hint="remove minnova:previews.webhookHost"))
    elif host and not secrets.webhook_secret:
        problems.append(Problem(file, "minnova:webhookSecret", "is required with minnova:previews.webhookHost: "
                                "without it anyone can make Argo CD refresh and poll the git provider",
                                hint="pulumi config set --secret minnova:webhookSecret \"$(openssl rand -hex 32)\""))
    provider = settings.git.provider
    needed: list[tuple[str, object]] = []
    if provider == "github":
        needed += [("minnova:git.githubAppId", settings.git.github_app_id),
                   ("minnova:git.githubAppInstallationId", settings.git.github_app_installation_id),
                   ("minnova:githubAppPrivateKey", secrets.github_app_private_key)]
    if provider in ("gitea", "forgejo"):
        needed.append(("minnova:gitToken", secrets.git_token))  # the pull-request generator's API token
    problems += [Problem(file, key, f"is required for previews with provider {provider}")
                 for key, value in needed if not value]
    for app in preview_apps(inputs):
        registry_file = f"{settings.registry_dir}/{app.name}.yaml"
        if provider == "github" and not app.repo.startswith(settings.git.base_url):
            problems.append(Problem(registry_file, "repo", f"previews check out over https with the GitHub App: "
                                    f"use a {settings.git.base_url}<owner>/<repo> URL"))
        if provider == "gitlab":
            if not app.repo.startswith("https://"):
                # A token makes Argo CD use HTTPS credentials whatever the URL (argo-cd v3.4.4
                # pkg/apis/application/v1alpha1/repository_types.go:232-252): an ssh URL could never be cloned.
                problems.append(Problem(registry_file, "repo", "GitLab previews check out over https with the "
                                        "project's access token: use the https URL",
                                        hint=f"{settings.git.base_url}<group>/<project>.git"))
            if app.project_id is None:
                problems.append(Problem(registry_file, "projectId", "is required for GitLab previews",
                                        hint="the numeric ID on the project's overview page"))
            if app.name not in secrets.gitlab_project_tokens:
                problems.append(Problem(file, f"minnova:gitlabProjectTokens.{app.name}",
                                        "is required for GitLab previews (a project access token, read_repository "
                                        "and read_api)"))
        if provider in ("gitea", "forgejo"):
            if app.repo.startswith("https://"):
                problems.append(Problem(registry_file, "repo", "previews check out with a deploy key: use the "
                                        "ssh URL (git@host:owner/repo.git)"))
            if app.name not in secrets.git_deploy_keys:
                problems.append(Problem(file, f"minnova:gitDeployKeys.{app.name}",
                                        "is required for previews (the repository's read-only deploy key)"))
            server = gitrules.ssh_known_hosts_name(app.repo)
            if server and not gitrules.known_hosts_names(stack.git_known_hosts or "", server):
                # Argo CD checks SSH host keys strictly (argo-cd v3.4.4 util/git/creds.go); the chart knows only
                # GitHub, GitLab.com, Bitbucket and Azure DevOps.
                problems.append(Problem(file, "minnova:gitKnownHosts", f"has no host key for {server}, which Argo CD "
                                        f"needs to clone {app.repo} for previews",
                                        hint=f"pulumi config set minnova:gitKnownHosts \"$({_keyscan(server)})\""))
    return problems


class FetchProgress:
    """One line per app repository as its fetch ends, on a stream (stderr): a line each in CI and logs, one line
    rewritten in place on a terminal. Long fetches are never silent, and a hung repository is named when its
    timeout (MINNOVA_IDP_GIT_TIMEOUT) expires."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.done = 0
        self.tty = bool(getattr(stream, "isatty", lambda: False)())

    def __call__(self, result) -> None:
        from .gitrules import redact_url
        from .gitsource import FetchError

        self.done += 1
        url = redact_url(result.spec.url)
        if isinstance(result, FetchError):
            line = f"[{self.done}] {url}: failed: {result.reason}"
        else:
            line = f"[{self.done}] {url}@{result.commit[:12]}"
        if self.tty and not isinstance(result, FetchError):
            self.stream.write(f"\r\x1b[2Kfetched {line}")
        else:
            self.stream.write(("\r\x1b[2K" if self.tty else "") + f"fetched {line}\n")
        self.stream.flush()

    def finish(self) -> None:
        if self.tty and self.done:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()


def _keyscan(server: str) -> str:
    """The ssh-keyscan command that prints `server`'s host keys (`[host]:port` means a port other than 22)."""
    if server.startswith("["):
        host, port = server[1:].split("]:")
        return f"ssh-keyscan -p {port} {host}"
    return f"ssh-keyscan {server}"


def database_replacements(inputs: ProgramInputs, deployed_clusters: dict[str, str]) -> list[Problem]:
    """An app's database is the Cluster this stack last deployed for it, unless a restore from that Cluster is
    declared: a changed `backupName` alone would give the app a new, empty database."""
    problems = []
    for app, environment in inputs.deployed():
        if not app.config.database.enabled:
            continue
        before = deployed_clusters.get(names.component_name(app.name, environment))
        now = app.config.backup_name(environment)
        settings = app.config.environments[environment].database
        restore = settings.restore if settings else None
        if before and now != before and (restore is None or restore.from_backup != before):
            problems.append(Problem(
                app.config_file, f"environments.{environment}.database.backupName",
                f"'{now}' would give the app a new, empty database in place of '{before}', which {environment} runs",
                hint=f"keep backupName: {before}, or restore into '{now}' with restore.fromBackup: {before} "
                     "(README: Disaster recovery)"))
    return problems


def storage_shrinks(inputs: ProgramInputs, deployed_sizes: dict[str, str]) -> list[Problem]:
    """A database volume can grow, never shrink: compare with what this stack last deployed."""
    return _volume_shrinks(inputs, deployed_sizes, "database.size", "database",
                           lambda config: config.database.size if config.database.enabled else None)


def redis_shrinks(inputs: ProgramInputs, deployed_sizes: dict[str, str]) -> list[Problem]:
    """A Valkey volume can grow, never shrink (Kubernetes refuses a smaller claim, half-way through an update)."""
    return _volume_shrinks(inputs, deployed_sizes, "redis.persistence.size", "Redis",
                           lambda config: config.redis.persistence.size
                           if config.redis.enabled and config.redis.persistence.enabled else None)


def _volume_shrinks(inputs: ProgramInputs, deployed_sizes: dict[str, str], field_name: str, what: str,
                    size_of) -> list[Problem]:
    """Each app environment whose volume (`size_of(config)`, None: it has none) is smaller than `deployed_sizes`
    (component -> size, a stack output) says this stack last deployed."""
    problems = []
    for app, environment in inputs.deployed():
        size, before = size_of(app.config), deployed_sizes.get(names.component_name(app.name, environment))
        if size and before and parse_quantity(size) < parse_quantity(before):
            problems.append(Problem(
                app.config_file, field_name,
                f"'{size}' is smaller than the {before} deployed in {environment}; {what} volumes can grow "
                "but never shrink", hint=f"keep {before} or more"))
    return problems