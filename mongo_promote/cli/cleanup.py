"""`cleanup`: drop the legacy and replaced collections after a run, guarded (age, changes, backup first)."""

from __future__ import annotations

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
def cleanup(
    plan: PlanOpt = DEFAULT_PLAN_PATH,
    source_uri: SourceUriOpt = None,
    target_uri: TargetUriOpt = None,
    run_id: Annotated[
        str | None,
        typer.Option(
            "--run", metavar="RUN_ID", help="The run to clean up after (default: the latest)."
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would go and which guard applies.")
    ] = False,
    resume: Annotated[
        str | None, typer.Option("--resume", help="Continue the interrupted cleanup RUN_ID.")
    ] = None,
    ignore_age: Annotated[
        bool, typer.Option("--ignore-age", help="Do not wait for the plan's cleanup.min_age.")
    ] = False,
    force: Annotated[
        list[str] | None,
        typer.Option(
            "--force-collection",
            metavar="NAME",
            help="Drop NAME even though it changed since the run's backup.",
        ),
    ] = None,
    state_dir: StateDirRunOpt = None,
    yes: YesOpt = False,
    network_timeout: NetworkTimeoutOpt = None,
    json_out: JsonOpt = False,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Drop the legacy collections and replaced embed sources after a run (guarded, backed up first).

    Not before cleanup.min_age since the run's cutover, not a collection written since the run's
    backup, and only after a verified backup of each (`restore --backup` brings them back)."""
    from mongo_promote import api
    from mongo_promote.cli.render.cleanup import candidates, cleaned

    out = Output(json_mode=json_out, verbose=verbose, quiet=quiet)
    options = api.CleanupOptions(
        run_id=run_id,
        resume=resume,
        dry_run=dry_run,
        ignore_age=ignore_age,
        force=force or [],
        state_dir=state_dir,
        yes=yes,
        confirm=confirmer(),
        show=lambda chosen: candidates(out, chosen),
    )
    loaded = load(plan, source_uri, target_uri, timeout=network_timeout)
    result = api.cleanup(loaded, out, options)
    cleaned(out, result, json_out)
