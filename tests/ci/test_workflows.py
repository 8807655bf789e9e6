"""The GitHub workflows shipped for users: they parse, reference only what exists here, and hold no
credential where untrusted code runs (pull requests), only inside reviewer-gated environments from main."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from minnova_idp.cli.main import build_parser
from minnova_idp.load.yamlsafe import load_yaml, load_yaml_file
from minnova_idp.model.stack_settings import PreviewSettings

from tests.conftest import PROJECT_DIR

INFRA_WORKFLOWS = sorted((PROJECT_DIR / ".github" / "workflows").glob("*.yml"))
APP_WORKFLOWS = sorted((PROJECT_DIR / "minnova_idp/authoring/app_ci").glob("*.yml"))  # shipped in the package
ALL = INFRA_WORKFLOWS + APP_WORKFLOWS
APPROVAL = PROJECT_DIR / "minnova_idp/authoring/app_ci/minnova-preview-approval.yml"
APP_CI = PROJECT_DIR / "minnova_idp/authoring/app_ci/minnova.yml"
AUTO = PROJECT_DIR / "minnova_idp/authoring/app_ci/minnova-preview-auto.yml"
EXPIRY = PROJECT_DIR / "minnova_idp/authoring/app_ci/minnova-preview-expiry.yml"
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
        "minnova_idp/authoring/app_ci/minnova-preview-approval.yml",
        "minnova_idp/authoring/app_ci/minnova-preview-approve.yml",
        "minnova_idp/authoring/app_ci/minnova-preview-auto.yml",
        "minnova_idp/authoring/app_ci/minnova-preview-expiry.yml",
        "minnova_idp/authoring/app_ci/minnova.yml"]


def test_every_workflow_file_is_checked():
    """The checks below see every workflow: none hides behind a .yaml extension."""
    found = {*(PROJECT_DIR / ".github" / "workflows").glob("*.y*ml"), *(PROJECT_DIR / "minnova_idp/authoring/app_ci").rglob("*.y*ml")}
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
                     ("minnova-preview-approval.yml", "revoke-preview"),
                     ("minnova-preview-approve.yml", "approve"),
                     ("minnova-preview-auto.yml", "preview-label")}


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
    # The image is built from exactly the commit it is tagged with: the checkout of that SHA (never the action's
    # default Git context), on pushes only, where github.sha is the pushed commit (a pull request's head).
    sha = build["with"]["tags"].rpartition(":")[2]
    assert sha == "${{ github.sha }}" and build["with"]["context"] == "."
    (checkout,) = [s for s in document["jobs"]["image"]["steps"] if s.get("uses", "").startswith("actions/checkout@")]
    assert checkout["with"]["ref"] == sha
    # validate reads the pull request's head, not the merge commit GitHub checks out by default on pull_request.
    (checkout,) = [s for s in document["jobs"]["validate"]["steps"]
                   if s.get("uses", "").startswith("actions/checkout@")]
    assert checkout["with"]["ref"] == "${{ github.event.pull_request.head.sha || github.sha }}"
    (dispatch,) = [s for s in steps(document) if "/dispatches" in s.get("run", "")]
    assert re.search(r'gh api -X POST "repos/\$INFRA/actions/workflows/deploy\.yml/dispatches" -f ref=main ',
                     dispatch["run"])
    assert dispatch["env"]["GH_TOKEN"] == "${{ steps.token.outputs.token }}"
    passed = set(re.findall(r"inputs\[(\w+)\]", dispatch["run"]))
    assert passed and passed <= set(workflow(DEPLOY)["on"]["workflow_dispatch"]["inputs"])
    assert "repository_dispatch" not in APP_CI.read_text() and "event_type" not in runs


def test_a_pull_requests_head_gets_its_image_even_while_it_conflicts():
    """GitHub runs no pull_request workflow while a pull request has merge conflicts (no merge commit; GitHub docs,
    "Events that trigger workflows: pull_request"). A push runs whatever the pull request's state: so the image is
    built on pushes of every branch (the head of a pull request from this repository), never only on pull_request,
    and deploys still run for main only."""
    document = workflow(APP_CI)
    assert "push" in document["on"] and not (document["on"]["push"] or {}).get("branches")
    assert document["jobs"]["image"]["if"] == "github.event_name == 'push'"
    assert "refs/heads/main" in document["jobs"]["deploy"]["if"]


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


# --- Automatic, capped and expiring previews (minnova-preview-auto.yml, minnova-preview-expiry.yml) ---------
# The workflows are run here as GitHub would: their `if` expressions evaluated against event payloads, their bash
# scripts run with `bash -eo pipefail` and a fake `gh` on PATH that keeps pull requests, labels, comments and
# events in a JSON file (jq filters are applied by the real jq, as gh's --jq would).

REPO = "acme/web"
MAX_PREVIEWS = 5  # issue 17's default for minnova:previews.maxPerApp


class Expression:
    """The subset of GitHub's expression language the app workflows use: literals, property access, `!`, `==`,
    `!=`, `&&`, `||`, parentheses and startsWith/endsWith/contains. Comparisons follow GitHub's rules: strings
    ignore case, other mixed types compare as numbers (so `null == false`)."""

    TOKEN = re.compile(r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<number>\d+(?:\.\d+)?)|(?P<op>==|!=|&&|\|\||[!().,])"
                       r"|(?P<name>[A-Za-z_][\w-]*))")

    def __init__(self, text: str):
        text = text.strip()
        if text.startswith("${{") and text.endswith("}}"):
            text = text[3:-2]
        self.tokens, position = [], 0
        while text[position:].strip():
            match = self.TOKEN.match(text, position)
            if not match:
                raise ValueError(f"cannot read {text[position:]!r}")
            kind = match.lastgroup
            self.tokens.append((kind, match.group(kind)))
            position = match.end()

    def evaluate(self, context: dict):
        self.context, self.position = context, 0
        value = self._or()
        if self.position != len(self.tokens):
            raise ValueError(f"unexpected {self.tokens[self.position]}")
        return value

    def _peek(self):
        return self.tokens[self.position][1] if self.position < len(self.tokens) else None

    def _take(self, expected=None):
        kind, value = self.tokens[self.position]
        if expected is not None and value != expected:
            raise ValueError(f"expected {expected!r}, got {value!r}")
        self.position += 1
        return kind, value

    def _or(self):
        value = self._and()
        while self._peek() == "||":
            self._take()
            right = self._and()
            value = value if truthy(value) else right
        return value

    def _and(self):
        value = self._comparison()
        while self._peek() == "&&":
            self._take()
            right = self._comparison()
            value = right if truthy(value) else value
        return value

    def _comparison(self):
        value = self._unary()
        if self._peek() in ("==", "!="):
            operator = self._take()[1]
            equal = loose_equal(value, self._unary())
            return equal if operator == "==" else not equal
        return value

    def _unary(self):
        if self._peek() == "!":
            self._take()
            return not truthy(self._unary())
        return self._primary()

    def _primary(self):
        kind, value = self._take()
        if kind == "string":
            return value[1:-1].replace("''", "'")
        if kind == "number":
            return float(value)
        if value == "(":
            inner = self._or()
            self._take(")")
            return inner
        if kind != "name":
            raise ValueError(f"unexpected {value!r}")
        if value in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[value]
        if self._peek() == "(":
            self._take("(")
            args = [self._or()]
            while self._peek() == ",":
                self._take()
                args.append(self._or())
            self._take(")")
            return call(value, args)
        result = self.context.get(value)
        while self._peek() == ".":
            self._take()
            name = self._take()[1]
            result = result.get(name) if isinstance(result, dict) else None
        return result


def truthy(value) -> bool:
    if value is None or value is False:
        return False
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value != 0 and not math.isnan(value)
    return value != ""


def as_number(value) -> float:
    if value is None:
        return 0.0
    if isinstance(value, (bool, int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value) if value.strip() else 0.0
        except ValueError:
            return math.nan
    return math.nan


def loose_equal(left, right) -> bool:
    if isinstance(left, str) and isinstance(right, str):
        return left.casefold() == right.casefold()
    if type(left) is type(right):
        return left == right
    return as_number(left) == as_number(right)


def as_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value if isinstance(value, str) else json.dumps(value)


def call(name: str, args: list):
    functions = {"startsWith": lambda s, p: s.casefold().startswith(p.casefold()),
                 "endsWith": lambda s, p: s.casefold().endswith(p.casefold()),
                 "contains": lambda s, p: p.casefold() in s.casefold()}
    if name not in functions:
        raise ValueError(f"function {name} is not in the evaluated subset")
    return functions[name](as_text(args[0]), as_text(args[1]))


def evaluate(text: str, context: dict):
    return Expression(str(text)).evaluate(context)


def render(text: str, context: dict) -> str:
    return re.sub(r"\$\{\{(.*?)\}\}", lambda match: as_text(evaluate(match.group(1), context)), str(text))


@pytest.mark.parametrize("expression,expected", [
    ("'Acme/Web' == 'acme/web'", True), ("null == false", True), ("'' == false", True),
    ("!endsWith('x[bot]', '[BOT]')", False),
    ("github.event.missing.deeper == 'x'", False), ("true && (false || 'yes')", "yes"), ("1 != 2", True),
])
def test_the_expression_evaluator_itself(expression, expected):
    assert evaluate(expression, {"github": {"event": {}}}) == expected


FAKE_GH = r'''
import json, os, subprocess, sys, urllib.parse

state_path = os.environ["FAKE_GH_STATE"]
with open(state_path) as handle:
    state = json.load(handle)


def save():
    with open(state_path, "w") as handle:
        json.dump(state, handle)


def fail(message, status=404):
    save()
    print(f"gh: {message} (HTTP {status})", file=sys.stderr)
    sys.exit(1)


args = sys.argv[1:]
if not args or args[0] != "api":
    sys.exit(f"fake gh: only `gh api` is faked, not {args}")
method, jq, fields, path, i = None, None, {}, None, 1
while i < len(args):
    arg = args[i]
    if arg == "--paginate":
        pass
    elif arg == "-X":
        method, i = args[i + 1], i + 1
    elif arg == "--jq":
        jq, i = args[i + 1], i + 1
    elif arg in ("-f", "--raw-field"):
        key, _, value = args[i + 1].partition("=")
        fields.setdefault(key, []).append(value)
        i += 1
    elif arg.startswith("-") or path is not None:
        sys.exit(f"fake gh: unexpected argument {arg}")
    else:
        path = arg
    i += 1
method = method or ("POST" if fields else "GET")  # as gh api: fields make a POST
state["calls"].append([method, path, fields])
url = urllib.parse.urlsplit(path)
query = urllib.parse.parse_qs(url.query)
parts = url.path.split("/")
if parts[:3] != ["repos", *state["repo"].split("/")]:
    fail("Not Found")
rest = parts[3:]


def pull(number):
    for candidate in state["pulls"]:
        if str(candidate["number"]) == number:
            return candidate
    fail("Not Found")


if method == "GET" and rest == ["pulls"]:
    assert query.get("state") == ["open"], query
    body = [p for p in state["pulls"] if p.get("state", "open") == "open"]
elif rest[:1] == ["issues"] and len(rest) >= 3:
    number, what = rest[1], rest[2]
    p = pull(number)
    names = [label["name"] for label in p["labels"]]
    if what == "labels" and len(rest) == 3 and method == "GET":
        body = p["labels"]
    elif what == "labels" and len(rest) == 3 and method == "POST":
        for name in fields["labels[]"]:
            if name not in names:
                p["labels"].append({"name": name})
                state["events"].setdefault(number, []).append(
                    {"event": "labeled", "label": {"name": name}, "created_at": "2099-01-01T00:00:00Z",
                     "actor": {"login": "github-actions[bot]", "type": "Bot"}})
        body = p["labels"]
    elif what == "labels" and len(rest) == 4 and method == "DELETE":
        name = urllib.parse.unquote(rest[3])
        if name not in names:
            fail("Label does not exist")
        p["labels"] = [label for label in p["labels"] if label["name"] != name]
        body = p["labels"]
    elif what == "comments" and len(rest) == 3 and method == "GET":
        body = [{"body": text} for text in state["comments"].get(number, [])]
    elif what == "comments" and len(rest) == 3 and method == "POST":
        state["comments"].setdefault(number, []).append(fields["body"][0])
        body = {"id": 1}
    elif what == "events" and len(rest) == 3 and method == "GET":
        body = state["events"].get(number, [])
    else:
        fail("fake gh: no such route", 405)
elif method == "GET" and len(rest) == 2 and rest[0] == "pulls":
    body = pull(rest[1])
elif method == "GET" and len(rest) == 3 and rest[0] == "pulls" and rest[2] == "reviews":
    body = pull(rest[1]).get("reviews", [])
elif method == "POST" and len(rest) == 2 and rest[0] == "statuses":
    state.setdefault("statuses", []).append({"sha": rest[1], **{k: v[0] for k, v in fields.items()}})
    body = {"id": len(state["statuses"])}
elif method == "GET" and len(rest) == 3 and rest[0] == "collaborators" and rest[2] == "permission":
    body = {"permission": state["permissions"].get(rest[1], "none"), "user": {"login": rest[1]}}
elif method == "GET" and len(rest) == 2 and rest[0] == "commits":
    if rest[1] not in state["commits"]:
        fail("No commit found for SHA", 422)
    body = {"sha": rest[1], "commit": {"committer": {"date": state["commits"][rest[1]]}}}
else:
    fail("fake gh: no such route", 405)
save()
text = json.dumps(body)
if jq is not None:
    text = subprocess.run(["jq", "-r", jq], input=text, capture_output=True, text=True, check=True).stdout
    sys.stdout.write(text)
else:
    print(text)
'''

needs_jq_and_gnu_date = pytest.mark.skipif(
    shutil.which("jq") is None or subprocess.run(["date", "-u", "-d", "2024-01-01T00:00:00Z", "+%s"],
                                                 capture_output=True).returncode != 0,
    reason="jq and GNU date (both on GitHub's ubuntu runners) are needed to run the workflow scripts")


class FakeGitHub:
    """A repository's pull requests as the fake `gh` sees them, in a JSON file."""

    def __init__(self, directory: Path, pulls=(), permissions=None, commits=None, events=None, comments=None):
        self.directory = directory
        (directory / "bin").mkdir(parents=True, exist_ok=True)
        gh = directory / "bin" / "gh"
        gh.write_text(f"#!{sys.executable}\n{FAKE_GH}")
        gh.chmod(0o755)
        self.path = directory / "gh-state.json"
        self.path.write_text(json.dumps({
            "repo": REPO, "pulls": list(pulls), "permissions": permissions or {}, "commits": commits or {},
            "events": {str(k): v for k, v in (events or {}).items()},
            "comments": {str(k): v for k, v in (comments or {}).items()}, "calls": []}))

    @property
    def state(self) -> dict:
        return json.loads(self.path.read_text())

    def labels(self, number: int) -> list[str]:
        (pull,) = [p for p in self.state["pulls"] if p["number"] == number]
        return [label["name"] for label in pull["labels"]]

    def comments(self, number: int) -> list[str]:
        return self.state["comments"].get(str(number), [])

    def writes(self) -> list:
        return [call for call in self.state["calls"] if call[0] != "GET"]

    def run(self, script: str, env: dict[str, str]) -> subprocess.CompletedProcess:
        script_path = self.directory / "step.sh"
        script_path.write_text(script)
        output = self.directory / "github-output"
        output.write_text("")
        tools = os.pathsep.join(dict.fromkeys([str(self.directory / "bin"), os.path.dirname(shutil.which("jq")),
                                               "/usr/bin", "/bin"]))
        full_env = {"PATH": tools, "HOME": str(self.directory), "LC_ALL": "C", "FAKE_GH_STATE": str(self.path),
                    "GITHUB_OUTPUT": str(output), **env}
        # `shell: bash` on GitHub runs `bash --noprofile --norc -eo pipefail {0}`.
        return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script_path)],
                              env=full_env, capture_output=True, text=True, timeout=60)


def pull_request(number: int, labels=(), sha=None, **extra) -> dict:
    return {"number": number, "state": "open", "labels": [{"name": name} for name in labels],
            "head": {"sha": sha or f"{number:040x}"}, **extra}


def pr_event(action="opened", number=7, author="alice", author_type="User", head_repo=REPO, draft=False,
             label=None, state="open") -> dict:
    event = {"action": action, "number": number,
             "pull_request": {"number": number, "state": state, "draft": draft,
                              "user": {"login": author, "type": author_type},
                              "head": {"sha": "a" * 40, "repo": {"full_name": head_repo} if head_repo else None},
                              "base": {"repo": {"full_name": REPO}}},
             "repository": {"full_name": REPO}}
    if label is not None:
        event["label"] = {"name": label}
    return event


def github_context(event: dict, event_name="pull_request_target") -> dict:
    return {"github": {"token": "ghs_fake", "repository": REPO, "event_name": event_name, "event": event,
                       "action": event.get("action")}, "steps": {}}


def run_workflow(path: Path, gh: FakeGitHub, event: dict, event_name="pull_request_target",
                 settings: dict[str, str] | None = None, check=True) -> list[subprocess.CompletedProcess]:
    """Run the workflow's single job as GitHub would for this event: job and step `if`s, env, outputs."""
    document = workflow(path)
    (job,) = document["jobs"].values()
    context = github_context(event, event_name)
    results = []
    if not truthy(evaluate(job.get("if", "true"), context)):
        return results
    for step in job["steps"]:
        if "if" in step and not truthy(evaluate(step["if"], context)):
            continue
        env = {**{k: str(v) for k, v in document.get("env", {}).items()}, **(settings or {}),
               **{k: render(v, context) for k, v in step.get("env", {}).items()}}
        result = gh.run(step["run"], env)
        results.append(result)
        if check:
            assert result.returncode == 0, result.stdout + result.stderr
        outputs = dict(line.split("=", 1) for line in (gh.directory / "github-output").read_text().splitlines()
                       if "=" in line)
        if "id" in step:
            context["steps"][step["id"]] = {"outputs": outputs, "outcome": "success"}
    return results


def step_by_id(path: Path, step_id: str) -> dict:
    (step,) = [s for s in steps(workflow(path)) if s.get("id") == step_id]
    return step


# Who is labelled automatically: the `if` on the step, evaluated against event payloads.
@pytest.mark.parametrize("event,expected", [
    (pr_event("opened"), True),
    (pr_event("reopened"), True),
    (pr_event("ready_for_review"), True),
    (pr_event("synchronize"), True),
    (pr_event("opened", head_repo="mallory/web"), False),  # a fork
    (pr_event("synchronize", head_repo="mallory/web"), False),
    (pr_event("opened", head_repo=None), False),  # the fork was deleted
    (pr_event("opened", author="dependabot[bot]", author_type="Bot"), False),
    (pr_event("opened", author="renovate[bot]", author_type="User"), False),  # a bot however its type reads
    (pr_event("opened", author="ci-app", author_type="Bot"), False),
    (pr_event("opened", draft=True), False),
    (pr_event("labeled", label="preview"), False),  # the cap step's event, not this one's
])
def test_only_same_repository_non_draft_human_pull_requests_reach_the_auto_label_step(event, expected):
    assert truthy(evaluate(step_by_id(AUTO, "auto")["if"], github_context(event))) is expected


@pytest.mark.parametrize("event,expected", [
    (pr_event("labeled", label="preview"), True), (pr_event("labeled", label="preview", head_repo="mallory/web"), True),
    (pr_event("opened"), False), (pr_event("synchronize"), False)])
def test_the_cap_step_runs_on_every_labelling_and_after_an_automatic_one(event, expected):
    assert truthy(evaluate(step_by_id(AUTO, "cap")["if"], github_context(event))) is expected
    context = github_context(pr_event("opened"))
    context["steps"]["auto"] = {"outputs": {"added": "true"}}
    assert truthy(evaluate(step_by_id(AUTO, "cap")["if"], context))


def test_preview_auto_runs_on_pull_request_events_with_a_token_for_pull_requests_only():
    document = workflow(AUTO)
    assert document["on"] == {"pull_request_target": {
        "types": ["opened", "reopened", "ready_for_review", "synchronize", "labeled"]}}
    assert document["permissions"] == {}
    (job,) = document["jobs"].values()
    assert job["permissions"] == {"pull-requests": "write"}
    for step in job["steps"]:
        assert "uses" not in step and step["shell"] == "bash"
        assert step["env"]["GH_TOKEN"] == "${{ github.token }}"


def test_preview_settings_match_the_stack_settings():
    for path in (AUTO, EXPIRY):
        assert workflow(path)["env"]["PREVIEW_LABEL"] == PreviewSettings.model_fields["label"].default
        assert "must match the stack setting minnova:previews.label" in path.read_text()
    stack_max = PreviewSettings.model_fields["max_per_app"].default
    assert stack_max == MAX_PREVIEWS and workflow(AUTO)["env"]["MINNOVA_PREVIEW_MAX"] == str(stack_max)
    assert "must match the stack setting minnova:previews.maxPerApp" in AUTO.read_text()
    assert workflow(EXPIRY)["env"]["MINNOVA_PREVIEW_TTL_DAYS"] == "7"


@needs_jq_and_gnu_date
@pytest.mark.parametrize("action", ["opened", "reopened", "ready_for_review", "synchronize"])
@pytest.mark.parametrize("permission", ["admin", "write"])
def test_a_trusted_pull_request_is_labelled(tmp_path, action, permission):
    gh = FakeGitHub(tmp_path, pulls=[pull_request(7)], permissions={"alice": permission})
    run_workflow(AUTO, gh, pr_event(action))
    assert gh.labels(7) == ["preview"]
    assert ["GET", f"repos/{REPO}/collaborators/alice/permission", {}] in gh.state["calls"]
    assert gh.comments(7) == []


@needs_jq_and_gnu_date
@pytest.mark.parametrize("permission", ["read", "none", "triage", "maintain"])
def test_authors_without_the_configured_access_are_not_labelled(tmp_path, permission):
    """GitHub reports triage as read and maintain as write; a value it never sends must not match either."""
    gh = FakeGitHub(tmp_path, pulls=[pull_request(7)], permissions={"alice": permission})
    run_workflow(AUTO, gh, pr_event("opened"))
    assert gh.labels(7) == [] and gh.writes() == []


@needs_jq_and_gnu_date
def test_the_access_needed_is_configurable(tmp_path):
    gh = FakeGitHub(tmp_path, pulls=[pull_request(7)], permissions={"alice": "write"})
    run_workflow(AUTO, gh, pr_event("opened"), settings={"MINNOVA_AUTO_PREVIEW_PERMISSIONS": "admin"})
    assert gh.labels(7) == []
    run_workflow(AUTO, gh, pr_event("opened"), settings={"MINNOVA_AUTO_PREVIEW": "false"})
    assert gh.labels(7) == []
    run_workflow(AUTO, gh, pr_event("opened"))
    assert gh.labels(7) == ["preview"]


@needs_jq_and_gnu_date
@pytest.mark.parametrize("event", [
    pr_event("opened", head_repo="mallory/web", author="mallory"), pr_event("synchronize", head_repo=None),
    pr_event("opened", author="dependabot[bot]", author_type="Bot"),
    pr_event("opened", author="renovate[bot]", author_type="User"), pr_event("opened", author="app", author_type="Bot"),
    pr_event("opened", author="org", author_type="Organization"), pr_event("opened", draft=True)])
def test_forks_bots_and_drafts_are_never_labelled(tmp_path, event):
    """The workflow skips them, and its script refuses them on its own too (run here without the `if`), before
    any call to GitHub, even for an author with admin access."""
    gh = FakeGitHub(tmp_path, pulls=[pull_request(7)],
                    permissions={"alice": "admin", "mallory": "admin", "dependabot[bot]": "admin", "app": "admin",
                                 "renovate[bot]": "admin", "org": "admin"})
    run_workflow(AUTO, gh, event)
    assert gh.labels(7) == [] and gh.state["calls"] == []
    step = step_by_id(AUTO, "auto")
    context = github_context(event)
    env = {**{k: str(v) for k, v in workflow(AUTO)["env"].items()},
           **{k: render(v, context) for k, v in step["env"].items()}}
    result = gh.run(step["run"], env)
    assert result.returncode == 0, result.stderr
    assert gh.labels(7) == [] and gh.state["calls"] == []


@needs_jq_and_gnu_date
def test_a_label_removed_by_hand_is_not_added_again_but_one_removed_by_a_workflow_is(tmp_path):
    by_hand = {"event": "unlabeled", "label": {"name": "preview"}, "actor": {"login": "bob", "type": "User"},
               "created_at": "2024-01-02T00:00:00Z"}
    by_expiry = {"event": "unlabeled", "label": {"name": "preview"},
                 "actor": {"login": "github-actions[bot]", "type": "Bot"}, "created_at": "2024-01-03T00:00:00Z"}
    labelled = {"event": "labeled", "label": {"name": "preview"}, "actor": {"login": "bob", "type": "User"},
                "created_at": "2024-01-01T00:00:00Z"}
    gh = FakeGitHub(tmp_path, pulls=[pull_request(7), pull_request(8)], permissions={"alice": "write"},
                    events={7: [labelled, by_hand], 8: [labelled, by_hand, by_expiry]})
    run_workflow(AUTO, gh, pr_event("synchronize", number=7))
    run_workflow(AUTO, gh, pr_event("synchronize", number=8))
    assert gh.labels(7) == [] and gh.labels(8) == ["preview"]


# The cap: N previews allowed, the N+1th refused, whether the label comes from this workflow or from a person.
@needs_jq_and_gnu_date
@pytest.mark.parametrize("maximum", [MAX_PREVIEWS, 2])
def test_the_cap_on_automatic_labels_at_the_boundary(tmp_path, maximum):
    settings = {"MINNOVA_PREVIEW_MAX": str(maximum)} if maximum != MAX_PREVIEWS else None
    others = [pull_request(n, labels=["preview"]) for n in range(1, maximum)]  # N-1 running
    gh = FakeGitHub(tmp_path, pulls=[*others, pull_request(7), pull_request(8), pull_request(99, labels=["bug"])],
                    permissions={"alice": "write"})
    run_workflow(AUTO, gh, pr_event("opened", number=7), settings=settings)
    assert gh.labels(7) == ["preview"] and gh.comments(7) == []  # the Nth preview
    for _ in range(2):  # the N+1th, opened then pushed to: refused, and told once
        run_workflow(AUTO, gh, pr_event("synchronize", number=8), settings=settings)
    assert gh.labels(8) == []
    (comment,) = gh.comments(8)
    assert f"At most {maximum} previews run at once for this app" in comment
    assert "Close or unlabel another pull request" in comment
    assert sum(1 for p in gh.state["pulls"] if "preview" in [label["name"] for label in p["labels"]]) == maximum


@needs_jq_and_gnu_date
@pytest.mark.parametrize("running,kept", [(MAX_PREVIEWS - 1, True), (MAX_PREVIEWS, False)])
def test_the_cap_on_labels_added_by_hand_at_the_boundary(tmp_path, running, kept):
    """A maintainer labels #7 (a fork's, reviewed) while `running` other previews run."""
    others = [pull_request(n, labels=["preview"]) for n in range(1, running + 1)]
    gh = FakeGitHub(tmp_path, pulls=[*others, pull_request(7, labels=["preview"])])
    run_workflow(AUTO, gh, pr_event("labeled", number=7, label="preview", head_repo="mallory/web", author="mallory"))
    if kept:
        assert gh.labels(7) == ["preview"] and gh.comments(7) == [] and gh.writes() == []
    else:
        assert gh.labels(7) == []
        (comment,) = gh.comments(7)
        assert f"At most {MAX_PREVIEWS} previews run at once for this app" in comment
        assert f"{running} other open pull requests carry the `preview` label" in comment
    assert all(gh.labels(n) == ["preview"] for n in range(1, running + 1))  # the older ones keep theirs


@needs_jq_and_gnu_date
def test_the_cap_counts_the_labelled_pull_request_even_before_the_listing_shows_it(tmp_path):
    others = [pull_request(n, labels=["preview"]) for n in range(1, MAX_PREVIEWS + 1)]
    gh = FakeGitHub(tmp_path, pulls=[*others, pull_request(7)])  # the listing lags: #7 shows no label yet
    run_workflow(AUTO, gh, pr_event("labeled", number=7, label="preview"))
    assert len(gh.comments(7)) == 1  # its DELETE got a 404 ("already removed"), the refusal is still explained


@needs_jq_and_gnu_date
@pytest.mark.parametrize("event", [pr_event("labeled", number=7, label="bug"),
                                   pr_event("labeled", number=7, label="preview", state="closed")])
def test_the_cap_ignores_other_labels_and_closed_pull_requests(tmp_path, event):
    others = [pull_request(n, labels=["preview"]) for n in range(1, MAX_PREVIEWS + 1)]
    gh = FakeGitHub(tmp_path, pulls=[*others, pull_request(7, labels=["preview", "bug"])])
    run_workflow(AUTO, gh, event)
    assert gh.state["calls"] == []


# Expiry.
def iso(seconds_ago: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - seconds_ago))


DAY = 86400


def labelled_event(seconds_ago: float, name="preview") -> dict:
    return {"event": "labeled", "label": {"name": name}, "actor": {"login": "bob", "type": "User"},
            "created_at": iso(seconds_ago)}


def expiry_repository(tmp_path: Path) -> FakeGitHub:
    pulls = {  # number: (labels, committed seconds ago, label events)
        1: (["preview"], 8 * DAY, [labelled_event(8 * DAY)]),  # stale
        2: (["preview"], 6 * DAY, [labelled_event(6 * DAY)]),  # fresh
        3: (["preview"], 30 * DAY, [labelled_event(30 * DAY), labelled_event(1 * DAY)]),  # old commit, labelled again
        4: (["bug"], 30 * DAY, []),  # no preview: untouched
        5: (["preview"], 7 * DAY + 3600, [labelled_event(7 * DAY + 3600, name="bug")]),  # just over 7 days
        6: (["preview"], 7 * DAY - 3600, []),  # just under 7 days
    }
    return FakeGitHub(tmp_path, pulls=[pull_request(n, labels) for n, (labels, _, _) in pulls.items()],
                      commits={f"{n:040x}": iso(ago) for n, (_, ago, _) in pulls.items()},
                      events={n: events for n, (_, _, events) in pulls.items()})


def test_preview_expiry_runs_daily_or_on_demand_with_a_read_and_label_token():
    document = workflow(EXPIRY)
    assert set(document["on"]) == {"schedule", "workflow_dispatch"}
    (schedule,) = document["on"]["schedule"]
    minute, hour, *rest = schedule["cron"].split()
    assert minute.isdigit() and hour.isdigit() and rest == ["*", "*", "*"]  # once a day
    assert document["permissions"] == {}
    (job,) = document["jobs"].values()
    assert job["permissions"] == {"contents": "read", "pull-requests": "write"}
    (step,) = job["steps"]
    assert "uses" not in step
    assert step["env"] == {"GH_TOKEN": "${{ github.token }}", "GH_REPO": "${{ github.repository }}"}
    assert 'gh api "repos/$GH_REPO/commits/$sha" --jq .commit.committer.date' in step["run"]
    assert "updated_at" not in step["run"]


@needs_jq_and_gnu_date
def test_stale_pull_requests_lose_the_label(tmp_path):
    gh = expiry_repository(tmp_path)
    run_workflow(EXPIRY, gh, {}, event_name="schedule")
    assert {n: gh.labels(n) for n in range(1, 7)} == {
        1: [], 2: ["preview"], 3: ["preview"], 4: ["bug"], 5: [], 6: ["preview"]}
    assert set(gh.state["comments"]) == {"1", "5"}
    (comment,) = gh.comments(1)
    assert "No new commit and no new `preview` label for more than 7 days (the last on " in comment
    assert iso(8 * DAY)[:10] in comment and f"{1:040x}" in comment
    assert "add the `preview` label again, or push a commit" in comment
    # Nothing was looked up for the pull request without a preview.
    assert not [call for call in gh.state["calls"] if "/issues/4/" in call[1] or f"{4:040x}" in call[1]]


@needs_jq_and_gnu_date
def test_the_time_to_live_is_configurable(tmp_path):
    gh = expiry_repository(tmp_path)
    run_workflow(EXPIRY, gh, {}, event_name="workflow_dispatch", settings={"MINNOVA_PREVIEW_TTL_DAYS": "3"})
    assert {n: gh.labels(n) for n in (1, 2, 3, 5, 6)} == {1: [], 2: [], 3: ["preview"], 5: [], 6: []}


@needs_jq_and_gnu_date
@pytest.mark.parametrize("ttl", ["0", "seven", "-1", ""])
def test_a_bad_time_to_live_is_refused_before_anything_changes(tmp_path, ttl):
    gh = expiry_repository(tmp_path)
    (result,) = run_workflow(EXPIRY, gh, {}, event_name="schedule", settings={"MINNOVA_PREVIEW_TTL_DAYS": ttl},
                             check=False)
    assert result.returncode != 0 and "MINNOVA_PREVIEW_TTL_DAYS" in result.stderr
    assert gh.state["calls"] == []


@needs_jq_and_gnu_date
def test_expiry_carries_on_past_a_pull_request_it_cannot_read_and_then_fails(tmp_path):
    gh = expiry_repository(tmp_path)
    state = gh.state
    del state["commits"][f"{1:040x}"]
    gh.path.write_text(json.dumps(state))
    (result,) = run_workflow(EXPIRY, gh, {}, event_name="schedule", check=False)
    assert result.returncode == 1 and "#1: could not read commit" in result.stderr
    assert gh.labels(1) == ["preview"] and gh.labels(5) == []


# No privileged job runs the pull request's code.
PRIVILEGED_APP_WORKFLOWS = [APPROVAL, AUTO, EXPIRY]
RUNS_A_FILE = re.compile(r"(?:^|[\s;&|(`])(?:\.{1,2}/|\.\s+\S|source\s|(?:ba|z)?sh\s+(?!-)\S|python3?\s|node\s|npm\s"
                         r"|npx\s|make\b|pip3?\s|docker\s|git\s|go\s+run|cargo\s)|GITHUB_WORKSPACE", re.M)


@pytest.mark.parametrize("script,runs", [
    ("bash ./deploy.sh", True), ("./run", True), ("source .env", True), (". ./env", True), ("python3 x.py", True),
    ("cd \"$GITHUB_WORKSPACE\"", True), ("make test", True), ("npm ci", True), ("git checkout $SHA", True),
    ('gh api "repos/$GH_REPO/pulls" --jq .x', False), ('echo "push again."', False), ("bash -c 'echo'", False)])
def test_the_workspace_file_check_itself(script, runs):
    assert bool(RUNS_A_FILE.search(script)) is runs


@pytest.mark.parametrize("path", PRIVILEGED_APP_WORKFLOWS, ids=lambda p: p.name)
def test_privileged_preview_workflows_run_no_code_but_their_own(path):
    """These hold a token that can write labels and comments (pull_request_target, schedule): no action (so no
    checkout of anything), no file of the workspace run, only gh and jq on GitHub's API."""
    document = workflow(path)
    assert set(document["on"]) <= {"pull_request_target", "schedule", "workflow_dispatch"}
    for step in steps(document):
        assert set(step) <= {"id", "name", "if", "shell", "env", "run"}, step.get("name")
        assert not RUNS_A_FILE.search(step["run"]), step.get("name")


# --- Recording approvals (minnova-preview-approve.yml): the status render-preview checks (policy/approval.py) ---------

APPROVE = PROJECT_DIR / "minnova_idp/authoring/app_ci/minnova-preview-approve.yml"
HEAD, OLD = "b" * 40, "c" * 40


def approve_event(action, sender="maria", head_repo="mallory/web", label=None, sender_type="User", sha=HEAD) -> dict:
    event = pr_event(action, head_repo=head_repo, label=label)
    event["sender"] = {"login": sender, "type": sender_type}
    event["pull_request"]["head"]["sha"] = sha
    return event


def approvals(gh: FakeGitHub) -> list[str]:
    return [s["sha"] for s in gh.state.get("statuses", []) if s["context"] == "minnova/preview-approved"
            and s["state"] == "success"]


@needs_jq_and_gnu_date
def test_a_forks_commit_is_approved_only_when_a_writer_reviewed_exactly_the_head_and_labelled_it(tmp_path):
    review = {"user": {"login": "maria"}, "state": "APPROVED", "commit_id": HEAD}
    gh = FakeGitHub(tmp_path, [pull_request(7, ["preview"], sha=HEAD, reviews=[review])],
                    permissions={"maria": "write", "tom": "read"})
    run_workflow(APPROVE, gh, approve_event("labeled", label="preview"))
    assert approvals(gh) == [HEAD]
    # The fork pushed after the review: the head is not what was reviewed, so nothing is approved.
    gh = FakeGitHub(tmp_path / "pushed", [pull_request(7, ["preview"], sha=HEAD, reviews=[{**review, "commit_id": OLD}])],
                    permissions={"maria": "write"})
    result, = run_workflow(APPROVE, gh, approve_event("labeled", label="preview"))
    assert approvals(gh) == [] and f"not the head {HEAD}" in result.stdout
    # Triage (reported as read) can label, but cannot approve; a push by the fork approves nothing.
    for event in (approve_event("labeled", sender="tom", label="preview"), approve_event("synchronize", sender="mallory")):
        gh = FakeGitHub(tmp_path / event["sender"]["login"], [pull_request(7, ["preview"], sha=HEAD, reviews=[
            {**review, "user": {"login": event["sender"]["login"]}}])], permissions={"tom": "read", "mallory": "none"})
        run_workflow(APPROVE, gh, event)
        assert approvals(gh) == []


@needs_jq_and_gnu_date
def test_a_branch_of_the_repository_is_approved_on_each_push_by_a_writer_never_a_bot(tmp_path):
    gh = FakeGitHub(tmp_path, [pull_request(7, sha=HEAD)], permissions={"alice": "admin"})
    run_workflow(APPROVE, gh, approve_event("synchronize", sender="alice", head_repo=REPO))
    assert approvals(gh) == [HEAD]
    gh = FakeGitHub(tmp_path / "bot", [pull_request(7, sha=HEAD)], permissions={"dependabot": "write"})
    run_workflow(APPROVE, gh, approve_event("synchronize", sender="dependabot", sender_type="Bot", head_repo=REPO))
    assert approvals(gh) == []


BOT_COMMIT = "d" * 40


@needs_jq_and_gnu_date
def test_a_writers_push_approves_what_they_pushed_only_while_it_is_the_head(tmp_path):
    """alice (write) pushed HEAD; before the job ran a bot pushed BOT_COMMIT: the API's head is the bot's. The old
    workflow approved BOT_COMMIT on alice's event (rv25 review, issue 25 item 4)."""
    gh = FakeGitHub(tmp_path, [pull_request(7, sha=BOT_COMMIT)], permissions={"alice": "write"})
    result, = run_workflow(APPROVE, gh, approve_event("synchronize", sender="alice", head_repo=REPO, sha=HEAD))
    assert approvals(gh) == [] and f"the head is now {BOT_COMMIT}" in result.stdout
    # Reopening (or marking ready) a bot's pull request vouches for nothing: the workflow does not even run.
    assert set(workflow(APPROVE)["on"]["pull_request_target"]["types"]) == {"opened", "synchronize", "labeled"}
    for action in ("reopened", "ready_for_review"):
        gh = FakeGitHub(tmp_path / action, [pull_request(7, sha=HEAD)], permissions={"alice": "write"})
        run_workflow(APPROVE, gh, approve_event(action, sender="alice", head_repo=REPO))
        assert approvals(gh) == []
