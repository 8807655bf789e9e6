"""Jobs holding credentials install exactly what requirements.lock pins, with hashes (issue 25): the lock covers
every runtime dependency within pyproject.toml's ranges, and those jobs install from it alone."""

from __future__ import annotations

import re
import tomllib

import yaml
from packaging.requirements import Requirement

from tests.conftest import PROJECT_DIR

LOCK = (PROJECT_DIR / "requirements.lock").read_text()
PINS = {name.lower().replace("_", "-"): version
        for name, version in re.findall(r"^([A-Za-z0-9_.-]+)==([^\s\\]+)", LOCK, flags=re.M)}


def test_every_pin_has_a_hash_and_nothing_names_an_index():
    blocks = re.split(r"\n(?=[A-Za-z0-9_.-]+==)", LOCK.split("\n", 6)[-1])
    pinned = [block for block in blocks if "==" in block.split("\n", 1)[0]]
    assert len(pinned) == len(PINS) > 30
    assert all("--hash=sha256:" in block for block in pinned)
    assert not re.search(r"--(extra-)?index-url|--find-links|file://", LOCK)


def test_the_lock_holds_every_runtime_dependency_within_its_range():
    project = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())["project"]
    dependencies = project["dependencies"] + project["optional-dependencies"]["platform"]  # the deploy jobs' set
    assert any(text.startswith("pulumi>=") for text in dependencies)
    for text in dependencies:
        requirement = Requirement(text)
        name = requirement.name.lower().replace("_", "-")
        assert name in PINS, f"{name}: not in requirements.lock (regenerate it, see its header)"
        assert requirement.specifier.contains(PINS[name], prereleases=True), (name, PINS[name], str(requirement))
    assert "setuptools" in PINS  # the build backend of the editable install, hashed too


def test_jobs_holding_an_id_token_install_from_the_lock_only():
    checked = 0
    for path in (PROJECT_DIR / ".github/workflows").glob("*.yml"):
        workflow = yaml.safe_load(path.read_text())
        for name, job in (workflow.get("jobs") or {}).items():
            if (job.get("permissions") or {}).get("id-token") != "write":
                continue
            installs = [step["run"] for step in job.get("steps", []) if "pip install" in step.get("run", "")]
            for run in installs:
                for line in (line for line in run.splitlines() if "pip install" in line):
                    assert "--require-hashes" in line or "--no-deps" in line, f"{path.name} {name}: {line}"
                assert "--require-hashes" in run and "-r requirements.lock" in run, f"{path.name} {name}"
            checked += len(installs)
    assert checked >= 2  # deploy and pulumi-preview
