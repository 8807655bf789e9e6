"""Rolling back one app environment in one step: a platform-team image pin in the stack file.

`minnova-idp rollback APP ENV --stack S` pins the tag deployed before the current one (the stack's `imageTags`
output keeps the last few, newest first) or `--to TAG`; `--clear` removes the pin, so app.yaml decides again.
The pin is `minnova:imagePins.<app>.<env>` in Pulumi.<stack>.yaml, in a block this module owns (it rewrites
that block only, keeping every other line and comment of the file). The next `pulumi up` deploys it.
"""

from __future__ import annotations

import json
from typing import Any

from minnova_idp.model import names
from minnova_idp.model.errors import ConfigError, Problem
from minnova_idp.model.fields import validate_image_tag
from minnova_idp.model.inputs import IMAGE_TAGS_OUTPUT

KEY = "minnova:imagePins"
MARKER = "  # minnova-idp rollback: image pins win over app.yaml until cleared (minnova-idp rollback --clear)"


def rollback_target(app: str, environment: str, outputs: dict[str, Any] | None, to: str | None) -> str:
    """The tag to pin: `to`, else the one deployed before the current one."""
    if to is not None:
        try:
            return validate_image_tag(to)
        except ValueError as exc:
            raise ConfigError([Problem("--to", message=str(exc))]) from None
    component = names.component_name(app, environment)
    history = ((outputs or {}).get(IMAGE_TAGS_OUTPUT) or {}).get(component) or []
    if len(history) < 2:
        raise ConfigError([Problem(
            "--previous-outputs", message=f"no tag deployed before the current one is recorded for {component} "
            f"({IMAGE_TAGS_OUTPUT}: {history or 'none'})",
            hint="pass the stack's outputs (pulumi stack output --json > outputs.json; --previous-outputs "
                 "outputs.json) or name the tag with --to")])
    return history[1]


def with_pins(text: str, pins: dict[str, dict[str, str]]) -> str:
    """The stack file `text` with its image-pin block replaced by `pins` (removed when empty)."""
    lines = text.splitlines(keepends=True)
    kept, skipping = [], False
    for line in lines:
        if line.rstrip("\n") == MARKER:
            continue
        if line.startswith(f"  {KEY}:"):
            skipping = True
            continue
        if skipping and (line.startswith("    ") or not line.strip()):
            continue
        skipping = False
        kept.append(line)
    try:
        config_line = next(i for i, line in enumerate(kept) if line.rstrip() == "config:")
    except StopIteration:
        kept.append("config:\n")
        config_line = len(kept) - 1
    block = []
    if any(pins.values()):
        block = [MARKER + "\n", f"  {KEY}:\n"]
        for app in sorted(pins):
            if pins[app]:
                block.append(f"    {app}:\n")
                block += [f"      {env}: {json.dumps(tag)}\n" for env, tag in sorted(pins[app].items())]
    return "".join(kept[:config_line + 1] + block + kept[config_line + 1:])
