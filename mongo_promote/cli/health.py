"""`health`: the plan's HTTP(S) health checks, a line per attempt as it goes, then a table (or
--json); exit 1 if any fails."""

from __future__ import annotations

from typing import Annotated

import typer

from mongo_promote.cli.common import conclude, handles_errors, load
from mongo_promote.cli.options import JsonOpt, PlanOpt, QuietOpt, VerboseOpt
from mongo_promote.console import Output
from mongo_promote.domain.plan import DEFAULT_PLAN_PATH
from mongo_promote.errors import OperationFailed


@handles_errors
def health(
    plan: PlanOpt = DEFAULT_PLAN_PATH,
    retries: Annotated[
        int | None,
        typer.Option(
            min=0, max=100, help="Retries after a failed attempt, for every check (0: one go)."
        ),
    ] = None,
    json_out: JsonOpt = False,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """The plan's health checks: status, body, latency, with retries. Exit 1 if any check fails.

    Connects to no database: the plan's URIs need not be set. Each attempt is printed as it
    ends (with the wait before the next one); --retries overrides the plan's."""
    from mongo_promote import api
    from mongo_promote.cli.render.checks import attempt_line, health_table

    out = Output(json_mode=json_out, verbose=verbose, quiet=quiet)
    options = api.HealthOptions(
        on_attempt=lambda result, wait: attempt_line(out, result, wait), retries=retries
    )
    report = api.health(load(plan, None, None, servers=False), out, options)
    if not json_out:
        out.table(health_table(report))
    failed = ", ".join(f"{c.name} ({c.reason})" for c in report.failures)
    error = None if report.ok else OperationFailed(f"health check failed: {failed}")
    conclude(out, report.to_json(), error, json_out)
