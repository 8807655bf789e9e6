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

from .core.errors import ConfigError, Problem

EXIT_INVALID = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 70


def _cmd_schema(args: argparse.Namespace) -> int:
    from .core.reference import schema_text

    sys.stdout.write(schema_text())
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    """An app config, a registry entry or a stack file: each by its own model, as the program reads it."""
    path = Path(args.path)
    if path.is_file() and path.name.startswith("Pulumi.") and path.suffix == ".yaml" and path.name.count(".") == 2:
        from .core.stackconfig import from_stack_file, parse_stack_config

        stack = path.name[len("Pulumi."):-len(".yaml")]
        config = parse_stack_config(*from_stack_file(path.parent, stack))
        summary = {"kind": "stack", "file": str(path), "stack": stack, "deployment": config.settings.deployment,
                   "environments": list(config.settings.environments)}
        text = f"{path}: valid (stack {stack}; deployment {config.settings.deployment}; environments " \
               f"{', '.join(config.settings.environments)})"
    elif path.is_file() and path.parent.name == "apps" and path.suffix in (".yaml", ".yml"):
        from .core.registry import RegistryEntry
        from .core.validation import validate_document
        from .core.yamlsafe import load_yaml_file

        entry = validate_document(RegistryEntry, load_yaml_file(path, str(path)))
        if entry.name != path.stem:
            raise ConfigError([Problem(str(path), "name", f"'{entry.name}' does not match the file name",
                                       hint=f"rename the file to {entry.name}.yaml")])
        summary = {"kind": "registry entry", "file": str(path), "app": entry.name, "repo": entry.repo,
                   "local": entry.local}
        text = f"{path}: valid (registry entry of app {entry.name})"
    else:
        target, config = _load_app(args.path)
        summary = {"kind": "app", "file": str(target), "app": config.name, "environments": list(config.environments)}
        text = f"{target}: valid (app {config.name}; environments {', '.join(config.environments)})"
    print(json.dumps({**summary, "valid": True}, indent=2) if args.json else text)
    return 0


def _cmd_rollback(args: argparse.Namespace) -> int:
    from .core.rollback import pinned, rollback_target, with_pins
    from .core.stackconfig import from_stack_file, parse_stack_config

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

    from .core.stackconfig import from_stack_file

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

    from .core.drill import drill_report

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
    from .core.gitsource import GitAuth
    from .core.inputs import FetchProgress, load_inputs
    from .core.stackconfig import from_stack_file
    from .core.status import as_json, as_table, stack_status

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
    from .core.app_config import AppConfig
    from .core.names import APP_CONFIG
    from .core.validation import validate_document
    from .core.yamlsafe import load_yaml_file

    path = Path(path_text)
    target = path / APP_CONFIG if path.is_dir() else path
    return target, validate_document(AppConfig, load_yaml_file(target, str(target)))


def _cmd_restore_drill(args: argparse.Namespace) -> int:
    import yaml

    from .core import names
    from .core.database import render_restore_drill
    from .core.errors import Problem
    from .core.app_config import DatabaseRestore

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
    namespace = names.namespace(app.name, args.environment)
    labels = {"app.kubernetes.io/name": app.name, names.MANAGED_BY_LABEL: names.MANAGED_BY,
              "minnova.io/restore-drill": "true"}
    sys.stdout.write(yaml.safe_dump(
        render_restore_drill(app, args.environment, namespace, labels, args.target_time), sort_keys=False))
    return 0


PREVIEW_KEYS_DIR = "/var/run/minnova/preview-keys"


def _cmd_render_preview(args: argparse.Namespace) -> int:
    """Everything is checked and rendered before a byte is written: Argo CD prunes on empty output."""
    from .core import names
    from .core.preview import checkout_problems, preview_request, render_preview, to_yaml
    from .core.secrets import AppKey, load_secret_values, read_secrets_file, secrets_file

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
    content = read_secrets_file(directory, names.PREVIEW_ENVIRONMENT)
    if content is not None:
        shown = str(directory / secrets_file(names.PREVIEW_ENVIRONMENT))
        from .core import sops  # cryptography and age: only for previews that have secrets

        # The key is chosen by the app name from trusted sources only: never by anything in the pull request.
        from .core.yamlsafe import FileRefused, read_regular_file

        key_file = Path(args.keys_dir or os.environ.get("MINNOVA_PREVIEW_KEYS_DIR", PREVIEW_KEYS_DIR)) / request.app
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
                                     AppKey(identities[0].recipient), stack_file=str(key_file), identities=identities)
    from .core.seed import read_seed

    seed = read_seed(app, directory, f"{directory}/") if app.database.enabled else ()
    sys.stdout.write(to_yaml(render_preview(app, request, secrets, seed)))
    return 0


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
    from .core.onboarding import init_app

    target = init_app(Path(args.directory), args.name, args.port, args.image, args.domain,
                      schema_url=args.schema_url, force=args.force)
    print(f"Wrote {target}. Edit it, then check it with: minnova-idp validate {args.directory}")
    return 0


def _cmd_register(args: argparse.Namespace) -> int:
    from .core.onboarding import register_app

    target = register_app(Path(args.project_dir), args.name, args.repo, args.deployment, args.ref, args.path,
                          force=args.force, new=args.new)
    print(f"Wrote {target}. Open a pull request with it; the platform team reviews and merges it.")
    return 0


def _add_onboarding_commands(commands) -> None:
    from .core.names import SCHEMA_URL  # not .onboarding: building the parser must not load every model

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


def _stack_configs(project_dir: Path, stack: str | None):
    """(stack name, StackConfig) of the given stack, or of every Pulumi.<stack>.yaml here."""
    from .core.stackconfig import from_stack_file, parse_stack_config, stack_names

    stacks = [stack] if stack else stack_names(project_dir)
    if not stacks:
        raise ConfigError([Problem(str(project_dir), message="no Pulumi.<stack>.yaml here",
                                   hint="run in the infra repository, or pass --project-dir")])
    return [(name, parse_stack_config(*from_stack_file(project_dir, name))) for name in stacks]


def _recipients_by_environment(project_dir: Path, stack: str | None, app: str) -> dict[str, list[str]]:
    from .core.secrets import app_key

    found: dict[str, list[str]] = {}
    for _, config in _stack_configs(project_dir, stack):
        environments = set(config.settings.secrets_recipients.get(app, {}))
        if config.settings.secrets_shared_recipient:
            environments |= {*config.settings.environments, "preview"}
        for environment in sorted(environments):
            key = app_key(config, app, environment)
            if key and key.recipient not in found.setdefault(environment, []):
                found[environment].append(key.recipient)
    return found


def _check_names(app: str, environment: str | None = None) -> None:
    from .core.names import check_app_name, check_environment_name

    problems = [Problem("APP", message=why) for why in [check_app_name(app)] if why]
    if environment is not None and environment != "preview":
        problems += [Problem("ENV", message=why) for why in [check_environment_name(environment)] if why]
    if problems:
        raise ConfigError(problems)


def _cmd_secrets_recipients(args: argparse.Namespace) -> int:
    _check_names(args.app, args.environment)
    found = _recipients_by_environment(Path(args.project_dir), args.stack, args.app).get(args.environment)
    if not found:
        raise ConfigError([Problem(f"{args.app}/{args.environment}", message="has no age recipient in the stack config",
                                   hint=f"the platform team runs: minnova-idp secrets new-key {args.app} "
                                        f"{args.environment}")])
    print(",".join(found))  # the form `sops --encrypt --age` takes
    return 0


def _cmd_secrets_sops_config(args: argparse.Namespace) -> int:
    import yaml

    from .core.secrets import SECRETS_DIR

    _check_names(args.app)
    found = _recipients_by_environment(Path(args.project_dir), args.stack, args.app)
    if not found:
        raise ConfigError([Problem(args.app, message="has no age recipients in the stack config",
                                   hint=f"the platform team runs: minnova-idp secrets new-key {args.app} <env>")])
    directory = str(SECRETS_DIR).replace(".", r"\.")
    rules = [{"path_regex": rf"(^|/){directory}/{environment}\.enc\.ya?ml$",
              "encrypted_regex": "^(data|stringData)$", "age": ",".join(recipients)}
             for environment, recipients in sorted(found.items())]
    print(f"# .sops.yaml for {args.app}, from `minnova-idp secrets sops-config {args.app}`.\n"
          f"# Encrypt with: sops --encrypt --in-place .minnova/secrets/<env>.enc.yaml")
    print(yaml.safe_dump({"creation_rules": rules}, sort_keys=False), end="")
    return 0


def _cmd_secrets_new_key(args: argparse.Namespace) -> int:
    from .core import sops

    _check_names(args.app, args.environment)
    identity = sops.generate_identity()
    stack = f" --stack {args.stack}" if args.stack else ""
    print(f"# A new age key for {args.app}/{args.environment}. The secret half is shown once: store it now.\n"
          f"pulumi config set{stack} --secret --path 'minnova:secretsKeys.{args.app}.{args.environment}' "
          f"{identity.secret}\n"
          f"pulumi config set{stack} --path 'minnova:secretsRecipients.{args.app}.{args.environment}' "
          f"{identity.recipient}\n"
          f"# App developers encrypt for: {identity.recipient}")
    return 0


def _open_sops_file(args: argparse.Namespace):
    from .core import sops

    from .core.yamlsafe import FileRefused, read_regular_file

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
                    ".minnova/secrets/<env>.enc.yaml, one age key per app and environment.",
        epilog="examples:\n"
               "  minnova-idp secrets recipients oracle prod            # what to encrypt for\n"
               "  minnova-idp secrets sops-config oracle > .sops.yaml   # in the app repo\n"
               "  minnova-idp secrets new-key oracle prod --stack prod  # platform team\n"
               "  minnova-idp secrets check .minnova/secrets/prod.enc.yaml --identity key.txt",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = secrets.add_subparsers(dest="secrets_command", metavar="COMMAND", required=True)

    def add(name: str, handler, help_text: str, example: str):
        command = sub.add_parser(name, help=help_text, description=help_text[0].upper() + help_text[1:] + ".",
                                 epilog=f"example:\n  {example}", formatter_class=argparse.RawDescriptionHelpFormatter)
        command.set_defaults(handler=handler)
        return command

    def stack_options(command) -> None:
        command.add_argument("--stack", help="only this stack's config (default: every Pulumi.<stack>.yaml)")
        command.add_argument("--project-dir", default=".", help="the infra repository (default: .)")

    recipients = add("recipients", _cmd_secrets_recipients, "print the age recipient to encrypt an app's secrets for",
                     "sops --encrypt --age $(minnova-idp secrets recipients oracle prod) ...")
    recipients.add_argument("app")
    recipients.add_argument("environment", metavar="ENV", help="an environment, or preview")
    stack_options(recipients)
    sops_config = add("sops-config", _cmd_secrets_sops_config, "print a .sops.yaml with creation rules for an app repo",
                      "minnova-idp secrets sops-config oracle > .sops.yaml")
    sops_config.add_argument("app")
    stack_options(sops_config)
    new_key = add("new-key", _cmd_secrets_new_key, "generate an age key for an app environment and print the "
                  "pulumi config commands that store it", "minnova-idp secrets new-key oracle prod --stack prod")
    new_key.add_argument("app")
    new_key.add_argument("environment", metavar="ENV", help="an environment, or preview")
    new_key.add_argument("--stack", help="the stack the commands set the key in")
    for name, handler, help_text, example in (
            ("check", _cmd_secrets_check, "check a SOPS file decrypts and its MAC holds; prints key names only",
             "minnova-idp secrets check .minnova/secrets/prod.enc.yaml --identity key.txt"),
            ("decrypt", _cmd_secrets_decrypt, "print a SOPS file decrypted, like sops -d (for debugging)",
             "SOPS_AGE_KEY_FILE=key.txt minnova-idp secrets decrypt .minnova/secrets/prod.enc.yaml")):
        command = add(name, handler, help_text, example)
        command.add_argument("file")
        command.add_argument("--identity", metavar="KEYFILE",
                             help="age identity file (default: $SOPS_AGE_KEY_FILE, then $SOPS_AGE_KEY)")


def _cmd_plan(args: argparse.Namespace) -> int:
    from .core.inputs import FetchProgress
    from .shell.plan import render_tree, run_plan, write_plan

    project_dir = Path(args.project_dir).resolve()
    previous = _read_previous_outputs(args.previous_outputs) if args.previous_outputs else None
    identities = None
    if args.identity:
        from .core import sops

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
    if args.out:
        write_plan(plan, Path(args.out))
    if args.json:
        from collections import Counter

        print(json.dumps({"stack": plan.stack, "app": args.app, "resources": len(plan.resources),
                          "byType": dict(sorted(Counter(r.type for r in plan.resources).items())),
                          "outputs": plan.outputs, "out": args.out}, indent=2, sort_keys=True))
        return 0
    print(render_tree(plan))
    if args.out:
        out = Path(args.out)
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
    from .core.inputs import DATABASE_CLUSTERS_OUTPUT, DATABASE_SIZES_OUTPUT
    from .core.quantity import QuantityError, parse_quantity
    from .core.yamlsafe import FileRefused, read_regular_file

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
    for output, check in ((DATABASE_SIZES_OUTPUT, parse_quantity), (DATABASE_CLUSTERS_OUTPUT, None)):
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
            elif check is not None:
                try:
                    check(item)
                except QuantityError as exc:
                    problems.append(Problem(file, field, str(exc), hint=_OUTPUTS_HINT))
    if problems:
        raise ConfigError(problems)
    return document


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
    status.add_argument("--stack", required=True, help="stack name (reads Pulumi.<STACK>.yaml)")
    status.add_argument("--json", action="store_true", help="print JSON")
    status.add_argument("--project-dir", default=".", help="directory holding Pulumi.yaml (default: .)")
    status.add_argument("--cache-dir", help="git cache (default: $MINNOVA_IDP_CACHE_DIR or ~/.cache/minnova-idp)")
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
    plan.add_argument("--stack", required=True, help="stack name (reads Pulumi.<STACK>.yaml)")
    plan.add_argument("--out", help="write resources.json and manifests/ to this directory")
    plan.add_argument("--project-dir", default=".", help="directory holding Pulumi.yaml (default: .)")
    plan.add_argument("--cache-dir", help="git cache (default: $MINNOVA_IDP_CACHE_DIR or ~/.cache/minnova-idp)")
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
