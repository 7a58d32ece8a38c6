"""What `run --dry-run` hands back: the runner's own action list and the read-only checks around
it, as plain data (the CLI renders it, `--json` prints it). Reads only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mongo_promote.adapters.mongo import bounds_of
from mongo_promote.domain.analysis import Actions
from mongo_promote.domain.transforms.effects import expected_effects
from mongo_promote.run.preview import PlanSummary
from mongo_promote.run.runner import Planned
from mongo_promote.state.context import RunContext
from mongo_promote.state.lock import RunLock
from mongo_promote.state.step import Action
from mongo_promote.steps.indexes import planned_index_names
from mongo_promote.steps.precheck import option_losses


@dataclass(frozen=True)
class PlannedAction:
    """One action of the run as the dry-run lists it, under its step's number and title."""

    step: int
    title: str
    action: Action


@dataclass
class DryRun:
    """What `run` would do: the plan's summary, its actions in order, each collection's
    analysis, the transforms' expected effect, who holds the lock now (`run` would exit 4), and
    the target's fallbacks."""

    summary: PlanSummary
    analysis: Actions
    planned: list[PlannedAction]
    transforms: list[dict[str, Any]]  # expected effect of each transform
    indexes: dict[str, list[str]]  # index names each shadow gets
    lock_held_by: str | None
    fallbacks: list[str]  # what the target lacks (the run falls back)
    probed: bool  # fallbacks probed on the target, or expected from buildInfo
    # collection options the target is expected not to keep: {name: {options, policy}}
    option_losses: dict[str, dict[str, Any]]
    # how long each server is waited for: {"network": {side: text}, "long_operations":
    # {collection: seconds}} (index builds, counting scans, sorted reads: adapters/mongo.Bounds)
    bounds: dict[str, Any]

    @property
    def actions(self) -> list[Action]:
        return [p.action for p in self.planned]

    def to_json(self) -> dict[str, Any]:
        collections = self.analysis.collections
        return {
            "summary": self.summary.to_json(),
            **self.analysis.to_json(),
            "planned": [a.to_json() for a in self.actions],
            "transforms": self.transforms,
            "indexes": self.indexes,
            "lock_held_by": self.lock_held_by,
            "option_losses": self.option_losses,
            "oversized": {
                t["embed"]: t.get("oversized", []) for t in self.transforms if "embed" in t
            },
            "bounds": self.bounds,
            "documents_to_copy": sum(a.source_count for a in collections),
            "bytes_to_copy": sum(a.source_size for a in collections),
        }


def dry_run_of(
    ctx: RunContext, analysis: Actions, planned: list[Planned], summary: PlanSummary
) -> DryRun:
    """The dry-run of the planned actions: every read-only check, nothing written."""
    transforms = expected_effects(ctx.source_db, ctx.plan, ctx.now)
    holder = RunLock(ctx.target_client, ctx.plan.target.database, ctx.run_id).live_holder()
    indexes = {
        a.name: planned_index_names(a, ctx.plan.indexes.get(a.name, []), ctx.target_caps)
        for a in analysis.collections
    }
    return DryRun(
        summary,
        analysis,
        [PlannedAction(p.step.number, p.step.title, p.action) for p in planned],
        transforms,
        indexes,
        holder.describe() if holder else None,
        ctx.target_caps.lacks(),
        ctx.target_caps.probed,
        option_losses(ctx, analysis),
        bounds_of_run(ctx, analysis),
    )


def bounds_of_run(ctx: RunContext, analysis: Actions) -> dict[str, Any]:
    """Each server's network timeout, and each collection's bound for the operations that may
    rightly take longer (its index build, counting scans, sorted reads), from its size."""
    source, target = bounds_of(ctx.source_client), bounds_of(ctx.target_client)
    return {
        "network": {"source": source.describe(), "target": target.describe()},
        "network_s": {"source": source.network_s, "target": target.network_s},
        "long_operations": {
            a.name: max(
                b.long_operation(a.source_size, a.source_count) for b in (source, target)
            )
            for a in analysis.collections
        },
        "long_operations_set_by_plan": ctx.plan.long_operation_timeout is not None,
    }
