from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parent.parent
STARTS_PROCESSES_ENV = "MINNOVA_UNIT_MAY_START_PROCESSES"  # set it to debug a test with a subprocess

DESIGN_DOC_APP_YAML = """\
name: oracle
image: {repository: registry.minnova.io/oracle}
port: 4000
database: {enabled: true, size: 5Gi}
environments:
  dev:  {replicas: 1, host: oracle.dev.minnova.io}
  prod: {replicas: 3, host: oracle.minnova.io}
env: {LOG_LEVEL: info}
"""


def git(cwd: Path, *args: str) -> str:
    """Real git, isolated from the user's config."""
    result = subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "init.defaultBranch=main",
         "-c", "commit.gpgsign=false", *args],
        cwd=cwd, check=True, capture_output=True, text=True,
        env={"PATH": "/usr/bin:/bin:/usr/local/bin", "HOME": str(cwd), "GIT_CONFIG_NOSYSTEM": "1"},
    )
    return result.stdout.strip()


def make_app_repo(path: Path, files: dict[str, str]) -> str:
    """Creates a git repository holding `files`; returns the commit SHA."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    for name, content in files.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "app config")
    return git(path, "rev-parse", "HEAD")


@pytest.fixture(autouse=True)
def offline_registry(monkeypatch):
    """`pulumi up` asks image registries whether new tags exist (the image gate); tests reach no registry: here every
    image exists. tests/load/test_image_registry.py checks the gate itself, against a real registry on 127.0.0.1."""
    from components import program

    monkeypatch.setattr(program, "registry_check", lambda checks, credentials: {check.key: True for check in checks})


@pytest.fixture
def forge():
    """A git provider's commit-status API on 127.0.0.1 (GitHub's shape): where render-preview reads approvals."""
    from tests.support.forge_api import serve

    found, server = serve("github")
    yield found
    server.shutdown()
    server.server_close()


@pytest.fixture
def project_dir() -> Path:
    return PROJECT_DIR


_EXAMPLE_PLANS: dict = {}


def example_plan(stack: str):
    """The offline plan of an example stack as this checkout has it, computed once per run (read-only: shared by
    the tests of this run; a test that changes the project or the run's arguments runs its own plan)."""
    from minnova_idp.plan.recorder import run_plan

    if stack not in _EXAMPLE_PLANS:
        _EXAMPLE_PLANS[stack] = run_plan(PROJECT_DIR, stack)
    return _EXAMPLE_PLANS[stack]


@pytest.fixture(scope="session")
def dev_plan():
    """The offline plan of the example dev stack (read-only: shared by the tests of this run)."""
    return example_plan("dev")


def project_copy(tmp_path: Path) -> Path:
    """A copy of this project to break or change in a test."""
    import shutil

    project = tmp_path / "project"
    shutil.copytree(PROJECT_DIR, project, ignore=shutil.ignore_patterns(".venv", ".git", "__pycache__", "plan-*"))
    return project


def project_without_a_database(tmp_path: Path) -> Path:
    """A project copy whose example app `oracle` has no database (nor prod's database settings)."""
    project = project_copy(tmp_path)
    app_yaml = project / "examples/oracle/.minnova/app.yaml"
    app_yaml.write_text(app_yaml.read_text().replace("database: {enabled: true, size: 5Gi}", "database: {enabled: false}")
                        .replace("    database: {instances: 3}   # high availability: a primary and two standbys\n", ""))
    # ledger's MySQL is backed up to R2 too (render/mysql_data.py): off, with what only a MySQL may set
    ledger = project / "examples/ledger/.minnova/app.yaml"
    if ledger.exists():
        text = ledger.read_text().replace("mysql:\n  enabled: true", "mysql:\n  enabled: false")
        ledger.write_text("\n".join(line for line in text.split("\n")
                                    if not line.lstrip().startswith(("mysql: {instances", "seed: {files: [seed/mysql"))))
    return project


def load_stack_inputs(project: Path, stack: str = "dev", extra: dict | None = None, secret: set | None = None,
                      **kwargs):
    """load_inputs of a stack file, with settings added or replaced (full keys) and extra secret keys."""
    from minnova_idp.load.inputs import load_inputs
    from minnova_idp.load.stack import from_stack_file

    raw, secret_keys, file = from_stack_file(project, stack)
    raw.update(extra or {})
    return load_inputs(project, raw, secret_keys | (secret or set()), file, **kwargs)


def stack_problems(project: Path, stack: str = "dev", **kwargs) -> list[str]:
    """The problems load_stack_inputs stops with (it must stop)."""
    from minnova_idp.model.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        load_stack_inputs(project, stack, **kwargs)
    return [str(p) for p in caught.value.problems]


def stop_process(process, timeout: float) -> None:
    """Stops a server a test started: SIGTERM, then SIGKILL if it has not exited within `timeout` seconds."""
    import subprocess

    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def app_config_problems(extra: str) -> list[str]:
    """The problems a minimal app.yaml with `extra` lines appended is refused with (it must be refused)."""
    from minnova_idp.load.validation import validate_document
    from minnova_idp.load.yamlsafe import load_yaml
    from minnova_idp.model.app_config import AppConfig
    from minnova_idp.model.errors import ConfigError

    text = ("name: shop\nimage: {repository: ghcr.io/acme/shop}\nport: 8080\n"
            "environments: {dev: {host: shop.dev.acme.dev}}\n") + extra
    with pytest.raises(ConfigError) as caught:
        validate_document(AppConfig, load_yaml(text, "app.yaml"))
    return [str(p) for p in caught.value.problems]


def resource_named(plan, name: str):
    (found,) = [r for r in plan.resources if r.name == name]
    return found


# ---- markers, the order of the run, and which tests used the shared inputs ------------------------------------------------

FRESH_CLONE_TEST = "tests/test_fresh_clone.py"
SELECT_ENV = "MINNOVA_FRESH_CLONE_SELECT"  # a JSON list of node ids: the nested fresh-clone run runs only those


# What makes a test an `integration` test: it starts a server or a tool (an OCI registry, git, PostgreSQL, Valkey,
# Helm's Go SDK, the CLI or pytest as a subprocess) or runs a whole stack's program (a plan). Found by the fixtures
# a test uses and by what its code calls, directly or through its module's helpers.
INTEGRATION_FIXTURES = {"registry", "basic_auth_registry", "token_registry", "git_daemon", "repos", "app_repo",
                        "database_url", "argo_cd_chart", "dev_plan", "written_plan", "prod_manifests", "copying_plan",
                        "platform_resources", "checkout", "forge"}
INTEGRATION_CALLS = {"subprocess", "cli", "run_cli", "git", "make_app_repo", "make_repo",
                     "render_chart", "go_template", "go_yaml", "run_plan", "example_plan", "psql", "valkey_server"}
_TOOL_FUNCTIONS: dict[str, set[str]] = {}  # test module file -> its functions that start tools


def _calls(node) -> set[str]:
    import ast

    found = set()
    for call in ast.walk(node):
        if isinstance(call, ast.Call):
            func = call.func
            if isinstance(func, ast.Name):
                found.add(func.id)
            elif isinstance(func, ast.Attribute):
                found.add(func.attr)
                if isinstance(func.value, ast.Name):
                    found.add(func.value.id)
    return found


def _tool_functions(path: str) -> set[str]:
    """The module's functions (fixtures included) that start a tool, directly or through each other."""
    import ast

    if path not in _TOOL_FUNCTIONS:
        tree = ast.parse(Path(path).read_text())
        calls = {node.name: _calls(node) for node in ast.walk(tree)
                 if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
        tools = set(INTEGRATION_CALLS)
        while True:
            more = {name for name, called in calls.items() if called & tools} - tools
            if not more:
                break
            tools |= more
        _TOOL_FUNCTIONS[path] = tools
    return _TOOL_FUNCTIONS[path]


def _starts_a_tool(item) -> bool:
    """Whether a test starts a server or a tool, or runs a whole program (see INTEGRATION_FIXTURES)."""
    import ast
    import inspect
    import textwrap

    fixtures = set(getattr(item, "fixturenames", ()))
    tools = _tool_functions(str(item.path)) | _tool_functions(__file__)
    if fixtures & (INTEGRATION_FIXTURES | tools):
        return True
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(item.function)))
    except (AttributeError, TypeError, OSError, SyntaxError):
        return False
    return bool(_calls(tree) & tools)


def pytest_collection_modifyitems(config, items):
    """Tests that start a server or a tool are `integration` tests (by a mark, their fixtures or their calls), the
    others `unit` tests; the fresh-clone check runs last (it reruns the tests of this session that used the
    shared inputs); a nested fresh-clone run keeps only the tests it was given."""
    import json
    import os

    for item in items:
        if item.get_closest_marker("integration") is None and _starts_a_tool(item):
            item.add_marker(pytest.mark.integration)
        if item.get_closest_marker("integration") is None:
            item.add_marker(pytest.mark.unit)
    selected = os.environ.get(SELECT_ENV)
    if selected:
        wanted = set(json.loads(Path(selected).read_text()))
        config.hook.pytest_deselected(items=[item for item in items if item.nodeid not in wanted])
        items[:] = [item for item in items if item.nodeid in wanted]
    items.sort(key=lambda item: item.nodeid.startswith(FRESH_CLONE_TEST))  # stable: the rest keep their order


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    from tests.support import shared

    shared.CURRENT[:] = [item.nodeid]
    # A module- or session-scoped fixture reads the shared inputs once, for the first test that asks for it; every
    # later test using it depends on them as much.
    shared.inherit(item.nodeid, getattr(item, "fixturenames", ()))


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef, request):
    """Which fixtures are being set up, so an access to the shared inputs is charged to those of a higher scope."""
    from tests.support import shared

    shared.FIXTURES.append((fixturedef.argname, fixturedef.scope))
    try:
        yield
    finally:
        shared.FIXTURES.pop()


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item):
    from tests.support import shared

    shared.CURRENT.clear()


def pytest_runtest_logreport(report):
    from tests.support import shared

    shared.DURATIONS[report.nodeid] = shared.DURATIONS.get(report.nodeid, 0.0) + report.duration


@pytest.fixture(autouse=True)
def _unit_tests_start_no_process(request, monkeypatch):
    """A `unit` test that starts a process is mislabelled: it fails, saying so (the marker stays true)."""
    if request.node.get_closest_marker("integration") is not None or os.environ.get(STARTS_PROCESSES_ENV):
        return

    def refused(self, args, *rest, **kwargs):
        raise AssertionError(f"a unit test started a process ({args!r:.200}): mark it `integration`, or add what it "
                             "calls to INTEGRATION_CALLS in tests/conftest.py")

    monkeypatch.setattr(subprocess.Popen, "_execute_child", refused)
