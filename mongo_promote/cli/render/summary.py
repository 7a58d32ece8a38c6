"""What a finished run shows (run, restore, rollback, cleanup): one row per collection, where
its report is, how to undo it; and the line `restore` and `rollback` end with."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from rich.table import Table

from mongo_promote import api
from mongo_promote.console import Output, human_bytes
from mongo_promote.state.report import RunReport, RunSummary, figure

SUMMARY_COLUMNS = (
    "collection",
    "action",
    "source",
    "target before",
    "target after",
    "bytes",
    "copy s",
    "docs/s",
    "check",
)


def run_summary(out: Output, summary: RunSummary | None, *, table: bool = True) -> None:
    """A finished run: one row per collection (unless `table` is false), where its report is,
    how to undo it."""
    if summary is None:
        return
    if table:
        out.table(summary_table(summary.report))
    out.info(f"report: {summary.report_md}")
    if summary.report.undo:
        out.info(f"to undo: {summary.report.undo}")


def summary_table(report: RunReport) -> Table:
    table = Table(title=f"run {report.run_id}: {report.status}")
    for column in SUMMARY_COLUMNS:
        table.add_column(
            column, justify="left" if column in ("collection", "action", "check") else "right"
        )
    for name, c in sorted(report.collections.items()):
        table.add_row(
            name,
            str(c.get("action", "")),
            figure(c.get("source_count")),
            figure(c.get("target_count_before")),
            figure(c.get("target_count_after")),
            human_bytes(c["bytes"]) if c.get("bytes") is not None else "-",
            f"{c['copy_seconds']:.2f}" if c.get("copy_seconds") is not None else "-",
            figure(c.get("docs_per_second")),
            str(c.get("check", "-")),
        )
    return table


@contextmanager
def summary_on_failure(out: Output) -> Iterator[None]:
    """A run whose post-checks failed still shows its summary, before the error line."""
    try:
        yield
    except api.PostChecksFailed as exc:
        run_summary(out, exc.summary)
        raise


def _written_since(result: Restored, name: str) -> str | None:
    """What the rollback's report says of the application's writes to `name` since the cutover."""
    if result.summary is None:
        return None
    value = result.summary.report.collections.get(name, {}).get("written_since_cutover")
    return str(value) if value else None


class Restored(Protocol):
    collections: list[str]
    documents: int
    dropped: list[str]
    summary: RunSummary | None
    swapped: list[str]
    kept_aside: dict[str, str]

    def to_json(self) -> dict[str, object]: ...


def restored(out: Output, result: Restored, json_out: bool) -> None:
    """What `restore` and `rollback` print after their run. A rollback that only swapped names
    shows no table: one line per collection says where it went (a 40-row table took a tenth of
    a second to draw)."""
    swap_only = bool(result.swapped) and not result.collections
    run_summary(out, result.summary, table=not swap_only)
    if json_out:
        out.emit_json(result.to_json())
        return
    if getattr(result, "nothing_to_do", None):
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
