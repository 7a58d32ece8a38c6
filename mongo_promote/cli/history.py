"""`history`: the runs in the state directory and what acted on what (reads files only)."""

from __future__ import annotations

from rich.table import Table

from mongo_promote import api
from mongo_promote.cli.common import JsonOpt, PlanOpt, StateDirRunOpt, handles_errors, load
from mongo_promote.console import Output
from mongo_promote.domain.plan import DEFAULT_PLAN_PATH


@handles_errors
def history(
    plan: PlanOpt = DEFAULT_PLAN_PATH,
    state_dir: StateDirRunOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """The runs in the state directory: command, status, start, duration, backup, links.

    Connects to no database: the plan's URIs need not be set."""
    out = Output(json_mode=json_out)
    entries = api.history(load(plan, None, None, servers=False), state_dir)
    if json_out:
        out.emit_json({"runs": [e.to_json() for e in entries]})
        return
    if not entries:
        out.info("no runs yet")
        return
    out.table(_table(entries))


def _table(entries: list[api.RunEntry]) -> Table:
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
