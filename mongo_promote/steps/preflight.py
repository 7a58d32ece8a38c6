"""Preflight, first in every command that writes: what was checked before anything is touched, for the report."""

from __future__ import annotations

from typing import Any

from mongo_promote.adapters.mongo import NOT_CONNECTED
from mongo_promote.state.context import RunContext
from mongo_promote.state.step import Action, Result, RunState, StepBase


class PreflightStep(StepBase):
    """One action: the read-only checks already made (plan, servers, capabilities, lock), reported."""

    title = "preflight: plan valid, both servers reachable, capabilities detected"
    kind = "preflight"

    def __init__(self, state: RunState, checks: dict[str, Any]) -> None:
        super().__init__(state)
        self.checks = checks

    def plan(self, ctx: RunContext) -> list[Action]:
        s, t = ctx.source_caps, ctx.target_caps
        source = (
            "the source is not needed (not connected)"
            if s.flavour == NOT_CONNECTED
            else f"source {s.flavour} {s.version} ({s.topology}), only read"
        )
        return [
            self.action("preflight", f"target {t.flavour} {t.version} ({t.topology}); {source}")
        ]

    def apply(self, ctx: RunContext, action: Action) -> Result:
        ctx.out.detail(f"  {action.description}")
        self.resume(ctx, action, {})
        return {}

    def resume(self, ctx: RunContext, action: Action, result: Result) -> None:
        self.state.report.preflight = dict(self.checks)
