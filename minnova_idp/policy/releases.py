"""What a run records about its apps besides resources: the release history (`releases` output, `minnova-idp
releases`) and the apps kept at their last good config or left out (`degradedApps` output, ADR 0004)."""

from __future__ import annotations

from typing import Any, Mapping

from minnova_idp.model import names
from minnova_idp.model.inputs import RELEASE_HISTORY, ProgramInputs

Release = list  # [time (UTC, ISO 8601, or None when it predates this record), tag, commit (None: a local source)]
MAX_PROBLEMS_RECORDED = 10


def is_release(value: Any) -> bool:
    """A release as this stack writes it (`plan --previous-outputs` checks each)."""
    return (isinstance(value, list) and len(value) == 3 and all(item is None or isinstance(item, str) for item in value)
            and isinstance(value[1], str) and len(value[1]) <= 128
            and (value[0] is None or len(value[0]) <= 32) and (value[2] is None or len(value[2]) <= 64))


def release_history(inputs: ProgramInputs, previous: Mapping[str, Any], previous_tags: Mapping[str, Any],
                    now: str) -> dict[str, list[Release]]:
    """Each app environment's releases, newest first, at most RELEASE_HISTORY: this run's when its tag or commit
    differs from the newest recorded (a new release at `now`), then what the stack recorded. A stack that recorded
    only imageTags (before this output existed) starts from those tags, their times unknown."""
    history = {}
    for app, environment in inputs.deployed():
        component = names.component_name(app.name, environment)
        before = [release for release in previous.get(component) or [] if is_release(release)]
        if not before:
            tags = previous_tags.get(component) or []
            before = [[None, tag, None] for tag in tags if isinstance(tag, str)] if isinstance(tags, list) else []
        tag, _ = inputs.image_tag(app, environment)
        newest = before[0] if before else None
        if newest is None or newest[1] != tag or (newest[2] is not None and newest[2] != app.commit):
            before = [[now, tag, app.commit], *before]
        history[component] = before[:RELEASE_HISTORY]
    return history


def degraded_output(inputs: ProgramInputs) -> dict[str, dict[str, Any]]:
    """app -> what it keeps running and why (its first problems), for each app whose own inputs failed this run."""
    return {name: {"keeps": degraded.keeps, "commit": degraded.kept.commit if degraded.kept else None,
                   "problems": [str(problem)[:500] for problem in degraded.problems[:MAX_PROBLEMS_RECORDED]]}
            for name, degraded in sorted(inputs.degraded.items())}
