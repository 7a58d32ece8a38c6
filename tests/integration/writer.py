"""An application writing to production while the tests work: a thread that inserts, updates and
deletes documents of one collection at a steady rate, and remembers exactly what it did."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from pymongo import MongoClient
from pymongo.errors import PyMongoError


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
