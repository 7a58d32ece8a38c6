"""Hooks at every stage of run (before_backup, before_cutover, after_cutover: STEP 8, on_failure) and the
post-checks (STEP 9 of run, STEP 7 of restore and rollback)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from mongo_promote.conn import redact_text
from mongo_promote.context import RunContext
from mongo_promote.errors import OperationFailed
from mongo_promote.inventory import counted
from mongo_promote.steps.base import Action, Phase, Result, RunState, StepBase
from mongo_promote.steps.hooks import run_hook


class HookFailed(OperationFailed):
    """A hook exited non-zero or timed out: before cutover the run stops, after it exits 1."""


HOOK_STATUS = {
    "before_backup": "running",
    "before_cutover": "validated",
    "after_cutover": "cut over",
}


def hook_env(ctx: RunContext, stage: str, status: str) -> dict[str, str]:
    """What a hook sees: the process's environment, the plan's variables, and the run's own."""
    return {
        **ctx.loaded.command_env(),
        "MONGO_PROMOTE_RUN_ID": ctx.run_id,
        "MONGO_PROMOTE_PLAN": str(ctx.loaded.path),
        "MONGO_PROMOTE_STAGE": stage,
        "MONGO_PROMOTE_STATUS": status,
    }


class HooksStep(StepBase):
    """One action per command of one hook stage (`before_backup`, `before_cutover`,
    `after_cutover`, `on_failure`), or one that says they are skipped (--no-hooks).

    A failing or timed-out hook raises HookFailed once its result is in the report: before
    cutover the run stops with production untouched; after cutover the run exits 1 with status
    "cut over, hook failed". `on_failure` hooks are not run in order with the others: the runner
    applies them when the run fails or is interrupted (their phase is "on_failure").
    """

    def __init__(self, state: RunState, number: int, stage: str, *, enabled: bool) -> None:
        super().__init__(state, number)
        self.stage = stage
        self.enabled = enabled
        self.title = f"{stage} hooks"
        phases: dict[str, Phase] = {
            "before_backup": "before",
            "before_cutover": "before",
            "after_cutover": "after",
            "on_failure": "on_failure",
        }
        self.phase = phases[stage]
        self.status = HOOK_STATUS.get(stage, "failed")

    def plan(self, ctx: RunContext) -> list[Action]:
        hooks = ctx.plan.hooks.stage(self.stage)
        if not hooks:
            return []
        when = "if the run fails or is interrupted: " if self.stage == "on_failure" else ""
        if not self.enabled:
            return [
                self.action(
                    f"hooks:{self.stage}",
                    f"{when}skip {len(hooks)} {self.stage} hook(s) (--no-hooks)",
                )
            ]
        return [
            self.action(
                f"hook:{self.stage}:{i}",
                f"{when}run {self.stage} hook: {redact_text(hook.command)} "
                f"(timeout {hook.timeout_s:g} s)",
            )
            for i, hook in enumerate(hooks)
        ]

    def apply(self, ctx: RunContext, action: Action) -> Result:
        hooks = ctx.plan.hooks.stage(self.stage)
        if action.key.startswith("hooks:"):
            ctx.out.info(f"  {len(hooks)} {self.stage} hook(s) skipped (--no-hooks)")
            entry: dict[str, Any] = {
                "stage": self.stage,
                "skipped": "--no-hooks",
                "commands": [h.command for h in hooks],
            }
            self.resume(ctx, action, {"hook": entry})
            return {"hook": entry}
        hook = hooks[int(action.key.rsplit(":", 1)[1])]
        ctx.out.info(f"  {self.stage} hook: {redact_text(hook.command)}")
        ran = run_hook(
            hook.command,
            hook.timeout_s,
            env=hook_env(ctx, self.stage, self.status),
            secrets=ctx.loaded.secrets,
        )
        entry = {"stage": self.stage, **asdict(ran), "ok": ran.ok}
        self.resume(ctx, action, {"hook": entry})
        if not ran.ok:
            why = "timed out" if ran.timed_out else f"exited {ran.exit_code}"
            tail = ran.output.strip().splitlines()[-3:]
            raise HookFailed(
                f"{self.stage} hook {why}: {redact_text(hook.command)}"
                + (f" (last output: {' | '.join(tail)})" if tail else "")
            )
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
            expected = self.state.counts.get(name)
            live_coll = ctx.target_db[name]
            live = (
                live_coll.count_documents({}) if expected is None else counted(live_coll, expected)
            )
            self.state.report.collection(name)["target_count_after"] = live
            if expected is not None and live != expected:
                problems.append(f"{name}: {live} documents, expected {expected}")
        self.state.report.post_checks = {"passed": not problems, "problems": problems}
        return {"post_checks": self.state.report.post_checks}

    def resume(self, ctx: RunContext, action: Action, result: Result) -> None:
        self.state.report.post_checks = result["post_checks"]
