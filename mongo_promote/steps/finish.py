"""STEPS 8 (hooks) and 9 (post-checks) of run; the post-checks are STEP 7 of restore and rollback."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from mongo_promote.conn import redact_text
from mongo_promote.context import RunContext
from mongo_promote.steps.base import Action, Phase, Result, RunState, StepBase
from mongo_promote.steps.hooks import run_hook


class HooksStep(StepBase):
    """One action per `after_cutover` command; a failing hook is reported, not fatal."""

    title = "after_cutover hooks"
    phase: Phase = "after"

    def __init__(self, state: RunState, number: int, *, enabled: bool) -> None:
        super().__init__(state, number)
        self.enabled = enabled

    def plan(self, ctx: RunContext) -> list[Action]:
        commands = ctx.plan.hooks.after_cutover
        if not commands:
            return []
        if not self.enabled:
            return [self.action("hooks", f"skip {len(commands)} hook(s) (--no-hooks)")]
        return [
            self.action(f"hook:{i}", f"run: {redact_text(command)}")
            for i, command in enumerate(commands)
        ]

    def apply(self, ctx: RunContext, action: Action) -> Result:
        hooks = ctx.plan.hooks
        if action.key == "hooks":
            entry: dict[str, Any] = {"skipped": "--no-hooks", "commands": hooks.after_cutover}
        else:
            command = hooks.after_cutover[int(action.key.split(":", 1)[1])]
            ctx.out.info(f"  hook: {redact_text(command)}")
            hook = run_hook(
                command,
                hooks.timeout.total_seconds(),
                env=ctx.loaded.command_env(),
                secrets=ctx.loaded.secrets,
            )
            entry = {**asdict(hook), "ok": hook.ok}
            if not hook.ok:
                ctx.out.warn(f"hook failed ({hook.exit_code}): {redact_text(command)}")
        self.resume(ctx, action, {"hook": entry})
        return {"hook": entry}

    def resume(self, ctx: RunContext, action: Action, result: Result) -> None:
        self.state.report.hooks.append(result["hook"])


class PostChecksStep(StepBase):
    """One action: each live collection now holds as many documents as its checked shadow did."""

    title = "post-checks: the live collections hold what the shadows held"
    phase: Phase = "after"

    def __init__(self, state: RunState, number: int, names: list[str]) -> None:
        super().__init__(state, number)
        self.names = names

    def plan(self, ctx: RunContext) -> list[Action]:
        return [self.action("post-checks", f"count the {len(self.names)} live collection(s)")]

    def apply(self, ctx: RunContext, action: Action) -> Result:
        problems = []
        for name in self.names:
            live = ctx.target_db[name].count_documents({})
            self.state.report.collection(name)["target_count_after"] = live
            expected = self.state.counts.get(name)
            if expected is not None and live != expected:
                problems.append(f"{name}: {live} documents, expected {expected}")
        self.state.report.post_checks = {"passed": not problems, "problems": problems}
        return {"post_checks": self.state.report.post_checks}

    def resume(self, ctx: RunContext, action: Action, result: Result) -> None:
        self.state.report.post_checks = result["post_checks"]
