"""`rollback`: undo a run from its backup (what it replaced comes back, what it created goes)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mongo_promote.cli.common import confirmer, handles_errors, load
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


@handles_errors
def rollback(
    plan: PlanOpt = DEFAULT_PLAN_PATH,
    target_uri: TargetUriOpt = None,
    source_uri: SourceUriOpt = None,
    run_id: Annotated[
        str | None,
        typer.Option("--run", metavar="RUN_ID", help="Run to undo (default: the latest)."),
    ] = None,
    state_dir: StateDirRunOpt = None,
    yes: YesOpt = False,
    resume: Annotated[
        str | None,
        typer.Option(
            "--resume", metavar="RUN_ID", help="Continue the interrupted rollback RUN_ID."
        ),
    ] = None,
    identity: Annotated[
        Path | None,
        typer.Option(
            "--identity",
            metavar="KEY",
            help="age identity file, for a backup encrypted with encrypt_to.",
        ),
    ] = None,
    allow_target_drift: Annotated[
        bool,
        typer.Option(
            "--allow-target-drift",
            help="Roll back even if production changed since the run's cutover (its current "
            "state is backed up first).",
        ),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Each collection and what would happen to it; write nothing."
        ),
    ] = False,
    hooks: Annotated[
        bool,
        typer.Option(
            "--hooks/--no-hooks",
            help="Run the plan's freeze commands around the swap (--no-hooks: the application "
            "is not stopped).",
        ),
    ] = True,
    network_timeout: NetworkTimeoutOpt = None,
    json_out: JsonOpt = False,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Undo a run: swap back what it kept by renames (else restore it from its backup), take
    out what it created; inside the plan's write freeze, if it has one.

    It shows each collection and what happens to it, and asks once; --dry-run shows it and
    writes nothing."""
    from mongo_promote import api
    from mongo_promote.cli.render.restored import restored
    from mongo_promote.cli.render.summary import summary_on_failure

    out = Output(json_mode=json_out, verbose=verbose, quiet=quiet)
    options = api.RollbackOptions(
        run_id=run_id,
        resume=resume,
        state_dir=state_dir,
        identity=identity,
        allow_target_drift=allow_target_drift,
        dry_run=dry_run,
        run_hooks=hooks,
        yes=yes,
        confirm=confirmer(),
    )
    with summary_on_failure(out):
        loaded = load(plan, source_uri, target_uri, timeout=network_timeout)
        result = api.rollback(loaded, out, options)
    restored(out, result, json_out)
