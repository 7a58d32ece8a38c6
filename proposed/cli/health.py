"""`health`: the plan's HTTP(S) health checks as a table (or --json); exit 1 if any fails."""

from __future__ import annotations

from mongo_promote import api
from mongo_promote.cli.common import (
    JsonOpt,
    PlanOpt,
    QuietOpt,
    SourceUriOpt,
    TargetUriOpt,
    VerboseOpt,
    handles_errors,
    load,
)
from mongo_promote.console import Output
from mongo_promote.errors import OperationFailed
from mongo_promote.health import health_table
from mongo_promote.plan import DEFAULT_PLAN_PATH


@handles_errors
def health(
    plan: PlanOpt = DEFAULT_PLAN_PATH,
    source_uri: SourceUriOpt = None,
    target_uri: TargetUriOpt = None,
    json_out: JsonOpt = False,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """The plan's health checks: status, body, latency, with retries. Exit 1 if any check fails."""
    out = Output(json_mode=json_out, verbose=verbose, quiet=quiet)
    report = api.health(load(plan, source_uri, target_uri), out)
    if json_out:
        out.emit_json(report.to_json())
    else:
        out.table(health_table(report))
    if not report.ok:
        failed = ", ".join(f"{c.name} ({c.reason})" for c in report.failures)
        raise OperationFailed(f"health check failed: {failed}")
