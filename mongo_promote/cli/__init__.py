"""The `mongo-promote` command: one module per command (parse → `api` → render), errors → exit codes."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer

from mongo_promote import __version__
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
from mongo_promote.cli.common import debug_from_env, fail, set_debug
from mongo_promote.cli.options import DebugOpt, epilog

app = typer.Typer(
    name="mongo-promote",
    help="Promote a MongoDB database from staging to production: backup, copy into shadow "
    "collections, transform, index, validate, cut over, roll back.",
    epilog=epilog("mongo-promote run --plan promote.yaml --dry-run"),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,  # --install-completion / --show-completion (bash, zsh, fish, PowerShell)
    rich_markup_mode=None,  # click's plain help: option names whole at 80 columns
)


def _version(show: bool) -> None:
    if show:
        typer.echo(f"mongo-promote {__version__}")
        raise typer.Exit()


def options(
    debug: DebugOpt = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_version, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Options of every command, given before it (read back by `common.debugging`)."""
    set_debug(debug)


# name, function, one line for the command list, an example
COMMANDS: list[tuple[str, Callable[..., Any], str, str]] = [
    ("inspect", inspect.inspect, "Inventory of both sides.", "inspect --plan meeshy"),
    ("run", run.run, "The whole promotion (or --dry-run).", "run --plan promote.yaml --dry-run"),
    ("validate", validate.validate, "Check the live target.", "validate --plan promote.yaml"),
    ("backup", backup.backup, "A verified backup of the target.", "backup --plan promote.yaml"),
    ("restore", restore.restore, "Load a backup back.", "restore --backup DIR --dry-run"),
    ("rollback", rollback.rollback, "Undo a run.", "rollback --plan promote.yaml --dry-run"),
    (
        "cleanup",
        cleanup.cleanup,
        "Drop legacy collections.",
        "cleanup --plan promote.yaml --dry-run",
    ),
    ("health", health.health, "The plan's HTTP checks.", "health --plan promote.yaml --retries 0"),
    ("history", history.history, "The runs and what holds now.", "history --plan promote.yaml"),
    (
        "refresh-staging",
        refresh_staging.refresh_staging,
        "The staging refresh runbook.",
        "refresh-staging --plan promote.yaml --dry-run",
    ),
    ("seed", seed.seed, "Fill two servers with demo data.", "seed --source-uri U --target-uri U"),
    ("demo", demo.demo, "The whole promotion, locally.", "demo --keep"),
]

app.callback()(options)
app.add_typer(
    servers.app,
    name="servers",
    short_help="The local demo and test servers.",
    epilog=epilog("mongo-promote servers start"),
)
for name, command, short, example in COMMANDS:
    app.command(name=name, short_help=short, epilog=epilog(f"mongo-promote {example}"))(command)


def main() -> None:
    """Console-script entry point. A command maps its own failures (`common.handles_errors`);
    anything raised around them takes the same way: one scrubbed line and its exit code."""
    argv = sys.argv[1:]
    try:
        app()
    except (Exception, KeyboardInterrupt) as exc:
        debug = debug_from_env() or "--debug" in argv
        sys.exit(fail(exc, debug=debug, json_mode="--json" in argv))
