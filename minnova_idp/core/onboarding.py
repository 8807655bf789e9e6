"""Onboarding: the files a developer adds to start with Minnova IDP."""

from __future__ import annotations

import re
from pathlib import Path

from . import names
from .errors import ConfigError, Problem
from .app_config import AppConfig
from .registry import RegistryEntry
from .validation import validate_document
from .yamlsafe import load_yaml

SCHEMA_URL = names.SCHEMA_URL

APP_YAML_TEMPLATE = """\
# yaml-language-server: $schema={schema_url}
# Minnova IDP app config: how this app runs. Reference: the minnova-idp README ("App developer reference").
# Check it with: minnova-idp validate .
name: {name}                 # lowercase letters, digits and '-', at most 30 characters

image:
  repository: {image}   # without tag: CI pushes <repository>:<commit SHA>, the tag deployed by default
  # tag: "1.2.3"               # pin a tag for every environment instead

port: {port}                   # the port the app listens on (also given to it as PORT)

# healthCheck: {{path: /healthz}}   # HTTP readiness; without it, probes check the port accepts connections

database:
  enabled: false               # true: a PostgreSQL database per environment, DATABASE_URL in the app's env
  # size: 5Gi                  # storage; can grow, never shrink

environments:
  dev:
    replicas: 1
    host: {name}.dev.{domain}
  prod:
    replicas: 2                # more than one: rolling updates without downtime, a PodDisruptionBudget
    host: {name}.{domain}

env:                           # plain settings; secrets go in .minnova/secrets/<env>.enc.yaml (SOPS)
  LOG_LEVEL: info
"""


def default_name(directory: Path) -> str:
    name = re.sub(r"[^a-z0-9-]+", "-", directory.resolve().name.lower()).strip("-")
    name = re.sub(r"-{2,}", "-", name)[: names.APP_NAME_MAX].strip("-")
    if not name or not name[0].isalpha():
        name = f"app-{name}".strip("-")[: names.APP_NAME_MAX]
    return name


def init_app(directory: Path, name: str | None, port: int, image: str | None, domain: str,
             schema_url: str = SCHEMA_URL, force: bool = False) -> Path:
    name = name or default_name(directory)
    text = APP_YAML_TEMPLATE.format(schema_url=schema_url, name=name, image=image or f"ghcr.io/your-org/{name}",
                                    port=port, domain=domain)
    target = directory / names.APP_CONFIG
    validate_document(AppConfig, load_yaml(text, str(target)))  # what we write must be valid as written
    if target.exists() and not force:
        raise ConfigError([Problem(str(target), message="already exists", hint="pass --force to overwrite it")])
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    return target


def register_app(project_dir: Path, name: str, repo: str, deployment: str | None, ref: str | None,
                 path: str | None, force: bool = False) -> Path:
    deployments = sorted(p.name for p in (project_dir / "deployments").glob("*") if (p / "apps").is_dir())
    if deployment is None:
        if len(deployments) != 1:
            raise ConfigError([Problem("--deployment", message="which deployment? "
                                       + (f"there are: {', '.join(deployments)}" if deployments else
                                          "there is no deployments/<name>/apps directory here"))])
        deployment = deployments[0]
    fields = {"name": name, "repo": repo, **({"ref": ref} if ref else {}), **({"path": path} if path else {})}
    text = "# Registered with `minnova-idp register`; reviewed by the platform team.\n" + "".join(
        f"{key}: {_yaml_scalar(value)}\n" for key, value in fields.items())
    target = project_dir / "deployments" / deployment / "apps" / f"{name}.yaml"
    validate_document(RegistryEntry, load_yaml(text, str(target.relative_to(project_dir))))
    if target.exists() and not force:
        raise ConfigError([Problem(str(target.relative_to(project_dir)), message="already exists",
                                   hint="pass --force to overwrite it")])
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    return target


def _yaml_scalar(value: str) -> str:
    return value if re.fullmatch(r"[A-Za-z0-9._/@:+-]+", value) and not value[0] in "@" else f'"{value}"'
