"""What a run can tell before it copies anything, and refuses on: collection options the target
would not keep, parents an embed would push past 16 MB (unless the plan says what to do)."""

from __future__ import annotations

from typing import Any

from mongo_promote.console import human_bytes
from mongo_promote.domain.analysis import Actions
from mongo_promote.domain.options import expected_losses
from mongo_promote.domain.transforms.effects import oversized_parents
from mongo_promote.errors import OperationFailed
from mongo_promote.state.context import RunContext
from mongo_promote.state.step import Action, Result, RunState, StepBase

SHOWN = 10  # parents named in the refusal itself (the report lists every one)


def option_losses(ctx: RunContext, analysis: Actions) -> dict[str, dict[str, Any]]:
    """Per collection, the options the target is expected not to keep, and the plan's policy."""
    found = {}
    for a in analysis.collections:
        lost = expected_losses(a.source_options, ctx.target_caps)
        if lost:
            policy = ctx.plan.collections.options_policy(a.name)
            found[a.name] = {"options": lost, "policy": policy}
    return found


def refusal_of_options(losses: dict[str, dict[str, Any]], server: str) -> str | None:
    refused = {name: v["options"] for name, v in losses.items() if v["policy"] == "exact"}
    if not refused:
        return None
    listed = "; ".join(f"{name}: {', '.join(keys)}" for name, keys in refused.items())
    return (
        f"the target ({server}) would not keep these collection options: {listed}. "
        "`collections: {options: {NAME: best_effort}}` in the plan (or `options: best_effort` "
        "for every collection) lets the run go on and reports each loss"
    )


def refusal_of_oversize(found: dict[str, list[dict[str, Any]]], plan: Any) -> str | None:
    if not found:
        return None
    parts = []
    for source, parents in found.items():
        into = next(e.into for e in plan.embeds if e.source == source)
        shown = ", ".join(
            f"_id {p['_id']!r} ({human_bytes(p['size'])} now, {human_bytes(p['size_after'])} after)"
            for p in parents[:SHOWN]
        )
        more = f" and {len(parents) - SHOWN} more" if len(parents) > SHOWN else ""
        parts.append(f"{len(parents)} {into} document(s) past 16 MB once {source} is folded in: {shown}{more}")
    return (
        "; ".join(parts)
        + ". Set the embed's `on_oversize: skip_children` (each such parent keeps the entries "
        "that fit) or `report` (it keeps none of them); both list what was left out"
    )


class PrecheckStep(StepBase):
    """One action before the copy: refuses the run (nothing copied, production untouched) when
    the target would drop a collection option the plan does not accept losing, or an embed
    would push a parent past 16 MB under `on_oversize: fail`."""

    title = "pre-checks: collection options kept, folded parents within 16 MB"
    kind = "precheck"

    def __init__(self, state: RunState, analysis: Actions) -> None:
        super().__init__(state)
        self.analysis = analysis

    def plan(self, ctx: RunContext) -> list[Action]:
        copied = {a.name for a in self.analysis.collections}
        checked = [e.into for e in ctx.plan.embeds if e.on_oversize == "fail" and e.into in copied]
        what = "the options each collection's shadow will keep, as the target's capabilities tell"
        if checked:
            what += f"; every {', '.join(checked)} document within 16 MB once folded"
        return [self.action("precheck", what)]

    def apply(self, ctx: RunContext, action: Action) -> Result:
        losses = option_losses(ctx, self.analysis)
        copied = {a.name for a in self.analysis.collections}
        oversized = oversized_parents(ctx.source_db, ctx.plan, ctx.now, copied)
        problems = [
            p
            for p in (
                refusal_of_options(losses, ctx.target_caps.server or ctx.target_caps.flavour),
                refusal_of_oversize(oversized, ctx.plan),
            )
            if p
        ]
        result = {"option_losses": losses, "oversized": oversized}
        self.resume(ctx, action, result)
        if problems:
            raise OperationFailed("refused before copying anything: " + "; ".join(problems))
        return result

    def resume(self, ctx: RunContext, action: Action, result: Result) -> None:
        self.state.report.preflight["option_losses"] = result["option_losses"]
        self.state.report.preflight["oversized"] = result["oversized"]
