"""What every command shares: plan loading, confirmation, and errors → one line and an exit code
(and `{"error": {...}}` under --json). The options themselves: `cli/options.py`."""

from __future__ import annotations

import functools
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from mongo_promote.cli.options import DEBUG_ENV
from mongo_promote.cli.timeouts import network_timeout
from mongo_promote.console import Output
from mongo_promote.errors import PromoteError
from mongo_promote.redact import redact_text

if TYPE_CHECKING:
    from mongo_promote.domain.plan import LoadedPlan

F = TypeVar("F", bound=Callable[..., Any])


def handles_errors(func: F) -> F:
    """Every failure of a command becomes one red line and its exit code (`fail`), and with
    --json also `{"error": {...}}` on stdout; an exit code the command asks for, or a prompt
    aborted, goes on to Typer."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except (Exception, KeyboardInterrupt) as exc:
            json_mode = bool(kwargs.get("json_out"))
            raise typer.Exit(fail(exc, debug=debugging(), json_mode=json_mode)) from None

    return wrapper  # type: ignore[return-value]


def fail(exc: BaseException, *, debug: bool, json_mode: bool = False) -> int:
    """The one mapping of a failure: a scrubbed line on stderr (after the scrubbed traceback with
    `debug`), with `json_mode` the same as `{"error": {"code", "exit", "message"}}` on stdout,
    and the exit code: a PromoteError's own, 130 for Ctrl-C, 1 for anything else. `code` is
    the error's stable name (errors.PromoteError.code), `interrupted` or `internal`."""
    out = Output()
    if debug:
        out.traceback(scrub("".join(traceback.format_exception(exc)).rstrip()))
    code, exit_code, line = describe_failure(exc)
    hint = "" if debug or code != "internal" else " (run again with --debug for the traceback)"
    out.error(line + hint)
    if json_mode:
        out.emit_json({"error": {"code": code, "exit": exit_code, "message": line}})
    return exit_code


def conclude(out: Output, data: dict[str, Any], error: PromoteError | None, json_out: bool) -> None:
    """A command's result that may also be a failure (validation found differences, a health
    check failed, another run holds the lock): with --json one document, the error inside it;
    the error's line on stderr and its exit code."""
    if json_out:
        if error is not None:
            code, exit_code, message = describe_failure(error)
            data = {**data, "error": {"code": code, "exit": exit_code, "message": message}}
        out.emit_json(data)
    if error is not None:
        raise typer.Exit(fail(error, debug=False))


def describe_failure(exc: BaseException) -> tuple[str, int, str]:
    """(code, exit code, one scrubbed line) of any failure."""
    if isinstance(exc, PromoteError):
        return exc.code, exc.exit_code, scrub(" ".join(exc.message.split()))
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", 130, "interrupted"
    from pymongo.errors import PyMongoError

    from mongo_promote.adapters.mongo import server_error

    # a server's refusal: its message and code name, one line (never the driver's error dict)
    text = server_error(exc) if isinstance(exc, PyMongoError) else " ".join(str(exc).split())
    return "internal", 1, scrub(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)


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
    from mongo_promote.domain.plan import argv_password_warning, bundled_plan_path, load_plan

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
