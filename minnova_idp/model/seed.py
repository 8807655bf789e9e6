"""Seed SQL files (`database.seed`, `mysql.seed`) and the restore timestamps the engines share: one rule each."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, ClassVar

from pydantic import AfterValidator, Field, field_validator

from minnova_idp.model.fields import EnvironmentName, StrictModel

_SEED_FILE_RE = re.compile(r"^seed/[A-Za-z0-9][A-Za-z0-9._-]{0,99}\.sql$")


def _seed_file(value: str) -> str:
    if not _SEED_FILE_RE.fullmatch(value) or ".." in value:
        raise ValueError(f"'{value}' must be a .sql file in .minnova/seed/, written relative to .minnova/ "
                         "(e.g. seed/schema.sql)")
    return value


def _timestamp(value: str) -> str:
    """RFC 3339 with a zone: what CNPG's targetTime, mariadb-operator's targetRecoveryTime (a metav1.Time) and the
    MongoDB operator's PITR date all take."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"'{value}' is not an RFC 3339 timestamp (e.g. 2026-11-20T09:30:00Z)") from None
    if parsed.tzinfo is None:
        raise ValueError(f"'{value}' has no time zone; add Z or an offset such as +01:00")
    return value


Timestamp = Annotated[str, AfterValidator(_timestamp)]


class DatabaseSeed(StrictModel):
    """SQL files applied, in order, to a new database (PostgreSQL's `database.seed`, MySQL's `mysql.seed`)."""

    documented_as_one_value: ClassVar[bool] = True

    files: list[Annotated[str, AfterValidator(_seed_file)]] = Field(
        min_length=1, max_length=20, description="SQL files in .minnova/seed/, applied in order")
    environments: list[EnvironmentName] = Field(
        default_factory=list, description="environments seeded too when their database is created (e.g. [dev])")

    @field_validator("files")
    @classmethod
    def _distinct_names(cls, files: list[str]) -> list[str]:
        names_seen = [f.rsplit("/", 1)[-1] for f in files]
        if len(set(names_seen)) != len(names_seen):
            raise ValueError("each seed file may be listed once")
        return files
