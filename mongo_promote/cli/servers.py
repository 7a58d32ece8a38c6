"""`servers start|status|stop`: the two local servers (staging, production) for the demo and tests."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mongo_promote.adapters.servers import (
    LocalServer,
    default_state_dir,
    known_state_dirs,
    read_pair,
    start_pair,
    stop_pair,
)
from mongo_promote.cli.common import handles_errors
from mongo_promote.cli.options import EngineOpt, JsonOpt, QuietOpt, VerboseOpt, epilog
from mongo_promote.cli.render.inventory import server_pair, server_uris
from mongo_promote.console import Output

app = typer.Typer(help="Local test servers (staging, production) for the demo and tests.")

StateDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--state-dir",
        metavar="DIR",
        help="Where the servers keep data and state (default: ./.mongo-promote/servers; stop "
        "and status also look where `demo --keep` leaves them).",
    ),
]


@app.command("start", epilog=epilog("mongo-promote servers start --engine ferretdb"))
@handles_errors
def start(
    state_dir: StateDirOpt = None,
    json_out: JsonOpt = False,
    engine: EngineOpt = "ferretdb",
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Start staging and production on free 127.0.0.1 ports (or show the running ones)."""
    pair = start_pair(state_dir or default_state_dir(), engine=engine)
    server_pair(Output(json_mode=json_out, verbose=verbose, quiet=quiet), pair, json_out)


@app.command("status", epilog=epilog("mongo-promote servers status --json"))
@handles_errors
def status(
    state_dir: StateDirOpt = None,
    json_out: JsonOpt = False,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Show the local servers and whether they answer; exit 1 when they are not running."""
    out = Output(json_mode=json_out, verbose=verbose, quiet=quiet)
    places = [state_dir] if state_dir else known_state_dirs()
    pair = [s for place in places for s in read_pair(place)]
    running = [s for s in pair if s.alive()]
    if json_out:
        out.emit_json(
            {"running": len(running) == 2, **server_uris(running)}
            if running
            else {"running": False}
        )
    for server in pair:
        state = "running" if server in running else "not running"
        out.info(f"{server.role:<10} {server.kind:<8} {server.uri}  pid {server.pid}  {state}")
    if len(running) != 2:
        if not pair:
            out.info(
                f"no local servers (looked in {_places(places)}): `mongo-promote servers start`"
            )
        raise typer.Exit(1)


@app.command("stop", epilog=epilog("mongo-promote servers stop"))
@handles_errors
def stop(
    state_dir: StateDirOpt = None, verbose: VerboseOpt = False, quiet: QuietOpt = False
) -> None:
    """Stop the local servers and delete their data (those of `servers start` and of `demo --keep`)."""
    out = Output(verbose=verbose, quiet=quiet)
    places = [state_dir] if state_dir else known_state_dirs()
    stopped: list[LocalServer] = [s for place in places for s in stop_pair(place)]
    if stopped:
        out.info(f"stopped {len(stopped)} server(s): {', '.join(s.uri for s in stopped)}")
    else:
        out.info(f"no local servers running (looked in {_places(places)})")


def _places(places: list[Path]) -> str:
    return ", ".join(str(Path(p).absolute()) for p in places)
