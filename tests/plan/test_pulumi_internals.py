"""The private Pulumi names the offline plan uses exist, and the installed SDKs are the versions they were read in."""

from __future__ import annotations

import re
import tomllib

from minnova_idp.plan import pulumi_internals
from tests.conftest import PROJECT_DIR


def test_the_installed_pulumi_sdks_are_the_checked_versions():
    # Fails loudly after an upgrade: read every use in pulumi_internals.py in the new version's source first.
    assert pulumi_internals.version_problems() == []


def test_the_version_check_can_fail(monkeypatch):
    monkeypatch.setattr(pulumi_internals, "CHECKED_VERSIONS", {"pulumi": "2.0"})
    (problem,) = pulumi_internals.version_problems()
    assert "pulumi" in problem and "2.0.x" in problem


def test_pyproject_caps_each_sdk_below_the_next_minor_of_the_checked_version():
    dependencies = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())["project"]["optional-dependencies"][
        "platform"]  # the Pulumi SDKs are the platform extra (issue 24 item 7)
    for distribution, checked in pulumi_internals.CHECKED_VERSIONS.items():
        (spec,) = [d for d in dependencies if re.match(rf"{distribution}[<>=]", d)]
        major, minor = checked.split(".")
        assert f"<{major}.{int(minor) + 1}" in spec, spec


def test_every_private_name_used_is_there():
    from pulumi.runtime import config as runtime_config
    from pulumi.runtime import resource as runtime_resource
    from pulumi.runtime import rpc

    assert callable(runtime_resource._get_stack_trace)
    assert hasattr(runtime_config, "_SECRET_KEYS")
    assert pulumi_internals.mock_monitor_class().__name__ == "MockMonitor"
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", pulumi_internals.kubernetes_sdk_version())
    # The wire markers the plan's decoder reads are the SDK's own.
    assert (rpc._special_sig_key, rpc._special_secret_sig) == (pulumi_internals.SECRET_SIG_KEY,
                                                               pulumi_internals.SECRET_SIG)
    assert rpc.UNKNOWN == pulumi_internals.UNKNOWN


def test_private_pulumi_names_are_read_only_in_pulumi_internals():
    # Elsewhere (components/, minnova_idp/) a private SDK name would escape the version check above.
    pattern = re.compile(r"(pulumi\w*\.)(runtime\.)?\w*\._[a-z]|from pulumi\w*(\.\w+)* import _|\b_utilities\b")
    for path in [*(PROJECT_DIR / "minnova_idp").rglob("*.py"), *(PROJECT_DIR / "components").rglob("*.py")]:
        if path.stem in ("pulumi_internals",):
            continue
        assert not pattern.search(path.read_text()), path
    assert pattern.search((PROJECT_DIR / "minnova_idp/plan/pulumi_internals.py").read_text())
