"""--network-timeout: how long every command that talks to a server waits for one answer."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from mongo_promote.errors import UsageError

NetworkTimeoutOpt = Annotated[
    str | None,
    typer.Option(
        "--network-timeout",
        metavar="DURATION",
        help="Longest wait for a server's answer to one request (e.g. 30s, 5m): a connection "
        "that stays open and answers nothing ends the command there, exit 3. Default 2m, or the "
        "plan's network_timeout; a URI's own socketTimeoutMS or timeoutMS is honoured for its "
        "server. Index builds, counting scans and sorted reads get a longer bound from the "
        "collection's size (the dry-run lists them; the plan's long_operation_timeout sets it).",
    ),
]


def network_timeout(text: str | None) -> timedelta | None:
    """--network-timeout's DURATION, or a usage error (exit 2) saying how to write one."""
    if text is None:
        return None
    from mongo_promote.domain.plan import parse_duration  # pydantic: only when given

    try:
        value = parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"--network-timeout: {exc}") from None
    if value <= timedelta(0):
        raise UsageError(f"--network-timeout must be a positive duration, not {text!r}")
    return value
