"""The pre-pass of a run with a write freeze (issue 17), with the application still live: which
production collections changed since the backup (expected: the application writes), and how long
the frozen work will take, from rates this run measured; over `max_window` the run stops before
freeze.start, production untouched."""

from __future__ import annotations

import contextlib
import itertools
import secrets
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pymongo.errors import PyMongoError

from mongo_promote.adapters.dump import Manifest
from mongo_promote.checksum import hashed_count
from mongo_promote.console import human_bytes
from mongo_promote.domain.inventory import collection_stats
from mongo_promote.domain.names import TOOL_DATABASE
from mongo_promote.errors import OperationFailed
from mongo_promote.state.context import RunContext
from mongo_promote.state.step import Action, Result, RunState, StepBase
from mongo_promote.steps.drift import rehash

# collStats per collection inside the freeze: the one before its own rename, one after the other;
# and, `workers` at a time, two around the catch-up's read, the look before the first rename and
# the post-check's count
SERIAL_LOOKS, PARALLEL_LOOKS = 1, 4
RENAME_GUESS_S = 0.05  # when no rename could be timed (no write permission on the tool database)


class WindowTooLong(OperationFailed):
    """The pre-pass's estimate of the frozen work is over the plan's max_window."""


@dataclass
class Estimate:
    """The frozen work, part by part, in seconds, with how each was reckoned."""

    parts: dict[str, float]
    how: dict[str, str]
    not_counted: str = "the freeze's own commands and the before_cutover hooks"

    @property
    def seconds(self) -> float:
        return round(sum(self.parts.values()), 3)

    @property
    def dominated_by(self) -> str:
        return max(self.parts, key=lambda k: self.parts[k]) if self.parts else "nothing"

    def describe(self) -> str:
        part = self.dominated_by
        return (
            f"{self.seconds:.1f} s, dominated by {self.how.get(part, part)}: "
            f"{self.parts.get(part, 0):.1f} s (not counted: {self.not_counted})"
        )

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "seconds": self.seconds, "dominated_by": self.dominated_by}


@dataclass
class Rates:
    """What this run measured: reading production (the pre-pass), the backup's whole work per
    byte (read, compress, write, read back), a rename, one collStats."""

    read_bps: float
    backup_bps: float
    rename_s: float
    stats_s: float
    notes: list[str] = field(default_factory=list)


def estimate_window(
    ctx: RunContext,
    rates: Rates,
    sizes: dict[str, int],
    changed: list[str],
    created: list[str],
) -> Estimate:
    """The frozen work: the catch-up reads every replaced collection (those already changed are
    rewritten into the backup as they are read, at the backup's pace), the looks at each
    collection, the renames (two, and a drop, where the server has no dropTarget)."""
    unchanged = sum(b for n, b in sizes.items() if n not in changed)
    rewritten = sum(sizes[n] for n in changed)
    renames_each = 1 if ctx.target_caps.rename_drop_target else 3
    count = len(sizes) + len(created)
    looks = SERIAL_LOOKS + PARALLEL_LOOKS / max(1, ctx.workers)
    parts = {
        "read": unchanged / rates.read_bps if rates.read_bps else 0.0,
        "rewrite": rewritten / rates.backup_bps if rates.backup_bps else 0.0,
        "renames": count * renames_each * rates.rename_s,
        "looks": count * looks * rates.stats_s,
    }
    how = {
        "read": f"reading the {len(sizes) - len(changed)} unchanged collection(s) the run replaces "
        f"({human_bytes(unchanged)} at {human_bytes(rates.read_bps)}/s)",
        "rewrite": f"reading and rewriting into the backup the {len(changed)} changed one(s) "
        f"({human_bytes(rewritten)} at {human_bytes(rates.backup_bps)}/s)",
        "renames": f"{count * renames_each} rename(s) at {rates.rename_s * 1000:.0f} ms",
        "looks": f"{count * (SERIAL_LOOKS + PARALLEL_LOOKS)} collStats at "
        f"{rates.stats_s * 1000:.0f} ms ({ctx.workers} at a time but one per rename)",
    }
    return Estimate({k: round(v, 3) for k, v in parts.items()}, how)


class PrePassStep(StepBase):
    """One action: re-hash each collection the run replaces (the drift guard's read, with the
    application live: a change is reported, not an error), measure the rates and estimate the
    window. Over the plan's max_window: WindowTooLong, before freeze.start."""

    title = "pre-pass (the application still live): changes since the backup, the window's estimate"
    kind = "pre-pass"

    def __init__(self, state: RunState, replaced: list[str], created: list[str]) -> None:
        super().__init__(state)
        self.replaced, self.created = replaced, created

    def plan(self, ctx: RunContext) -> list[Action]:
        limit = _max_window(ctx)
        return [
            self.action(
                "pre-pass",
                f"re-hash the {len(self.replaced)} live collection(s) the run replaces and compare "
                "with the backup (a change is expected: the application is live; the catch-up "
                "adds it to the backup inside the freeze); estimate the frozen work from rates "
                "measured in this run"
                + (
                    f"; over max_window ({limit:g} s) the run stops before freeze.start"
                    if limit
                    else ""
                ),
            )
        ]

    def apply(self, ctx: RunContext, action: Action) -> Result:
        started = time.monotonic()
        hashes = rehash(ctx, self.replaced)
        read_s = time.monotonic() - started
        sizes = {n: h.bytes for n, h in hashes.items()}
        now = {n: h.hexdigest() for n, h in hashes.items()}
        changed = [n for n in self.replaced if now[n] != self.state.backed_up.get(n)]
        read_bps = sum(sizes.values()) / read_s if read_s else 0.0
        rates = _rates(ctx, self.state, read_bps, self.replaced)
        estimate = estimate_window(ctx, rates, sizes, changed, self.created)
        result = {
            "prepass": {
                "checked": self.replaced,
                "changed": {
                    n: {"backed_up": self.state.backed_up.get(n), "now": now[n]} for n in changed
                },
                "hashes": now,
                "seconds": round(read_s, 3),
                "rates": asdict(rates),
                "estimate": estimate.to_json(),
            }
        }
        self.resume(ctx, action, result)
        self._say(ctx, changed, estimate)
        limit = _max_window(ctx)
        if limit and estimate.seconds > limit:
            raise WindowTooLong(
                f"the write freeze's estimated window is {estimate.describe()}, over max_window "
                f"({limit:g} s): freeze.start was not run. Raise max_window, or run when less has "
                "to be read inside the freeze"
            )
        return result

    def resume(self, ctx: RunContext, action: Action, result: Result) -> None:
        prepass = result["prepass"]
        self.state.prepass = dict(prepass["hashes"])
        self.state.report.freeze.update(
            estimate_s=prepass["estimate"]["seconds"],
            estimate=prepass["estimate"],
            changed_at_prepass=sorted(prepass["changed"]),
        )

    def _say(self, ctx: RunContext, changed: list[str], estimate: Estimate) -> None:
        if changed:
            shown = ", ".join(
                f"{n} ({hashed_count(self.state.backed_up[n]):,} -> "
                f"{hashed_count(self.state.prepass[n]):,} documents)"
                if n in self.state.backed_up
                else n
                for n in changed
            )
            ctx.out.info(
                f"  {len(changed)} of {len(self.replaced)} collection(s) changed since the backup "
                f"(expected: the application is live; the catch-up takes them in the freeze): {shown}"
            )
        else:
            ctx.out.info(
                f"  none of the {len(self.replaced)} collection(s) changed since the backup"
            )
        ctx.out.info(f"  estimated window: {estimate.describe()}")


def _max_window(ctx: RunContext) -> float | None:
    freeze = ctx.plan.freeze
    if freeze is None or freeze.max_window is None:
        return None
    return freeze.max_window.total_seconds()


def _rates(ctx: RunContext, state: RunState, read_bps: float, names: list[str]) -> Rates:
    notes: list[str] = []
    backup = state.report.backup
    backup_bps = 0.0
    try:
        manifest = Manifest.load(Path(backup["dir"]))
        raw = sum(e.bytes for e in manifest.collections)
        backup_bps = raw / backup["seconds"] if backup.get("seconds") else 0.0
    except (OperationFailed, OSError, KeyError):
        notes.append("the backup's pace could not be read: rewriting is counted at the read pace")
    return Rates(
        read_bps=round(read_bps, 1),
        backup_bps=round(backup_bps or read_bps, 1),
        rename_s=_rename_seconds(ctx, notes),
        stats_s=_stats_seconds(ctx, names),
        notes=notes,
    )


def _stats_seconds(ctx: RunContext, names: list[str]) -> float:
    """One collStats, timed on a few of the replaced collections."""
    names = names[:5]
    if not names:
        return 0.0
    started = time.monotonic()
    for name in names:
        collection_stats(ctx.target_db, name)
    return round((time.monotonic() - started) / len(names), 4)


def _rename_seconds(ctx: RunContext, notes: list[str]) -> float:
    """One rename, timed on a scratch collection of the tool's own database (dropped again)."""
    db = ctx.target_client[TOOL_DATABASE]
    first = f"prepass_{secrets.token_hex(4)}"
    names = [first, f"{first}_b", f"{first}_c"]
    try:
        db[first].insert_one({"_id": 1})
        started = time.monotonic()
        for old, new in itertools.pairwise(names):
            ctx.target_client.admin.command(
                "renameCollection", f"{TOOL_DATABASE}.{old}", to=f"{TOOL_DATABASE}.{new}"
            )
        return round((time.monotonic() - started) / (len(names) - 1), 4)
    except PyMongoError as exc:
        notes.append(
            f"no rename could be timed ({type(exc).__name__}): {RENAME_GUESS_S} s each assumed"
        )
        return RENAME_GUESS_S
    finally:
        for name in names:
            with contextlib.suppress(PyMongoError):
                db.drop_collection(name)
