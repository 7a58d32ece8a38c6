"""After-cutover hooks: shell commands with a timeout, their output captured for the report."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass


@dataclass
class HookResult:
    command: str
    exit_code: int | None  # None = timed out
    seconds: float
    output: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


def run_hook(command: str, timeout_s: float, *, max_output: int = 20_000) -> HookResult:
    """A failing hook is reported, not fatal: production has already been cut over by then."""
    started = time.monotonic()
    try:
        done = subprocess.run(
            command,
            shell=True,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        code: int | None = done.returncode
        output = (done.stdout or "") + (done.stderr or "")
    except subprocess.TimeoutExpired as exc:
        code = None
        output = _text(exc.stdout) + _text(exc.stderr) + f"\n[timed out after {timeout_s:g}s]"
    return HookResult(command, code, round(time.monotonic() - started, 3), output[-max_output:])


def _text(value: bytes | str | None) -> str:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return value or ""
