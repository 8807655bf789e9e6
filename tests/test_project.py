"""Project files that users and CI depend on."""

import re

import yaml

from tests.conftest import PROJECT_DIR

README = (PROJECT_DIR / "README.md").read_text()


def quick_start_commands() -> list[str]:
    """The command of each block (its `# needs:` line, tests/support/doc_commands.py, is a comment)."""
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return ["\n".join(line for line in block.splitlines() if not line.startswith("#"))
            for block in re.findall(r"```sh\n(.+?)\n```", section, re.S)]


def test_quick_start_is_two_commands_and_ci_runs_the_test_one():
    install_and_plan, tests = quick_start_commands()
    assert "minnova-idp plan --stack dev" in install_and_plan
    assert "pytest" in tests
    assert tests in (PROJECT_DIR / ".ci" / "run").read_text().splitlines()


def test_pulumi_project_uses_the_readme_virtualenv():
    project = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())
    assert project["name"] == "minnova-idp" and project["runtime"]["name"] == "python"
    assert project["runtime"]["options"]["virtualenv"] == ".venv"
    assert "python3 -m venv .venv" in quick_start_commands()[0]


def only_secure_leaves(value) -> bool:
    if isinstance(value, dict):
        return set(value) == {"secure"} or all(only_secure_leaves(item) for item in value.values())
    return False


def test_example_stacks_hold_no_plaintext_secrets():
    from minnova_idp.model.stack_settings import SECRET_KEYS

    for stack in ("dev", "prod"):
        config = yaml.safe_load((PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text())["config"]
        for key in SECRET_KEYS:
            value = config.get(f"minnova:{key}")
            assert value is None or only_secure_leaves(value), key
    assert not only_secure_leaves({"oracle": {"preview": "AGE-SECRET-KEY-1PLAIN"}})


def test_every_stack_setting_is_documented():
    from minnova_idp.model.stack_settings import PLAIN_EXTRA_KEYS, SECRET_KEYS, StackSettings

    keys = [field.alias for field in StackSettings.model_fields.values()] + [*SECRET_KEYS, *PLAIN_EXTRA_KEYS]
    # docs/stack-config.md's table, or another page's (a feature's own settings, e.g. docs/storage.md).
    documented = README + "".join(path.read_text() for path in sorted((PROJECT_DIR / "docs").glob("*.md")))
    for key in keys:
        assert re.search(rf"\| `minnova:{key}[`.]", documented), f"minnova:{key} is in no settings table"
