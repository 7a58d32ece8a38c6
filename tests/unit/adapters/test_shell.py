"""Hooks: run as written with the plan's variables in their environment, output scrubbed, killed whole on timeout."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from mongo_promote.adapters.shell import run_hook


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def test_variables_reach_the_hook_through_its_environment_and_output_is_scrubbed() -> None:
    secret = "s3cr3t-v@lue/xyz"
    command = 'printf "%s|" "${SECRET}"; echo "${MISSING:-fallback}"'
    result = run_hook(command, 10, env={**os.environ, "SECRET": secret}, secrets=[secret])
    assert result.ok and result.exit_code == 0 and not result.timed_out
    assert result.command == command  # as written, never expanded
    assert result.output == "***|fallback\n"


def test_a_failing_hook_is_reported() -> None:
    result = run_hook("echo oops >&2; exit 3", 10)
    assert not result.ok and result.exit_code == 3 and "oops" in result.output


def test_a_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    # children that ignore SIGTERM (only SIGKILL stops them) and grandchildren in the background
    command = (
        f"(trap '' TERM; sleep 300) & echo $! >> {pids}; "
        f"sh -c 'sleep 300 & echo $! >> {pids}; wait' & "
        f"sleep 300 & echo $! >> {pids}; wait"
    )
    started = time.monotonic()
    result = run_hook(command, 1.0, grace_s=1.0)
    assert result.timed_out and result.exit_code is None and not result.ok
    assert "timed out after 1s" in result.output
    assert time.monotonic() - started < 10
    children = [int(p) for p in pids.read_text().split()]
    assert len(children) == 3
    deadline = time.monotonic() + 5
    while any(_alive(p) for p in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [p for p in children if _alive(p)], "a child of the hook survived its timeout"


def test_a_hook_runs_in_its_own_session() -> None:
    result = run_hook("ps -o sid= -p $$", 10)
    assert result.ok and int(result.output.strip()) != os.getsid(0)


def test_interrupting_the_run_kills_the_hook(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.8)
    try:
        run_hook(f"sleep 300 & echo $! > {pidfile}; wait", 60, grace_s=1.0)
    except KeyboardInterrupt:
        pass
    else:
        raise AssertionError("the interrupt did not reach the caller")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    child = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)
