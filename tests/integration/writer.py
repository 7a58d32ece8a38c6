"""A writer on production for the tests of a promotion that runs while the application writes
(issue 17): the demo's `HandshakeWriter` (a thread that obeys the freeze's flag-file handshake and
logs every write), the plan section that freezes it, and the checks a test makes of its log
against a run's report. Shared by the freeze, rollback and health-gate tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from mongo_promote.demo.writer import (
    HandshakeWriter,
    Targets,
    Write,
    handshake_commands,
)

__all__ = [
    "HandshakeWriter",
    "Targets",
    "Write",
    "after_backup",
    "freeze_yaml",
    "handshake_commands",
    "moment",
    "writes_inside",
]


def freeze_yaml(flag: Path, ack: Path, *, max_window: str | None = None, wait_s: float = 60) -> str:
    """A plan's `freeze:` section whose commands are the handshake with a HandshakeWriter."""
    start, end = handshake_commands(flag, ack, wait_s=wait_s)
    lines = [
        "freeze:",
        f"  start: [{json.dumps(start)}]",
        f"  end: [{json.dumps(end)}]",
        "  timeout: 90s",
    ]
    if max_window:
        lines.append(f"  max_window: {max_window}")
    return "\n".join(lines) + "\n"


def after_backup(state_dir: Path) -> Callable[[], bool]:
    """A writer's gate: true once a run under `state_dir` journalled its backup as done (every
    write after it is one the catch-up must find)."""

    def done() -> bool:
        for journal in (state_dir / "runs").glob("*/journal.jsonl"):
            for line in journal.read_text().splitlines():
                if '"action_finished"' in line and '"key": "backup"' in line:
                    return True
        return False

    return done


def moment(iso: str) -> float:
    """A report's ISO 8601 time as Unix seconds (the writer's clock)."""
    return datetime.fromisoformat(iso).timestamp()


def writes_inside(writer: HandshakeWriter, freeze: dict[str, Any]) -> list[Write]:
    """The writer's writes that overlap the time its writes were to be stopped: from the return
    of freeze.start to the launch of freeze.end."""
    return writer.writes_between(
        moment(freeze["start_returned_at"]), moment(freeze["end_launched_at"])
    )
