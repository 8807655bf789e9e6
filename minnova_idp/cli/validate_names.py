"""Names given on the command line (app, environment, process), checked before they reach kubectl or a label."""

from __future__ import annotations

import re

from minnova_idp.model.errors import ConfigError, Problem

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


def check_app_environment(app: str, environment: str, process: str | None = None) -> None:
    problems = [Problem(flag, message=f"'{value}' is not a valid name",
                        hint="lowercase letters, digits and '-', as in app.yaml")
                for flag, value in (("APP", app), ("ENV", environment), ("--process", process))
                if value is not None and not _DNS_LABEL.fullmatch(value)]
    if problems:
        raise ConfigError(problems)
