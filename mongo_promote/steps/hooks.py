"""The plan's hooks at every stage of a run (before_backup, before_cutover, after_cutover, on_failure):
one action per command, run in its own process group with a timeout."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from mongo_promote.adapters.shell import run_hook
from mongo_promote.domain.plan import Hook
from mongo_promote.errors import OperationFailed
from mongo_promote.redact import redact_text
from mongo_promote.state.context import RunContext
from mongo_promote.state.step import Action, Phase, Result, RunState, StepBase


class HookFailed(OperationFailed):
    """A hook exited non-zero or timed out: before cutover the run stops, after it exits 1."""

    code = "hook_failed"


HOOK_STATUS = {
    "before_backup": "running",
    "before_cutover": "validated",
    "after_cutover": "cut_over",
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


def run_command(ctx: RunContext, hook: Hook, stage: str, status: str) -> dict[str, Any]:
    """One command of the plan (a hook, a freeze command), as the report records it: the text as
    written, exit code, seconds, scrubbed output, `timed_out`, `ok`."""
    ctx.out.info(f"  {stage}: {redact_text(hook.command)}")
    ran = run_hook(
        hook.command, hook.timeout_s, env=hook_env(ctx, stage, status), secrets=ctx.loaded.secrets
    )
    return {"stage": stage, **asdict(ran), "ok": ran.ok}


def command_failure(entry: dict[str, Any]) -> str:
    """`<stage> hook exited 3: <command> (last output: ...)` for a failed command's entry."""
    why = "timed out" if entry.get("timed_out") else f"exited {entry.get('exit_code')}"
    tail = str(entry.get("output", "")).strip().splitlines()[-3:]
    return f"{why}: {redact_text(str(entry['command']))}" + (
        f" (last output: {' | '.join(tail)})" if tail else ""
    )


class HooksStep(StepBase):
    """One action per command of one hook stage (`before_backup`, `before_cutover`,
    `after_cutover`, `on_failure`), or one that says they are skipped (--no-hooks).

    A failing or timed-out hook raises HookFailed once its result is in the report: before
    cutover the run stops with production untouched; after cutover the run exits 1 with status
    "cut_over_hook_failed". `on_failure` hooks are not run in order with the others: the runner
    applies them when the run fails or is interrupted (their phase is "on_failure").
    """

    kind = "hooks"

    def __init__(self, state: RunState, stage: str, *, enabled: bool) -> None:
        super().__init__(state)
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
        entry = run_command(ctx, hook, self.stage, self.status)
        self.resume(ctx, action, {"hook": entry})
        if not entry["ok"]:
            raise HookFailed(f"{self.stage} hook {command_failure(entry)}")
        return {"hook": entry}

    def resume(self, ctx: RunContext, action: Action, result: Result) -> None:
        self.state.report.hooks.append(result["hook"])
