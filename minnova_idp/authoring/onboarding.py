"""Onboarding: the files a developer adds to start with Minnova IDP."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import yaml

from minnova_idp.load.validation import validate_document
from minnova_idp.load.yamlsafe import load_yaml
from minnova_idp.model import gitrules, names
from minnova_idp.model.app_config import AppConfig
from minnova_idp.model.errors import ConfigError, Problem
from minnova_idp.model.registry import RegistryEntry

SCHEMA_URL = names.SCHEMA_URL

APP_YAML_TEMPLATE = """\
# yaml-language-server: $schema={schema_url}
# Minnova IDP app config: how this app runs. Reference: docs/app-yaml.md in the minnova-idp repository.
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
# preview:                    # previews' database: a copy of dev's latest backup, masked by
#   database: {{from: dev}}      # .minnova/seed/mask.sql (required) before the app starts

# redis:                       # Valkey (Redis-compatible) per environment, REDIS_URL in the app's env
#   enabled: true
#   persistence: {{enabled: true, size: 1Gi}}   # enabled: false for a cache (memory only)

# mysql:                       # a MySQL-compatible database (MariaDB) per environment: MYSQL_URL, MYSQL_HOST,
#   enabled: true              # MYSQL_PORT, MYSQL_USER, MYSQL_PASSWORD, MYSQL_DATABASE (docs/mysql.md)
#   version: "11.8"            # or "10.11"; can move up, never down
#   size: 1Gi                  # storage per instance; can grow, never shrink
# (per environment: mysql: {{instances: 3}} for a primary and two replicas; fixed after the first deploy,
#  changed only by a restore into a new server: docs/mysql.md)

# storage:                     # an S3-compatible bucket (Cloudflare R2) per environment: AWS_ENDPOINT_URL_S3,
#   enabled: true              # AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, S3_BUCKET, S3_PREFIX (docs/storage.md)

# mongodb:                     # a MongoDB replica set per environment, MONGODB_URL in the app's env (docs/mongodb.md)
#   enabled: true              # set environments.prod.mongodb: {{instances: 3}} for high availability
#   version: "8.0"
#   size: 5Gi                  # per member; can grow, never shrink

environments:
  dev:
    replicas: 1
    host: {name}.dev.{domain}
  prod:
    replicas: 2                # more than one: rolling updates without downtime, a PodDisruptionBudget
    host: {name}.{domain}
    # aliases:                 # other hosts (allowed by the registry entry): a DNS record each, one certificate
    #   - {{host: www.{name}.{domain}}}                   # a permanent redirect to host, path and query kept
    #   - {{host: shop.{name}.{domain}, redirect: false}}  # serves the app too

    # autoscale: {{min: 2, max: 6, cpu: 70}}   # an HPA owns the replicas (needs resources.requests.cpu)

env:                           # plain settings; secrets go in .minnova/secrets/<env>.enc.yaml (SOPS)
  LOG_LEVEL: info

# processes:                   # same image, env, secrets and database; a worker serves nothing, an api a port
#   worker: {{command: [bin/worker], replicas: 1}}
#   api:                       # an internal service: a ClusterIP Service {name}-api on 8080, no public host;
#     command: [bin/api]       # another app calls it only once your registry entry says `allowFrom: [that-app]`
#     port: 8080               # (docs/internal-services.md)
#     healthCheck: {{path: /healthz}}
# cron:                        # scheduled jobs (UTC unless timeZone), never in previews unless previews: true
#   nightly: {{schedule: "0 2 * * *", command: [bin/nightly]}}
# release:                     # once per new version, before it takes traffic (migrations)
#   command: [bin/migrate]
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
    _check_init_flags(name, port, image, domain)  # errors name the flag, not a file that was never written
    text = APP_YAML_TEMPLATE.format(schema_url=schema_url, name=name, image=image or f"ghcr.io/your-org/{name}",
                                    port=port, domain=domain)
    target = directory / names.APP_CONFIG
    validate_document(AppConfig, load_yaml(text, str(target)))  # what we write must be valid as written
    if target.exists() and not force:
        raise ConfigError([Problem(str(target), message="already exists", hint="pass --force to overwrite it")])
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    return target


def _check_init_flags(name: str, port: int, image: str | None, domain: str) -> None:
    from minnova_idp.model.fields import validate_hostname, validate_image_repository

    problems = []
    if (why := names.check_app_name(name)) is not None:
        problems.append(Problem("--name", message=why, hint="or name the directory after the app"))
    if not 1 <= port <= 65535:
        problems.append(Problem("--port", message=f"{port} is not a port (1-65535)"))
    for flag, value, check in (("--image", image, validate_image_repository), ("--domain", domain, validate_hostname)):
        if value is not None:
            try:
                check(value)
            except ValueError as exc:
                problems.append(Problem(flag, message=str(exc)))
    if problems:
        raise ConfigError(problems)


def register_app(project_dir: Path, name: str, repo: str, deployment: str | None, ref: str | None,
                 path: str | None, force: bool = False, new: bool = False) -> Path:
    """Write deployments/<deployment>/apps/<name>.yaml; every flag is checked before anything is written.

    `deployment` must be an existing deployments/<deployment>/apps directory (a typo must not start a
    new client deployment) unless `new` asks to create it; it is a DNS label, so it is never a path.
    Errors name the flag they are about, not a file that was never written.
    """
    problems = _register_flag_problems(name, repo, deployment, ref, path, new)
    if problems:
        raise ConfigError(problems)
    path = gitrules.normalize_subpath(path) if path else None
    root = project_dir / "deployments"
    existing = _deployments(root)
    if deployment is None:
        if len(existing) != 1:
            raise ConfigError([Problem("--deployment", message="which deployment? "
                                       + (f"there are: {', '.join(existing)}" if existing else
                                          "there is no deployments/<name>/apps directory here"))])
        deployment = existing[0]
    elif deployment not in existing:
        if not new:
            raise ConfigError([Problem(
                "--deployment", message=f"there is no deployment '{deployment}' (no deployments/{deployment}/apps "
                                        "directory)" + (f"; there are: {', '.join(existing)}" if existing else ""),
                hint=f"check the spelling, or pass --new to start the deployment '{deployment}'")])
        for directory in (root, root / deployment, root / deployment / "apps"):
            if directory.is_symlink() or (directory.exists() and not directory.is_dir()):
                raise ConfigError([Problem("--deployment", message=f"{directory.relative_to(project_dir)} exists and "
                                           "is not a directory")])

    fields = {"name": name, "repo": repo, **({"ref": ref} if ref else {}), **({"path": path} if path else {})}
    text = "# Registered with `minnova-idp register`; reviewed by the platform team.\n" + "".join(
        f"{key}: {_yaml_scalar(value)}\n" for key, value in fields.items()) + (
        "# allowFrom: [other-app]   # apps whose pods may call this app's internal services (processes with a port),\n"
        "#                          # same environment only, never previews (docs/internal-services.md)\n")
    target = root / deployment / "apps" / f"{name}.yaml"
    shown = str(target.relative_to(project_dir))
    loaded = load_yaml(text, shown)
    validate_document(RegistryEntry, loaded)
    if loaded.data != fields:  # pragma: no cover - _yaml_scalar quotes whatever would read back differently
        raise ConfigError([Problem(shown, message="the entry would not read back as written")])
    if (target.exists() or target.is_symlink()) and not force:
        raise ConfigError([Problem(shown, message="already exists", hint="pass --force to overwrite it")])
    temporary = target.with_name(f".{target.name}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        # Written beside the target and renamed over it: a symlink in its place is replaced, never followed.
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "w") as file:
            file.write(text)
        os.replace(temporary, target)
    except OSError as exc:
        if not temporary.is_symlink():
            temporary.unlink(missing_ok=True)
        raise ConfigError([Problem(shown, message=f"cannot write: {exc.strerror}")]) from None
    return target


def _register_flag_problems(name: str, repo: str, deployment: str | None, ref: str | None, path: str | None,
                            new: bool) -> list[Problem]:
    problems = [Problem("NAME", message=why) for why in [names.check_app_name(name)] if why]
    for flag, value, check in (("REPO", repo, gitrules.check_registry_url), ("--ref", ref, gitrules.check_ref),
                               ("--path", path, gitrules.normalize_subpath)):
        if value is None:
            continue
        try:
            check(value)
        except ValueError as exc:
            problems.append(Problem(flag, message=str(exc)))
    if deployment is not None and (len(deployment) > names.DEPLOYMENT_NAME_MAX
                                   or not names.APP_NAME_RE.fullmatch(deployment)):
        problems.append(Problem("--deployment", message=f"{_quoted(deployment)} is not a deployment name: a DNS label "
                                f"of at most {names.DEPLOYMENT_NAME_MAX} characters (lowercase letters, digits and "
                                "'-'), as the stack setting minnova:deployment"))
    if new and deployment is None:
        problems.append(Problem("--new", message="needs --deployment NAME: the deployment to start"))
    return problems


def _deployments(root: Path) -> list[str]:
    """deployments/<name>/apps directories (real directories with valid names; symlinks are not followed)."""
    if not root.is_dir() or root.is_symlink():
        return []
    found = []
    for entry in sorted(root.iterdir()):
        apps = entry / "apps"
        if (names.APP_NAME_RE.fullmatch(entry.name) and len(entry.name) <= names.DEPLOYMENT_NAME_MAX
                and not entry.is_symlink() and not apps.is_symlink() and apps.is_dir()):
            found.append(entry.name)
    return found


def _quoted(value: str) -> str:
    """A flag's value in a message: printable and short, whatever was passed."""
    return repr(value[:60]) if not value.isprintable() or len(value) > 60 else f"'{value}'"


_PLAIN_RE = re.compile(r"[A-Za-z0-9._/@:+-]+")
_STR_TAG = "tag:yaml.org,2002:str"
_RESOLVER = yaml.resolver.Resolver()  # how yaml.safe_load (and yamlsafe) would type a plain scalar


def _yaml_scalar(value: str) -> str:
    """`value` as a YAML scalar that reads back as exactly this string: plain when that is safe, else
    double-quoted with JSON escapes (valid YAML): never a way to end the value and start another key."""
    plain = (_PLAIN_RE.fullmatch(value) and value[0] not in "@-:" and not value.endswith(":")
             and _RESOLVER.resolve(yaml.ScalarNode, value, (True, False)) == _STR_TAG)
    return value if plain else json.dumps(value)
