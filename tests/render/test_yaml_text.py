"""minnova_idp/render/yaml_text.py writes what PyYAML's pure-Python emitter writes, libyaml or not."""

from __future__ import annotations

import random
import string

import pytest
import yaml

from minnova_idp.render import yaml_text

LIBYAML = getattr(yaml, "CSafeDumper", None) is not None
# Characters that change how a scalar is written: indicators, quotes, spaces, line breaks, tabs, non-ASCII.
ALPHABET = string.ascii_letters + string.digits + " :#-?!&*'\"{}[],|>%@`.\\\n\t~" + "üé€\u2028\x85"
WORDS = ["", "yes", "no", "null", "~", "true", "1.5", "0o17", "2026-12-06", "...", "---", " lead", "trail ",
         "x" * 90, "word " * 30, "a: b", "- x", "#c", "'q'", '"d"', "multi\nline\n", "keep\n\n", "ü" * 90]


def random_scalar(rng: random.Random):
    roll = rng.random()
    if roll < 0.35:
        return rng.choice(WORDS)
    if roll < 0.85:
        return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 120)))
    return rng.choice([None, True, False, 0, -7, 3.25, 10 ** 20])


def random_document(rng: random.Random, depth: int = 0):
    roll = rng.random()
    if depth >= 4 or roll < 0.3:
        return random_scalar(rng)
    if roll < 0.75:
        return {str(random_scalar(rng)): random_document(rng, depth + 1) for _ in range(rng.randint(0, 5))}
    return [random_document(rng, depth + 1) for _ in range(rng.randint(0, 4))]


def ascii_document(rng: random.Random, depth: int = 0):
    """Documents libyaml writes (printable ASCII on one line), with its hard cases: long plain strings, indicators.
    A mapping or a list at the top, as manifests are."""
    if depth >= 3 or (depth and rng.random() < 0.3):
        return rng.choice([*(w for w in WORDS if yaml_text.libyaml_safe(w)), "".join(
            rng.choice(string.printable[:-6]) for _ in range(rng.randint(0, 200))), 42, None, True])
    if rng.random() < 0.7:
        return {"".join(rng.choice(string.ascii_letters + ".-/") for _ in range(rng.randint(1, 30))):
                ascii_document(rng, depth + 1) for _ in range(rng.randint(1, 5))}
    return [ascii_document(rng, depth + 1) for _ in range(rng.randint(1, 4))]


@pytest.mark.parametrize("seed", range(40))
def test_a_stream_is_written_as_safe_dump_all_writes_it(seed):
    rng = random.Random(seed)
    documents = [random_document(rng) for _ in range(rng.randint(1, 6))]
    expected = yaml.safe_dump_all(documents, sort_keys=False, explicit_start=True)
    assert yaml_text.dump_all(documents, sort_keys=False) == expected
    assert yaml.safe_load_all(expected) is not None


@pytest.mark.parametrize("seed", range(40))
def test_a_document_is_written_as_safe_dump_writes_it(seed):
    document = random_document(random.Random(seed))
    assert yaml_text.dump(document, sort_keys=True, default_flow_style=False) == yaml.safe_dump(
        document, sort_keys=True, default_flow_style=False)


@pytest.mark.skipif(not LIBYAML, reason="PyYAML without libyaml: its own emitter writes everything")
@pytest.mark.parametrize("seed", range(40))
def test_libyaml_writes_what_pyyaml_writes_for_what_it_is_given(seed):
    """The rule that picks libyaml, checked on the emitter itself (not through the rule)."""
    rng = random.Random(seed)
    documents = [ascii_document(rng) for _ in range(rng.randint(1, 4))]
    assert all(yaml_text.libyaml_safe(document) for document in documents)
    for options in ({"sort_keys": False, "explicit_start": True}, {"sort_keys": True, "default_flow_style": False}):
        for document in documents:
            assert yaml_text.dump(document, yaml.CSafeDumper, **options) == yaml.safe_dump(document, **options)


@pytest.mark.skipif(not LIBYAML, reason="PyYAML without libyaml")
@pytest.mark.parametrize("documents", [["abc", "def"], ["abc", {"a": 1}], [{"a": "x\n\n"}, "y"], ["", None, 3]])
def test_open_documents_end_once_as_in_one_stream(documents):
    """A bare plain scalar leaves its document open: PyYAML writes `...` after it only at the end of a stream, and
    libyaml never (so such a document is never libyaml's)."""
    assert not yaml_text.libyaml_safe(["ü"]) and not any(
        yaml_text.dump(d) != yaml.safe_dump(d) for d in documents)
    assert yaml_text.dump_all(documents, sort_keys=False) == yaml.safe_dump_all(documents, sort_keys=False,
                                                                                 explicit_start=True)
    assert yaml.dump("abc", Dumper=yaml.CSafeDumper) != yaml.safe_dump("abc")  # why bare scalars are PyYAML's
