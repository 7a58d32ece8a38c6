"""The instant rollback's swap: each collection put back under its name by renames only, what it
replaces taken out and kept aside (never dropped); and `undo_renames`, a run undoing its own
renames (a failure part-way through a frozen cutover)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from pymongo.errors import OperationFailure

from mongo_promote.adapters.mongo import collection_uuids
from mongo_promote.domain.names import UNDONE_INFIX, recreated_name
from mongo_promote.errors import OperationFailed
from mongo_promote.state.context import RunContext
from mongo_promote.state.journal import CUTOVER_UNDONE, Kind
from mongo_promote.state.step import Action, Phase, Result, RunState, StepBase
from mongo_promote.steps import cutover

_ATTEMPTS = 5  # a name re-created between the two renames is taken out again, this many times


@dataclass(frozen=True)
class Swap:
    """One collection's swap, as the rollback planned it (`run/rollback.py`) and journalled it in
    its header: the live collection renamed to `take_out` and kept (None: the name is free now),
    then `put_back` renamed in under the name (None: the name stays free)."""

    collection: str
    take_out: str | None
    put_back: str | None
    live_uuid: str | None = None  # what the name holds when planned (checked again before)
    put_back_uuid: str | None = None
    put_back_count: int | None = None  # its count when planned (its hash's, or collStats')
    # its content hash "<count>:<hex>" when known without a read (the run's backup of it):
    # journalled as what this swap installs, for a rollback of this rollback
    put_back_fingerprint: str | None = None
    # the taken-out collection's content hash as the rolled-back run installed it (cleanup's
    # baseline for "written to since"): journalled, never computed here
    kept_fingerprint: str | None = None
    written_since: str | None = None  # what the counts say of the application's writes since

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Swap:
        known = {k: data.get(k) for k in cls.__dataclass_fields__ if k != "collection"}
        return cls(str(data["collection"]), **known)

    def describe(self) -> str:
        steps = []
        if self.take_out:
            steps.append(f"renamed aside and kept as {self.take_out}")
        if self.put_back:
            steps.append(f"{self.put_back} renamed back in")
        return f"{self.collection}: " + ", then ".join(steps) + " (renames only)"


@dataclass
class Swapped:
    collection: str
    took_out: str | None  # where the live collection is kept now (None: there was none)
    put_back: str | None
    window_ms: float | None  # how long the name did not exist (None: resumed, or one rename)
    recreated: list[str]  # names written meanwhile, re-created between the renames: kept too
    method: str = "swap"


class SwapStep(StepBase):
    """One action per collection: fenced by the lock (by time), the live collection checked to be
    the one planned (its UUID, from one listCollections of every collection taken before the
    first swap of this process), then the renames. Idempotent from every intermediate state (a
    crash between the two renames: `--resume` finishes it)."""

    kind = Kind.CUTOVER  # what a rollback of this rollback finds in its journal
    phase: Phase = "cutover"
    finish_unsynced = True  # a swap's finish is found again on the server by `swap_one`

    def __init__(self, state: RunState, swaps: list[Swap], *, keep: str = UNDONE_INFIX) -> None:
        super().__init__(state)
        self.swaps = {s.collection: s for s in swaps}
        self.keep = keep
        self.title = f"swap back: {len(swaps)} collection(s), renames only"
        # every collection's UUID before the first swap of this process; each swap takes its own
        # names out of it once (its renames touch no other swap's), a failure drops it
        self.present: dict[str, str | None] | None = None

    def plan(self, ctx: RunContext) -> list[Action]:
        return [self.action(f"swap:{n}", s.describe(), n) for n, s in self.swaps.items()]

    def apply(self, ctx: RunContext, action: Action) -> Result:
        swap = self.swaps[str(action.collection)]
        self.state.fence()
        if self.present is None:
            self.present = collection_uuids(ctx.target_db)
        names = [n for n in (swap.collection, swap.take_out, swap.put_back) if n]
        seen = {n: self.present.pop(n) for n in names if n in self.present}
        try:
            done = swap_one(ctx, swap, seen)
        except BaseException:
            self.present = None
            raise
        result = {"result": asdict(done)}
        self.resume(ctx, action, result)
        return result

    def resume(self, ctx: RunContext, action: Action, result: Result) -> None:
        done = result["result"]
        name = str(action.collection)
        swap = self.swaps[name]
        self.state.report.cutover.append(done)
        entry = self.state.report.collection(name)
        entry.update(action="swap back", put_back=swap.put_back)
        if swap.put_back_count is not None:
            self.state.counts[name] = swap.put_back_count
        for kept in [done["took_out"], *done["recreated"]]:
            if kept:
                self.state.report.keep(self.keep, name, kept)
                entry["kept_aside"] = kept
                entry["written_since_cutover"] = swap.written_since


def swap_one(ctx: RunContext, swap: Swap, present: dict[str, str | None] | None = None) -> Swapped:
    """The renames of one swap, from whatever state a crash left: the name taken out (unless it
    is already, or free), then `put_back` renamed in (unless it is already). What a rollback of
    this rollback checks is in the rollback's header (the journal reads its swaps as their
    `cutover_renames`): nothing is journalled here. `present`: which of its names exist, with
    their UUIDs, as just listed (None: one listCollections now)."""
    name, take_out, put_back = swap.collection, swap.take_out, swap.put_back
    if present is None:
        present = collection_uuids(ctx.target_db, [n for n in (name, take_out, put_back) if n])
    took_out: str | None = take_out if take_out in present else None
    taking_out = bool(take_out and not took_out and name in present)
    putting_back = bool(put_back and put_back in present)
    started = None
    if taking_out:
        assert take_out is not None
        if swap.live_uuid and present[name] and present[name] != swap.live_uuid:
            raise OperationFailed(
                f"{name} is not the collection the rollback found when it started (its UUID "
                "changed: another writer replaced it meanwhile); nothing of it was renamed"
            )
        cutover.crash_point(name, "before_rename")
        started = time.perf_counter()
        cutover.rename(ctx, name, take_out)
        took_out = take_out
        cutover.crash_point(name, "after_aside")
    recreated: list[str] = []
    if putting_back:
        assert put_back is not None
        recreated = _put_back(ctx, name, put_back)
    elif put_back and name not in present:
        raise OperationFailed(
            f"swap of {name}: neither {name} nor {put_back} exists any more (dropped meanwhile?)"
        )
    window = None if started is None else round((time.perf_counter() - started) * 1000, 2)
    cutover.crash_point(name, "after_install")
    return Swapped(name, took_out, put_back, window, recreated)


def _put_back(ctx: RunContext, name: str, put_back: str) -> list[str]:
    """`put_back` renamed to `name`. A write that re-created the name since it was taken out is
    taken out too (kept under `<name>__recreated_<run>_<n>`, reported), never dropped."""
    kept: list[str] = []
    for attempt in range(_ATTEMPTS):
        try:
            cutover.rename(ctx, put_back, name)
            return kept
        except OperationFailure as exc:
            if exc.code != cutover.NAMESPACE_EXISTS and not collection_uuids(ctx.target_db, [name]):
                raise
        kept.append(recreated_name(name, ctx.run_id, attempt))  # written to meanwhile
        ctx.out.warn(f"{name} was re-created between the two renames: kept as {kept[-1]}")
        cutover.rename(ctx, name, kept[-1])
    raise OperationFailed(
        f"swap of {name}: the name was re-created at every attempt; {put_back} is kept as it "
        f"is, and what was written under {name} is in {', '.join(kept)}"
    )


def undo_renames(ctx: RunContext, state: RunState, *, fenced: bool = True) -> list[str]:
    """Undo the renames run ctx.run_id made so far, newest first, from its own journal and what
    the server shows: each installed collection goes back to its shadow (so `--resume` can cut
    over again), each previous collection (kept, or `__old_` renamed aside) back under its name.
    Then `cutover_undone` is journalled: its cutover actions count as not done. Fenced by the
    lock. For a failure part-way through a frozen cutover (the freeze is still on: nobody
    writes); returns the collections put back as they were.

    A collection replaced by one atomic dropTarget rename (keep_previous: false) has no previous
    collection left: OperationFailed names it, after the others are undone (`rollback` restores
    it from the backup). `fenced=False` (the lock was lost meanwhile: the renames of this run
    are put back all the same, each only while its name holds what this run installed there)."""
    journal = state.journal
    if journal is None:
        raise OperationFailed("undo_renames needs the run's journal")
    changes = [c for c in journal.acted_on() if c.kind == Kind.CUTOVER]
    backup = journal.backup_of()
    present = collection_uuids(ctx.target_db)
    undone, lost = [], []
    for change in reversed(changes):
        name, shadow = change.collection, ctx.shadow_name(change.collection)
        renames = change.renames
        replaced = (
            renames.kept_as is not None if renames else bool(backup and name in backup.replaced)
        )
        previous = renames.kept_as if renames else ctx.aside_name(name)
        if previous not in present:
            previous = None
        if replaced and previous is None and name in present and shadow not in present:
            lost.append(name)  # installed over the previous one with dropTarget: it is gone
            continue
        if fenced:
            state.fence()
        swap = Swap(name, shadow, previous, renames.installed_uuid if renames else None)
        swap_one(ctx, swap)
        undone.append(name)
    state.record(CUTOVER_UNDONE, collections=undone)
    state.report.cutover = [c for c in state.report.cutover if c.get("collection") not in undone]
    for name in undone:
        state.report.kept_previous.pop(name, None)
    if lost:
        raise OperationFailed(
            f"renames undone for {', '.join(undone) or 'no collection'}; {', '.join(lost)} "
            "replaced with dropTarget (keep_previous: false) cannot be put back by a rename: "
            f"`{ctx.rollback_command()}` restores it from the backup"
        )
    return undone
