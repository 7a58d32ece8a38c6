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
from mongo_promote.console import Output
from mongo_promote.errors import UsageError

app = typer.Typer(
    name="mongo-promote",
    help="Promote a MongoDB database from staging to production: backup, copy into shadow "
    "collections, transform, index, validate, cut over, roll back.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
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
    """Console-script entry point."""
    try:
        app()
    except UsageError as exc:  # raised outside a command (should not happen, but keep exit 2)
        Output().error(exc.message)
        sys.exit(2)
