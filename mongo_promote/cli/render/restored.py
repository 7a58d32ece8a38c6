"""What `restore` and `rollback` print: their plan (--dry-run), or their run's summary and a line per
collection swapped back, restored or kept aside."""

from __future__ import annotations

from typing import Protocol

from rich.markup import escape

from mongo_promote import api
from mongo_promote.cli.render.summary import run_summary
from mongo_promote.console import Output
from mongo_promote.state.report import RunSummary


def _written_since(result: Restored, name: str) -> str | None:
    """What the rollback's report says of the application's writes to `name` since the cutover."""
    if result.summary is None:
        return None
    value = result.summary.report.collections.get(name, {}).get("written_since_cutover")
    return str(value) if value else None


class Restored(Protocol):
    status: str
    collections: list[str]
    documents: int
    dropped: list[str]
    plan: api.RestoreSummary | None
    summary: RunSummary | None
    swapped: list[str]
    kept_aside: dict[str, str]

    def to_json(self) -> dict[str, object]: ...


def restored(out: Output, result: Restored, json_out: bool) -> None:
    """What `restore` and `rollback` print: the plan (what would happen: --dry-run), or the
    run's summary and a line."""
    if json_out:
        out.emit_json(result.to_json())
    if result.status == api.Status.DRY_RUN and result.plan is not None:
        lines = result.plan.lines()
        out.info(f"[bold]{escape(lines[0])}[/]")
        for line in lines[1:]:
            out.info(escape(line))
        out.info("[bold]dry-run: nothing was written[/]")
        return
    run_summary(out, result.summary)
    if json_out or getattr(result, "nothing_to_do", None):
        return  # the command said why it touched nothing
    if result.swapped:
        out.info(f"swapped back by renames: {', '.join(result.swapped)}")
    if result.collections or not result.swapped:
        out.info(
            f"restored {len(result.collections)} collection(s), {result.documents:,} documents"
            + (f"; dropped {', '.join(result.dropped)}" if result.dropped else "")
        )
    for name, aside in sorted(result.kept_aside.items()):
        written = _written_since(result, name)
        out.info(
            f"kept aside: {name} -> {aside}"
            + (f" (written since the cutover? {written})" if written else "")
        )
