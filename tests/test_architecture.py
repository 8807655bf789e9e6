"""The layers stay layers: pulumi only in the shell, pure deciding layers, no import cycles, no module too long.

The tree (docs/development.md, "Layout"): minnova_idp/model (what people write), load (I/O that returns models), policy (pure
cross-app checks), render (pure: models -> declared objects), sops, plan (the offline recorder), cli, and the
Pulumi shell in the top-level components/.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import minnova_idp

from tests.conftest import PROJECT_DIR

PACKAGE_DIR = Path(minnova_idp.__file__).parent
PULUMI_PACKAGES = ("pulumi", "pulumi_kubernetes", "pulumi_cloudflare")


PURE_LAYERS = ("minnova_idp.model", "minnova_idp.policy", "minnova_idp.render")
# Where pulumi may be imported: the shell, the program's entry point and the offline plan's recorder.
PULUMI_ALLOWED = ("components", "minnova_idp.plan.recorder", "minnova_idp.plan.pulumi_internals")
# I/O a pure layer never does: processes, sockets, HTTP, and writing files.
IO_MODULES = ("subprocess", "socket", "ssl", "http", "urllib", "shutil", "tempfile", "fcntl")
WRITING_CALLS = ("write_text", "write_bytes", "mkdir", "unlink", "rename", "replace_file", "rmtree", "chmod")
# ... and read none: files, directories and the environment are load/'s (what a decision depends on is passed in).
READING_CALLS = ("read_text", "read_bytes", "glob", "rglob", "iterdir", "exists", "is_file", "is_dir", "stat",
                 "lstat", "getenv", "import_module")
MAX_LINES = 600


def project_modules() -> dict[str, Path]:
    """Every module of minnova_idp/ and components/, by dotted name."""
    modules = {}
    for package in (PACKAGE_DIR, PROJECT_DIR / "components"):
        for path in sorted(package.rglob("*.py")):
            parts = path.relative_to(PROJECT_DIR).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def external_imports(path: Path) -> set[str]:
    """Top-level names of everything `path` imports, lazily or not (`import a.b` -> `a`)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.add(node.module.split(".")[0])
    return found


def in_layer(module: str, layers: tuple[str, ...]) -> bool:
    return any(module == layer or module.startswith(layer + ".") for layer in layers)


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
    module.write_text("def f():\n    from components.platform import Platform\n    from . import names\n")
    found = imported_modules("minnova_idp.model.m", module,
                             {"components.platform", "minnova_idp.model.names", "components"})
    assert found == {"components.platform", "minnova_idp.model.names"}


def test_pulumi_is_imported_only_by_the_shell_and_the_plan_recorder():
    offenders = {module: sorted(external_imports(path) & set(PULUMI_PACKAGES))
                 for module, path in project_modules().items() if not in_layer(module, PULUMI_ALLOWED)}
    assert {module: found for module, found in offenders.items() if found} == {}
    assert "pulumi" in external_imports(PROJECT_DIR / "components/platform.py")  # the scan sees imports at all


def test_pure_layers_do_no_io():
    """model/, policy/ and render/ decide: they start no process, open no socket, speak no HTTP, read or write no
    file and read no environment variable."""
    offenders = {}
    for module, path in project_modules().items():
        if not in_layer(module, PURE_LAYERS):
            continue
        tree = ast.parse(path.read_text())
        found = sorted(external_imports(path) & set(IO_MODULES))
        found += sorted({node.func.attr for node in ast.walk(tree) if isinstance(node, ast.Call)
                         and isinstance(node.func, ast.Attribute) and node.func.attr in WRITING_CALLS + READING_CALLS})
        found += ["os.environ" for node in ast.walk(tree)
                  if isinstance(node, ast.Attribute) and node.attr == "environ"]
        found += ["open()" for node in ast.walk(tree) if isinstance(node, ast.Call)
                  and isinstance(node.func, ast.Name) and node.func.id == "open"]
        if found:
            offenders[module] = found
    assert offenders == {}
    assert len([m for m in project_modules() if in_layer(m, PURE_LAYERS)]) > 20


def test_the_pure_layers_depend_only_on_each_other():
    """model imports no other layer; policy and render import only model, policy and render."""
    graph = import_graph()
    allowed = {"minnova_idp.model": ("minnova_idp.model",),
               "minnova_idp.policy": PURE_LAYERS, "minnova_idp.render": PURE_LAYERS}
    offenders = {}
    for module, targets in graph.items():
        for layer, may_import in allowed.items():
            if in_layer(module, (layer,)):
                bad = sorted(t for t in targets if not in_layer(t, may_import))
                if bad:
                    offenders[module] = bad
    assert offenders == {}


def test_no_module_is_too_long_without_a_reason():
    """A module over MAX_LINES lines says why at its top (a docstring line starting "Long:")."""
    long = {module: len(path.read_text().splitlines()) for module, path in project_modules().items()
            if len(path.read_text().splitlines()) > MAX_LINES}
    unexplained = {module: lines for module, lines in long.items()
                   if "\nLong: " not in (ast.get_docstring(ast.parse(project_modules()[module].read_text())) or "")}
    assert unexplained == {}


BLOCK_PULUMI = ("import sys\n"
                f"for name in {PULUMI_PACKAGES!r}: sys.modules[name] = None  # any import of them fails\n")


def test_every_module_outside_the_shell_imports_with_pulumi_blocked():
    modules = [m for m in project_modules() if not in_layer(m, PULUMI_ALLOWED) and not m.endswith("__main__")]
    code = BLOCK_PULUMI + "".join(f"import {m}\n" for m in modules) + "print('imported', len(sys.modules))\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_DIR)
    assert result.returncode == 0, result.stderr
    assert len(modules) > 40  # every module, not an empty list


def test_the_pulumi_block_can_fail():
    code = BLOCK_PULUMI + "import components.platform\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_DIR)
    assert result.returncode != 0 and "pulumi" in result.stderr


def test_nothing_named_components_is_installed():
    """Pulumi runs components/ from the project directory; the package installs minnova_idp alone."""
    import tomllib

    found = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    assert found["include"] == ["minnova_idp", "minnova_idp.*"]
    assert not (PACKAGE_DIR / "components").exists()
