"""The size of a stack's outputs with failure isolation (appSources) and release history (releases), for N apps.

    .venv/bin/python benchmarks/outputs_size.py [APPS]      (default 500; results: docs/isolation.md)

Plans the synthetic registry of benchmarks/bench.py (two environments, half the apps with a database) offline, and
prints each output's size as `pulumi stack output --json` would print it; then the releases output at its bound
(RELEASE_HISTORY releases of every app environment, each with a full commit), and the cost of recording appSources
(load_inputs with and without isolation, best of three).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench import make_project  # noqa: E402


def main(apps: int) -> None:
    from minnova_idp.load.inputs import Isolation, load_inputs
    from minnova_idp.load.kept import record_of
    from minnova_idp.load.stack import from_stack_file
    from minnova_idp.model.inputs import RELEASE_HISTORY
    from minnova_idp.plan.recorder import run_plan

    with tempfile.TemporaryDirectory() as tmp:
        project = make_project(Path(tmp) / "project", apps)
        plan = run_plan(project, "bench", cache_dir=Path(tmp) / "cache", previous_outputs={})
        sizes = {name: len(json.dumps(value)) for name, value in plan.outputs.items()}
        components = len(plan.outputs["imageTags"])
        full = [["2026-12-07T00:00:00Z", f"1.0.{index}", "0123456789abcdef0123456789abcdef01234567"]
                for index in range(RELEASE_HISTORY)]
        at_bound = len(json.dumps({component: full for component in plan.outputs["imageTags"]}))
        oracle = next(app for app in load_inputs(ROOT, *from_stack_file(ROOT, "prod")).apps if app.name == "oracle")
        oracle_record = len(json.dumps(record_of(oracle)))
        raw = from_stack_file(project, "bench")
        timings = {}
        for label, isolation in (("all or nothing", None), ("isolated", Isolation({}))):
            best = float("inf")
            for _ in range(3):
                start = time.perf_counter()
                load_inputs(project, *raw, cache_dir=Path(tmp) / "cache", isolation=isolation)
                best = min(best, time.perf_counter() - start)
            timings[label] = best
    print(f"{apps} apps, {components} app environments")
    for name, size in sorted(sizes.items(), key=lambda item: -item[1]):
        print(f"  {name:<22} {size:>10,} bytes")
    print(f"  {'total':<22} {sum(sizes.values()):>10,} bytes (releases: one each)")
    print(f"releases at the bound ({RELEASE_HISTORY} per app environment): {at_bound:,} bytes")
    print(f"appSources record of the example oracle (app.yaml, 3 SOPS files, seed): {oracle_record:,} bytes")
    print("load_inputs: " + ", ".join(f"{label} {seconds:.2f} s" for label, seconds in timings.items()))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 500)
