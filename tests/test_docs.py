"""README.md and docs/ stay readable and connected (issue 24 item 3): the README's length, the markers of the shell
blocks that tests/test_docs_commands.py runs, and every link between the pages."""

from __future__ import annotations

import re

import pytest

from tests.conftest import PROJECT_DIR
from tests.support.doc_commands import Block, blocks, every_block, pages

README_WORD_LIMIT = 1500
# What a `# needs:` block may need: things this machine does not have, never "it fails".
NEEDS_REASONS = re.compile(r"\b(network|Pulumi CLI|cluster|zsh|time)\b")


def words(text: str) -> int:
    return len(text.split())


def test_the_readme_is_short(record_property):
    count = words((PROJECT_DIR / "README.md").read_text())
    record_property("readme_words", count)
    print(f"README.md: {count} words (limit {README_WORD_LIMIT})")
    assert 0 < count <= README_WORD_LIMIT, f"README.md has {count} words, over {README_WORD_LIMIT}: move some to docs/"


def test_every_skipped_block_says_what_it_needs():
    needing = [block for block in every_block() if block.needs]
    assert needing, "the markers are read at all"
    assert [block.name for block in needing if not NEEDS_REASONS.search(block.needs)] == []


def test_the_index_lists_every_page_with_a_skipped_block():
    """docs/README.md names where `# needs:` is used; a new use on another page must be listed there too."""
    index = (PROJECT_DIR / "docs/README.md").read_text().split("## The commands in these pages", 1)[1]
    listed = {target for target in re.findall(r"\]\(([^)#]+)\)", index)}
    needing = {block.page for block in every_block() if block.needs}
    names = {"README.md": "../README.md"}
    assert sorted(page for page in needing if names.get(page, page.removeprefix("docs/")) not in listed) == []


def test_the_markers_are_read(tmp_path):
    page = tmp_path / "docs" / "page.md"
    page.parent.mkdir()
    page.write_text("x\n```sh\n# needs: a cluster\nkubectl get pods\n```\n\n```sh\n# in the app repository\n"
                    "minnova-idp validate .\n```\n\n1. step\n   ```console\n   $ ls\n   output\n   ```\n"
                    "```yaml\nnot: run\n```\n")
    found = blocks(page, tmp_path)
    assert [(b.line, b.needs, b.where, b.script()) for b in found] == [
        (2, "a cluster", "infra", "# needs: a cluster\nkubectl get pods"),
        (7, None, "app", "# in the app repository\nminnova-idp validate ."),
        (13, None, "infra", "ls")]


def test_the_quick_start_and_real_use_run_in_the_places_they_say():
    readme = blocks(PROJECT_DIR / "README.md")
    assert [b.where for b in readme if "minnova-idp init" in b.text] == ["app"]
    assert all(b.needs for b in readme if "pip install" in b.text)  # installs: CI runs them, the docs test cannot


def test_no_infra_block_runs_a_bare_command_the_quick_start_did_not_put_on_path():
    """After the quick start the command is .venv/bin/minnova-idp (issue 24: every bare `minnova-idp` failed)."""
    bare = re.compile(r"(^|[;&|(]\s*|\$\()minnova-idp\b", re.M)
    offenders = [b.name for b in every_block() if b.where == "infra" and bare.search(b.script())]
    assert offenders == []
    assert bare.search(Block("x", 1, "sh", "minnova-idp plan", None, "infra").script())


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation but `-` and `_` dropped, spaces to `-`."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(text: str) -> set[str]:
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return {_anchor(heading) for heading in re.findall(r"^#{1,6} (.+)$", text, flags=re.M)}


@pytest.mark.parametrize("page", pages(), ids=lambda p: p.relative_to(PROJECT_DIR).as_posix())
def test_every_link_to_a_page_here_finds_it(page):
    text = page.read_text()
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            broken.append(target)
        elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked.read_text()):
            broken.append(target)
    assert broken == []


def test_the_anchor_rule_matches_githubs():
    assert _anchor("Major upgrades (`database.version`)") == "major-upgrades-databaseversion"
    assert _anchor("Fork pull requests: approval per commit") == "fork-pull-requests-approval-per-commit"
