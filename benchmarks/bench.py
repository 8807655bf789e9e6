"""Benchmarks of Minnova IDP (issue 7). Not part of the test run: timings are noisy on shared machines.

    .venv/bin/python benchmarks/bench.py                  # everything, writes docs/benchmarks.md
    .venv/bin/python benchmarks/bench.py --sizes 10 --repos 5 --runs 3 --out -   # a quick run, table on stdout

1. Program evaluation vs registry size: synthetic registries (half the apps with a database, two
   environments, both deployed by the stack), the offline plan of each in a fresh process (time,
   resources, peak memory), against the floor: the same number of resources registered bare through
   the same mock runtime by a loop with no logic of ours.
2. App-config fetching: local git repositories served by `git daemon` on 127.0.0.1, cold (empty cache)
   one by one and concurrently, then warm (cached).
3. Preview render cold start: `minnova-idp render-preview` as a new process, as Argo CD runs it.
4. Import cost of the Pulumi program.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
SHA = "0123456789abcdef0123456789abcdef01234567"

APP_YAML = """\
name: {name}
image: {{repository: registry.example.com/{name}, tag: "1.0.{index}"}}
port: 8080
database: {{enabled: {database}, size: 2Gi}}
healthCheck: {{path: /healthz}}
environments:
  dev: {{replicas: 1, host: {name}.dev.bench.example}}
  prod: {{replicas: 2, host: {name}.bench.example{prod_database}}}
env: {{LOG_LEVEL: info}}
"""
STACK_YAML = """\
config:
  minnova:deployment: bench
  minnova:environments: [dev, prod]
  minnova:baseDomain: bench.example
  minnova:ingressClass: traefik
  minnova:ingressAddress: 203.0.113.10
  minnova:git: {provider: github}
  minnova:cloudflare: {accountId: 0123456789abcdef0123456789abcdef, zoneId: fedcba9876543210fedcba9876543210}
  minnova:databaseStorageGuard: false
"""


def app_yaml(name: str, index: int, database: bool) -> str:
    return APP_YAML.format(name=name, index=index, database=str(database).lower(),
                           prod_database=", database: {instances: 2}" if database else "")


def make_project(root: Path, apps: int) -> Path:
    """A project with `apps` registered apps read from local sources (no git: this measures the program)."""
    (root / "deployments/bench/apps").mkdir(parents=True)
    shutil.copy(ROOT / "Pulumi.yaml", root / "Pulumi.yaml")
    (root / "Pulumi.bench.yaml").write_text(STACK_YAML)
    for index in range(apps):
        name = f"app{index:04d}"
        source = root / "apps" / name / ".minnova"
        source.mkdir(parents=True)
        source.joinpath("app.yaml").write_text(app_yaml(name, index, database=index % 2 == 0))
        (root / f"deployments/bench/apps/{name}.yaml").write_text(f"name: {name}\nlocal: apps/{name}\n")
    return root


# ---- 1. program evaluation -------------------------------------------------------------------

PLAN_CHILD = """
import json, resource, sys, time
from pathlib import Path
start = time.perf_counter()
from minnova_idp.shell.plan import run_plan
imported = time.perf_counter()
plan = run_plan(Path(sys.argv[1]), "bench")
done = time.perf_counter()
maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
# The fair floor: exactly the recorded resources (same types' names, same inputs) registered flat by a
# loop, through the same runtime, with the SDKs already imported: no loading, rendering or components.
import pulumi
from minnova_idp.shell.plan import record
def flat():
    for r in plan.resources:
        if r.type != "pulumi:pulumi:Stack":
            pulumi.CustomResource("flat:" + r.type.replace(":", "-"), r.name, dict(r.inputs))
flat_start = time.perf_counter()
record(flat, project="bench", stack="bench")
print(json.dumps({"import": imported - start, "plan": done - imported, "resources": len(plan.resources),
                  "maxrss_kb": maxrss, "same_inputs": time.perf_counter() - flat_start}))
"""

FLOOR_CHILD = """
import json, resource, sys, time
import pulumi
from minnova_idp.shell.plan import record
count = int(sys.argv[1])
start = time.perf_counter()
def program():
    for index in range(count):
        pulumi.CustomResource("bench:index:Bare", f"r{index}", {"value": index})
record(program, project="bench", stack="bench")
print(json.dumps({"plan": time.perf_counter() - start, "resources": count,
                  "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def child(code: str, *args: str) -> dict:
    result = subprocess.run([PYTHON, "-c", code, *args], capture_output=True, text=True, cwd=ROOT, check=False)
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-2000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


def bench_program(sizes: list[int], runs: int) -> list[dict]:
    rows = []
    for size in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            project = make_project(Path(tmp), size)
            plans = [child(PLAN_CHILD, str(project)) for _ in range(runs)]
        best = min(plans, key=lambda p: p["plan"])
        floors = [child(FLOOR_CHILD, str(best["resources"])) for _ in range(runs)]
        floor = min(floors, key=lambda p: p["plan"])
        rows.append({"apps": size, "resources": best["resources"], "plan_s": best["plan"],
                     "ms_per_app": best["plan"] / size * 1000, "resources_per_app": best["resources"] / size,
                     "maxrss_mb": best["maxrss_kb"] / 1024, "floor_s": floor["plan"],
                     "ratio": best["plan"] / floor["plan"], "import_s": best["import"],
                     "same_inputs_s": best["same_inputs"], "same_ratio": best["plan"] / best["same_inputs"]})
    return rows


# ---- 2. app-config fetching ------------------------------------------------------------------

def git(cwd: Path, *args: str) -> str:
    env = {"PATH": os.environ["PATH"], "HOME": str(cwd), "GIT_CONFIG_NOSYSTEM": "1"}
    return subprocess.run(["git", "-c", "user.name=b", "-c", "user.email=b@b", "-c", "init.defaultBranch=main",
                           *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


def make_repos(root: Path, count: int) -> list[Path]:
    repos = []
    for index in range(count):
        repo = root / f"repo{index:03d}"
        (repo / ".minnova").mkdir(parents=True)
        (repo / ".minnova/app.yaml").write_text(app_yaml(f"app{index:04d}", index, database=False))
        (repo / "src").mkdir()
        (repo / "src/big.bin").write_bytes(os.urandom(256 * 1024))  # app code a sparse fetch must not download
        git(repo, "init", "-q")
        git(repo, "config", "uploadpack.allowFilter", "true")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "app")
        repos.append(repo)
    return repos


@contextmanager
def git_daemon(base: Path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    daemon = subprocess.Popen(["git", "daemon", "--reuseaddr", f"--base-path={base}", "--export-all",
                               "--listen=127.0.0.1", f"--port={port}", str(base)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):  # bounded wait for the daemon to listen
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield port
    finally:
        daemon.terminate()
        daemon.wait(timeout=10)


def bench_fetch(count: int) -> dict:
    sys.path.insert(0, str(ROOT))
    from minnova_idp.core.gitsource import RepoSpec, fetch_sources

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "served"
        make_repos(base, count)
        with git_daemon(base) as port:
            specs = [RepoSpec(url=f"git://127.0.0.1:{port}/repo{i:03d}", ref=None) for i in range(count)]

            def timed(cache: Path, workers: int) -> float:
                start = time.perf_counter()
                results = fetch_sources(specs, cache, max_workers=workers)
                elapsed = time.perf_counter() - start
                failures = [r for r in results if not hasattr(r, "commit")]
                if failures:
                    raise RuntimeError(f"{len(failures)} fetches failed: {failures[0]}")
                return elapsed

            sequential = timed(Path(tmp) / "cache-seq", 1)
            concurrent_cache = Path(tmp) / "cache-par"
            concurrent = timed(concurrent_cache, 8)
            warm = timed(concurrent_cache, 8)
    return {"repos": count, "cold_sequential_s": sequential, "cold_concurrent_s": concurrent, "warm_s": warm,
            "speedup": sequential / concurrent, "warm_share": warm / concurrent}


# ---- 3. preview render cold start ------------------------------------------------------------

def bench_render_preview(runs: int) -> dict:
    keys = Path(tempfile.mkdtemp())
    lines = (ROOT / "tests/fixtures/example-age-keys.txt").read_text().splitlines()
    keys.joinpath("oracle").write_text(lines[lines.index(next(l for l in lines if l.startswith("# oracle/preview"))) + 1])
    command = [PYTHON, "-m", "minnova_idp.cli", "render-preview", "--app", "oracle", "--pr", "123", "--head-sha", SHA,
               "--preview-domain", "preview.minnova.io", "--deployment", "minnova", "--ingress-class", "traefik",
               "--keys-dir", str(keys)]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, cwd=ROOT / "examples/oracle", check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    baseline = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([PYTHON, "-c", "pass"], check=True)
        baseline.append(time.perf_counter() - start)
    importtime = subprocess.run([PYTHON, "-X", "importtime", *command[1:]], cwd=ROOT / "examples/oracle",
                                capture_output=True, text=True, check=True).stderr
    shutil.rmtree(keys)
    return {"median_s": statistics.median(times), "min_s": min(times), "python_startup_s": statistics.median(baseline),
            "top_imports": top_imports(importtime)}


def top_imports(importtime: str, count: int = 6) -> list[tuple[str, float]]:
    """Top-level packages by cumulative import time (ms)."""
    totals: dict[str, float] = {}
    for line in importtime.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = (part.strip() for part in line.removeprefix("import time:").split("|"))
        if cumulative.isdigit() and not name.startswith(" ") and "." not in name.strip():
            totals[name.strip()] = max(totals.get(name.strip(), 0), int(cumulative) / 1000)
    return sorted(totals.items(), key=lambda item: -item[1])[:count]


# ---- 4. import cost --------------------------------------------------------------------------

def bench_imports(runs: int) -> list[dict]:
    rows = []
    for module in ("minnova_idp.cli", "minnova_idp.shell.program", "minnova_idp.shell.platform", "pulumi", "pulumi_kubernetes",
                   "pulumi_cloudflare"):
        times = []
        for _ in range(runs):
            result = subprocess.run([PYTHON, "-c", f"import time; s = time.perf_counter(); import {module}; "
                                     "print(time.perf_counter() - s)"], cwd=ROOT, capture_output=True, text=True,
                                    check=True)
            times.append(float(result.stdout))
        rows.append({"module": module, "median_s": statistics.median(times)})
    return rows


# ---- report ----------------------------------------------------------------------------------

def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}")


def report(program: list[dict], fetch: dict, preview: dict, imports: list[dict]) -> str:
    lines = ["# Benchmarks", "",
             "Run: `.venv/bin/python benchmarks/bench.py` (writes this file). Best of several runs where noted.",
             f"Machine: {machine()}.", "", "## 1. Program evaluation vs registry size (offline plan, one process)", "",
             "| apps | resources | resources/app | plan (s) | ms/app | peak RSS (MiB) | bare floor (s) | ratio | "
             "same-inputs floor (s) | ratio |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in program:
        lines.append(f"| {row['apps']} | {row['resources']} | {row['resources_per_app']:.1f} | {row['plan_s']:.2f} | "
                     f"{row['ms_per_app']:.1f} | {row['maxrss_mb']:.0f} | {row['floor_s']:.2f} | {row['ratio']:.2f}x | "
                     f"{row['same_inputs_s']:.2f} | {row['same_ratio']:.2f}x |")
    lines += ["", "Plan: loading and validating every app config, rendering, and registering every resource through "
              "Pulumi's mock runtime with the recorder, in one process; interpreter start and module imports "
              "excluded, lazy SDK imports during the program (pulumi_cloudflare, pulumi_kubernetes submodules) "
              "included. Bare floor: the same number of resources with one small input each, registered by a loop. "
              "Same-inputs floor: exactly the recorded resources (same inputs) registered flat by a loop, SDKs "
              "already imported: what the runtime costs before any logic of ours.", "",
              "## 2. App-config fetching (git daemon on 127.0.0.1)", "",
              "| repos | cold, one by one (s) | cold, 8 at once (s) | warm (s) | concurrency speed-up | warm / cold |",
              "|---:|---:|---:|---:|---:|---:|",
              f"| {fetch['repos']} | {fetch['cold_sequential_s']:.2f} | {fetch['cold_concurrent_s']:.2f} | "
              f"{fetch['warm_s']:.2f} | {fetch['speedup']:.1f}x | {fetch['warm_share'] * 100:.0f}% |", "",
              "## 3. Preview render cold start (`minnova-idp render-preview`, app with a database and secrets)", "",
              "| median (s) | best (s) | bare `python -c pass` (s) |", "|---:|---:|---:|",
              f"| {preview['median_s']:.3f} | {preview['min_s']:.3f} | {preview['python_startup_s']:.3f} |", "",
              "Largest imports (cumulative ms): " + ", ".join(f"{name} {ms:.0f}" for name, ms in preview["top_imports"]),
              "", "## 4. Import cost", "", "| module | import (s) |", "|---|---:|"]
    lines += [f"| `{row['module']}` | {row['median_s']:.2f} |" for row in imports]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description="Minnova IDP benchmarks")
    parser.add_argument("--sizes", default="10,100,500", help="registry sizes (default: 10,100,500)")
    parser.add_argument("--repos", type=int, default=50, help="git repositories to fetch (default: 50)")
    parser.add_argument("--runs", type=int, default=5, help="repetitions, the best or median is reported")
    parser.add_argument("--out", default=str(ROOT / "docs/benchmarks.md"), help="report file, or - for stdout")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    text = report(bench_program(sizes, max(1, min(args.runs, 3))), bench_fetch(args.repos),
                  bench_render_preview(args.runs), bench_imports(args.runs))
    if args.out == "-":
        sys.stdout.write(text)
    else:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        # The hand-written analysis after ANALYSIS_HEADING survives a re-run; the tables are replaced.
        previous = out.read_text() if out.exists() else ""
        analysis = previous[previous.index(ANALYSIS_HEADING):] if ANALYSIS_HEADING in previous else ""
        out.write_text(text + ("\n" + analysis if analysis else ""))
        print(text)
    return 0


ANALYSIS_HEADING = "## What the numbers show"


if __name__ == "__main__":
    sys.exit(main())
