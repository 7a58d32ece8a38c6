"""The `mongo-promote` command: one module per command (parse → `api` → render), errors → exit codes."""

from __future__ import annotations

import sys

import typer

from mongo_promote.cli import (
    backup,
    cleanup,
    demo,
    health,
    history,
    inspect,
    refresh_staging,
    restore,
    rollback,
    run,
    seed,
    servers,
    validate,
)
from mongo_promote.cli.common import DebugOpt, debug_from_env, fail, set_debug

app = typer.Typer(
    name="mongo-promote",
    help="Promote a MongoDB database from staging to production: backup, copy into shadow "
    "collections, transform, index, validate, cut over, roll back.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def options(debug: DebugOpt = False) -> None:
    """Options of every command, given before it (read back by `common.debugging`)."""
    set_debug(debug)


app.callback()(options)
app.add_typer(servers.app, name="servers")
for command in (
    inspect.inspect,
    run.run,
    validate.validate,
    backup.backup,
    restore.restore,
    rollback.rollback,
    seed.seed,
    demo.demo,
):
    app.command()(command)
app.command(name="cleanup")(cleanup.cleanup)
app.command(name="health")(health.health)
app.command(name="history")(history.history)
app.command(name="refresh-staging")(refresh_staging.refresh_staging)


def main() -> None:
    """Console-script entry point. A command maps its own failures (`common.handles_errors`);
    anything raised around them takes the same way: one scrubbed line and its exit code."""
    try:
        app()
    except (Exception, KeyboardInterrupt) as exc:
        sys.exit(fail(exc, debug=debug_from_env() or "--debug" in sys.argv[1:]))
