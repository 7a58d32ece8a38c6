"""The runner's side of a write freeze (issue 17): which actions hold only while the freeze that
ran them holds (a resume redoes them), and the guarantee that the freeze always ends once
freeze.start has run, whatever happens next, but only once production is consistent: untouched,
fully cut over, or put back (with keep_previous, a cutover stopped part-way is swapped back by
renames). A cutover stopped part-way that cannot be made whole at once keeps the freeze (the application stays stopped rather than write to a half-built production), says so
and gives the exact commands."""

from __future__ import annotations

import shlex
from collections.abc import Callable

from mongo_promote.errors import LockLost, PromoteError
from mongo_promote.redact import redact_text
from mongo_promote.run.failures import with_message
from mongo_promote.run.signals import signals_deferred
from mongo_promote.state.context import RunContext
from mongo_promote.state.journal import FREEZE_KEPT, Journal, Kind
from mongo_promote.state.report import Status
from mongo_promote.state.step import Planned, Result, RunState
from mongo_promote.steps.cutover import CutoverDrift, CutoverStep
from mongo_promote.steps.freeze import FreezeEndFailed, FreezeEndStep, by_hand
from mongo_promote.steps.swap import undo_renames


def undo_partial_cutover(
    ctx: RunContext, state: RunState, cause: BaseException, finish: Callable[[], None]
) -> tuple[list[str] | None, str | None]:
    """A cutover stopped part-way inside a freeze, made consistent before the freeze may end:
    (undone, None) once production is as it was before the run, (None, None) once it is fully cut
    over, (None, why) when it is neither.

    With keep_previous (the cutover kept what it replaced) the renames made are swapped back
    (`undo_renames`), whatever stopped the cutover: a rename's guard (production was written to
    during the freeze: the previous collection, back under its name, holds that write), a lost
    lock (each rename is put back only while its name holds what this run installed), any error.
    Without a kept previous collection production is made whole by finishing the cutover, when
    the failure allows it: not a rename's guard (finishing would replace what was written), not a
    lost lock (another run may act now)."""
    if _keeps_previous(state):
        try:
            return undo_renames(ctx, state, fenced=not isinstance(cause, LockLost)), None
        except Exception as exc:
            text = redact_text(str(exc) or type(exc).__name__)
            return None, f"swapping back the renames made failed ({text})"
    if isinstance(cause, CutoverDrift):
        return None, "a rename's guard stopped it: production was written to during the freeze"
    if isinstance(cause, LockLost):
        return None, "the run lost its lock: it writes nothing more"
    try:
        finish()
    except Exception as exc:
        return (
            None,
            f"finishing the cutover failed too ({redact_text(str(exc) or type(exc).__name__)})",
        )
    ctx.out.warn("the cutover stopped part-way and was finished: production is fully cut over")
    return None, None


def _keeps_previous(state: RunState) -> bool:
    """Whether this run's cutover keeps what it replaces (cutover.keep_previous)."""
    return bool(state.report.kept_previous) or bool(
        state.journal is not None and state.journal.renames()
    )


class FrozenSection:
    """What the runner does about the freeze: `forget_on_resume`, `end_after` a failure,
    `cutover_failed`. `apply` applies one action and journals it (the runner's)."""

    def __init__(
        self,
        ctx: RunContext,
        state: RunState,
        journal: Journal,
        planned: list[Planned],
        apply: Callable[[Planned], None],
    ) -> None:
        self.ctx, self.state, self.journal = ctx, state, journal
        self.planned, self.apply = planned, apply
        kinds = [p.step.kind for p in planned]
        self.active = Kind.FREEZE_START in kinds
        self.first = kinds.index(Kind.FREEZE_START) if self.active else 0
        self.last = kinds.index(Kind.FREEZE_END) if self.active else -1

    # ------------------------------------------------------------ resume

    def forget_on_resume(self, done: dict[str, Result]) -> dict[str, Result]:
        """Actions a resume must apply again. A freeze that ended before any rename: the whole
        frozen section (the application wrote meanwhile: a new freeze, a new catch-up). A freeze
        still on (the run was killed, or stopped with production part-way): freeze.start again
        (its contract: it returns at once if writes are stopped) and the catch-up (it re-reads
        only what moved since it read it), unless the cutover is complete."""
        if not self.active:
            return done
        span = self.state.freeze_span()
        if span.started_at is None:
            return done
        section = self.planned[self.first : self.last + 1]
        if span.holding:
            cutover = [p.action.key for p in section if p.step.kind == Kind.CUTOVER]
            if all(k in done for k in cutover):
                return done
            again = {
                p.action.key for p in section if p.step.kind in (Kind.FREEZE_START, Kind.CATCH_UP)
            }
        elif self.journal.started_cutover():
            return done
        else:
            again = {p.action.key for p in section}
        return {k: r for k, r in done.items() if k not in again}

    # ------------------------------------------------------------ failures

    def end_after(self, error: PromoteError, status: str) -> PromoteError:
        """Production is consistent (untouched or cut over): end the freeze if it is on, Ctrl-C
        and SIGTERM waiting; the error then says how it ended."""
        if not self.active or not self.state.freeze_span().holding:
            return error
        end = next(p for p in self.planned if p.step.kind == Kind.FREEZE_END)
        if isinstance(end.step, FreezeEndStep):
            end.step.status = status
        try:
            with signals_deferred(self.ctx, []):
                self.apply(end)
        except FreezeEndFailed as exc:
            return with_message(error, f"{error.message}; {exc.message}")
        except Exception as exc:
            text = redact_text(str(exc) or type(exc).__name__)
            return with_message(
                error,
                f"{error.message}; freeze.end could not run ({text}): the application may still "
                f"be stopped. Run by hand, with the plan's variables set: {self._end_by_hand()}",
            )
        window = self.state.report.freeze.get("window_s")
        return with_message(
            error, f"{error.message}; the write freeze ended (freeze.end ran, window {window} s)"
        )

    def cutover_failed(
        self, cause: BaseException, error: PromoteError, finish: Callable[[], None]
    ) -> tuple[Status | None, PromoteError]:
        """A failure inside the cutover. (None, _): production was made whole again (the run goes
        on); (status, error): the run stops with that status, the freeze ended when production is
        consistent (its renames swapped back: `failed`, production as before the run) and kept,
        saying so, when it is not."""
        if not self.active or not self.state.freeze_span().holding:
            return Status.FAILED_DURING_CUTOVER, error
        if self.journal.header().command != "run":  # a rollback's swap: the freeze always ends
            return Status.FAILED_DURING_CUTOVER, self.end_after(error, Status.FAILED_DURING_CUTOVER)
        renamed, pending = self._cutover_progress()
        present = set(self.ctx.target_db.list_collection_names())
        missing = [n for n in pending if n in self.state.backed_up and n not in present]
        kept = _keeps_previous(self.state)
        if missing and not kept:  # a rename stopped between its two halves: the message says where
            return Status.FAILED_DURING_CUTOVER, self._keep(
                error, f"{', '.join(missing)} not under its name", renamed, pending
            )
        if (renamed and pending) or (kept and (renamed or missing)):
            undone, why = undo_partial_cutover(self.ctx, self.state, cause, finish)
            if undone is not None:
                return Status.FAILED, self._swapped_back(error, undone)
            if why is None:
                return None, error
            return Status.FAILED_DURING_CUTOVER, self._keep(error, why, renamed, pending)
        return Status.FAILED_DURING_CUTOVER, self.end_after(error, "failed")

    def _swapped_back(self, error: PromoteError, undone: list[str]) -> PromoteError:
        """The renames made were swapped back: production is as before the run; the freeze ends."""
        self.ctx.out.warn(
            "the cutover stopped part-way inside the write freeze: the renames it made were "
            f"swapped back ({', '.join(undone) or 'none'}): production is as it was before the run"
        )
        self.state.report.freeze["swapped_back"] = undone
        error = with_message(
            error,
            f"{error.message}. The renames made ({', '.join(undone) or 'none'}) were swapped back: "
            "production is as it was before the run, the shadows are kept "
            f"(`{self.ctx.resume_command()}` cuts over again: a new freeze, a new catch-up)",
        )
        return self.end_after(error, Status.FAILED)

    def _cutover_progress(self) -> tuple[list[str], list[str]]:
        """The collections renamed in, and those not yet."""
        steps = [p.step for p in self.planned if isinstance(p.step, CutoverStep)]
        names = steps[0].names if steps else []
        renamed = self.state.renamed()
        return [n for n in names if n in renamed], [n for n in names if n not in renamed]

    def _keep(
        self, error: PromoteError, why: str, renamed: list[str], pending: list[str]
    ) -> PromoteError:
        self.state.record(FREEZE_KEPT, why=why, renamed=renamed, pending=pending)
        self.state.report.freeze["kept"] = why
        ctx = self.ctx
        resume = (
            f"mongo-promote run --plan {shlex.quote(str(ctx.loaded.path))} --state-dir "
            f"{shlex.quote(str(ctx.paths.base))} --resume {ctx.run_id}"
        )
        return with_message(
            error,
            f"{error.message}. The write freeze was NOT ended: production is part-way cut over "
            f"(renamed in: {', '.join(renamed) or 'none'}; not yet: {', '.join(pending)}) and the "
            f"application stays stopped rather than write to it ({why}). `{resume}` finishes the "
            "cutover (reading again into the backup what moved since the catch-up) and ends the "
            f"freeze; to end the freeze by hand anyway: {self._end_by_hand()}",
        )

    def _end_by_hand(self) -> str:
        freeze = self.ctx.plan.freeze
        return by_hand(freeze.end) if freeze is not None else "-"
