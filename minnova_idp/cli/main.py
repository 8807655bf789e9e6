"""`minnova-idp`: the command line of Minnova IDP.

Errors are printed as one line per problem (file, field, hint) with a non-zero exit;
a traceback reaches the user only when MINNOVA_IDP_DEBUG=1 asks for it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Callable, Sequence

from minnova_idp.model.errors import ConfigError, Problem

EXIT_INVALID = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 70


def _cmd_schema(args: argparse.Namespace) -> int:
    from minnova_idp.authoring.reference import schema_text

    sys.stdout.write(schema_text())
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    """An app config, a registry entry or a stack file: each by its own model, as the program reads it."""
    path = Path(args.path)
    if path.is_file() and path.name.startswith("Pulumi.") and path.suffix == ".yaml" and path.name.count(".") == 2:
        from minnova_idp.load.stack import from_stack_file, parse_stack_config

        stack = path.name[len("Pulumi."):-len(".yaml")]
        config = parse_stack_config(*from_stack_file(path.parent, stack))
        summary = {"kind": "stack", "file": str(path), "stack": stack, "deployment": config.settings.deployment,
                   "environments": list(config.settings.environments)}
        text = f"{path}: valid (stack {stack}; deployment {config.settings.deployment}; environments " \
               f"{', '.join(config.settings.environments)})"
    elif path.is_file() and path.parent.name == "apps" and path.suffix in (".yaml", ".yml"):
        from minnova_idp.load.validation import validate_document
        from minnova_idp.load.yamlsafe import load_yaml_file
        from minnova_idp.model.registry import RegistryEntry

        entry = validate_document(RegistryEntry, load_yaml_file(path, str(path)))
        if entry.name != path.stem:
            raise ConfigError([Problem(str(path), "name", f"'{entry.name}' does not match the file name",
                                       hint=f"rename the file to {entry.name}.yaml")])
        summary = {"kind": "registry entry", "file": str(path), "app": entry.name, "repo": entry.repo,
                   "local": entry.local}
        text = f"{path}: valid (registry entry of app {entry.name})"
    else:
        target, config = _load_app(args.path)
        _check_app_secrets(target, config)  # .minnova/secrets/* and recipients.yaml, offline (issue 15)
        if config.database.enabled and config.preview.database is not None:
            from minnova_idp.load.app_files import read_mask  # required before any preview copies real data: say so now

            root = target.resolve().parent.parent
            read_mask(root, f"{root}/")
        summary = {"kind": "app", "file": str(target), "app": config.name, "environments": list(config.environments)}
        text = f"{target}: valid (app {config.name}; environments {', '.join(config.environments)})"
    print(json.dumps({**summary, "valid": True}, indent=2) if args.json else text)
    return 0


def _cmd_rollback(args: argparse.Namespace) -> int:
    from minnova_idp.load.stack import from_stack_file, parse_stack_config
    from minnova_idp.policy.rollback import pinned, rollback_target, with_pins

    project_dir = Path(args.project_dir).resolve()
    stack_file = project_dir / f"Pulumi.{args.stack}.yaml"
    parse_stack_config(*from_stack_file(project_dir, args.stack))  # the file is valid before it is touched
    pins = pinned(stack_file)
    if args.clear:
        if args.environment not in pins.get(args.app, {}):
            raise ConfigError([Problem(stack_file.name, f"minnova:imagePins.{args.app}.{args.environment}",
                                       "is not set: nothing to clear")])
        del pins[args.app][args.environment]
        message = f"Cleared the pin of {args.app}/{args.environment}: app.yaml decides its tag again."
    else:
        previous = _read_previous_outputs(args.previous_outputs) if args.previous_outputs else None
        tag = rollback_target(args.app, args.environment, previous, args.to)
        pins.setdefault(args.app, {})[args.environment] = tag
        message = f"Pinned {args.app}/{args.environment} to {tag} (minnova:imagePins in {stack_file.name})."
    text = with_pins(stack_file.read_text(), pins)
    # The edited file must load as a stack file, with exactly these pins: never leave a broken one behind.
    config = parse_stack_config(*_stack_file_raw(text, stack_file.name))
    if {app: envs for app, envs in config.settings.image_pins.items() if envs} != {
            app: envs for app, envs in pins.items() if envs}:
        raise ConfigError([Problem(stack_file.name, "minnova:imagePins", "could not be rewritten in place",
                                   hint="set it with: pulumi config set --path 'minnova:imagePins.<app>.<env>' TAG")])
    stack_file.write_text(text)
    print(f"{message}\nCommit it and deploy (pulumi up --stack {args.stack}); `minnova-idp status --stack "
          f"{args.stack}` shows it.")
    return 0


def _stack_file_raw(text: str, shown: str):
    """Config of a stack file's text, as from_stack_file reads a file (which it takes from a directory)."""
    import tempfile

    from minnova_idp.load.stack import from_stack_file

    with tempfile.TemporaryDirectory() as directory:
        (Path(directory) / "Pulumi.candidate.yaml").write_text(text)
        raw, secret_keys, _ = from_stack_file(Path(directory), "candidate")
    return raw, secret_keys, shown


EXIT_DRILLS_FAILING = 4


def _cmd_drills(args: argparse.Namespace) -> int:
    """Restore drills as the cluster reports them: kubectl with the caller's kubeconfig, read-only."""
    import shutil
    import subprocess
    from datetime import datetime, timezone

    from minnova_idp.render.drill import drill_report

    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise ConfigError([Problem("kubectl", message="is not on PATH; this command asks the cluster",
                                   hint="install kubectl and point it at the cluster (KUBECONFIG, --context)")])
    scope = ["-n", args.namespace] if args.namespace else ["-A"]
    context = ["--context", args.context] if args.context else []
    lists = {}
    for kind in ("cronjobs", "jobs"):
        command = [kubectl, *context, "get", kind, "-o", "json", "-l", "minnova.io/restore-drill=true", *scope]
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise ConfigError([Problem("kubectl", message=f"get {kind} failed: {result.stderr.strip()[:300]}")])
        try:
            lists[kind] = json.loads(result.stdout)
        except json.JSONDecodeError:
            raise ConfigError([Problem("kubectl", message=f"get {kind} did not print JSON")]) from None
    rows = drill_report(lists["cronjobs"], lists["jobs"], datetime.now(timezone.utc))
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for row in rows:
            state = "ok" if row["healthy"] else "FAILING" if row["latestRun"] == "failed" else "OVERDUE"
            print(f"{state:8} {row['namespace']}/{row['drill']}: last passed {row['lastPassed'] or 'never'}, "
                  f"latest run {row['latestRun']}{' (' + row['latestJob'] + ')' if row['latestJob'] else ''}")
        if not rows:
            print("no restore drills found")
    return 0 if all(row["healthy"] for row in rows) else EXIT_DRILLS_FAILING


def _cmd_status(args: argparse.Namespace) -> int:
    from minnova_idp.load.git import GitAuth
    from minnova_idp.load.inputs import load_inputs
    from minnova_idp.load.progress import FetchProgress
    from minnova_idp.load.stack import from_stack_file
    from minnova_idp.render.status import as_json, as_table, stack_status

    project_dir = Path(args.project_dir).resolve()
    raw, secret_keys, file = from_stack_file(project_dir, args.stack)
    # Like the offline plan: no credentials, so app repos must be readable without them (or cached).
    progress = FetchProgress(sys.stderr)
    inputs = load_inputs(project_dir, raw, secret_keys, file,
                         cache_dir=Path(args.cache_dir) if args.cache_dir else None, auth=GitAuth(), progress=progress)
    progress.finish()
    rows = stack_status(inputs)
    if args.json:
        print(json.dumps({"stack": args.stack, "deployment": inputs.stack.settings.deployment, "apps": as_json(rows)},
                         indent=2))
    else:
        print(f"Stack {args.stack} (deployment {inputs.stack.settings.deployment}), from config and the registry:\n")
        print(as_table(rows) if rows else "no app is deployed by this stack")
    return 0


def _load_app(path_text: str):
    from minnova_idp.load.validation import validate_document
    from minnova_idp.load.yamlsafe import load_yaml_file
    from minnova_idp.model.app_config import AppConfig
    from minnova_idp.model.names import APP_CONFIG

    path = Path(path_text)
    target = path / APP_CONFIG if path.is_dir() else path
    return target, validate_document(AppConfig, load_yaml_file(target, str(target)))


def _cmd_restore_drill(args: argparse.Namespace) -> int:
    import yaml

    from minnova_idp.model import names
    from minnova_idp.model.app_config import DatabaseRestore
    from minnova_idp.model.errors import Problem
    from minnova_idp.render.database import render_restore_drill

    target, app = _load_app(args.path)
    if not app.database.enabled:
        raise ConfigError([Problem(str(target), "database.enabled", "the app has no database")])
    if args.environment not in app.environments:
        raise ConfigError([Problem(str(target), "environments", f"no environment '{args.environment}'",
                                   hint=f"environments: {', '.join(app.environments)}")])
    if args.target_time:
        try:
            DatabaseRestore.model_validate({"fromBackup": "x", "targetTime": args.target_time})
        except Exception:  # noqa: BLE001 - pydantic's error, reworded for a command-line flag
            raise ConfigError([Problem("--target-time", message=f"'{args.target_time}' is not an RFC 3339 "
                                       "timestamp with a zone (e.g. 2026-11-20T09:30:00Z)")]) from None
    server = args.server_name
    if server is not None and not (len(server) <= names.SERVER_NAME_MAX and names.APP_NAME_RE.match(server)):
        raise ConfigError([Problem("--server-name", message=f"'{server[:60]}' is not a server name (letters, digits "
                                   f"and '-', at most {names.SERVER_NAME_MAX} characters)")])
    namespace = names.namespace(app.name, args.environment)
    labels = {"app.kubernetes.io/name": app.name, names.MANAGED_BY_LABEL: names.MANAGED_BY,
              "minnova.io/restore-drill": "true"}
    sys.stdout.write(yaml.safe_dump(
        render_restore_drill(app, args.environment, namespace, labels, args.target_time, server=server),
        sort_keys=False))
    return 0


PREVIEW_KEYS_DIR = "/var/run/minnova/preview-keys"


def _cmd_render_preview(args: argparse.Namespace) -> int:
    """Everything is checked and rendered before a byte is written: Argo CD prunes on empty output."""
    from minnova_idp.load.secrets import AppKey, load_secret_values, read_secrets_file, secrets_file
    from minnova_idp.model import names
    from minnova_idp.render.preview import checkout_problems, preview_request, render_preview, to_yaml

    flags = {"app": args.app, "pr_number": args.pr, "head_sha": args.head_sha,
             "preview_domain": args.preview_domain, "deployment": args.deployment,
             "ingress_class": args.ingress_class}
    request = preview_request(flags, os.environ)
    directory = Path(args.directory)
    problems = checkout_problems(directory)
    if problems:
        raise ConfigError(problems)
    _refuse_links(directory, [names.APP_CONFIG, secrets_file(names.PREVIEW_ENVIRONMENT)])
    target, app = _load_app(args.directory)
    if app.name != request.app:
        raise ConfigError([Problem(str(target), "name", f"'{app.name}' is not the app this preview is for "
                                   f"('{request.app}')", hint="an app's name cannot change in a pull request")])
    secrets = None
    keys_dir = Path(args.keys_dir or os.environ.get("MINNOVA_PREVIEW_KEYS_DIR", PREVIEW_KEYS_DIR))
    content = read_secrets_file(directory, names.PREVIEW_ENVIRONMENT)
    if content is not None:
        shown = str(directory / secrets_file(names.PREVIEW_ENVIRONMENT))
        # The key is chosen by the app name from trusted sources only: never by anything in the pull request.
        from minnova_idp.load.yamlsafe import FileRefused, read_regular_file
        from minnova_idp.sops import document as sops  # cryptography and age: only for previews that have secrets

        key_file = keys_dir / request.app
        try:
            identities = sops.parse_identities(read_regular_file(key_file, 64 * 1024).decode("utf-8", "replace"),
                                               str(key_file))
        except FileRefused:
            raise ConfigError([Problem(shown, message=f"there is no preview key for {request.app} ({key_file})",
                                       hint=f"the platform team runs: minnova-idp secrets new-key {request.app} "
                                            "preview")]) from None
        except sops.SopsError as exc:
            raise _sops_problem(exc) from None
        if len(identities) != 1:
            raise ConfigError([Problem(str(key_file), message="must hold exactly one age identity")])
        secrets = load_secret_values(content, shown, request.app, names.PREVIEW_ENVIRONMENT,
                                     AppKey(identities[0].recipient), stack_file=str(key_file), identities=identities,
                                     database=app.database.enabled, redis=app.redis.enabled)
    from minnova_idp.load.app_files import read_seed

    seed = read_seed(app, directory, f"{directory}/") if app.database.enabled else ()
    from minnova_idp.render.argocd import PREVIEW_PASSWORD_KEY, PREVIEW_PULL_CREDENTIALS

    pull = _sidecar_file(keys_dir, PREVIEW_PULL_CREDENTIALS)
    password_key = _sidecar_file(keys_dir, PREVIEW_PASSWORD_KEY) if app.redis.enabled else None
    origin = None
    if app.database.enabled and app.preview.database is not None:
        origin = _preview_origin(app, keys_dir)
    sys.stdout.write(to_yaml(render_preview(app, request, secrets, seed, pull, password_key, origin)))
    return 0


def _preview_origin(app, keys_dir: Path):
    """`preview.database.from`: what the platform allows this app's previews to copy, with the masking SQL of the
    app's registered branch (never what the pull request says)."""
    from minnova_idp.render.origin import ORIGIN_FILE_MAX_BYTES, origin_file, parse_origin

    environment = app.preview.database.from_
    text = _sidecar_file(keys_dir, origin_file(app.name), ORIGIN_FILE_MAX_BYTES)
    if text is None:
        raise ConfigError([Problem("preview.database.from", message=f"the platform does not let {app.name}'s previews "
                                   f"copy {environment}'s database (no {keys_dir / origin_file(app.name)})",
                                   hint=f"the stack that deploys {app.name}'s {environment} and runs previews must see "
                                        "preview.database.from in the app's registered branch; until then, remove it "
                                        "from the pull request")])
    return parse_origin(text, str(keys_dir / origin_file(app.name)), environment)


def _sidecar_file(keys_dir: Path, name: str, limit: int = 64 * 1024) -> str | None:
    """A file the platform gave the plugin sidecar (argocd.preview_keys_secret), if it gave it: the stack's read-only
    pull credentials, the preview password key."""
    from minnova_idp.load.yamlsafe import FileRefused, read_regular_file

    try:
        return read_regular_file(keys_dir / name, limit).decode("utf-8")
    except FileRefused as exc:
        if exc.kind == "missing":
            return None
        raise ConfigError([Problem(str(keys_dir / name), message=exc.reason)]) from None
    except UnicodeDecodeError:
        raise ConfigError([Problem(str(keys_dir / name), message="is not UTF-8 text (the platform writes text)")]) from None


def _refuse_links(directory: Path, relative_paths) -> None:
    """A pull request's files are untrusted: a symlink could point the renderer at a key on the sidecar."""
    problems = []
    for relative in relative_paths:
        current = directory
        for part in relative.parts:  # the file itself or any directory on its way
            current = current / part
            if current.is_symlink():
                problems.append(Problem(str(current), message="is a symbolic link; previews read regular files only"))
                break
    if problems:
        raise ConfigError(problems)


def _add_preview_command(commands) -> None:
    render = commands.add_parser(
        "render-preview", help="print a pull request's preview environment (the Argo CD plugin)",
        description="Print the manifests of a pull request's preview environment from the checked-out "
                    ".minnova/app.yaml, as Argo CD's Config Management Plugin does. Under Argo CD the app, pull "
                    "request and revision come from the Application (ARGOCD_APP_PROJECT_NAME, ARGOCD_APP_NAME, "
                    "ARGOCD_APP_NAMESPACE, ARGOCD_APP_REVISION) and the deployment's settings from the sidecar's "
                    "MINNOVA_* environment; ARGOCD_ENV_* (plugin env, which a pull request can rewrite) must agree "
                    "with them. Prints nothing unless everything is valid.",
        epilog="examples:\n  cd app-checkout && minnova-idp render-preview --app oracle --pr 123 \\\n"
               "      --head-sha $(git rev-parse HEAD) --preview-domain preview.minnova.io \\\n"
               "      --deployment minnova --ingress-class traefik --keys-dir ./keys",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    render.add_argument("directory", nargs="?", default=".", help="the app checkout (default: .)")
    render.add_argument("--app", help="app name (under Argo CD: from ARGOCD_APP_PROJECT_NAME)")
    render.add_argument("--pr", help="pull request number (under Argo CD: from ARGOCD_APP_NAME)")
    render.add_argument("--head-sha", help="head commit SHA (under Argo CD: ARGOCD_APP_REVISION)")
    render.add_argument("--preview-domain", help="preview domain (MINNOVA_PREVIEW_DOMAIN)")
    render.add_argument("--deployment", help="client deployment (MINNOVA_DEPLOYMENT)")
    render.add_argument("--ingress-class", help="IngressClass (MINNOVA_INGRESS_CLASS)")
    render.add_argument("--keys-dir", help=f"directory of preview age keys, one file per app "
                                           f"(MINNOVA_PREVIEW_KEYS_DIR, default {PREVIEW_KEYS_DIR})")
    render.set_defaults(handler=_cmd_render_preview)


def _cmd_init(args: argparse.Namespace) -> int:
    from minnova_idp.authoring.onboarding import init_app

    target = init_app(Path(args.directory), args.name, args.port, args.image, args.domain,
                      schema_url=args.schema_url, force=args.force)
    print(f"Wrote {target}. Edit it, then check it with: minnova-idp validate {args.directory}")
    return 0


def _cmd_register(args: argparse.Namespace) -> int:
    from minnova_idp.authoring.onboarding import register_app

    target = register_app(Path(args.project_dir), args.name, args.repo, args.deployment, args.ref, args.path,
                          force=args.force, new=args.new)
    print(f"Wrote {target}. Open a pull request with it; the platform team reviews and merges it.")
    return 0


def _add_onboarding_commands(commands) -> None:
    from minnova_idp.model.names import SCHEMA_URL  # not .onboarding: building the parser must not load every model

    init = commands.add_parser(
        "init", help="write a commented .minnova/app.yaml for a new app",
        description="Write a commented .minnova/app.yaml for a new app. Asks nothing: flags set what differs.",
        epilog="examples:\n  minnova-idp init\n"
               "  minnova-idp init path/to/repo --name oracle --port 4000 --image ghcr.io/acme/oracle",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    init.add_argument("directory", nargs="?", default=".", help="the app repository (default: .)")
    init.add_argument("--name", help="app name (default: from the directory name)")
    init.add_argument("--port", type=int, default=8080, help="port the app listens on (default: 8080)")
    init.add_argument("--image", help="image repository (default: ghcr.io/your-org/<name>)")
    init.add_argument("--domain", default="example.com", help="domain for the example hosts (default: example.com)")
    init.add_argument("--schema-url", default=SCHEMA_URL, help="JSON Schema URL for editors")
    init.add_argument("--force", action="store_true", help="overwrite an existing .minnova/app.yaml")
    init.set_defaults(handler=_cmd_init)

    register = commands.add_parser(
        "register", help="write an app's registry entry (the pull request to the infra repo)",
        description="Write deployments/<deployment>/apps/<NAME>.yaml, the registry entry that deploys an app.",
        epilog="examples:\n  minnova-idp register oracle https://github.com/acme/oracle.git\n"
               "  minnova-idp register api git@github.com:acme/mono.git --path services/api --deployment acme\n"
               "  minnova-idp register shop https://github.com/globex/shop.git --deployment globex --new",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    register.add_argument("name", help="the app's name (as in its .minnova/app.yaml)")
    register.add_argument("repo", help="the app repository: https://... or git@host:owner/repo.git")
    register.add_argument("--deployment", help="client deployment: an existing deployments/<DEPLOYMENT>/apps "
                                               "(default: the only one under deployments/)")
    register.add_argument("--new", action="store_true",
                          help="start a new deployment: create deployments/<DEPLOYMENT>/apps (without it, a "
                               "deployment that does not exist is an error)")
    register.add_argument("--ref", help="branch, tag or commit (default: the default branch)")
    register.add_argument("--path", help="directory holding .minnova/ in a monorepo")
    register.add_argument("--project-dir", default=".", help="the infra repository (default: .)")
    register.add_argument("--force", action="store_true", help="overwrite an existing entry")
    register.set_defaults(handler=_cmd_register)


# ---- secrets -------------------------------------------------------------------------------

def _sops_problem(exc) -> ConfigError:
    return ConfigError([Problem(exc.file, message=str(exc).removeprefix(f"{exc.file}: "))])


def _stack_configs(project_dir: Path, stacks: str | Sequence[str] | None):
    """(stack name, StackConfig) of the given stacks, or of every Pulumi.<stack>.yaml here."""
    from minnova_idp.load.stack import from_stack_file, parse_stack_config, stack_names

    wanted = [stacks] if isinstance(stacks, str) else list(dict.fromkeys(stacks or []))
    wanted = wanted or stack_names(project_dir)
    if not wanted:
        raise ConfigError([Problem(str(project_dir), message="no Pulumi.<stack>.yaml here",
                                   hint="run in the infra repository, or pass --project-dir")])
    return [(name, parse_stack_config(*from_stack_file(project_dir, name))) for name in wanted]


def _recipients_by_environment(configs, app: str) -> dict[str, list[str]]:
    """`app`'s public recipients per environment in the stack configs `_stack_configs` gave."""
    from minnova_idp.load.secrets import app_key

    found: dict[str, list[str]] = {}
    for _, config in configs:
        environments = set(config.settings.secrets_recipients.get(app, {}))
        if config.settings.secrets_shared_recipient:
            environments |= {*config.settings.environments, "preview"}
        for environment in sorted(environments):
            key = app_key(config, app, environment)
            if key and key.recipient not in found.setdefault(environment, []):
                found[environment].append(key.recipient)
    return found


def _check_names(app: str, environment: str | None = None) -> None:
    from minnova_idp.model.names import check_app_name, check_environment_name

    problems = [Problem("APP", message=why) for why in [check_app_name(app)] if why]
    if environment is not None and environment != "preview":
        problems += [Problem("ENV", message=why) for why in [check_environment_name(environment)] if why]
    if problems:
        raise ConfigError(problems)


def _recipient_flags(values: Sequence[str] | None, flag: str = "--recipient") -> list[str]:
    """Public age recipients given on the command line; a secret key given by mistake is refused unseen."""
    from pydantic import TypeAdapter, ValidationError

    from minnova_idp.model.stack_settings import AgeRecipient

    adapter = TypeAdapter(AgeRecipient)
    found, problems = [], []
    for index, value in enumerate(values or [], start=1):
        try:
            found.append(adapter.validate_python(value.strip()))
        except ValidationError as exc:
            why = exc.errors(include_url=False)[0]["msg"].removeprefix("Value error, ")
            problems.append(Problem(flag, message=f"value {index} {why}"))
    if problems:
        raise ConfigError(problems)
    return list(dict.fromkeys(found))


def _environment_recipient_flags(values: Sequence[str]) -> dict[str, list[str]]:
    """`--recipient ENV=age1...` flags (sops-config)."""
    found: dict[str, list[str]] = {}
    for index, value in enumerate(values, start=1):
        environment, separator, recipient = value.partition("=")
        if not separator:
            raise ConfigError([Problem("--recipient", message=f"value {index} is not ENV=age1...",
                                       hint="e.g. --recipient prod=age1...")])
        _check_names("app", environment)
        found.setdefault(environment, []).extend(_recipient_flags([recipient]))
    return found


def _recipient_source(args: argparse.Namespace, app: str) -> tuple[str, dict[str, list[str]]]:
    """Where recipients come from, and them by environment: --stack; else the app repository's
    .minnova/recipients.yaml (in --app-dir); else every Pulumi.<stack>.yaml in --project-dir. Checked before
    anything is written."""
    from minnova_idp.load.recipients import RECIPIENTS_FILE
    from minnova_idp.load.secrets import published_problems
    from minnova_idp.load.stack import stack_names

    project_dir, app_dir = Path(args.project_dir), Path(args.app_dir)
    if args.stack:
        return "the stack config", _recipients_by_environment(_stack_configs(project_dir, args.stack), app)
    problems, published = published_problems(app_dir, app)
    if problems:
        raise ConfigError(problems)
    if published is not None:
        return str(app_dir / RECIPIENTS_FILE), {env: published.for_environment(env) for env in published.recipients}
    if stack_names(project_dir):
        return "the stack config", _recipients_by_environment(_stack_configs(project_dir, None), app)
    raise ConfigError([Problem(str(app_dir / RECIPIENTS_FILE), message=f"not found, and there is no "
                               f"Pulumi.<stack>.yaml in {project_dir} either",
                               hint=f"in the app repository, commit the file the platform team prints with "
                                    f"`minnova-idp secrets publish {app}` (or pass --recipient); in the infra "
                                    "repository, run here or pass --project-dir")])


def _no_recipient(source: str, app: str, environment: str) -> ConfigError:
    if source == "the stack config":
        return ConfigError([Problem(f"{app}/{environment}", message="has no age recipient in the stack config",
                                    hint=f"the platform team runs: minnova-idp secrets new-key {app} {environment}")])
    return ConfigError([Problem(source, f"recipients.{environment}", "is not published",
                                hint=f"the platform team runs: minnova-idp secrets new-key {app} {environment}, then "
                                     f"minnova-idp secrets publish {app}")])


def _emit(text: str, out: str | None) -> None:
    """The whole text on stdout, or into --out (atomically, only once everything succeeded)."""
    if out is None:
        sys.stdout.write(text)
        return
    target = Path(out)
    _check_writable("--out", target)
    _write_atomically(target, text)
    print(f"Wrote {target}.", file=sys.stderr)


def _check_writable(flag: str, target: Path) -> None:
    if target.is_dir():
        raise ConfigError([Problem(flag, message=f"{target} is a directory", hint="give a file name")])
    if not target.parent.is_dir():
        raise ConfigError([Problem(flag, message=f"the directory {target.parent} does not exist")])


def _write_atomically(path: Path, text: str, mode: int = 0o644) -> None:
    """A new file beside `path`, renamed over it: a reader sees the old file or the new one, never half of one.
    A symlink at `path` is replaced, never written through."""
    import contextlib
    import tempfile

    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _cmd_secrets_recipients(args: argparse.Namespace) -> int:
    _check_names(args.app, args.environment)
    source, found = _recipient_source(args, args.app)
    if not found.get(args.environment):
        raise _no_recipient(source, args.app, args.environment)
    print(",".join(found[args.environment]))  # the form `sops --encrypt --age` takes
    return 0


def _cmd_secrets_sops_config(args: argparse.Namespace) -> int:
    from minnova_idp.load.secrets import sops_config_text

    _check_names(args.app)
    if args.recipient:
        source, found = "--recipient", _environment_recipient_flags(args.recipient)
    else:
        source, found = _recipient_source(args, args.app)
    if not any(found.values()):
        raise ConfigError([Problem(source if source != "the stack config" else args.app,
                                   message=f"has no age recipients for {args.app}",
                                   hint=f"the platform team runs: minnova-idp secrets new-key {args.app} <env>")])
    if args.out:
        _check_writable("--out", Path(args.out))
    _emit(sops_config_text(args.app, found, source), args.out)
    return 0


def _cmd_secrets_publish(args: argparse.Namespace) -> int:
    from minnova_idp.load.recipients import RECIPIENTS_FILE, published_text

    _check_names(args.app)
    if args.out:
        _check_writable("--out", Path(args.out))
    configs = _stack_configs(Path(args.project_dir), args.stack)
    found = _recipients_by_environment(configs, args.app)
    if not found:
        raise ConfigError([Problem(args.app, message="has no age recipients in the stack config",
                                   hint=f"minnova-idp secrets new-key {args.app} <env> --stack <stack>")])
    _emit(published_text(args.app, found, [name for name, _ in configs]), args.out)
    if args.out is None:
        print(f"# commit this as {RECIPIENTS_FILE} in {args.app}'s repository", file=sys.stderr)
    return 0


def _cmd_secrets_new_key(args: argparse.Namespace) -> int:
    from minnova_idp.sops import document as sops

    _check_names(args.app, args.environment)
    identity = sops.generate_identity()
    stack = f" --stack {args.stack}" if args.stack else ""
    print(f"# A new age key for {args.app}/{args.environment}. The secret half is shown once: store it now.\n"
          f"pulumi config set{stack} --secret --path 'minnova:secretsKeys.{args.app}.{args.environment}' "
          f"{identity.secret}\n"
          f"pulumi config set{stack} --path 'minnova:secretsRecipients.{args.app}.{args.environment}' "
          f"{identity.recipient}\n"
          f"# App developers encrypt for: {identity.recipient} (publish it: minnova-idp secrets publish {args.app})")
    return 0


def _check_app_secrets(app_yaml: Path, config) -> None:
    """`validate` of an app repository: its secrets files and recipients, offline (minnova_idp/load/secrets.py)."""
    from minnova_idp.load.secrets import check_app_repo_secrets

    check_app_repo_secrets(app_yaml, config)


# `secrets encrypt`, `edit` and `rotate`: files the real sops CLI opens, without the sops CLI.

def _is_dotenv(name: str) -> bool:
    return name == ".env" or name.endswith(".env")


class _SecretsTarget:
    """A secrets file and what its app repository says about it: the app (if .minnova/app.yaml is there), the
    environment (from `.minnova/secrets/<env>.enc.yaml` or --env), and the published recipients."""

    def __init__(self, path: Path, args: argparse.Namespace):
        from minnova_idp.load.secrets import SECRETS_DIR
        from minnova_idp.model.names import APP_CONFIG

        self.path = path
        self.shown = str(path)
        inside = path.parent.name == SECRETS_DIR.name and path.parent.parent.name == SECRETS_DIR.parent.name
        self.inside = inside
        self.root = path.parent.parent.parent if inside else Path(getattr(args, "app_dir", None) or ".")
        self.config = None
        if (self.root / APP_CONFIG).is_file():
            _, self.config = _load_app(str(self.root))
        environment = getattr(args, "env", None)
        if environment:
            _check_names("app", environment)
            known = [*self.config.environments, "preview"] if self.config is not None else [environment]
            if environment not in known:
                import difflib

                close = difflib.get_close_matches(environment, known, n=1)
                raise ConfigError([Problem("--env", message=f"there is no environment '{environment}' in "
                                           f"{self.root / APP_CONFIG} ({', '.join(known)})",
                                           hint=f"did you mean {close[0]}?" if close else None)])
        elif inside and path.name.endswith(".enc.yaml"):
            environment = path.name[:-len(".enc.yaml")]
        self.environment = environment

    @property
    def database(self) -> bool | None:
        return self.config.database.enabled if self.config is not None else None

    @property
    def redis(self) -> bool:
        return self.config is not None and self.config.redis.enabled

    def check_name(self) -> None:
        """Inside .minnova/secrets/, only a name the platform reads (before any work is done)."""
        from minnova_idp.load.secrets import PREVIEW, file_name_problem

        if not self.inside:
            return
        environments = list(self.config.environments) if self.config is not None else []
        if self.config is None:  # without app.yaml, any well-formed <env>.enc.yaml
            stem = self.path.name.split(".", 1)[0]
            environments = [stem] if stem and stem != PREVIEW else []
        problem = file_name_problem(self.path.name, environments, self.shown)
        if problem is not None:
            raise ConfigError([problem])

    def published(self):
        """The app repository's .minnova/recipients.yaml (None when there is none); an invalid one is an error."""
        from minnova_idp.load.recipients import read_published
        from minnova_idp.load.secrets import published_problems

        if self.config is None:
            return read_published(self.root)
        problems, published = published_problems(self.root, self.config.name)
        if problems:
            raise ConfigError(problems)
        return published

    def recipients(self, flags: Sequence[str] | None, required: bool = True) -> list[str]:
        """--recipient flags, else the recipients published for the file's environment ([] when not required and
        there are none)."""
        from minnova_idp.load.recipients import RECIPIENTS_FILE

        given = _recipient_flags(flags)
        if given:
            return given
        if not self.environment:
            if not required:
                return []
            raise ConfigError([Problem(self.shown, message="cannot tell the environment from the file name (only "
                                       ".minnova/secrets/<env>.enc.yaml says it)",
                                       hint="pass --env ENV, or --recipient age1...")])
        published = self.published()
        where = str(self.root / RECIPIENTS_FILE)
        found = published.for_environment(self.environment) if published is not None else []
        if found or not required:
            return found
        if published is None:
            raise ConfigError([Problem(where, message="not found: no recipients to encrypt for",
                                       hint="commit the file the platform team prints with `minnova-idp secrets "
                                            "publish APP`, or pass --recipient age1...")])
        raise _no_recipient(where, published.app, self.environment)


def _parse_plaintext(content: bytes, shown: str, dotenv: bool):
    from minnova_idp.sops import document as sops

    try:
        return sops.plaintext_dotenv(content, shown) if dotenv else sops.plaintext_yaml(content, shown)
    except sops.SopsError as exc:
        raise _sops_problem(exc) from None


def _plaintext_problems(document, shown: str, dotenv: bool, database: bool | None, redis: bool = False) -> None:
    """The platform's checks of the values, before they are encrypted (names never values in messages)."""
    from minnova_idp.load.secrets import secret_values

    if dotenv:
        if not isinstance(document, dict):
            raise ConfigError([Problem(shown, message="is not a dotenv file")])
        document = {"stringData": document}
    secret_values(document, shown, database=database, redis=redis)


def _dotenv_text(values: dict) -> str:
    return "".join(f"{key}={value}".replace("\n", "\\n") + "\n" for key, value in values.items())


def _encrypt_document(document, recipients: Sequence[str], dotenv: bool) -> str:
    from minnova_idp.sops import document as sops

    try:
        return sops.encrypt_dotenv(document, recipients) if dotenv else sops.encrypt_yaml(document, recipients)
    except sops.SopsError as exc:
        raise _sops_problem(exc) from None


def _self_check(text: str, target: "_SecretsTarget", recipients: Sequence[str], dotenv: bool) -> None:
    """What was encrypted passes the same offline checks as `validate` and `pulumi up` (never written otherwise)."""
    from minnova_idp.load.secrets import check_encrypted

    if dotenv:
        return
    problems = check_encrypted(text.encode("utf-8"), target.shown, database=target.database, redis=target.redis,
                               recipients=recipients,
                               recipients_from="the recipients it was encrypted for")
    if problems:
        raise ConfigError(problems)


def _cmd_secrets_encrypt(args: argparse.Namespace) -> int:
    from minnova_idp.load.yamlsafe import MAX_BYTES, FileRefused, read_regular_file
    from minnova_idp.sops import document as sops

    from_stdin = args.file == "-"
    if from_stdin and not args.out:
        raise ConfigError([Problem("--out", message="is required when the plaintext comes from stdin ('-')")])
    target_path = Path(args.out) if args.out else Path(args.file)
    if args.out:
        _check_target("--out", target_path)
        if (target_path.exists() or target_path.is_symlink()) and not args.force:
            raise ConfigError([Problem("--out", message=f"{target_path} exists",
                                       hint="pass --force to replace it (its old values are not kept)")])
    else:
        _check_target(args.file, target_path)
    target = _SecretsTarget(target_path, args)
    target.check_name()
    recipients = target.recipients(args.recipient)
    shown = "<stdin>" if from_stdin else args.file
    if from_stdin:
        content = sys.stdin.buffer.read(MAX_BYTES + 1)
        if len(content) > MAX_BYTES:
            raise ConfigError([Problem(shown, message=f"is larger than the limit of {MAX_BYTES} bytes")])
    else:
        try:
            content = read_regular_file(Path(args.file), follow_symlinks=False)
        except FileRefused as exc:
            raise ConfigError([Problem(shown, message=exc.reason)]) from None
    if sops.is_encrypted(content):
        raise ConfigError([Problem(shown, message="is already encrypted (it has sops metadata)",
                                   hint="change it with: minnova-idp secrets edit FILE; re-encrypt it for new "
                                        "recipients with: minnova-idp secrets rotate FILE")])
    input_dotenv = args.input_type == "dotenv" if args.input_type else (not from_stdin and _is_dotenv(args.file))
    output_dotenv = _is_dotenv(target_path.name)
    document = _parse_plaintext(content, shown, input_dotenv)
    if input_dotenv and not output_dotenv:
        document = {"apiVersion": "v1", "kind": "Secret", "stringData": document}
    elif output_dotenv and not input_dotenv:
        raise ConfigError([Problem("--out", message=f"{target_path} is a dotenv name; a YAML Secret is written to "
                                   "a .yaml file", hint="e.g. --out .minnova/secrets/prod.enc.yaml")])
    _plaintext_problems(document, shown, output_dotenv, target.database, target.redis)
    text = _encrypt_document(document, recipients, output_dotenv)
    _self_check(text, target, recipients, output_dotenv)
    _make_secrets_dir(target_path)
    _write_atomically(target_path, text)
    print(f"Encrypted {target_path} for {', '.join(recipients)}. Commit it; `minnova-idp validate .` checks it.")
    return 0


def _secrets_parent(path: Path) -> bool:
    return path.parent.name == "secrets" and path.parent.parent.name == ".minnova"


def _check_target(flag: str, path: Path) -> None:
    """Where an encrypted file goes: `.minnova/secrets/` may be created (when `.minnova/` exists), any other
    directory must exist already. Checked before any work."""
    if not (_secrets_parent(path) and path.parent.parent.is_dir() and not path.parent.exists()):
        _check_writable(flag, path)


def _make_secrets_dir(path: Path) -> None:
    if not path.parent.exists() and _secrets_parent(path) and path.parent.parent.is_dir():
        path.parent.mkdir()


_NEW_SECRETS = """\
# New secrets file {shown}: values under stringData, one NAME: value per line (quote numbers and booleans).
# When the editor exits it is encrypted for {recipients}; this plaintext copy is then overwritten and deleted.
apiVersion: v1
kind: Secret
stringData:
  # API_TOKEN: replace-me
"""


def _cmd_secrets_edit(args: argparse.Namespace) -> int:
    from minnova_idp.load.yamlsafe import FileRefused, read_regular_file
    from minnova_idp.sops import document as sops

    path = Path(args.file)
    target = _SecretsTarget(path, args)
    dotenv = _is_dotenv(path.name)
    try:
        content = read_regular_file(path, follow_symlinks=False)
    except FileRefused as exc:
        if not exc.missing:
            raise ConfigError([Problem(str(path), message=exc.reason)]) from None
        content = None
    identities, recipients = [], []
    if content is None:  # a new file: nothing to decrypt, so no identity needed
        target.check_name()
        _check_target(str(path), path)
        recipients = target.recipients(args.recipient)
        plaintext = ("# API_TOKEN=replace-me\n" if dotenv else
                     _NEW_SECRETS.format(shown=path, recipients=", ".join(recipients)))
    else:
        if args.recipient:
            raise ConfigError([Problem("--recipient", message="only for a new file; an existing one keeps its "
                                       "recipients", hint=f"re-encrypt it for others with: minnova-idp secrets rotate "
                                                          f"{path} --recipient ...")])
        if not sops.is_encrypted(content):
            raise ConfigError([Problem(str(path), message="is not encrypted (no sops metadata)",
                                       hint=f"encrypt it first: minnova-idp secrets encrypt {path}")])
        try:
            identities = sops.identities_from_environment(Path(args.identity) if args.identity else None)
            document = sops.decrypt(content, identities, str(path))
        except sops.SopsError as exc:
            raise _sops_problem(exc) from None
        plaintext = _dotenv_text(document) if dotenv else sops.dump_plaintext_yaml(document)
    edited = _run_editor(plaintext, path.name, str(path))
    if edited == plaintext.encode("utf-8"):
        print(f"No changes: {path} is left as it was.")
        return 0
    shown = f"{path} (as edited)"
    document = _parse_plaintext(edited, shown, dotenv)
    if not dotenv and document is None:
        raise ConfigError([Problem(shown, message="is empty: nothing was written",
                                   hint=f"to remove the secrets, delete {path}")])
    _plaintext_problems(document, shown, dotenv, target.database, target.redis)
    if content is None:
        text = _encrypt_document(document, recipients, dotenv)
    else:
        try:
            text = sops.reencrypt(content, document, identities, str(path))
        except sops.SopsError as exc:
            raise _sops_problem(exc) from None
        recipients = list(sops.recipients(text, str(path)))
    _self_check(text, target, recipients, dotenv)
    _make_secrets_dir(path)
    _write_atomically(path, text)
    print(f"Encrypted {path} for {', '.join(recipients)}.")
    return 0


def _cmd_secrets_rotate(args: argparse.Namespace) -> int:
    """A new data key, for the published recipients (or --recipient, or the file's own): `sops --rotate` and
    `sops updatekeys` in one. The values are not changed (rotate those too if the old key may have leaked)."""
    from minnova_idp.load.yamlsafe import FileRefused, read_regular_file
    from minnova_idp.sops import document as sops

    path = Path(args.file)
    target = _SecretsTarget(path, args)
    try:
        content = read_regular_file(path, follow_symlinks=False)
    except FileRefused as exc:
        raise ConfigError([Problem(str(path), message=exc.reason)]) from None
    # --recipient, else the published ones (--env must have some), else the file's own.
    recipients = target.recipients(args.recipient, required=bool(args.env)) or None
    try:
        identities = sops.identities_from_environment(Path(args.identity) if args.identity else None)
        document = sops.decrypt(content, identities, str(path))
        text = sops.reencrypt(content, document, identities, str(path), recipients=recipients, fresh_key=True)
        written_for = sops.recipients(text, str(path))
    except sops.SopsError as exc:
        raise _sops_problem(exc) from None
    _write_atomically(path, text)
    print(f"Rotated {path}: a new data key, encrypted for {', '.join(written_for)}.")
    return 0


def _run_editor(plaintext: str, name: str, shown: str) -> bytes:
    """$SOPS_EDITOR, $EDITOR or vi on a private copy: a 0600 file in a 0700 directory of its own under $TMPDIR.
    Whatever happens (the editor fails, Ctrl+C, SIGTERM, SIGHUP, an exception), every file in that directory
    (the editor's backups and swap files too) is overwritten with zeros and deleted, then the directory. Only
    SIGKILL or a power cut can leave it behind; a file the editor replaced instead of rewriting is deleted without
    being overwritten (its old blocks are the file system's)."""
    import shlex
    import signal
    import subprocess
    import tempfile

    from minnova_idp.load.yamlsafe import MAX_BYTES, FileRefused, read_regular_file

    editor = os.environ.get("SOPS_EDITOR") or os.environ.get("EDITOR") or "vi"
    try:
        command = shlex.split(editor)
    except ValueError:
        command = []
    if not command:
        raise ConfigError([Problem("EDITOR", message="cannot be split into a command", hint="e.g. EDITOR='code --wait'")])

    def stop(signum, _frame):
        raise SystemExit(128 + signum)

    previous = {}
    for signum in (signal.SIGTERM, signal.SIGHUP):
        try:
            previous[signum] = signal.signal(signum, stop)
        except ValueError:  # not the main thread: the caller's handlers stay
            pass
    directory = tempfile.mkdtemp(prefix="minnova-secrets-")
    try:
        private = os.path.join(directory, name)
        fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(plaintext)
        try:
            result = subprocess.run([*command, private])
        except OSError as exc:
            raise ConfigError([Problem("EDITOR", message=f"cannot run '{command[0]}': {exc.strerror}",
                                       hint="set EDITOR (or SOPS_EDITOR) to an editor that waits, e.g. "
                                            "'code --wait'")]) from None
        if result.returncode != 0:
            raise ConfigError([Problem(shown, message=f"the editor ({command[0]}) exited with status "
                                       f"{result.returncode}: nothing was changed")])
        try:
            return read_regular_file(private, MAX_BYTES, follow_symlinks=False)
        except FileRefused as exc:
            raise ConfigError([Problem(shown, message=f"the edited copy cannot be read back ({exc.reason}): "
                                       "nothing was changed")]) from None
    except KeyboardInterrupt:
        print(f"Interrupted: {shown} was not changed.", file=sys.stderr)
        raise
    finally:
        _scrub(directory)
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _scrub(directory: str) -> None:
    """Overwrite every regular file under `directory` with zeros, then delete everything (links unfollowed)."""
    import contextlib
    import shutil
    import stat

    for root, dirs, files in os.walk(directory, topdown=False):
        for name in files:
            path = os.path.join(root, name)
            with contextlib.suppress(OSError):
                fd = os.open(path, os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0))
                try:
                    size = os.fstat(fd).st_size
                    if stat.S_ISREG(os.fstat(fd).st_mode):
                        os.write(fd, b"\0" * size)
                        os.fsync(fd)
                finally:
                    os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(path)
        for name in dirs:
            path = os.path.join(root, name)
            with contextlib.suppress(OSError):
                os.unlink(path) if os.path.islink(path) else os.rmdir(path)
    shutil.rmtree(directory, ignore_errors=True)


def _open_sops_file(args: argparse.Namespace):
    from minnova_idp.load.yamlsafe import FileRefused, read_regular_file
    from minnova_idp.sops import document as sops

    path = Path(args.file)
    try:
        content = read_regular_file(path)
    except FileRefused as exc:
        raise ConfigError([Problem(str(path), message=exc.reason)]) from None
    try:
        identities = sops.identities_from_environment(Path(args.identity) if args.identity else None)
        result = path, sops.recipients(content, str(path)), sops.decrypt(content, identities, str(path))
        # sops decrypts and verifies an empty or clear value (its MAC cannot see it): the platform refuses those,
        # so the debugging commands say so too.
        unprotected = sops.unauthenticated_values(content, str(path), sections=("stringData", "data"))
    except sops.SopsError as exc:
        raise _sops_problem(exc) from None
    if unprotected:
        raise ConfigError([Problem(str(path), key, f"{why}; the platform refuses this file") for key, why in unprotected])
    return result


def _leaf_paths(value, prefix: str = "") -> list[str]:
    if isinstance(value, dict):
        return [path for key, item in value.items() for path in _leaf_paths(item, f"{prefix}.{key}" if prefix else key)]
    if isinstance(value, list):
        return [path for index, item in enumerate(value) for path in _leaf_paths(item, f"{prefix}[{index}]")]
    return [prefix]


def _cmd_secrets_check(args: argparse.Namespace) -> int:
    path, recipients, document = _open_sops_file(args)
    keys = [p for p in _leaf_paths(document) if p.split(".")[0] in ("data", "stringData")] or _leaf_paths(document)
    print(f"{path}: decrypts, MAC verified; encrypted for {', '.join(recipients)}")
    for key in keys:
        print(f"  {key}")
    return 0


def _cmd_secrets_decrypt(args: argparse.Namespace) -> int:
    import yaml

    path, _, document = _open_sops_file(args)
    if path.suffix == ".env":
        sys.stdout.write("".join(f"{key}={value}\n" for key, value in document.items()))
    else:
        sys.stdout.write(yaml.safe_dump(document, sort_keys=False))
    return 0


def _add_secrets_commands(commands) -> None:
    secrets = commands.add_parser(
        "secrets", help="age keys and SOPS files of app secrets",
        description="App secrets live in the app repo as SOPS (age) encrypted Kubernetes Secrets, "
                    ".minnova/secrets/<env>.enc.yaml, one age key per app and environment. The public recipients "
                    "are published to the app repo as .minnova/recipients.yaml; no sops CLI is needed.",
        epilog="examples:\n"
               "  minnova-idp secrets publish oracle > recipients.yaml      # platform team, infra repo\n"
               "  minnova-idp secrets edit .minnova/secrets/prod.enc.yaml   # app repo: create (or edit, with the key)\n"
               "  minnova-idp secrets encrypt .minnova/secrets/prod.enc.yaml  # app repo: encrypt a plaintext file\n"
               "  minnova-idp secrets recipients oracle prod                # what to encrypt for\n"
               "  minnova-idp secrets sops-config oracle --out .sops.yaml   # for the sops CLI, if you use it\n"
               "  minnova-idp secrets new-key oracle prod --stack prod      # platform team\n"
               "  minnova-idp secrets check .minnova/secrets/prod.enc.yaml --identity key.txt",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = secrets.add_subparsers(dest="secrets_command", metavar="COMMAND", required=True)

    def add(name: str, handler, help_text: str, example: str):
        command = sub.add_parser(name, help=help_text, description=help_text[0].upper() + help_text[1:] + ".",
                                 epilog=f"example:\n  {example}", formatter_class=argparse.RawDescriptionHelpFormatter)
        command.set_defaults(handler=handler)
        return command

    def source_options(command) -> None:
        command.add_argument("--stack", help="only this stack's config (default: the app repository's "
                                             ".minnova/recipients.yaml, else every Pulumi.<stack>.yaml)")
        command.add_argument("--project-dir", default=".", help="the infra repository (default: .)")
        command.add_argument("--app-dir", default=".", help="the app repository, holding .minnova/ (default: .)")

    def identity_option(command) -> None:
        command.add_argument("--identity", metavar="KEYFILE",
                             help="age identity file (default: $SOPS_AGE_KEY_FILE, then $SOPS_AGE_KEY)")

    def target_options(command, recipient_help: str) -> None:
        command.add_argument("--recipient", action="append", metavar="AGE1...", help=recipient_help)
        command.add_argument("--env", metavar="ENV", help="the environment whose published recipients to use "
                                                          "(default: from .minnova/secrets/<ENV>.enc.yaml)")
        command.add_argument("--app-dir", help="the app repository, for a file outside its .minnova/secrets/ "
                                               "(default: .)")

    recipients = add("recipients", _cmd_secrets_recipients, "print the age recipient to encrypt an app's secrets for",
                     "minnova-idp secrets recipients oracle prod")
    recipients.add_argument("app")
    recipients.add_argument("environment", metavar="ENV", help="an environment, or preview")
    source_options(recipients)
    sops_config = add("sops-config", _cmd_secrets_sops_config, "print a .sops.yaml with creation rules for an app repo",
                      "minnova-idp secrets sops-config oracle --out .sops.yaml")
    sops_config.add_argument("app")
    source_options(sops_config)
    sops_config.add_argument("--recipient", action="append", metavar="ENV=AGE1...",
                             help="an environment's recipient, instead of reading them (repeatable)")
    sops_config.add_argument("--out", metavar="FILE", help="write it here, only if everything succeeded (a shell "
                                                           "redirection truncates the file even when the command fails)")
    publish = add("publish", _cmd_secrets_publish, "print an app's .minnova/recipients.yaml (public recipients of "
                  "every environment, from the stack config) for its repository",
                  "minnova-idp secrets publish oracle --stack dev --stack prod --out recipients.yaml")
    publish.add_argument("app")
    publish.add_argument("--stack", action="append", help="a stack to read (repeatable; default: every "
                                                          "Pulumi.<stack>.yaml)")
    publish.add_argument("--project-dir", default=".", help="the infra repository (default: .)")
    publish.add_argument("--out", metavar="FILE", help="write it here instead of stdout")
    new_key = add("new-key", _cmd_secrets_new_key, "generate an age key for an app environment and print the "
                  "pulumi config commands that store it", "minnova-idp secrets new-key oracle prod --stack prod")
    new_key.add_argument("app")
    new_key.add_argument("environment", metavar="ENV", help="an environment, or preview")
    new_key.add_argument("--stack", help="the stack the commands set the key in")
    encrypt = add("encrypt", _cmd_secrets_encrypt, "encrypt a plaintext Kubernetes Secret (YAML) or dotenv file, in "
                  "place or to --out, for the recipients published in .minnova/recipients.yaml (or --recipient)",
                  "minnova-idp secrets encrypt .minnova/secrets/prod.enc.yaml")
    encrypt.add_argument("file", help="the plaintext file, or - for stdin (then --out is required)")
    encrypt.add_argument("--out", metavar="FILE", help="write the encrypted file here (a .env name writes a sops "
                                                       "dotenv file; anything else a YAML Secret)")
    encrypt.add_argument("--force", action="store_true", help="replace an existing --out file")
    encrypt.add_argument("--input-type", choices=("yaml", "dotenv"),
                         help="the plaintext's format (default: dotenv for *.env, else YAML)")
    target_options(encrypt, "encrypt for this age recipient (repeatable) instead of the published ones")
    edit = add("edit", _cmd_secrets_edit, "open a secrets file decrypted in $EDITOR and encrypt it again (a new file "
               "is created for the published recipients, without a key); no plaintext is left behind",
               "minnova-idp secrets edit .minnova/secrets/prod.enc.yaml --identity key.txt")
    edit.add_argument("file")
    identity_option(edit)
    target_options(edit, "a new file only: encrypt for this age recipient (repeatable)")
    rotate = add("rotate", _cmd_secrets_rotate, "re-encrypt a secrets file with a new data key for the published "
                 "recipients (or --recipient): after a key rotation, or to drop a recipient",
                 "minnova-idp secrets rotate .minnova/secrets/prod.enc.yaml --identity old-key.txt")
    rotate.add_argument("file")
    identity_option(rotate)
    target_options(rotate, "encrypt for this age recipient (repeatable) instead of the published ones")
    for name, handler, help_text, example in (
            ("check", _cmd_secrets_check, "check a SOPS file decrypts and its MAC holds; prints key names only",
             "minnova-idp secrets check .minnova/secrets/prod.enc.yaml --identity key.txt"),
            ("decrypt", _cmd_secrets_decrypt, "print a SOPS file decrypted, like sops -d (for debugging)",
             "SOPS_AGE_KEY_FILE=key.txt minnova-idp secrets decrypt .minnova/secrets/prod.enc.yaml")):
        command = add(name, handler, help_text, example)
        command.add_argument("file")
        identity_option(command)


def _cmd_plan(args: argparse.Namespace) -> int:
    from minnova_idp.load.progress import FetchProgress
    from minnova_idp.plan.recorder import render_tree, run_plan, write_plan

    project_dir = Path(args.project_dir).resolve()
    previous = _read_previous_outputs(args.previous_outputs) if args.previous_outputs else None
    identities = None
    if args.identity:
        from minnova_idp.sops import document as sops

        try:
            identities = sops.identities_from_environment(Path(args.identity), environ={})
        except sops.SopsError as exc:
            raise _sops_problem(exc) from None
    out = Path(args.out) if args.out else None
    if out is not None:
        _check_out_dir(out)  # before any work: a long plan must not end in "cannot write there"
    progress = FetchProgress(sys.stderr)
    try:
        plan = run_plan(project_dir, args.stack, cache_dir=Path(args.cache_dir) if args.cache_dir else None,
                        previous_outputs=previous, identities=identities, only_app=args.app, progress=progress)
    except BaseException:
        if out is not None:
            _remove_plan(out)  # a failed run leaves no earlier plan behind to be mistaken for this one
        raise
    finally:
        progress.finish()
    if out is not None:
        write_plan(plan, out)
    if args.json:
        from collections import Counter

        print(json.dumps({"stack": plan.stack, "app": args.app, "resources": len(plan.resources),
                          "byType": dict(sorted(Counter(r.type for r in plan.resources).items())),
                          "outputs": plan.outputs, "imageGate": plan.image_gate, "out": args.out},
                         indent=2, sort_keys=True))
        return 0
    print(render_tree(plan))
    if out is not None:
        print(f"\nWrote {out / 'resources.json'} and {len(plan.manifests())} manifests under {out / 'manifests'}")
    return 0


def _check_out_dir(out: Path) -> None:
    """`--out` must be a directory that is new, empty or holds an earlier plan (which it replaces)."""
    if out.exists() and not out.is_dir():
        raise ConfigError([Problem("--out", message=f"{out} exists and is not a directory",
                                   hint="give a new or empty directory")])
    if out.is_dir() and any(out.iterdir()) and not (out / "resources.json").is_file():
        raise ConfigError([Problem("--out", message=f"{out} exists and does not hold a plan; refusing to overwrite it",
                                   hint="give a new or empty directory")])
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".minnova-idp-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise ConfigError([Problem("--out", message=f"cannot write to {out}: {exc.strerror or exc}")]) from None


def _remove_plan(out: Path) -> None:
    import shutil

    if (out / "resources.json").is_file():
        (out / "resources.json").unlink()
        shutil.rmtree(out / "manifests", ignore_errors=True)


MAX_OUTPUTS_BYTES = 4 * 1024 * 1024
_OUTPUTS_HINT = "pulumi stack output --json > FILE"


def _read_previous_outputs(file: str) -> dict:
    """`plan --previous-outputs`: a bounded regular file (never a FIFO that blocks or a device that never ends)
    holding a JSON object; the outputs the plan checks against are checked here, each error naming its key."""
    from minnova_idp.load.yamlsafe import FileRefused, read_regular_file
    from minnova_idp.model.inputs import IMAGE_TAGS_OUTPUT
    from minnova_idp.policy.guards import GUARDED, malformed_recorded

    def refused(message: str, field: str = "") -> ConfigError:
        return ConfigError([Problem(file, field, f"cannot read stack outputs: {message}", hint=_OUTPUTS_HINT)])

    try:
        content = read_regular_file(file, MAX_OUTPUTS_BYTES)
    except FileRefused as exc:
        raise refused(exc.reason) from None
    try:
        document = json.loads(content.decode("utf-8"))
    except UnicodeDecodeError:
        raise refused("not UTF-8 text") from None
    except json.JSONDecodeError as exc:  # its message quotes no content, only where
        raise refused(f"not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except (ValueError, RecursionError):  # a number too long to convert, nesting too deep
        raise refused("not JSON this command can read (a number too long, or nesting too deep)") from None
    if not isinstance(document, dict):
        raise refused("must be a JSON object of output names to values")
    problems = []
    for output in (row.output for row in GUARDED):
        value = document.get(output)
        if value is None:
            continue
        if not isinstance(value, dict):
            problems.append(Problem(file, output, "must be an object of app environments to values",
                                    hint=_OUTPUTS_HINT))
            continue
        for key, item in value.items():
            field = f"{output}.{key}" if key.isprintable() and len(key) <= 80 else f"{output}[{key[:80]!r}]"
            if not isinstance(item, str):
                problems.append(Problem(file, field, "must be a string", hint=_OUTPUTS_HINT))
            elif (why := malformed_recorded(output, item)) is not None:
                problems.append(Problem(file, field, why, hint=_OUTPUTS_HINT))
    tags = document.get(IMAGE_TAGS_OUTPUT)
    if tags is not None:  # component -> tags deployed, newest first (the image gate's and rollback's record)
        if not isinstance(tags, dict):
            problems.append(Problem(file, IMAGE_TAGS_OUTPUT, "must be an object of app environments to lists of tags",
                                    hint=_OUTPUTS_HINT))
        else:
            problems += [Problem(file, f"{IMAGE_TAGS_OUTPUT}.{component}"[:120], "must be a list of tags, newest "
                                 "first", hint=_OUTPUTS_HINT)
                         for component, item in tags.items()
                         if not (isinstance(item, list) and all(_is_image_tag(tag) for tag in item))]
    if problems:
        raise ConfigError(problems)
    return document


def _is_image_tag(value) -> bool:
    from minnova_idp.model.fields import validate_image_tag

    try:
        return isinstance(value, str) and validate_image_tag(value) == value
    except ValueError:
        return False


def _stack_arguments(parser: argparse.ArgumentParser) -> None:
    """What `status` and `plan` read a stack from: its file, the project, the git cache of app repositories."""
    parser.add_argument("--stack", required=True, help="stack name (reads Pulumi.<STACK>.yaml)")
    parser.add_argument("--project-dir", default=".", help="directory holding Pulumi.yaml (default: .)")
    parser.add_argument("--cache-dir", help="git cache (default: $MINNOVA_IDP_CACHE_DIR or ~/.cache/minnova-idp)")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("minnova-idp")
    except PackageNotFoundError:  # run from a checkout without installing
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="minnova-idp",
        description="Self-service deployment on Kubernetes: validate app configs, plan stacks offline.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
               "  minnova-idp validate .                       # checks ./.minnova/app.yaml\n"
               "  minnova-idp plan --stack dev --out plan-dev  # what `pulumi up` would create, offline\n"
               "  minnova-idp schema > app.schema.json         # JSON Schema for editors",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    schema = commands.add_parser(
        "schema", help="print the JSON Schema of .minnova/app.yaml",
        description="Print the JSON Schema of .minnova/app.yaml (for editor completion).",
        epilog="examples:\n  minnova-idp schema > app.schema.json\n"
               "  # then, first line of app.yaml: # yaml-language-server: $schema=app.schema.json",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    schema.set_defaults(handler=_cmd_schema)

    validate = commands.add_parser(
        "validate", help="check an app config",
        description="Check an app config: exit 0 when valid, 1 with every problem otherwise.",
        epilog="examples:\n  minnova-idp validate .minnova/app.yaml\n  minnova-idp validate path/to/app-repo",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    validate.add_argument("path", help="an app.yaml, an app repository holding .minnova/app.yaml, a registry "
                                       "entry (deployments/<deployment>/apps/<app>.yaml) or a stack file "
                                       "(Pulumi.<stack>.yaml)")
    validate.add_argument("--json", action="store_true", help="print the result as JSON")
    validate.set_defaults(handler=_cmd_validate)

    status = commands.add_parser(
        "status", help="list a stack's apps, environments, URLs, image tags and databases",
        description="What a stack deploys, from its config and the registry alone (no cluster, no credentials): "
                    "apps, environments, URLs, image tags and where each comes from, databases, previews.",
        epilog="examples:\n  minnova-idp status --stack prod\n  minnova-idp status --stack dev --json | jq '.apps[].url'",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    _stack_arguments(status)
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(handler=_cmd_status)

    drills = commands.add_parser(
        "drills", help="how the weekly restore drills went (asks the cluster with kubectl)",
        description="Every restore drill's CronJob: when it last passed and how its latest run ended. Exit 0 when "
                    f"all are healthy, {EXIT_DRILLS_FAILING} when one failed or has not passed for 8 days.",
        epilog="examples:\n  minnova-idp drills\n  minnova-idp drills --namespace oracle-prod --json",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    drills.add_argument("--namespace", help="one namespace (default: all)")
    drills.add_argument("--context", help="kubeconfig context (default: the current one)")
    drills.add_argument("--json", action="store_true", help="print JSON")
    drills.set_defaults(handler=_cmd_drills)

    rollback = commands.add_parser(
        "rollback", help="pin an app environment to the tag it ran before (or --to TAG); --clear to undo",
        description="Roll an app environment back in one step: writes minnova:imagePins.<APP>.<ENV> into "
                    "Pulumi.<STACK>.yaml (a block this command owns; the rest of the file is kept), which wins over "
                    "app.yaml until cleared. Without --to, the tag deployed before the current one, from the "
                    "stack's imageTags output.",
        epilog="examples:\n  pulumi stack output --json --stack prod > outputs.json\n"
               "  minnova-idp rollback oracle prod --stack prod --previous-outputs outputs.json\n"
               "  minnova-idp rollback oracle prod --stack prod --to 1.4.1\n"
               "  minnova-idp rollback oracle prod --stack prod --clear",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    rollback.add_argument("app")
    rollback.add_argument("environment", metavar="ENV")
    rollback.add_argument("--stack", required=True, help="stack name (edits Pulumi.<STACK>.yaml)")
    rollback.add_argument("--to", help="the tag to pin (default: the one deployed before the current one)")
    rollback.add_argument("--clear", action="store_true", help="remove the pin")
    rollback.add_argument("--previous-outputs", metavar="FILE", help="the stack's outputs (pulumi stack output --json)")
    rollback.add_argument("--project-dir", default=".", help="directory holding Pulumi.yaml (default: .)")
    rollback.set_defaults(handler=_cmd_rollback)

    plan = commands.add_parser(
        "plan", help="run a stack's program offline and show what it would create",
        description="Run the real program of a stack with Pulumi's mock runtime: no cluster, credentials or "
                    "Pulumi CLI. Reads Pulumi.<STACK>.yaml; secure values become placeholders.",
        epilog="examples:\n  minnova-idp plan --stack dev\n  minnova-idp plan --stack prod --out plan-prod",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    _stack_arguments(plan)
    plan.add_argument("--out", help="write resources.json and manifests/ to this directory")
    plan.add_argument("--previous-outputs", metavar="FILE",
                      help="the stack's outputs from its last update (`pulumi stack output --json`), for checks "
                           "against what is deployed, such as database sizes that must not shrink")
    plan.add_argument("--app", help="show only this app (every app is still loaded and checked)")
    plan.add_argument("--json", action="store_true", help="print a JSON summary instead of the tree")
    plan.add_argument("--identity", metavar="KEYFILE",
                      help="age identities to decrypt app secrets with (default: none; the plan shows the names "
                           "of secret values, checks who the files are encrypted for, and masks every value)")
    plan.set_defaults(handler=_cmd_plan)
    _add_secrets_commands(commands)
    _add_onboarding_commands(commands)
    _add_preview_command(commands)
    drill = commands.add_parser(
        "restore-drill", help="print a throwaway Cluster that restores an environment's backups",
        description="Print a CloudNativePG Cluster <app>-db-drill that recovers the environment's backup archive "
                    "into its namespace, without ever archiving itself. Apply it, check the data, delete it.",
        epilog="examples:\n  minnova-idp restore-drill . prod | kubectl apply -f -\n"
               "  minnova-idp restore-drill . prod --target-time 2026-11-20T09:30:00Z",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    drill.add_argument("path", help="an app.yaml, or an app repository holding .minnova/app.yaml")
    drill.add_argument("environment", help="the environment whose backups to restore, e.g. prod")
    drill.add_argument("--target-time", help="recover to this point in time (RFC 3339); default: the end of the WAL")
    drill.add_argument("--server-name", help="the server name to recover; default: the Cluster's name (backupName). "
                       "After a major upgrade the environment archives under <cluster>-pg<major> (the stack's "
                       "databaseServers output; README \"Major upgrades\")")
    drill.set_defaults(handler=_cmd_restore_drill)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except ConfigError as exc:
        print(exc.render(), file=sys.stderr)
        return EXIT_INVALID
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `minnova-idp status | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # noqa: BLE001 - the last line of defence against tracebacks
        if os.environ.get("MINNOVA_IDP_DEBUG") == "1":
            raise
        print(f"minnova-idp: internal error: {type(exc).__name__}: {exc}\n"
              "Rerun with MINNOVA_IDP_DEBUG=1 for a traceback, and please report it.", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
