"""`refresh-staging`: the plan's staging refresh runbook (commands, wait, health); --dry-run lists it."""

from __future__ import annotations

from typing import Annotated

import typer

from mongo_promote.cli.common import conclude, handles_errors, load
from mongo_promote.cli.options import JsonOpt, PlanOpt, QuietOpt, StateDirRunOpt, VerboseOpt
from mongo_promote.console import Output
from mongo_promote.domain.plan import DEFAULT_PLAN_PATH
from mongo_promote.errors import OperationFailed


@handles_errors
def refresh_staging(
    plan: PlanOpt = DEFAULT_PLAN_PATH,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the commands and checks; run nothing.")
    ] = False,
    state_dir: StateDirRunOpt = None,
    json_out: JsonOpt = False,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Run the plan's staging_refresh: commands in order, a wait, its health checks. Exit 1 on failure.

    Connects to no database: the plan's URIs need not be set."""
    from mongo_promote import api
    from mongo_promote.cli.render.checks import health_table, refresh_event, refresh_plan

    out = Output(json_mode=json_out, verbose=verbose, quiet=quiet)
    loaded = load(plan, None, None, servers=False)
    options = api.RefreshStagingOptions(
        dry_run=dry_run,
        state_dir=state_dir,
        on_event=lambda kind, payload: refresh_event(out, kind, payload),
    )
    report = api.refresh_staging(loaded, out, options)
    if json_out:
        pass
    elif dry_run:
        refresh_plan(out, report)
    elif report.health is not None and report.health.checks:
        out.table(health_table(report.health, title="staging health"))
    error = None if report.ok else OperationFailed(f"refresh-staging failed: {report.error}")
    conclude(out, report.to_json(), error, json_out)
    if not dry_run:
        out.info("[green]staging refreshed[/]")
