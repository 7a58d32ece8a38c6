"""The options the commands share (Typer `Annotated` types), and the end of every `--help`: an
example and the exit codes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

PlanOpt = Annotated[
    str,
    typer.Option(
        "--plan",
        "-p",
        metavar="PLAN",
        help="Plan file. 'meeshy' = the bundled Meeshy plan.",
        show_default=True,
    ),
]
URI_HELP = (
    "Overrides the plan's {} URI: a URI (visible in the process list), env:NAME (read from "
    "that environment variable) or file:PATH (first line of a private file)."
)
SourceUriOpt = Annotated[
    str | None, typer.Option("--source-uri", metavar="URI", help=URI_HELP.format("source"))
]
TargetUriOpt = Annotated[
    str | None, typer.Option("--target-uri", metavar="URI", help=URI_HELP.format("target"))
]
JsonOpt = Annotated[
    bool,
    typer.Option(
        "--json", help='Machine-readable result on stdout (errors too: {"error": {...}}).'
    ),
]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Every row and detail.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Only errors and results.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
STATE_DIR_ENV = "MONGO_PROMOTE_STATE_DIR"
StateDirRunOpt = Annotated[
    Path | None,
    typer.Option(
        "--state-dir",
        metavar="DIR",
        envvar=STATE_DIR_ENV,
        help="Where runs/<run-id>/ and backups/ go (default: next to the plan; the bundled "
        "plan's: the current directory).",
    ),
]

EngineOpt = Annotated[
    str,
    typer.Option(
        "--engine",
        metavar="ENGINE",
        help="ferretdb (v1, SQLite), documentdb (FerretDB v2 + PostgreSQL) or mongod.",
    ),
]

EXIT_CODES = (
    "Exit codes: 0 done; 1 failed, or differences found; 2 bad usage or invalid plan "
    "(nothing touched); 3 a server unreachable or refusing; 4 another run holds the lock; "
    "130 interrupted (production consistent; --resume continues)."
)


def epilog(example: str) -> str:
    """A command's help ends with an example (kept as written) and the exit codes."""
    return f"\b\nExample:\n  {example}\n\n{EXIT_CODES}"


DEBUG_ENV = "MONGO_PROMOTE_DEBUG"
DebugOpt = Annotated[
    bool,
    typer.Option(
        "--debug", envvar=DEBUG_ENV, help="On a failure, show its traceback (scrubbed) as well."
    ),
]
