"""The GitHub workflows shipped for users: they parse, and reference only what exists here."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from minnova_idp.cli import build_parser
from minnova_idp.core.stack_settings import PreviewSettings
from minnova_idp.core.yamlsafe import load_yaml_file

from .conftest import PROJECT_DIR

INFRA_WORKFLOWS = sorted((PROJECT_DIR / ".github" / "workflows").glob("*.yml"))
APP_WORKFLOWS = sorted((PROJECT_DIR / "templates").rglob("*.yml"))
ALL = INFRA_WORKFLOWS + APP_WORKFLOWS
APPROVAL = PROJECT_DIR / "templates/app-repo/.github/workflows/minnova-preview-approval.yml"
RENDERER = PROJECT_DIR / ".github/workflows/renderer-image.yml"
STACKS = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in PROJECT_DIR.glob("Pulumi.*.yaml"))


def workflow(path: Path) -> dict:
    return load_yaml_file(path, str(path.relative_to(PROJECT_DIR))).data  # keys stay text: `on` is not True


def steps(document: dict):
    for job in document["jobs"].values():
        yield from job.get("steps", [])


def cli_commands() -> set[str]:
    parser = build_parser()
    (subparsers,) = [action for action in parser._actions if action.__class__.__name__ == "_SubParsersAction"]
    return set(subparsers.choices)


def test_there_are_workflows_for_the_infra_repo_and_app_repos():
    assert {p.name for p in INFRA_WORKFLOWS} == {"tests.yml", "preview.yml", "deploy.yml", "renderer-image.yml"}
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
    for job in document["jobs"].values():
        assert job["runs-on"].startswith("ubuntu-")


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_actions_are_pinned(path):
    for step in steps(workflow(path)):
        if "uses" in step:
            assert re.search(r"@(v\d+(\.\d+)*|[0-9a-f]{40})$", step["uses"]), step["uses"]


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


def test_preview_covers_every_stack_and_comments_on_the_pr():
    document = workflow(PROJECT_DIR / ".github/workflows/preview.yml")
    assert set(document["on"]) == {"pull_request"}
    job = document["jobs"]["preview"]
    assert job["strategy"]["matrix"]["stack"] == STACKS
    (pulumi,) = [s for s in job["steps"] if s.get("uses", "").startswith("pulumi/actions@")]
    assert pulumi["with"]["command"] == "preview" and pulumi["with"]["comment-on-pr"] is True
    assert document["permissions"]["id-token"] == "write"  # OIDC, not a stored Pulumi token


def test_deploy_runs_one_update_per_stack_and_can_be_triggered_by_app_repos():
    document = workflow(PROJECT_DIR / ".github/workflows/deploy.yml")
    assert document["on"]["push"] == {"branches": ["main"]}
    assert "workflow_dispatch" in document["on"]
    assert document["on"]["repository_dispatch"]["types"] == ["deploy"]
    up = document["jobs"]["up"]
    assert "matrix.stack" in up["concurrency"]["group"] and up["concurrency"]["cancel-in-progress"] is False
    (pulumi,) = [s for s in up["steps"] if s.get("uses", "").startswith("pulumi/actions@")]
    assert pulumi["with"]["command"] == "up"


def test_app_template_validates_builds_with_the_sha_and_asks_for_a_deploy():
    document = workflow(PROJECT_DIR / "templates/app-repo/.github/workflows/minnova.yml")
    runs = " ".join(step.get("run", "") for step in steps(document))
    assert "minnova-idp validate ." in runs
    (build,) = [s for s in steps(document) if s.get("uses", "").startswith("docker/build-push-action@")]
    assert "github.sha" in build["with"]["tags"] and "head.sha" in build["with"]["tags"]
    infra = workflow(PROJECT_DIR / ".github/workflows/deploy.yml")
    (event_type,) = re.findall(r"event_type=(\w+)", runs)
    assert event_type in infra["on"]["repository_dispatch"]["types"]


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


@pytest.mark.parametrize("requested,expected,code", [("", '["dev", "prod"]', 0), ("prod", '["prod"]', 0),
                                                     ("nope", "", 1)])
def test_stack_selection_script(requested, expected, code):
    result = subprocess.run([sys.executable, str(PROJECT_DIR / ".github/scripts/stacks.py"), requested],
                            capture_output=True, text=True)
    assert result.returncode == code
    if code == 0:
        assert result.stdout.strip() == f"stacks={expected}"
    else:
        assert "unknown stack" in result.stderr
