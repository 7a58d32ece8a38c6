"""What `cleanup` and `history` show: what cleanup drops and its guards, then what it did; the
runs of a state directory and what acted on what."""

from __future__ import annotations

from rich import box
from rich.markup import escape
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
    if result.status == api.Status.DRY_RUN:
        out.info("[bold]dry-run: nothing was written[/]")
    elif result.status == api.Status.NOTHING_TO_DO:
        out.info("nothing to clean up")
    run_summary(out, result.summary)
    if json_out:
        out.emit_json(result.to_json())
    elif result.run_id:
        out.info(
            f"cleanup {result.run_id}: {result.status}; dropped "
            f"{', '.join(result.dropped) or 'nothing'}; backup {result.backup_dir}"
        )
        if result.restore:
            out.info(f"to bring them back: {escape(result.restore)}")


LINKED = {"rollback": "undoes", "cleanup": "after", "restore": "loads the backup of"}


def history_table(entries: list[api.RunEntry], *, verbose: bool = False) -> Table:
    """A row per run, oldest first: its whole id (never cut, even at 80 columns), command,
    status (and its attempts when it was resumed), when, how long, and what acted on what (the
    backup directory with -v)."""
    table = Table(title="runs, oldest first", box=box.SIMPLE_HEAD, padding=(0, 1))
    table.add_column("run", no_wrap=True, min_width=max(len(e.run_id) for e in entries))
    table.add_column("command", no_wrap=True)
    table.add_column("status", overflow="fold")
    table.add_column("started", no_wrap=True)
    table.add_column("took", justify="right", no_wrap=True)
    table.add_column("links", overflow="fold")
    if verbose:
        table.add_column("backup", overflow="fold")
    for e in entries:
        links = [f"{LINKED.get(e.command, 'acts on')} {e.acted_on}"] if e.acted_on else []
        links += [f"{by['command']} {by['run_id']}" for by in e.acted_on_by]
        outcomes = [str(a.get("outcome") or "running") for a in e.attempts]
        status = e.status.replace("_", " ")
        if len(outcomes) > 1:
            status += f" ({len(outcomes)} attempts: {', '.join(outcomes)})"
        row = [
            e.run_id,
            e.command,
            status,
            e.started_at[5:16].replace("T", " ") if e.started_at else "-",
            "-" if e.duration_s is None else f"{e.duration_s:.1f}s",
            "; ".join(links),
        ]
        table.add_row(*row, *([e.backup_dir or "-"] if verbose else []))
    return table


def current_line(current: dict[str, str]) -> str:
    """Which run's collections production holds now (from the journals)."""
    if not current:
        return "production holds no collection a recorded run cut over"
    by_run: dict[str, int] = {}
    for run_id in current.values():
        by_run[run_id] = by_run.get(run_id, 0) + 1
    return "production holds now: " + ", ".join(
        f"run {run_id} ({n} collection(s))" for run_id, n in by_run.items()
    )
