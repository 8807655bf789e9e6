"""A registry entry (deployments/<deployment>/apps/<app>.yaml): what the platform team reviews for each app."""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import Discriminator, Field, Tag, model_validator

from minnova_idp.model.app_config import ProcessName
from minnova_idp.model.fields import AppName, GitRef, GitUrl, HostPattern, ImageRepository, RepoSubpath, StrictModel


class AllowedCaller(StrictModel):
    """One app allowed to call this app's internal services (docs/internal-services.md, ADR 0016)."""

    app: AppName = Field(description="The calling app (a registered app of this deployment).")
    processes: list[ProcessName] | None = Field(
        default=None, min_length=1, max_length=10,
        description="Only these internal processes (app.yaml `processes.<name>.port`); default: every one.")

    def allows(self, process: str) -> bool:
        return self.processes is None or process in self.processes


def _caller_form(item: Any) -> str | None:
    """Which form an `allowFrom` item is written in: a bare app name or a mapping; anything else is neither."""
    return "<app name>" if isinstance(item, str) else "<mapping>" if isinstance(item, dict | AllowedCaller) else None


# One branch per written form, chosen by the item's type, so a bad item is one problem about the form it was written
# in (a plain union reports every branch, under pydantic's names for them). The tags are in angle brackets:
# load/validation.py leaves such parts out of the field path it shows.
AllowFromItem = Annotated[Union[Annotated[AppName, Tag("<app name>")], Annotated[AllowedCaller, Tag("<mapping>")]],
                          Discriminator(_caller_form, custom_error_type="allow_from_item",
                                        custom_error_message="must be an app name or a mapping "
                                                             "{app: <name>, processes: [<process>]}")]


class RegistryEntry(StrictModel):
    """`deployments/<deployment>/apps/<name>.yaml`: where an app's `.minnova/` lives."""

    name: AppName
    repo: GitUrl | None = Field(default=None, description="The app repository (https or ssh).")
    ref: GitRef | None = Field(default=None, description="Branch, tag or commit SHA; default: the default branch.")
    path: RepoSubpath | None = Field(default=None, description="Directory holding .minnova/ in a monorepo.")
    local: RepoSubpath | None = Field(
        default=None, description="Read .minnova/ from this directory of the infra repo instead of fetching "
                                  "`repo` (bundled examples; apps whose config lives here). Previews still use `repo`.")
    project_id: int | None = Field(default=None, ge=1, description="GitLab: the numeric project ID (previews).")
    hosts: list[HostPattern] | None = Field(
        default=None, min_length=1, max_length=50,
        description="Hosts the app may use, reviewed here by the platform team (`*` = one label); default: "
                    "<name>.<zone>, <name>.*.<zone> and *.<name>.<zone>.")
    images: list[ImageRepository] | None = Field(
        default=None, min_length=1, max_length=20,
        description="Image repositories the app may run (app.yaml `image.repository`), reviewed here by the platform "
                    "team; default: <minnova:imageRegistry>/<name> when the stack sets minnova:imageRegistry.")

    allow_from: list[AllowFromItem] = Field(
        default_factory=list, max_length=50,
        description="Apps whose pods may call this app's internal services (app.yaml `processes.<name>.port`), "
                    "reviewed here by the platform team: `[frontend]`, or `[{app: frontend, processes: [api]}]`. "
                    "Opens only that path, environment to same-named environment (dev to dev, prod to prod), never "
                    "from previews (docs/internal-services.md).")

    def allowed_callers(self) -> list[AllowedCaller]:
        """`allowFrom` with a bare app name read as that app allowed to every internal process."""
        return [AllowedCaller(app=item) if isinstance(item, str) else item for item in self.allow_from]

    @model_validator(mode="after")
    def _one_source(self) -> "RegistryEntry":
        if self.repo is None and self.local is None:
            raise ValueError("set `repo` (a git URL), `local` (a directory in this repository), or both")
        if self.local is not None and self.ref is not None:
            raise ValueError("`ref` applies to fetching `repo`; a `local` source is read as it is on disk")
        return self
