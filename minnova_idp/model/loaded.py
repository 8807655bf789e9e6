"""A registered app with its config, as loading returns it: the entry, the app.yaml model and where it came from."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from minnova_idp.model import names
from minnova_idp.model.app_config import AppConfig
from minnova_idp.model.registry import RegistryEntry


@dataclass(frozen=True)
class LoadedApp:
    entry: RegistryEntry
    config: AppConfig
    commit: str | None  # None for local sources
    config_file: str  # where the config came from, as shown to the user
    directory: Path | None = None  # holds .minnova/ (a snapshot of the commit, or the local source)

    @property
    def name(self) -> str:
        return self.config.name

    def shown(self, relative: object) -> str:
        """A file of the app's source, as shown to the user (like config_file)."""
        return self.config_file.removesuffix(str(names.APP_CONFIG)) + str(relative)

    def image_tag(self, environment: str) -> str | None:
        env = self.config.environments[environment]
        return env.image_tag or self.config.image.tag or self.commit
