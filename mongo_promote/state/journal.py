"""Run bookkeeping: the journal that lets `--resume` skip finished work, and the lock that keeps runs apart."""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mongo_promote.errors import UsageError
from mongo_promote.files import open_private, private_dir
from mongo_promote.redact import redact_data


class Journal:
    """`journal.jsonl`: one line per completed unit of work, written only after the unit is verified.

    The file is private (0600 in a 0700 run directory) and every string in it is scrubbed of known
    secrets. A line torn by a crash is repaired before the next record is appended, and readers
    skip an unreadable line instead of losing every record after it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._checked = False

    @classmethod
    def create(cls, run_dir: Path, header: dict[str, Any]) -> Journal:
        private_dir(run_dir)
        journal = cls(run_dir / "journal.jsonl")
        journal.record("run_started", **header)
        return journal

    def record(self, event: str, **data: Any) -> None:
        line = json.dumps(
            redact_data({"event": event, "at": datetime.now(UTC).isoformat(), **data}), default=str
        )
        with self._lock:
            repaired = self._repair_torn_tail() if not self._checked else None
            self._checked = True
            with open_private(self.path, "a") as fh:
                if repaired is not None:
                    note = {"event": "journal_repaired", "at": datetime.now(UTC).isoformat()}
                    fh.write(json.dumps({**note, "dropped_bytes": repaired}) + "\n")
                fh.write(line + "\n")
                fh.flush()
                os.fsync(fh.fileno())

    def _repair_torn_tail(self) -> int | None:
        """A crash mid-write leaves a last line without its newline: complete it when it is a whole
        record, else cut it off (that unit of work was never recorded). Returns bytes dropped."""
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return None
        if size == 0:
            return None
        with open(self.path, "rb+") as fh:
            fh.seek(max(0, size - 1))
            if fh.read(1) == b"\n":
                return None
            start = 0  # journals are small: kilobytes
            fh.seek(start)
            tail = fh.read()
            cut = tail.rfind(b"\n") + 1
            fragment = tail[cut:]
            if _parses(fragment):
                fh.seek(0, os.SEEK_END)
                fh.write(b"\n")
                dropped = 0
            else:
                fh.truncate(start + cut)
                dropped = len(fragment)
            fh.flush()
            os.fsync(fh.fileno())
        return dropped

    def events(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        events = []
        for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue  # torn by a crash (the last line) or damaged: later records still count
            if isinstance(event, dict) and "event" in event:
                events.append(event)
        return events

    def header(self) -> dict[str, Any]:
        for event in self.events():
            if event["event"] == "run_started":
                return event
        raise UsageError(f"{self.path} has no run_started record")

    def done(self, event: str) -> dict[str, dict[str, Any]]:
        """Completed units of one kind, by collection name (or '' for whole steps)."""
        return {e.get("collection", ""): e for e in self.events() if e["event"] == event}

    def has(self, event: str) -> bool:
        return any(e["event"] == event for e in self.events())


def _parses(fragment: bytes) -> bool:
    try:
        return isinstance(json.loads(fragment), dict)
    except ValueError:
        return False


def runs_dir(base: Path) -> Path:
    return base / "runs"


def open_journal(base: Path, run_id: str) -> Journal:
    path = runs_dir(base) / run_id / "journal.jsonl"
    if not path.exists():
        raise UsageError(f"no run {run_id} under {runs_dir(base)} (nothing to resume or roll back)")
    return Journal(path)


def latest_run(base: Path, *, command: str = "run") -> str | None:
    """The newest run of `command` (run, restore, rollback) under base, by the time its journal
    began (ids sort by the second only: two runs in one second are told apart by their journal)."""
    directory = runs_dir(base)
    if not directory.is_dir():
        return None
    started = []
    for run_dir in directory.iterdir():
        events = Journal(run_dir / "journal.jsonl").events()
        if events and events[0].get("command", "run") == command:
            started.append((str(events[0].get("at", "")), run_dir.name))
    return max(started)[1] if started else None
