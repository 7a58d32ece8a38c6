"""An application writing to production while it is promoted, for the demo and the tests: it
obeys a write freeze by a flag-file handshake (freeze.start creates the flag and waits for the
writer's acknowledgement; freeze.end removes the flag) and logs every write, so the run's
caught-up writes and its window can be checked against what it did."""

from __future__ import annotations

import itertools
import shlex
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bson import ObjectId
from pymongo.errors import PyMongoError

from mongo_promote.adapters.mongo import connect

POLL_S = 0.005
SAMPLE = 200  # existing documents sampled for the updates and for the deletes (each)


@dataclass(frozen=True)
class Targets:
    """Where the writer writes: new documents, updates of existing ones, deletes of existing ones
    (the ids it updates and those it deletes never overlap)."""

    insert_into: str
    update_in: str
    delete_from: str


@dataclass(frozen=True)
class Write:
    """One write as the writer made it (times are Unix seconds)."""

    op: str  # insert | update | delete
    collection: str
    id: Any
    started: float
    ended: float
    matched: int  # 1: the document was there (an insert: always 1)


@dataclass
class CaughtUpCounts:
    """By collection, what a run's catch-up must find: inserted, changed, deleted."""

    counts: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_json(self) -> dict[str, dict[str, int]]:
        return {c: dict(v) for c, v in sorted(self.counts.items()) if any(v.values())}


def handshake_commands(flag: Path, ack: Path, *, wait_s: float = 60.0) -> tuple[str, str]:
    """freeze.start (create the flag, wait for the acknowledgement, at most `wait_s`) and
    freeze.end (remove the flag), as shell commands."""
    polls = int(wait_s / 0.02)
    start = (
        f"touch {shlex.quote(str(flag))} && n=0 && while [ ! -e {shlex.quote(str(ack))} ]; do "
        f"n=$((n+1)); if [ $n -gt {polls} ]; then echo 'the writer did not stop' >&2; exit 1; "
        "fi; sleep 0.02; done"
    )
    return start, f"rm -f {shlex.quote(str(flag))}"


class HandshakeWriter:
    """A thread writing insert, update, insert, delete, ... every `interval_s` once `gate()` is
    true (once, then for good); while the flag exists (and `obey`), it writes nothing and the
    acknowledgement file says so. With `settle`, it acknowledges a freeze only once it has made
    that many writes since its gate opened (an application finishing its work in flight), so a
    freeze that comes right after the gate still finds every kind of write to catch up.
    `writes` is its log; `frozen` the spans it held (from, to)."""

    def __init__(
        self,
        uri: str,
        database: str,
        targets: Targets,
        *,
        flag: Path,
        ack: Path,
        interval_s: float = 0.02,
        obey: bool = True,
        gate: Callable[[], bool] | None = None,
        settle: int = 0,
    ) -> None:
        self.client = connect(uri, role="writer")
        self.db = self.client[database]
        self.targets, self.flag, self.ack = targets, flag, ack
        self.interval_s, self.obey, self.gate = interval_s, obey, gate
        self.settle = settle
        self.writes: list[Write] = []
        self.frozen: list[tuple[float, float]] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="writer", daemon=True)
        self._n = itertools.count()
        self._updates = self._sample(targets.update_in, skip=0)
        apart = SAMPLE if targets.delete_from == targets.update_in else 0
        self._deletes = self._sample(targets.delete_from, skip=apart)

    def _sample(self, name: str, *, skip: int) -> list[Any]:
        cursor = self.db[name].find({}, {"_id": 1}).sort("_id", 1).skip(skip).limit(SAMPLE)
        return [d["_id"] for d in cursor]

    def __enter__(self) -> HandshakeWriter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self.client.close()

    def writes_after(self, moment: float) -> list[Write]:
        return [w for w in self.writes if w.started >= moment]

    def writes_between(self, stopped: float, resumed: float) -> list[Write]:
        """Writes that overlap [stopped, resumed]: the time its writes were to be stopped (from
        the return of freeze.start to the launch of freeze.end)."""
        return [w for w in self.writes if w.ended > stopped and w.started < resumed]

    def wait_for_writes_after(self, moment: float, count: int, timeout_s: float = 30.0) -> None:
        """Until `count` writes started after `moment` (the freeze's end), at most `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while len(self.writes_after(moment)) < count and time.monotonic() < deadline:
            time.sleep(0.02)

    def caught_up(self, until: float) -> CaughtUpCounts:
        """What a catch-up must find of this writer's writes made before `until`, by `_id`:
        inserted (new ids), changed (existing ids updated), deleted (existing ids deleted)."""
        counts = CaughtUpCounts()
        updated: dict[str, set[Any]] = {}
        for w in self.writes:
            if w.ended > until or not w.matched:
                continue
            entry = counts.counts.setdefault(
                w.collection, {"inserted": 0, "changed": 0, "deleted": 0}
            )
            if w.op == "insert":
                entry["inserted"] += 1
            elif w.op == "delete":
                entry["deleted"] += 1
            else:
                updated.setdefault(w.collection, set()).add(w.id)
        for name, ids in updated.items():
            counts.counts[name]["changed"] += len(ids)
        return counts

    # ------------------------------------------------------------ the thread

    def _run(self) -> None:
        ops = itertools.cycle(("insert", "update", "insert", "delete"))
        while not self._stop.is_set():
            settling = self.gate is None and len(self.writes) < self.settle
            if self.obey and self.flag.exists() and not settling:
                self._hold()
            elif self.gate is not None and not self.gate():
                time.sleep(0.02)  # not writing yet (but a freeze is acknowledged)
            elif self.gate is not None:
                self.gate = None  # open: it stays so
            else:
                self._write(next(ops))
                self._stop.wait(self.interval_s)

    def _hold(self) -> None:
        """No write while the flag is there; the acknowledgement appears whole, then goes."""
        held = time.time()
        tmp = self.ack.with_name(self.ack.name + ".tmp")
        tmp.write_text("stopped\n")
        tmp.replace(self.ack)
        while self.flag.exists() and not self._stop.is_set():
            time.sleep(POLL_S)
        self.ack.unlink(missing_ok=True)
        self.frozen.append((held, time.time()))

    def _write(self, op: str) -> None:
        n = next(self._n)
        pool = self._deletes if op == "delete" else self._updates
        if op != "insert" and not pool:
            op = "insert"
        started = time.time()
        try:
            collection, _id, matched = self._do(op, n)
        except PyMongoError as exc:
            self.errors.append(f"{op}: {type(exc).__name__}")
            return
        self.writes.append(Write(op, collection, _id, started, time.time(), matched))

    def _do(self, op: str, n: int) -> tuple[str, Any, int]:
        now = datetime.now(UTC)
        if op == "insert":
            name, _id = self.targets.insert_into, ObjectId()
            self.db[name].insert_one({"_id": _id, "writer": n, "content": f"write {n}", "at": now})
            return name, _id, 1
        if op == "delete":
            name, _id = self.targets.delete_from, self._deletes.pop(0)
            return name, _id, self.db[name].delete_one({"_id": _id}).deleted_count
        name, _id = self.targets.update_in, self._updates[n % len(self._updates)]
        result = self.db[name].update_one(
            {"_id": _id}, {"$set": {"writerAt": now}, "$inc": {"writerN": 1}}
        )
        return name, _id, result.matched_count
