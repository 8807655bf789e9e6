"""An environment's other hosts (`environments.<env>.aliases`): where each is named, and the rule that every host
of an app is named once. The canonical `host` keeps its own rule (app_config.AppConfig._hosts_are_distinct)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# app_config.Environment (which imports this module): anything with `host` and `aliases` (each with `host`).
Environment = Any


def host_field(environment: str, index: int | None) -> str:
    """The app.yaml field naming a host: `environments.<env>.host` (index None) or an alias's."""
    return f"environments.{environment}.host" if index is None else f"environments.{environment}.aliases[{index}].host"


def host_locations(environment: str, settings: Environment) -> list[tuple[str, str]]:
    """(host, field) of every host of one environment, the canonical host first."""
    return [(settings.host, host_field(environment, None)),
            *((alias.host, host_field(environment, index)) for index, alias in enumerate(settings.aliases))]


def alias_problems(environments: Mapping[str, Environment]) -> list[tuple[tuple[str | int, ...], str]]:
    """An alias naming a host the app already names (its own environment's or another's, host or alias): one
    host is one environment's, and a redirect to itself would loop."""
    seen: dict[str, str] = {}
    for name, settings in environments.items():
        seen.setdefault(settings.host, f"environments.{name}.host")
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for name, settings in environments.items():
        for index, alias in enumerate(settings.aliases):
            where = ("environments", name, "aliases", index, "host")
            if alias.host in seen:
                problems.append((where, f"'{alias.host}' is already named by {seen[alias.host]}; an app names each "
                                        "host once"))
            else:
                seen[alias.host] = host_field(name, index)
    return problems
