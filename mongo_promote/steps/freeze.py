"""The write freeze's own commands (issue 17): `freeze.start` stops the application's writes, and
`freeze.end` lets them resume; the window runs from launching the first to the return of the second."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from mongo_promote.domain.plan import FreezeSpec, Hook
from mongo_promote.errors import OperationFailed
from mongo_promote.redact import redact_text
from mongo_promote.state.context import RunContext
from mongo_promote.state.journal import FREEZE_ENDED, FREEZE_STARTED, Kind
from mongo_promote.state.step import Action, Phase, Result, RunState, StepBase
from mongo_promote.steps.hooks import HookFailed, command_failure, run_command

NO_HOOKS = "--no-hooks"


class FreezeStartFailed(HookFailed):
    """A freeze.start command failed: the application may still write, so nothing goes further
    (freeze.end runs: the freeze has begun)."""


class FreezeEndFailed(OperationFailed):
    """A freeze.end command failed: the application may still be stopped; the message gives the
    commands to run by hand."""


def by_hand(hooks: list[Hook]) -> str:
    """The commands as written, to paste into a shell that has the plan's variables set."""
    return "; ".join(f"`{redact_text(h.command)}`" for h in hooks)


def _now() -> datetime:
    return datetime.now(UTC)


def _describe(stage: str, hooks: list[Hook], what: str) -> str:
    commands = "; then ".join(
        f"`{redact_text(h.command)}` (timeout {h.timeout_s:g} s)" for h in hooks
    )
    return f"run {stage}: {commands} - {what}"


class FreezeStartStep(StepBase):
    """One action: freeze.start's commands in order (the first failure stops them). Journalled
    as the freeze's start before the first is launched: from then on freeze.end must run.
    On `--resume` of a run whose freeze never ended it runs again: its contract is to return once
    writes have stopped, at once when they already have. With --no-hooks the commands are
    skipped, and the frozen section (catch-up, guards, window) runs with the application live."""

    title = "freeze.start: the application's writes stop (the window begins)"
    kind = Kind.FREEZE_START

    def __init__(self, state: RunState, *, enabled: bool) -> None:
        super().__init__(state)
        self.enabled = enabled

    def plan(self, ctx: RunContext) -> list[Action]:
        hooks = _freeze(ctx).start
        if not self.enabled:
            text = (
                f"skip {len(hooks)} freeze.start command(s) ({NO_HOOKS}): the application is NOT "
                "stopped; the catch-up and the guards below still run"
            )
        else:
            text = _describe(
                "freeze.start", hooks, "it returns once the application's writes stopped"
            )
        return [self.action("freeze:start", text)]

    def apply(self, ctx: RunContext, action: Action) -> Result:
        again = self.state.freeze_span().holding
        self.state.record(FREEZE_STARTED, again=again, skipped=None if self.enabled else NO_HOOKS)
        started_at = self.state.freeze_span().started_at
        entry: dict[str, Any] = {"started_at": started_at, "commands": {"start": [], "end": []}}
        if not self.enabled:
            ctx.out.warn(
                f"freeze commands skipped ({NO_HOOKS}): the application is not stopped; writes it "
                "makes from now on stop the run before the next rename"
            )
            entry["skipped"] = NO_HOOKS
        for hook in _freeze(ctx).start if self.enabled else []:
            ran = run_command(ctx, hook, "freeze.start", "validated")
            entry["commands"]["start"].append(ran)
            if not ran["ok"]:
                self.resume(ctx, action, {"freeze": entry})
                raise FreezeStartFailed(
                    f"freeze.start {command_failure(ran)}: the application may still be writing, "
                    "so the run goes no further"
                )
        entry["start_returned_at"] = _now().isoformat()
        if again:  # writes stopped when this freeze's first start returned (the run was resumed)
            first = self.state.journalled_result(action.key).get("freeze", {})
            entry["start_returned_at"] = first.get("start_returned_at", entry["start_returned_at"])
        self.resume(ctx, action, {"freeze": entry})
        if again:
            ctx.out.info(f"  the write freeze begun at {started_at} goes on (this run resumed)")
        return {"freeze": entry}

    def resume(self, ctx: RunContext, action: Action, result: Result) -> None:
        self.state.report.freeze.update(result["freeze"])


class FreezeEndStep(StepBase):
    """One action: every freeze.end command, in order, each run even if one before it failed (the
    application must come back). Ctrl-C and SIGTERM wait for it. Journalled as the freeze's end
    when every command succeeded; a failure is exit 1 with the commands to run by hand. The runner
    also applies it when a run fails once freeze.start has run (`status` then says why)."""

    title = "freeze.end: the application writes again (the window ends)"
    kind = Kind.FREEZE_END
    phase: Phase = "after"
    uninterruptible = True

    def __init__(self, state: RunState, *, enabled: bool) -> None:
        super().__init__(state)
        self.enabled = enabled
        self.status = "cut_over"

    def plan(self, ctx: RunContext) -> list[Action]:
        hooks = _freeze(ctx).end
        if not self.enabled:
            text = f"skip {len(hooks)} freeze.end command(s) ({NO_HOOKS}); the window ends"
        else:
            text = _describe("freeze.end", hooks, "every one runs, even after a failed one")
        return [self.action("freeze:end", text)]

    def apply(self, ctx: RunContext, action: Action) -> Result:
        freeze = self.state.report.freeze
        freeze["end_launched_at"] = _now().isoformat()
        hooks = _freeze(ctx).end if self.enabled else []
        ran = [run_command(ctx, hook, "freeze.end", self.status) for hook in hooks]
        freeze.setdefault("commands", {"start": [], "end": []})["end"] = ran
        failed = [r for r in ran if not r["ok"]]
        if failed:
            freeze["end_failed"] = [command_failure(r) for r in failed]
            raise FreezeEndFailed(
                f"freeze.end {command_failure(failed[0])}: the application may still be stopped. "
                f"Run by hand, with the plan's variables set: {by_hand(hooks)}"
            )
        self.state.record(FREEZE_ENDED)
        span = self.state.freeze_span()
        entry = {
            "started_at": span.started_at,
            "ended_at": span.ended_at,
            "window_s": _seconds_between(span.started_at, span.ended_at),
            "end_launched_at": freeze["end_launched_at"],
            "commands": freeze["commands"],
        }
        freeze.pop("kept", None)
        self.resume(ctx, action, {"freeze": entry})
        ctx.out.info(f"  the write freeze ended: window {entry['window_s']:.2f} s")
        return {"freeze": entry}

    def resume(self, ctx: RunContext, action: Action, result: Result) -> None:
        self.state.report.freeze.update(result["freeze"])


def _seconds_between(start: str | None, end: str | None) -> float | None:
    if start is None or end is None:
        return None
    return round((datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds(), 3)


def _freeze(ctx: RunContext) -> FreezeSpec:
    freeze = ctx.plan.freeze
    if freeze is None:  # the sequence adds these steps only for a plan with a freeze
        raise OperationFailed("the plan has no freeze")
    return freeze
