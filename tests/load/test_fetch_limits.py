"""The fetch's limits of `.minnova/`, one function for the fetch (load/git.py) and for `validate` (rv24v: validate
passed 3 x 24 overlays, each environment within MAX_OVERLAYS, that the fetch refused as more than 64 files)."""

from __future__ import annotations

import io
import json
import os
from contextlib import redirect_stderr, redirect_stdout

from minnova_idp.cli.main import main
from minnova_idp.load import fetch_limits, git
from minnova_idp.load.secret_overlays import tombstone_text
from tests.conftest import PROJECT_DIR


def test_the_fetch_uses_the_shared_limits():
    assert (git.MAX_FILES, git.MAX_FILE_BYTES, git.MAX_TOTAL_BYTES) == (
        fetch_limits.MAX_FILES, fetch_limits.MAX_FILE_BYTES, fetch_limits.MAX_TOTAL_BYTES)
    source = (PROJECT_DIR / "minnova_idp/load/git.py").read_text()
    assert "fetch_limits.count_refused(" in source and "fetch_limits.sizes_refused(" in source


def test_checkout_counts_regular_files_only_and_its_limits(tmp_path):
    config = tmp_path / ".minnova"
    (config / "sub").mkdir(parents=True)
    for i in range(fetch_limits.MAX_FILES):
        (config / "sub" / f"f{i}").write_text("a")
    (config / "link").symlink_to(config / "sub" / "f0")  # git ls-tree lists a link as 120000: not fetched
    assert fetch_limits.checkout_refused(config) is None
    (config / "one-more").write_text("a")
    assert f"holds {fetch_limits.MAX_FILES + 1} files" in fetch_limits.checkout_refused(config)
    os.unlink(config / "one-more")
    os.unlink(config / "sub/f1")
    (config / "big").write_bytes(b"x" * (fetch_limits.MAX_FILE_BYTES + 1))
    assert "big: larger than the limit" in fetch_limits.checkout_refused(config)


def test_validate_refuses_what_the_fetch_refuses(tmp_path):
    root = tmp_path / "storefront"
    (root / ".minnova/secrets").mkdir(parents=True)
    (root / ".minnova/app.yaml").write_text((PROJECT_DIR / "examples/storefront/.minnova/app.yaml").read_text())
    for environment in ("dev", "prod", "preview"):  # 24 each: within MAX_OVERLAYS, 72 in all
        (root / f".minnova/secrets/{environment}.d").mkdir()
        for i in range(24):
            (root / f".minnova/secrets/{environment}.d/N_{i}.unset").write_text(tombstone_text(f"N_{i}", environment))
    out = io.StringIO()
    with redirect_stdout(out), redirect_stderr(io.StringIO()):
        code = main(["validate", str(root), "--json"])
    result = json.loads(out.getvalue())
    assert code == 1, result
    assert any("holds 73 files; the limit is 64" in problem["message"] for problem in result["problems"]), result
