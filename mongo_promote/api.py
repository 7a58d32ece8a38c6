"""The library's public commands: one typed function per CLI command, usable without the CLI."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pymongo.errors import PyMongoError
from rich.markup import escape

from mongo_promote.adapters.health import CheckResult, HealthReport, run_checks
from mongo_promote.adapters.health import health_table as health_table  # re-exported for the CLI
from mongo_promote.console import Output, confirm_once
from mongo_promote.demo import showcase
from mongo_promote.demo.showcase import DemoOptions, DemoResult, DemoView
from mongo_promote.domain.analysis import Actions, analyse
from mongo_promote.domain.inventory import Inventory, collection_names, take_inventory
from mongo_promote.domain.plan import Hook, LoadedPlan, Plan, bundled_plan_path, load_plan
from mongo_promote.domain.transforms.effects import expected_effects
from mongo_promote.errors import OperationFailed, PromoteError, UsageError
from mongo_promote.redact import redact_uri
from mongo_promote.run.failures import classify
from mongo_promote.run.refresh import (
    COMMAND_DONE,
    COMMAND_STARTED,
    HEALTH_CHECK,
    WAITING,
    CommandResult,
    RefreshReport,
)
from mongo_promote.run.refresh import refresh_staging as run_runbook
from mongo_promote.run.rollback import rollback_header
from mongo_promote.run.runner import (
    FINISHED,
    Planned,
    Runner,
    actions_table,
    describe_effect,
    finished_actions,
    plan_actions,
    print_plan,
    resumable_journal,
    start_journal,
)
from mongo_promote.run.sequence import new_state, promotion_steps, restore_steps
from mongo_promote.state.context import (
    RunContext,
    RunPaths,
    base_dir,
    connected,
    new_run_id,
    open_context,
)
from mongo_promote.state.history import RunEntry, read_history
from mongo_promote.state.journal import Journal, latest_run, open_journal
from mongo_promote.state.lock import RunLock
from mongo_promote.state.step import Action, RunState
from mongo_promote.steps.backup import BackupResult, backup_collections
from mongo_promote.steps.cleanup import (
    AfterRun,
    AgeGuard,
    Candidate,
    CleanupResult,
    backup_hashes,
    candidates,
    candidates_table,
    cleanup_names,
    cleanup_steps,
)
from mongo_promote.steps.indexes import planned_index_names
from mongo_promote.steps.restore import read_dump
from mongo_promote.steps.validate import ValidationReport, monitor, validate_live

# ------------------------------------------------------------------ run and dry-run


@dataclass
class RunOptions:
    dry_run: bool = False
    yes: bool = False
    resume: str | None = None
    workers: int = 4
    keep_shadows: bool = False
    allow_target_drift: bool = False
    run_hooks: bool = True
    state_dir: Path | None = None
    confirm: Callable[[str], bool] | None = None  # None: stdin is not interactive


@dataclass
class DryRun:
    """What `run` would do: the runner's own action list, and the read-only checks around it."""

    analysis: Actions
    actions: list[Action]
    transforms: list[dict[str, Any]]  # expected effect of each transform
    indexes: dict[str, list[str]]  # index names each shadow gets
    lock_held_by: str | None

    def to_json(self) -> dict[str, Any]:
        collections = self.analysis.collections
        return {
            **self.analysis.to_json(),
            "planned": [a.to_json() for a in self.actions],
            "transforms": self.transforms,
            "indexes": self.indexes,
            "lock_held_by": self.lock_held_by,
            "documents_to_copy": sum(a.source_count for a in collections),
            "bytes_to_copy": sum(a.source_size for a in collections),
        }


@dataclass
class RunOutcome:
    run_id: str | None
    status: str
    backup_dir: str | None
    report: str | None
    validation_passed: bool | None
    dry_run: DryRun | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "run_id": self.run_id,
            "status": self.status,
            "backup_dir": self.backup_dir,
            "report": self.report,
            "validation": {"passed": self.validation_passed},
        }
        if self.dry_run is not None:
            data["actions"] = self.dry_run.to_json()
        return data


def run(loaded: LoadedPlan, options: RunOptions, out: Output) -> RunOutcome:
    """The promotion (or, with options.dry_run, its dry-run): asks once, then runs under the lock."""
    if options.dry_run:
        return dry_run(loaded, options, out)
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
        _execute(ctx, planned, state, {"command": "run"}, options.resume, options.keep_shadows)
        return RunOutcome(
            ctx.run_id,
            state.report.status,
            state.report.backup.get("dir"),
            str(ctx.paths.report_json),
            True,
        )


def dry_run(loaded: LoadedPlan, options: RunOptions, out: Output) -> RunOutcome:
    """Every read-only check and the exact actions `run` would apply. Writes nothing anywhere."""
    with open_context(loaded, out, state_dir=options.state_dir, workers=options.workers) as ctx:
        analysis, planned, _ = _plan_promotion(ctx, options, resumed=False)
        print_plan(out, planned)
        out.table(actions_table(analysis.collections, analysis.left_alone))
        transforms = expected_effects(ctx.source_db, ctx.plan, ctx.now)
        if transforms:
            out.info("  transforms, expected effect:")
        for t in transforms:
            out.info("  " + describe_effect(t))
        holder = RunLock(ctx.target_client, ctx.plan.target.database, ctx.run_id).holder()
        lock = holder.describe() if holder else None
        if lock:
            out.warn(f"the lock is held now: {lock}; `run` would exit 4")
        for item in analysis.left_alone:
            out.detail(f"  left alone: {item.name} ({item.cls}, {item.where}): {item.reason}")
        caps = ctx.target_caps
        if caps.lacks():
            how = "probed" if caps.probed else "expected from buildInfo, not probed (the dry-run"
            how += "" if caps.probed else " writes nothing; `run` tries each one first)"
            out.info(f"  fallbacks {how}: {', '.join(caps.lacks())}")
        out.info("[bold]dry-run: nothing was written[/]")
        indexes = {
            a.name: planned_index_names(a, ctx.plan.indexes.get(a.name, []), ctx.target_caps)
            for a in analysis.collections
        }
        summary = DryRun(analysis, [p.action for p in planned], transforms, indexes, lock)
        return RunOutcome(None, "dry-run", None, None, None, dry_run=summary)


def _plan_promotion(
    ctx: RunContext, options: RunOptions, *, resumed: bool
) -> tuple[Actions, list[Planned], RunState]:
    """Inventory, analysis and the runner's action list: the same for the dry-run and the run."""
    analysis = analyse(ctx.plan, take_inventory(ctx.plan, ctx.source_db, ctx.target_db))
    state = new_state(ctx, [a.name for a in analysis.collections], resumed=resumed)
    steps = promotion_steps(
        ctx,
        state,
        analysis,
        allow_target_drift=options.allow_target_drift,
        run_hooks=options.run_hooks,
    )
    return analysis, plan_actions(ctx, steps), state


def _execute(
    ctx: RunContext,
    planned: list[Planned],
    state: RunState,
    header: dict[str, Any],
    resume: str | None,
    keep_shadows: bool,
) -> None:
    """Under the lock: the journal (new or resumed), then the runner. A lease lost meanwhile is
    journalled as it happens; the runner stops before cutover, and before any rename."""
    journals: list[Journal] = []

    def lost(reason: str) -> None:
        ctx.out.warn(f"the run's lock was lost: {reason}")
        for journal in journals:
            journal.record("lock_lost", reason=reason)

    lock = RunLock(ctx.target_client, ctx.plan.target.database, ctx.run_id, on_lost=lost)
    try:
        lock.acquire()
    except PyMongoError as exc:
        raise classify(exc, ctx, "start", resume="", rollback="") from exc
    try:
        journal = start_journal(ctx, header, resume=bool(resume))
        journals.append(journal)
        state.journal = journal
        Runner(ctx, planned, journal, state, keep_shadows=keep_shadows, lock=lock).execute()
    finally:
        with contextlib.suppress(PyMongoError):  # unreachable: the lease ends by itself
            lock.release()


# ------------------------------------------------------------------ restore and rollback


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
    nothing_to_do: str | None = None  # why nothing was touched (a rollback of a run that cut
    # over nothing)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def restore(
    loaded: LoadedPlan,
    out: Output,
    backup_dir: Path | None,
    *,
    confirm: Callable[[str], bool] | None,
    yes: bool,
    only: list[str] | None = None,
    drop: list[str] | None = None,
    resume: str | None = None,
    state_dir: Path | None = None,
    identity: Path | None = None,
) -> RestoreResult:
    """Put the target back as the backup holds it: a run of its own (backup of what it replaces,
    shadows checked against the backup, cutover) with a journal, so `resume=RUN_ID` continues it.
    `identity`: the age identity file that decrypts an encrypted backup."""
    if resume:
        header = _header_of(loaded, state_dir, resume)
        backup_dir, only, drop = Path(header["backup"]), header["only"], header["drop"]
    if backup_dir is None:
        raise UsageError("restore needs a backup directory (or the run id to resume)")
    header = {"command": "restore", "backup": str(backup_dir), "only": only, "drop": drop or []}
    return _restore_run(
        loaded,
        out,
        lambda ctx: header,
        confirm=confirm,
        yes=yes,
        resume=resume,
        state_dir=state_dir,
        identity=identity,
    )


def rollback(
    loaded: LoadedPlan,
    out: Output,
    *,
    run_id: str | None,
    state_dir: Path | None,
    confirm: Callable[[str], bool] | None,
    yes: bool,
    resume: str | None = None,
    identity: Path | None = None,
    allow_target_drift: bool = False,
) -> RestoreResult:
    """Undo a run, and only what it did: the collections it cut over come back from its backup,
    the ones it created go, its leftovers (shadows, asides) too. Nothing cut over: says so and
    touches nothing. Production changed since the cutover (count + content hash against the
    fingerprint journalled at cutover): refused, unless `allow_target_drift`, and then the
    current state is in the rollback's own verified backup (`rollback --run <rollback id>`
    undoes the rollback). `resume=RUN_ID` (the rollback's own run id) continues one."""
    if resume:
        header = _header_of(loaded, state_dir, resume)
        return _restore_run(
            loaded,
            out,
            lambda ctx: header,
            confirm=confirm,
            yes=yes,
            resume=resume,
            state_dir=state_dir,
            identity=identity,
        )
    base = base_dir(loaded, state_dir)
    run_id = run_id or latest_run(base, command="run")
    if run_id is None:
        raise UsageError(f"no run to roll back under {base / 'runs'}")
    journal = open_journal(base, run_id)
    return _restore_run(
        loaded,
        out,
        lambda ctx: rollback_header(ctx, journal, run_id, allow_target_drift=allow_target_drift),
        confirm=confirm,
        yes=yes,
        resume=None,
        state_dir=state_dir,
        identity=identity,
    )


def _header_of(loaded: LoadedPlan, state_dir: Path | None, run_id: str) -> dict[str, Any]:
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
    with open_context(loaded, out, run_id=resume, state_dir=state_dir, probe=True) as ctx:
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
        backup_dir, only = Path(header["backup"]), header["only"]
        artifacts = list(header.get("artifacts", []))
        dump = read_dump(out, backup_dir, ctx.plan.target.database, only, identity)
        names = [d.name for d in dump.collections]
        state = new_state(ctx, names, resumed=bool(resume))
        present = collection_names(ctx.target_db)
        drop = [n for n in header["drop"] if n not in names]
        steps = restore_steps(ctx, state, dump, present=present, drop=drop, artifacts=artifacts)
        planned = plan_actions(ctx, steps)
        what = ", ".join(only) if only else "every collection in the backup"
        confirm_once(
            f"Restore {what} of {backup_dir} into {redact_uri(ctx.plan.target.uri)} database "
            f"{ctx.plan.target.database!r}"
            + (f" and drop {', '.join(drop)}" if drop else "")
            + "?",
            confirm,
            yes=yes,
        )
        _execute(ctx, planned, state, header, resume, keep_shadows=False)
        return RestoreResult(
            run_id=ctx.run_id,
            dir=str(backup_dir),
            dump_database=dump.database,
            collections=names,
            documents=sum(state.counts.get(n, 0) for n in names),
            verified=dump.manifest is not None,
            dropped=state.dropped,
            cutover=state.report.cutover,
            backup_dir=state.report.backup.get("dir"),
            report=str(ctx.paths.report_json),
            undo=state.report.undo,
        )


# ------------------------------------------------------------------ commands that only read


def inspect(plan: Plan) -> Inventory:
    """Inventory of both sides under the plan's classification; reads only."""
    with connected(plan) as (source, target, _, _):
        return take_inventory(plan, source[plan.source.database], target[plan.target.database])


def validate(
    loaded: LoadedPlan, out: Output, *, run_id: str | None = None, state_dir: Path | None = None
) -> ValidationReport:
    """The live target against the source, with the plan's transforms applied: reads only.

    Also what production changed since cutover per collection (added and changed documents are
    the application's writes; a missing one fails) and a URL audit of every collection.
    `$now` defaults were filled with the run's own timestamp, so the check takes it from that
    run's journal (the latest run when none is named).
    """
    base = base_dir(loaded, state_dir)
    run_id = run_id or latest_run(base, command="run")
    with open_context(loaded, out, state_dir=state_dir) as ctx:
        if run_id:
            ctx.now = datetime.fromisoformat(open_journal(base, run_id).header()["now"])
            out.detail(f"$now of run {run_id}: {ctx.now.isoformat()}")
        elif ctx.plan.embeds:
            out.warn("no run found: fields defaulted to $now cannot match (pass --run RUN_ID)")
        inventory = take_inventory(ctx.plan, ctx.source_db, ctx.target_db)
        analysis = analyse(ctx.plan, inventory)
        return monitor(ctx, analysis, validate_live(ctx, analysis))


def backup(
    loaded: LoadedPlan, out: Output, out_dir: Path | None, state_dir: Path | None
) -> BackupResult:
    """A verified backup of every application collection of the target database."""
    with open_context(loaded, out, state_dir=state_dir) as ctx:
        names = collection_names(ctx.target_db)
        return backup_collections(ctx, names, out_dir or ctx.paths.backup_dir)


def seed(
    source_uri: str,
    target_uri: str,
    *,
    source_database: str = "meeshy",
    target_database: str = "meeshy",
    scale: float = 1,
    seed: int = 42,
    progress: Callable[[str, str, int], None] | None = None,
    out: Output | None = None,
) -> dict[str, Any]:
    """Fill staging and production with the synthetic Meeshy data; returns the generator's manifest.

    With `out`, progress shows as a status line there, then a one-line summary.
    """
    return showcase.seed_servers(
        source_uri,
        target_uri,
        source_database=source_database,
        target_database=target_database,
        scale=scale,
        seed=seed,
        progress=progress,
        out=out,
    )


# ------------------------------------------------------------------ the demo


def demo(options: DemoOptions, out: Output, view: DemoView | None = None) -> DemoResult:
    """The whole Meeshy promotion on two local servers: seed, inventory, dry-run, run, validate.

    `view` shows the inventory and the validation (the CLI draws tables). With `options.keep` the
    servers stay up (listed in the result); otherwise they are stopped and their data deleted.
    """
    view = view or showcase.NoView()
    state_dir = options.state_dir
    with showcase.demo_servers(out, options) as pair:
        source_uri, target_uri = pair[0].uri, pair[1].uri
        out.step("demo 2", f"seeding realistic Meeshy data at scale {options.scale:g}")
        seed(source_uri, target_uri, scale=options.scale, seed=options.seed, out=out)
        loaded = load_plan(bundled_plan_path(), source_uri=source_uri, target_uri=target_uri)
        out.step("demo 3", "inventory of both sides under the bundled Meeshy plan")
        view.inventory(inspect(loaded.plan))
        out.step("demo 4", "dry-run: what the promotion would do (writes nothing)")
        dry_run(loaded, RunOptions(state_dir=state_dir), out)
        out.step(
            "demo 5", "the promotion itself (hooks skipped: they would restart the real gateway)"
        )
        outcome = run(loaded, RunOptions(yes=True, run_hooks=False, state_dir=state_dir), out)
        out.step("demo 6", "validation of the live target against the source")
        report = validate(loaded, out, run_id=outcome.run_id, state_dir=state_dir)
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


# ------------------------------------------------------------------ operations after cutover:
# health, refresh-staging (never connect to a database), cleanup, history


def health(loaded: LoadedPlan, out: Output) -> HealthReport:
    """The plan's HTTP health checks, in order, each with its retries; touches no database."""
    checks = loaded.plan.health
    if not checks:
        raise UsageError("the plan has no health checks (a `health:` list of {name, url, ...})")
    return run_checks(checks, on_result=lambda r: _show_check(out, r))


def refresh_staging(
    loaded: LoadedPlan, out: Output, dry_run: bool, *, state_dir: Path | None = None
) -> RefreshReport:
    """The plan's staging_refresh runbook; its report is saved under runs/refresh-<id>/ (0600)."""
    report = run_runbook(loaded.plan, dry_run=dry_run, on_event=lambda k, p: _show_event(out, k, p))
    if not dry_run:
        run_dir = RunPaths.under(base_dir(loaded, state_dir), f"refresh-{new_run_id()}").run_dir
        report.save(run_dir)
        out.info(f"report: {run_dir / 'report.md'}")
    return report


def _show_check(out: Output, result: CheckResult) -> None:
    verdict = "[green]ok[/]" if result.ok else f"[red]FAIL[/] {escape(result.reason or '')}"
    out.detail(f"{escape(result.name)}: {verdict} ({result.attempts} attempt(s))")


def _show_event(out: Output, kind: str, payload: Any) -> None:
    if kind == COMMAND_STARTED:
        hook: Hook = payload
        out.info(f"[bold cyan]$[/] {escape(hook.command)}")
    elif kind == COMMAND_DONE:
        done: CommandResult = payload
        code = "timed out" if done.exit_code is None else f"exit {done.exit_code}"
        out.detail(f"{code} after {done.seconds:.1f}s")
        if not done.ok and done.output.strip():
            out.info(escape(done.output.rstrip()))
    elif kind == WAITING:
        out.info(f"waiting {payload:g}s before the health checks")
    elif kind == HEALTH_CHECK:
        _show_check(out, payload)


def cleanup(
    loaded: LoadedPlan,
    out: Output,
    *,
    run_id: str | None = None,
    dry_run: bool = False,
    ignore_age: bool = False,
    force: list[str] | None = None,
    confirm: Callable[[str], bool] | None = None,
    yes: bool = False,
    state_dir: Path | None = None,
) -> CleanupResult:
    """Drop the target's legacy collections and replaced embed sources after run `run_id` (the
    latest run by default), guarded: not before cleanup.min_age since its cutover (`ignore_age`),
    not a collection written since its backup (`force` names those), and never without a verified
    backup of what goes. A run of its own (journal, report, lock); `dry_run` writes nothing."""
    base = base_dir(loaded, state_dir)
    run_id = run_id or latest_run(base, command="run")
    if run_id is None:
        raise UsageError(f"no run under {base / 'runs'}: cleanup follows a run (--run RUN_ID)")
    after = _after_run(open_journal(base, run_id), loaded.plan.target.database)
    forced = set(force or [])
    with open_context(loaded, out, state_dir=state_dir) as ctx:
        names = cleanup_names(ctx.plan, collection_names(ctx.target_db))
        if forced - set(names):
            raise UsageError(
                f"--force-collection {', '.join(sorted(forced - set(names)))}: not a collection "
                f"cleanup would drop (those are: {', '.join(names) or 'none'})"
            )
        age = AgeGuard(after.cutover_at, ctx.plan.cleanup.min_age, datetime.now(UTC), ignore_age)
        result = CleanupResult(run_id, "dry-run" if dry_run else "refused", age.to_json(), [])
        if age.refuses and not dry_run:
            raise OperationFailed(f"cleanup refused: {age.describe()} (or pass --ignore-age)")
        found = candidates(ctx, names, after, forced)
        result.collections = [c.to_json() for c in found]
        out.table(candidates_table(found, age))
        if dry_run:
            out.info("[bold]dry-run: nothing was written[/]")
            return result
        if not found:
            out.info("nothing to clean up")
            result.status = "nothing to do"
            return result
        _refuse_changed(found)
        confirm_once(
            f"Back up, then drop {', '.join(names)} in {redact_uri(ctx.plan.target.uri)} "
            f"database {ctx.plan.target.database!r}?",
            confirm,
            yes=yes,
        )
        state = new_state(ctx, [], resumed=False)
        planned = plan_actions(ctx, cleanup_steps(ctx, state, found))
        header = {"command": "cleanup", "cleans_up": run_id, "drop": names}
        _execute(ctx, planned, state, header, None, keep_shadows=False)
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


def _after_run(journal: Journal, database: str) -> AfterRun:
    """When run `journal` cut over (its last rename) and what its backup holds."""
    run_id = str(journal.header()["run_id"])
    cutovers = [
        str(e["at"])
        for e in journal.events()
        if e["event"] == FINISHED and str(e.get("key", "")).startswith("cutover:")
    ]
    if not cutovers:
        raise OperationFailed(f"run {run_id} never cut over: there is nothing to clean up after it")
    backup = finished_actions(journal).get("backup")
    if backup is None:
        raise OperationFailed(f"run {run_id} took no backup: cleanup has nothing to compare with")
    info = backup["result"]["backup"]
    cutover_at = datetime.fromisoformat(max(cutovers))
    return AfterRun(run_id, cutover_at, info["dir"], backup_hashes(info, database))


def _refuse_changed(found: list[Candidate]) -> None:
    changed = [c.name for c in found if c.changed and not c.forced]
    if changed:
        raise OperationFailed(
            f"cleanup refused: {', '.join(changed)} changed since the run's backup (something "
            "may still write to it); nothing was dropped. To drop one anyway: "
            + " ".join(f"--force-collection {n}" for n in changed)
        )


def history(loaded: LoadedPlan, state_dir: Path | None = None) -> list[RunEntry]:
    """Every run under the state directory (run, restore, rollback, cleanup, refresh), oldest first,
    with what acted on what; reads files only (no database), tolerating torn journals and reports."""
    return read_history(base_dir(loaded, state_dir))
