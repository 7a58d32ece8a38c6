"""The health gate of run (plan key `health_gate`): the plan's health checks once the cutover is done
and the application restarted, and, on failure, nothing more (report) or an instant rollback."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from mongo_promote.adapters.health import CheckResult, run_checks
from mongo_promote.errors import PromoteError
from mongo_promote.redact import redact_text
from mongo_promote.state.context import RunContext
from mongo_promote.state.step import Action, Phase, Result, RunState, StepBase

# The gate's rollback: a rollback run of its own (journal, report) under the run's lock; returns
# its run id, raises a PromoteError when it fails. The library (`api`) supplies it.
Undo = Callable[[RunContext, RunState], str]


def gate_failures(gate: dict[str, Any]) -> str:
    """Why the gate failed, in one line: each failing check and its reason."""
    failing = [c for c in gate.get("checks", []) if not c.get("ok")]
    return "; ".join(f"{c['name']}: {c.get('reason') or 'failed'}" for c in failing)


class HealthGateStep(StepBase):
    """One action (none with `health_gate: off`): the plan's `health` checks with their retries
    and backoff. The result goes to the report (`health_gate`); the runner ends the run on it
    (exit 1 when it failed). With `rollback`, a failure first undoes the cutover at once (`undo`:
    a rollback run of its own, the instant swap where the previous collections are kept)."""

    title = "health gate: the plan's health checks on the promoted production"
    kind = "health-gate"
    phase: Phase = "after"

    def __init__(self, state: RunState, mode: str, *, undo: Undo | None = None) -> None:
        super().__init__(state)
        self.mode = mode
        self.undo = undo

    def plan(self, ctx: RunContext) -> list[Action]:
        if self.mode == "off":
            return []
        then = {
            "report": "on failure: recorded, exit 1, production stays cut over",
            "rollback": "on failure: rolled back at once (a rollback run of its own), exit 1",
        }[self.mode]
        names = ", ".join(c.name for c in ctx.plan.health)
        return [
            self.action(
                "health-gate",
                f"health gate ({self.mode}): {len(ctx.plan.health)} check(s) ({names}) with "
                f"their retries; {then}",
            )
        ]

    def apply(self, ctx: RunContext, action: Action) -> Result:
        report = run_checks(ctx.plan.health, on_result=lambda r: _show(ctx, r))
        gate: dict[str, Any] = {
            "mode": self.mode,
            "passed": report.ok,
            "checks": [asdict(c) for c in report.checks],
            "rollback_run_id": None,
        }
        if not report.ok and self.mode == "rollback" and self.undo is not None:
            ctx.out.warn(f"health gate failed ({gate_failures(gate)}): rolling back at once")
            try:
                gate["rollback_run_id"] = self.undo(ctx, self.state)
            except PromoteError as exc:
                gate["rollback_error"] = redact_text(exc.message)
        self.resume(ctx, action, {"health_gate": gate})
        return {"health_gate": gate}

    def resume(self, ctx: RunContext, action: Action, result: Result) -> None:
        self.state.report.health_gate = result["health_gate"]


def _show(ctx: RunContext, result: CheckResult) -> None:
    verdict = "ok" if result.ok else f"FAILED ({result.reason})"
    ctx.out.info(f"  health check {result.name}: {verdict}, {result.attempts} attempt(s)")
