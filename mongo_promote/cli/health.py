"""`health`: the plan's HTTP(S) health checks as a table (or --json); exit 1 if any fails."""

from __future__ import annotations

from mongo_promote import api
from mongo_promote.cli.common import JsonOpt, PlanOpt, QuietOpt, VerboseOpt, handles_errors, load
from mongo_promote.cli.render.checks import check_line, health_table
from mongo_promote.console import Output
from mongo_promote.domain.plan import DEFAULT_PLAN_PATH
from mongo_promote.errors import OperationFailed


@handles_errors
def health(
    plan: PlanOpt = DEFAULT_PLAN_PATH,
    json_out: JsonOpt = False,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """The plan's health checks: status, body, latency, with retries. Exit 1 if any check fails.

    Connects to no database: the plan's URIs need not be set."""
    out = Output(json_mode=json_out, verbose=verbose, quiet=quiet)
    options = api.HealthOptions(on_check=lambda result: check_line(out, result))
    report = api.health(load(plan, None, None, servers=False), out, options)
    if json_out:
        out.emit_json(report.to_json())
    else:
        out.table(health_table(report))
    if not report.ok:
        failed = ", ".join(f"{c.name} ({c.reason})" for c in report.failures)
        raise OperationFailed(f"health check failed: {failed}")
