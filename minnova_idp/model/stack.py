"""A stack's configuration as the program uses it: validated settings, secret values (never shown) and its file."""

from __future__ import annotations

from dataclasses import dataclass, field

from minnova_idp.model.stack_settings import StackSettings


@dataclass(frozen=True)
class StackSecrets:
    """Secret config values. repr=False keeps them out of logs and tracebacks."""

    git_token: str | None = field(default=None, repr=False)
    git_ssh_private_key: str | None = field(default=None, repr=False)
    kubeconfig: str | None = field(default=None, repr=False)
    cloudflare_api_token: str | None = field(default=None, repr=False)
    secrets_keys: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)  # app -> env -> identity
    secrets_shared_key: str | None = field(default=None, repr=False)
    github_app_private_key: str | None = field(default=None, repr=False)
    git_deploy_keys: dict[str, str] = field(default_factory=dict, repr=False)  # app -> SSH private key
    gitlab_project_tokens: dict[str, str] = field(default_factory=dict, repr=False)  # app -> token
    preview_status_tokens: dict[str, str] = field(default_factory=dict, repr=False)  # app -> token (GitLab, Gitea)
    webhook_secret: str | None = field(default=None, repr=False)
    registry_credentials: str | None = field(default=None, repr=False)  # a .dockerconfigjson
    password_key: str | None = field(default=None, repr=False)  # generated passwords derive from it (redis.py)


@dataclass(frozen=True)
class StackConfig:
    settings: StackSettings
    secrets: StackSecrets
    git_known_hosts: str | None = None
    file: str = "Pulumi.<stack>.yaml"  # where the settings came from, for messages
