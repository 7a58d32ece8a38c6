"""The charts of a bench run (matplotlib, PNG into bench/results/<stamp>/).

- `wall-cpu-<engine>-<dataset>.png`: wall time and client CPU of each contender, side by side
  per scale (Meeshy) or per document count (plain); medians of the repeats, log scale.
- `timeline-<engine>-<dataset>-<size>.png`: one `ours` run (the last at the largest size) as a
  bar per step and per worker (bench/timeline.py).

    python bench/charts.py bench/results/<stamp>.json [...]    (charts again from saved results)
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import timeline

# dataset -> where its results sit under an engine, and what its sizes are called
SECTIONS = {"meeshy": ("scales", "scale"), "plain": ("plain", "documents")}
SERIES = (  # label, contenders whose medians add up to it
    ("mongo-promote run", ("ours",)),
    ("Database Tools (seed procedure)", ("tools",)),
    ("naive pymongo", ("naive",)),
    ("servers' limit (read + write)", ("read", "write")),
)
COLOURS = ("#2ca02c", "#1f77b4", "#ff7f0e", "#9e9e9e")


def _median(runs: list[dict[str, Any]], key: str) -> float | None:
    """Of the runs that went through (a run the drift guard stopped is no comparable time)."""
    found = [r[key] for r in runs if isinstance(r.get(key), int | float) and not r.get("error")]
    return statistics.median(found) if found else None


def _value(block: dict[str, Any], names: tuple[str, ...], key: str) -> float | None:
    values = [_median(block["runs"].get(n, []), key) for n in names]
    return None if any(v is None for v in values) else sum(v for v in values if v is not None)


def wall_cpu(engine: str, dataset: str, sizes: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(sizes)
    series = [(name, parts) for name, parts in SERIES
              if any(_value(b, parts, "wall_s") is not None for b in sizes.values())]  # fmt: skip
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    width = 0.8 / max(1, len(series))
    for ax, (key, unit) in zip(axes, (("wall_s", "wall time (s)"),
                                      ("client_cpu_s", "client CPU (s)")), strict=True):  # fmt: skip
        for i, (name, parts) in enumerate(series):
            xs, ys = [], []
            for j, size in enumerate(labels):
                v = _value(sizes[size], parts, key)
                if v is not None:
                    xs.append(j + (i - (len(series) - 1) / 2) * width)
                    ys.append(v)
            bars = ax.bar(xs, ys, width, label=name, color=COLOURS[SERIES.index((name, parts))])
            ax.bar_label(bars, fmt="%.3g", fontsize=6.5, padding=1)
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels([_size_label(dataset, s, sizes[s]) for s in labels], fontsize=8)
        values = [v for _, parts in series for b in sizes.values() if (v := _value(b, parts, key))]
        if values and max(values) > 30 * min(values):  # sizes 100x apart: log, else from 0
            ax.set_yscale("log")
        ax.set_ylabel(unit)
        ax.grid(True, axis="y", which="both", alpha=0.3)
    axes[0].legend(fontsize=7)
    what = "Meeshy demo data" if dataset == "meeshy" else "plain copy, no transform"
    fig.suptitle(f"{engine}: {what} (medians; client CPU counts child processes)", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _size_label(dataset: str, size: str, block: dict[str, Any]) -> str:
    docs = block.get("data", {}).get("source_docs")
    if dataset == "meeshy":
        return f"scale {size}" + (f"\n{docs:,} docs" if docs else "")
    return f"{int(size):,} docs"


def last_timeline(sizes: dict[str, Any]) -> tuple[str, list[dict[str, Any]]] | None:
    """The largest size's last run of `ours` with a timeline (one that went through if any;
    the run of a `rollback` contender counts too)."""
    for size in sorted(sizes, key=float, reverse=True):
        runs = sizes[size]["runs"]
        found = runs.get("ours", []) + [r["run"] for r in runs.get("rollback", []) if "run" in r]
        found = [r for r in found if r.get("timeline")]
        if found:
            best = [r for r in found if not r.get("error")] or found
            return size, best[-1]["timeline"]
    return None


def all_charts(out: dict[str, Any], directory: Path) -> list[Path]:
    paths = []
    for engine, entry in out["engines"].items():
        for dataset, (section, unit) in SECTIONS.items():
            sizes = entry.get(section) or {}
            measured = [_value(b, parts, "wall_s") for b in sizes.values() for _, parts in SERIES]
            if any(v is not None for v in measured):
                name = f"wall-cpu-{engine}-{dataset}.png"
                paths.append(wall_cpu(engine, dataset, sizes, directory / name))
            found = last_timeline(sizes)
            if found:
                size, run_bars = found
                title = f"mongo-promote run on {engine}, {dataset} {unit} {size}: steps and workers"
                name = f"timeline-{engine}-{dataset}-{size}.png"
                paths.append(timeline.draw(run_bars, directory / name, title))
    return paths


def main(argv: list[str]) -> int:
    import json

    for name in argv:
        path = Path(name)
        out = json.loads(path.read_text())
        for p in all_charts(out, path.with_suffix("")):
            print(p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
