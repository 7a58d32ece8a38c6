"""Run the DESIGN §8 benchmarks side by side on one pair of servers, print a table, save the JSON.

    .venv/bin/python bench/run.py [--scale N] [--only NAME ...]

Starts its own two FerretDB (or mongod) servers on free loopback ports, seeds them, runs each
benchmark in turn (transform, copy, memory, validation), prints one table and writes
bench/results/<date>.json (a same-day file is updated benchmark by benchmark).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_copy
import bench_memory
import bench_transform
import bench_validate
from bench_support import Env, load_average, machine_busy_cpu, ours_cpu, session

from mongo_promote.servers import find_tool, server_binary

BENCH_DIR = Path(__file__).resolve().parent
NAMES = ("transform", "copy", "memory", "validation")
Row = tuple[str, str, str, str]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="dataset scale for transform, copy and validation (1 = 2,787 translations)",
    )
    p.add_argument(
        "--big-scale",
        type=float,
        default=20.0,
        help="the larger scale copy also runs at (0 to skip)",
    )
    p.add_argument(
        "--validation-big-scale",
        type=float,
        default=5.0,
        help="the larger scale validation also runs at (0 to skip); validating the transformed\n"
        "collections grows faster than linearly on FerretDB, so it is smaller than --big-scale",
    )
    p.add_argument(
        "--only",
        action="append",
        choices=NAMES,
        metavar="NAME",
        help=f"run only this benchmark (repeatable): {', '.join(NAMES)}",
    )
    p.add_argument(
        "--memory-sizes",
        default="10000,100000,1000000",
        help="documents per memory point; a size that would overrun the budget is skipped\n"
        "and the largest one that fits is measured instead",
    )
    p.add_argument(
        "--memory-budget", type=float, default=300.0, help="seconds for the memory benchmark"
    )
    p.add_argument(
        "--mongosh-cap",
        type=float,
        default=180.0,
        help="seconds after which the seed's mongosh loop stops (the rest is extrapolated)",
    )
    p.add_argument("--repeats", type=int, default=3, help="timed repeats of our side of transform")
    p.add_argument("--workers", type=int, default=4, help="copy workers (run's default is 4)")
    p.add_argument("--results-dir", type=Path, default=BENCH_DIR / "results")
    p.add_argument("--source-uri", default=os.environ.get("MONGO_PROMOTE_BENCH_SOURCE_URI"),
                   help="use these servers instead of starting a pair")  # fmt: skip
    p.add_argument("--target-uri", default=os.environ.get("MONGO_PROMOTE_BENCH_TARGET_URI"))
    return p.parse_args(argv)  # fmt: skip


def machine(env: Env) -> dict[str, Any]:
    kind, binary = server_binary()
    version = subprocess.run([str(binary), "--version"], capture_output=True, text=True,
                             check=False).stdout.splitlines()[:1]  # fmt: skip
    mongosh = find_tool("mongosh")
    mongosh_version = (subprocess.run([str(mongosh), "--version"], capture_output=True, text=True,
                                      check=False).stdout.strip() if mongosh else None)  # fmt: skip
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")), "?")  # fmt: skip
    mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal"))  # fmt: skip
    import pymongo

    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "pymongo": pymongo.version,
        "servers": "given URIs" if not env.servers else
                   f"{kind} {' '.join(version)} on 127.0.0.1 (two processes: source and target)",
        "mongosh": mongosh_version,
        "mongodump": str(find_tool("mongodump") or "not installed"),
        "mongorestore": str(find_tool("mongorestore") or "not installed"),
    }  # fmt: skip


Runner = Callable[[Env], dict[str, Any]]
RowsOf = Callable[[dict[str, Any]], list[Row]]


def benchmarks(args: argparse.Namespace) -> dict[str, tuple[Runner, RowsOf]]:
    def with_big(big: float) -> list[float]:
        return [args.scale] + ([big] if big and big != args.scale else [])

    sizes = [int(s) for s in args.memory_sizes.split(",") if s.strip()]
    return {
        "transform": (
            lambda env: bench_transform.run(
                env, scale=args.scale, repeats=args.repeats, cap_s=args.mongosh_cap
            ),
            bench_transform.rows,
        ),
        "copy": (
            lambda env: bench_copy.run(env, scales=with_big(args.big_scale), workers=args.workers),
            bench_copy.rows,
        ),
        "memory": (
            lambda env: bench_memory.run(env, sizes=sizes, budget_s=args.memory_budget),
            bench_memory.rows,
        ),
        "validation": (
            lambda env: bench_validate.run(
                env, scales=with_big(args.validation_big_scale), workers=args.workers
            ),
            bench_validate.rows,
        ),
    }


def table_lines(name: str, entry: dict[str, Any], rows_of: RowsOf) -> list[tuple[str, ...]]:
    if "error" in entry:
        return [(name, "error", entry["error"], "", "n/a")]
    lines: list[tuple[str, ...]] = [(name, *row) for row in rows_of(entry["result"])]
    other = entry["other_cpu_s"]
    lines.append((name, "(benchmark wall time)", f"{entry['seconds']:.0f} s; other processes on the "
                  f"machine used {other:.0f} CPU-s meanwhile ({other / entry['seconds']:.2f} cores)",
                  "", ""))  # fmt: skip
    return lines


def print_table(lines: list[tuple[str, ...]]) -> None:
    head = ("benchmark", "measure", "value", "§8 target", "verdict")
    widths = [max(len(head[i]), *(len(row[i]) for row in lines)) for i in range(5)]
    fmt = " | ".join(f"{{:<{w}}}" for w in widths)
    print(fmt.format(*head))
    print("-+-".join("-" * w for w in widths))
    for row in lines:
        print(fmt.format(*row))


def save(args: argparse.Namespace, info: dict[str, Any], results: dict[str, Any]) -> Path:
    """bench/results/<date>.json; benchmarks run again the same day replace their earlier entry."""
    args.results_dir.mkdir(parents=True, exist_ok=True)
    path = args.results_dir / f"{datetime.now(UTC):%Y-%m-%d}.json"
    data: dict[str, Any] = {}
    if path.exists():
        try:
            data = json.loads(path.read_text())
        except ValueError:
            data = {}
    data.setdefault("benchmarks", {})
    for name, entry in results.items():
        data["benchmarks"][name] = {**entry, "machine": info, "command": " ".join(sys.argv)}
    data["updated_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return path


def run_one(name: str, runner: Runner, env: Env) -> dict[str, Any]:
    """One benchmark, with how busy the rest of the machine was meanwhile (2 cores are shared)."""
    at = datetime.now(UTC).isoformat(timespec="seconds")
    begun, load, busy, ours = time.perf_counter(), load_average(), machine_busy_cpu(), ours_cpu(env)
    entry: dict[str, Any] = {"started_at": at, "load_before": load}
    try:
        entry["result"] = runner(env)
    except Exception as exc:  # one broken benchmark must not lose the others' figures
        entry["error"] = f"{type(exc).__name__}: {exc}"
    entry["seconds"] = time.perf_counter() - begun
    entry["load_after"] = load_average()
    entry["machine_busy_cpu_s"] = machine_busy_cpu() - busy
    entry["ours_cpu_s"] = ours_cpu(env) - ours  # this process, its children, both servers
    entry["other_cpu_s"] = max(0.0, entry["machine_busy_cpu_s"] - entry["ours_cpu_s"])
    entry["datasets"] = {
        f"{k:g}": {kk: v[kk] for kk in ("database", "seed_seconds", "source_docs")}
        for k, v in env.datasets.items()
    }
    return entry


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    chosen = [n for n in NAMES if not args.only or n in args.only]
    table = benchmarks(args)
    results: dict[str, Any] = {}
    lines: list[tuple[str, ...]] = []
    started = time.perf_counter()
    with session(None, args.scale, args.source_uri, args.target_uri) as env:
        info = machine(env)
        print(f"servers: {info['servers']}; {info['cores']} cores; source {env.source_uri}, "
              f"target {env.target_uri}", flush=True)  # fmt: skip
        for name in chosen:
            print(f"running {name} ...", flush=True)
            runner, rows_of = table[name]
            results[name] = run_one(name, runner, env)
            path = save(args, info, {name: results[name]})  # kept even if a later one fails
            new = table_lines(name, results[name], rows_of)
            lines += new
            for row in new:
                print("  " + " | ".join(x for x in row[1:] if x), flush=True)
    print()
    print_table(lines)
    print(f"\nwhole set: {time.perf_counter() - started:.0f} s; results: {path}")
    return 1 if any("error" in e for e in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
