"""`minnova-idp init` (an app's first .minnova/app.yaml) and `minnova-idp register` (its registry entry)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register_commands(commands) -> None:
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
    init.set_defaults(handler=run_init)

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
    register.set_defaults(handler=run_register)


def run_init(args: argparse.Namespace) -> int:
    from minnova_idp.authoring.onboarding import init_app

    target = init_app(Path(args.directory), args.name, args.port, args.image, args.domain,
                      schema_url=args.schema_url, force=args.force)
    print(f"Wrote {target}. Edit it, then check it with: minnova-idp validate {args.directory}")
    return 0


def run_register(args: argparse.Namespace) -> int:
    from minnova_idp.authoring.onboarding import register_app

    target = register_app(Path(args.project_dir), args.name, args.repo, args.deployment, args.ref, args.path,
                          force=args.force, new=args.new)
    print(f"Wrote {target}. Open a pull request with it; the platform team reviews and merges it.")
    return 0
