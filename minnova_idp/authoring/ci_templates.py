"""The app repositories' CI workflows, shipped in the package (app_ci/*.yml) so an app developer who installed only
`minnova-idp` has them: `minnova-idp ci-template` prints one or writes them into the app repository."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from minnova_idp.model.errors import ConfigError, Problem

MAIN = "minnova.yml"  # validate, build and push the image, ask the infra repository to deploy
PREVIEWS = ("minnova-preview-auto.yml", "minnova-preview-expiry.yml", "minnova-preview-approval.yml",
            "minnova-preview-approve.yml")


def template_names() -> list[str]:
    return [MAIN, *PREVIEWS]


def template_text(name: str) -> str:
    if name not in template_names():
        raise ConfigError([Problem("NAME", message=f"there is no template '{name}'",
                                   hint=f"one of: {', '.join(template_names())}")])
    return resources.files("minnova_idp.authoring").joinpath("app_ci", name).read_text()


def write_templates(directory: Path, previews: bool, force: bool) -> list[Path]:
    """Writes minnova.yml (and the preview workflows) into `directory`, creating it. Checks every target before
    writing any, so a refusal leaves nothing half-written; never writes through a symlink."""
    names = [MAIN, *(PREVIEWS if previews else ())]
    for part in (directory, *directory.parents):
        if part.is_symlink():
            raise ConfigError([Problem("--out", message=f"{part} is a symlink; not written through it")])
    if directory.exists() and not directory.is_dir():
        raise ConfigError([Problem("--out", message=f"{directory} exists and is not a directory")])
    targets = [directory / name for name in names]
    existing = [str(target) for target in targets if (target.exists() or target.is_symlink())]
    if existing and not force:
        raise ConfigError([Problem(path, message="already exists", hint="pass --force to overwrite it")
                           for path in existing])
    texts = {target: template_text(target.name) for target in targets}
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for target, text in texts.items():
            temporary = target.with_name(f".{target.name}.tmp")
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
            with os.fdopen(fd, "w") as file:
                file.write(text)
            os.replace(temporary, target)  # a symlink in its place is replaced, never followed
    except OSError as exc:
        raise ConfigError([Problem(str(directory), message=f"cannot write: {exc.strerror}")]) from None
    return targets
