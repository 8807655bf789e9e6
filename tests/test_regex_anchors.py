"""Python's `$` also matches before a final newline, so `PAT.match("PORT\\n")` with `^...$` accepts a name Kubernetes
refuses (apimachinery's Go regexps: `$` is the end of the text). Every `^...$` pattern checking input is used with
`fullmatch` (rv24v: a secret named `PORT\\n` passed every check)."""

from __future__ import annotations

import ast
import re

import pytest

from tests.conftest import PROJECT_DIR


def _anchored_patterns(tree: ast.Module) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) \
                and isinstance(node.value.func, ast.Attribute) and node.value.func.attr == "compile":
            pattern = node.value.args[0] if node.value.args else None
            if isinstance(pattern, ast.Constant) and str(pattern.value).endswith("$"):
                found |= {target.id for target in node.targets if isinstance(target, ast.Name)}
            if isinstance(pattern, ast.JoinedStr):  # an f-string pattern: its last piece
                last = pattern.values[-1]
                if isinstance(last, ast.Constant) and str(last.value).endswith("$"):
                    found |= {target.id for target in node.targets if isinstance(target, ast.Name)}
    return found


def test_no_dollar_anchored_pattern_is_used_with_match():
    sources = sorted((PROJECT_DIR / "minnova_idp").rglob("*.py"))
    anchored = set()
    trees = {path: ast.parse(path.read_text()) for path in sources}
    for tree in trees.values():
        anchored |= _anchored_patterns(tree)
    assert {"APP_NAME_RE", "_ENV_VAR_RE", "_NAME_RE"} <= anchored  # the scan sees them
    offenders = []
    for path, tree in trees.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in (
                    "match", "search"):
                target = node.func.value
                name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", None)
                if name in anchored:
                    offenders.append(f"{path.relative_to(PROJECT_DIR)}:{node.lineno}: {name}.{node.func.attr}")
                if name == "re" and node.args and isinstance(node.args[0], ast.Constant) \
                        and str(node.args[0].value).endswith("$"):
                    offenders.append(f"{path.relative_to(PROJECT_DIR)}:{node.lineno}: re.{node.func.attr}")
    assert not offenders, offenders


def test_a_trailing_newline_is_refused():
    from minnova_idp.load.secret_overlays import _parse_name
    from minnova_idp.model import names
    from minnova_idp.model.fields import _env_var_name

    assert names.check_app_name("oracle\n") and names.check_environment_name("dev\n")
    assert _parse_name("PORT\n.enc.yaml") == (None, ".enc.yaml")
    with pytest.raises(ValueError):
        _env_var_name("API_TOKEN\n")
