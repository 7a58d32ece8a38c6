"""`servers start|status|stop`: the two local servers (staging, production) for the demo and tests."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mongo_promote.adapters.servers import default_state_dir, read_pair, start_pair, stop_pair
from mongo_promote.cli.common import EngineOpt, JsonOpt, handles_errors
from mongo_promote.cli.render.inventory import server_pair, server_uris
from mongo_promote.console import Output

app = typer.Typer(help="Local test servers (staging, production) for the demo and tests.")

StateDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--state-dir",
        help="Where the servers keep data and state (default ./.mongo-promote/servers).",
    ),
]


@app.command("start")
@handles_errors
def start(
    state_dir: StateDirOpt = None, json_out: JsonOpt = False, engine: EngineOpt = "ferretdb"
) -> None:
    """Start staging and production on free 127.0.0.1 ports (or show the running ones)."""
    pair = start_pair(state_dir or default_state_dir(), engine=engine)
    server_pair(Output(json_mode=json_out), pair, json_out)


@app.command("status")
@handles_errors
def status(state_dir: StateDirOpt = None, json_out: JsonOpt = False) -> None:
    """Show the local servers and whether they answer; exit 1 when they are not running."""
    out = Output(json_mode=json_out)
    pair = read_pair(state_dir or default_state_dir())
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
            out.info("no local servers: `mongo-promote servers start`")
        raise typer.Exit(1)


@app.command("stop")
@handles_errors
def stop(state_dir: StateDirOpt = None) -> None:
    """Stop the local servers and delete their data."""
    stopped = stop_pair(state_dir or default_state_dir())
    Output().info(f"stopped {len(stopped)} server(s)" if stopped else "no local servers running")
