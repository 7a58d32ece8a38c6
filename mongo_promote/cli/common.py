"""What every command shares: the common options, plan loading, confirmation, errors → exit codes."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

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


def handles_errors(func: F) -> F:
    """Every expected failure becomes one red line and its documented exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except PromoteError as exc:
            Output().error(scrub(exc.message))
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            Output().error("interrupted")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def scrub(text: str) -> str:
    """Last line of defence: no URI credentials from the environment ever reach the terminal."""
    uris = [v for k, v in os.environ.items() if "URI" in k.upper() and v.startswith("mongodb")]
    return redact_text(text, *uris)


def load(
    plan: str, source_uri: str | None, target_uri: str | None, *, servers: bool = True
) -> LoadedPlan:
    """The plan file (or the bundled one for `meeshy`), validated, with the URI overrides.

    An override is a URI, `env:NAME` or `file:PATH`: the last two keep a password out of the
    process list (a URI with a password given here is warned about). `servers=False`: the
    command never connects, so unset URI variables are no error."""
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
    return load_plan(path, servers=servers, **sources)


def confirmer() -> Callable[[str], bool] | None:
    """Ask on a terminal; with no terminal there is nobody to ask, so destructive commands need --yes."""
    if not sys.stdin.isatty():
        return None
    return lambda question: typer.confirm(question, default=False, err=True)
