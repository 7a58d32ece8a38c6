"""Any failure of a run as a typed error with its exit code, its cause, and the command that continues
or undoes the run: network loss and refused privileges (3), interrupts (130), the rest (1)."""

from __future__ import annotations

import copy
import re

from pymongo.errors import OperationFailure, PyMongoError

from mongo_promote.adapters.mongo import describe_network_failure, network_cause, server_error
from mongo_promote.domain.names import TOOL_DATABASE
from mongo_promote.errors import (
    Interrupted,
    OperationFailed,
    PromoteError,
    ServerUnreachable,
    UsageError,
)
from mongo_promote.redact import redact_text
from mongo_promote.state.context import RunContext

_UNAUTHORIZED = 13
_NOT_AUTHORIZED_ON = re.compile(r"not authorized on (\S+) to execute command \{ ?(\w+)")


def classify(
    exc: BaseException,
    ctx: RunContext,
    where: str,
    *,
    resume: str,
    rollback: str,
    renamed: list[str] | None = None,
) -> PromoteError:
    """Any failure of a run as a typed error with its exit code, its cause, and what to do:
    network loss (exit 3), missing privileges (exit 3: the server refuses us, like a refused
    login), interrupts (130), the rest (1). `where`: before, cutover, after."""
    plan = ctx.plan
    state = {
        "start": "nothing was written",
        "before": "production untouched",
        "cutover": (
            f"renames already made: {', '.join(renamed)} (journalled)"
            if renamed
            else "no rename was made yet"
        )
        + f"; `{resume}` completes the cutover, `{rollback}` undoes it",
        "after": f"production is cut over; `{resume}` runs the rest, `{rollback}` undoes the "
        "cutover",
    }[where]
    if where == "before":
        state += f"; `{resume}` continues"
    cause = _pymongo_cause(exc)
    if isinstance(exc, KeyboardInterrupt | Interrupted):
        text = exc.message if isinstance(exc, Interrupted) else "interrupted"
        return Interrupted(f"{text}; {state}")
    network = network_cause(exc)
    if network is not None:
        clients = [ctx.source_client, ctx.target_client]
        text = redact_text(describe_network_failure(network, clients), plan.source.uri, plan.target.uri)
        return ServerUnreachable(f"run {ctx.run_id} stopped: {text}; {state}")
    if isinstance(cause, OperationFailure) and cause.code == _UNAUTHORIZED:
        return ServerUnreachable(f"{_privileges(cause, ctx)}; {state}")
    if isinstance(exc, PromoteError):
        if isinstance(exc, UsageError) or resume in exc.message:
            return exc
        return with_message(exc, f"{exc.message}; {state}")
    if isinstance(cause, OperationFailure):  # the server's message and code name, one line
        text = f"{type(cause).__name__}: {server_error(cause)}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    text = redact_text(text, plan.source.uri, plan.target.uri)
    return OperationFailed(f"run {ctx.run_id} failed ({text}); {state}")


def with_message(exc: PromoteError, message: str) -> PromoteError:
    """The same error (type, exit code), saying more."""
    error = copy.copy(exc)
    error.message = message
    error.args = (message,)
    return error


def _pymongo_cause(exc: BaseException) -> BaseException | None:
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None or isinstance(seen, PyMongoError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _privileges(exc: OperationFailure, ctx: RunContext) -> str:
    """Which role on which database the user lacks, from the server's refusal."""
    details = exc.details or {}
    message = str(details.get("errmsg") or exc).split(", full error:")[0]
    found = _NOT_AUTHORIZED_ON.search(message)
    database = found.group(1) if found else "?"
    command = found.group(2) if found else "?"
    source, target = ctx.plan.source.database, ctx.plan.target.database
    role = {
        source: f"`read` on {source!r} (the source)",
        target: f"`readWrite` on {target!r} (the target)",
        TOOL_DATABASE: f"`readWrite` on {TOOL_DATABASE!r} (the run lock and records)",
    }.get(database, f"`readWrite` on {database!r}")
    if database == source == target:
        role = f"`readWrite` on {target!r}"
    return (
        f"permission denied: the server refused {command!r} on database {database!r} "
        f"({redact_text(message, ctx.plan.source.uri, ctx.plan.target.uri)}); the user needs "
        f"{role}. A run needs `read` on the source database, `readWrite` on the target "
        f"database and on {TOOL_DATABASE!r}"
    )


