"""What `cleanup` and `history` show: what cleanup drops and its guards, then what it did; the
runs of a state directory and what acted on what."""

from __future__ import annotations

from rich.table import Table

from mongo_promote import api
from mongo_promote.cli.render.summary import run_summary
from mongo_promote.console import Output, human_bytes


def candidates(out: Output, chosen: api.Chosen) -> None:
    """Shown before anything is dropped (or refused)."""
    out.table(candidates_table(chosen.found, chosen.age))


def candidates_table(found: list[api.Candidate], age: api.AgeGuard) -> Table:
    """What cleanup drops, and which guard applies to each collection."""
    table = Table(title=f"cleanup after run: {age.describe()}")
    for column in ("collection", "class", "documents", "size", "guard"):
        table.add_column(column, justify="right" if column in ("documents", "size") else "left")
    for c in found:
        table.add_row(c.name, c.cls, f"{c.count:,}", human_bytes(c.size), c.guard)
    return table


def cleaned(out: Output, result: api.CleanupResult, json_out: bool) -> None:
    """After cleanup: nothing written (dry-run, nothing to do), or its run's summary and line."""
    if result.status == "dry-run":
        out.info("[bold]dry-run: nothing was written[/]")
    elif result.status == "nothing to do":
        out.info("nothing to clean up")
    run_summary(out, result.summary)
    if json_out:
        out.emit_json(result.to_json())
    elif result.run_id:
        out.info(
            f"cleanup {result.run_id}: {result.status}; dropped {', '.join(result.dropped) or 'nothing'}"
            f"; backup {result.backup_dir} (`restore --backup` brings them back)"
        )


def history_table(entries: list[api.RunEntry]) -> Table:
    table = Table(title="runs")
    for column in ("run", "command", "status", "started", "duration", "backup", "links"):
        table.add_column(column, justify="right" if column == "duration" else "left")
    for e in entries:
        links = [f"acted on {e.acted_on}"] if e.acted_on else []
        links += [f"{by['command']}: {by['run_id']}" for by in e.acted_on_by]
        table.add_row(
            e.run_id,
            e.command,
            e.status,
            (e.started_at or "-")[:19].replace("T", " "),
            "-" if e.duration_s is None else f"{e.duration_s:.1f}s",
            e.backup_dir or "-",
            "; ".join(links),
        )
    return table
