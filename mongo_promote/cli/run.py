"""`run`: the whole promotion, or with --dry-run the checks and the exact list of actions."""

from __future__ import annotations

from typing import Annotated

import typer

from mongo_promote import api
from mongo_promote.cli.common import (
    JsonOpt,
    PlanOpt,
    QuietOpt,
    SourceUriOpt,
    StateDirRunOpt,
    TargetUriOpt,
    VerboseOpt,
    YesOpt,
    confirmer,
    handles_errors,
    load,
)
from mongo_promote.cli.render.dryrun import dry_run as render_dry_run
from mongo_promote.cli.render.summary import run_summary, summary_on_failure
from mongo_promote.console import Output
from mongo_promote.domain.plan import DEFAULT_PLAN_PATH
from mongo_promote.errors import UsageError


@handles_errors
def run(
    plan: PlanOpt = DEFAULT_PLAN_PATH,
    source_uri: SourceUriOpt = None,
    target_uri: TargetUriOpt = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check and list actions; write nothing.")
    ] = False,
    yes: YesOpt = False,
    resume: Annotated[str | None, typer.Option("--resume", help="Continue run RUN_ID.")] = None,
    workers: Annotated[int, typer.Option(min=1, max=32, help="Collections copied at once.")] = 4,
    keep_shadows: Annotated[
        bool, typer.Option(help="On failure keep shadows for --resume.")
    ] = False,
    allow_target_drift: Annotated[
        bool, typer.Option(help="Cut over even if production changed since its backup.")
    ] = False,
    hooks: Annotated[
        bool, typer.Option("--hooks/--no-hooks", help="Run the plan's hooks (every stage).")
    ] = True,
    health_gate: Annotated[
        str | None,
        typer.Option(
            "--health-gate",
            help="off, report or rollback: instead of the plan's health_gate (checks after the "
            "cutover; rollback: an instant rollback if they fail).",
        ),
    ] = None,
    state_dir: StateDirRunOpt = None,
    json_out: JsonOpt = False,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """The whole promotion: backup, copy into shadows, transform, index, validate, cut over."""
    out = Output(json_mode=json_out, verbose=verbose, quiet=quiet)
    if health_gate not in (None, "off", "report", "rollback"):
        raise UsageError(f"--health-gate {health_gate}: one of off, report, rollback")
    loaded = load(plan, source_uri, target_uri)
    options = api.RunOptions(
        yes=yes,
        resume=resume,
        workers=workers,
        keep_shadows=keep_shadows,
        allow_target_drift=allow_target_drift,
        run_hooks=hooks,
        health_gate=health_gate,
        state_dir=state_dir,
        confirm=confirmer(),
    )
    if dry_run:
        planned = api.dry_run(loaded, out, options)
        render_dry_run(out, planned.dry_run)
        _emit(out, planned, json_out)
        return
    with summary_on_failure(out):
        outcome = api.run(loaded, out, options)
    run_summary(out, outcome.summary)
    _emit(out, outcome, json_out)


def _emit(out: Output, result: api.RunResult | api.DryRunResult, json_out: bool) -> None:
    if json_out:
        out.emit_json(result.to_json())
