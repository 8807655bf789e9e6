"""The app registry: one `<name>.yaml` per app under the stack's registry directory, written by the platform team."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from minnova_idp.load.validation import validate_document
from minnova_idp.load.yamlsafe import FileRefused, load_yaml, read_regular_file
from minnova_idp.model.errors import ConfigError, Problem
from minnova_idp.model.registry import RegistryEntry
from minnova_idp.policy.internal_access import allow_from_problems


@dataclass(frozen=True)
class Registered:
    entry: RegistryEntry
    file: str  # as shown to the user, relative to the project


def read_registry(project_dir: Path, registry_dir: str) -> tuple[list[Registered], list[Problem]]:
    """Every valid entry, and every problem; the caller decides to stop (it must, if any).

    Entries are read as regular files only, never through a symlink (it could point outside the
    repository, at /dev/zero or at a FIFO that would block the run forever), and with a size bound.
    """
    directory = project_dir / registry_dir
    if not directory.is_dir():
        return [], [Problem(registry_dir, message="registry directory not found",
                            hint="create it, or set minnova:registryPath")]
    entries: list[Registered] = []
    problems: list[Problem] = []
    line_ofs = []
    for path in sorted(directory.iterdir()):
        shown = f"{registry_dir}/{path.name}"
        if path.suffix == ".yml":
            problems.append(Problem(shown, message="registry files must end in .yaml", hint=f"rename to {path.stem}.yaml"))
            continue
        if path.suffix != ".yaml" or path.name.startswith("."):
            continue
        try:
            content = read_regular_file(path, follow_symlinks=False)
        except FileRefused as exc:
            problems.append(Problem(shown, message=exc.reason, hint=_LINK_HINT if exc.kind == "symlink" else None))
            continue
        try:
            loaded = load_yaml(content, shown)
            entry = validate_document(RegistryEntry, loaded)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        if entry.name != path.stem:
            problems.append(Problem(shown, "name", f"'{entry.name}' does not match the file name",
                                    hint=f"rename the file to {entry.name}.yaml or set name: {path.stem}"))
            continue
        entries.append(Registered(entry, shown))
        line_ofs.append(loaded.line_of)
    # Across entries: who may call whom names registered apps (ADR 0016); an entry whose own file fails above is
    # reported there, not again as unknown here.
    problems += allow_from_problems([(item.entry, item.file, line_of) for item, line_of in zip(entries, line_ofs)],
                                    {path.stem for path in directory.iterdir() if path.suffix == ".yaml"})
    return entries, problems


_LINK_HINT = "commit the entry itself: a link could point outside the repository"
