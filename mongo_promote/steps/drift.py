"""The drift guard of run: before cutover, prove production still holds what the backup holds, or stop and say what moved."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

from mongo_promote.adapters.mongo import content_hash
from mongo_promote.checksum import ContentHash
from mongo_promote.errors import OperationFailed
from mongo_promote.state.context import RunContext
from mongo_promote.state.step import Action, Result, RunState, StepBase


@dataclass
class Drift:
    collection: str
    backed_up: str  # content hash "<count>:<hex>" at backup time
    now: str


def rehash(ctx: RunContext, names: list[str]) -> dict[str, ContentHash]:
    """Each live collection's content hash now, `ctx.workers` at once (reads only)."""

    def one(name: str) -> ContentHash:
        ctx.check_cancelled()
        return content_hash(ctx.target_db[name])

    with ThreadPoolExecutor(max_workers=max(1, ctx.workers), thread_name_prefix="drift") as pool:
        return dict(zip(names, pool.map(one, names), strict=True))


def check_drift(ctx: RunContext, backed_up: dict[str, str], names: list[str]) -> list[Drift]:
    """Re-fingerprint each live collection cutover will replace; a write since the backup would be lost."""
    checked = [name for name in names if name in backed_up]
    now = {n: h.hexdigest() for n, h in rehash(ctx, checked).items()}
    return [Drift(n, backed_up[n], now[n]) for n in checked if now[n] != backed_up[n]]


class DriftStep(StepBase):
    """One action: re-hash the live collections cutover replaces and compare with the backup."""

    title = "drift guard: production unchanged since its backup?"
    kind = "drift-guard"

    def __init__(self, state: RunState, replaced: list[str], *, allow: bool) -> None:
        super().__init__(state)
        self.replaced = replaced
        self.allow = allow

    def plan(self, ctx: RunContext) -> list[Action]:
        return [
            self.action(
                "drift-guard",
                f"re-hash the {len(self.replaced)} live collection(s) cutover replaces and "
                "compare with the backup"
                + (
                    " (a change is reported, not fatal: --allow-target-drift)" if self.allow else ""
                ),
            )
        ]

    def apply(self, ctx: RunContext, action: Action) -> Result:
        drifted = check_drift(ctx, self.state.backed_up, self.replaced)
        result = {
            "drift": {
                "checked": self.replaced,
                "changed": [asdict(d) for d in drifted],
                "overridden": bool(drifted and self.allow),
            }
        }
        self.resume(ctx, action, result)
        if drifted and not self.allow:
            names = ", ".join(d.collection for d in drifted)
            raise OperationFailed(
                f"production changed since its backup in: {names}; cutover would overwrite those "
                "writes. Run again (a new backup), or pass --allow-target-drift to override"
            )
        return result

    def resume(self, ctx: RunContext, action: Action, result: Result) -> None:
        self.state.report.drift = result["drift"]
