"""What a rollback may undo, and how: only what the rolled-back run did to production, and only while
production still holds what that run left there.

A collection whose previous one the run kept (keep_previous; or a rollback's kept-aside one) is
swapped back by renames: the live collection's UUID against the one journalled at cutover, no read,
no backup; what it takes out of production is kept aside. A collection whose previous one is gone
(cleaned up, or keep_previous: false) comes back from the run's backup as before, after its
fingerprint (count + content hash journalled at cutover) is compared with production."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from mongo_promote.adapters.mongo import collection_uuids, content_hash
from mongo_promote.checksum import hashed_count
from mongo_promote.domain.inventory import collection_stats
from mongo_promote.domain.names import aside_name, made_by_run, shadow_name, undone_name
from mongo_promote.errors import OperationFailed
from mongo_promote.state.context import RunContext
from mongo_promote.state.journal import Change, Journal, Kind, Renames, rolled_back_by
from mongo_promote.steps.swap import Swap

ABSENT = "absent"  # what a collection the run dropped must still be
SAME_COUNT = "unknown: same count, content not compared"  # all that counts can say


@dataclass
class Acted:
    """One collection the rolled-back run changed, and what production must hold now."""

    name: str
    expected: str | None  # content hash "<count>:<hex>", ABSENT, or None (nothing to compare)
    how: str
    renames: Renames | None = None  # the run kept what it replaced: swapped back, UUIDs checked


def rollback_header(
    ctx: RunContext, journal: Journal, run_id: str, *, allow_target_drift: bool
) -> dict[str, Any] | None:
    """The rollback's own journal header (what to swap back, restore, drop, clean up), or None
    after saying why there is nothing to do. Reads only: one listCollections, the stored counts of
    what it swaps, and (only for what comes back from the backup) a content hash of it. Raises
    OperationFailed when production changed since the cutover in a way the rollback would lose
    (a collection replaced since, or, restored from the backup, written to), unless
    `allow_target_drift`."""
    undone_by = rolled_back_by(ctx.paths.base, run_id)
    if undone_by:
        ctx.out.info(
            f"run {run_id} was already rolled back by run {undone_by}: nothing to roll back; "
            f"nothing was touched (`{ctx.rollback_command(undone_by)}` undoes that rollback)"
        )
        return None
    backup = journal.backup_of()
    present = collection_uuids(ctx.target_db)
    resume = ctx.command(journal.header().command, "--resume", run_id)
    acted = _acted(journal, run_id, present, resume)
    leftovers = sorted(c for c in present if made_by_run(c, run_id))
    swaps, changed = _swaps(ctx, acted, present)
    swapped = {s.collection for s in swaps}
    restored = [a for a in acted if a.name not in swapped and not _skipped(a, present)]
    if not swaps and not restored:
        ctx.out.info(
            f"run {run_id} cut over nothing: production holds nothing of it, nothing to roll "
            "back; nothing was touched"
            + (
                f" (its shadows {', '.join(leftovers)} remain: "
                f"`{ctx.command('run', '--resume', run_id)}` uses them, or drop them)"
                if leftovers
                else ""
            )
        )
        return None
    if restored and backup is None:
        raise OperationFailed(
            f"run {run_id} took no backup, and the previous collection of "
            f"{', '.join(a.name for a in restored)} is gone: nothing to restore it from"
        )
    changed += _changed_since(ctx, restored, set(present))
    if changed and not allow_target_drift:
        raise OperationFailed(
            f"production changed since run {run_id} cut over: {'; '.join(changed)}. Rolling back "
            "would lose those writes: refused. "
            f"`{ctx.command('rollback', '--run', run_id, '--allow-target-drift')}` rolls back "
            "anyway, after a verified backup of the current state (undo it with "
            f"`{ctx.rollback_command('<the rollback run id>')}`)"
        )
    for line in changed:
        ctx.out.warn(f"changed since the cutover (--allow-target-drift): {line}")
    replaced, created = (set(backup.replaced), set(backup.created)) if backup else (set(), set())
    _announce(ctx, run_id, swaps, restored, backup.dir if backup else None)
    return {
        "command": "rollback",
        "rolls_back": run_id,
        "backup": backup.dir if backup and restored else None,
        "only": sorted(a.name for a in restored if a.name in replaced),
        "drop": sorted(a.name for a in restored if a.name in created and a.name not in replaced),
        "artifacts": leftovers,
        "changed_since_cutover": changed,
        "swaps": [s.to_json() for s in swaps],
    }


def _announce(
    ctx: RunContext, run_id: str, swaps: list[Swap], restored: list[Acted], backup: str | None
) -> None:
    parts = [s.describe() for s in swaps]
    if restored:
        parts.append(
            f"from the backup {backup}: " + ", ".join(f"{a.name} ({a.how})" for a in restored)
        )
    # every collection is in the rollback's plan summary (its prompt): this line is the detail
    ctx.out.detail(f"rolling back run {run_id}: " + "; ".join(parts))
    same = [s.collection for s in swaps if s.take_out and s.written_since == SAME_COUNT]
    for s in swaps:
        if s.take_out and s.written_since and s.written_since != SAME_COUNT:
            ctx.out.info(f"  {s.collection}: written to since the cutover? {s.written_since}")
    if same:
        ctx.out.info(
            f"  written to since the cutover? {SAME_COUNT}: {', '.join(same)} (each is kept "
            "aside; `validate --run <this rollback>` compares them document by document)"
        )


def _acted(
    journal: Journal, run_id: str, present: dict[str, str | None], resume: str
) -> list[Acted]:
    """The collections the run renamed in (finished, or half done and visible on the server)
    and those a rollback's drop step dropped."""
    acted: dict[str, Acted] = {}
    for change in journal.acted_on():
        name = change.collection
        if change.kind == Kind.DROP and change.dropped:
            acted[name] = Acted(name, ABSENT, "dropped by it")
        if change.kind != Kind.CUTOVER or name in acted:
            continue
        if change.renames is not None:
            if _started(change, change.renames, present):
                acted[name] = Acted(name, change.fingerprint, "cut over", change.renames)
            continue
        if change.finished:
            acted[name] = Acted(name, change.fingerprint, "cut over")
            continue
        shadow, aside = shadow_name(name, run_id), aside_name(name, run_id)
        if shadow in present and aside in present and name in present:
            raise OperationFailed(
                f"run {run_id} stopped between the two renames of {name} and production "
                f"re-created {name} since: `{resume}` puts production back first "
                "(the writes made meanwhile are merged in); roll back after that"
            )
        if shadow not in present and name in present:  # renamed in, not yet journalled
            acted[name] = Acted(name, change.fingerprint, "cut over (not journalled)")
        elif aside in present and name not in present:  # renamed aside, shadow not yet in
            acted[name] = Acted(name, ABSENT, f"renamed aside to {aside}")
    return list(acted.values())


def _started(change: Change, renames: Renames, present: dict[str, str | None]) -> bool:
    """Whether the renames journalled before were begun: finished, or the name no longer holds
    what it held (its UUID), or the kept collection is there."""
    if change.finished or (renames.kept_as is not None and renames.kept_as in present):
        return True
    if change.collection not in present:
        return renames.kept_uuid is not None  # the live one was renamed away
    now = present[change.collection]
    return now is not None and now == renames.installed_uuid


def _skipped(a: Acted, present: dict[str, str | None]) -> bool:
    """A collection swapped back needs nothing else; a kept one created by the run (nothing to
    put back) that is gone already needs nothing either."""
    r = a.renames
    return r is not None and r.kept_as is None and a.name not in present


def _swaps(
    ctx: RunContext, acted: list[Acted], present: dict[str, str | None]
) -> tuple[list[Swap], list[str]]:
    """Each kept collection's swap (its previous one still there), and what changed since in a
    way a swap would lose (the name replaced since: another UUID)."""
    chosen, changed = [], []
    for a in acted:
        r = a.renames
        if r is None or (r.kept_as is not None and r.kept_as not in present):
            continue  # nothing kept, or the kept one is gone: restored from the backup
        if r.kept_as is None and a.name not in present:
            continue  # created by the run, and already gone
        if r.kept_as is not None and r.kept_uuid and present[r.kept_as] not in (None, r.kept_uuid):
            raise OperationFailed(
                f"{r.kept_as} is not the collection the run kept when it replaced {a.name} (its "
                "UUID changed since): refusing to put it back"
            )
        live = present.get(a.name) if a.name in present else None
        if a.name in present and live is not None and live != r.installed_uuid:
            changed.append(
                f"{a.name}: not the collection the run installed (another UUID: replaced since, "
                "by a later run or by hand)"
            )
        elif a.name not in present and r.installed_uuid is not None and r.kept_as in present:
            ctx.out.warn(
                f"{a.name} is absent now (dropped since the cutover): {r.kept_as} goes back"
            )
        chosen.append((a, r))
    counted = [a.name for a, _ in chosen if a.name in present]
    counted += [r.kept_as for _, r in chosen if r.kept_as and not r.kept_fingerprint]
    counts = _counts(ctx, counted)
    return [_swap(ctx, a, r, present, counts) for a, r in chosen], changed


def _swap(
    ctx: RunContext,
    a: Acted,
    r: Renames,
    present: dict[str, str | None],
    counts: dict[str, int | None],
) -> Swap:
    take = a.name in present
    put_back = r.kept_as
    known = r.kept_fingerprint  # the kept collection's content, as the run's backup holds it
    return Swap(
        collection=a.name,
        take_out=undone_name(a.name, ctx.run_id) if take else None,
        put_back=put_back,
        live_uuid=present.get(a.name) if take else None,
        put_back_uuid=present.get(put_back) if put_back else None,
        put_back_count=(hashed_count(known) if known else counts.get(put_back))
        if put_back
        else None,
        put_back_fingerprint=known if put_back else None,
        kept_fingerprint=a.expected if take and a.expected != ABSENT else None,
        written_since=_written_since(counts.get(a.name), r.installed_count) if take else None,
    )


def _counts(ctx: RunContext, names: list[str]) -> dict[str, int | None]:
    """Each collection's stored count (collStats: metadata, no scan), asked side by side."""
    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="count") as pool:
        found = pool.map(lambda n: collection_stats(ctx.target_db, n)[0], names)
        return dict(zip(names, found, strict=True))


def _written_since(now: int | None, installed: int | None) -> str:
    """What is cheap to know at once of the application's writes since the cutover: counts."""
    if installed is None or now is None:
        return "unknown: no count to compare"
    if now != installed:
        return f"yes: {installed:,} document(s) at cutover, {now:,} now"
    return SAME_COUNT


def _changed_since(ctx: RunContext, acted: list[Acted], present: set[str]) -> list[str]:
    """Each collection restored from the backup whose state differs from what the run left."""
    changed = []
    for a in acted:
        if a.expected is None:
            ctx.out.warn(f"{a.name}: no fingerprint journalled at cutover; not compared")
        elif a.expected == ABSENT:
            if a.name in present:
                count = ctx.target_db[a.name].estimated_document_count()
                changed.append(f"{a.name}: absent after the run, now {count:,} document(s)")
        elif a.name not in present:
            changed.append(
                f"{a.name}: {hashed_count(a.expected):,} document(s) at cutover, now dropped"
            )
        else:
            now = content_hash(ctx.target_db[a.name]).hexdigest()
            if now != a.expected:
                changed.append(
                    f"{a.name}: {hashed_count(a.expected):,} document(s) at cutover, "
                    f"{hashed_count(now):,} now, content changed"
                )
    return changed
