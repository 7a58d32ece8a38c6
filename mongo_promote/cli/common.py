"""What every command shares: the common options, plan loading, confirmation, errors → exit codes."""

from __future__ import annotations

import functools
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from mongo_promote.cli.timeouts import network_timeout
from mongo_promote.console import Output
from mongo_promote.domain.plan import (
    LoadedPlan,
    argv_password_warning,
    bundled_plan_path,
    load_plan,
)
from mongo_promote.errors import PromoteError
from mongo_promote.redact import redact_text

PlanOpt = Annotated[
    str,
    typer.Option(
        "--plan", "-p", help="Plan file. 'meeshy' = the bundled Meeshy plan.", show_default=True
    ),
]
URI_HELP = (
    "Overrides the plan's {} URI: a URI (visible in the process list), env:NAME (read from "
    "that environment variable) or file:PATH (first line of a private file)."
)
SourceUriOpt = Annotated[str | None, typer.Option("--source-uri", help=URI_HELP.format("source"))]
TargetUriOpt = Annotated[str | None, typer.Option("--target-uri", help=URI_HELP.format("target"))]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable result on stdout.")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="More detail.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Only errors and results.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
StateDirRunOpt = Annotated[
    Path | None,
    typer.Option("--state-dir", help="Where runs/<run-id>/ goes (default: next to the plan)."),
]

EngineOpt = Annotated[
    str,
    typer.Option(
        "--engine", help="ferretdb (v1, SQLite), documentdb (FerretDB v2 + PostgreSQL) or mongod."
    ),
]

F = TypeVar("F", bound=Callable[..., Any])
DEBUG_ENV = "MONGO_PROMOTE_DEBUG"
DebugOpt = Annotated[
    bool,
    typer.Option(
        "--debug", envvar=DEBUG_ENV, help="On a failure, show its traceback (scrubbed) as well."
    ),
]


def handles_errors(func: F) -> F:
    """Every failure of a command becomes one red line and its exit code (`fail`); an exit code
    the command asks for, or a prompt aborted, goes on to Typer."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except (Exception, KeyboardInterrupt) as exc:
            raise typer.Exit(fail(exc, debug=debugging())) from None

    return wrapper  # type: ignore[return-value]


def fail(exc: BaseException, *, debug: bool) -> int:
    """The one mapping of a failure: a scrubbed line on stderr (after the scrubbed traceback with
    `debug`), and the exit code: a PromoteError's own, 130 for Ctrl-C, 1 for anything else."""
    out = Output()
    if debug:
        out.traceback(scrub("".join(traceback.format_exception(exc)).rstrip()))
    if isinstance(exc, PromoteError):
        out.error(scrub(exc.message))
        return exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        out.error("interrupted")
        return 130
    text = " ".join(str(exc).split())
    line = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    out.error(scrub(line) + ("" if debug else " (run again with --debug for the traceback)"))
    return 1


_debug = [False]  # this invocation's --debug, set by the app's callback before any command


def set_debug(debug: bool) -> None:
    _debug[0] = debug


def debugging() -> bool:
    """--debug (a global option, before the command) or MONGO_PROMOTE_DEBUG=1."""
    return _debug[0] or debug_from_env()


def debug_from_env() -> bool:
    return os.environ.get(DEBUG_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def scrub(text: str) -> str:
    """Last line of defence: no URI credentials from the environment ever reach the terminal."""
    uris = [v for k, v in os.environ.items() if "URI" in k.upper() and v.startswith("mongodb")]
    return redact_text(text, *uris)


def load(
    plan: str, source_uri: str | None, target_uri: str | None, *, servers: bool = True,
    timeout: str | None = None) -> LoadedPlan:  # fmt: skip
    """The plan file (or the bundled one for `meeshy`), validated, with the URI overrides (a
    URI, `env:NAME` or `file:PATH`: the last two keep a password out of the process list; a URI
    with a password given here is warned about) and --network-timeout (`timeout`). `servers=False`:
    the command never connects, so unset URI variables are no error."""
    path = Path(plan)
    if plan == "meeshy" and not path.exists():
        path = bundled_plan_path()
    sources: dict[str, Any] = {}
    for side, value in (("source", source_uri), ("target", target_uri)):
        if value is None:
            continue
        kind, _, rest = value.partition(":")
        if kind == "env":
            sources[f"{side}_uri_env"] = rest
        elif kind == "file":
            sources[f"{side}_uri_file"] = rest
        else:
            if warning := argv_password_warning(value, f"--{side}-uri"):
                Output().warn(warning)
            sources[f"{side}_uri"] = value
    return load_plan(path, servers=servers, network_timeout=network_timeout(timeout), **sources)


def confirmer() -> Callable[[str], bool] | None:
    """Ask on a terminal; with no terminal there is nobody to ask, so destructive commands need --yes."""
    if not sys.stdin.isatty():
        return None
    return lambda question: typer.confirm(question, default=False, err=True)
