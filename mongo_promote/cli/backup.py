"""`backup`: a verified, mongorestore-compatible backup of the target database (reads only)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mongo_promote.cli.common import handles_errors, load
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
from mongo_promote.console import Output, human_bytes
from mongo_promote.domain.plan import DEFAULT_PLAN_PATH


@handles_errors
def backup(
    plan: PlanOpt = DEFAULT_PLAN_PATH,
    target_uri: TargetUriOpt = None,
    source_uri: SourceUriOpt = None,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", metavar="DIR", help="Backup directory (default: backups/<run-id>)."),
    ] = None,
    state_dir: StateDirRunOpt = None,
    network_timeout: NetworkTimeoutOpt = None,
    json_out: JsonOpt = False,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """A verified, mongorestore-compatible backup of the target database (reads only).

    A run of its own (journal, report, `history`); `restore --backup DIR` loads it back."""
    from mongo_promote import api

    out = Output(json_mode=json_out, verbose=verbose, quiet=quiet)
    options = api.BackupOptions(out_dir=out_dir, state_dir=state_dir)
    loaded = load(plan, source_uri, target_uri, timeout=network_timeout)
    result = api.backup(loaded, out, options)
    if json_out:
        out.emit_json(result.to_json())
        return
    done = result.backup
    out.info(
        f"backup {result.run_id} written and verified: {done.dir} ({len(done.collections)} "
        f"collections, {done.documents:,} documents, {human_bytes(done.bytes)})"
    )
