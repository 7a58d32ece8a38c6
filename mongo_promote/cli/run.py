"""`run`: the whole promotion, or with --dry-run the plan's summary and the exact list of actions."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mongo_promote.cli.common import conclude, confirmer, handles_errors, load
from mongo_promote.cli.options import (
    JsonOpt,
    PlanOpt,
    QuietOpt,
    SourceUriOpt,
    StateDirRunOpt,
    TargetUriOpt,
    VerboseOpt,
    YesOpt,
)
from mongo_promote.cli.timeouts import NetworkTimeoutOpt
from mongo_promote.console import Output
from mongo_promote.domain.plan import DEFAULT_PLAN_PATH
from mongo_promote.errors import UsageError

if TYPE_CHECKING:
    from mongo_promote import api


@handles_errors
def run(
    plan: PlanOpt = DEFAULT_PLAN_PATH,
    source_uri: SourceUriOpt = None,
    target_uri: TargetUriOpt = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="The plan's summary and actions; write nothing.")
    ] = False,
    save: Annotated[
        Path | None,
        typer.Option(metavar="FILE", help="With --dry-run: save the reviewed plan (for --from)."),
    ] = None,
    from_file: Annotated[
        Path | None,
        typer.Option(
            "--from",
            metavar="FILE",
            help="Apply exactly this saved plan; refused if anything moved since.",
        ),
    ] = None,
    yes: YesOpt = False,
    resume: Annotated[
        str | None, typer.Option(metavar="RUN_ID", help="Continue run RUN_ID.")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, max=32, help="Collections copied at once.")] = 4,
    keep_shadows: Annotated[
        bool, typer.Option("--keep-shadows", help="On failure keep shadows for --resume.")
    ] = False,
    allow_target_drift: Annotated[
        bool,
        typer.Option(
            "--allow-target-drift", help="Cut over even if production changed since its backup."
        ),
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
    network_timeout: NetworkTimeoutOpt = None,
    json_out: JsonOpt = False,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """The whole promotion: backup, copy into shadows, transform, index, validate, cut over.

    It shows the plan's summary (what it creates, replaces, leaves alone, the backup, the
    commands it runs) and asks once; --dry-run shows it and writes nothing."""
    from mongo_promote import api
    from mongo_promote.cli.render.summary import run_summary, summary_on_failure

    out = Output(json_mode=json_out, verbose=verbose, quiet=quiet)
    if health_gate not in (None, "off", "report", "rollback"):
        raise UsageError(f"--health-gate {health_gate}: one of off, report, rollback")
    if save is not None and not dry_run:
        raise UsageError("--save goes with --dry-run: it saves the plan the dry-run shows")
    loaded = load(plan, source_uri, target_uri, timeout=network_timeout)
    options = api.RunOptions(
        yes=yes,
        resume=resume,
        workers=workers,
        keep_shadows=keep_shadows,
        allow_target_drift=allow_target_drift,
        run_hooks=hooks,
        health_gate=health_gate,
        state_dir=state_dir,
        save=save,
        from_file=from_file,
        confirm=confirmer(),
    )
    if dry_run:
        _dry_run(out, api.dry_run(loaded, out, options), json_out)
        return
    with summary_on_failure(out):
        outcome = api.run(loaded, out, options)
    run_summary(out, outcome.summary)
    if json_out:
        out.emit_json(outcome.to_json())


def _dry_run(out: Output, planned: api.DryRunResult, json_out: bool) -> None:
    """The dry-run; then, when another run holds the lock, the error `run` would stop with
    (exit 4), after it (in the same JSON document with --json)."""
    from mongo_promote import api
    from mongo_promote.cli.render.dryrun import dry_run as render_dry_run

    render_dry_run(out, planned.dry_run)
    if planned.saved:
        out.info(
            f"saved to {planned.saved['file']}; to apply exactly this: {planned.saved['apply']}"
        )
    conclude(out, planned.to_json(), api.lock_error(planned), json_out)
