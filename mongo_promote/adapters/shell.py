"""Shell commands as written in the plan (hooks, runbook commands), run with a timeout that kills
their whole process group, their output captured (scrubbed of the run's secrets); process checks."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from mongo_promote.redact import redact_text

GRACE_S = 5.0  # between SIGTERM and SIGKILL


@dataclass
class HookResult:
    command: str  # as written in the plan: ${VAR}s unexpanded
    exit_code: int | None  # None = timed out (or killed)
    seconds: float
    output: str  # stdout and stderr, scrubbed of secrets
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out


def run_hook(
    command: str,
    timeout_s: float,
    *,
    env: Mapping[str, str] | None = None,
    secrets: Iterable[str] = (),
    max_output: int = 20_000,
    grace_s: float = GRACE_S,
) -> HookResult:
    """Run `sh -c command` in its own session; the plan's variables arrive in `env`, so the shell
    expands them and their values never pass through our output. On timeout (or Ctrl-C) the whole
    process group gets SIGTERM, then SIGKILL after `grace_s`: no child outlives the hook.
    A failing hook is reported in the result; what it means for the run is the caller's decision.
    """
    started = time.monotonic()
    proc = subprocess.Popen(
        ["/bin/sh", "-c", command],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=dict(env) if env is not None else None,
        start_new_session=True,
    )
    timed_out = False
    try:
        try:
            out, _ = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc, grace_s)
            try:
                out, _ = proc.communicate(timeout=grace_s)
            except subprocess.TimeoutExpired:  # a grandchild left the group and kept the pipe
                out = b""
    except BaseException:
        _kill_group(proc, grace_s)
        raise
    finally:
        if proc.stdout:
            proc.stdout.close()
    text = (out or b"").decode(errors="replace")
    if timed_out:
        text += f"\n[timed out after {timeout_s:g}s: process group terminated]"
    text = redact_text(text[-max_output:], secrets=secrets)
    return HookResult(
        command,
        None if timed_out else proc.returncode,
        round(time.monotonic() - started, 3),
        text,
        timed_out,
    )


def _kill_group(proc: subprocess.Popen[bytes], grace_s: float) -> None:
    """SIGTERM to the group, up to `grace_s` for it to go, then SIGKILL."""
    _signal_group(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if proc.poll() is not None and not _group_alive(proc.pid):
            return
        time.sleep(0.05)
    _signal_group(proc.pid, signal.SIGKILL)
    proc.wait()


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_alive(pid: int) -> bool:
    """Alive and not a zombie (exited, not yet reaped). Someone else's process counts as alive."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return True
