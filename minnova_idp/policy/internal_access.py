"""Who may call whom (registry `allowFrom`), checked across the registry: the platform team's review of an app-to-app
path names apps that exist. Pure: the caller passes each entry with where it was read (ADR 0016)."""

from __future__ import annotations

from typing import Callable, Sequence

from minnova_idp.model.errors import Problem
from minnova_idp.model.loaded import LoadedApp
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


def allow_from_target_problems(apps: Sequence[LoadedApp]) -> list[Problem]:
    """What an `allowFrom` item opens must exist in the callee's app.yaml: a process it names, with a `port`, and at
    least one internal service at all; otherwise the reviewed path silently opens nothing (or, once the app adds
    such a process, opens one nobody reviewed against it). Reported on the callee's app.yaml, so a mismatch keeps
    that app at its last good config and stops no other app (ADR 0012)."""
    problems = []
    for app in apps:
        entry, config, file = app.entry, app.config, app.config_file
        ports = {name for name, process in config.processes.items() if process.port is not None}
        for index, caller in enumerate(entry.allowed_callers()):
            if caller.app == entry.name:
                continue  # allow_from_problems reports it
            where = f"its registry entry's allowFrom[{index}] ({caller.app})"
            if not ports:
                problems.append(Problem(file, "processes", f"{where} may call this app's internal services, but no "
                                        "process has a `port`", hint="give the process it should call a `port`, or "
                                        "remove the item from the registry entry"))
                continue
            for position, process in enumerate(caller.processes or ()):
                if process not in config.processes:
                    problems.append(Problem(file, "processes", f"{where}.processes[{position}] names '{process}', "
                                            "which is not a process of this app", hint="internal services: "
                                            + ", ".join(sorted(ports))))
                elif process not in ports:
                    problems.append(Problem(file, f"processes.{process}", f"{where}.processes[{position}] names "
                                            f"'{process}', which has no `port` (a worker serves nothing)",
                                            hint="give it a `port`, or name an internal service: "
                                                 + ", ".join(sorted(ports))))
    return problems
