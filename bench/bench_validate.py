"""Benchmark validation against the copy it checks (DESIGN §8: full checksum validation costs no
more than the copy itself).

The demo plan end to end up to validation, on the Meeshy dataset: copy_all into shadows (timed),
build_indexes (timed apart, not part of either figure), then validate_shadows twice:
- as `run` calls it, with the content hashes the copy computed while reading the source;
- with no copy hashes, so every source collection is read and hashed again (what
  `mongo-promote validate` does against the live target after a run).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench_support import actions_of, drop_all_shadows, make_ctx, seed_dataset, timed

from mongo_promote.steps import validate as validate_step
from mongo_promote.steps.copy import copy_all
from mongo_promote.steps.indexes import build_indexes
from mongo_promote.steps.validate import validate_shadows

# The parts of _validate timed separately (wrapped in this process only, for the breakdown).
PARTS = {
    "_transformed_checks": "content of transformed collections (decode + compare)",
    "_checksum_check": "checksums of copied collections",
    "_reference_check": "reference checks",
    "_index_check": "index checks",
}


@contextmanager
def _parts_timed() -> Iterator[dict[str, float]]:
    """Seconds spent in each part of the validation, summed over the threads that ran it."""
    spent = dict.fromkeys(PARTS, 0.0)
    originals = {name: getattr(validate_step, name) for name in PARTS}

    def wrap(name: str, fn: Any) -> Any:
        def timed_part(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - started

        return timed_part

    for name, fn in originals.items():
        setattr(validate_step, name, wrap(name, fn))
    try:
        yield spent
    finally:
        for name, fn in originals.items():
            setattr(validate_step, name, fn)


def run(env: Any, *, scales: list[float], workers: int = 4) -> dict[str, Any]:
    result: dict[str, Any] = {"workers": workers, "runs": []}
    for scale in scales:
        data = seed_dataset(env, scale)
        ctx = make_ctx(env, data["database"], workers=workers)  # the demo plan: fold + rewrite
        actions = actions_of(ctx)
        with timed(env) as copy_t:
            copied = copy_all(ctx, actions.collections)
        hashes = {r.name: r.content_hash for r in copied}
        with timed(env) as index_t:
            for action in actions.collections:
                build_indexes(ctx, action, ctx.shadow_name(action.name))
        with _parts_timed() as with_hashes_parts, timed(env) as with_hashes_t:
            with_hashes = validate_shadows(ctx, actions, hashes)
        with _parts_timed() as full_parts, timed(env) as full_t:
            full = validate_shadows(ctx, actions)
        drop_all_shadows(ctx, actions)
        result["runs"].append({
            "scale": scale,
            "database": data["database"],
            "collections": len(copied),
            "docs": sum(r.count for r in copied),
            "transformed": [a.name for a in actions.collections if a.transformed],
            "copy_s": copy_t.wall,
            "index_build_s": index_t.wall,
            "validate_with_copy_hashes_s": with_hashes_t.wall,
            "validate_full_s": full_t.wall,
            "validate_with_copy_hashes_client_cpu_s": with_hashes_t.cpu,
            "validate_full_client_cpu_s": full_t.cpu,
            "copy_client_cpu_s": copy_t.cpu,
            "validate_with_copy_hashes_parts_s": _named(with_hashes_parts),
            "validate_full_parts_s": _named(full_parts),
            "checks": len(full.checks),
            "passed_with_copy_hashes": with_hashes.passed,
            "passed_full": full.passed,
            "failures": [f"{c.collection} {c.kind}: {c.detail}" for c in full.failures()],
            "ratio_with_copy_hashes": with_hashes_t.wall / copy_t.wall,
            "ratio_full": full_t.wall / copy_t.wall,
        })  # fmt: skip
    return result


def _named(parts: dict[str, float]) -> dict[str, float]:
    """Seconds per part, summed over the threads that ran it (validation runs collections side by
    side, ctx.workers at once), so they may add up to more than the wall time."""
    return {PARTS[k]: v for k, v in parts.items()}


def rows(result: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    out = []
    for r in result["runs"]:
        s = f"scale {r['scale']:g}"
        verdict = "passed" if r["passed_full"] and r["passed_with_copy_hashes"] else "FAILED"
        out.append((f"copy_all (demo plan), {s}",
                    f"{r['docs']:,} docs, {r['collections']} collections in {r['copy_s']:.2f} s "
                    f"(index build {r['index_build_s']:.2f} s, not counted)", "", ""))  # fmt: skip
        for label, key, ratio in (("validate_shadows, copy hashes", "validate_with_copy_hashes_s",
                                   "ratio_with_copy_hashes"),
                                  ("validate, source re-hashed", "validate_full_s", "ratio_full")):  # fmt: skip
            out.append((f"  {label}", f"{r[key]:.2f} s = {r[ratio]:.2f}x the copy "
                        f"({r['checks']} checks {verdict})", "≤ 1x", "met" if r[ratio] <= 1
                        else "NOT met"))  # fmt: skip
            parts = r[key[: -len("_s")] + "_parts_s"]
            out.append(("    thread-seconds by part", ", ".join(
                f"{k} {v:.2f} s" for k, v in parts.items() if v >= 0.005), "", ""))  # fmt: skip
    return out
