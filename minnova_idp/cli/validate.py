"""`minnova-idp validate` (an app config, a registry entry or a stack file) and `minnova-idp schema`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from minnova_idp.model.errors import ConfigError, Problem


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

        entry = validate_document(RegistryEntry, load_yaml_file(path, str(path)))
        if entry.name != path.stem:
            raise ConfigError([Problem(str(path), "name", f"'{entry.name}' does not match the file name",
                                       hint=f"rename the file to {entry.name}.yaml")])
        summary = {"kind": "registry entry", "file": str(path), "app": entry.name, "repo": entry.repo,
                   "local": entry.local}
        text = f"{path}: valid (registry entry of app {entry.name})"
    else:
        from minnova_idp.load.app_files import load_app_config
        from minnova_idp.load.secrets import check_app_repo_secrets

        target, config = load_app_config(args.path)
        check_app_repo_secrets(target, config)  # .minnova/secrets/* and recipients.yaml, offline (issue 15)
        if config.database.enabled and config.preview.database is not None:
            from minnova_idp.load.app_files import read_mask  # required before any preview copies real data: say so now

            root = target.resolve().parent.parent
            read_mask(root, f"{root}/")
        summary = {"kind": "app", "file": str(target), "app": config.name, "environments": list(config.environments)}
        text = f"{target}: valid (app {config.name}; environments {', '.join(config.environments)})"
    print(json.dumps({"ok": True, **summary, "valid": True}, indent=2) if args.json else text)
    return 0
