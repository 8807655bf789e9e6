"""`.minnova/platform/<stack>.yaml`: what the platform publishes to an app repository so that `minnova-idp validate`
there refuses what `plan` and `pulumi up` refuse (issue 24 item 2).

The platform team runs `minnova-idp policy publish APP -s STACK` in the infra repository; the app repository commits
the file (one per stack that deploys the app). It holds, for that app and stack only:

    app: oracle
    stack: dev
    stackFile: Pulumi.dev.yaml            # named in messages, as plan names it
    registryFile: deployments/minnova/apps/oracle.yaml
    entry: {name: oracle, repo: ..., hosts: [...], images: [...]}   # the registry entry, as reviewed
    config: {minnova:baseDomain: ..., ...}  # the stack file's `config:`, this app's part; secrets by name only
    otherHosts: [{host: shop.minnova.io, app: storefront, environment: prod}]

Nothing secret: every `secure:` value, and every value of a secret key (minnova:gitToken, secretsKeys, ...), is
replaced by `{secure: withheld}`, so `validate` knows a secret is set (placeholders, as the offline plan uses) and
never what it is. Other apps' settings (their recipients, pins, keys) are left out.

`validate` then runs the very loading path `plan` runs (`load_inputs`, with this one app already loaded), so every
per-app check of the platform is run by the same function, never by a copy (tests/cli/test_validate_policy.py proves
each). The same document is built in memory from an infra checkout with `validate --project-dir`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from minnova_idp.load.validation import validate_document
from minnova_idp.load.yamlsafe import FileRefused, load_yaml, read_regular_file
from minnova_idp.model import names
from minnova_idp.model.app_config import AppConfig
from minnova_idp.model.errors import ConfigError, Problem
from minnova_idp.model.fields import AppName, Hostname, StrictModel
from minnova_idp.model.loaded import LoadedApp
from minnova_idp.model.registry import RegistryEntry

POLICY_DIR = names.APP_CONFIG.parent / "platform"
WITHHELD = "withheld"
MAX_POLICY_BYTES = 256 * 1024
_MAX_POLICIES = 20
# What is published of each `minnova:` setting: an allow-list, so a setting added later is left out until someone
# decides (tests/load/test_app_policy.py fails while a setting is unclassified). STACK: the whole value (the stack's
# own settings the per-app checks read: zone, environments, quotas, previews, git provider; secrets withheld);
# APP: only this app's entry of a {app: ...} mapping (never another app's name); COMPONENTS: only this app's
# components; OMIT: not read by any per-app check (the cluster, Cloudflare, fetch and pull credentials).
STACK, APP, COMPONENTS, OMIT = "stack", "app", "components", "omit"
PUBLISHED_SETTINGS = {
    "deployment": STACK, "environments": STACK, "baseDomain": STACK, "registryPath": STACK,
    "ingressClass": STACK, "ingressAddress": STACK, "clusterIssuer": STACK, "git": STACK, "cloudflare": STACK,
    "kubernetes": OMIT, "protectedEnvironments": STACK, "imageGate": STACK, "databaseStorageGuard": STACK,
    "databaseUpgradeRollbacks": COMPONENTS, "dnsProxied": STACK, "networkPolicies": STACK, "mongodb": STACK,
    "ingressNamespaces": STACK, "namespaceQuota": STACK, "imagePins": APP, "imageRegistry": STACK,
    "reservedHosts": STACK, "restoreDrillSchedule": STACK, "previews": STACK, "previewDomain": STACK,
    "acmeEmail": OMIT, "secretsRecipients": APP, "secretsSharedRecipient": STACK,
    # secrets (withheld: validate learns only that one is set)
    "gitToken": STACK, "gitSshPrivateKey": OMIT, "kubeconfig": OMIT, "cloudflareApiToken": OMIT,
    "secretsKeys": APP, "secretsSharedKey": STACK, "githubAppPrivateKey": STACK, "gitDeployKeys": APP,
    "gitlabProjectTokens": APP, "previewStatusTokens": APP, "webhookSecret": STACK, "passwordKey": STACK,
    "registryCredentials": OMIT, "appRegistryCredentials": APP, "previewApprovalToken": STACK,
    "gitKnownHosts": STACK,
}
# A remote app's commit is known only once the platform fetches it; image tags default to it (never empty).
PENDING_COMMIT = "0" * 40


class OtherHost(StrictModel):
    host: Hostname
    app: AppName
    environment: str = Field(max_length=63)


class PublishedPolicy(StrictModel):
    """The model of `.minnova/platform/<stack>.yaml` (unknown keys are errors, like every file here)."""

    app: AppName = Field(description="the app this policy is for")
    stack: str = Field(min_length=1, max_length=100, description="the stack it was published from")
    stack_file: str = Field(min_length=1, max_length=200, description="the stack file, as messages name it")
    registry_file: str = Field(min_length=1, max_length=300, description="the registry entry's file")
    entry: RegistryEntry = Field(description="the app's registry entry, as the platform team reviewed it")
    config: dict[str, Any] = Field(description="the stack file's `config:`, this app's part, secrets withheld")
    other_hosts: list[OtherHost] | None = Field(
        default=None, max_length=10_000, description="hosts the stack's other apps use (null: not published)")
    other_account_tokens: int | None = Field(
        default=None, ge=0, le=1_000_000, description="Cloudflare account tokens the stack creates for its other "
        "apps and cert-manager (null: not published), so validate checks minnova:cloudflare.maxAccountTokens")
    hosts_not_published: list[AppName] = Field(
        default_factory=list, max_length=10_000,
        description="other apps whose config did not load when this was published: their hosts are not in otherHosts")


def policy_file(stack: str) -> Path:
    return POLICY_DIR / f"{stack}.yaml"


# ---- publishing (infra repository) -----------------------------------------------------------------------------

def policy_document(project_dir: Path, stack: str, app: str, other_apps: list[LoadedApp] | None,
                    not_loaded: list[str] = ()) -> dict:
    """The published document of `app` in `stack`, from the infra checkout in `project_dir`. `other_apps`: the
    stack's loaded apps (their hosts are published), or None to leave them out; `not_loaded`: other apps whose
    config did not load (named, so validate says their hosts were not checked)."""
    from minnova_idp.load.registry import read_registry
    from minnova_idp.load.stack import from_stack_file, parse_stack_config
    from minnova_idp.load.yamlsafe import load_yaml_file

    stack_config = parse_stack_config(*from_stack_file(project_dir, stack))
    settings = stack_config.settings
    registered, problems = read_registry(project_dir, settings.registry_dir)
    found = [item for item in registered if item.entry.name == app]
    if not found:
        raise ConfigError(problems + [Problem(f"{settings.registry_dir}/{app}.yaml", message=f"app '{app}' is not "
                                              f"registered in stack {stack}",
                                              hint=f"registered here: {', '.join(i.entry.name for i in registered)}"
                                              if registered else None)])
    item = found[0]
    document = load_yaml_file(project_dir / f"Pulumi.{stack}.yaml", f"Pulumi.{stack}.yaml").data or {}
    components = {names.component_name(app, environment) for environment in settings.environments}
    config = {}
    for key, value in (document.get("config") or {}).items():
        namespace, _, name = str(key).partition(":")
        if namespace != "minnova":
            continue  # the project namespace and other providers' settings: not the platform's policy
        published_as = PUBLISHED_SETTINGS.get(name, OMIT)
        if published_as == OMIT:
            continue
        if published_as == APP:
            if not isinstance(value, dict) or app not in value:
                continue
            value = {app: value[app]}
        if published_as == COMPONENTS:
            value = [component for component in value if component in components] if isinstance(value, list) \
                else value
        config[key] = _withheld(value, whole=_is_secret(name))
    entry = item.entry.model_dump(by_alias=True, exclude_none=True)
    published: dict[str, Any] = {"app": app, "stack": stack, "stackFile": stack_config.file,
                                 "registryFile": item.file, "entry": entry, "config": config}
    if other_apps is not None:
        published["otherHosts"] = [{"host": host, "app": owner, "environment": environment}
                                   for other in other_apps if other.name != app
                                   for owner, environment, host, *_ in _claims(other)]
        if stack_config.settings.cloudflare is not None:
            from minnova_idp.model.inputs import ProgramInputs
            from minnova_idp.policy.capacity import account_tokens

            others = [other for other in other_apps if other.name != app]
            published["otherAccountTokens"] = account_tokens(ProgramInputs(stack=stack_config, apps=others))
        missing = sorted(name for name in not_loaded if name != app)
        if missing:
            published["hostsNotPublished"] = missing
    validate_document(PublishedPolicy, load_yaml(policy_text(published), "published policy"))  # always readable
    return published


def _is_secret(name: str) -> bool:
    from minnova_idp.model.stack_settings import SECRET_KEYS

    return name in SECRET_KEYS


def _withheld(value: Any, whole: bool) -> Any:
    """Every `secure:` value (and, for a secret key, every value) replaced by `{secure: withheld}`."""
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return {"secure": WITHHELD}
        return {key: _withheld(item, whole) for key, item in value.items()}
    if isinstance(value, list):
        return [_withheld(item, whole) for item in value]
    return {"secure": WITHHELD} if whole else value


def _claims(app: LoadedApp):
    from minnova_idp.load.apps import host_claims

    return host_claims(app)


def policy_text(document: dict) -> str:
    import yaml

    return (f"# The platform's policy for {document['app']} in stack {document['stack']}, from `minnova-idp policy "
            f"publish {document['app']} -s {document['stack']}`.\n"
            f"# Commit it as {policy_file(document['stack'])} in the app's repository: `minnova-idp validate` checks "
            "the app against it.\n# No secret is in it: secret settings are named, their values withheld.\n"
            + yaml.safe_dump(document, sort_keys=False, default_flow_style=False))


# ---- reading and checking (app repository) ---------------------------------------------------------------------

def read_policies(app_root: Path) -> tuple[list[tuple[str, PublishedPolicy]], list[Problem]]:
    """(file as shown, policy) of every `.minnova/platform/*.yaml`, and the problems of unreadable ones."""
    directory = app_root / POLICY_DIR
    if not directory.is_dir() or directory.is_symlink():
        return [], ([Problem(str(directory), message="is a symbolic link; it must be a directory")]
                    if directory.is_symlink() else [])
    found, problems = [], []
    entries = sorted(directory.iterdir())
    if len(entries) > _MAX_POLICIES:  # never a silent skip: the ones past the limit would not be checked
        return [], [Problem(str(directory), message=f"holds {len(entries)} entries; validate reads at most "
                            f"{_MAX_POLICIES} (one <stack>.yaml per stack that deploys the app)",
                            hint="remove the policies of stacks that no longer deploy the app")]
    for path in entries:
        shown = str(path)
        if path.suffix != ".yaml" or path.name.startswith("."):
            problems.append(Problem(shown, message=f"is not read: {POLICY_DIR}/ holds <stack>.yaml files only"))
            continue
        try:
            content = read_regular_file(path, MAX_POLICY_BYTES, follow_symlinks=False)
            policy = validate_document(PublishedPolicy, load_yaml(content, shown))
        except FileRefused as exc:
            problems.append(Problem(shown, message=exc.reason))
            continue
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        if path.stem != policy.stack:
            problems.append(Problem(shown, "stack", f"'{policy.stack}' does not match the file name",
                                    hint=f"the file of stack {policy.stack} is {policy_file(policy.stack)}"))
            continue
        found.append((shown, policy))
    return found, problems


def policy_problems(policy: PublishedPolicy, shown_policy: str, app_yaml: Path, config: AppConfig) -> list[Problem]:
    """Everything the platform would refuse of this app in the policy's stack: `load_inputs` (every per-app check
    plan makes: hosts and their ownership, zone, quotas, images, preview origins, seed, mask and restore-check
    files, secrets files without their key) with the app loaded from `app_yaml`, the registry entry's checks
    (`entry_problems`) and the hosts of the stack's other apps (`host_claim_problems`)."""
    from minnova_idp.load.apps import entry_problems, host_claim_problems, host_claims
    from minnova_idp.load.inputs import load_inputs
    from minnova_idp.load.stack import raw_config

    root = app_yaml.parent.parent
    app = LoadedApp(entry=policy.entry, config=config, commit=None if policy.entry.local else PENDING_COMMIT,
                    config_file=str(app_yaml), directory=root)
    problems = entry_problems(app, policy.registry_file)
    if policy.app != config.name:  # renamed in app.yaml (what plan says, first), or another app's file
        return problems + [Problem(shown_policy, "app", f"'{policy.app}' is not this app ('{config.name}')",
                                   hint=f"the platform team publishes it with: minnova-idp policy publish "
                                        f"{config.name} -s {policy.stack}")]
    others = [(other.app, other.environment, other.host, f"{shown_policy}: otherHosts",
               f"environments.{other.environment}.host")
              for other in policy.other_hosts or []]
    # The other apps run: a host they use is theirs (as the stack's outputs make it for plan, ADR 0012), whatever
    # the names; settled by name, an app sorting first was told nothing that plan would refuse.
    served = {other.host: other.app for other in policy.other_hosts or []}
    problems += [problem for problem in host_claim_problems(others + host_claims(app), deployed=served)
                 if problem.file == app.config_file]
    raw, secret_keys = raw_config(policy.config)
    try:
        load_inputs(root, raw, secret_keys, policy.stack_file, apps=[app])
    except ConfigError as exc:
        problems += exc.problems
    problems += _account_token_problems(policy, shown_policy, app, raw, secret_keys, problems)
    return [_in_policy(problem, policy, shown_policy) for problem in problems]


def _account_token_problems(policy: PublishedPolicy, shown_policy: str, app: LoadedApp, raw: dict, secret_keys: set,
                            found: list[Problem]) -> list[Problem]:
    """The stack's Cloudflare account tokens with this app's as it is now: plan counts every app, validate has this
    one, so the other apps' count is published (policy publish) and added here (the count: capacity.account_tokens)."""
    from minnova_idp.load.stack import parse_stack_config
    from minnova_idp.model.inputs import ProgramInputs
    from minnova_idp.policy.capacity import account_tokens

    field = "minnova:cloudflare.maxAccountTokens"
    if policy.other_account_tokens is None or any(problem.field == field for problem in found):
        return []
    try:
        stack = parse_stack_config(raw, secret_keys, policy.stack_file)
    except ConfigError:
        return []  # load_inputs said why
    cloudflare = stack.settings.cloudflare
    if cloudflare is None:
        return []
    own = account_tokens(ProgramInputs(stack=stack, apps=[app])) - 1  # cert-manager's is in the others' count
    total = policy.other_account_tokens + own
    if total <= cloudflare.max_account_tokens:
        return []
    return [Problem(policy.stack_file, field, f"with this app's {own} token(s) the stack would create {total} "
                    f"Cloudflare account API tokens ({policy.other_account_tokens} for its other apps and "
                    f"cert-manager), more than the {cloudflare.max_account_tokens} it may create",
                    hint="fewer environments with a database or storage, or ask the platform team to raise it")]


def _in_policy(problem: Problem, policy: PublishedPolicy, shown_policy: str) -> Problem:
    """A problem plan names in the platform's files (the stack file, the registry entry), which the app repository
    does not have: named in the published policy that holds their copy, the original said in the hint."""
    if problem.file not in (policy.stack_file, policy.registry_file):
        return problem
    origin = problem.file if problem.line is None else f"{problem.file}:{problem.line}"
    return Problem(shown_policy, problem.field, problem.message,
                   hint=(f"{problem.hint}; " if problem.hint else "") + f"in the platform's {origin}, published "
                        "here: ask the platform team, or publish the policy again")


def skipped_checks(policies: list[PublishedPolicy]) -> list[str]:
    """What `validate` could not check, said rather than silently passed."""
    if not policies:
        return [(f"no platform policy ({POLICY_DIR}/<stack>.yaml, from `minnova-idp policy publish APP -s STACK`, "
                 "or --project-dir INFRA): hosts and their ownership, the zone, quotas, images, preview origins, "
                 "the stack's environments, and whether its secrets files are encrypted for the stack's keys were "
                 "not checked")]
    skipped = [("the image gate (the registry has the tag) and the data guards (the stack's last outputs) are "
                "checked by plan and pulumi up only"),
               "secret values need the key: names, recipients and sizes were checked"]
    missing = sorted(policy.stack for policy in policies if policy.other_hosts is None)
    if missing:
        skipped.append(f"hosts of other apps were not published for stack(s) {', '.join(missing)}: a host another "
                       "app already uses was not checked")
    tokens = sorted(policy.stack for policy in policies if policy.other_account_tokens is None
                    and policy.config.get("minnova:cloudflare") is not None)
    if tokens:
        skipped.append(f"the Cloudflare account tokens of other apps were not published for stack(s) "
                       f"{', '.join(tokens)}: whether the stack stays within minnova:cloudflare.maxAccountTokens with "
                       "this app was not checked")
    for policy in policies:
        if policy.hosts_not_published:
            skipped.append(f"stack {policy.stack}: the hosts of app(s) {', '.join(policy.hosts_not_published)} were "
                           "not published (their config did not load when the policy was published): a host they "
                           "use, and their Cloudflare tokens, were not checked")
    return skipped
