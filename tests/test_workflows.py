"""The GitHub workflows shipped for users: they parse, reference only what exists here, and hold no
credential where untrusted code runs (pull requests), only inside reviewer-gated environments from main."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from minnova_idp.cli import build_parser
from minnova_idp.core.stack_settings import PreviewSettings
from minnova_idp.core.yamlsafe import load_yaml, load_yaml_file

from .conftest import PROJECT_DIR

INFRA_WORKFLOWS = sorted((PROJECT_DIR / ".github" / "workflows").glob("*.yml"))
APP_WORKFLOWS = sorted((PROJECT_DIR / "templates").rglob("*.yml"))
ALL = INFRA_WORKFLOWS + APP_WORKFLOWS
APPROVAL = PROJECT_DIR / "templates/app-repo/.github/workflows/minnova-preview-approval.yml"
APP_CI = PROJECT_DIR / "templates/app-repo/.github/workflows/minnova.yml"
RENDERER = PROJECT_DIR / ".github/workflows/renderer-image.yml"
OFFLINE_PLAN = PROJECT_DIR / ".github/workflows/preview.yml"
PULUMI_PREVIEW = PROJECT_DIR / ".github/workflows/pulumi-preview.yml"
DEPLOY = PROJECT_DIR / ".github/workflows/deploy.yml"
STACKS = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in PROJECT_DIR.glob("Pulumi.*.yaml"))

# Events whose runs execute, or are steered by, code or text from people without write access.
UNTRUSTED_EVENTS = {"pull_request", "pull_request_target", "pull_request_review", "pull_request_review_comment",
                    "issue_comment", "workflow_run"}
# Events whose GITHUB_REF is refs/pull/<n>/merge, never a branch: `github.ref == 'refs/heads/main'` skips them.
PULL_REF_EVENTS = {"pull_request", "pull_request_review", "pull_request_review_comment"}
# Actions that obtain (or are useless without) a Pulumi, cloud or GitHub App credential.
CREDENTIAL_ACTIONS = ("pulumi/auth-actions@", "pulumi/actions@", "actions/create-github-app-token@",
                      "aws-actions/configure-aws-credentials@", "google-github-actions/auth@", "azure/login@",
                      "hashicorp/vault-action@")
MAIN_ONLY = "github.ref == 'refs/heads/main'"
# `uses: owner/repo[/path]@<40-hex commit> # vX.Y.Z`, on one line (the YAML loader drops comments).
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>[^\s#]+)\s*(?:#\s*(?P<comment>.*?))?\s*$")
PINNED = re.compile(r"^(?P<action>[\w.-]+/[\w.-]+(?:/[\w./-]+)?)@(?P<sha>[0-9a-f]{40})$")
VERSION = re.compile(r"^v\d+\.\d+\.\d+$")


def workflow(path: Path) -> dict:
    return load_yaml_file(path, str(path.relative_to(PROJECT_DIR))).data  # keys stay text: `on` is not True


def inline(text: str) -> dict:
    return load_yaml(text, "inline.yml").data


def steps(document: dict):
    for job in document["jobs"].values():
        yield from job.get("steps", [])


def strings(value):
    """Every string in a parsed YAML value (keys included), at any depth."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def secrets_used(value) -> set[str]:
    """Secrets referenced in expressions (`secrets.X`, `secrets['X']`, `toJSON(secrets)` as `*`)."""
    found = set()
    for text in strings(value):
        for expression in re.findall(r"\$\{\{(.*?)\}\}", text, re.S):
            for match in re.finditer(r"\bsecrets\b(?:\.(\w+)|\[\s*'([^']*)'\s*\])?", expression):
                found.add(match.group(1) or match.group(2) or "*")
    return found


def conjuncts(condition) -> list[str] | None:
    """The `&&` parts of a job's `if`, normalised; None when it cannot be read as a plain conjunction."""
    if condition is None:
        return []
    text = " ".join(str(condition).strip().removeprefix("${{").removesuffix("}}").split())
    if any(token in text for token in ("||", "!", "always()", "failure()", "cancelled()", "(")):
        return None
    return [part.strip().replace('"', "'") for part in text.split("&&")]


def job_events(document: dict, name: str) -> set[str]:
    """The events that can run job `name`: the workflow's, narrowed by its `if` and by the jobs it needs."""
    events = set(document["on"])
    job = document["jobs"][name]
    parts = conjuncts(job.get("if"))
    if parts is None:
        return events  # an `if` we cannot read narrows nothing: fail safe
    for part in parts:
        if match := re.fullmatch(r"github\.event_name == '(\w+)'", part):
            events &= {match.group(1)}
        elif part == MAIN_ONLY:
            events -= PULL_REF_EVENTS
    needs = job.get("needs", [])
    for needed in [needs] if isinstance(needs, str) else needs:
        events &= job_events(document, needed)
    return events


def effective_permissions(document: dict, job: dict):
    return job["permissions"] if "permissions" in job else document.get("permissions")


def credentials(document: dict, job: dict) -> list[str]:
    """What in this job can obtain a credential beyond its own GITHUB_TOKEN."""
    found = []
    permissions = effective_permissions(document, job)
    if permissions in (None, "write-all") or (isinstance(permissions, dict) and permissions.get("id-token") == "write"):
        found.append("id-token: write (OIDC token for Pulumi or a cloud)")
    others = secrets_used(job) | secrets_used(document.get("env"))
    if others - {"GITHUB_TOKEN"}:
        found.append(f"secrets: {sorted(others - {'GITHUB_TOKEN'})}")
    if "uses" in job and "secrets" in job:
        found.append("secrets passed to a reusable workflow")
    for step in job.get("steps", []):
        if step.get("uses", "").startswith(CREDENTIAL_ACTIONS):
            found.append(f"step {step['uses'].split('@')[0]}")
    return found


def cli_commands() -> set[str]:
    parser = build_parser()
    (subparsers,) = [action for action in parser._actions if action.__class__.__name__ == "_SubParsersAction"]
    return set(subparsers.choices)


def test_there_are_workflows_for_the_infra_repo_and_app_repos():
    assert {p.name for p in INFRA_WORKFLOWS} == {"tests.yml", "preview.yml", "pulumi-preview.yml", "deploy.yml",
                                                 "renderer-image.yml"}
    assert [p.relative_to(PROJECT_DIR).as_posix() for p in APP_WORKFLOWS] == [
        "templates/app-repo/.github/workflows/minnova-preview-approval.yml",
        "templates/app-repo/.github/workflows/minnova.yml"]


def test_every_workflow_file_is_checked():
    """The checks below see every workflow: none hides behind a .yaml extension."""
    found = {*(PROJECT_DIR / ".github" / "workflows").glob("*.y*ml"), *(PROJECT_DIR / "templates").rglob("*.yaml")}
    assert found <= set(ALL)


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_workflow_shape_and_least_privilege(path):
    document = workflow(path)
    assert {"name", "on", "jobs"} <= set(document)
    assert "permissions" in document, "set the token's permissions explicitly"
    # Nothing for the whole workflow (jobs ask for their own), or read-only contents.
    assert document["permissions"] == {} or document["permissions"].get("contents") == "read"
    # An OIDC token only for the jobs that need one, never for a whole workflow.
    assert "id-token" not in document["permissions"]
    for job in document["jobs"].values():
        assert job["runs-on"].startswith("ubuntu-")
        assert effective_permissions(document, job) not in ("write-all", "read-all")


def uses_lines(path: Path) -> list[tuple[int, str, str | None]]:
    return [(number, match["ref"], match["comment"])
            for number, line in enumerate(path.read_text().splitlines(), 1)
            if (match := USES_LINE.match(line))]


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_actions_are_pinned(path):
    """Every action by full commit SHA (a tag can be moved), its version in a comment on the same line."""
    lines = uses_lines(path)
    # The raw lines are every `uses:` the YAML has (none hides in a flow mapping or on a second line).
    assert [ref for _, ref, _ in lines] == [step["uses"] for step in steps(workflow(path)) if "uses" in step]
    for number, ref, comment in lines:
        assert PINNED.match(ref), f"{path.name}:{number}: {ref} is not pinned by a 40-hex commit SHA"
        assert comment and VERSION.match(comment), f"{path.name}:{number}: add the version, e.g. `# v1.2.3`"


def test_each_action_is_pinned_to_one_commit_and_version_everywhere():
    pins: dict[str, set[tuple[str, str]]] = {}
    for path in ALL:
        for _, ref, comment in uses_lines(path):
            if match := PINNED.match(ref):
                pins.setdefault(match["action"], set()).add((match["sha"], comment))
    assert pins and {action: found for action, found in pins.items() if len(found) > 1} == {}


@pytest.mark.parametrize("line,ok", [
    ("      - uses: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1", True),
    ("      - uses: actions/checkout@v7", False),
    ("      - uses: actions/checkout@v7.0.1 # v7.0.1", False),
    ("      - uses: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1", False),
    ("      - uses: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # latest", False),
    ("      - uses: actions/checkout@3d3c42e5 # v7.0.1", False),
])
def test_the_pin_check_itself(line, ok):
    match = USES_LINE.match(line)
    assert bool(match and PINNED.match(match["ref"]) and match["comment"] and VERSION.match(match["comment"])) is ok


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_checkouts_keep_no_token_on_disk(path):
    """Later steps (a pull request's code, a build) cannot pick the job's token out of the checkout."""
    for step in steps(workflow(path)):
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step.get("with", {}).get("persist-credentials") is False, path.name


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_untrusted_input_never_becomes_shell_text(path):
    """Script injection: event fields go through env:, never into run: as ${{ }} expressions."""
    for step in steps(workflow(path)):
        assert "${{" not in step.get("run", ""), step["run"]
        if step.get("uses", "").startswith("actions/github-script@"):
            assert "${{" not in step.get("with", {}).get("script", ""), step["with"]["script"]


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_pull_request_target_never_runs_pull_request_code(path):
    """pull_request_target has a write token and secrets: such a workflow uses no action, checks nothing out."""
    document = workflow(path)
    if "pull_request_target" not in document["on"]:
        return
    for step in steps(document):
        assert "uses" not in step, f"{path.name}: {step['uses']}"
        assert not re.search(r"\bgit (clone|fetch|checkout)\b|gh (pr|repo) (checkout|clone)", step.get("run", ""))


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_no_long_lived_secrets_in_files(path):
    text = path.read_text()
    for pattern in (r"AGE-SECRET-KEY", r"gh[pousr]_[A-Za-z0-9]{20,}", r"-----BEGIN", r"pul-[0-9a-f]{20,}"):
        assert not re.search(pattern, text), pattern
    # Secrets are referenced, never written: only from the secrets context.
    for step in steps(workflow(path)):
        for name, value in {**step.get("with", {}), **step.get("env", {})}.items():
            credential = re.search(r"(?i)(token|password|private-key|secret)$", name)
            if credential and "${{" not in str(value):
                pytest.fail(f"{path.name}: {name} is written in the file; reference the secrets context")


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_minnova_idp_commands_exist(path):
    known = cli_commands()
    for step in steps(workflow(path)):
        for command in re.findall(r"minnova-idp (\w[\w-]*)", step.get("run", "")):
            assert command in known, f"{path.name}: minnova-idp {command}"


@pytest.mark.parametrize("path", INFRA_WORKFLOWS, ids=lambda p: p.name)
def test_referenced_files_exist(path):
    for step in steps(workflow(path)):
        for script in re.findall(r"(?:bash|python3) (\.?[\w./-]+\.(?:py|sh)|\.ci/run)", step.get("run", "")):
            assert (PROJECT_DIR / script).is_file(), f"{path.name}: {script}"


def test_tests_workflow_runs_the_readme_test_command():
    runs = [step.get("run") for step in steps(workflow(PROJECT_DIR / ".github/workflows/tests.yml"))]
    assert "bash .ci/run" in runs


# --- No credential where a pull request's code runs ------------------------------------------------------

# The shape of the old preview.yml (an organization token on every pull request), plus a secret in env and
# a job the `if` keeps away from pull requests: the checks below must catch the first two, not the third.
VULNERABLE = """\
name: pulumi preview
on:
  pull_request:
permissions:
  contents: read
  id-token: write
jobs:
  preview:
    runs-on: ubuntu-24.04
    steps:
      - uses: pulumi/auth-actions@141415910c3beb54e03b48e9057c204c97b956f2 # v2.1.0
        with:
          organization: acme
          requested-token-type: urn:pulumi:token-type:access_token:organization
  leak:
    runs-on: ubuntu-24.04
    permissions: {}
    steps:
      - run: echo "$T"
        env:
          T: ${{ secrets.PULUMI_ACCESS_TOKEN }}
  sneaky:
    if: github.event_name == 'push' || true
    runs-on: ubuntu-24.04
    permissions: {}
    steps:
      - run: echo "$T"
        env:
          T: ${{ toJSON(secrets) }}
  gated:
    if: github.event_name == 'push'
    runs-on: ubuntu-24.04
    permissions: {}
    environment: prod
    steps:
      - run: echo "$T"
        env:
          T: ${{ secrets['DEPLOY_KEY'] }}
"""


def untrusted_jobs(document: dict) -> dict[str, dict]:
    return {name: job for name, job in document["jobs"].items() if job_events(document, name) & UNTRUSTED_EVENTS}


def test_the_credential_check_catches_the_old_preview_workflow():
    document = inline(VULNERABLE)
    found = {name: credentials(document, job) for name, job in untrusted_jobs(document).items()}
    assert found == {"preview": ["id-token: write (OIDC token for Pulumi or a cloud)", "step pulumi/auth-actions"],
                     "leak": ["secrets: ['PULUMI_ACCESS_TOKEN']"],
                     "sneaky": ["secrets: ['*']"]}  # an `if` with `||` narrows nothing
    assert credentials(document, document["jobs"]["gated"]) == ["secrets: ['DEPLOY_KEY']"]


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_no_job_run_by_a_pull_request_can_obtain_a_credential(path):
    """No OIDC token, no secret but its own GITHUB_TOKEN, no credential action, no environment (environments
    hold the credentials) in any job a pull request (or a comment, or a run it triggered) can start."""
    document = workflow(path)
    for name, job in untrusted_jobs(document).items():
        assert credentials(document, job) == [], f"{path.name}: job {name}"
        assert "environment" not in job, f"{path.name}: job {name}"


def test_the_pull_request_jobs_are_the_expected_ones():
    """The check above is not vacuous: it sees every job pull requests run, and only those."""
    found = {(path.name, name) for path in ALL for name in untrusted_jobs(workflow(path))}
    assert found == {("preview.yml", "plan"), ("tests.yml", "tests"), ("minnova.yml", "validate"),
                     ("minnova.yml", "image"), ("minnova-preview-approval.yml", "revoke-preview")}


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_credentials_only_in_environments_from_main(path):
    """A job that can obtain a credential runs in a GitHub environment (reviewers, main-only branch rule,
    environment secrets), and only from main; infra-repo ones only on push to main or on demand."""
    document = workflow(path)
    for name, job in document["jobs"].items():
        if not credentials(document, job):
            continue
        assert job.get("environment"), f"{path.name}: job {name} holds a credential outside an environment"
        assert MAIN_ONLY in (conjuncts(job.get("if")) or []), f"{path.name}: job {name} must run from main only"
        if path in INFRA_WORKFLOWS:
            assert set(document["on"]) <= {"push", "workflow_dispatch"}, path.name
            assert document["on"].get("push", {"branches": ["main"]}) == {"branches": ["main"]}, path.name


def test_the_jobs_holding_credentials_are_the_expected_ones():
    found = {(path.name, name) for path in ALL
             for name, job in workflow(path)["jobs"].items() if credentials(workflow(path), job)}
    assert found == {("pulumi-preview.yml", "preview"), ("deploy.yml", "up"), ("minnova.yml", "deploy")}


def test_pulumi_tokens_are_team_tokens_for_their_environments_stack():
    """OIDC exchanges a team token (Stack Read for previews, Stack Write for deploys, one stack each), never
    an organization token; the team is named after the environment, so the trust policy can pair them."""
    found = set()
    for path in ALL:
        for name, job in workflow(path)["jobs"].items():
            uses = [step.get("uses", "") for step in job.get("steps", [])]
            if not any(use.startswith("pulumi/") for use in uses):
                continue
            found.add((path.name, name))
            environment = job["environment"]
            purpose, stack = environment.split("-", 1)
            assert purpose in {"preview", "deploy"} and stack in {"${{ inputs.stack }}", "${{ matrix.stack }}"}
            (auth,) = [step for step in job["steps"] if step.get("uses", "").startswith("pulumi/auth-actions@")]
            assert auth["with"] == {"organization": "${{ vars.PULUMI_ORG }}",
                                    "requested-token-type": "urn:pulumi:token-type:access_token:team",
                                    "scope": f"team:minnova-{environment}"}
            (pulumi,) = [step for step in job["steps"] if step.get("uses", "").startswith("pulumi/actions@")]
            assert job["steps"].index(auth) < job["steps"].index(pulumi)
            assert pulumi["with"]["stack-name"] == "${{ vars.PULUMI_ORG }}/" + stack
            assert pulumi["with"]["command"] == purpose.replace("deploy", "up")
    assert found == {("pulumi-preview.yml", "preview"), ("deploy.yml", "up")}


def test_offline_plan_on_pull_requests_covers_every_stack_and_holds_nothing():
    document = workflow(OFFLINE_PLAN)
    assert set(document["on"]) == {"pull_request"}
    assert document["permissions"] == {"contents": "read"}
    (job,) = document["jobs"].values()
    assert "permissions" not in job and "environment" not in job
    assert job["strategy"]["matrix"]["stack"] == STACKS
    runs = " ".join(step.get("run", "") for step in job["steps"])
    assert 'minnova-idp plan --stack "$STACK"' in runs
    assert not any(step.get("uses", "").startswith("pulumi/") for step in job["steps"])
    (upload,) = [step for step in job["steps"] if step.get("uses", "").startswith("actions/upload-artifact@")]
    assert upload["with"]["path"] == "plan-${{ matrix.stack }}"
    assert secrets_used(document) == set()


def test_real_preview_runs_one_reviewed_commit_on_demand_in_its_environment():
    document = workflow(PULUMI_PREVIEW)
    assert set(document["on"]) == {"workflow_dispatch"}
    inputs = document["on"]["workflow_dispatch"]["inputs"]
    assert inputs["stack"]["type"] == "choice" and inputs["stack"]["options"] == STACKS
    assert inputs["sha"]["required"] is True
    check, preview = document["jobs"]["check"], document["jobs"]["preview"]
    # Inputs checked before anyone is asked to approve, by a job with no token and no code.
    assert check["permissions"] == {} and not any("uses" in step for step in check["steps"])
    assert check["steps"][0]["env"]["SHA"] == "${{ inputs.sha }}" and "^[0-9a-f]{40}$" in check["steps"][0]["run"]
    # Apps with Actions: write (app repositories' deploy-request App) cannot start it.
    assert check["steps"][0]["env"]["ACTOR"] == "${{ github.triggering_actor }}"
    assert 'if [[ "$ACTOR" == *"[bot]" ]]; then' in check["steps"][0]["run"]
    assert preview["needs"] == "check"
    assert MAIN_ONLY in conjuncts(check["if"]) and MAIN_ONLY in conjuncts(preview["if"])
    assert preview["environment"] == "preview-${{ inputs.stack }}"
    assert preview["permissions"] == {"contents": "read", "id-token": "write", "pull-requests": "write"}
    (checkout,) = [step for step in preview["steps"] if step.get("uses", "").startswith("actions/checkout@")]
    assert checkout["with"]["ref"] == "${{ inputs.sha }}"  # the commit reviewed, not a branch that moves
    (pulumi,) = [step for step in preview["steps"] if step.get("uses", "").startswith("pulumi/actions@")]
    assert pulumi["with"]["command"] == "preview" and pulumi["with"]["comment-on-pr-number"] == "${{ inputs.pr }}"


def test_deploy_runs_from_main_only_one_update_per_stack_and_can_be_asked_for_by_app_repos():
    document = workflow(DEPLOY)
    assert set(document["on"]) == {"push", "workflow_dispatch"}  # no repository_dispatch
    assert document["on"]["push"] == {"branches": ["main"]}
    assert set(document["on"]["workflow_dispatch"]["inputs"]) == {"stack", "app"}
    for job in document["jobs"].values():
        assert MAIN_ONLY in conjuncts(job["if"])
    stacks = document["jobs"]["stacks"]
    assert "permissions" not in stacks and document["permissions"] == {"contents": "read"}
    (select,) = [step for step in stacks["steps"] if step.get("id") == "stacks"]
    assert select["env"] == {"REQUESTED": "${{ inputs.stack }}", "APP": "${{ inputs.app }}"}
    up = document["jobs"]["up"]
    assert up["environment"] == "deploy-${{ matrix.stack }}"
    assert up["permissions"] == {"contents": "read", "id-token": "write"}
    assert "matrix.stack" in up["concurrency"]["group"] and up["concurrency"]["cancel-in-progress"] is False
    (pulumi,) = [s for s in up["steps"] if s.get("uses", "").startswith("pulumi/actions@")]
    assert pulumi["with"]["command"] == "up"


def test_app_template_validates_builds_with_the_sha_and_asks_for_a_deploy():
    document = workflow(APP_CI)
    runs = " ".join(step.get("run", "") for step in steps(document))
    assert "minnova-idp validate ." in runs
    (build,) = [s for s in steps(document) if s.get("uses", "").startswith("docker/build-push-action@")]
    assert "github.sha" in build["with"]["tags"] and "head.sha" in build["with"]["tags"]
    (dispatch,) = [s for s in steps(document) if "/dispatches" in s.get("run", "")]
    assert re.search(r'gh api -X POST "repos/\$INFRA/actions/workflows/deploy\.yml/dispatches" -f ref=main ',
                     dispatch["run"])
    assert dispatch["env"]["GH_TOKEN"] == "${{ steps.token.outputs.token }}"
    passed = set(re.findall(r"inputs\[(\w+)\]", dispatch["run"]))
    assert passed and passed <= set(workflow(DEPLOY)["on"]["workflow_dispatch"]["inputs"])
    assert "repository_dispatch" not in APP_CI.read_text() and "event_type" not in runs


def test_app_template_token_can_only_start_workflows_on_the_infra_repo():
    document = workflow(APP_CI)
    deploy = document["jobs"]["deploy"]
    (token,) = [s for s in steps(document) if s.get("uses", "").startswith("actions/create-github-app-token@")]
    assert token in deploy["steps"]
    # One repository (without it, `owner` means every repository the App is installed on), one permission
    # (without permission-*, every permission of the installation).
    assert token["with"] == {"client-id": "${{ vars.MINNOVA_APP_CLIENT_ID }}",
                             "private-key": "${{ secrets.MINNOVA_APP_PRIVATE_KEY }}",
                             "owner": "${{ steps.infra.outputs.owner }}",
                             "repositories": "${{ steps.infra.outputs.name }}",
                             "permission-actions": "write"}
    (infra,) = [s for s in deploy["steps"] if s.get("id") == "infra"]
    assert infra["env"] == {"INFRA": "${{ vars.MINNOVA_INFRA_REPO }}"}
    assert 'owner=${INFRA%%/*}' in infra["run"] and 'name=${INFRA#*/}' in infra["run"]
    # The key is an environment secret of an environment limited to main, read by that job only.
    assert deploy["environment"] == "minnova-deploy"
    assert set(conjuncts(deploy["if"])) == {"github.event_name == 'push'", MAIN_ONLY}
    assert deploy["permissions"] == {}
    for name, job in document["jobs"].items():
        if name != "deploy":
            assert secrets_used(job) <= {"GITHUB_TOKEN"}, name


@pytest.mark.parametrize("path", APP_WORKFLOWS, ids=lambda p: p.name)
def test_app_template_tokens_cannot_write_contents(path):
    document = workflow(path)
    blocks = [document["permissions"], *(job.get("permissions") for job in document["jobs"].values())]
    for block in blocks:
        assert block not in ("write-all", "read-all")
        assert block is None or block.get("contents") in (None, "read")
    for job in document["jobs"].values():
        assert effective_permissions(document, job).get("contents") in (None, "read")
    for step in steps(document):  # App tokens: only the permissions asked for, and never contents
        asked = {key for key in step.get("with", {}) if key.startswith("permission-")}
        assert asked <= {"permission-actions"}, asked
    assert "contents: write" not in path.read_text()


def test_app_template_github_token_reads_contents():
    assert workflow(APP_CI)["permissions"] == {"contents": "read"}


def test_app_template_image_name_is_lower_case():
    """GHCR refuses upper case: `ghcr.io/${{ github.repository }}` breaks for Acme/Oracle."""
    document = workflow(APP_CI)
    (name,) = [s for s in steps(document) if s.get("id") == "name"]
    assert name["env"]["REPOSITORY"] == "${{ github.repository }}"
    assert 'image=ghcr.io/${REPOSITORY,,}' in name["run"]
    (build,) = [s for s in steps(document) if s.get("uses", "").startswith("docker/build-push-action@")]
    assert build["with"]["tags"].startswith("${{ steps.name.outputs.image }}:")
    assert "ghcr.io/${{" not in APP_CI.read_text()


def test_preview_approval_runs_only_on_new_commits_of_pull_requests():
    document = workflow(APPROVAL)
    assert document["on"] == {"pull_request_target": {"types": ["synchronize", "reopened"]}}


def test_preview_approval_acts_only_on_pull_requests_from_forks():
    (job,) = workflow(APPROVAL)["jobs"].values()
    condition = " ".join(job["if"].removeprefix("${{").removesuffix("}}").split())
    assert condition == "github.event.pull_request.head.repo.full_name != github.repository"


def test_preview_approval_token_can_only_touch_pull_requests():
    document = workflow(APPROVAL)
    assert document["permissions"] == {}
    (job,) = document["jobs"].values()
    assert job["permissions"] == {"pull-requests": "write"}
    for step in job["steps"]:
        assert "uses" not in step  # no action: nothing fetches the pull request's code
        assert step["env"]["GH_TOKEN"] == "${{ github.token }}"


def test_preview_approval_removes_the_preview_label_and_says_which_commit_to_review():
    document = workflow(APPROVAL)
    assert document["env"]["PREVIEW_LABEL"] == PreviewSettings.model_fields["label"].default
    assert "minnova:previews.label" in APPROVAL.read_text()
    (job,) = document["jobs"].values()
    (step,) = job["steps"]
    assert step["env"]["HEAD_SHA"] == "${{ github.event.pull_request.head.sha }}"
    script = step["run"]
    assert re.search(r'gh api -X DELETE "repos/\$GH_REPO/issues/\$PR/labels/\$label"', script)
    assert re.search(r'gh api "repos/\$GH_REPO/issues/\$PR/comments"', script)
    assert "$HEAD_SHA" in script.split("/comments")[1] and "$PREVIEW_LABEL" in script.split("/comments")[1]


def test_renderer_image_is_published_on_release_tags_with_its_digest():
    document = workflow(RENDERER)
    assert document["on"] == {"push": {"tags": ["v*"]}}
    assert document["permissions"] == {}
    (job,) = document["jobs"].values()
    assert job["permissions"] == {"contents": "read", "packages": "write"}
    (login,) = [s for s in job["steps"] if s.get("uses", "").startswith("docker/login-action@")]
    assert login["with"] == {"registry": "ghcr.io", "username": "${{ github.actor }}",
                             "password": "${{ secrets.GITHUB_TOKEN }}"}
    (build,) = [s for s in job["steps"] if s.get("uses", "").startswith("docker/build-push-action@")]
    assert build["with"]["context"] == "." and build["with"]["file"] == "Dockerfile"
    assert (PROJECT_DIR / build["with"]["file"]).is_file()
    assert build["with"]["push"] is True
    assert build["with"]["tags"] == "${{ steps.name.outputs.image }}:${{ github.ref_name }}"
    (name,) = [s for s in job["steps"] if s.get("id") == "name"]
    assert name["env"]["REPOSITORY"] == "${{ github.repository }}"
    assert 'image=ghcr.io/${REPOSITORY,,}' in name["run"]
    digest = job["steps"][-1]
    assert digest["env"]["DIGEST"] == f"${{{{ steps.{build['id']}.outputs.digest }}}}"
    assert '$IMAGE@$DIGEST' in digest["run"] and '"$GITHUB_STEP_SUMMARY"' in digest["run"]


@pytest.mark.parametrize("requested,app,expected,code", [
    ("", "", '["dev", "prod"]', 0), ("prod", "", '["prod"]', 0), ("", "oracle", '["dev", "prod"]', 0),
    ("prod", "Acme_web.site", '["prod"]', 0), ("nope", "", "unknown stack", 1),
    ("", "x; rm -rf /", "must be a repository name", 1), ("", "a" * 101, "must be a repository name", 1)])
def test_stack_selection_script(requested, app, expected, code):
    """Dispatch inputs (set by anyone with Actions: write, app repositories included) are checked."""
    result = subprocess.run([sys.executable, str(PROJECT_DIR / ".github/scripts/stacks.py"), requested, app],
                            capture_output=True, text=True)
    assert result.returncode == code
    if code == 0:
        assert result.stdout.strip() == f"stacks={expected}"
    else:
        assert expected in result.stderr and result.stdout == ""
        assert app == "" or app not in result.stderr  # a refused label is not echoed
