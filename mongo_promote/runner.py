"""The one runner: applies the steps' planned actions in order, journals each, saves the report,
turns Ctrl-C/SIGTERM into a clean stop (deferred during cutover) and skips finished work on resume."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rich.table import Table

from mongo_promote.conn import redact_text
from mongo_promote.console import Output, human_bytes
from mongo_promote.context import RunContext
from mongo_promote.errors import Interrupted, OperationFailed, PromoteError, UsageError
from mongo_promote.journal import Journal
from mongo_promote.report import summary_table
from mongo_promote.steps import cutover as cutover_step
from mongo_promote.steps.analyse import CollectionAction, LeftAlone
from mongo_promote.steps.base import Action, Phase, RunState, Step

STARTED, FINISHED = "action_started", "action_finished"


@dataclass(frozen=True)
class Planned:
    step: Step
    action: Action


def plan_actions(ctx: RunContext, steps: list[Step]) -> list[Planned]:
    """Every step's actions in run order; reads only, so the dry-run prints exactly this list."""
    return [Planned(step, action) for step in steps for action in step.plan(ctx)]


def print_plan(out: Output, planned: list[Planned]) -> None:
    """The action list as the dry-run shows it: each step's heading, then its actions."""
    shown: set[int] = set()
    for p in planned:
        if p.step.number not in shown:
            shown.add(p.step.number)
            out.step(p.step.number, p.step.title)
        out.info(f"  - {p.action.description}")


# ---------------------------------------------------------------- the journal of a run


def start_journal(ctx: RunContext, header: dict[str, Any], *, resume: bool) -> Journal:
    """A new journal, or the existing one of the run being resumed (same plan, not finished)."""
    if not resume:
        return Journal.create(
            ctx.paths.run_dir,
            {
                "run_id": ctx.run_id,
                "plan": str(ctx.loaded.path),
                "fingerprint": ctx.loaded.fingerprint,
                "now": ctx.now.isoformat(),
                "target_database": ctx.plan.target.database,
                **header,
            },
        )
    journal = resumable_journal(ctx)
    ctx.now = datetime.fromisoformat(journal.header()["now"])  # one $now per run, across resumes
    journal.record("run_resumed")
    return journal


def resumable_journal(ctx: RunContext) -> Journal:
    """The journal of run ctx.run_id, if it can be resumed under this plan; reads only."""
    if not ctx.paths.journal.exists():
        raise UsageError(
            f"no run {ctx.run_id} under {ctx.paths.run_dir.parent} (nothing to resume)"
        )
    journal = Journal(ctx.paths.journal)
    header = journal.header()
    if header["fingerprint"] != ctx.loaded.fingerprint:
        raise UsageError(
            f"run {ctx.run_id} was made with a different plan (fingerprint "
            f"{header['fingerprint']}, now {ctx.loaded.fingerprint}): refusing to resume"
        )
    if journal.has("run_finished"):
        raise UsageError(f"run {ctx.run_id} already finished: nothing to resume")
    return journal


def finished_actions(journal: Journal) -> dict[str, dict[str, Any]]:
    """Actions journalled as finished, minus shadow work whose shadows were dropped since."""
    done: dict[str, dict[str, Any]] = {}
    for event in journal.events():
        if event["event"] == FINISHED:
            done[event["key"]] = event
        elif event["event"] == "shadows_dropped":
            done = {k: e for k, e in done.items() if not e.get("shadow")}
    return done


# ---------------------------------------------------------------- the runner


class Runner:
    """Applies planned actions in order; the steps do the work, the runner the bookkeeping."""

    def __init__(
        self,
        ctx: RunContext,
        planned: list[Planned],
        journal: Journal,
        state: RunState,
        *,
        keep_shadows: bool = False,
    ) -> None:
        self.ctx = ctx
        self.planned = planned
        self.journal = journal
        self.state = state
        self.report = state.report
        self.keep_shadows = keep_shadows
        self._announced: set[int] = set()

    def execute(self) -> None:
        done = finished_actions(self.journal)
        try:
            with _signals_cancel(self.ctx):
                self._apply_phase("before", done)
        except (Exception, KeyboardInterrupt) as exc:
            self._abort(exc)
            raise _as_promote_error(exc, self.ctx) from exc
        received: list[int] = []
        try:
            with _signals_deferred(self.ctx, received):
                self._apply_phase("cutover", done)
        except Exception as exc:
            self._failed_during_cutover(exc)
        if received:
            self._fail("interrupted", "interrupted after cutover; hooks and post-checks skipped")
            raise Interrupted(
                f"interrupted after cutover completed; hooks and post-checks skipped "
                f"(`--resume {self.ctx.run_id}` runs them)"
            )
        self._apply_phase("after", done)
        self._finish()

    def _apply_phase(self, phase: Phase, done: dict[str, dict[str, Any]]) -> None:
        for p in self.planned:
            if p.step.phase != phase:
                continue
            self._announce(p.step)
            self.ctx.out.detail(f"  {p.action.description}")
            if p.action.key in done:
                p.step.resume(self.ctx, p.action, done[p.action.key].get("result", {}))
                self.ctx.out.detail(f"  already done: {p.action.description}")
                continue
            self.ctx.check_cancelled()
            self.journal.record(STARTED, key=p.action.key, step=p.action.step)
            result = p.step.apply(self.ctx, p.action)
            self.journal.record(
                FINISHED, key=p.action.key, shadow=p.step.builds_shadows, result=result
            )
            self.save()

    def _announce(self, step: Step) -> None:
        if step.number not in self._announced:
            self._announced.add(step.number)
            self.ctx.out.step(step.number, step.title)

    def _abort(self, exc: BaseException) -> None:
        """Before cutover: production untouched; the shadows go (or stay, for --resume)."""
        if not self.keep_shadows:
            dropped = cutover_step.drop_shadows(self.ctx, self.state.shadows)
            self.ctx.out.info(f"dropped {len(dropped)} shadow collection(s); production untouched")
            self.journal.record("shadows_dropped")
        else:
            self.ctx.out.info(
                f"shadows kept (--keep-shadows); `--resume {self.ctx.run_id}` continues from them"
            )
        interrupted = isinstance(exc, Interrupted | KeyboardInterrupt)
        self._fail("interrupted" if interrupted else "failed", str(exc) or type(exc).__name__)

    def _failed_during_cutover(self, exc: Exception) -> None:
        self._fail(
            "failed during cutover",
            f"{exc}; finished renames are journalled: `--resume {self.ctx.run_id}` completes "
            f"the cutover, `rollback --run {self.ctx.run_id}` undoes it",
        )
        raise OperationFailed(self.report.error or "cutover failed") from exc

    def _fail(self, status: str, error: str) -> None:
        plan = self.ctx.plan
        self.report.status = status
        self.report.error = redact_text(error, plan.source.uri, plan.target.uri)
        self.journal.record("run_failed", error=self.report.error)
        self.save()

    def _finish(self) -> None:
        checks = self.report.post_checks
        self.report.status = "failed" if checks and not checks.get("passed") else "succeeded"
        self.report.finished_at = datetime.now(UTC).isoformat()
        self.journal.record("run_finished", status=self.report.status)
        self.save()
        self.ctx.out.table(summary_table(self.report))
        self.ctx.out.info(f"report: {self.ctx.paths.report_md}")
        if self.report.status != "succeeded":
            raise OperationFailed(f"post-cutover checks failed: {checks}")

    def save(self) -> None:
        self.report.fallbacks = list(self.ctx.fallbacks)
        self.report.save(self.ctx.paths.report_json, self.ctx.paths.report_md)


def _as_promote_error(exc: BaseException, ctx: RunContext) -> PromoteError:
    if isinstance(exc, KeyboardInterrupt):
        return Interrupted(f"interrupted; production untouched. `--resume {ctx.run_id}` continues")
    if isinstance(exc, Interrupted):
        return Interrupted(
            f"{exc.message}; production untouched. `--resume {ctx.run_id}` continues"
        )
    if isinstance(exc, PromoteError):
        return exc
    text = redact_text(f"{type(exc).__name__}: {exc}", ctx.plan.source.uri, ctx.plan.target.uri)
    return OperationFailed(f"run {ctx.run_id} failed before cutover ({text}); production untouched")


# ---------------------------------------------------------------- signals

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def _signals_cancel(ctx: RunContext) -> Iterator[None]:
    """Ctrl-C or SIGTERM sets the cancel flag (workers stop between batches), then interrupts."""

    def handler(signum: int, _frame: Any) -> None:
        ctx.cancel.set()
        raise KeyboardInterrupt

    with _handling(handler):
        yield


@contextmanager
def _signals_deferred(ctx: RunContext, received: list[int]) -> Iterator[None]:
    """During cutover Ctrl-C or SIGTERM waits for the renames to finish: half a cutover helps nobody."""

    def handler(signum: int, _frame: Any) -> None:
        received.append(signum)
        ctx.out.warn("cutover in progress: finishing the renames before stopping")

    with _handling(handler):
        yield


@contextmanager
def _handling(handler: Any) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach the main thread only: an embedding application keeps its own
        return
    previous = {s: signal.getsignal(s) for s in _SIGNALS}
    for s in _SIGNALS:
        signal.signal(s, handler)
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)


def actions_table(collections: list[CollectionAction], left_alone: list[LeftAlone]) -> Table:
    """The dry-run's view of each collection: what the run does to it, or why it is left alone."""
    table = Table()
    for column in (
        "collection",
        "action",
        "source docs",
        "source size",
        "target docs now",
        "transforms",
        "declared indexes",
    ):
        table.add_column(column)
    for a in collections:
        table.add_row(
            a.name,
            a.action,
            f"{a.source_count:,}",
            human_bytes(a.source_size),
            "-" if a.target_count is None else f"{a.target_count:,}",
            "; ".join(a.transforms),
            ", ".join(a.declared_indexes),
        )
    for item in left_alone:
        table.add_row(item.name, f"leave alone ({item.cls})", "", "", "", item.where, "")
    return table


def describe_effect(t: dict[str, Any]) -> str:
    """One line for a transform's expected effect (`transforms.effects.expected_effects`)."""
    if "embed" in t:
        return (
            f"{t['embed']} -> {t['into']}: {t.get('children_read', 0):,} children, "
            f"{t.get('folded', 0):,} (parent, key) pairs into {t.get('parents_updated', 0):,} "
            f"parents; {t.get('duplicates', 0)} duplicate(s) resolved, {t.get('orphans', 0)} "
            f"orphan(s), {t.get('invalid_keys', 0)} invalid key(s), {t.get('no_key', 0)} "
            f"without a key"
        )
    return (
        f"{t['rewrite']}: {t.get('documents_changed', 0):,} of {t.get('documents_scanned', 0):,} "
        f"documents, {t.get('occurrences', 0):,} occurrence(s) of {t['find']!r}"
    )
