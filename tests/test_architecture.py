"""The two layers stay two layers: a pure core that never imports Pulumi or the shell, and no import cycles."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import minnova_idp
import minnova_idp.core

from .conftest import PROJECT_DIR

PACKAGE_DIR = Path(minnova_idp.__file__).parent
PULUMI_PACKAGES = ("pulumi", "pulumi_kubernetes", "pulumi_cloudflare")


def core_modules() -> list[str]:
    return sorted(f"minnova_idp.core.{m.name}" for m in pkgutil.iter_modules(minnova_idp.core.__path__))


def project_modules() -> dict[str, Path]:
    modules = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def imported_modules(module: str, path: Path, known: set[str]) -> set[str]:
    """Every project module `module` imports, at any depth of its code (lazy imports count too)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            # `import a.b.c` loads a, a.b and a.b.c: the deepest project module named is the dependency.
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != module:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: imported_modules(name, path, set(modules)) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_between_the_projects_modules():
    # Packages import nothing of their own (empty __init__), so a cycle is always between real modules.
    assert cycles(import_graph()) == []


def test_the_cycle_check_can_fail():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    tree = {"x.core.a": {"x.shell.b"}, "x.shell.b": {"x.core.a"}}
    assert cycles(tree) == [["x.core.a", "x.shell.b"]]


def test_the_graph_sees_lazy_and_relative_imports(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from ..shell.platform import Platform\n    from . import names\n")
    found = imported_modules("minnova_idp.core.m", module,
                             {"minnova_idp.shell.platform", "minnova_idp.core.names", "minnova_idp.shell"})
    assert found == {"minnova_idp.shell.platform", "minnova_idp.core.names"}


def test_core_never_imports_the_shell():
    graph = import_graph()
    offenders = {module: sorted(t for t in targets if t.startswith("minnova_idp.shell"))
                 for module, targets in graph.items() if module.startswith("minnova_idp.core")}
    assert {m: t for m, t in offenders.items() if t} == {}


BLOCK_PULUMI = ("import sys\n"
                f"for name in {PULUMI_PACKAGES!r}: sys.modules[name] = None  # any import of them fails\n")


@pytest.mark.parametrize("modules", [core_modules() + ["minnova_idp.cli"]], ids=["core and cli"])
def test_every_core_module_imports_with_pulumi_blocked(modules):
    code = BLOCK_PULUMI + "".join(f"import {m}\n" for m in modules) + "print('imported', len(sys.modules))\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_DIR)
    assert result.returncode == 0, result.stderr
    assert len(modules) > 20  # every module of the core, not an empty list


def test_the_pulumi_block_can_fail():
    code = BLOCK_PULUMI + "import minnova_idp.shell.platform\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_DIR)
    assert result.returncode != 0 and "pulumi" in result.stderr
