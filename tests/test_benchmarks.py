"""The benchmark script keeps working (on a tiny size). Timings themselves are never asserted here."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.conftest import PROJECT_DIR

pytestmark = pytest.mark.integration  # runs the benchmark script


def test_benchmark_script_runs_on_a_tiny_size():
    result = subprocess.run([sys.executable, "benchmarks/bench.py", "--sizes", "2", "--repos", "2", "--runs", "1",
                             "--out", "-"], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    report = result.stdout
    for section in ("## 1. Program evaluation", "## Targets", "## 2. App-config fetching",
                    "## 3. Preview render cold start", "## 4. Import cost"):
        assert section in report
    assert "stock-mock floor" in report and "minimal SDK floor" in report and 'import yaml, pydantic' in report
    (row,) = re.findall(r"^\| 2 \| (\d+) \|", report, re.M)
    assert int(row) > 2 * 2  # two apps, two environments, several resources each


def test_committed_report_describes_the_machine_all_sizes_and_the_cost_model():
    text = (PROJECT_DIR / "docs/benchmarks.md").read_text()
    assert "Machine:" in text
    for size in (10, 100, 500):
        assert re.search(rf"^\| {size} \|", text, re.M), size
    for section in ("## Targets", "## What the numbers show", "## The thin registration path", "## Cost model"):
        assert section in text, section
