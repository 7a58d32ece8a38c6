"""`refresh-staging`: the plan's staging refresh runbook (commands, wait, health); --dry-run lists it."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from mongo_promote import api
from mongo_promote.cli.common import (
    JsonOpt,
    PlanOpt,
    QuietOpt,
    StateDirRunOpt,
    VerboseOpt,
    handles_errors,
    load,
)
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
    out = Output(json_mode=json_out, verbose=verbose, quiet=quiet)
    loaded = load(plan, None, None, servers=False)
    report = api.refresh_staging(loaded, out, dry_run, state_dir=state_dir)
    if json_out:
        out.emit_json(report.to_json())
    elif dry_run:
        _print_dry_run(out, report)
    elif report.health is not None and report.health.checks:
        out.table(api.health_table(report.health, title="staging health"))
    if not report.ok:
        raise OperationFailed(f"refresh-staging failed: {report.error}")
    if not dry_run:
        out.info("[green]staging refreshed[/]")


def _print_dry_run(out: Output, report: api.RefreshReport) -> None:
    out.info("would run, in order (stopping at the first failure):")
    for i, hook in enumerate(report.planned, 1):
        out.info(f"  {i}. {escape(hook.command)}   [dim](timeout {hook.timeout_s:g}s)[/]")
    if report.wait_s:
        out.info(f"then wait {report.wait_s:g}s")
    for check in report.planned_health:
        out.info(escape(f"then check {check['name']}: {check['method']} {check['url']}"))
