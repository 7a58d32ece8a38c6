"""What a rollback may undo: only what the rolled-back run did to production, and only while
production still holds what that run left there (fingerprints journalled at cutover)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mongo_promote.adapters.mongo import content_hash
from mongo_promote.checksum import hashed_count
from mongo_promote.domain.names import aside_name, made_by_run, shadow_name
from mongo_promote.errors import OperationFailed
from mongo_promote.state.context import RunContext
from mongo_promote.state.journal import Journal, Kind, rolled_back_by

ABSENT = "absent"  # what a collection the run dropped must still be


@dataclass
class Acted:
    """One collection the rolled-back run changed, and what production must hold now."""

    name: str
    expected: str | None  # content hash "<count>:<hex>", ABSENT, or None (nothing to compare)
    how: str


def rollback_header(
    ctx: RunContext, journal: Journal, run_id: str, *, allow_target_drift: bool
) -> dict[str, Any] | None:
    """The rollback's own journal header (what to restore, drop, clean up), or None after saying
    why there is nothing to do. Reads only; raises OperationFailed when production changed since
    the cutover, unless `allow_target_drift`."""
    undone_by = rolled_back_by(ctx.paths.base, run_id)
    if undone_by:
        ctx.out.info(
            f"run {run_id} was already rolled back by run {undone_by}: nothing to roll back; "
            f"nothing was touched (`{ctx.rollback_command(undone_by)}` undoes that rollback)"
        )
        return None
    backup = journal.backup_of()
    present = set(ctx.target_db.list_collection_names())
    resume = ctx.command(journal.header().command, "--resume", run_id)
    acted = _acted(journal, run_id, present, resume)
    leftovers = sorted(
        c
        for c in present
        if made_by_run(c, run_id)
    )
    if backup is None or not acted:
        why = "took no backup" if backup is None else "cut over nothing"
        ctx.out.info(
            f"run {run_id} {why}: production holds nothing of it, nothing to roll back; "
            "nothing was touched"
            + (
                f" (its shadows {', '.join(leftovers)} remain: "
                f"`{ctx.command('run', '--resume', run_id)}` uses them, or drop them)"
                if leftovers
                else ""
            )
        )
        return None
    changed = _changed_since(ctx, acted, present)
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
    replaced, created = set(backup.replaced), set(backup.created)
    ctx.out.detail(  # every collection is in the rollback's plan summary (its prompt)
        f"rolling back run {run_id} from {backup.dir}: "
        + ", ".join(f"{a.name} ({a.how})" for a in acted)
    )
    return {
        "command": "rollback",
        "rolls_back": run_id,
        "backup": backup.dir,
        "only": sorted(a.name for a in acted if a.name in replaced),
        "drop": sorted(a.name for a in acted if a.name in created and a.name not in replaced),
        "artifacts": leftovers,
        "changed_since_cutover": changed,
    }


def _acted(journal: Journal, run_id: str, present: set[str], resume: str) -> list[Acted]:
    """The collections the run renamed in (finished, or half done and visible on the server)
    and those a rollback's drop step dropped."""
    acted: dict[str, Acted] = {}
    for change in journal.acted_on():
        name = change.collection
        if change.kind == Kind.DROP and change.dropped:
            acted[name] = Acted(name, ABSENT, "dropped by it")
        if change.kind != Kind.CUTOVER or name in acted:
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


def _changed_since(ctx: RunContext, acted: list[Acted], present: set[str]) -> list[str]:
    """Each collection whose state differs from what the run left, with counts."""
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
                    f"{a.name}: {hashed_count(a.expected):,} document(s) at cutover, {hashed_count(now):,} "
                    "now, content changed"
                )
    return changed
