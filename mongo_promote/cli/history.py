"""`history`: the runs in the state directory, their attempts, what acted on what, and which run's
collections production holds now (reads files only)."""

from __future__ import annotations

from mongo_promote.cli.common import handles_errors, load
from mongo_promote.cli.options import JsonOpt, PlanOpt, QuietOpt, StateDirRunOpt, VerboseOpt
from mongo_promote.console import Output
from mongo_promote.domain.plan import DEFAULT_PLAN_PATH


@handles_errors
def history(
    plan: PlanOpt = DEFAULT_PLAN_PATH,
    state_dir: StateDirRunOpt = None,
    json_out: JsonOpt = False,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """The runs in the state directory: command, status, attempts, start, duration, links; and
    which run's collections production holds now, from the journals.

    Connects to no database: the plan's URIs need not be set."""
    from mongo_promote import api
    from mongo_promote.cli.render.cleanup import current_line, history_table

    out = Output(json_mode=json_out, verbose=verbose, quiet=quiet)
    options = api.HistoryOptions(state_dir=state_dir)
    result = api.history(load(plan, None, None, servers=False), out, options)
    if json_out:
        out.emit_json(result.to_json())
        return
    if not result.runs:
        out.info("no runs yet")
        return
    out.table(history_table(result.runs, verbose=verbose))
    out.info(current_line(result.current))
