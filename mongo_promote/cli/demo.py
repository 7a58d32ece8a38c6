"""`demo`: the whole Meeshy promotion on two local servers, with the bundled plan."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer

from mongo_promote.cli.common import handles_errors
from mongo_promote.cli.options import STATE_DIR_ENV, EngineOpt, QuietOpt, VerboseOpt
from mongo_promote.cli.timeouts import NetworkTimeoutOpt, network_timeout
from mongo_promote.console import Output


@handles_errors
def demo(
    scale: Annotated[float, typer.Option(help="Data scale; 1 = the seed's figures.")] = 1,
    keep: Annotated[
        bool, typer.Option("--keep", help="Leave the servers running and print URIs.")
    ] = False,
    seed_value: Annotated[int, typer.Option("--seed", help="Random seed.")] = 42,
    state_dir: Annotated[
        Path,
        typer.Option(
            "--state-dir",
            metavar="DIR",
            envvar=STATE_DIR_ENV,
            help="Where the demo's runs/ and backups/ go.",
        ),
    ] = Path("mongo-promote-demo"),
    engine: EngineOpt = "ferretdb",
    timeout: NetworkTimeoutOpt = None,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """The whole Meeshy promotion on two local servers: seed, dry-run, run, validate, report.

    Nothing points at production: the plan's hooks run local commands, and no MEESHY_* variable
    of this shell is read."""
    from mongo_promote import api
    from mongo_promote.cli.render.demo import DemoTables
    from mongo_promote.cli.render.inventory import server_pair

    out = Output(verbose=verbose, quiet=quiet)
    options = api.DemoOptions(
        scale=scale,
        keep=keep,
        seed=seed_value,
        state_dir=state_dir,
        engine=engine,
        view=DemoTables(out, keep=keep),
        network_timeout=network_timeout(timeout),
    )
    result = api.demo(out, options)
    if not keep:
        out.info("servers stopped (use --keep to leave them running)")
        return
    server_pair(out, result.kept_servers, False)
    stop = shlex.join(
        ["mongo-promote", "servers", "stop", "--state-dir", str(state_dir.absolute() / "servers")]
    )
    out.info(f"servers left running: `{stop}`")
