"""A registry entry (deployments/<deployment>/apps/<app>.yaml): what the platform team reviews for each app."""

from __future__ import annotations

from pydantic import Field, model_validator

from minnova_idp.model.fields import AppName, GitRef, GitUrl, HostPattern, ImageRepository, RepoSubpath, StrictModel


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

    @model_validator(mode="after")
    def _one_source(self) -> "RegistryEntry":
        if self.repo is None and self.local is None:
            raise ValueError("set `repo` (a git URL), `local` (a directory in this repository), or both")
        if self.local is not None and self.ref is not None:
            raise ValueError("`ref` applies to fetching `repo`; a `local` source is read as it is on disk")
        return self
