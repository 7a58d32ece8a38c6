"""`seed`: fill two servers with realistic, deterministic Meeshy data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mongo_promote.cli.common import handles_errors
from mongo_promote.cli.options import JsonOpt, QuietOpt, VerboseOpt
from mongo_promote.cli.timeouts import NetworkTimeoutOpt, network_timeout
from mongo_promote.console import Output, to_json


@handles_errors
def seed(
    source_uri: Annotated[
        str, typer.Option("--source-uri", metavar="URI", help="Staging server to fill.")
    ],
    target_uri: Annotated[
        str, typer.Option("--target-uri", metavar="URI", help="Production server to fill.")
    ],
    scale: Annotated[float, typer.Option(help="1 = the seed document's figures.")] = 1,
    seed_value: Annotated[int, typer.Option("--seed", help="Random seed.")] = 42,
    database: Annotated[str, typer.Option(help="Database name on both sides.")] = "meeshy",
    manifest: Annotated[
        Path | None, typer.Option(metavar="FILE", help="Write the manifest here.")
    ] = None,
    timeout: NetworkTimeoutOpt = None,
    json_out: JsonOpt = False,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Fill both servers with realistic, deterministic Meeshy data (drops what it rewrites)."""
    from mongo_promote import api

    out = Output(json_mode=json_out, verbose=verbose, quiet=quiet)
    options = api.SeedOptions(
        source_uri,
        target_uri,
        source_database=database,
        target_database=database,
        scale=scale,
        seed=seed_value,
        network_timeout=network_timeout(timeout),
    )
    result = api.seed(out, options)
    if manifest:
        manifest.write_text(to_json(result.to_json()) + "\n")
    if json_out:
        out.emit_json(result.to_json())
