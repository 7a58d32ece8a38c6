"""One run of `mongo-promote run` as a timeline, from its journal: a bar per step and per worker.

`bars` turns the journal's records into bars (seconds from the start of the contender's clock):
start-up (imports, connections, probe, analysis: up to the journal's first record); each
action from its `action_started` to its `action_finished` (one lane per step; per-collection
actions such as `indexes:Message` side by side in their step's lane); each collection the backup
dumped, on the worker that dumped it (the backup action's `timings`), then the backup's
verification; each collection copied, on the worker that copied it (the `copied` record's
`started_at`, `worker`, `stats.copy_seconds`), then its read-back for validation on the same
worker (up to `finished_at`); an action that never finished (the one that failed) up to the
last record; and the report and exit after the last record. `draw` makes the
PNG (matplotlib).
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

COLOURS = {
    "start-up": "#9e9e9e", "preflight": "#bdbdbd", "backup": "#1f77b4", "verify": "#7fb2e5",
    "copy": "#2ca02c", "read-back": "#98df8a", "indexes": "#ff7f0e", "validate": "#9467bd",
    "drift-guard": "#8c564b", "cutover": "#d62728", "post-checks": "#e377c2",
    "report, exit": "#7f7f7f", "failed": "#000000",
}  # fmt: skip
Bar = dict[str, Any]


def events(journal: Path) -> list[dict[str, Any]]:
    out = []
    for line in journal.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue  # a torn line: the journal's own readers skip it too
    return out


def _t(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def step_seconds(records: list[dict[str, Any]]) -> dict[str, float]:
    """Seconds per step (the sum of its actions' spans): `indexes:Message` counts for indexes."""
    started: dict[str, float] = {}
    steps: dict[str, float] = {}
    for e in records:
        if e["event"] == "action_started":
            started[e["key"]] = _t(e["at"])
        elif e["event"] == "action_finished" and e["key"] in started:
            name = e["key"].split(":", 1)[0]
            steps[name] = steps.get(name, 0.0) + _t(e["at"]) - started.pop(e["key"])
    return {k: round(v, 4) for k, v in steps.items()}


def bars(records: list[dict[str, Any]], t0: float, t1: float) -> list[Bar]:
    """The run's bars, in seconds from t0 (the contender's clock start; t1 its end)."""
    out: list[Bar] = []

    def bar(lane: str, kind: str, start: float, end: float, label: str = "") -> None:
        out.append({"lane": lane, "kind": kind, "label": label,
                    "start": round(start - t0, 4), "end": round(end - t0, 4)})  # fmt: skip

    if not records:
        return out
    bar("start-up", "start-up", t0, _t(records[0]["at"]), "imports, probe, analysis")
    started: dict[str, float] = {}
    for e in records:
        if e["event"] == "action_started":
            started[e["key"]] = _t(e["at"])
        elif e["event"] == "action_finished" and e["key"] in started:
            step, _, what = e["key"].partition(":")
            begin, end = started.pop(e["key"]), _t(e["at"])
            bar(step, step, begin, end, what)
            if step == "backup":
                _backup_workers((e.get("result") or {}).get("timings") or {}, end, bar)
        elif e["event"] == "copied" and e.get("started_at"):
            begin = _t(e["started_at"])
            copied = begin + float((e.get("stats") or {}).get("copy_seconds") or 0.0)
            lane = e.get("worker") or "copy"
            bar(lane, "copy", begin, copied, e["collection"])
            if e.get("finished_at") and _t(e["finished_at"]) > copied:
                bar(lane, "read-back", copied, _t(e["finished_at"]), "")
    last = _t(records[-1]["at"])
    for key, begin in started.items():  # started, never finished: the action that failed
        step, _, what = key.partition(":")
        bar(step, "failed", begin, last, f"{what or step} (failed)")
    bar("report, exit", "report, exit", last, max(last, t1))
    return out


def _backup_workers(timings: dict[str, dict[str, str]], end: float, bar: Any) -> None:
    for name, t in timings.items():
        bar(t.get("worker") or "backup", "backup", _t(t["started_at"]), _t(t["finished_at"]), name)
    if timings:
        written = max(_t(t["finished_at"]) for t in timings.values())
        bar("backup", "verify", written, end, "verify")


def _lane_order(run_bars: list[Bar]) -> list[str]:
    """Lanes in the order their work began, each step followed by its workers (backup_0, ...)."""
    first: dict[str, float] = {}
    for b in run_bars:
        first[b["lane"]] = min(first.get(b["lane"], b["start"]), b["start"])

    def key(lane: str) -> tuple[float, int, str]:
        m = re.fullmatch(r"([a-z-]+)_(\d+)", lane)
        if m and m.group(1) in first:
            return first[m.group(1)], int(m.group(2)) + 1, lane
        return first[lane], 0, lane

    return sorted(first, key=key)


def draw(run_bars: list[Bar], path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    lanes = _lane_order(run_bars)
    row = {lane: i for i, lane in enumerate(lanes)}
    span = max((b["end"] for b in run_bars), default=1.0) or 1.0
    fig, ax = plt.subplots(figsize=(11, 0.38 * len(lanes) + 1.6))
    for b in run_bars:
        width = max(b["end"] - b["start"], span / 2000)
        whole_step = b["lane"] in ("backup", "copy") and b["kind"] == b["lane"]
        ax.barh(
            row[b["lane"]], width, left=b["start"], height=0.7,
            color=COLOURS.get(b["kind"], "#17becf"), alpha=0.35 if whole_step else 0.95,
            edgecolor="white", linewidth=0.3,
        )  # fmt: skip
        if b["label"] and width > (len(b["label"]) + 2) * span / 170:  # the label fits
            ax.text(b["start"] + width / 2, row[b["lane"]], b["label"], ha="center",
                    va="center", fontsize=6.5, clip_on=True,
                    color="white" if b["kind"] == "failed" else "black")  # fmt: skip
    ax.set_yticks(range(len(lanes)))
    ax.set_yticklabels([("   " if re.search(r"_\d+$", x) else "") + x for x in lanes], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, span * 1.01)
    ax.set_xlabel("seconds from the start of `mongo-promote run` (imports included)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, axis="x", alpha=0.3)
    kinds = [k for k in COLOURS if any(b["kind"] == k for b in run_bars)]
    ax.legend(
        handles=[Patch(color=COLOURS[k], label=k) for k in kinds], fontsize=7, ncol=6,
        loc="upper center", bbox_to_anchor=(0.5, -0.12 - 0.5 / len(lanes)), frameon=False,
    )  # fmt: skip
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
