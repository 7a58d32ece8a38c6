"""A writer on production for the tests of a promotion that runs while the application writes
(issue 17): the demo's `HandshakeWriter` (a thread that obeys the freeze's flag-file handshake and
logs every write), the plan section that freezes it, and the checks a test makes of its log
against a run's report. Shared by the freeze, rollback and health-gate tests. And `Writer`
(`writing`): a thread that inserts, updates and deletes documents of one collection at a steady
rate without any freeze, and remembers exactly what it did."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pymongo import MongoClient
from pymongo.errors import PyMongoError

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
    "Writer",
    "Writes",
    "after_backup",
    "freeze_yaml",
    "handshake_commands",
    "moment",
    "writes_inside",
    "writing",
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



@dataclass
class Writes:
    """What the writer did, by `_id`: documents it inserted, changed (of those it found there)
    and deleted (of those it found there); errors it met (a name missing for a moment...)."""

    inserted: list[Any] = field(default_factory=list)
    updated: list[Any] = field(default_factory=list)
    deleted: list[Any] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def operations(self) -> int:
        return len(self.inserted) + len(self.updated) + len(self.deleted)


def plain_document(_id: str, step: int) -> dict[str, Any]:
    return {"_id": _id, "written_by": "application", "step": step}


class Writer(threading.Thread):
    """Cycles insert, update, delete on `collection` of `database` at `rate` operations a second,
    through its own client, until stopped. Updates and deletes take the existing documents given
    (`existing`: their `_id`s), oldest first, each at most once; inserts are `document(_id, step)`
    (fit it to the collection's unique indexes)."""

    def __init__(
        self,
        uri: str,
        database: str,
        collection: str,
        *,
        existing: list[Any],
        rate: float = 100.0,
        tag: str = "w",
        document: Callable[[str, int], dict[str, Any]] = plain_document,
    ) -> None:
        super().__init__(daemon=True, name=f"writer-{collection}")
        self.client: MongoClient[Any] = MongoClient(uri, serverSelectionTimeoutMS=5000)
        self.coll = self.client[database][collection]
        self.pool = list(existing)
        self.interval = 1.0 / rate
        self.tag = tag
        self.document = document
        self.writes = Writes()
        self.stopped = threading.Event()

    def run(self) -> None:
        step = 0
        next_at = time.monotonic()
        while not self.stopped.is_set():
            try:
                self._one(step)
            except PyMongoError as exc:
                self.writes.errors.append(f"{type(exc).__name__}: {exc}")
            step += 1
            next_at += self.interval
            self.stopped.wait(max(0.0, next_at - time.monotonic()))

    def _one(self, step: int) -> None:
        kind = step % 3
        if kind == 0 or not self.pool:
            _id = f"{self.tag}-{step}"
            self.coll.insert_one(self.document(_id, step))
            self.writes.inserted.append(_id)
        elif kind == 1:
            _id = self.pool.pop(0)
            if self.coll.update_one({"_id": _id}, {"$set": {"touched": step}}).matched_count:
                self.writes.updated.append(_id)
        else:
            _id = self.pool.pop(0)
            if self.coll.delete_one({"_id": _id}).deleted_count:
                self.writes.deleted.append(_id)

    def stop(self) -> Writes:
        self.stopped.set()
        self.join(timeout=30)
        self.client.close()
        return self.writes


@contextmanager
def writing(
    uri: str,
    database: str,
    collection: str,
    *,
    existing: list[Any],
    rate: float = 100.0,
    document: Callable[[str, int], dict[str, Any]] = plain_document,
) -> Iterator[Writer]:
    """A Writer running for the block's duration; `writer.writes` after it is what it did."""
    writer = Writer(uri, database, collection, existing=existing, rate=rate, document=document)
    writer.start()
    try:
        yield writer
    finally:
        writer.stop()
