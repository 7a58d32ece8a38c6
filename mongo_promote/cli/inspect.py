"""`inspect`: inventory and classification of both sides (reads only)."""

from __future__ import annotations

from mongo_promote.cli.common import handles_errors, load
from mongo_promote.cli.options import (
    JsonOpt,
    PlanOpt,
    QuietOpt,
    SourceUriOpt,
    TargetUriOpt,
    VerboseOpt,
)
from mongo_promote.cli.timeouts import NetworkTimeoutOpt
from mongo_promote.console import Output
from mongo_promote.domain.plan import DEFAULT_PLAN_PATH


@handles_errors
def inspect(
    plan: PlanOpt = DEFAULT_PLAN_PATH,
    source_uri: SourceUriOpt = None,
    target_uri: TargetUriOpt = None,
    network_timeout: NetworkTimeoutOpt = None,
    json_out: JsonOpt = False,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Inventory and classification of both sides (reads only)."""
    from mongo_promote import api
    from mongo_promote.cli.render.inventory import inventory_table

    out = Output(json_mode=json_out, verbose=verbose, quiet=quiet)
    loaded = load(plan, source_uri, target_uri, timeout=network_timeout)
    result = api.inspect(loaded, out, api.InspectOptions())
    if json_out:
        out.emit_json(result.to_json())
    else:
        out.table(inventory_table(result.inventory))
    if result.missing:
        out.warn(
            f"{api.describe_missing(result.missing)}: `run` refuses without them (--no-hooks "
            "runs without the hooks); `health` and `refresh-staging` need theirs"
        )
