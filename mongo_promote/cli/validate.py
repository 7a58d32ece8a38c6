"""`validate`: the validation step alone, against the live target (reads only); exit 1 on differences."""

from __future__ import annotations

from typing import Annotated

import typer

from mongo_promote.cli.common import conclude, handles_errors, load
from mongo_promote.cli.options import (
    JsonOpt,
    PlanOpt,
    QuietOpt,
    SourceUriOpt,
    StateDirRunOpt,
    TargetUriOpt,
    VerboseOpt,
)
from mongo_promote.cli.timeouts import NetworkTimeoutOpt
from mongo_promote.console import Output
from mongo_promote.domain.plan import DEFAULT_PLAN_PATH
from mongo_promote.errors import ValidationFailed


@handles_errors
def validate(
    plan: PlanOpt = DEFAULT_PLAN_PATH,
    source_uri: SourceUriOpt = None,
    target_uri: TargetUriOpt = None,
    run_id: Annotated[
        str | None,
        typer.Option(
            "--run", metavar="RUN_ID", help="Run whose $now to use (default: the latest)."
        ),
    ] = None,
    state_dir: StateDirRunOpt = None,
    network_timeout: NetworkTimeoutOpt = None,
    json_out: JsonOpt = False,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """The validation step alone, against the live target (reads only). Exit 1 on differences.

    After a cutover, documents the application added or changed since are warnings (in every
    check); a document the source has and production lost fails."""
    from mongo_promote import api
    from mongo_promote.cli.render.checks import validation

    out = Output(json_mode=json_out, verbose=verbose, quiet=quiet)
    options = api.ValidateOptions(run_id=run_id, state_dir=state_dir)
    loaded = load(plan, source_uri, target_uri, timeout=network_timeout)
    report = api.validate(loaded, out, options)
    if not json_out:
        validation(out, report)
    failed = (
        None
        if report.passed
        else ValidationFailed(f"validation found differences: {report.summary()}")
    )
    conclude(out, report.to_json(), failed, json_out)
