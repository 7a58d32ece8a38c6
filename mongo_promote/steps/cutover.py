"""STEP 7 of run (5 of restore, rollback): install shadows over live collections, one rename each."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from pymongo.errors import OperationFailure

from mongo_promote.context import RunContext
from mongo_promote.errors import OperationFailed
from mongo_promote.steps.base import Action, Phase, Result, RunState, StepBase


@dataclass
class CutoverResult:
    collection: str
    method: (
        str  # "rename dropTarget" (atomic) or "rename aside" (FerretDB fallback) or "already done"
    )
    window_ms: float | None  # how long the name did not exist (fallback only)
    aside: str | None


class CutoverStep(StepBase):
    """One action per collection (journalled one by one, so a resume finishes a cutover), then,
    where the server has no dropTarget, one that drops the old live copies renamed aside."""

    phase: Phase = "cutover"

    def __init__(self, state: RunState, number: int, names: list[str]) -> None:
        super().__init__(state, number)
        self.names = names
        self.title = f"cutover: {len(names)} rename(s), one per collection"

    def plan(self, ctx: RunContext) -> list[Action]:
        how = (
            "one atomic rename (dropTarget)"
            if ctx.target_caps.rename_drop_target
            else "renamed aside, then the shadow in (no dropTarget: window reported)"
        )
        actions = [
            self.action(f"cutover:{n}", f"{n}: its shadow replaces it, {how}", n)
            for n in self.names
        ]
        if self.names and not ctx.target_caps.rename_drop_target:
            actions.append(
                self.action("cutover:asides", "drop the old live copies renamed aside (backed up)")
            )
        return actions

    def apply(self, ctx: RunContext, action: Action) -> Result:
        if action.collection is None:
            dropped = drop_asides(ctx, self.names)
            if dropped:
                ctx.out.detail(f"dropped the old live copies: {', '.join(dropped)} (in the backup)")
            return {"dropped": dropped}
        result = {"result": asdict(install(ctx, action.collection))}
        self.resume(ctx, action, result)
        return result

    def resume(self, ctx: RunContext, action: Action, result: Result) -> None:
        if action.collection is not None:
            self.state.report.cutover.append(result["result"])


def _rename(ctx: RunContext, source: str, target: str, *, drop_target: bool = False) -> None:
    db = ctx.plan.target.database
    command: dict[str, Any] = {"renameCollection": f"{db}.{source}", "to": f"{db}.{target}"}
    if drop_target:
        command["dropTarget"] = True
    if ctx.target_caps.topology == "replicaset":
        command["writeConcern"] = {"w": "majority"}
    ctx.target_client.admin.command(command)


def _exists(ctx: RunContext, name: str) -> bool:
    return bool(list(ctx.target_db.list_collection_names(filter={"name": name})))


def install(ctx: RunContext, name: str) -> CutoverResult:
    """Shadow over live. Idempotent, so an interrupted cutover can be finished by `--resume`."""
    shadow, aside = ctx.shadow_name(name), ctx.aside_name(name)
    if not _exists(ctx, shadow):
        if _exists(ctx, name):
            return CutoverResult(name, "already done", None, aside if _exists(ctx, aside) else None)
        raise OperationFailed(f"cutover of {name}: neither its shadow {shadow} nor {name} exists")
    if ctx.target_caps.rename_drop_target:
        _rename(ctx, shadow, name, drop_target=True)
        return CutoverResult(name, "rename dropTarget", None, None)
    return _install_aside(ctx, name, shadow, aside)


def _install_aside(ctx: RunContext, name: str, shadow: str, aside: str) -> CutoverResult:
    """No dropTarget (FerretDB): live -> aside, shadow -> live; the aside copy goes only after success."""
    ctx.fallback(
        "renameCollection dropTarget unsupported: cutover renames each live collection aside "
        "(<name>__old_<run>) then the shadow in; the window without the name is reported"
    )
    if not _exists(ctx, name):
        _rename(ctx, shadow, name)
        return CutoverResult(name, "rename aside", 0.0, aside if _exists(ctx, aside) else None)
    started = time.perf_counter()
    _rename(ctx, name, aside)
    try:
        _rename(ctx, shadow, name)
    except OperationFailure as exc:
        _rename(ctx, aside, name)  # put production back as it was
        raise OperationFailed(f"cutover of {name} failed and was undone: {exc}") from exc
    window = (time.perf_counter() - started) * 1000
    return CutoverResult(name, "rename aside", round(window, 2), aside)


def drop_asides(ctx: RunContext, names: list[str]) -> list[str]:
    """After the run has succeeded: the old live copies are in the verified backup."""
    return _drop_existing(ctx, [ctx.aside_name(n) for n in names])


def drop_shadows(ctx: RunContext, names: list[str]) -> list[str]:
    """Failure before cutover: remove what the run built; production was never touched."""
    return _drop_existing(ctx, [ctx.shadow_name(n) for n in names])


def _drop_existing(ctx: RunContext, collections: list[str]) -> list[str]:
    present = set(ctx.target_db.list_collection_names())
    dropped = [c for c in collections if c in present]
    for collection in dropped:
        ctx.target_db.drop_collection(collection)
    return dropped
