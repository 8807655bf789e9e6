"""The real things Go parses, in-process: upstream Helm charts, Go's YAML, Go's text/template (with sprig).

helm-python-sdk binds Helm v4's Go SDK (no helm binary): chart rendering is Helm's own; `values_from_yaml` is
sigs.k8s.io/yaml, the parser notifications-engine reads its ConfigMap with; a throwaway chart executes a
notification template with Go's text/template and sprig, as notifications-engine does. Tests skip with a reason
where the charts (../shared/charts, MINNOVA_CHARTS_DIR) or the SDK are missing.
"""

from __future__ import annotations

import functools
import json
import os
import pathlib
import re
import tempfile
from typing import Any

import pytest
import yaml

from tests.support import shared

CHARTS_DIR_ENV = "MINNOVA_CHARTS_DIR"
REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]


def _helm():
    return pytest.importorskip("helm_python", reason="helm-python-sdk is not installed (pip install -e '.[dev]')")


def charts_dir() -> pathlib.Path:
    """Where the upstream charts are, or would be: the caller decides what their absence means."""
    shared.record("charts_dir")
    return _charts_dir()


def _charts_dir() -> pathlib.Path:
    override = os.environ.get(CHARTS_DIR_ENV)
    return pathlib.Path(override).expanduser().resolve() if override else (REPO_ROOT.parent / "shared" / "charts")


def require_chart(name: str, *versions: str) -> pathlib.Path:
    """The first of `versions` of the chart found, or skip the calling test with the reason."""
    shared.record("require_chart")
    for version in versions:
        path = _charts_dir() / f"{name}-{version}.tgz"
        if path.is_file():
            return path
    pytest.skip(f"chart {name} {' or '.join(versions)} not found in {_charts_dir()}; set {CHARTS_DIR_ENV} to the "
                "upstream charts (../shared/charts, or scripts/fetch_upstream.py)")


def render_chart(path: pathlib.Path, values: dict[str, Any], release: str, namespace: str) -> list[dict[str, Any]]:
    """Every object the chart renders with `values`, as `helm template` would give them."""
    helm = _helm()
    rendered = helm.Chart.load(str(path)).render(values, name=release, namespace=namespace, is_install=True)
    objects = []
    for template, text in rendered.items():
        if template.endswith((".yaml", ".yml")):  # not NOTES.txt
            objects += [doc for doc in yaml.safe_load_all(text) if doc]
    return objects


def go_yaml(text: str) -> Any:
    """`text` parsed by sigs.k8s.io/yaml (Go), raising on what Go refuses. The SDK parses mappings only, so the
    document is nested one level down (indenting every line keeps block scalars intact)."""
    nested = "document:\n" + "".join(f"  {line}" if line.strip() else line for line in text.splitlines(True))
    return _helm().values_from_yaml(nested)["document"]


@functools.lru_cache(maxsize=1)
def _template_chart() -> pathlib.Path:
    directory = pathlib.Path(tempfile.mkdtemp(prefix="go-template-"))
    (directory / "templates").mkdir()
    (directory / "Chart.yaml").write_text("apiVersion: v2\nname: go-template\nversion: 0.1.0\n")
    return directory


# Actions that print nothing: control words, comments, variable declarations and assignments.
_SILENT_ACTION = re.compile(r"^(?:if|else|end|range|with|define|template|block|break|continue)\b|^/\*|^\$\w*\s*:?=")


def _actions(template: str):
    """(start, end) of each `{{...}}` action, skipping `}}` inside quoted and raw strings."""
    position = 0
    while (start := template.find("{{", position)) >= 0:
        index, quote = start + 2, None
        while index < len(template):
            char = template[index]
            if quote:
                if char == "\\" and quote == '"':
                    index += 1
                elif char == quote:
                    quote = None
            elif char in "\"`":
                quote = char
            elif template.startswith("}}", index):
                break
            index += 1
        yield start, index + 2
        position = index + 2


def refuse_no_value(template: str) -> str:
    """`template` with each printing action `{{X}}` made to fail when X is nil. notifications-engine executes
    templates with text/template's default missingkey (1dbe3de pkg/templates/service.go), which prints a missing
    key or a null as "<no value>"; Helm executes with missingkey=zero and then deletes every "<no value>" from its
    output (helm engine.go), so without this a template printing a field the Application lacks would pass here and
    print "<no value>" on the pull request."""
    out, position = [], 0
    for start, end in _actions(template):
        inner = template[start + 2:end - 2]
        left = "-" if inner.startswith("- ") else ""
        right = "-" if inner.endswith(" -") else ""
        pipeline = inner[len(left):len(inner) - len(right)].strip()
        out.append(template[position:start])
        if _SILENT_ACTION.match(pipeline):
            out.append(template[start:end])
        else:
            message = json.dumps(f"<no value>: {{{{{pipeline}}}}} printed nil")
            out.append(f"{{{{{left} if kindIs \"invalid\" ({pipeline})}}}}{{{{fail {message}}}}}{{{{end}}}}"
                       f"{{{{({pipeline}) {right}}}}}")
        position = end
    out.append(template[position:])
    return "".join(out)


def go_template(template: str, data: dict[str, Any]) -> str:
    """`template` executed by Go's text/template with sprig, `data` as the dot (as notifications-engine does:
    pkg/templates/service.go). Helm's own functions are there too; the project's templates use none of them.
    Printing nil (what notifications-engine shows as "<no value>") fails: refuse_no_value."""
    helm = _helm()
    chart = _template_chart()
    (chart / "templates" / "out.txt").write_text("{{- with .Values }}" + refuse_no_value(template) + "{{- end }}")
    rendered = helm.Chart.load(str(chart)).render(data, name="t", namespace="t")
    return rendered["go-template/templates/out.txt"]
