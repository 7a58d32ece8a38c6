"""`backup`: a verified, mongorestore-compatible backup of the target database (reads only)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mongo_promote import api
from mongo_promote.cli.common import (
    JsonOpt,
    PlanOpt,
    SourceUriOpt,
    StateDirRunOpt,
    TargetUriOpt,
    handles_errors,
    load,
)
from mongo_promote.cli.timeouts import NetworkTimeoutOpt
from mongo_promote.console import Output
from mongo_promote.domain.plan import DEFAULT_PLAN_PATH


@handles_errors
def backup(
    plan: PlanOpt = DEFAULT_PLAN_PATH,
    target_uri: TargetUriOpt = None,
    source_uri: SourceUriOpt = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Backup directory.")] = None,
    state_dir: StateDirRunOpt = None,
    network_timeout: NetworkTimeoutOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """A verified, mongorestore-compatible backup of the target database (reads only)."""
    out = Output(json_mode=json_out)
    options = api.BackupOptions(out_dir=out_dir, state_dir=state_dir)
    loaded = load(plan, source_uri, target_uri, timeout=network_timeout)
    result = api.backup(loaded, out, options)
    if json_out:
        out.emit_json(result.to_json())
    else:
        out.info(f"backup written and verified: {result.dir}")
