"""`minnova-idp plan`: a stack's real program under Pulumi's mock runtime, offline."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from minnova_idp.cli.common import stack_arguments
from minnova_idp.cli.stacks import resolve_stack
from minnova_idp.model.errors import ConfigError, Problem


def register(commands) -> None:
    plan = commands.add_parser(
        "plan", help="run a stack's program offline and show what it would create",
        description="Run the real program of a stack with Pulumi's mock runtime: no cluster, credentials or "
                    "Pulumi CLI. Reads Pulumi.<STACK>.yaml; secure values become placeholders.",
        epilog="examples:\n  minnova-idp plan --stack dev\n  minnova-idp plan --stack prod --out plan-prod",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    stack_arguments(plan)
    plan.add_argument("--out", help="write resources.json and manifests/ to this directory")
    plan.add_argument("--previous-outputs", metavar="FILE",
                      help="the stack's outputs from its last update (`pulumi stack output --json`), for checks "
                           "against what is deployed, such as database sizes that must not shrink")
    plan.add_argument("--app", help="show only this app (every app is still loaded and checked)")
    plan.add_argument("--json", action="store_true", help="print a JSON summary instead of the tree")
    plan.add_argument("--identity", metavar="KEYFILE",
                      help="age identities to decrypt app secrets with (default: none; the plan shows the names "
                           "of secret values, checks who the files are encrypted for, and masks every value)")
    plan.set_defaults(handler=run)


def _installed(module: str) -> bool:
    """Whether `module` can be imported, without importing it (only components/ and the recorder import Pulumi)."""
    from importlib.util import find_spec

    try:
        return find_spec(module) is not None
    except ImportError:
        return False


def run(args: argparse.Namespace) -> int:
    from minnova_idp.cli.previous_outputs import read_previous_outputs
    from minnova_idp.load.progress import FetchProgress

    missing = [name for name in ("pulumi", "pulumi_kubernetes") if not _installed(name)]
    if missing:  # the light install (no `platform` extra): components/ would fail to import mid-plan
        raise ConfigError([Problem("plan", message=f"needs the Pulumi SDKs, which this install of minnova-idp does "
                                   f"not have (no module {', '.join(missing)})",
                                   hint="install the platform extra: pip install 'minnova-idp[platform]' "
                                        "(in this repository: .venv/bin/pip install -e '.[platform]')")])
    from minnova_idp.plan.recorder import render_tree, run_plan, write_plan

    resolve_stack(args)
    project_dir = Path(args.project_dir).resolve()
    previous = read_previous_outputs(args.previous_outputs) if args.previous_outputs else None
    identities = None
    if args.identity:
        from minnova_idp.sops import document as sops

        try:
            identities = sops.identities_from_environment(Path(args.identity), environ={})
        except sops.SopsError as exc:
            raise exc.config_error() from None
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

        print(json.dumps({"ok": True, "stack": plan.stack, "app": args.app, "resources": len(plan.resources),
                          "byType": dict(sorted(Counter(r.type for r in plan.resources).items())),
                          "outputs": plan.outputs, "imageGate": plan.image_gate, "warnings": plan.warnings,
                          "out": args.out},
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
