"""Deploy only what CI built: which images a run asks for, what to check, and what to deploy given the answers.

Pure decisions; the registry client (minnova_idp/load/image_registry.py) asks the registries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable, Mapping, NamedTuple, Sequence

from minnova_idp.model import names
from minnova_idp.model.images import MODES, ImageGateError, parse_repository
from minnova_idp.model.inputs import IMAGE_TAG_HISTORY, ProgramInputs


def requested_images(inputs: ProgramInputs) -> dict[str, tuple[str, str]]:
    """component -> (repository, tag) each app environment asks to deploy (before the image gate)."""
    return {names.component_name(app.name, environment): (app.config.image.repository,
                                                          inputs.image_tag(app, environment)[0])
            for app, environment in inputs.deployed()}


def image_tag_history(inputs: ProgramInputs, previous: dict[str, list[str]]) -> dict[str, list[str]]:
    """Each app environment's deployed tags, newest first: this run's, then what the stack recorded before."""
    history = {}
    for app, environment in inputs.deployed():
        component = names.component_name(app.name, environment)
        tag, _ = inputs.image_tag(app, environment)
        before = [t for t in previous.get(component, []) if isinstance(t, str) and t != tag]
        history[component] = [tag, *before][:IMAGE_TAG_HISTORY]
    return history


@dataclass(frozen=True)
class ImageCheck:
    key: Hashable  # what the result is for: a component (<app>-<env>)
    repository: str
    tag: str


class GateOutcome(NamedTuple):
    tags_to_deploy: dict[str, str]
    notes: list[str]
    problems: list[str]


def _current(previous_tags: Mapping[str, Sequence[str]] | None, component: str) -> str | None:
    """The tag deployed last: the first entry of the stack's `imageTags` output (newest first)."""
    history = (previous_tags or {}).get(component) or []
    return next((tag for tag in history if isinstance(tag, str) and tag), None) if isinstance(history, list) else None


def checks_for(mode: str, requested: Mapping[str, tuple[str, str]],
               previous_tags: Mapping[str, Sequence[str]] | None) -> list[ImageCheck]:
    """The checks the gate needs: one per component whose requested tag is new (none in `off` mode)."""
    _check_mode(mode)
    if mode == "off":
        return []
    return [ImageCheck(component, repository, tag) for component, (repository, tag) in sorted(requested.items())
            if tag != _current(previous_tags, component)]


def gate(mode: str, requested: Mapping[str, tuple[str, str]], previous_tags: Mapping[str, Sequence[str]] | None,
         results: Mapping[Hashable, bool | ImageGateError] | None) -> GateOutcome:
    """The tag each component deploys, the notes for the run's output, and the problems that stop the run (see the
    module docstring). `requested`: component -> (repository, tag) as the stack asks for now; `previous_tags`: the
    stack's `imageTags` output; `results`: check_images(checks_for(...)). A new tag without a result is a problem:
    never a silent deploy."""
    _check_mode(mode)
    tags = {component: tag for component, (_, tag) in requested.items()}
    if mode == "off":
        return GateOutcome(tags, [], [])
    notes: list[str] = []
    problems: list[str] = []
    for component, (repository, tag) in sorted(requested.items()):
        current = _current(previous_tags, component)
        if tag == current:
            continue  # already running it
        result = (results or {}).get(component)
        image = f"{repository}:{tag}"
        if result is True:
            continue
        if isinstance(result, ImageGateError):
            problems.append(f"{component}: cannot check that {image} exists: {result.reason} "
                            f"(minnova:imageGate is {mode}; nothing is deployed unchecked)")
        elif result is None:
            problems.append(f"{component}: {image} was not checked (minnova:imageGate is {mode})")
        elif mode == "wait":
            problems.append(f"{component}: {image} is not built yet; re-run when CI pushed it "
                            "(minnova:imageGate is wait)")
        elif current is None:
            problems.append(f"{component}: {image} has no image yet and nothing was deployed before; push it (the "
                            "app's CI) or pin a tag that exists, then re-run")
        else:
            tags[component] = current
            notes.append(f"{component}: kept {current} because {image} is not in the registry yet")
    return GateOutcome(tags, notes, problems)


def offline_report(mode: str, requested: Mapping[str, tuple[str, str]],
                   previous_tags: Mapping[str, Sequence[str]] | None) -> list[str]:
    """What `pulumi up` would check, for the offline plan (which contacts no registry)."""
    _check_mode(mode)
    if mode == "off":
        return ["image gate off (minnova:imageGate): no image is checked"]
    checks = checks_for(mode, requested, previous_tags)
    lines = [f"image gate {mode} (minnova:imageGate): `pulumi up` checks {len(checks)} image"
             f"{'' if len(checks) == 1 else 's'} first (offline: not checked)"]
    for check in checks:
        registry = parse_repository(check.repository)
        current = _current(previous_tags, str(check.key))
        if mode == "wait":
            missing = "stops"
        else:
            missing = f"keeps {current}" if current else "stops (nothing deployed before)"
        lines.append(f"  {check.key}: HEAD {registry.manifest_url(check.tag)} (if missing: {missing})")
    return lines


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"image gate mode '{mode}' is not one of {', '.join(MODES)}")
