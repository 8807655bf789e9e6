"""`minnova-idp init` (an app's first .minnova/app.yaml), `minnova-idp register` (its registry entry) and
`minnova-idp ci-template` (its CI workflows)."""

from __future__ import annotations

import argparse
import sys
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

    ci = commands.add_parser(
        "ci-template", help="print or write the app repository's CI workflows (shipped with this command)",
        description="The app repository's GitHub Actions workflows: minnova.yml (validate, build and push the image, "
                    "ask for a deploy) and, with --previews, the four preview workflows. Without --out, "
                    "prints one (default minnova.yml).",
        epilog="examples:\n  minnova-idp ci-template --out .github/workflows\n"
               "  minnova-idp ci-template --out .github/workflows --previews\n"
               "  minnova-idp ci-template minnova-preview-auto.yml",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ci.add_argument("name", nargs="?", default="minnova.yml", help="the template to print (default: minnova.yml)")
    ci.add_argument("--out", help="write into this directory (created if missing), e.g. .github/workflows")
    ci.add_argument("--previews", action="store_true", help="with --out: also the preview workflows")
    ci.add_argument("--force", action="store_true", help="overwrite existing files")
    ci.set_defaults(handler=run_ci_template)


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


def run_ci_template(args: argparse.Namespace) -> int:
    from minnova_idp.authoring.ci_templates import template_text, write_templates
    from minnova_idp.model.errors import ConfigError, Problem

    if args.out is not None and args.name != "minnova.yml":
        raise ConfigError([Problem("NAME", message="prints one template; --out writes minnova.yml (and, with "
                                   "--previews, the preview workflows)", hint="leave NAME out with --out")])
    if args.out is None:
        if args.previews or args.force:
            raise ConfigError([Problem("--previews" if args.previews else "--force", message="needs --out DIRECTORY")])
        sys.stdout.write(template_text(args.name))
        return 0
    for target in write_templates(Path(args.out), previews=args.previews, force=args.force):
        print(f"Wrote {target}")
    print("Then set the repository variables and environment the workflow's header names (docs/app-developers.md).")
    return 0
