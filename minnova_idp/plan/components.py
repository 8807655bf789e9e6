"""Loading the project's `components/` (the Pulumi shell) as Pulumi itself does: from the project directory.

`pulumi up` runs `__main__.py` with the project directory on sys.path, so `import components` finds the
project's own `components/` package; nothing generic named `components` is installed into site-packages. The
offline plan loads the same package from `--project-dir` the same way, so a plan runs exactly the shell that
`pulumi up` would run.
"""

from __future__ import annotations

import hashlib
import importlib
import sys
from pathlib import Path
from types import ModuleType

from minnova_idp.model.errors import ConfigError, Problem

PACKAGE = "components"


def load_components(project_dir: Path) -> ModuleType:
    """`components.program` of the project in `project_dir`.

    A process that already imported `components` from another directory (tests plan many copies of the
    project) keeps that import when both packages hold the same files; otherwise it loads this project's.
    """
    package_dir = project_dir.resolve() / PACKAGE
    if not (package_dir / "program.py").is_file():
        raise ConfigError([Problem(str(project_dir), message=f"has no {PACKAGE}/program.py: not a Minnova IDP "
                                   "project (the directory holding Pulumi.yaml, __main__.py and components/)",
                                   hint="pass --project-dir with the infra repository's root")])
    loaded = sys.modules.get(PACKAGE)
    if loaded is not None:
        loaded_dir = Path(loaded.__path__[0]).resolve()
        if loaded_dir == package_dir or _fingerprint(loaded_dir) == _fingerprint(package_dir):
            return importlib.import_module(f"{PACKAGE}.program")
        for name in [name for name in sys.modules if name == PACKAGE or name.startswith(PACKAGE + ".")]:
            del sys.modules[name]
    root = str(package_dir.parent)
    sys.path.insert(0, root)
    try:
        return importlib.import_module(f"{PACKAGE}.program")
    finally:
        sys.path.remove(root)


def _fingerprint(package_dir: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(package_dir.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()
