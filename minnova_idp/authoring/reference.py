"""Generated documentation: the app.yaml reference (docs/app-yaml.md) and the committed JSON Schema.

Both come from the models (field order, defaults and descriptions), so they cannot drift from
what is validated. Regenerate after changing app_config.py:

    .venv/bin/python -m minnova_idp.authoring.reference          # rewrites docs/app-yaml.md and schema/app.schema.json
    .venv/bin/python -m minnova_idp.authoring.reference --check  # exit 1 if either is stale (tests do this)
"""

from __future__ import annotations

import json
import sys
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from minnova_idp.model.app_config import AppConfig

BEGIN = "<!-- app.yaml reference: generated from minnova_idp/model/app_config.py; regenerate, do not edit -->"
END = "<!-- end of app.yaml reference -->"
SCHEMA_FILE = Path("schema/app.schema.json")
REFERENCE_FILE = Path("docs/app-yaml.md")


def app_schema() -> dict[str, Any]:
    schema = AppConfig.model_json_schema(by_alias=True)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def schema_text() -> str:
    return json.dumps(app_schema(), indent=2, sort_keys=True) + "\n"


def app_yaml_table() -> str:
    rows = ["| key | default | meaning |", "|---|---|---|"]
    rows += [f"| `{key}` | {default} | {meaning} |" for key, default, meaning in _rows(AppConfig, "", False)]
    return "\n".join(rows)


def _rows(model: type[BaseModel], prefix: str, parent_optional: bool) -> list[tuple[str, str, str]]:
    rows = []
    for name, info in model.model_fields.items():
        key = prefix + (info.alias or name)
        nested, mapping = _nested_model(info.annotation)
        optional = parent_optional or not info.is_required()
        if mapping and nested is not None:
            rows.append((f"{key}.<{_key_name(key)}>", _default(info, parent_optional), info.description or ""))
            if not getattr(nested, "documented_as_one_value", False):
                rows += _rows(nested, f"{key}.<{_key_name(key)}>.", optional)
        elif nested is not None and not getattr(nested, "documented_as_one_value", False):
            if info.description:
                rows.append((key, _default(info, parent_optional), info.description))
            rows += _rows(nested, f"{key}.", optional)
        else:
            rows.append((key, _default(info, parent_optional), info.description or ""))
    return rows


def _key_name(key: str) -> str:
    return {"environments": "env"}.get(key.rsplit(".", 1)[-1], "name")


def _nested_model(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """(the model a field holds, directly or as a mapping's values; whether it is a mapping)."""
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate, False
        if typing.get_origin(candidate) is dict:
            value = typing.get_args(candidate)[1]
            if isinstance(value, type) and issubclass(value, BaseModel):
                return value, True
    return None, False


def _default(info: FieldInfo, parent_optional: bool) -> str:
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    if "x-default" in extra:
        return str(extra["x-default"])
    if info.is_required():
        if any(getattr(m, "min_length", None) for m in info.metadata):
            return "at least one"
        return "none" if parent_optional else "required"
    value = info.get_default(call_default_factory=True)
    if value is None:
        return "none"
    if isinstance(value, BaseModel):
        if hasattr(value, "as_kubernetes"):  # resources: the shape Kubernetes users know
            return ", ".join(f"{section} `{_flow(values)}`" for section, values in value.as_kubernetes().items())
        return f"`{_flow(value.model_dump(by_alias=True, exclude_none=True))}`"
    return f"`{_flow(value)}`"


def _flow(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()) if value else "{}"
    return str(value)


def reference_with_table(page: str) -> str:
    before, found, rest = page.partition(BEGIN)
    if not found or END not in rest:
        raise ValueError(f"{REFERENCE_FILE} has no generated app.yaml reference (markers {BEGIN!r} ... {END!r})")
    return f"{before}{BEGIN}\n{app_yaml_table()}\n{END}{rest.split(END, 1)[1]}"


def stale_files(project_dir: Path) -> dict[Path, str]:
    """Each generated file whose content is not what the models give, with the content it should have."""
    wanted = {project_dir / REFERENCE_FILE: reference_with_table((project_dir / REFERENCE_FILE).read_text()),
              project_dir / SCHEMA_FILE: schema_text()}
    return {path: text for path, text in wanted.items() if not path.exists() or path.read_text() != text}


def main(argv: list[str]) -> int:
    project_dir = Path(__file__).resolve().parents[2]
    stale = stale_files(project_dir)
    if "--check" in argv:
        for path in stale:
            print(f"{path.relative_to(project_dir)} is stale: run python -m minnova_idp.authoring.reference")
        return 1 if stale else 0
    for path, text in stale.items():
        path.write_text(text)
        print(f"wrote {path.relative_to(project_dir)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
