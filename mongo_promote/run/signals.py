"""Ctrl-C and SIGTERM during a run: a clean stop between batches, deferred while the cutover renames."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mongo_promote.state.context import RunContext

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def signals_cancel(ctx: RunContext) -> Iterator[None]:
    """Ctrl-C or SIGTERM sets the cancel flag (workers stop between batches), then interrupts."""

    def handler(signum: int, _frame: Any) -> None:
        ctx.cancel.set()
        raise KeyboardInterrupt

    with _handling(handler):
        yield


@contextmanager
def signals_deferred(ctx: RunContext, received: list[int]) -> Iterator[None]:
    """During cutover Ctrl-C or SIGTERM waits for the renames to finish: half a cutover helps nobody."""

    def handler(signum: int, _frame: Any) -> None:
        received.append(signum)
        ctx.out.warn("cutover in progress: finishing the renames before stopping")

    with _handling(handler):
        yield


@contextmanager
def _handling(handler: Any) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach the main thread only: an embedding application keeps its own
        return
    previous = {s: signal.getsignal(s) for s in _SIGNALS}
    for s in _SIGNALS:
        signal.signal(s, handler)
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)


