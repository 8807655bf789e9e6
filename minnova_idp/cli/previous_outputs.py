"""`--previous-outputs FILE` of `plan` and `rollback`: the stack's outputs from its last update, checked."""

from __future__ import annotations

import json

from minnova_idp.model.errors import ConfigError, Problem

# A 500-app stack's outputs reach about 5 MB with secrets files and full release histories (docs/isolation.md).
MAX_OUTPUTS_BYTES = 32 * 1024 * 1024
_OUTPUTS_HINT = "pulumi stack output --json > FILE"


def read_previous_outputs(file: str) -> dict:
    """`plan --previous-outputs`: a bounded regular file (never a FIFO that blocks or a device that never ends)
    holding a JSON object; the outputs the plan checks against are checked here, each error naming its key."""
    from minnova_idp.load.yamlsafe import FileRefused, read_regular_file
    from minnova_idp.model.inputs import IMAGE_TAGS_OUTPUT
    from minnova_idp.policy.guards import GUARDED, malformed_recorded

    def refused(message: str, field: str = "") -> ConfigError:
        return ConfigError([Problem(file, field, f"cannot read stack outputs: {message}", hint=_OUTPUTS_HINT)])

    try:
        content = read_regular_file(file, MAX_OUTPUTS_BYTES)
    except FileRefused as exc:
        raise refused(exc.reason) from None
    try:
        document = json.loads(content.decode("utf-8"))
    except UnicodeDecodeError:
        raise refused("not UTF-8 text") from None
    except json.JSONDecodeError as exc:  # its message quotes no content, only where
        raise refused(f"not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except (ValueError, RecursionError):  # a number too long to convert, nesting too deep
        raise refused("not JSON this command can read (a number too long, or nesting too deep)") from None
    if not isinstance(document, dict):
        raise refused("must be a JSON object of output names to values")
    problems = []
    for output in (row.output for row in GUARDED):
        value = document.get(output)
        if value is None:
            continue
        if not isinstance(value, dict):
            problems.append(Problem(file, output, "must be an object of app environments to values",
                                    hint=_OUTPUTS_HINT))
            continue
        for key, item in value.items():
            field = f"{output}.{key}" if key.isprintable() and len(key) <= 80 else f"{output}[{key[:80]!r}]"
            if not isinstance(item, str):
                problems.append(Problem(file, field, "must be a string", hint=_OUTPUTS_HINT))
            elif (why := malformed_recorded(output, item)) is not None:
                problems.append(Problem(file, field, why, hint=_OUTPUTS_HINT))
    tags = document.get(IMAGE_TAGS_OUTPUT)
    if tags is not None:  # component -> tags deployed, newest first (the image gate's and rollback's record)
        if not isinstance(tags, dict):
            problems.append(Problem(file, IMAGE_TAGS_OUTPUT, "must be an object of app environments to lists of tags",
                                    hint=_OUTPUTS_HINT))
        else:
            problems += [Problem(file, f"{IMAGE_TAGS_OUTPUT}.{component}"[:120], "must be a list of tags, newest "
                                 "first", hint=_OUTPUTS_HINT)
                         for component, item in tags.items()
                         if not (isinstance(item, list) and all(_is_image_tag(tag) for tag in item))]
    problems += _isolation_problems(file, document)
    if problems:
        raise ConfigError(problems)
    return document


def _isolation_problems(file: str, document: dict) -> list[Problem]:
    """appSources (each app's last good config, load/kept.py) and releases, as this stack writes them."""
    from minnova_idp.load.kept import malformed
    from minnova_idp.model.inputs import APP_SOURCES_OUTPUT, RELEASES_OUTPUT
    problems = []
    for output, check, what in ((APP_SOURCES_OUTPUT, malformed, "app names to records of their last good config"),
                                (RELEASES_OUTPUT, _releases_problem, "app environments to lists of releases")):
        value = document.get(output)
        if value is None:
            continue
        if not isinstance(value, dict):
            problems.append(Problem(file, output, f"must be an object of {what}", hint=_OUTPUTS_HINT))
            continue
        for key, item in value.items():
            if (why := check(item)) is not None:
                problems.append(Problem(file, f"{output}.{key}"[:120], why, hint=_OUTPUTS_HINT))
    return problems


def _releases_problem(value) -> str | None:
    from minnova_idp.policy.releases import is_release

    if isinstance(value, list) and all(is_release(release) for release in value):
        return None
    return "must be a list of releases, newest first: [time, tag, commit]"


def _is_image_tag(value) -> bool:
    from minnova_idp.model.fields import validate_image_tag

    try:
        return isinstance(value, str) and validate_image_tag(value) == value
    except ValueError:
        return False
