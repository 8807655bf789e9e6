"""Who gets previews and with what: the apps Argo CD previews, the environments their copies come from, and the
stack settings each git provider needs.
"""

from __future__ import annotations

from minnova_idp.model import gitrules
from minnova_idp.model.errors import Problem
from minnova_idp.model.inputs import ProgramInputs
from minnova_idp.model.loaded import LoadedApp
from minnova_idp.policy.images import allowed_images
from minnova_idp.render.argocd import PreviewApp
from minnova_idp.render.tls import in_zone


def preview_origins(inputs: ProgramInputs) -> list[tuple[LoadedApp, str]]:
    """(app, environment) whose backups this stack lets the app's previews copy (preview.database.from, origin.py):
    only a stack that runs previews and deploys that environment (it owns the bucket)."""
    if inputs.stack.settings.previews is None or inputs.stack.settings.cloudflare is None:
        return []
    return [(app, app.config.preview.database.from_) for app in inputs.apps
            if app.entry.repo and app.config.database.enabled and app.config.preview.database is not None
            and app.config.preview.database.from_ in inputs.environments_of(app)
            and app.config.preview.database.from_ not in inputs.stack.settings.protected_environments]


def preview_storage_apps(inputs: ProgramInputs) -> tuple[str, ...]:
    """Apps whose previews this stack gives a bucket of their own (render/storage.py preview_storage_offer): every
    previewed app with storage, in a stack that runs previews and has a Cloudflare account."""
    if inputs.stack.settings.previews is None or inputs.stack.settings.cloudflare is None:
        return ()
    return tuple(app.name for app in inputs.apps if app.entry.repo and app.config.storage.enabled)


def origin_problems(inputs: ProgramInputs) -> list[Problem]:
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
                       copies_database=app.name in copying,
                       images=tuple(allowed) if (allowed := allowed_images(app.entry, inputs.stack.settings.image_registry))
                       else None)
            for app in inputs.apps if app.entry.repo]


def preview_problems(inputs: ProgramInputs) -> list[Problem]:
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
    if provider != "gitlab":  # GitLab reads approvals with each app's project token (read_api) unless this is set
        # render-preview renders only approved head commits (policy/approval.py) and reads them with this token.
        needed.append(("minnova:previewApprovalToken", secrets.preview_approval_token))
    if provider != "github":  # GitHub's default approver is the approve workflow (policy/approval.py)
        needed.append(("minnova:previews.approvers", settings.previews.approvers))
    problems += [Problem(file, key, f"is required for previews with provider {provider}")
                 for key, value in needed if not value]
    if provider == "github" and settings.previews.approvers == []:
        problems.append(Problem(file, "minnova:previews.approvers", "is empty: no commit could ever be approved",
                                hint="remove it (the approve workflow's github-actions[bot] approves) or list approvers"))
    previewed = {app.name for app in preview_apps(inputs)}
    for app in sorted(secrets.preview_status_tokens):
        if provider == "github":
            problems.append(Problem(file, f"minnova:previewStatusTokens.{app}", "is not used on GitHub: the GitHub "
                                    "App sets the statuses", hint="remove minnova:previewStatusTokens"))
        elif app not in previewed:
            problems.append(Problem(file, f"minnova:previewStatusTokens.{app}", f"names no app with previews "
                                    f"({', '.join(sorted(previewed)) or 'none'})"))
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


def _keyscan(server: str) -> str:
    """The ssh-keyscan command that prints `server`'s host keys (`[host]:port` means a port other than 22)."""
    if server.startswith("["):
        host, port = server[1:].split("]:")
        return f"ssh-keyscan -p {port} {host}"
    return f"ssh-keyscan {server}"
