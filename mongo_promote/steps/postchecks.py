"""After cutover: each live collection holds as many documents as its checked shadow did."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from mongo_promote.adapters.mongo import long_operation
from mongo_promote.domain.inventory import counted
from mongo_promote.state.context import RunContext
from mongo_promote.state.step import Action, Phase, Result, RunState, StepBase


class PostChecksStep(StepBase):
    """One action: each live collection now holds as many documents as its checked shadow did."""

    title = "post-checks: the live collections hold what the shadows held"
    kind = "post-checks"
    phase: Phase = "after"

    def __init__(self, state: RunState, names: list[str]) -> None:
        super().__init__(state)
        self.names = names

    def plan(self, ctx: RunContext) -> list[Action]:
        return [self.action("post-checks", f"count the {len(self.names)} live collection(s)")]

    def apply(self, ctx: RunContext, action: Action) -> Result:
        problems = []
        # a round trip or two each, side by side: inside a write freeze this is window time
        with ThreadPoolExecutor(max_workers=max(1, ctx.workers), thread_name_prefix="post") as pool:
            found = list(pool.map(lambda name: self._count(ctx, name), self.names))
        for name, live in zip(self.names, found, strict=True):
            expected = self.state.counts.get(name)
            self.state.report.collection(name)["target_count_after"] = live
            if expected is not None and live != expected:
                problems.append(f"{name}: {live} documents, expected {expected}")
        self.state.report.post_checks = {"passed": not problems, "problems": problems}
        return {"post_checks": self.state.report.post_checks}

    def _count(self, ctx: RunContext, name: str) -> int:
        expected = self.state.counts.get(name)
        live_coll = ctx.target_db[name]
        if expected is None:
            with long_operation(live_coll):
                return live_coll.count_documents({})
        return counted(live_coll, expected)

    def resume(self, ctx: RunContext, action: Action, result: Result) -> None:
        self.state.report.post_checks = result["post_checks"]
