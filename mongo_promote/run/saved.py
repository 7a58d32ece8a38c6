"""Saved plans: `run --dry-run --save FILE` writes the reviewed plan, `run --from FILE` applies
exactly that or refuses, naming what moved.

The file (private, 0600) holds the run id the run will take, the plan file's sha256 and the
plan's fingerprint, the run's options, the inventory (every collection of both sides and its
class), the actions in order, and the content hash ("<count>:<hex>") of every source collection
the plan reads and every production collection it replaces. `--from` recomputes each and
refuses (exit 1) on any difference.
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mongo_promote.adapters.mongo import content_hash
from mongo_promote.checksum import hashed_count
from mongo_promote.console import to_json
from mongo_promote.domain.analysis import Actions
from mongo_promote.domain.inventory import Inventory
from mongo_promote.domain.plan import LoadedPlan
from mongo_promote.errors import PathError, PlanMoved, UsageError
from mongo_promote.files import write_private
from mongo_promote.run.runner import Planned
from mongo_promote.state.context import RunContext

KIND = "mongo-promote saved plan"
VERSION = 1


@dataclass
class SavedPlan:
    run_id: str
    plan: str
    plan_sha256: str
    plan_fingerprint: str
    options: dict[str, Any]  # workers, allow_target_drift, run_hooks
    inventory: dict[str, dict[str, str]]  # side -> {collection: class}
    actions: list[dict[str, Any]]  # {step, key, description}, in run order
    fingerprints: dict[str, dict[str, str]]  # source / target -> {collection: "<count>:<hex>"}
    saved_at: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"kind": KIND, "version": VERSION, **asdict(self)}


def plan_sha256(loaded: LoadedPlan) -> str:
    return hashlib.sha256(loaded.path.read_bytes()).hexdigest()


def reviewed(
    ctx: RunContext,
    inventory: Inventory,
    analysis: Actions,
    planned: list[Planned],
    options: dict[str, Any],
) -> SavedPlan:
    """What the dry-run showed, with the fingerprints of both sides (reads every collection the
    plan reads from the source and every one it replaces in production)."""
    return SavedPlan(
        run_id=ctx.run_id,
        plan=str(ctx.loaded.path),
        plan_sha256=plan_sha256(ctx.loaded),
        plan_fingerprint=ctx.loaded.fingerprint,
        options=options,
        inventory={
            side: {c.name: c.cls for c in getattr(inventory, side).collections}
            for side in ("source", "target")
        },
        actions=[p.action.to_json() for p in planned],
        fingerprints=fingerprints(ctx, analysis),
        saved_at=datetime.now(UTC).isoformat(),
    )


def fingerprints(ctx: RunContext, analysis: Actions) -> dict[str, dict[str, str]]:
    """Content hashes of the source collections the plan reads (copied, and embed sources) and
    of the production collections it replaces, ctx.workers at once."""
    reads = sorted({a.name for a in analysis.collections} | {e.source for e in ctx.plan.embeds})
    jobs = [("source", n) for n in reads] + [("target", n) for n in analysis.replaced]

    def hashed(job: tuple[str, str]) -> str:
        side, name = job
        db = ctx.source_db if side == "source" else ctx.target_db
        return content_hash(db[name]).hexdigest()

    with ThreadPoolExecutor(max_workers=max(1, ctx.workers), thread_name_prefix="saved") as pool:
        found = list(pool.map(hashed, jobs))
    result: dict[str, dict[str, str]] = {"source": {}, "target": {}}
    for (side, name), digest in zip(jobs, found, strict=True):
        result[side][name] = digest
    return result


def save(path: Path, saved: SavedPlan) -> Path:
    try:
        return write_private(Path(path), to_json(saved.to_json()) + "\n")
    except OSError as exc:
        raise PathError(f"cannot write the saved plan {path}: {exc.strerror or exc}") from None


def read_saved(path: Path) -> SavedPlan:
    """A saved plan, or exit 2 when the file is not one."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise UsageError(f"cannot read the saved plan {path}: {reason}") from None
    if not isinstance(data, dict) or data.get("kind") != KIND or data.get("version") != VERSION:
        raise UsageError(f"{path} is not a saved plan (run --dry-run --save FILE writes one)")
    fields = SavedPlan.__dataclass_fields__
    return SavedPlan(**{k: v for k, v in data.items() if k in fields})


def refuse_changed_plan(saved: SavedPlan, loaded: LoadedPlan, path: Path) -> None:
    """Before any connection: the plan file must be the one reviewed."""
    moved = []
    if str(loaded.path) != saved.plan:
        moved.append(f"the plan is {loaded.path}, the saved plan was made from {saved.plan}")
    elif plan_sha256(loaded) != saved.plan_sha256:
        moved.append(f"the plan file {loaded.path} changed since")
    elif loaded.fingerprint != saved.plan_fingerprint:
        moved.append("the plan's variables changed since (its fingerprint differs)")
    if moved:
        raise PlanMoved(f"refusing {path}: {'; '.join(moved)}; review it again (run --dry-run)")


def what_moved(saved: SavedPlan, now: SavedPlan) -> list[str]:
    """What differs between the reviewed plan and the same plan computed now, in words."""
    moved = []
    for side in ("source", "target"):
        before, after = saved.inventory.get(side, {}), now.inventory.get(side, {})
        if before != after:
            moved.append(f"the {side}'s inventory changed ({_changes(before, after)})")
    for side, what in (("source", "source collection"), ("target", "production collection")):
        before, after = saved.fingerprints.get(side, {}), now.fingerprints.get(side, {})
        for name in sorted(set(before) | set(after)):
            if before.get(name) != after.get(name):
                moved.append(
                    f"{what} {name} changed ({_counts(before.get(name), after.get(name))})"
                )
    if not moved and saved.actions != now.actions:
        changed = [a["description"] for a in now.actions if a not in saved.actions]
        moved.append("the actions changed: " + "; ".join(changed[:3]))
    return moved


def _changes(before: dict[str, str], after: dict[str, str]) -> str:
    parts = [f"new {n}" for n in sorted(set(after) - set(before))]
    parts += [f"gone {n}" for n in sorted(set(before) - set(after))]
    parts += [
        f"{n} now {after[n]} (was {before[n]})"
        for n in sorted(set(before) & set(after))
        if before[n] != after[n]
    ]
    return ", ".join(parts)


def _counts(before: str | None, after: str | None) -> str:
    def count(digest: str | None) -> str:
        return "absent" if digest is None else f"{hashed_count(digest):,} documents"

    if before and after and hashed_count(before) == hashed_count(after):
        return f"{count(after)}, content differs"
    return f"{count(before)} then, {count(after)} now"
