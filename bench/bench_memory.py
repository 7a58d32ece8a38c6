"""Benchmark peak memory of copying one collection of N documents (DESIGN §8: independent of N,
under 300 MB at a million documents).

Each copy runs in its own child process (`python bench/bench_memory.py --child ...`) that reports
its own /proc/self/status VmHWM (peak RSS), so one size's peak never hides in another's. The
collection grows in place (10k, then 100k, ...) so each size only inserts the difference; a size
whose estimated seeding + copy time would overrun the budget is skipped and said so.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

DB, COLL = "bench_memory", "Payload"
TARGET_MB = 300.0


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def child(args: argparse.Namespace) -> None:
    """In the child: one copy_collection of DB.COLL into a shadow, then the peaks as JSON."""
    import resource

    from bench_support import Env, actions_of, make_ctx

    from mongo_promote.steps.copy import copy_collection

    env = Env(args.source_uri, args.target_uri, Path(args.workdir), 1.0)
    ctx = make_ctx(env, DB, f"collections: {{include: [{COLL}]}}\n")
    action = actions_of(ctx).by_name()[COLL]
    ready_kb = _status_kb("VmRSS")  # imports, connections, inventory: before any document
    started = time.perf_counter()
    result = copy_collection(ctx, action)
    wall = time.perf_counter() - started
    ctx.target_db.drop_collection(result.shadow)
    print(json.dumps({
        "docs": result.count,
        "bytes": result.bytes,
        "wall_s": wall,
        "rss_before_copy_mb": ready_kb / 1024,
        "vm_hwm_mb": _status_kb("VmHWM") / 1024,
        "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))  # fmt: skip


def _copy_in_child(env: Any) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", "--source-uri", env.source_uri,
         "--target-uri", env.target_uri, "--workdir", str(env.workdir)],
        capture_output=True, text=True, check=False, timeout=1800,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"memory child failed: {proc.stderr[-2000:]}")
    data: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    data["copy_growth_mb"] = data["vm_hwm_mb"] - data["rss_before_copy_mb"]
    return data


def _estimate(n: int, have: int, seed_rate: float, copy_rate: float) -> float:
    return max(0, n - have) / seed_rate + n / copy_rate


def _largest_fitting(have: int, left: float, seed_rate: float, copy_rate: float) -> int:
    """The largest 1-2-3-5 x 10^k document count whose seeding and copy fit in `left` seconds."""
    nice = sorted(m * 10**k for k in range(3, 8) for m in (1, 2, 3, 5))
    fitting = [
        n for n in nice if n > have and _estimate(n, have, seed_rate, copy_rate) <= 0.9 * left
    ]
    return fitting[-1] if fitting else 0


def run(
    env: Any, *, sizes: list[int], doc_bytes: int = 500, budget_s: float = 300.0
) -> dict[str, Any]:
    from bench_copy import grow

    coll = env.source[DB][COLL]
    coll.drop()
    started = time.perf_counter()
    seed_rate = copy_rate = None
    points: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    queue = sorted(sizes)
    while queue:
        n = queue.pop(0)
        have = coll.estimated_document_count()
        if seed_rate and copy_rate:
            left = budget_s - (time.perf_counter() - started)
            estimate = _estimate(n, have, seed_rate, copy_rate)
            if estimate > left:
                skipped.append({"docs": n, "estimated_s": estimate, "budget_left_s": left,
                                "why": f"seeding {n - have:,} more documents at {seed_rate:,.0f}/s "
                                       f"and copying {n:,} at {copy_rate:,.0f}/s would take about "
                                       f"{estimate:.0f} s; {left:.0f} s of the budget remained"})  # fmt: skip
                fit = _largest_fitting(have, left, seed_rate, copy_rate)
                if not queue and fit >= 2 * max(have, 1):  # the biggest size that fits, instead
                    queue.append(fit)
                continue
        t = time.perf_counter()
        added = grow(coll, n, doc_bytes)
        seed_s = time.perf_counter() - t
        if added:
            seed_rate = added / seed_s
        point = _copy_in_child(env)
        point["seed_s"] = seed_s
        copy_rate = point["docs"] / point["wall_s"] if point["wall_s"] else copy_rate
        points.append(point)
    return {"doc_bytes": doc_bytes, "budget_s": budget_s, "points": points, "skipped": skipped,
            "target_mb_at_1m": TARGET_MB}  # fmt: skip


def rows(result: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    out = []
    for p in result["points"]:
        out.append((f"peak RSS, copy of {p['docs']:,} docs",
                    f"{p['vm_hwm_mb']:.0f} MB (before copy {p['rss_before_copy_mb']:.0f} MB, "
                    f"+{p['copy_growth_mb']:.0f} MB; {p['bytes'] / 1e6:.0f} MB copied in "
                    f"{p['wall_s']:.0f} s)", "< 300 MB", "met" if p["vm_hwm_mb"] < TARGET_MB
                    else "NOT met"))  # fmt: skip
    for s in result["skipped"]:
        out.append((f"peak RSS, copy of {s['docs']:,} docs", "not measured: " + s["why"],
                    "< 300 MB", "n/a"))  # fmt: skip
    if len(result["points"]) >= 2:
        first, last = result["points"][0], result["points"][-1]
        out.append((f"growth {first['docs']:,} -> {last['docs']:,} docs",
                    f"{last['vm_hwm_mb'] - first['vm_hwm_mb']:+.1f} MB peak for "
                    f"{last['docs'] / first['docs']:.0f}x the documents", "flat", ""))  # fmt: skip
    return out


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--child", action="store_true", required=True)
    parser.add_argument("--source-uri", required=True)
    parser.add_argument("--target-uri", required=True)
    parser.add_argument("--workdir", required=True)
    child(parser.parse_args())
