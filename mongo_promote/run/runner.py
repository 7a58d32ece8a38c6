"""The one runner: applies the steps' planned actions in order, journals each, saves the report,
turns Ctrl-C/SIGTERM into a clean stop (deferred during cutover) and skips finished work on resume."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_all
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from pymongo.errors import (
    PyMongoError,
)

from mongo_promote.adapters.mongo import content_hash, network_cause
from mongo_promote.domain.inventory import counted
from mongo_promote.errors import (
    Interrupted,
    LockLost,
    OperationFailed,
    PromoteError,
    UsageError,
)
from mongo_promote.redact import redact_text
from mongo_promote.run.failures import classify
from mongo_promote.run.frozen import FrozenSection
from mongo_promote.run.signals import signals_cancel, signals_deferred
from mongo_promote.state.context import RunContext, save_capabilities
from mongo_promote.state.journal import (
    ON_FAILURE_HOOK,
    RUN_FAILED,
    RUN_FINISHED,
    RUN_RESUMED,
    SHADOWS_DROPPED,
    SHADOWS_STALE,
    Journal,
    Span,
)
from mongo_promote.state.lock import RunLock
from mongo_promote.state.report import RunSummary, Status, seconds_between
from mongo_promote.state.step import Phase, Planned, Result, RunState, Step
from mongo_promote.steps import cutover as cutover_step
from mongo_promote.steps.freeze import FreezeEndFailed
from mongo_promote.steps.hooks import HookFailed, HooksStep


class PostChecksFailed(OperationFailed):
    """The run went to its end but its post-cutover checks failed: its summary is still shown."""

    code = "post_checks_failed"

    def __init__(self, message: str, summary: RunSummary) -> None:
        super().__init__(message)
        self.summary = summary


class HealthGateFailed(PostChecksFailed):
    """The run went to its end but its health gate failed (and, with `rollback`, undid it)."""


class FreezeDidNotHold(PostChecksFailed):
    """The run went to its end, but the application wrote during the freeze (steps/held.py)."""

    code = "freeze_not_held"


def plan_actions(ctx: RunContext, steps: list[Step]) -> list[Planned]:
    """Every step's actions in run order; reads only, so the dry-run prints exactly this list."""
    return [Planned(step, action) for step in steps for action in step.plan(ctx)]


# ---------------------------------------------------------------- the journal of a run


def start_journal(ctx: RunContext, header: dict[str, Any], *, resume: bool) -> Journal:
    """A new journal, or the existing one of the run being resumed (same plan, not finished)."""
    if not resume:
        journal = Journal.create(
            ctx.paths.journal,
            {
                "run_id": ctx.run_id,
                "plan": str(ctx.loaded.path),
                "fingerprint": ctx.loaded.fingerprint,
                "now": ctx.now.isoformat(),
                "target_database": ctx.plan.target.database,
                **header,
            },
        )
        save_capabilities(ctx)  # --resume uses them again (state.context.connected)
        return journal
    journal = resumable_journal(ctx)
    ctx.now = journal.header().now  # one $now per run, across resumes
    journal.record(RUN_RESUMED)
    return journal


def resumable_journal(ctx: RunContext) -> Journal:
    """The journal of run ctx.run_id, if it can be resumed under this plan; reads only."""
    if not ctx.paths.journal.exists():
        raise UsageError(
            f"no run {ctx.run_id} under {ctx.paths.run_dir.parent} (nothing to resume)"
        )
    journal = Journal(ctx.paths.journal)
    header = journal.header()
    if header.fingerprint != ctx.loaded.fingerprint:
        raise UsageError(
            f"run {ctx.run_id} was made with a different plan (fingerprint "
            f"{header.fingerprint}, now {ctx.loaded.fingerprint}): refusing to resume"
        )
    if journal.is_finished():
        raise UsageError(f"run {ctx.run_id} already finished: nothing to resume")
    return journal


def _join(beside: list[tuple[Planned, Future[None]]], *, quiet: bool = False) -> None:
    """Wait for the actions running beside; raise the first one's error unless `quiet`."""
    wait_all([f for _, f in beside])
    if not quiet:
        _raise_failed(beside)
        beside.clear()


def _raise_failed(beside: list[tuple[Planned, Future[None]]], *, real_only: bool = False) -> None:
    """A finished action beside that failed: its error (an interrupt only if nothing better, and
    never with `real_only`: an interrupt there was caused by the failure in front)."""
    failed = [e for _, f in beside if f.done() and (e := f.exception()) is not None]
    real = [e for e in failed if not isinstance(e, Interrupted)]
    chosen = real or ([] if real_only else failed)
    if chosen:
        raise chosen[0]


# ---------------------------------------------------------------- the runner


class Runner:
    """Applies planned actions in order; the steps do the work, the runner the bookkeeping.

    With a `lock`, every rename is fenced by `RunLock.fence()` (through `state.fence`) and the
    lease is checked once more before the cutover starts: a lost lease stops the run there.
    Failures are mapped to their exit code with the command that continues or undoes the run;
    the `on_failure` hooks run on any failure or interrupt, their own failure reported only.
    """

    def __init__(
        self,
        ctx: RunContext,
        planned: list[Planned],
        journal: Journal,
        state: RunState,
        *,
        keep_shadows: bool = False,
        lock: RunLock | None = None,
    ) -> None:
        self.ctx = ctx
        self.planned = planned
        self.journal = journal
        self.state = state
        self.report = state.report
        self.keep_shadows = keep_shadows
        self.lock = lock
        self.command = journal.header().command
        ctx.verb = self.command
        self._announced: set[tuple[int, str]] = set()
        if lock is not None:
            state.fence = lock.fence
            state.lock = lock
        self.frozen = FrozenSection(ctx, state, journal, planned, self._apply_act)

    def execute(self) -> RunSummary:
        """Every phase in order; the finished run's summary (a failure raises its typed error)."""
        try:
            with signals_cancel(self.ctx):
                done = self._still_done(self.journal.finished_actions())
                self._apply_phase("before", done)
                if self.lock is not None:
                    self.lock.check()  # the fence before production is touched
        except (Exception, KeyboardInterrupt) as exc:
            error = self._error(exc, "before")
            # production untouched: a freeze ends now, before the shadows go
            error = self.frozen.end_after(error, _status(exc, Status.FAILED))
            self._abort(exc, error)
            raise error from exc
        received: list[int] = []
        try:
            with signals_deferred(self.ctx, received):
                self._apply_phase("cutover", done)
        except Exception as exc:
            error = self._error(exc, "cutover")
            status, error = self.frozen.cutover_failed(
                exc, error, lambda: self._finish_cutover(received)
            )
            if status is not None:
                self._fail(status, error)
                raise error from exc
        if received:
            error = Interrupted(
                f"interrupted after cutover completed; the after_cutover hooks and post-checks "
                f"were not run (`{self.resume_command}` runs them, "
                f"`{self.rollback_command}` undoes the cutover)"
            )
            error = self.frozen.end_after(error, Status.INTERRUPTED)
            self._fail(Status.INTERRUPTED, error)
            raise error
        try:
            with signals_cancel(self.ctx):
                self._apply_phase("after", done)
        except (Exception, KeyboardInterrupt) as exc:
            error = self._error(exc, "after")
            if not isinstance(exc, FreezeEndFailed):  # production is cut over: a freeze ends
                error = self.frozen.end_after(error, _status(exc, Status.FAILED_AFTER_CUTOVER))
            self._fail(Status.INTERRUPTED if _interrupted(exc) else _failed(exc), error)
            raise error from exc
        return self._finish()

    def _finish_cutover(self, received: list[int]) -> None:
        """The cutover's actions not yet journalled as done, applied now (signals waiting)."""
        done = self.journal.finished_actions()
        with signals_deferred(self.ctx, received):
            for p in self.planned:
                if p.step.phase == "cutover" and p.action.key not in done:
                    self._apply_one(p, save=False)
        self.save()

    def _apply_act(self, p: Planned) -> None:
        """One action the frozen section applies (freeze.end after a failure), journalled."""
        self._announce(p.step)
        self._apply_one(p, save=True)

    @property
    def resume_command(self) -> str:
        return self.ctx.resume_command()

    @property
    def rollback_command(self) -> str:
        backup = self.state.report.backup.get("dir")
        if self.command == "cleanup" and backup:  # what a cleanup dropped is in its backup
            return self.ctx.command("restore", "--backup", backup)
        return self.ctx.rollback_command()

    def _apply_phase(self, phase: Phase, done: dict[str, Result]) -> None:
        """The phase's actions in order. An `overlaps` step's action (the backup) runs on a
        thread beside the actions that follow it for as long as they only build shadows: the
        first action that does more (the drift guard) waits for it, and so does the phase's
        end. A failure on either side stops the other; the first real error is raised."""
        planned = [p for p in self.planned if p.step.phase == phase]
        beside: list[tuple[Planned, Future[None]]] = []
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="beside") as pool:
            try:
                for i, p in enumerate(planned):
                    if beside and not p.step.builds_shadows:
                        _join(beside)
                    _raise_failed(beside)
                    self._announce(p.step)
                    self.ctx.out.detail(f"  {p.action.description}")
                    if p.action.key in done:
                        p.step.resume(self.ctx, p.action, done[p.action.key])
                        self.ctx.out.detail(f"  already done: {p.action.description}")
                        continue
                    self.ctx.check_cancelled()
                    after = planned[i + 1] if i + 1 < len(planned) else None
                    last = after is None or after.step is not p.step
                    if p.step.overlaps and after is not None and after.step.builds_shadows:
                        self.ctx.out.info("  (goes on beside the next steps)")
                        beside.append((p, pool.submit(self._apply_beside, p)))
                        continue
                    if p.step.uninterruptible:
                        self._apply_whole(p, save=last)
                    else:
                        self._apply_one(p, save=last)
                _join(beside)
            except BaseException as exc:
                self.ctx.cancel.set()  # whatever runs beside stops at its next check
                _join(beside, quiet=True)
                if isinstance(exc, Interrupted):  # stopped here because the work beside failed?
                    _raise_failed(beside, real_only=True)
                raise

    def _apply_one(self, p: Planned, *, save: bool) -> None:
        self.journal.action_started(p.ref)
        result = p.step.apply(self.ctx, p.action)
        self.journal.action_finished(
            p.ref, shadow=p.step.builds_shadows, result=result, sync=not p.step.finish_unsynced
        )
        # The journal is the record of each action; the report is rewritten when a step's
        # last action is done (and on failure and at the end): rewriting it after each of a
        # step's many actions (one per collection) cost most of a small run's time.
        if save:
            self.save()

    def _apply_whole(self, p: Planned, *, save: bool) -> None:
        """An action Ctrl-C and SIGTERM wait for (freeze.end); then they stop the run."""
        received: list[int] = []
        with signals_deferred(self.ctx, received):
            self._apply_one(p, save=save)
        if received:
            self.ctx.cancel.set()
            raise Interrupted("interrupted by the user")

    def _apply_beside(self, p: Planned) -> None:
        try:
            self._apply_one(p, save=False)
        except BaseException:
            self.ctx.cancel.set()  # the steps in front stop at their next check
            raise

    def _announce(self, step: Step) -> None:
        if (step.number, step.title) not in self._announced:
            self._announced.add((step.number, step.title))
            self.ctx.out.step(step.number, step.title)

    # ------------------------------------------------------------ resume

    def _still_done(self, done: dict[str, Result]) -> dict[str, Result]:
        """On resume before cutover, shadows are checked against the CURRENT source: a shadow
        gone, short, or copied from a source that changed since is dropped and its work redone
        (copy, indexes); the whole-set shadow actions (copy, validation) run again."""
        done = self.frozen.forget_on_resume(done)
        if not self.state.report.resumed or self.journal.started_cutover():
            return done
        stale = stale_shadows(self.ctx, self.state)
        if stale:
            self.ctx.out.warn(
                f"resume: the shadow(s) of {', '.join(stale)} no longer match the source "
                "(or are gone): copied again"
            )
            cutover_step.drop_shadows(self.ctx, stale)
            self.journal.record(SHADOWS_STALE, collections=stale)
        redo = {
            p.action.key
            for p in self.planned
            if p.step.builds_shadows
            and (p.action.collection is None or p.action.collection in stale)
        }
        return {k: e for k, e in done.items() if k not in redo}

    # ------------------------------------------------------------ failures

    def _error(self, exc: BaseException, where: str) -> PromoteError:
        return classify(
            exc,
            self.ctx,
            where,
            resume=self.resume_command,
            rollback=self.rollback_command,
            renamed=[c["collection"] for c in self.report.cutover],
        )

    def _abort(self, exc: BaseException, error: PromoteError) -> None:
        """Before cutover: production untouched; the shadows go (or stay, for --resume)."""
        if isinstance(exc, LockLost):
            self.ctx.out.info(
                "shadows kept: the lock is no longer ours, so this run writes nothing more"
            )
        elif not self.state.shadows:
            pass  # a run that builds no shadow (a backup): nothing to drop
        elif network_cause(exc) is not None:
            self.ctx.out.info(
                "shadows kept: a server was lost, it is not waited for again; "
                f"`{self.resume_command}` continues from them (they are checked first)"
            )
        elif not self.keep_shadows:
            try:
                dropped = cutover_step.drop_shadows(self.ctx, self.state.shadows)
                self.ctx.out.info(
                    f"dropped {len(dropped)} shadow collection(s); production untouched"
                )
                self.journal.record(SHADOWS_DROPPED)
            except PyMongoError as drop_error:
                self.ctx.out.warn(
                    f"the shadows could not be dropped ({type(drop_error).__name__}): they stay "
                    f"for `{self.resume_command}`; production untouched"
                )
        else:
            self.ctx.out.info(
                f"shadows kept (--keep-shadows); `{self.resume_command}` continues from them"
            )
        self._fail(Status.INTERRUPTED if _interrupted(exc) else Status.FAILED, error)

    def _fail(self, status: Status, error: PromoteError) -> None:
        plan = self.ctx.plan
        self.report.status = status
        self.report.error = redact_text(error.message, plan.source.uri, plan.target.uri)
        if self.report.cutover or self.state.dropped:
            self.report.undo = self.rollback_command
        self.journal.record(RUN_FAILED, status=status, error=self.report.error)
        self.save()
        self._on_failure(status)

    def _on_failure(self, status: str) -> None:
        """The plan's on_failure hooks; their own failure is reported, never raised over the
        run's error."""
        for p in self.planned:
            if p.step.phase != "on_failure":
                continue
            self._announce(p.step)
            try:
                if isinstance(p.step, HooksStep):
                    p.step.status = status
                result = p.step.apply(self.ctx, p.action)
                self.journal.record(ON_FAILURE_HOOK, key=p.action.key, result=result)
            except (Exception, KeyboardInterrupt) as exc:
                text = redact_text(str(exc) or type(exc).__name__)
                self.ctx.out.warn(f"on_failure hook failed (the run's error stands): {text}")
                self.journal.record(ON_FAILURE_HOOK, key=p.action.key, error=text)
        self.save()

    def _finish(self) -> RunSummary:
        checks = self.report.post_checks
        failed = checks and not checks.get("passed")
        self.report.status = Status.POST_CHECKS_FAILED if failed else Status.SUCCEEDED
        self.report.finished_at = datetime.now(UTC).isoformat()
        if self.report.cutover or self.state.dropped:
            self.report.undo = self.rollback_command
        gate = self.report.health_gate
        gate_failed = (
            self.report.status == Status.SUCCEEDED and bool(gate) and not gate.get("passed")
        )
        if gate_failed:
            self.report.status, message = self._gate_failed(gate)
        not_held = (
            self.report.freeze.get("not_held") if self.report.freeze.get("held") is False else None
        )
        if not_held:
            from mongo_promote.steps.held import not_held_line  # only a freeze that kept

            line = not_held_line(not_held)
            if gate_failed:
                message += f"; {line}"
            elif self.report.status == Status.SUCCEEDED:
                self.report.status, message = (
                    Status.FREEZE_NOT_HELD,
                    (
                        f"{line} (production is cut over; `{self.rollback_command}` undoes the cutover)"
                    ),
                )
        self.journal.record(RUN_FINISHED, status=self.report.status)
        self.save()
        summary = RunSummary(self.report, str(self.ctx.paths.report_md))
        if gate_failed:
            self._on_failure(self.report.status)
            raise HealthGateFailed(message, summary)
        if self.report.status == Status.FREEZE_NOT_HELD:
            raise FreezeDidNotHold(message, summary)
        if self.report.status != Status.SUCCEEDED:
            raise PostChecksFailed(
                f"post-cutover checks failed: {checks}; `{self.rollback_command}` undoes the cutover",
                summary,
            )
        return summary

    def _gate_failed(self, gate: dict[str, Any]) -> tuple[str, str]:
        """The status and the one line of a run whose health gate failed (its rollback done, or
        failing, or none asked for). A finished run: `--resume` would not undo that rollback."""
        from mongo_promote.steps.gate import gate_failures  # only a run with a gate

        why = f"health gate failed ({gate_failures(gate)})"
        undone_by, error = gate.get("rollback_run_id"), gate.get("rollback_error")
        if undone_by and not error:
            self.report.undo = None
            return Status.ROLLED_BACK_BY_HEALTH_GATE, (
                f"{why}: rolled back by run {undone_by}, production is as before the run "
                f"(`{self.ctx.rollback_command(undone_by)}` undoes that rollback)"
            )
        if error:
            return Status.HEALTH_GATE_ROLLBACK_FAILED, (f"{why}, and rolling back failed: {error}")
        return Status.HEALTH_GATE_FAILED, (
            f"{why}: production stays cut over (health_gate: {gate.get('mode')}); "
            f"`{self.rollback_command}` undoes the cutover"
        )

    def save(self) -> None:
        """The report as the journal has it now: every attempt (the first start stays the run's
        start), each step's time, the timeline; then report.json and report.md."""
        report = self.report
        report.fallbacks = list(self.ctx.fallbacks)
        attempts = self.journal.attempts()
        report.attempts = [asdict(a) for a in attempts]
        if attempts:
            report.started_at = attempts[0].started_at
        spans = self.journal.spans()
        report.timeline = [asdict(s) for s in spans]
        report.windows = {k: list(v) for k, v in self.journal.windows().items()}
        report.steps = _step_times(self.planned, spans)
        report.save(self.ctx.paths.report_json, self.ctx.paths.report_md)


def _step_times(planned: list[Planned], spans: list[Span]) -> list[dict[str, Any]]:
    """Each step that ran (under its number and title): its first action's start to its last
    one's end, from the journal."""
    titles: dict[int, str] = {}
    kinds: dict[int, set[str]] = {}
    for p in planned:
        if p.step.phase != "on_failure":
            titles.setdefault(p.step.number, p.step.title)
            kinds.setdefault(p.step.number, set()).add(p.step.kind)
    steps = []
    for number, title in titles.items():
        mine = [s for s in spans if s.step == number and s.lane in kinds[number]]
        if not mine:
            continue
        started = min(s.started_at for s in mine)
        ends = [s.finished_at for s in mine]
        finished = None if None in ends else max(e for e in ends if e)
        steps.append(
            {
                "number": number,
                "title": title,
                "started_at": started,
                "finished_at": finished,
                "seconds": seconds_between(started, finished),
            }
        )
    return steps


def _interrupted(exc: BaseException) -> bool:
    return isinstance(exc, Interrupted | KeyboardInterrupt)


def _status(exc: BaseException, otherwise: Status) -> Status:
    """What freeze.end and the hooks are told happened (MONGO_PROMOTE_STATUS)."""
    return Status.INTERRUPTED if _interrupted(exc) else otherwise


def _failed(exc: BaseException) -> Status:
    """The status of a run that failed after its cutover."""
    if isinstance(exc, FreezeEndFailed):
        return Status.CUT_OVER_FREEZE_END_FAILED
    return (
        Status.CUT_OVER_HOOK_FAILED if isinstance(exc, HookFailed) else Status.FAILED_AFTER_CUTOVER
    )


def stale_shadows(ctx: RunContext, state: RunState) -> list[str]:
    """Collections whose journalled copy no longer stands: shadow gone or not whole, or the
    source changed since it was read (count + content hash of the source collection now against
    the journalled hash of what was copied), or one of the child collections its embeds folded
    in did (the fields they read, hashed again; a copy journalled without that record cannot
    be vouched for). Reads only."""
    copied = state.journalled_copies()
    present = set(ctx.target_db.list_collection_names())
    stale = []
    for name, entry in copied.items():
        shadow = ctx.shadow_name(name)
        ctx.check_cancelled()
        whole = (
            shadow in present and counted(ctx.target_db[shadow], entry["count"]) == entry["count"]
        )
        if (
            not whole
            or _source_hash(ctx, name) != entry["content_hash"]
            or _children_changed(ctx, name, entry.get("children"))
        ):
            stale.append(name)
    return sorted(stale)


def _children_changed(ctx: RunContext, name: str, read: dict[str, str] | None) -> bool:
    """An embed into `name` whose child collection is no longer what the copy folded in."""
    embeds = [e for e in ctx.plan.embeds if e.into == name]
    if not embeds:
        return False
    if read is None:
        return True  # journalled before children were recorded: nothing to compare with
    from mongo_promote.domain.transforms.stream import children_hash  # only a resumed run

    return any(children_hash(ctx.source_db, e) != read.get(e.source) for e in embeds)


def _source_hash(ctx: RunContext, name: str) -> str:
    return content_hash(ctx.source_db[name]).hexdigest()
