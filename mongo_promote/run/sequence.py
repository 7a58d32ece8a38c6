"""The steps of each command that changes the target, numbered as the run prints them."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from mongo_promote.domain.analysis import Actions
from mongo_promote.redact import redact_uri
from mongo_promote.state.context import RunContext
from mongo_promote.state.report import RunReport
from mongo_promote.state.step import RunState, Step
from mongo_promote.steps.backup import BackupStep
from mongo_promote.steps.copy import CopyStep
from mongo_promote.steps.cutover import CutoverStep
from mongo_promote.steps.drift import DriftStep
from mongo_promote.steps.hooks import HooksStep
from mongo_promote.steps.indexes import IndexStep
from mongo_promote.steps.postchecks import PostChecksStep
from mongo_promote.steps.preflight import PreflightStep
from mongo_promote.steps.restore import DropStep, Dump, LoadStep
from mongo_promote.steps.validate import ValidateStep


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
) -> list[Step]:
    """`run`: 1 preflight, 2 backup (after the before_backup hooks), 3 copy, 4 indexes,
    5 validate, 6 drift guard, 7 cutover (after the before_cutover hooks), 8 after_cutover hooks,
    9 post-checks; the on_failure hooks are listed last and run only when the run fails."""
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
    }
    validate = ValidateStep(state, 5, analysis)
    return [
        PreflightStep(state, 1, checks),
        HooksStep(state, 2, "before_backup", enabled=run_hooks),
        BackupStep(
            state,
            2,
            analysis.backup,
            replaced=analysis.replaced,
            created=analysis.created,
            expected_bytes=analysis.backup_bytes,
        ),
        # each shadow is read back for validation as soon as its copy is done
        CopyStep(state, 3, analysis.collections, after_each=validate.read_back),
        IndexStep(state, 4, analysis.collections),
        validate,
        DriftStep(state, 6, analysis.replaced, allow=allow_target_drift),
        HooksStep(state, 7, "before_cutover", enabled=run_hooks),
        CutoverStep(state, 7, names, allow_drift=allow_target_drift),
        HooksStep(state, 8, "after_cutover", enabled=run_hooks),
        PostChecksStep(state, 9, names),
        HooksStep(state, 9, "on_failure", enabled=run_hooks),
    ]


def restore_steps(
    ctx: RunContext,
    state: RunState,
    dump: Dump,
    *,
    present: list[str],
    drop: list[str],
    artifacts: list[str] | None = None,
) -> list[Step]:
    """`restore` and `rollback`: 1 preflight, 2 backup of what they replace or drop, 3 load into
    shadows (checked against the backup), 4 indexes, 5 cutover, 6 drops (rollback), 7 post-checks.
    `artifacts`: a rolled-back run's leftover shadows and asides, dropped without a backup (the
    asides hold what that run's own backup holds)."""
    loaded = [d.name for d in dump.collections]
    replaced = sorted(n for n in {*loaded, *drop} if n in present)
    drop = drop + [a for a in artifacts or [] if a not in drop]
    for name in loaded:
        state.report.collection(name)["action"] = "restore"
    checks: dict[str, Any] = {
        "backup": str(dump.dir),
        "verified": dump.manifest is not None,
        "collections_to_restore": loaded,
        "collections_to_drop": drop,
    }
    return [
        PreflightStep(state, 1, checks),
        BackupStep(
            state, 2, replaced, replaced=replaced, created=[n for n in loaded if n not in present]
        ),
        LoadStep(state, 3, dump),
        IndexStep(state, 4, dump.actions(), declared=False),
        CutoverStep(state, 5, loaded),
        DropStep(state, 6, drop),
        PostChecksStep(state, 7, loaded),
    ]
