"""`minnova-idp rollback`: pin an app environment's image tag in the stack file (or clear the pin)."""

from __future__ import annotations

import argparse
from pathlib import Path

from minnova_idp.cli.stacks import add_stack_option, resolve_stack
from minnova_idp.model.errors import ConfigError, Problem


def register(commands) -> None:
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
    add_stack_option(rollback, "stack name (edits Pulumi.<STACK>.yaml; default: $PULUMI_STACK, else the stack "
                               "selected with `pulumi stack select`)")
    rollback.add_argument("--to", help="the tag to pin (default: the one deployed before the current one)")
    rollback.add_argument("--clear", action="store_true", help="remove the pin")
    rollback.add_argument("--previous-outputs", metavar="FILE", help="the stack's outputs (pulumi stack output --json)")
    rollback.add_argument("--project-dir", default=".", help="directory holding Pulumi.yaml (default: .)")
    rollback.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from minnova_idp.cli.previous_outputs import read_previous_outputs
    from minnova_idp.load.stack import from_stack_file, parse_stack_config, pinned
    from minnova_idp.policy.rollback import rollback_target, with_pins

    resolve_stack(args)
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
        previous = read_previous_outputs(args.previous_outputs) if args.previous_outputs else None
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
