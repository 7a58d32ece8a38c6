"""The library's public commands: one typed function per CLI command, usable without the CLI.

Every command is `command(loaded, out, <Command>Options) -> <Command>Result` (`seed` and `demo`,
which need no plan: `command(out, <Command>Options)`). Results are plain data with `to_json()`;
the CLI renders them (`cli/render/`), and `out` carries only a command's progress lines. Names
imported `X as X` are the types the CLI renders or catches, re-exported: it reaches no lower room.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pymongo.errors import PyMongoError

from mongo_promote.adapters.health import CheckResult, HealthReport, run_checks
from mongo_promote.console import Output, confirm_once
from mongo_promote.demo import showcase
from mongo_promote.demo.showcase import DemoOptions, DemoResult, DemoView
from mongo_promote.domain.analysis import Actions, analyse
from mongo_promote.domain.inventory import Inventory, collection_names, take_inventory
from mongo_promote.domain.plan import LoadedPlan, bundled_plan_path, load_plan
from mongo_promote.errors import OperationFailed, PromoteError, UsageError
from mongo_promote.redact import redact_uri
from mongo_promote.run.dryrun import DryRun, dry_run_of
from mongo_promote.run.dryrun import PlannedAction as PlannedAction
from mongo_promote.run.failures import classify
from mongo_promote.run.refresh import COMMAND_DONE as COMMAND_DONE
from mongo_promote.run.refresh import COMMAND_STARTED as COMMAND_STARTED
from mongo_promote.run.refresh import HEALTH_CHECK as HEALTH_CHECK
from mongo_promote.run.refresh import WAITING as WAITING
from mongo_promote.run.refresh import CommandResult as CommandResult
from mongo_promote.run.refresh import OnEvent, RefreshReport
from mongo_promote.run.refresh import refresh_staging as run_runbook
from mongo_promote.run.rollback import rollback_header
from mongo_promote.run.runner import (
    Planned,
    Runner,
    plan_actions,
    resumable_journal,
    start_journal,
)
from mongo_promote.run.runner import PostChecksFailed as PostChecksFailed
from mongo_promote.run.sequence import new_state, promotion_steps, restore_steps
from mongo_promote.state.context import (
    RunContext,
    RunPaths,
    another_run,
    base_dir,
    connected,
    new_run_id,
    open_context,
    probe_target,
)
from mongo_promote.state.history import RunEntry, read_history
from mongo_promote.state.journal import LOCK_LOST, Header, Journal, latest_run, open_journal
from mongo_promote.state.lock import RunLock
from mongo_promote.state.report import RunSummary
from mongo_promote.state.step import RunState
from mongo_promote.steps.backup import BackupResult, backup_collections
from mongo_promote.steps.cleanup import AgeGuard as AgeGuard
from mongo_promote.steps.cleanup import Candidate as Candidate
from mongo_promote.steps.cleanup import (
    Chosen,
    CleanupResult,
    after_run,
    choose,
    cleanup_steps,
    refuse_changed,
)
from mongo_promote.steps.restore import Dump, read_dump
from mongo_promote.steps.swap import Swap
from mongo_promote.steps.validate import (
    ValidationReport,
    kept_aside_changes,
    monitor,
    validate_live,
)

# ------------------------------------------------------------------ run and dry-run


@dataclass
class DryRunOptions:
    workers: int = 4
    allow_target_drift: bool = False
    run_hooks: bool = True
    state_dir: Path | None = None
    health_gate: str | None = None  # off, report, rollback: instead of the plan's health_gate


@dataclass
class RunOptions(DryRunOptions):
    yes: bool = False
    resume: str | None = None
    keep_shadows: bool = False
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
            "status": self.status,
            "backup_dir": self.backup_dir,
            "report": self.report,
            "validation": {"passed": self.validation_passed},
        }


@dataclass
class DryRunResult:
    """What `run` would do (`run.dryrun.DryRun`), in the shape `run --dry-run --json` prints."""

    dry_run: DryRun

    def to_json(self) -> dict[str, Any]:
        outcome = RunResult(None, "dry-run", None, None, None)
        return {**outcome.to_json(), "actions": self.dry_run.to_json()}


def run(loaded: LoadedPlan, out: Output, options: RunOptions) -> RunResult:
    """The promotion: asks once, then runs under the lock. Post-checks that fail after the
    cutover raise PostChecksFailed, which carries the run's summary."""
    with open_context(
        loaded,
        out,
        run_id=options.resume,
        state_dir=options.state_dir,
        workers=options.workers,
        probe=True,
    ) as ctx:
        if options.resume:
            resumable_journal(ctx)  # a changed plan is refused before anything is written
        analysis, planned, state = _plan_promotion(ctx, options, resumed=bool(options.resume))
        confirm_once(
            f"Replace {len(analysis.replaced)} and create {len(analysis.created)} collections in "
            f"{redact_uri(ctx.plan.target.uri)} database {ctx.plan.target.database!r}?",
            options.confirm,
            yes=options.yes,
        )
        summary = _execute(
            ctx, planned, state, {"command": "run"}, options.resume, options.keep_shadows
        )
        return RunResult(
            ctx.run_id,
            state.report.status,
            state.report.backup.get("dir"),
            str(ctx.paths.report_json),
            True,
            summary,
        )


def dry_run(loaded: LoadedPlan, out: Output, options: DryRunOptions) -> DryRunResult:
    """Every read-only check and the exact actions `run` would apply. Writes nothing anywhere."""
    with open_context(loaded, out, state_dir=options.state_dir, workers=options.workers) as ctx:
        analysis, planned, _ = _plan_promotion(ctx, options, resumed=False)
        return DryRunResult(dry_run_of(ctx, analysis, planned))


def _plan_promotion(
    ctx: RunContext, options: DryRunOptions, *, resumed: bool
) -> tuple[Actions, list[Planned], RunState]:
    """Inventory, analysis and the runner's action list: the same for the dry-run and the run."""
    gate = options.health_gate or ctx.plan.health_gate
    if gate != "off" and not ctx.plan.health:
        raise UsageError(f"health gate {gate}: the plan has no health checks to run")
    analysis = analyse(ctx.plan, take_inventory(ctx.plan, ctx.source_db, ctx.target_db))
    state = new_state(ctx, [a.name for a in analysis.collections], resumed=resumed)
    steps = promotion_steps(
        ctx,
        state,
        analysis,
        allow_target_drift=options.allow_target_drift,
        run_hooks=options.run_hooks,
        health_gate=options.health_gate,
        undo=_gate_rollback,
    )
    return analysis, plan_actions(ctx, steps), state


def _gate_rollback(ctx: RunContext, state: RunState) -> str:
    """The health gate's rollback of run ctx.run_id: a rollback run of its own (id, journal,
    report), under the lock the run holds; its run id."""
    if state.journal is None:
        raise OperationFailed("the health gate's rollback needs the run's journal")
    rollback_ctx = another_run(ctx)
    header = rollback_header(rollback_ctx, state.journal, ctx.run_id, allow_target_drift=False)
    if header is None:
        raise OperationFailed(f"run {ctx.run_id} changed nothing in production to roll back")
    try:
        done = _restore_in(
            rollback_ctx,
            header,
            confirm=None,
            yes=True,
            resume=None,
            identity=None,
            lock=state.lock,
        )
    except PromoteError as exc:
        begun = rollback_ctx.paths.journal.exists()
        raise OperationFailed(
            exc.message
            + (
                f" (rollback run {rollback_ctx.run_id}: `mongo-promote rollback --resume "
                f"{rollback_ctx.run_id}` finishes it)"
                if begun
                else f" (`mongo-promote rollback --run {ctx.run_id}` rolls back)"
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
    lock: RunLock | None = None,
) -> RunSummary:
    """Under the lock: the journal (new or resumed), then the runner. A lease lost meanwhile is
    journalled as it happens; the runner stops before cutover, and before any rename. `lock`:
    a lease already held by the run this one runs inside (the health gate's rollback), kept."""
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
    try:
        lock.acquire()
    except PyMongoError as exc:
        raise classify(exc, ctx, "start", resume="", rollback="") from exc
    try:
        journal = start_journal(ctx, header, resume=bool(resume))
        journals.append(journal)
        state.journal = journal
        runner = Runner(ctx, planned, journal, state, keep_shadows=keep_shadows, lock=lock)
        return runner.execute()
    finally:
        with contextlib.suppress(PyMongoError):  # unreachable: the lease ends by itself
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
    yes: bool = False
    confirm: Callable[[str], bool] | None = None


@dataclass
class RollbackOptions:
    run_id: str | None = None  # the run to undo (None: the latest)
    resume: str | None = None  # the rollback's own run id, to continue it
    state_dir: Path | None = None
    identity: Path | None = None
    allow_target_drift: bool = False
    yes: bool = False
    confirm: Callable[[str], bool] | None = None


@dataclass
class RestoreResult:
    run_id: str
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
    summary: RunSummary | None = None  # for people: not in the JSON

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "summary"}


RollbackResult = RestoreResult


def restore(loaded: LoadedPlan, out: Output, options: RestoreOptions) -> RestoreResult:
    """Put the target back as the backup holds it: a run of its own (backup of what it replaces,
    shadows checked against the backup, cutover) with a journal, so `resume=RUN_ID` continues it.
    """
    backup_dir, only, drop = options.backup_dir, options.only, options.drop
    if options.resume:
        asked = _header_of(loaded, options.state_dir, options.resume)
        backup_dir = Path(asked.backup) if asked.backup else None
        only, drop = asked.only, asked.drop
    if backup_dir is None:
        raise UsageError("restore needs a backup directory (or the run id to resume)")
    header = {"command": "restore", "backup": str(backup_dir), "only": only, "drop": drop or []}
    return _restore_run(
        loaded,
        out,
        lambda ctx: header,
        confirm=options.confirm,
        yes=options.yes,
        resume=options.resume,
        state_dir=options.state_dir,
        identity=options.identity,
    )


def rollback(loaded: LoadedPlan, out: Output, options: RollbackOptions) -> RollbackResult:
    """Undo a run, and only what it did: the collections it cut over come back from its backup,
    the ones it created go, its leftovers (shadows, asides) too. Nothing cut over: says so and
    touches nothing. Production changed since the cutover (count + content hash against the
    fingerprint journalled at cutover): refused, unless `allow_target_drift`, and then the
    current state is in the rollback's own verified backup (`rollback --run <rollback id>`
    undoes the rollback). `resume=RUN_ID` (the rollback's own run id) continues one."""
    state_dir = options.state_dir
    if options.resume:
        header = _header_of(loaded, state_dir, options.resume)
        return _restore_run(
            loaded,
            out,
            lambda ctx: header.fields,
            confirm=options.confirm,
            yes=options.yes,
            resume=options.resume,
            state_dir=state_dir,
            identity=options.identity,
        )
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
        confirm=options.confirm,
        yes=options.yes,
        resume=None,
        state_dir=state_dir,
        identity=options.identity,
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
    *,
    confirm: Callable[[str], bool] | None,
    yes: bool,
    resume: str | None,
    state_dir: Path | None,
    identity: Path | None = None,
) -> RestoreResult:
    """A restore or rollback run: the source is not connected (they read nothing from it: a
    rollback works while staging is down), and the target is probed only once a backup is to be
    loaded (a rollback that swaps by renames writes nothing else)."""
    with open_context(loaded, out, run_id=resume, state_dir=state_dir, source_needed=False) as ctx:
        if resume:
            resumable_journal(ctx)
        header = make_header(ctx)
        if header is None:
            return RestoreResult(
                "",
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
        return _restore_in(ctx, header, confirm=confirm, yes=yes, resume=resume, identity=identity)


def _restore_in(
    ctx: RunContext,
    header: dict[str, Any],
    *,
    confirm: Callable[[str], bool] | None,
    yes: bool,
    resume: str | None,
    identity: Path | None,
    lock: RunLock | None = None,
) -> RestoreResult:
    """The run a restore or rollback `header` asks for, in `ctx` (asks once unless `yes`)."""
    rollback = header.get("command") == "rollback"
    swaps = [Swap.from_json(s) for s in header.get("swaps") or []]
    backup_dir = Path(header["backup"]) if header.get("backup") else None
    only = header.get("only")
    dump: Dump | None = None
    if backup_dir is not None and (only is None or only or not rollback):
        dump = read_dump(ctx.out, backup_dir, ctx.plan.target.database, only, identity)
    if dump is not None or header.get("drop"):
        probe_target(ctx)  # the load, its indexes and the cutover's renames need it
    names = [d.name for d in dump.collections] if dump is not None else []
    state = new_state(ctx, names, resumed=bool(resume))
    present = collection_names(ctx.target_db)
    drop = [n for n in header.get("drop") or [] if n not in names]
    steps = restore_steps(
        ctx,
        state,
        dump,
        present=present,
        drop=drop,
        artifacts=list(header.get("artifacts") or []),
        swaps=swaps,
        rollback=rollback,
    )
    planned = plan_actions(ctx, steps)
    confirm_once(_question(ctx, header, swaps, names, drop), confirm, yes=yes)
    summary = _execute(ctx, planned, state, header, resume, keep_shadows=False, lock=lock)
    report = state.report
    return RestoreResult(
        run_id=ctx.run_id,
        dir=str(backup_dir or ""),
        dump_database=dump.database if dump is not None else "",
        collections=names,
        documents=sum(state.counts.get(n, 0) for n in names),
        verified=dump is not None and dump.manifest is not None,
        dropped=state.dropped,
        cutover=report.cutover,
        backup_dir=report.backup.get("dir"),
        report=str(ctx.paths.report_json),
        undo=report.undo,
        swapped=[s.collection for s in swaps if s.put_back],
        kept_aside=dict(report.kept_aside),
        summary=summary,
    )


def _question(
    ctx: RunContext, header: dict[str, Any], swaps: list[Swap], names: list[str], drop: list[str]
) -> str:
    """What a restore or rollback asks before it touches production."""
    where = f"{redact_uri(ctx.plan.target.uri)} database {ctx.plan.target.database!r}"
    what = ", ".join(header["only"]) if header.get("only") else "every collection in the backup"
    restore = f"restore {what} of {header.get('backup')}"
    if header.get("command") != "rollback":
        return (
            f"R{restore[1:]} into {where}" + (f" and drop {', '.join(drop)}" if drop else "") + "?"
        )
    parts = [f"swap back {', '.join(s.collection for s in swaps)} by renames"] if swaps else []
    parts += [restore] if names else []
    parts += [f"drop {', '.join(drop)}"] if drop else []
    return f"Roll back run {header.get('rolls_back')} in {where}: {'; '.join(parts)}?"


# ------------------------------------------------------------------ commands that only read


@dataclass
class InspectOptions:
    """`inspect` has no options (it reads the plan's two sides)."""


InspectResult = Inventory


def inspect(loaded: LoadedPlan, out: Output, options: InspectOptions) -> InspectResult:
    """Inventory of both sides under the plan's classification, and the target's collections the
    tool keeps until cleanup (classes `previous`, `kept_aside`); reads only."""
    plan = loaded.plan
    with connected(plan) as (source, target, _, _):
        source_db, target_db = source[plan.source.database], target[plan.target.database]
        return take_inventory(plan, source_db, target_db, with_kept=True)


@dataclass
class ValidateOptions:
    run_id: str | None = None  # the run whose $now to use (None: the latest)
    state_dir: Path | None = None


ValidateResult = ValidationReport


def validate(loaded: LoadedPlan, out: Output, options: ValidateOptions) -> ValidateResult:
    """The live target against the source, with the plan's transforms applied: reads only.

    Also what production changed since cutover per collection (added and changed documents are
    the application's writes; a missing one fails) and a URL audit of every collection.
    `$now` defaults were filled with the run's own timestamp, so the check takes it from that
    run's journal (the latest run when none is named).
    """
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


def backup(loaded: LoadedPlan, out: Output, options: BackupOptions) -> BackupResult:
    """A verified backup of every application collection of the target database."""
    with open_context(loaded, out, state_dir=options.state_dir) as ctx:
        names = collection_names(ctx.target_db)
        return backup_collections(ctx, names, options.out_dir or ctx.paths.backup_dir)


@dataclass
class SeedOptions:
    source_uri: str
    target_uri: str
    source_database: str = "meeshy"
    target_database: str = "meeshy"
    scale: float = 1
    seed: int = 42
    progress: Callable[[str, str, int], None] | None = None  # (side, collection, documents)


@dataclass
class SeedResult:
    manifest: dict[str, Any]  # the generator's: documents per collection on each side

    def to_json(self) -> dict[str, Any]:
        return self.manifest


def seed(out: Output, options: SeedOptions) -> SeedResult:
    """Fill staging and production with the synthetic Meeshy data; progress shows as a status
    line on `out`, then a one-line summary."""
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
        )
    )


# ------------------------------------------------------------------ the demo


def demo(out: Output, options: DemoOptions) -> DemoResult:
    """The whole Meeshy promotion on two local servers: seed, inventory, dry-run, run, validate.

    `options.view` shows the inventory, the dry-run, the run's summary and the validation (the
    CLI draws tables). With `options.keep` the servers stay up (listed in the result); otherwise
    they are stopped and their data deleted.
    """
    view = options.view
    state_dir = options.state_dir
    with showcase.demo_servers(out, options) as pair:
        source_uri, target_uri = pair[0].uri, pair[1].uri
        out.step("demo 2", f"seeding realistic Meeshy data at scale {options.scale:g}")
        seed(out, SeedOptions(source_uri, target_uri, scale=options.scale, seed=options.seed))
        loaded = load_plan(bundled_plan_path(), source_uri=source_uri, target_uri=target_uri)
        out.step("demo 3", "inventory of both sides under the bundled Meeshy plan")
        view.inventory(inspect(loaded, out, InspectOptions()))
        out.step("demo 4", "dry-run: what the promotion would do (writes nothing)")
        dry = DryRunOptions(state_dir=state_dir, run_hooks=False, health_gate="off")
        view.dry_run(dry_run(loaded, out, dry).dry_run)
        out.step(
            "demo 5",
            "the promotion itself (hooks skipped and the health gate off: they would restart and "
            "check the real gateway)",
        )
        outcome = _demo_run(loaded, out, view, state_dir)
        out.step("demo 6", "validation of the live target against the source")
        report = validate(loaded, out, ValidateOptions(outcome.run_id, state_dir))
        view.validation(report)
        out.info(
            f"\nrun {outcome.run_id}: {outcome.status}; report {outcome.report}; "
            f"backup {outcome.backup_dir}"
        )
        out.info(
            f"undo it with: mongo-promote rollback --plan meeshy --state-dir {state_dir} "
            "(with the servers kept: --keep)"
        )
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
    """The demo's promotion, its summary shown by the view (also when its post-checks fail)."""
    options = RunOptions(yes=True, run_hooks=False, state_dir=state_dir, health_gate="off")
    try:
        outcome = run(loaded, out, options)
    except PostChecksFailed as exc:
        view.summary(exc.summary)
        raise
    if outcome.summary is not None:
        view.summary(outcome.summary)
    return outcome


# ------------------------------------------------------------------ operations after cutover:
# health, refresh-staging (never connect to a database), cleanup, history


@dataclass
class HealthOptions:
    on_check: Callable[[CheckResult], None] | None = None  # each check's result, as it comes


HealthResult = HealthReport


def health(loaded: LoadedPlan, out: Output, options: HealthOptions) -> HealthResult:
    """The plan's HTTP health checks, in order, each with its retries; touches no database."""
    checks = loaded.plan.health
    if not checks:
        raise UsageError("the plan has no health checks (a `health:` list of {name, url, ...})")
    return run_checks(checks, on_result=options.on_check)


@dataclass
class RefreshStagingOptions:
    dry_run: bool = False  # list the runbook; run nothing
    state_dir: Path | None = None
    on_event: OnEvent | None = None  # (kind, payload) as each command, wait and check happens


RefreshStagingResult = RefreshReport


def refresh_staging(
    loaded: LoadedPlan, out: Output, options: RefreshStagingOptions
) -> RefreshStagingResult:
    """The plan's staging_refresh runbook; its report is saved under runs/refresh-<id>/ (0600)."""
    dry = options.dry_run
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
    `dry_run` writes nothing."""
    base = base_dir(loaded, options.state_dir)
    run_id = options.run_id or latest_run(base, command="run")
    if run_id is None:
        raise UsageError(f"no run under {base / 'runs'}: cleanup follows a run (--run RUN_ID)")
    after = after_run(open_journal(base, run_id), loaded.plan.target.database)
    dry = options.dry_run
    with open_context(loaded, out, state_dir=options.state_dir) as ctx:
        chosen = choose(ctx, after, set(options.force), ignore_age=options.ignore_age, dry_run=dry)
        found = chosen.found
        status = "dry-run" if dry else ("nothing to do" if not found else "refused")
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
        state = new_state(ctx, [], resumed=False)
        planned = plan_actions(ctx, cleanup_steps(ctx, state, found))
        header = {"command": "cleanup", "cleans_up": run_id, "drop": chosen.names}
        result.summary = _execute(ctx, planned, state, header, None, keep_shadows=False)
        result.status, result.run_id, result.dropped = (
            state.report.status,
            ctx.run_id,
            state.dropped,
        )
        result.backup_dir, result.report = (
            state.report.backup.get("dir"),
            str(ctx.paths.report_json),
        )
        return result


@dataclass
class HistoryOptions:
    state_dir: Path | None = None


@dataclass
class HistoryResult:
    runs: list[RunEntry]  # oldest first

    def to_json(self) -> dict[str, Any]:
        return {"runs": [e.to_json() for e in self.runs]}


def history(loaded: LoadedPlan, out: Output, options: HistoryOptions) -> HistoryResult:
    """Every run under the state directory (run, restore, rollback, cleanup, refresh), oldest first,
    with what acted on what; reads files only (no database), tolerating torn journals and reports."""
    return HistoryResult(read_history(base_dir(loaded, options.state_dir)))
