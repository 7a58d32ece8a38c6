"""`restore`: put the target back as a backup (ours or `mongodump --gzip`) holds it."""

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
from mongo_promote.errors import UsageError


@handles_errors
def restore(
    backup_dir: Annotated[
        Path | None,
        typer.Option(
            "--backup",
            metavar="DIR",
            help="Directory from backup or mongodump --gzip (or --archive file).",
        ),
    ] = None,
    plan: PlanOpt = DEFAULT_PLAN_PATH,
    target_uri: TargetUriOpt = None,
    source_uri: SourceUriOpt = None,
    collection: Annotated[
        list[str] | None, typer.Option(metavar="NAME", help="Only these collections.")
    ] = None,
    yes: YesOpt = False,
    resume: Annotated[
        str | None,
        typer.Option("--resume", metavar="RUN_ID", help="Continue the interrupted restore RUN_ID."),
    ] = None,
    state_dir: StateDirRunOpt = None,
    identity: Annotated[
        Path | None,
        typer.Option(
            "--identity",
            metavar="KEY",
            help="age identity file, for a backup encrypted with encrypt_to.",
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Each collection and what would happen to it; write nothing."
        ),
    ] = False,
    network_timeout: NetworkTimeoutOpt = None,
    json_out: JsonOpt = False,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Put the target back exactly as the backup holds it (verified first, then shadows and cutover).

    It shows each collection and what happens to it, and asks once; --dry-run shows it and
    writes nothing."""
    from mongo_promote import api
    from mongo_promote.cli.render.restored import restored
    from mongo_promote.cli.render.summary import summary_on_failure

    if backup_dir is None and resume is None:
        raise UsageError("restore needs --backup DIR (or --resume RUN_ID)")
    out = Output(json_mode=json_out, verbose=verbose, quiet=quiet)
    options = api.RestoreOptions(
        backup_dir=backup_dir,
        only=collection,
        resume=resume,
        state_dir=state_dir,
        identity=identity,
        dry_run=dry_run,
        yes=yes,
        confirm=confirmer(),
    )
    with summary_on_failure(out):
        loaded = load(plan, source_uri, target_uri, timeout=network_timeout)
        result = api.restore(loaded, out, options)
    restored(out, result, json_out)
