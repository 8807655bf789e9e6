"""Who may call whom (registry `allowFrom`), checked across the registry: the platform team's review of an app-to-app
path names apps that exist. Pure: the caller passes each entry with where it was read (ADR 0016)."""

from __future__ import annotations

from typing import Callable, Sequence

from minnova_idp.model.errors import Problem
from minnova_idp.model.registry import RegistryEntry

LineOf = Callable[[tuple], "int | None"]


def allow_from_problems(entries: Sequence[tuple[RegistryEntry, str, LineOf]],
                        registered: set[str] | None = None) -> list[Problem]:
    """Every `allowFrom` item must name another registered app, once: a typo must not silently open nothing (or,
    once an app of that name is registered, open a path nobody reviewed for it). `registered`: every entry's name,
    its file valid or not (default: the entries given)."""
    registered = registered if registered is not None else {entry.name for entry, _, _ in entries}
    problems = []
    for entry, file, line_of in entries:
        seen: set[str] = set()
        for index, caller in enumerate(entry.allowed_callers()):
            where = ("allowFrom", index) if isinstance(entry.allow_from[index], str) else ("allowFrom", index, "app")
            field = "allowFrom[%d]" % index + ("" if isinstance(entry.allow_from[index], str) else ".app")
            if caller.app == entry.name:
                problems.append(Problem(file, field, f"'{caller.app}' is this app: its own pods reach its internal "
                                        "services already", line=line_of(where), hint="remove it"))
            elif caller.app not in registered:
                problems.append(Problem(file, field, f"'{caller.app}' is not a registered app of this deployment",
                                        line=line_of(where),
                                        hint=f"register it (deployments/<deployment>/apps/{caller.app}.yaml) or fix "
                                             "the name; known: " + (", ".join(sorted(registered - {entry.name}))
                                                                    or "none")))
            elif caller.app in seen:
                problems.append(Problem(file, field, f"'{caller.app}' is listed twice", line=line_of(where),
                                        hint="list each caller once (with `processes` to narrow it)"))
            seen.add(caller.app)
    return problems
