"""`minnova-idp validate` (an app config, a registry entry or a stack file) and `minnova-idp schema`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from minnova_idp.model.errors import ConfigError, Problem, raise_if_any


def register_schema(commands) -> None:
    schema = commands.add_parser(
        "schema", help="print the JSON Schema of .minnova/app.yaml",
        description="Print the JSON Schema of .minnova/app.yaml (for editor completion).",
        epilog="examples:\n  minnova-idp schema > app.schema.json\n"
               "  # then, first line of app.yaml: # yaml-language-server: $schema=app.schema.json",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    schema.set_defaults(handler=run_schema)


def register(commands) -> None:
    validate = commands.add_parser(
        "validate", help="check an app config",
        description="Check an app config: exit 0 when valid, 1 with every problem otherwise.",
        epilog="examples:\n  minnova-idp validate .minnova/app.yaml\n  minnova-idp validate path/to/app-repo",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    validate.add_argument("path", help="an app.yaml, an app repository holding .minnova/app.yaml, a registry "
                                       "entry (deployments/<deployment>/apps/<app>.yaml) or a stack file "
                                       "(Pulumi.<stack>.yaml)")
    validate.add_argument("--json", action="store_true", help="print the result as JSON")
    validate.add_argument("--project-dir", metavar="INFRA", help="an app: check it against the stacks of this "
                          "infra repository checkout instead of the published .minnova/platform/<stack>.yaml")
    validate.add_argument("-s", "--stack", action="append", help="with --project-dir: only this stack (repeatable; "
                          "default: every stack whose registry has the app)")
    validate.set_defaults(handler=run)


def run_schema(args: argparse.Namespace) -> int:
    from minnova_idp.authoring.reference import schema_text

    sys.stdout.write(schema_text())
    return 0


def run(args: argparse.Namespace) -> int:
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

        from minnova_idp.policy.internal_access import allow_from_problems

        loaded = load_yaml_file(path, str(path))
        entry = validate_document(RegistryEntry, loaded)
        if entry.name != path.stem:
            raise ConfigError([Problem(str(path), "name", f"'{entry.name}' does not match the file name",
                                       hint=f"rename the file to {entry.name}.yaml")])
        # allowFrom names apps registered beside it (ADR 0016), as the program checks the whole registry.
        raise_if_any(allow_from_problems([(entry, str(path), loaded.line_of)],
                                         {other.stem for other in path.parent.glob("*.yaml")}))
        summary = {"kind": "registry entry", "file": str(path), "app": entry.name, "repo": entry.repo,
                   "local": entry.local, "allowFrom": [caller.model_dump(exclude_none=True)
                                                       for caller in entry.allowed_callers()]}
        text = f"{path}: valid (registry entry of app {entry.name})"
    else:
        summary, text = _validate_app(args)
    print(json.dumps({"ok": True, **summary, "valid": True}, indent=2) if args.json else text)
    return 0


def _validate_app(args: argparse.Namespace) -> tuple[dict, str]:
    """An app repository: its files, then everything the platform checks of it in each stack whose policy is
    published (.minnova/platform/<stack>.yaml) or read from --project-dir (load/app_policy.py). What could not be
    checked is said (stderr, and `skipped` in --json)."""
    from minnova_idp.load.app_files import load_app_config
    from minnova_idp.load.app_policy import policy_problems, read_policies, skipped_checks
    from minnova_idp.load.secret_overlays import check_app_repo_overlays
    from minnova_idp.load.secrets import check_app_repo_secrets

    target, config = load_app_config(args.path)
    problems: list[Problem] = []
    try:
        check_app_repo_secrets(target, config)  # .minnova/secrets/* and recipients.yaml, offline (issue 15)
    except ConfigError as exc:
        problems += exc.problems
    problems += check_app_repo_overlays(target, config)  # .minnova/secrets/<env>.d/ (`secrets set`, issue 24)
    in_repo = target.parent.name == APP_DIR
    policies = []
    if in_repo:
        if args.project_dir:
            policies, found = _policies_from_infra(Path(args.project_dir), args.stack, config.name)
        else:
            policies, found = read_policies(target.parent.parent)
            policies = _only_stacks(policies, args.stack, target)
        problems += found
        problems += _fetch_problems(target.parent)
        problems += _files_without_policy(target, config)
        for shown, policy in policies:
            problems += policy_problems(policy, shown, target, config)
    elif args.project_dir or args.stack:
        problems.append(Problem("--project-dir" if args.project_dir else "--stack", message=f"{target} is not in an "
                                f"app repository's {APP_DIR}/",
                                hint="pass the app repository (or its .minnova/app.yaml)"))
    raise_if_any(list(dict.fromkeys(problems)))
    stacks = [policy.stack for _, policy in policies]
    skipped = skipped_checks([policy for _, policy in policies]) if in_repo else []
    if not args.json:
        for note in skipped:
            print(f"not checked: {note}", file=sys.stderr)
    against = f"; checked against stack{'s' if len(stacks) > 1 else ''} {', '.join(stacks)}" if stacks else ""
    from minnova_idp.render.internal_services import internal_ports

    summary = {"kind": "app", "file": str(target), "app": config.name, "environments": list(config.environments),
               "stacks": stacks, "skipped": skipped, "internalServices": internal_ports(config)}
    return summary, f"{target}: valid (app {config.name}; environments {', '.join(config.environments)}{against})"


APP_DIR = ".minnova"


def _only_stacks(policies: list, stacks: list[str] | None, target: Path) -> list:
    """-s/--stack without --project-dir: only these published policies; one not published is refused."""
    if not stacks:
        return policies
    published = {policy.stack for _, policy in policies}
    unknown = [stack for stack in stacks if stack not in published]
    if unknown:
        raise ConfigError([Problem("--stack", message=f"unknown stack '{unknown[0]}': no "
                                   f"{target.parent}/platform/{unknown[0]}.yaml",
                                   hint=f"published: {', '.join(sorted(published))}" if published else
                                   "the platform team publishes it: minnova-idp policy publish APP -s STACK")])
    return [(shown, policy) for shown, policy in policies if policy.stack in stacks]


def _fetch_problems(config_dir: Path) -> list[Problem]:
    """What the platform's fetch refuses of `.minnova/` (file count, sizes), by the function the fetch uses."""
    from minnova_idp.load.fetch_limits import checkout_refused

    refused = checkout_refused(config_dir)
    return [Problem(str(config_dir), message=f"the platform would not fetch it: {refused}",
                    hint="a key holder folds overlays into the main file: minnova-idp secrets fold "
                         ".minnova/secrets/<env>.enc.yaml")] if refused else []


def _files_without_policy(target: Path, config) -> list[Problem]:
    """The app's own files the platform reads whatever the stack: every seed file, the restore check, the mask
    (required before any preview copies real data), each by the function the platform reads it with."""
    from minnova_idp.load.app_files import read_mask, read_mysql_seed, read_restore_check, read_seed
    from minnova_idp.load.app_policy import PENDING_COMMIT
    from minnova_idp.model.loaded import LoadedApp
    from minnova_idp.model.registry import RegistryEntry

    root = target.parent.parent
    shown_root = str(target).removesuffix(f"{APP_DIR}/app.yaml")
    app = LoadedApp(entry=RegistryEntry(name=config.name, local="app"), config=config, commit=PENDING_COMMIT,
                    config_file=str(target), directory=root)
    problems: list[Problem] = []
    readers = [lambda: read_seed(config, root, shown_root), lambda: read_mysql_seed(config, root, shown_root),
               lambda: read_restore_check(app)]
    if config.database.enabled and config.preview.database is not None:
        readers.append(lambda: read_mask(root, shown_root))
    for read in readers:
        try:
            read()
        except ConfigError as exc:
            problems += exc.problems
    return problems


def _policies_from_infra(project_dir: Path, stacks: list[str] | None, app: str):
    """The documents `policy publish` would print, built from an infra checkout (other apps' hosts left out: that
    would fetch every app repository)."""
    from minnova_idp.cli.stacks import check_known
    from minnova_idp.load.app_policy import PublishedPolicy, policy_document
    from minnova_idp.load.stack import stack_names

    for stack in stacks or []:
        check_known(project_dir, stack)
    found, problems = [], []
    for stack in stacks or stack_names(project_dir):
        try:
            document = policy_document(project_dir, stack, app, other_apps=None)
        except ConfigError as exc:
            if stacks:
                problems += exc.problems
            continue  # every stack: only those whose registry has the app
        found.append((f"{project_dir}/Pulumi.{stack}.yaml", PublishedPolicy.model_validate(document)))
    if not found and not problems:
        problems.append(Problem("--project-dir", message=f"no stack in {project_dir} registers app '{app}'"))
    return found, problems
