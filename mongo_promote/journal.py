"""Run bookkeeping: the journal that lets `--resume` skip finished work, and the lock that keeps runs apart."""

from __future__ import annotations

import json
import os
import socket
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pymongo import MongoClient
from pymongo.errors import DuplicateKeyError

from mongo_promote.errors import LockHeld, UsageError

TOOL_DATABASE = "mongo_promote"
LOCKS = "locks"
LEASE = timedelta(seconds=60)


class Journal:
    """`journal.jsonl`: one line per completed unit of work, written only after the unit is verified."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    @classmethod
    def create(cls, run_dir: Path, header: dict[str, Any]) -> Journal:
        run_dir.mkdir(parents=True, exist_ok=True)
        journal = cls(run_dir / "journal.jsonl")
        journal.record("run_started", **header)
        return journal

    def record(self, event: str, **data: Any) -> None:
        line = json.dumps(
            {"event": event, "at": datetime.now(UTC).isoformat(), **data}, default=str
        )
        with self._lock, open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def events(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        events = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                events.append(json.loads(line))
            except ValueError:
                break  # a line torn by a crash: everything after it is unknown
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


def runs_dir(base: Path) -> Path:
    return base / "runs"


def open_journal(base: Path, run_id: str) -> Journal:
    path = runs_dir(base) / run_id / "journal.jsonl"
    if not path.exists():
        raise UsageError(f"no run {run_id} under {runs_dir(base)} (nothing to resume or roll back)")
    return Journal(path)


def latest_run(base: Path, *, command: str = "run") -> str | None:
    """The newest run of `command` (run, restore, rollback) under base, by its time-sorted id."""
    directory = runs_dir(base)
    if not directory.is_dir():
        return None
    for run_dir in sorted(directory.iterdir(), reverse=True):
        events = Journal(run_dir / "journal.jsonl").events()
        if events and events[0].get("command", "run") == command:
            return run_dir.name
    return None


@dataclass
class LockInfo:
    run_id: str
    host: str
    pid: int | None
    acquired_at: datetime | None
    lease_expires_at: datetime

    def describe(self) -> str:
        since = f"{self.acquired_at:%Y-%m-%d %H:%M:%S} UTC" if self.acquired_at else "?"
        return (
            f"run {self.run_id} (host {self.host}, pid {self.pid}, since "
            f"{since}, lease until "
            f"{self.lease_expires_at:%H:%M:%S} UTC)"
        )


class RunLock:
    """A lease in the target's `mongo_promote.locks`: a live run renews it; an expired one can be taken."""

    def __init__(self, client: MongoClient[Any], database: str, run_id: str) -> None:
        self.coll = client[TOOL_DATABASE][LOCKS]
        self.key = database
        self.run_id = run_id
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def holder(self) -> LockInfo | None:
        doc = self.coll.find_one({"_id": self.key})
        if not doc:
            return None
        # Only run_id and the lease are essential: a lock written by hand or by another version
        # of the tool still means "held".
        acquired = doc.get("acquired_at")
        return LockInfo(
            str(doc.get("run_id", "?")),
            str(doc.get("host", "?")),
            doc.get("pid"),
            _utc(acquired) if isinstance(acquired, datetime) else None,
            _utc(doc.get("lease_expires_at") or datetime.max),
        )

    def acquire(self) -> None:
        now = datetime.now(UTC)
        doc = {
            "_id": self.key,
            "run_id": self.run_id,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "acquired_at": now,
            "lease_expires_at": now + LEASE,
        }
        try:
            self.coll.insert_one(doc)
        except DuplicateKeyError:
            self._take_over(doc, now)
        self._start_renewing()

    def _take_over(self, doc: dict[str, Any], now: datetime) -> None:
        """Only our own run (resuming) or an expired lease may be taken; compare-and-swap on the lease."""
        current = self.holder()
        if current is None:
            return self.acquire_again(doc)
        if current.run_id != self.run_id and current.lease_expires_at > now:
            raise LockHeld(
                f"another run holds the lock on database {self.key!r}: {current.describe()}"
            )
        swapped = self.coll.find_one_and_update(
            {
                "_id": self.key,
                "run_id": current.run_id,
                "lease_expires_at": current.lease_expires_at,
            },
            {"$set": {k: v for k, v in doc.items() if k != "_id"}},
        )
        if swapped is None:
            raise LockHeld(f"another run took the lock on database {self.key!r} just now")

    def acquire_again(self, doc: dict[str, Any]) -> None:
        try:
            self.coll.insert_one(doc)
        except DuplicateKeyError:
            raise LockHeld(f"another run took the lock on database {self.key!r} just now") from None

    def _start_renewing(self) -> None:
        self._thread = threading.Thread(target=self._renew_loop, name="lock-lease", daemon=True)
        self._thread.start()

    def _renew_loop(self) -> None:
        while not self._stop.wait(LEASE.total_seconds() / 3):
            try:
                self.coll.update_one(
                    {"_id": self.key, "run_id": self.run_id},
                    {"$set": {"lease_expires_at": datetime.now(UTC) + LEASE}},
                )
            except Exception:
                continue

    def release(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
        self.coll.delete_one({"_id": self.key, "run_id": self.run_id})


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
