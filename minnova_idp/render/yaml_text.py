"""Manifests as YAML text: exactly what PyYAML's own emitter writes, written by libyaml where that is the same.

libyaml's emitter (`yaml.CSafeDumper`, about 6x faster; the representer stays PyYAML's) writes the same bytes
as PyYAML's pure-Python one as long as every string is printable ASCII on one line; it folds long double-quoted
strings with escapes (line breaks, tabs, non-ASCII) at other columns. A document holding such a string, and an
install of PyYAML without libyaml, is written by PyYAML's emitter. The offline plan writes every manifest this
way (plan/recorder.py), and so does `render-preview` (preview_plugin.py), whose cold start runs on every Argo CD
refresh. tests/render/test_yaml_text.py compares both emitters.
"""

from __future__ import annotations

from typing import Any, Iterable

import yaml

FAST_DUMPER: type | None = getattr(yaml, "CSafeDumper", None)


def libyaml_safe(value: Any) -> bool:
    """libyaml writes `value` as PyYAML does: every string in it (keys too) is printable ASCII on one line. A
    document that is a bare scalar is not (libyaml leaves out the `...` PyYAML ends an open plain scalar with)."""
    if isinstance(value, str):
        return value.isascii() and value.isprintable()
    if isinstance(value, dict):
        return all(libyaml_safe(key) and libyaml_safe(item) for key, item in value.items())
    if isinstance(value, list):
        return all(libyaml_safe(item) for item in value)
    return True


def dump(document: Any, dumper: type | None = None, **options: Any) -> str:
    """`yaml.dump(document, Dumper=yaml.SafeDumper, **options)`; `dumper` forces an emitter (tests compare them)."""
    if dumper is None:
        fast = FAST_DUMPER is not None and isinstance(document, (dict, list)) and libyaml_safe(document)
        dumper = FAST_DUMPER if fast else yaml.SafeDumper
    return yaml.dump(document, Dumper=dumper, **options)


def dump_all(documents: Iterable[Any], **options: Any) -> str:
    """`yaml.safe_dump_all(documents, explicit_start=True, **options)`, each document by the emitter that writes
    it fastest. One stream differs from documents written one by one in a single way: a document left open (a bare
    plain scalar, never a manifest) gets the end marker `...` only at the end of the stream (PyYAML 6.0
    yaml/emitter.py expect_document_start writes it between documents only before directives)."""
    documents = list(documents)
    texts = [dump(document, explicit_start=True, **options) for document in documents]
    return "".join(text[:-len("...\n")] if text.endswith(_OPEN_END) and index < len(texts) - 1 else text
                   for index, text in enumerate(texts))


# What ends an open document written alone (yaml/emitter.py expect_document_start at StreamEndEvent). Nothing
# else writes it at the start of a line: a scalar starting with `...` is quoted (emitter.py analyze_scalar), and
# the lines a quoted scalar continues on are indented.
_OPEN_END = "\n...\n"
