"""What a finished run shows (run, backup, restore, rollback, cleanup), summary first: its status,
the time each step took (like pgcopydb's summary), the totals, only the collections that are not ok
(-v: every one), where its report is and how to undo it. Restore's and rollback's: restored.py."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.markup import escape
from rich.table import Table

from mongo_promote import api
from mongo_promote.console import Output, human_bytes
from mongo_promote.state.report import RunReport, RunSummary, figure, freeze_line, seconds_between

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


def run_summary(out: Output, summary: RunSummary | None, *, undo: bool = True) -> None:
    """A finished run: status and time, a row per step, the totals, the collections that are
    not ok (every one with -v), where its report is, how to undo it (unless `undo` is off: the
    demo's servers are gone by then)."""
    if summary is None:
        return
    report = summary.report
    took = seconds_between(report.started_at, report.finished_at)
    attempts = f", {len(report.attempts)} attempts" if len(report.attempts) > 1 else ""
    out.info(
        f"[bold]run {report.run_id}: {str(report.status).replace('_', ' ')}[/]"
        + (f" in {took:,.1f} s" if took is not None else "")
        + attempts
    )
    out.table(steps_table(report))
    out.info("  " + totals(report))
    if report.freeze:
        out.info("  " + freeze_line(report.freeze))
    not_ok = report.not_ok()
    if out.verbose or not_ok:
        out.table(summary_table(report, only=None if out.verbose else set(not_ok)))
    out.info(f"report: {summary.report_md}")
    if report.undo and undo:
        out.info(f"to undo: {escape(report.undo)}")


def steps_table(report: RunReport) -> Table:
    table = Table(box=None, padding=(0, 2), show_edge=False)
    table.add_column("step")
    table.add_column("seconds", justify="right")
    for s in report.steps:
        seconds = "-" if s.get("seconds") is None else f"{s['seconds']:,.1f}"
        table.add_row(f"{s['number']} {str(s['title']).split(':')[0]}", seconds)
    return table


def totals(report: RunReport) -> str:
    """One line: collections by action, documents and bytes written, the checks."""
    actions = [str(c.get("action")) for c in report.collections.values() if c.get("action")]
    by_action = ", ".join(f"{actions.count(a)} {a}" for a in dict.fromkeys(actions))
    documents = sum(int(c.get("target_count_after") or 0) for c in report.collections.values())
    size = sum(int(c.get("bytes") or 0) for c in report.collections.values())
    not_ok = len(report.not_ok())
    checks = "every check ok" if not not_ok else f"{not_ok} collection(s) not ok"
    written = f"; {documents:,} documents, {human_bytes(size)} written" if documents else ""
    return f"{len(actions)} collection(s): {by_action or 'none'}{written}; {checks}"


def summary_table(report: RunReport, *, only: set[str] | None = None) -> Table:
    table = Table(title=f"run {report.run_id}: {report.status}")
    for column in SUMMARY_COLUMNS:
        table.add_column(
            column, justify="left" if column in ("collection", "action", "check") else "right"
        )
    for name, c in sorted(report.collections.items()):
        if only is not None and name not in only:
            continue
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
