"""The library's public commands: one typed function per CLI command, usable without the CLI.

Every command is `command(loaded, out, <Command>Options) -> <Command>Result` (`seed` and `demo`,
which need no plan: `command(out, <Command>Options)`). Results are plain data with `to_json()`;
the CLI renders them (`cli/render/`), and `out` carries only a command's progress lines. Names
imported `X as X` are the types the CLI renders or catches, re-exported: it reaches no lower room.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pymongo
from pymongo.errors import PyMongoError

from mongo_promote.adapters.mongo import network_cause
from mongo_promote.console import Output, confirm_once
from mongo_promote.domain.inventory import (
    Inventory,
    collection_names,
    collection_size,
    take_inventory,
)
from mongo_promote.domain.plan import LoadedPlan, MissingVariable, bundled_plan_path, load_plan
from mongo_promote.domain.plan import describe_missing as describe_missing
from mongo_promote.errors import (
    LockHeld,
    OperationFailed,
    PathError,
    PlanMoved,
    PromoteError,
    UsageError,
)
from mongo_promote.files import directory_problem
from mongo_promote.redact import redact_uri
from mongo_promote.run.failures import classify
from mongo_promote.run.preview import PlanSummary as PlanSummary
from mongo_promote.run.preview import RestoreSummary, plan_summary, run_needs, without_them
from mongo_promote.run.rollback import rollback_header
from mongo_promote.run.runner import (
    Planned,
    Runner,
    plan_actions,
    resumable_journal,
    start_journal,
)
from mongo_promote.run.runner import PostChecksFailed as PostChecksFailed
from mongo_promote.run.sequence import backup_steps, new_state, promotion_steps, restore_steps
from mongo_promote.state.context import (
    RunContext,
    RunPaths,
    another_run,
    base_dir,
    command_line,
    connected,
    new_run_id,
    open_context,
    probe_target,
)
from mongo_promote.state.journal import LOCK_LOST, Header, Journal, latest_run, open_journal
from mongo_promote.state.lock import RunLock
from mongo_promote.state.report import RunSummary
from mongo_promote.state.report import Status as Status
from mongo_promote.state.step import RunState
from mongo_promote.steps.swap import Swap

if TYPE_CHECKING:
    from mongo_promote.adapters.health import (
        CheckResult as CheckResult,
    )
    from mongo_promote.adapters.health import (
        HealthReport as HealthReport,
    )
    from mongo_promote.adapters.health import (
        run_checks as run_checks,
    )
    from mongo_promote.demo.showcase import (
        DemoOptions as DemoOptions,
    )
    from mongo_promote.demo.showcase import (
        DemoResult as DemoResult,
    )
    from mongo_promote.demo.showcase import (
        DemoView as DemoView,
    )
    from mongo_promote.domain.analysis import (
        Actions as Actions,
    )
    from mongo_promote.domain.analysis import (
        analyse as analyse,
    )
    from mongo_promote.run.dryrun import (
        DryRun as DryRun,
    )
    from mongo_promote.run.dryrun import (
        PlannedAction as PlannedAction,
    )
    from mongo_promote.run.dryrun import (
        dry_run_of as dry_run_of,
    )
    from mongo_promote.run.refresh import (
        COMMAND_DONE as COMMAND_DONE,
    )
    from mongo_promote.run.refresh import (
        COMMAND_STARTED as COMMAND_STARTED,
    )
    from mongo_promote.run.refresh import (
        HEALTH_CHECK as HEALTH_CHECK,
    )
    from mongo_promote.run.refresh import (
        WAITING as WAITING,
    )
    from mongo_promote.run.refresh import (
        CommandResult as CommandResult,
    )
    from mongo_promote.run.refresh import (
        OnEvent as OnEvent,
    )
    from mongo_promote.run.refresh import (
        RefreshReport as RefreshReport,
    )
    from mongo_promote.run.saved import (
        SavedPlan as SavedPlan,
    )
    from mongo_promote.run.saved import (
        read_saved as read_saved,
    )
    from mongo_promote.run.saved import (
        refuse_changed_plan as refuse_changed_plan,
    )
    from mongo_promote.run.saved import (
        reviewed as reviewed,
    )
    from mongo_promote.run.saved import (
        save as save,
    )
    from mongo_promote.run.saved import (
        what_moved as what_moved,
    )
    from mongo_promote.state.history import (
        RunEntry as RunEntry,
    )
    from mongo_promote.state.history import (
        current_holders as current_holders,
    )
    from mongo_promote.state.history import (
        read_history as read_history,
    )
    from mongo_promote.steps.backup import (
        BackupResult as BackupResult,
    )
    from mongo_promote.steps.backup import (
        check_backup_dir as check_backup_dir,
    )
    from mongo_promote.steps.cleanup import (
        AgeGuard as AgeGuard,
    )
    from mongo_promote.steps.cleanup import (
        Candidate as Candidate,
    )
    from mongo_promote.steps.cleanup import (
        Chosen as Chosen,
    )
    from mongo_promote.steps.cleanup import (
        CleanupResult as CleanupResult,
    )
    from mongo_promote.steps.cleanup import (
        after_run as after_run,
    )
    from mongo_promote.steps.cleanup import (
        choose as choose,
    )
    from mongo_promote.steps.cleanup import (
        cleanup_steps as cleanup_steps,
    )
    from mongo_promote.steps.cleanup import (
        refuse_changed as refuse_changed,
    )
    from mongo_promote.steps.cleanup import (
        resumed_candidates as resumed_candidates,
    )
    from mongo_promote.steps.restore import (
        Dump as Dump,
    )
    from mongo_promote.steps.restore import (
        read_dump as read_dump,
    )
    from mongo_promote.steps.validate import (
        Check as Check,
    )
    from mongo_promote.steps.validate import (
        ValidationReport as ValidationReport,
    )
    from mongo_promote.steps.validate import (
        kept_aside_changes as kept_aside_changes,
    )
    from mongo_promote.steps.validate import (
        monitor as monitor,
    )
    from mongo_promote.steps.validate import (
        validate_live as validate_live,
    )

# Modules only some commands need: each command imports its own (a rollback by renames loads
# none of the analysis, dry-run, validation, cleanup, demo or dump code); the CLI's `api.X` of
# their names goes through `__getattr__`.
_LAZY = {
    "ValidateResult": "mongo_promote.steps.validate:ValidationReport",
    "HealthResult": "mongo_promote.adapters.health:HealthReport",
    "RefreshStagingResult": "mongo_promote.run.refresh:RefreshReport",
    "CheckResult": "mongo_promote.adapters.health",
    "HealthReport": "mongo_promote.adapters.health",
    "run_checks": "mongo_promote.adapters.health",
    "DemoOptions": "mongo_promote.demo.showcase",
    "DemoResult": "mongo_promote.demo.showcase",
    "DemoView": "mongo_promote.demo.showcase",
    "Actions": "mongo_promote.domain.analysis",
    "analyse": "mongo_promote.domain.analysis",
    "DryRun": "mongo_promote.run.dryrun",
    "PlannedAction": "mongo_promote.run.dryrun",
    "dry_run_of": "mongo_promote.run.dryrun",
    "COMMAND_DONE": "mongo_promote.run.refresh",
    "COMMAND_STARTED": "mongo_promote.run.refresh",
    "HEALTH_CHECK": "mongo_promote.run.refresh",
    "WAITING": "mongo_promote.run.refresh",
    "CommandResult": "mongo_promote.run.refresh",
    "OnEvent": "mongo_promote.run.refresh",
    "RefreshReport": "mongo_promote.run.refresh",
    "SavedPlan": "mongo_promote.run.saved",
    "read_saved": "mongo_promote.run.saved",
    "refuse_changed_plan": "mongo_promote.run.saved",
    "reviewed": "mongo_promote.run.saved",
    "save": "mongo_promote.run.saved",
    "what_moved": "mongo_promote.run.saved",
    "RunEntry": "mongo_promote.state.history",
    "current_holders": "mongo_promote.state.history",
    "read_history": "mongo_promote.state.history",
    "BackupResult": "mongo_promote.steps.backup",
    "check_backup_dir": "mongo_promote.steps.backup",
    "AgeGuard": "mongo_promote.steps.cleanup",
    "Candidate": "mongo_promote.steps.cleanup",
    "Chosen": "mongo_promote.steps.cleanup",
    "CleanupResult": "mongo_promote.steps.cleanup",
    "after_run": "mongo_promote.steps.cleanup",
    "choose": "mongo_promote.steps.cleanup",
    "cleanup_steps": "mongo_promote.steps.cleanup",
    "refuse_changed": "mongo_promote.steps.cleanup",
    "resumed_candidates": "mongo_promote.steps.cleanup",
    "Dump": "mongo_promote.steps.restore",
    "read_dump": "mongo_promote.steps.restore",
    "Check": "mongo_promote.steps.validate",
    "ValidationReport": "mongo_promote.steps.validate",
    "kept_aside_changes": "mongo_promote.steps.validate",
    "monitor": "mongo_promote.steps.validate",
    "validate_live": "mongo_promote.steps.validate",
}


def __getattr__(name: str) -> Any:
    """A name of `_LAZY` ("module" or "module:its name there"), imported on first use."""
    where = _LAZY.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, _, attr = where.partition(":")
    return getattr(importlib.import_module(module), attr or name)


# ------------------------------------------------------------------ run and dry-run

LOCK_RELEASE_S = 10  # releasing the lock at the end: one delete, not worth a network timeout


@dataclass
class DryRunOptions:
    workers: int = 4
    allow_target_drift: bool = False
    run_hooks: bool = True
    state_dir: Path | None = None
    health_gate: str | None = None  # off, report, rollback: instead of the plan's health_gate
    save: Path | None = None  # the dry-run: write the reviewed plan here (`run --from` applies it)


@dataclass
class RunOptions(DryRunOptions):
    yes: bool = False
    resume: str | None = None
    keep_shadows: bool = False
    from_file: Path | None = None  # apply exactly this saved plan (`run --dry-run --save`)
    confirm: Callable[[str], bool] | None = None  # None: stdin is not interactive


@dataclass
class RunResult:
    run_id: str | None
    status: str
    backup_dir: str | None
    report: str | None
    validation_passed: bool | None
    summary: RunSummary | None = None  # for people: not in the JSON

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": str(self.status),
            "backup_dir": self.backup_dir,
            "report": self.report,
            "validation": {"passed": self.validation_passed},
        }


@dataclass
class DryRunResult:
    """What `run` would do (`run.dryrun.DryRun`), in the shape `run --dry-run --json` prints;
    `saved`: the file the reviewed plan went to (--save) and the run id it reserves."""

    dry_run: DryRun
    saved: dict[str, str] | None = None

    def to_json(self) -> dict[str, Any]:
        outcome = RunResult(None, Status.DRY_RUN, None, None, None)
        return {**outcome.to_json(), "actions": self.dry_run.to_json(), "saved": self.saved}


def run(loaded: LoadedPlan, out: Output, options: RunOptions) -> RunResult:
    """The promotion: asks once (showing the plan's summary), then runs under the lock.

    Refused before any connection (exit 2) when the plan's hooks (or freeze commands, or the
    health checks of a health gate) need variables that are unset, unless `run_hooks` is off.
    `from_file`: the saved plan is applied as reviewed (its run id and options), or refused
    (exit 1) when the plan file, the inventory or any fingerprint moved since. Post-checks that
    fail after the cutover raise PostChecksFailed, which carries the run's summary."""
    from mongo_promote.steps.backup import check_backup_dir

    saved = None
    if options.from_file is not None:
        saved, options = _saved_run(loaded, options)
    if options.run_hooks:
        needs = run_needs(loaded.plan, options.health_gate)
        loaded.require(
            *needs,
            doing="run: the plan's commands need variables",
            otherwise=without_them(loaded.missing_for(*needs)),
        )
    with open_context(
        loaded,
        out,
        run_id=options.resume or (saved.run_id if saved else None),
        state_dir=options.state_dir,
        workers=options.workers,
        probe=True,
    ) as ctx:
        if options.resume:
            resumable_journal(ctx)  # a changed plan is refused before anything is written
        promotion = _plan_promotion(ctx, options, resumed=bool(options.resume))
        if not options.resume:
            check_backup_dir(ctx.paths.backup_dir, promotion.analysis.backup_bytes)
        if saved is not None:
            _refuse_moved(ctx, promotion, saved, options)
        summary = plan_summary(ctx, promotion.analysis, run_hooks=options.run_hooks)
        confirm_once(
            f"Apply this plan to {summary.target}?",
            options.confirm,
            yes=options.yes,
            details=summary.lines(),
        )
        state = promotion.state
        result = _execute(
            ctx, promotion.planned, state, {"command": "run"}, options.resume, options.keep_shadows
        )
        return RunResult(
            ctx.run_id,
            state.report.status,
            state.report.backup.get("dir"),
            str(ctx.paths.report_json),
            True,
            result,
        )


def dry_run(loaded: LoadedPlan, out: Output, options: DryRunOptions) -> DryRunResult:
    """Every read-only check and the exact actions `run` would apply, with the plan's summary.
    Writes nothing to any server; with `save`, the reviewed plan goes to that file (0600)."""
    from mongo_promote.run.dryrun import dry_run_of
    from mongo_promote.run.saved import reviewed, save
    from mongo_promote.steps.backup import check_backup_dir

    with open_context(loaded, out, state_dir=options.state_dir, workers=options.workers) as ctx:
        promotion = _plan_promotion(ctx, options, resumed=False)
        check_backup_dir(ctx.paths.backup_dir, promotion.analysis.backup_bytes)
        summary = plan_summary(ctx, promotion.analysis, run_hooks=options.run_hooks)
        planned = dry_run_of(ctx, promotion.analysis, promotion.planned, summary)
        result = DryRunResult(planned)
        if options.save is not None:
            reviewed_plan = reviewed(
                ctx, promotion.inventory, promotion.analysis, promotion.planned, _options(options)
            )
            path = save(options.save, reviewed_plan)
            apply = command_line(loaded, ctx.paths.base, "run", "--from", str(path.absolute()))
            result.saved = {"file": str(path.absolute()), "run_id": ctx.run_id, "apply": apply}
        return result


def lock_error(result: DryRunResult) -> LockHeld | None:
    """The error `run` would stop with now: another run holds the lock (exit 4)."""
    holder = result.dry_run.lock_held_by
    return None if holder is None else LockHeld(f"another run holds the lock: {holder}")


@dataclass
class _Promotion:
    inventory: Inventory
    analysis: Actions
    planned: list[Planned]
    state: RunState


def _plan_promotion(ctx: RunContext, options: DryRunOptions, *, resumed: bool) -> _Promotion:
    """Inventory, analysis and the runner's action list: the same for the dry-run and the run."""
    from mongo_promote.domain.analysis import analyse

    gate = options.health_gate or ctx.plan.health_gate
    if gate != "off" and not ctx.plan.health:
        raise UsageError(f"health gate {gate}: the plan has no health checks to run")
    inventory = take_inventory(ctx.plan, ctx.source_db, ctx.target_db)
    analysis = analyse(ctx.plan, inventory)
    state = new_state(ctx, [a.name for a in analysis.collections], resumed=resumed)
    steps = promotion_steps(
        ctx,
        state,
        analysis,
        allow_target_drift=options.allow_target_drift,
        run_hooks=options.run_hooks,
        health_gate=options.health_gate,
        undo=partial(_gate_rollback, run_hooks=options.run_hooks),
    )
    return _Promotion(inventory, analysis, plan_actions(ctx, steps), state)


def _options(options: DryRunOptions) -> dict[str, Any]:
    """The options a saved plan keeps: `run --from` runs with them."""
    return {
        "workers": options.workers,
        "allow_target_drift": options.allow_target_drift,
        "run_hooks": options.run_hooks,
        "health_gate": options.health_gate,
    }


def _saved_run(loaded: LoadedPlan, options: RunOptions) -> tuple[SavedPlan, RunOptions]:
    """The saved plan `options.from_file` and the options it was reviewed with; refused before
    any connection when the plan file changed or it was applied already."""
    from mongo_promote.run.saved import read_saved, refuse_changed_plan

    path = options.from_file
    assert path is not None
    if options.resume:
        raise UsageError("--from applies a saved plan, --resume continues a run: give one")
    saved = read_saved(path)
    refuse_changed_plan(saved, loaded, path)
    paths = RunPaths.of(loaded, options.state_dir, saved.run_id)
    if paths.journal.exists():
        again = command_line(loaded, paths.base, "run", "--resume", saved.run_id)
        raise UsageError(
            f"{path} was applied already: it is run {saved.run_id} (`{again}` continues it if "
            "it stopped; a new dry-run --save makes a new plan)"
        )
    return saved, replace(options, **saved.options)


def _refuse_moved(
    ctx: RunContext, promotion: _Promotion, saved: SavedPlan, options: RunOptions
) -> None:
    """The saved plan, computed again now: the same inventory, fingerprints and actions."""
    from mongo_promote.run.saved import reviewed, what_moved

    now = reviewed(
        ctx, promotion.inventory, promotion.analysis, promotion.planned, _options(options)
    )
    moved = what_moved(saved, now)
    if moved:
        raise PlanMoved(
            f"refusing {options.from_file} (reviewed {saved.saved_at}): {'; '.join(moved)}; "
            "nothing was touched "
            f"(review it again: `{ctx.command('run', '--dry-run', '--save', str(options.from_file))}`)"
        )


def _gate_rollback(ctx: RunContext, state: RunState, *, run_hooks: bool = True) -> str:
    """The health gate's rollback of run ctx.run_id: a rollback run of its own (id, journal,
    report), under the lock the run holds, inside the plan's write freeze (started again: the
    run's ended before its after_cutover hooks); its run id."""
    if state.journal is None:
        raise OperationFailed("the health gate's rollback needs the run's journal")
    rollback_ctx = another_run(ctx)
    header = rollback_header(rollback_ctx, state.journal, ctx.run_id, allow_target_drift=False)
    if header is None:
        raise OperationFailed(f"run {ctx.run_id} changed nothing in production to roll back")
    try:
        if ctx.plan.freeze is not None:
            ctx.out.info(
                "the write freeze ended after the cutover: the rollback starts it again for its "
                "swap (freeze.start, the renames, freeze.end)"
                + ("" if run_hooks else "; its commands skipped (--no-hooks)")
            )
        asked = _Asked(None, True, None, None, None, False, run_hooks)
        done = _restore_in(rollback_ctx, header, asked, lock=state.lock)
    except PromoteError as exc:
        begun = rollback_ctx.paths.journal.exists()
        raise OperationFailed(
            exc.message
            + (
                f" (rollback run {rollback_ctx.run_id}: "
                f"`{ctx.command('rollback', '--resume', rollback_ctx.run_id)}` finishes it)"
                if begun
                else f" (`{ctx.rollback_command()}` rolls back)"
            )
        ) from exc
    return done.run_id


def _execute(
    ctx: RunContext,
    planned: list[Planned],
    state: RunState,
    header: dict[str, Any],
    resume: str | None,
    keep_shadows: bool,
    *,
    locked: bool = True,
    lock: RunLock | None = None,
) -> RunSummary:
    """Under the lock (`locked`: every command that writes to the target): the journal (new or
    resumed), then the runner. A lease lost meanwhile is journalled as it happens; the runner
    stops before cutover, and before any rename. `lock`: a lease already held by the run this
    one runs inside (the health gate's rollback), kept."""
    problem = directory_problem(ctx.paths.run_dir)
    if problem:  # --state-dir under a file, a read-only place: before the lock, before anything
        raise PathError(f"cannot write the run's records to {ctx.paths.run_dir}: {problem}")
    if lock is not None:
        journal = start_journal(ctx, header, resume=bool(resume))
        state.journal = journal
        return Runner(ctx, planned, journal, state, keep_shadows=keep_shadows, lock=lock).execute()
    journals: list[Journal] = []

    def lost(reason: str) -> None:
        ctx.out.warn(f"the run's lock was lost: {reason}")
        for journal in journals:
            journal.record(LOCK_LOST, reason=reason)

    lock = RunLock(ctx.target_client, ctx.plan.target.database, ctx.run_id, on_lost=lost)
    if locked:
        try:
            lock.acquire()
        except PyMongoError as exc:
            raise classify(exc, ctx, "start", resume="", rollback="") from exc
    try:
        journal = start_journal(ctx, header, resume=bool(resume))
        journals.append(journal)
        state.journal = journal
        runner = Runner(
            ctx, planned, journal, state, keep_shadows=keep_shadows, lock=lock if locked else None
        )
        return runner.execute()
    except PromoteError as exc:
        if network_cause(exc) is not None:  # a server was lost: not waited for once more
            lock.abandon()  # the lease ends by itself; `--resume` on this host takes it at once
        raise
    finally:
        if locked:
            with contextlib.suppress(PyMongoError), pymongo.timeout(LOCK_RELEASE_S):
                lock.release()


# ------------------------------------------------------------------ restore and rollback


@dataclass
class RestoreOptions:
    backup_dir: Path | None = None  # None: only with `resume`
    only: list[str] | None = None  # these collections of the backup (None: every one)
    drop: list[str] | None = None  # collections to drop as well
    resume: str | None = None  # the restore's own run id, to continue it
    state_dir: Path | None = None
    identity: Path | None = None  # the age identity file that decrypts an encrypted backup
    dry_run: bool = False  # say what would happen to each collection; write nothing
    yes: bool = False
    confirm: Callable[[str], bool] | None = None


@dataclass
class RollbackOptions:
    run_id: str | None = None  # the run to undo (None: the latest)
    resume: str | None = None  # the rollback's own run id, to continue it
    state_dir: Path | None = None
    identity: Path | None = None
    allow_target_drift: bool = False
    dry_run: bool = False  # say what would happen to each collection; write nothing
    run_hooks: bool = True  # the plan's freeze commands around the swap (False: skipped)
    yes: bool = False
    confirm: Callable[[str], bool] | None = None


@dataclass
class RestoreResult:
    run_id: str
    status: str
    dir: str
    dump_database: str
    collections: list[str]
    documents: int
    verified: bool  # False: no manifest (a plain mongodump directory), only loaded counts checked
    dropped: list[str]
    cutover: list[dict[str, Any]]
    backup_dir: str | None  # the backup of what this restore replaced
    report: str
    undo: str | None = None  # the command that undoes this restore or rollback
    swapped: list[str] = field(default_factory=list)  # rollback: put back by renames only
    kept_aside: dict[str, str] = field(default_factory=dict)  # rollback: what it took out, where
    nothing_to_do: str | None = None  # why nothing was touched (a rollback of a run that cut
    # over nothing)
    plan: RestoreSummary | None = None  # what it does (did, or would do: dry_run)
    summary: RunSummary | None = None  # for people: not in the JSON

    def to_json(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k not in ("summary", "plan")}
        data["status"] = str(self.status)
        data["plan"] = self.plan.to_json() if self.plan is not None else None
        return data


RollbackResult = RestoreResult


def restore(loaded: LoadedPlan, out: Output, options: RestoreOptions) -> RestoreResult:
    """Put the target back as the backup holds it: a run of its own (backup of what it replaces,
    shadows checked against the backup, cutover) with a journal, so `resume=RUN_ID` continues it.
    `dry_run`: what would happen to each collection; nothing written.
    """
    backup_dir, only, drop = options.backup_dir, options.only, options.drop
    if options.resume:
        asked = _header_of(loaded, options.state_dir, options.resume)
        backup_dir = Path(asked.backup) if asked.backup else None
        only, drop = asked.only, asked.drop
    if backup_dir is None:
        raise UsageError("restore needs a backup directory (or the run id to resume)")
    header = {"command": "restore", "backup": str(backup_dir), "only": only, "drop": drop or []}
    return _restore_run(loaded, out, lambda ctx: header, _Asked.of(options))


def rollback(loaded: LoadedPlan, out: Output, options: RollbackOptions) -> RollbackResult:
    """Undo a run, and only what it did: the collections whose previous one it kept are swapped
    back by renames (what they held since is kept aside), the others come back from its backup,
    the ones it created go, its leftovers (shadows, asides) too; with a `freeze` in the plan,
    inside it (`run_hooks=False`: its commands skipped). Nothing cut over: says so and touches
    nothing. Production changed since the cutover (a name replaced since: another UUID; for what
    comes back from the backup, count + content hash against the fingerprint journalled at
    cutover): refused, unless `allow_target_drift`, and then the current state is in the
    rollback's own verified backup (`rollback --run <rollback id>` undoes the rollback).
    `resume=RUN_ID` (the rollback's own run id) continues one; `dry_run` says what would happen
    to each collection and writes nothing."""
    state_dir = options.state_dir
    asked = _Asked.of(options)
    if loaded.plan.freeze is not None and options.run_hooks and not options.dry_run:
        loaded.require(
            "freeze",
            doing="rollback: the plan's freeze commands need variables",
            otherwise="pass --no-hooks to roll back without stopping the application",
        )
    if options.resume:
        header = _header_of(loaded, state_dir, options.resume)
        return _restore_run(loaded, out, lambda ctx: header.fields, asked)
    base = base_dir(loaded, state_dir)
    run_id = options.run_id or latest_run(base, command="run")
    if run_id is None:
        raise UsageError(f"no run to roll back under {base / 'runs'}")
    journal = open_journal(base, run_id)
    drift = options.allow_target_drift
    return _restore_run(
        loaded,
        out,
        lambda ctx: rollback_header(ctx, journal, run_id, allow_target_drift=drift),
        asked,
    )


@dataclass(frozen=True)
class _Asked:
    """What restore and rollback share of their options."""

    confirm: Callable[[str], bool] | None
    yes: bool
    resume: str | None
    state_dir: Path | None
    identity: Path | None
    dry_run: bool
    run_hooks: bool = True  # a rollback's freeze commands

    @classmethod
    def of(cls, options: RestoreOptions | RollbackOptions) -> _Asked:
        return cls(
            options.confirm,
            options.yes,
            options.resume,
            options.state_dir,
            options.identity,
            options.dry_run,
            getattr(options, "run_hooks", True),
        )


def _header_of(loaded: LoadedPlan, state_dir: Path | None, run_id: str) -> Header:
    """What the run being resumed was asked to do, as its journal recorded it."""
    paths = RunPaths.of(loaded, state_dir, run_id)
    if not paths.journal.exists():
        raise UsageError(f"no run {run_id} under {paths.run_dir.parent} (nothing to resume)")
    return Journal(paths.journal).header()


def _restore_run(
    loaded: LoadedPlan,
    out: Output,
    make_header: Callable[[RunContext], dict[str, Any] | None],
    asked: _Asked,
) -> RestoreResult:
    """A restore or rollback run: the source is not connected (they read nothing from it: a
    rollback works while staging is down), and the target is probed only once a backup is to be
    loaded (a rollback that swaps by renames writes nothing else)."""
    resume = asked.resume
    with open_context(
        loaded, out, run_id=resume, state_dir=asked.state_dir, source_needed=False
    ) as ctx:
        if resume:
            resumable_journal(ctx)
        header = make_header(ctx)
        if header is None:
            return RestoreResult(
                "",
                Status.NOTHING_TO_DO,
                "",
                "",
                [],
                0,
                False,
                [],
                [],
                None,
                "",
                nothing_to_do="the run changed nothing in production: nothing to roll back",
            )
        return _restore_in(ctx, header, asked)


def _restore_in(
    ctx: RunContext, header: dict[str, Any], asked: _Asked, *, lock: RunLock | None = None
) -> RestoreResult:
    """The run a restore or rollback `header` asks for, in `ctx` (asks once unless `yes`, after
    the plan's summary; `dry_run`: only that summary). `lock`: the lease of the run this one
    runs inside (the health gate's rollback)."""
    resume = asked.resume
    rollback = header.get("command") == "rollback"
    swaps = [Swap.from_json(s) for s in header.get("swaps") or []]
    backup_dir = Path(header["backup"]) if header.get("backup") else None
    only = header.get("only")
    dump: Dump | None = None
    if backup_dir is not None and (only is None or only or not rollback):
        from mongo_promote.steps.restore import read_dump  # a rollback by renames reads none

        dump = read_dump(ctx.out, backup_dir, ctx.plan.target.database, only, asked.identity)
    if not asked.dry_run and (dump is not None or header.get("drop")):
        probe_target(ctx)  # the load, its indexes and the cutover's renames need it
    names = [d.name for d in dump.collections] if dump is not None else []
    state = new_state(ctx, names, resumed=bool(resume))
    present = collection_names(ctx.target_db)
    drop = [n for n in header.get("drop") or [] if n not in names]
    artifacts = list(header.get("artifacts") or [])
    plan = _restore_summary(
        ctx, header, dump, present, drop, artifacts, swaps, run_hooks=asked.run_hooks
    )
    result = RestoreResult(
        run_id=ctx.run_id,
        status=Status.DRY_RUN,
        dir=str(backup_dir or ""),
        dump_database=dump.database if dump is not None else "",
        collections=names,
        documents=0,
        verified=dump is not None and dump.manifest is not None,
        dropped=[],
        cutover=[],
        backup_dir=None,
        report="",
        swapped=[s.collection for s in swaps if s.put_back],
        plan=plan,
    )
    if asked.dry_run:
        return replace(result, run_id="")
    steps = restore_steps(
        ctx,
        state,
        dump,
        present=present,
        drop=drop,
        artifacts=artifacts,
        swaps=swaps,
        rollback=rollback,
        run_hooks=asked.run_hooks,
    )
    planned = plan_actions(ctx, steps)
    question = (
        f"Roll back run {header['rolls_back']}?"
        if header.get("rolls_back")
        else f"Restore {backup_dir} into {plan.target}?"
    )
    confirm_once(question, asked.confirm, yes=asked.yes, details=plan.lines())
    summary = _execute(ctx, planned, state, header, resume, keep_shadows=False, lock=lock)
    report = state.report
    return replace(
        result,
        status=report.status,
        documents=sum(state.counts.get(n, 0) for n in names),
        dropped=state.dropped,
        cutover=report.cutover,
        backup_dir=report.backup.get("dir"),
        report=str(ctx.paths.report_json),
        undo=report.undo,
        kept_aside=dict(report.kept_aside),
        summary=summary,
    )


def _restore_summary(
    ctx: RunContext,
    header: dict[str, Any],
    dump: Any,
    present: list[str],
    drop: list[str],
    artifacts: list[str],
    swaps: list[Swap],
    *,
    run_hooks: bool = True,
) -> RestoreSummary:
    """Each collection and what the restore (or rollback) does to it."""
    rolled_back = header.get("rolls_back")
    if not rolled_back:
        title = f"restore of {dump.dir}"
    elif dump is None:
        title = f"rollback of run {rolled_back} by renames (the collections it replaced were kept)"
    else:
        kept = " and by renames" if swaps else ""
        title = f"rollback of run {rolled_back} from its backup {dump.dir}{kept}"
    rows = [
        (
            s.collection,
            ("swapped back: " if s.put_back else "taken out: ") + s.describe().split(": ", 1)[1],
        )
        for s in swaps
    ]
    for action in dump.actions() if dump is not None else []:
        count = f"{action.source_count:,} documents" if dump.manifest else "documents"
        verb = "replaced by" if action.name in present else "created from"
        rows.append((action.name, f"{verb} the backup's copy ({count})"))
    why = f"created by run {rolled_back}" if rolled_back else "asked to"
    rows += [(name, f"dropped ({why})") for name in drop if name not in artifacts]
    rows += [(name, f"dropped (left over by run {rolled_back})") for name in artifacts]
    touched = {name for name, _ in rows}
    notes = []
    if rolled_back and ctx.plan.freeze is not None:
        notes.append(
            "inside the plan's write freeze: freeze.start before the renames, freeze.end after "
            "(whatever happens once it started)"
            + ("" if run_hooks else "; its commands skipped (--no-hooks)")
        )
    return RestoreSummary(
        title=title,
        target=f"{redact_uri(ctx.plan.target.uri)} database {ctx.plan.target.database!r}",
        rows=rows,
        backup_dir=str(ctx.paths.backup_dir),
        left_alone=len([n for n in present if n not in touched]),
        notes=notes,
    )


# ------------------------------------------------------------------ commands that only read


@dataclass
class InspectOptions:
    """`inspect` has no options (it reads the plan's two sides)."""


@dataclass
class InspectResult:
    """The inventory of both sides, and the variables the plan's commands or checks need unset
    (`run` refuses without them, unless --no-hooks; `health` refuses too)."""

    inventory: Inventory
    missing: list[MissingVariable]

    def to_json(self) -> dict[str, Any]:
        missing = [{"name": m.name, "field": m.field, "line": m.line} for m in self.missing]
        return {**self.inventory.to_json(), "missing_variables": missing}


def inspect(loaded: LoadedPlan, out: Output, options: InspectOptions) -> InspectResult:
    """Inventory of both sides under the plan's classification, and the target's collections the
    tool keeps until cleanup (classes `previous`, `kept_aside`); reads only."""
    plan = loaded.plan
    with connected(plan) as (source, target, _, _):
        source_db, target_db = source[plan.source.database], target[plan.target.database]
        inventory = take_inventory(plan, source_db, target_db, with_kept=True)
    return InspectResult(inventory, list(loaded.missing))


@dataclass
class ValidateOptions:
    run_id: str | None = None  # the run whose $now to use (None: the latest)
    state_dir: Path | None = None


if TYPE_CHECKING:
    ValidateResult = ValidationReport


def validate(loaded: LoadedPlan, out: Output, options: ValidateOptions) -> ValidateResult:
    """The live target against the source, with the plan's transforms applied: reads only.

    Also what production changed since cutover per collection (added and changed documents are
    the application's writes; a missing one fails) and a URL audit of every collection.
    `$now` defaults were filled with the run's own timestamp, so the check takes it from that
    run's journal (the latest run when none is named).
    """
    from mongo_promote.domain.analysis import analyse
    from mongo_promote.steps.validate import monitor, validate_live

    state_dir = options.state_dir
    base = base_dir(loaded, state_dir)
    run_id = options.run_id or latest_run(base, command="run")
    with open_context(loaded, out, state_dir=state_dir) as ctx:
        header = open_journal(base, run_id).header() if run_id else None
        if header is not None and header.command == "rollback":
            return _validate_rollback(ctx, header)
        if run_id:
            ctx.now = open_journal(base, run_id).header().now
            out.detail(f"$now of run {run_id}: {ctx.now.isoformat()}")
        elif ctx.plan.embeds:
            out.warn("no run found: fields defaulted to $now cannot match (pass --run RUN_ID)")
        inventory = take_inventory(ctx.plan, ctx.source_db, ctx.target_db)
        analysis = analyse(ctx.plan, inventory)
        return monitor(ctx, analysis, validate_live(ctx, analysis))


def _validate_rollback(ctx: RunContext, header: Header) -> ValidateResult:
    """`validate --run <rollback>`: what the application wrote to each collection the rollback
    took out of production (kept aside) between the cutover and the rollback, document by
    document against the source (the rolled-back run's $now). A rollback of a rollback took out
    production's previous data: nothing to compare it with here (cleanup --dry-run says whether
    it changed)."""
    from mongo_promote.domain.analysis import analyse
    from mongo_promote.steps.validate import kept_aside_changes

    base = ctx.paths.base
    journal = open_journal(base, header.run_id)
    undone = open_journal(base, header.rolls_back).header() if header.rolls_back else None
    kept = {r.collection: name for name, r in journal.kept().items()}
    if undone is None or undone.command != "run":
        ctx.out.warn(
            f"rollback {header.run_id} undid a {undone.command if undone else 'missing'} run: "
            "what it took out is production's previous data, not compared with the source"
        )
        kept = {}
    else:
        ctx.now = undone.now
    inventory = take_inventory(ctx.plan, ctx.source_db, ctx.target_db)
    return kept_aside_changes(ctx, analyse(ctx.plan, inventory), kept)


@dataclass
class BackupOptions:
    out_dir: Path | None = None  # None: the run's backup directory
    state_dir: Path | None = None


@dataclass
class BackupRunResult:
    """A standalone backup is a run of its own (journal, report, `history`): its id and report."""

    run_id: str
    report: str
    backup: BackupResult
    summary: RunSummary | None = None  # for people: not in the JSON

    def to_json(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "report": self.report, **self.backup.to_json()}


def backup(loaded: LoadedPlan, out: Output, options: BackupOptions) -> BackupRunResult:
    """A verified backup of every application collection of the target database; reads the
    target only. A directory that cannot be written (or lacks room) is refused first (exit 2)."""
    from mongo_promote.steps.backup import BackupResult, check_backup_dir

    with open_context(loaded, out, state_dir=options.state_dir) as ctx:
        if options.out_dir is not None:
            ctx.paths = replace(ctx.paths, backup_dir=Path(options.out_dir).absolute())
        names = collection_names(ctx.target_db)
        size = sum(collection_size(ctx.target_db, n) for n in names)
        check_backup_dir(ctx.paths.backup_dir, size)
        state = new_state(ctx, [], resumed=False)
        steps = backup_steps(ctx, state, names, expected_bytes=size)
        header = {"command": "backup", "out": str(ctx.paths.backup_dir)}
        summary = _execute(ctx, plan_actions(ctx, steps), state, header, None, False, locked=False)
        done = BackupResult(**state.report.backup)
        return BackupRunResult(ctx.run_id, str(ctx.paths.report_json), done, summary)


@dataclass
class SeedOptions:
    source_uri: str
    target_uri: str
    source_database: str = "meeshy"
    target_database: str = "meeshy"
    scale: float = 1
    seed: int = 42
    progress: Callable[[str, str, int], None] | None = None  # (side, collection, documents)
    network_timeout: timedelta | None = None  # --network-timeout (None: 2m)


@dataclass
class SeedResult:
    manifest: dict[str, Any]  # the generator's: documents per collection on each side

    def to_json(self) -> dict[str, Any]:
        return self.manifest


def seed(out: Output, options: SeedOptions) -> SeedResult:
    """Fill staging and production with the synthetic Meeshy data; progress shows as a status
    line on `out`, then a one-line summary."""
    from mongo_promote.demo import showcase

    return SeedResult(
        showcase.seed_servers(
            options.source_uri,
            options.target_uri,
            source_database=options.source_database,
            target_database=options.target_database,
            scale=options.scale,
            seed=options.seed,
            progress=options.progress,
            out=out,
            network_timeout=options.network_timeout,
        )
    )


# ------------------------------------------------------------------ the demo


def demo(out: Output, options: DemoOptions) -> DemoResult:
    """The whole Meeshy promotion on two local servers: seed, inventory, dry-run, run, validate.

    The bundled plan runs with `showcase.demo_environment()`: its hooks are local `echo`s and
    none of the user's MEESHY_* variables is read, so nothing points at production. `options.view`
    shows the inventory, the dry-run, the validation and, last, the run's summary (the CLI draws
    them). With `options.keep` the servers stay up (listed in the result); otherwise they are
    stopped and their data deleted.
    """
    from mongo_promote.demo import showcase
    from mongo_promote.demo.gateway import local_gateway
    from mongo_promote.demo.showcase import DemoResult

    view = options.view
    state_dir = Path(options.state_dir).absolute()
    with showcase.demo_servers(out, options) as pair, local_gateway() as gateway:
        source_uri, target_uri = pair[0].uri, pair[1].uri
        out.step("demo 2", f"seeding realistic Meeshy data at scale {options.scale:g}")
        timeout = options.network_timeout
        seed(
            out,
            SeedOptions(
                source_uri,
                target_uri,
                scale=options.scale,
                seed=options.seed,
                network_timeout=timeout,
            ),
        )
        freeze = showcase.DemoFreeze.under(state_dir)
        loaded = load_plan(
            bundled_plan_path(),
            source_uri=source_uri,
            target_uri=target_uri,
            network_timeout=timeout,
            env=freeze.env(gateway),
        )
        out.step("demo 3", "inventory of both sides under the bundled Meeshy plan")
        view.inventory(inspect(loaded, out, InspectOptions()).inventory)
        out.step("demo 4", "dry-run: what the promotion would do (writes nothing)")
        dry = DryRunOptions(state_dir=state_dir)  # the same hooks and freeze as the run below
        view.dry_run(dry_run(loaded, out, dry).dry_run)
        out.step(
            "demo 5",
            "the promotion, while an application writes to production: the plan's write freeze "
            "stops it for the catch-up and the cutover (its commands are local: a flag-file "
            "handshake with that application, an echo for the gateway's restart); then the health "
            f"gate against a local stand-in for the gateway ({gateway})",
        )
        with freeze.writer(target_uri) as writer:
            outcome = _demo_run(loaded, out, view, state_dir)
            frozen = outcome.summary.report.freeze if outcome.summary else {}
            if frozen.get("end_launched_at"):
                resumed = datetime.fromisoformat(frozen["end_launched_at"]).timestamp()
                writer.wait_for_writes_after(resumed, 4, timeout_s=10)
        for line in showcase.writer_lines(writer, frozen):
            out.info(line)
        out.step("demo 6", "validation of the live target against the source")
        report = validate(loaded, out, ValidateOptions(outcome.run_id, state_dir))
        view.validation(report)
        if outcome.summary is not None:
            view.summary(outcome.summary)
        if not report.passed:
            raise PromoteError("demo: validation after the run found differences")
    return DemoResult(
        run_id=outcome.run_id,
        status=outcome.status,
        report=outcome.report,
        backup_dir=outcome.backup_dir,
        validation_passed=report.passed,
        kept_servers=pair if options.keep else [],
    )


def _demo_run(loaded: LoadedPlan, out: Output, view: DemoView, state_dir: Path) -> RunResult:
    """The demo's promotion, hooks and freeze on (every command a local one); its summary is
    shown by the view at the end (at once when its post-checks fail)."""
    options = RunOptions(yes=True, state_dir=state_dir)
    try:
        return run(loaded, out, options)
    except PostChecksFailed as exc:
        view.summary(exc.summary)
        raise


# ------------------------------------------------------------------ operations after cutover:
# health, refresh-staging (never connect to a database), cleanup, history


@dataclass
class HealthOptions:
    on_check: Callable[[CheckResult], None] | None = None  # each check's result, as it comes
    # each attempt as it ends, and the wait before the next one (None: it was the last)
    on_attempt: Callable[[CheckResult, float | None], None] | None = None
    retries: int | None = None  # instead of each check's own `retries`


if TYPE_CHECKING:
    HealthResult = HealthReport


def health(loaded: LoadedPlan, out: Output, options: HealthOptions) -> HealthResult:
    """The plan's HTTP health checks, in order, each with its retries; touches no database.
    Refused (exit 2) when a check's URL needs a variable that is unset."""
    from mongo_promote.adapters.health import run_checks

    checks = loaded.plan.health
    if not checks:
        raise UsageError("the plan has no health checks (a `health:` list of {name, url, ...})")
    loaded.require("health", doing="health: the checks' URLs need variables")
    if options.retries is not None:
        checks = [c.model_copy(update={"retries": options.retries}) for c in checks]
    return run_checks(checks, on_result=options.on_check, on_attempt=options.on_attempt)


@dataclass
class RefreshStagingOptions:
    dry_run: bool = False  # list the runbook; run nothing
    state_dir: Path | None = None
    on_event: OnEvent | None = None  # (kind, payload) as each command, wait and check happens


if TYPE_CHECKING:
    RefreshStagingResult = RefreshReport


def refresh_staging(
    loaded: LoadedPlan, out: Output, options: RefreshStagingOptions
) -> RefreshStagingResult:
    """The plan's staging_refresh runbook; its report is saved under runs/refresh-<id>/ (0600)."""
    from mongo_promote.run.refresh import refresh_staging as run_runbook

    dry = options.dry_run
    if not dry:
        loaded.require("staging_refresh", doing="refresh-staging: the runbook needs variables")
    report = run_runbook(loaded.plan, dry_run=dry, on_event=options.on_event)
    if not dry:
        base = base_dir(loaded, options.state_dir)
        run_dir = RunPaths.under(base, f"refresh-{new_run_id()}").run_dir
        report.save(run_dir)
        out.info(f"report: {run_dir / 'report.md'}")
    return report


@dataclass
class CleanupOptions:
    run_id: str | None = None  # the run to clean up after (None: the latest)
    resume: str | None = None  # the cleanup's own run id, to continue it
    dry_run: bool = False
    ignore_age: bool = False
    force: list[str] = field(default_factory=list)  # drop these even though they changed
    state_dir: Path | None = None
    yes: bool = False
    confirm: Callable[[str], bool] | None = None
    show: Callable[[Chosen], None] | None = None  # what goes and its guards, before anything does


def cleanup(loaded: LoadedPlan, out: Output, options: CleanupOptions) -> CleanupResult:
    """Drop the target's legacy collections and replaced embed sources after run `run_id` (the
    latest run by default), guarded (`steps.cleanup.choose`): not before cleanup.min_age since its
    cutover (`ignore_age`), not a collection written since its backup (`force` names those), and
    never without a verified backup of what goes. A run of its own (journal, report, lock);
    `dry_run` writes nothing; `resume=RUN_ID` (the cleanup's own id) continues an interrupted one."""
    from mongo_promote.steps.cleanup import CleanupResult, after_run, choose, refuse_changed

    if options.resume:
        return _resume_cleanup(loaded, out, options)
    base = base_dir(loaded, options.state_dir)
    run_id = options.run_id or latest_run(base, command="run")
    if run_id is None:
        raise UsageError(f"no run under {base / 'runs'}: cleanup follows a run (--run RUN_ID)")
    after = after_run(open_journal(base, run_id), loaded.plan.target.database)
    dry = options.dry_run
    with open_context(loaded, out, state_dir=options.state_dir) as ctx:
        chosen = choose(ctx, after, set(options.force), ignore_age=options.ignore_age, dry_run=dry)
        found = chosen.found
        status = Status.DRY_RUN if dry else (Status.NOTHING_TO_DO if not found else Status.REFUSED)
        result = CleanupResult(run_id, status, chosen.age.to_json(), [c.to_json() for c in found])
        if options.show is not None:
            options.show(chosen)
        if dry or not found:
            return result
        refuse_changed(found)
        confirm_once(
            f"Back up, then drop {', '.join(chosen.names)} in {redact_uri(ctx.plan.target.uri)} "
            f"database {ctx.plan.target.database!r}?",
            options.confirm,
            yes=options.yes,
        )
        header = {
            "command": "cleanup",
            "cleans_up": run_id,
            "drop": chosen.names,
            "force": sorted(options.force),
        }
        return _cleanup_run(ctx, result, found, header, resume=None)


def _cleanup_run(
    ctx: RunContext,
    result: CleanupResult,
    found: list[Candidate],
    header: dict[str, Any],
    *,
    resume: str | None,
) -> CleanupResult:
    """The cleanup's own run under the lock: backup, the check against the run's backup, drops."""
    from mongo_promote.steps.cleanup import cleanup_steps

    state = new_state(ctx, [], resumed=bool(resume))
    planned = plan_actions(ctx, cleanup_steps(ctx, state, found))
    result.summary = _execute(ctx, planned, state, header, resume, keep_shadows=False)
    result.status, result.run_id, result.dropped = state.report.status, ctx.run_id, state.dropped
    result.backup_dir = state.report.backup.get("dir")
    result.report = str(ctx.paths.report_json)
    if result.backup_dir:
        result.restore = ctx.command("restore", "--backup", result.backup_dir)
    return result


def _resume_cleanup(loaded: LoadedPlan, out: Output, options: CleanupOptions) -> CleanupResult:
    """An interrupted cleanup, continued exactly: its backup (taken again only if it never
    finished), its check against the run's backup, then the drops that remain, each one only
    while the collection still holds what the cleanup's backup holds."""
    from mongo_promote.steps.cleanup import CleanupResult, after_run, resumed_candidates

    if options.dry_run:
        raise UsageError("cleanup --resume continues a cleanup: it has no --dry-run")
    header = _header_of(loaded, options.state_dir, str(options.resume))
    if header.command != "cleanup" or header.cleans_up is None:
        base = base_dir(loaded, options.state_dir)
        again = command_line(loaded, base, header.command, "--resume", header.run_id)
        raise UsageError(
            f"run {header.run_id} is a {header.command}, not a cleanup: `{again}` continues it"
        )
    base = base_dir(loaded, options.state_dir)
    after = after_run(open_journal(base, header.cleans_up), loaded.plan.target.database)
    with open_context(loaded, out, run_id=header.run_id, state_dir=options.state_dir) as ctx:
        journal = resumable_journal(ctx)
        found = resumed_candidates(journal, header, after, base)
        confirm_once(
            f"Continue cleanup {header.run_id}: back up (unless done), then drop what remains of "
            f"{', '.join(header.drop)} in {redact_uri(ctx.plan.target.uri)} database "
            f"{ctx.plan.target.database!r}?",
            options.confirm,
            yes=options.yes,
        )
        result = CleanupResult(header.cleans_up, Status.RUNNING, {}, [c.to_json() for c in found])
        return _cleanup_run(ctx, result, found, header.fields, resume=header.run_id)


@dataclass
class HistoryOptions:
    state_dir: Path | None = None


@dataclass
class HistoryResult:
    runs: list[RunEntry]  # oldest first
    # which run's collections production holds now: {collection: run id}, from the journals
    current: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        by_run: dict[str, list[str]] = {}
        for name, run_id in sorted(self.current.items()):
            by_run.setdefault(run_id, []).append(name)
        return {
            "runs": [e.to_json() for e in self.runs],
            "current": [{"run_id": r, "collections": names} for r, names in by_run.items()],
        }


def history(loaded: LoadedPlan, out: Output, options: HistoryOptions) -> HistoryResult:
    """Every run under the state directory (run, backup, restore, rollback, cleanup, refresh),
    oldest first, each with its attempts and what acted on what, and which run's collections
    production holds now; reads files only (no database), tolerating torn journals and reports."""
    from mongo_promote.state.history import current_holders, read_history

    base = base_dir(loaded, options.state_dir)
    runs = read_history(base)
    return HistoryResult(runs, current_holders(base, runs))
