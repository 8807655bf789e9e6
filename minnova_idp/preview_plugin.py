"""The Argo CD Config Management Plugin: `minnova-idp render-preview` prints a pull request's preview environment.

A deployable of its own: the renderer image (Dockerfile) runs it on every refresh of every preview, so it loads
only what a preview needs, when it needs it (issue 21: its cold start is measured by benchmarks/bench.py). Never
the git loader, the plan recorder or pulumi; the sops reader (cryptography, age) only for a preview with secrets.
The command line (minnova_idp/cli/main.py) only wires `register` in.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from pathlib import Path

from minnova_idp.model.errors import ConfigError, Problem

PREVIEW_KEYS_DIR = "/var/run/minnova/preview-keys"
COMMAND = "render-preview"


def register(commands) -> None:
    render = commands.add_parser(
        COMMAND, help="print a pull request's preview environment (the Argo CD plugin)",
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
    render.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """No cyclic garbage collection while it renders: the process renders one preview from inputs of at most a
    few hundred KiB and exits, and collections during pydantic's model building were a twentieth of its cold start
    (issue 21). Reference counting still frees everything that is not in a cycle."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _render(args)
    finally:
        if enabled:
            gc.enable()


def _render(args: argparse.Namespace) -> int:
    """Everything is checked and rendered before a byte is written: Argo CD prunes on empty output."""
    from minnova_idp.load.app_files import load_app_config
    from minnova_idp.load.secrets import AppKey, read_secrets_file, secrets_file
    from minnova_idp.model import names
    from minnova_idp.preview_plugin import checkout_problems
    from minnova_idp.render.preview import preview_request, render_preview, to_yaml

    flags = {"app": args.app, "pr_number": args.pr, "head_sha": args.head_sha,
             "preview_domain": args.preview_domain, "deployment": args.deployment,
             "ingress_class": args.ingress_class}
    request = preview_request(flags, os.environ)
    _refuse_past_the_cap(request.app, os.environ)
    keys_dir = Path(args.keys_dir or os.environ.get("MINNOVA_PREVIEW_KEYS_DIR", PREVIEW_KEYS_DIR)).absolute()
    if os.environ.get("ARGOCD_APP_NAME"):  # under Argo CD: only an approved head commit is deployed (a local run
        _require_approval(request, keys_dir)  # deploys nothing). Before the checkout is read at all.
    directory = _checkout(Path(args.directory), request.app, keys_dir)
    problems = checkout_problems(directory)
    if problems:
        raise ConfigError(problems)
    from minnova_idp.load.secret_overlays import overlay_dir

    _refuse_links(directory, [names.APP_CONFIG, secrets_file(names.PREVIEW_ENVIRONMENT),
                              overlay_dir(names.PREVIEW_ENVIRONMENT)])
    target, app = load_app_config(str(directory))
    if app.name != request.app:
        raise ConfigError([Problem(str(target), "name", f"'{app.name}' is not the app this preview is for "
                                   f"('{request.app}')", hint="an app's name cannot change in a pull request")])
    _refuse_foreign_image(app, str(target), keys_dir)
    _refuse_mongodb_not_offered(app, str(target), os.environ)
    secrets = None
    content = read_secrets_file(directory, names.PREVIEW_ENVIRONMENT)
    from minnova_idp.load.secret_overlays import merged_secret_values, read_overlays

    overlays = read_overlays(directory, names.PREVIEW_ENVIRONMENT)  # one-value files of `secrets set --env preview`
    if content is not None or overlays:
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
            raise exc.config_error() from None
        if len(identities) != 1:
            raise ConfigError([Problem(str(key_file), message="must hold exactly one age identity")])
        secrets = merged_secret_values(content, overlays, shown, request.app, names.PREVIEW_ENVIRONMENT,
                                       AppKey(identities[0].recipient), stack_file=str(key_file),
                                       identities=identities, database=app.database.enabled, redis=app.redis.enabled,
                                       storage=app.storage.enabled)
    if overlays:  # in the plugin's log (Argo CD's repo server logs a plugin's stderr): what this commit chose
        from minnova_idp.load.secret_overlays import overlay_summary

        print(f"render-preview: {request.app} PR {request.pr_number} at {request.head_sha[:12]}: the preview's "
              f"secrets carry {len(overlays)} overlay(s) of {overlay_dir(names.PREVIEW_ENVIRONMENT)}/ from this "
              f"commit ({overlay_summary(overlays)}), written with the public recipient only: no reviewer could "
              "read their values", file=sys.stderr)
    from minnova_idp.load.app_files import read_seed

    seed = read_seed(app, directory, f"{directory}/") if app.database.enabled else ()
    from minnova_idp.load.app_files import read_mysql_seed

    mysql_seed = read_mysql_seed(app, directory, f"{directory}/") if app.mysql.enabled else ()
    from minnova_idp.render.argocd import PREVIEW_PASSWORD_KEY, PREVIEW_PULL_CREDENTIALS

    # The app's own pull credentials when the platform gave it some (never another app's), else the stack's.
    pull = _sidecar_file(keys_dir, names.app_pull_credentials_file(request.app))
    if pull is None:
        pull = _sidecar_file(keys_dir, PREVIEW_PULL_CREDENTIALS)
    password_key = (_sidecar_file(keys_dir, PREVIEW_PASSWORD_KEY)
                    if app.redis.enabled or app.mysql.enabled or app.mongodb.enabled else None)
    origin = None
    if app.database.enabled and app.preview.database is not None:
        origin = _preview_origin(app, keys_dir)
    storage = _preview_storage(app, request, keys_dir) if app.storage.enabled else None
    sys.stdout.write(to_yaml(render_preview(app, request, secrets, seed, pull, password_key, origin, storage,
                                            mysql_seed)))
    return 0


CAP_SETTINGS = {"max_per_app": "MINNOVA_PREVIEW_MAX_PER_APP", "max_total": "MINNOVA_PREVIEW_MAX_TOTAL"}


def _refuse_past_the_cap(app: str, environ) -> None:
    """Under Argo CD, with the cap in the sidecar's environment (argocd.sidecar_environment, never plugin env): a
    preview past minnova:previews.maxPerApp or maxTotal renders nothing (policy/preview_cap.py says why there)."""
    name = environ.get("ARGOCD_APP_NAME")
    if name is None or CAP_SETTINGS["max_per_app"] not in environ:
        return  # a local run, or a sidecar without a cap
    from minnova_idp.load.preview_applications import read_preview_applications
    from minnova_idp.policy.preview_cap import cap_problem

    limits = {}
    for key, variable in CAP_SETTINGS.items():
        value = environ.get(variable, "")
        if not value.isdigit() or int(value) < 1:
            raise ConfigError([Problem(variable, message=f"'{value}' is not a whole number of previews, 1 or more",
                                       hint="the platform's sidecar sets it from minnova:previews; re-run pulumi up")])
        limits[key] = int(value)
    problem = cap_problem(name, app, read_preview_applications(environ), limits["max_per_app"], limits["max_total"],
                          "render-preview")
    if problem:  # "commit <sha> refused by …": what the notifications match (render/notifications.py)
        sha = environ.get("ARGOCD_APP_REVISION", "")
        raise ConfigError([Problem(problem.file, problem.field, f"commit {sha} {problem.message}", problem.line,
                                   problem.hint)])


def _checkout(directory: Path, app: str, keys_dir: Path) -> Path:
    """The directory holding the app's .minnova/. Under Argo CD the Application's path is the checkout's .git
    (argocd.PREVIEW_SOURCE_PATH: the one directory where a pull request cannot put an `.argocd-source.yaml`), so the
    checkout is one level up, and a monorepo app's path comes from the platform (argocd.PREVIEW_APP_PATHS)."""
    import json

    from minnova_idp.render.argocd import PREVIEW_APP_PATHS, PREVIEW_SOURCE_PATH

    source_path = os.environ.get("ARGOCD_APP_SOURCE_PATH")
    if source_path is None:  # a local run: the directory given
        return directory
    if source_path != PREVIEW_SOURCE_PATH or directory.resolve().name != PREVIEW_SOURCE_PATH:
        raise ConfigError([Problem("ARGOCD_APP_SOURCE_PATH", message=f"'{source_path}' is not {PREVIEW_SOURCE_PATH}: "
                                   "Argo CD would merge the pull request's .argocd-source*.yaml from there",
                                   hint="the platform's ApplicationSet sets it; re-run `pulumi up`")])
    paths = {}
    if (text := _sidecar_file(keys_dir, PREVIEW_APP_PATHS)) is not None:
        try:
            paths = json.loads(text)
        except ValueError:
            raise ConfigError([Problem(str(keys_dir / PREVIEW_APP_PATHS), message="is not JSON")]) from None
    relative = paths.get(app, ".") if isinstance(paths, dict) else None
    if not isinstance(relative, str) or Path(relative).is_absolute() or ".." in Path(relative).parts:
        raise ConfigError([Problem(str(keys_dir / PREVIEW_APP_PATHS), app, "must be a relative path in the checkout")])
    os.chdir(directory.resolve().parent)  # the checkout's root: messages name files as the app's repository does
    _refuse_links(Path("."), [Path(relative)])  # the monorepo path too: a link there could lead anywhere
    return Path(relative)


def _require_approval(request, keys_dir: Path) -> None:
    """The head SHA Argo CD checked out (ARGOCD_APP_REVISION, never the pull request's say) must carry an approval made
    for exactly that SHA by someone with write access to the app's repository (policy/approval.py). Where to look and
    the read-only token come from the platform (argocd.PREVIEW_APPROVAL), never from plugin env or the checkout."""
    import json

    from minnova_idp.load.approval import fetch_gitlab_pipeline_source, fetch_statuses
    from minnova_idp.policy.approval import (PROVIDERS, approval_candidate, default_approvers,
                                             gitlab_pipeline_problem, how_to_approve)
    from minnova_idp.render.argocd import PREVIEW_APPROVAL

    shown = str(keys_dir / PREVIEW_APPROVAL)
    text = _sidecar_file(keys_dir, PREVIEW_APPROVAL)
    if text is None:
        raise ConfigError([Problem(shown, message="is missing: without the platform's approval settings no preview "
                                   "renders", hint="the platform writes it (minnova-preview-keys); re-run `pulumi up`")])
    try:
        settings = json.loads(text)
        provider, api = settings["provider"], settings["api"]
        approvers = settings.get("approvers")
        app = settings["apps"][request.app]
        repository, token = app["repository"], app.get("token")
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ConfigError([Problem(shown, request.app, "has no approval settings for this app",
                                   hint="the platform writes them for every app with previews; re-run `pulumi up`")]
                          ) from None
    if provider not in PROVIDERS or not isinstance(api, str) or not api.startswith(("https://", "http://")) \
            or not isinstance(repository, str) or not (token is None or isinstance(token, str)) \
            or not (approvers is None or (isinstance(approvers, list) and all(isinstance(a, str) for a in approvers))):
        raise ConfigError([Problem(shown, request.app, "approval settings are malformed")])
    how = how_to_approve(provider, api, repository, request.head_sha)
    statuses, page_full = fetch_statuses(provider, api, repository, request.head_sha, token, "render-preview")
    found = approval_candidate(provider, statuses, default_approvers(provider, approvers), request.head_sha,
                               "render-preview", page_full, how)
    if isinstance(found, Problem):
        raise ConfigError([found])
    if provider == "gitlab":
        source = None if found.pipeline_id is None else fetch_gitlab_pipeline_source(
            api, repository, found.pipeline_id, request.head_sha, token, "render-preview")
        if (problem := gitlab_pipeline_problem(found, source, request.head_sha, "render-preview", how)) is not None:
            raise ConfigError([problem])


def _refuse_mongodb_not_offered(app, shown: str, environ) -> None:
    """MongoDB only on a stack that offers it (policy/offered.py): the sidecar's own environment says (never plugin
    env, which a pull request can rewrite). Absent (a local run): not checked here; plan checks the stack."""
    from minnova_idp.render.argocd import MONGODB_OFFERED_ENV

    if app.mongodb.enabled and environ.get(MONGODB_OFFERED_ENV) == "false":
        raise ConfigError([Problem(shown, "mongodb.enabled", "this stack does not offer MongoDB "
                                   "(minnova:mongodb.enabled is not true)",
                                   hint="remove mongodb:, or ask the platform team to offer MongoDB on this stack")])


def _refuse_foreign_image(app, shown: str, keys_dir: Path) -> None:
    """The image repositories the platform lets this app run (argocd.PREVIEW_APP_IMAGES, from its registry entry or
    minnova:imageRegistry): never the pull request's choice, never plugin env (which a pull request can rewrite)."""
    import json

    from minnova_idp.policy.images import image_problem
    from minnova_idp.render.argocd import PREVIEW_APP_IMAGES

    text = _sidecar_file(keys_dir, PREVIEW_APP_IMAGES)
    if text is None:
        return  # the stack confines no app's images (plan warns)
    try:
        allowed = json.loads(text).get(app.name)
    except (ValueError, AttributeError):
        raise ConfigError([Problem(str(keys_dir / PREVIEW_APP_IMAGES), message="is not a JSON object")]) from None
    if allowed is None:
        return
    if not isinstance(allowed, list) or not all(isinstance(item, str) for item in allowed):
        raise ConfigError([Problem(str(keys_dir / PREVIEW_APP_IMAGES), app.name, "must be a list of repositories")])
    problem = image_problem(app.image.repository, allowed, shown, app.name,
                            f"{app.name}'s registry entry (deployments/<deployment>/apps/{app.name}.yaml)",
                            "the platform's list for its previews")
    if problem:
        raise ConfigError([problem])


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


def _preview_storage(app, request, keys_dir: Path):
    """`storage.enabled`: the bucket the platform gives this app's previews (never an environment's), with this
    preview's own prefix."""
    from minnova_idp.render.storage import parse_preview_storage, preview_storage_file

    shown = str(keys_dir / preview_storage_file(app.name))
    text = _sidecar_file(keys_dir, preview_storage_file(app.name))
    if text is None:
        raise ConfigError([Problem("storage.enabled", message=f"the platform gives {app.name}'s previews no bucket "
                                   f"yet (no {shown})",
                                   hint=f"the stack that runs {app.name}'s previews makes it once the app's registered "
                                        "branch has storage.enabled (its `pulumi up`); until then, remove storage "
                                        "from the pull request")])
    return parse_preview_storage(text, shown, app.name, request.deployment, request.pr_number)


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


ARGOCD_SOURCE_FILES = (".argocd-source.yaml", ".argocd-source-*.yaml")


def checkout_problems(directory: Path) -> list[Problem]:
    """Files in the pull request's checkout that would have changed what Argo CD asked the plugin for."""
    found = sorted({path.name for pattern in ARGOCD_SOURCE_FILES for path in directory.glob(pattern)})
    return [Problem(str(directory / name), message="Argo CD merges this file into the preview's Application "
                    "(its plugin parameters included); previews refuse it", hint="remove it from the pull request")
            for name in found]
