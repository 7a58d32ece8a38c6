"""The steps of each command that changes the target, in stages: a step's number is its stage's position."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from mongo_promote.domain.names import PREVIOUS_INFIX, UNDONE_INFIX
from mongo_promote.redact import redact_uri
from mongo_promote.state.context import RunContext
from mongo_promote.state.report import RunReport
from mongo_promote.state.step import RunState, Step, in_stages
from mongo_promote.steps.cutover import CutoverStep
from mongo_promote.steps.freeze import FreezeEndStep, FreezeStartStep
from mongo_promote.steps.hooks import HooksStep
from mongo_promote.steps.preflight import PreflightStep
from mongo_promote.steps.swap import Swap, SwapStep

if TYPE_CHECKING:
    from mongo_promote.domain.analysis import Actions
    from mongo_promote.steps.gate import Undo
    from mongo_promote.steps.restore import Dump

# The steps only a promotion (or a load from a backup) needs are imported by the function that
# builds them: a rollback by renames loads none of the copy, transforms, validation or dump code.

def new_state(ctx: RunContext, shadows: list[str], *, resumed: bool) -> RunState:
    """An empty report for this run, and the collections whose shadows it builds."""
    plan = ctx.plan
    report = RunReport(
        run_id=ctx.run_id,
        plan=str(ctx.loaded.path),
        plan_fingerprint=ctx.loaded.fingerprint,
        source={"uri": redact_uri(plan.source.uri), "database": plan.source.database},
        target={"uri": redact_uri(plan.target.uri), "database": plan.target.database},
        resumed=resumed,
        capabilities={"source": ctx.source_caps.to_dict(), "target": ctx.target_caps.to_dict()},
    )
    return RunState(report=report, shadows=shadows)


def promotion_steps(
    ctx: RunContext,
    state: RunState,
    analysis: Actions,
    *,
    allow_target_drift: bool,
    run_hooks: bool,
    health_gate: str | None = None,
    undo: Undo | None = None,
) -> list[Step]:
    """`run`: preflight; the before_backup hooks and the backup; copy; indexes; validate; the drift
    guard; the before_cutover hooks and the cutover; the after_cutover hooks; post-checks; the
    health gate (`health_gate`: the plan's unless given; `undo` is its rollback). The on_failure
    hooks are listed last and run only when the run fails.

    With a `freeze` in the plan, after validation (all of it with the application live): the
    pre-pass (in place of the drift guard), freeze.start, the catch-up, the before_cutover hooks
    and the cutover, the post-checks, freeze.end, the after_cutover hooks, the caught-up writes
    counted and the kept previous collections checked against the backup, then the health gate
    (see `frozen_stages`)."""
    from mongo_promote.steps.backup import BackupStep
    from mongo_promote.steps.copy import CopyStep
    from mongo_promote.steps.drift import DriftStep
    from mongo_promote.steps.gate import HealthGateStep
    from mongo_promote.steps.indexes import IndexStep
    from mongo_promote.steps.postchecks import PostChecksStep
    from mongo_promote.steps.precheck import PrecheckStep
    from mongo_promote.steps.validate import ValidateStep

    report = state.report
    report.left_alone = [asdict(x) for x in analysis.left_alone]
    for a in analysis.collections:
        report.collection(a.name).update(
            action=a.action, source_count=a.source_count, target_count_before=a.target_count
        )
    names = [a.name for a in analysis.collections]
    checks: dict[str, Any] = {
        "source_access": "read only: the tool sends no write to the source",
        "lock": f"held by this run in {ctx.plan.target.database!r} (mongo_promote.locks)",
        "collections_to_replace": analysis.replaced,
        "collections_to_create": analysis.created,
        "workers": ctx.workers,
        "keep_previous": ctx.plan.cutover.keep_previous,
    }
    keep = PREVIOUS_INFIX if ctx.plan.cutover.keep_previous else None
    validate = ValidateStep(state, analysis)
    backup = BackupStep(
        state,
        analysis.backup,
        replaced=analysis.replaced,
        created=analysis.created,
        expected_bytes=analysis.backup_bytes,
    )
    gate = health_gate or ctx.plan.health_gate
    gated = [[HealthGateStep(state, gate, undo=undo)]] if gate != "off" else []
    live: list[list[Step]] = [
        [PreflightStep(state, checks), PrecheckStep(state, analysis)],
        [HooksStep(state, "before_backup", enabled=run_hooks), backup],
        # each shadow is read back for validation as soon as its copy is done
        [CopyStep(state, analysis.collections, after_each=validate.read_back)],
        [IndexStep(state, analysis.collections)],
        [validate],
    ]
    cutover: list[Step] = [
        HooksStep(state, "before_cutover", enabled=run_hooks),
        CutoverStep(
            state,
            names,
            allow_drift=allow_target_drift,
            frozen=ctx.plan.freeze is not None,
            keep=keep,
        ),
    ]
    on_failure = [HooksStep(state, "on_failure", enabled=run_hooks)]
    if ctx.plan.freeze is not None:
        checks["freeze"] = {
            "start": [h.command for h in ctx.plan.freeze.start],
            "end": [h.command for h in ctx.plan.freeze.end],
            "max_window_s": _seconds(ctx.plan.freeze.max_window),
            "commands": "run" if run_hooks else "skipped (--no-hooks)",
        }
        frozen = frozen_stages(
            state,
            analysis,
            cutover,
            allow=allow_target_drift,
            run_hooks=run_hooks,
            keep=keep is not None,
        )
        return in_stages(*live, *frozen, *gated, listed_last=on_failure)
    return in_stages(
        *live,
        [DriftStep(state, analysis.replaced, allow=allow_target_drift)],
        cutover,
        [HooksStep(state, "after_cutover", enabled=run_hooks)],
        [PostChecksStep(state, names)],
        *gated,
        listed_last=on_failure,
    )


def frozen_stages(
    state: RunState,
    analysis: Actions,
    cutover: list[Step],
    *,
    allow: bool,
    run_hooks: bool,
    keep: bool = False,
) -> list[list[Step]]:
    """A run with a write freeze, after validation: the pre-pass (live); freeze.start; the
    catch-up; the before_cutover hooks and the cutover; the post-checks; freeze.end; the
    after_cutover hooks; the caught-up writes counted (outside the window); with `keep`
    (keep_previous), whether the freeze held: the kept previous collections against the backup."""
    from mongo_promote.steps.catchup import CatchUpStep
    from mongo_promote.steps.caughtup import CaughtUpStep
    from mongo_promote.steps.held import FreezeHeldStep
    from mongo_promote.steps.postchecks import PostChecksStep
    from mongo_promote.steps.prepass import PrePassStep

    names = [a.name for a in analysis.collections]
    held: list[list[Step]] = [[FreezeHeldStep(state)]] if keep else []
    return [
        [PrePassStep(state, analysis.replaced, analysis.created)],
        [FreezeStartStep(state, enabled=run_hooks)],
        [CatchUpStep(state, analysis.replaced, analysis.created, allow=allow)],
        cutover,
        [PostChecksStep(state, names)],
        [FreezeEndStep(state, enabled=run_hooks)],
        [HooksStep(state, "after_cutover", enabled=run_hooks)],
        [CaughtUpStep(state, analysis.replaced)],
        *held,
    ]


def _seconds(duration: timedelta | None) -> float | None:
    return None if duration is None else duration.total_seconds()


def inside_freeze(
    ctx: RunContext, state: RunState, stages: list[list[Step]], *, run_hooks: bool
) -> list[list[Step]]:
    """The stages that change production in a rollback (its swap, restore cutover and drops)
    inside the plan's write freeze: freeze.start before them, freeze.end after (the runner ends
    it whatever happens once it started). Without a freeze, or nothing to change: as they are."""
    if ctx.plan.freeze is None or not stages:
        return stages
    return [
        [FreezeStartStep(state, enabled=run_hooks)],
        *stages,
        [FreezeEndStep(state, enabled=run_hooks)],
    ]


def restore_steps(
    ctx: RunContext,
    state: RunState,
    dump: Dump | None,
    *,
    present: list[str],
    drop: list[str],
    artifacts: list[str] | None = None,
    swaps: list[Swap] | None = None,
    rollback: bool = False,
    run_hooks: bool = True,
) -> list[Step]:
    """`restore` and `rollback`: preflight; a backup of what they replace or drop; the load into
    shadows (checked against the backup); indexes; cutover; the drops (rollback); post-checks.
    `artifacts`: a rolled-back run's leftover shadows and asides, dropped without a backup (the
    asides hold what that run's own backup holds).

    A rollback (`rollback`) keeps aside what its cutover replaces (`<name>__undone_<id>`, unless
    the plan says keep_previous: false) and swaps back by renames every collection in `swaps`
    (its previous one kept): with nothing to load or drop, it is preflight and the swap alone
    (no backup, no read of the data). With a `freeze` in the plan, a rollback's renames and drops
    run inside it (`inside_freeze`)."""
    loaded = [d.name for d in dump.collections] if dump is not None else []
    replaced = sorted(n for n in {*loaded, *drop} if n in present)
    drop = drop + [a for a in artifacts or [] if a not in drop]
    for name in loaded:
        state.report.collection(name)["action"] = "restore"
    checks: dict[str, Any] = {
        "backup": str(dump.dir) if dump is not None else None,
        "verified": dump is not None and dump.manifest is not None,
        "collections_to_restore": loaded,
        "collections_to_drop": drop,
    }
    created = [n for n in loaded if n not in present]
    stages: list[list[Step]] = [[PreflightStep(state, checks)]]
    if replaced or not rollback:
        from mongo_promote.steps.backup import BackupStep

        stages.append([BackupStep(state, replaced, replaced=replaced, created=created)])
    if dump is not None:
        from mongo_promote.steps.indexes import IndexStep
        from mongo_promote.steps.restore import LoadStep

        stages += [[LoadStep(state, dump)], [IndexStep(state, dump.actions(), declared=False)]]
    production: list[list[Step]] = []
    if dump is not None:
        keep = UNDONE_INFIX if rollback and ctx.plan.cutover.keep_previous else None
        production.append([CutoverStep(state, loaded, keep=keep)])
    if swaps:
        checks["collections_to_swap_back"] = [s.collection for s in swaps]
        production.append([SwapStep(state, swaps)])
    if drop or not rollback:
        from mongo_promote.steps.restore import DropStep

        production.append([DropStep(state, drop)])
    stages += inside_freeze(ctx, state, production, run_hooks=run_hooks) if rollback else production
    if loaded or not rollback:
        from mongo_promote.steps.postchecks import PostChecksStep

        stages.append([PostChecksStep(state, loaded)])
    return in_stages(*stages)


def backup_steps(
    ctx: RunContext, state: RunState, names: list[str], *, expected_bytes: int
) -> list[Step]:
    """`backup`: preflight; the verified backup of `names` (reads the target only)."""
    from mongo_promote.steps.backup import BackupStep

    checks: dict[str, Any] = {"collections": names, "backup": str(ctx.paths.backup_dir)}
    return in_stages(
        [PreflightStep(state, checks)],
        [BackupStep(state, names, replaced=[], created=[], expected_bytes=expected_bytes)],
    )
