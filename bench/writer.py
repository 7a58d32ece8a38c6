"""An application writing to production at a steady rate, that obeys a write-freeze handshake.

    python bench/writer.py --uri URI --db meeshy --insert-into Message --update-in Conversation \
        --rate 50 --log writes.jsonl --freeze-flag /tmp/x/frozen --ack /tmp/x/frozen.ack

Each cycle of 20 writes is 12 inserts (into --insert-into), 7 updates (of documents of
--update-in, round robin over the first 1,000 `_id`s) and 1 delete (of this writer's oldest
insert), paced to --rate writes per second. Each write is one line of --log (JSON): `t` (Unix
time at its start), `op`, `coll`, `ok`, `ms` (latency), `n` (documents matched or deleted) or
`error`. A write that fails is logged and the next one keeps the pace; every server call has a
timeout.

The freeze handshake (issue 17's `freeze.start` creates the flag and waits for the
acknowledgement): before each write the writer looks for --freeze-flag; when it is there it
writes nothing more, creates --ack, logs `{"event": "frozen"}`, and waits for the flag to go;
then it removes --ack, logs `{"event": "resumed"}` and writes again (without a burst to catch
up). SIGTERM or SIGINT ends it after the write in flight; the last line is `{"event": "stopped"}`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from bson import ObjectId
from pymongo import MongoClient
from pymongo.errors import PyMongoError

CYCLE = ("insert",) * 12 + ("update",) * 7 + ("delete",)
SAMPLE_IDS = 1_000
POLL_S = 0.005
BACKLOG_S = 1.0  # writes owed when the server was slow, at most this many seconds' worth


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--uri", required=True)
    p.add_argument("--db", required=True)
    p.add_argument("--insert-into", required=True, help="collection the inserts go to")
    p.add_argument("--update-in", required=True, help="collection whose documents are updated")
    p.add_argument("--rate", type=float, default=50.0, help="writes per second (50)")
    p.add_argument("--log", type=Path, required=True, help="one JSON line per write")
    p.add_argument("--freeze-flag", type=Path, help="while this file exists, no write")
    p.add_argument("--ack", type=Path, help="created once writes have stopped for the flag")
    p.add_argument("--duration", type=float, help="seconds, then stop (default: until SIGTERM)")
    p.add_argument("--timeout-ms", type=int, default=5000, help="bound of each server call")
    return p.parse_args(argv)


class Writer:
    """The write loop; `stop` is set by a signal and checked between writes."""

    def __init__(self, args: argparse.Namespace, log: IO[str]) -> None:
        self.args = args
        self.log = log
        self.stop = False
        ms = args.timeout_ms
        self.client: MongoClient[dict[str, Any]] = MongoClient(
            args.uri, serverSelectionTimeoutMS=ms, connectTimeoutMS=ms, socketTimeoutMS=ms,
            timeoutMS=ms,
        )  # fmt: skip
        self.db = self.client[args.db]
        self.mine: deque[ObjectId] = deque()  # this writer's inserts, oldest first
        self.targets = self._sample()
        self.n = 0

    def _sample(self) -> list[Any]:
        cursor = self.db[self.args.update_in].find({}, {"_id": 1}).limit(SAMPLE_IDS)
        return [d["_id"] for d in cursor]

    def line(self, data: dict[str, Any]) -> None:
        self.log.write(json.dumps(data, default=str) + "\n")
        self.log.flush()

    def run(self) -> None:
        period = 1.0 / self.args.rate
        end = time.monotonic() + self.args.duration if self.args.duration else None
        due = time.monotonic()
        while not self.stop and (end is None or time.monotonic() < end):
            if self._frozen():
                self._hold()
                due = time.monotonic()  # steady again, no burst to catch up
                continue
            now = time.monotonic()
            if due - now > 0:
                time.sleep(min(due - now, 0.05))
                continue
            due = max(due, now - BACKLOG_S)  # slow writes: no long burst to catch up
            self.write(CYCLE[self.n % len(CYCLE)])
            self.n += 1
            due += period
        self.line({"event": "stopped", "t": time.time(), "writes": self.n})

    def _frozen(self) -> bool:
        flag = self.args.freeze_flag
        return flag is not None and flag.exists()

    def _hold(self) -> None:
        """No write while the flag is there; the acknowledgement says so."""
        ack = self.args.ack
        if ack is not None:
            tmp = ack.with_name(ack.name + ".tmp")
            tmp.write_text(f"{os.getpid()}\n")
            tmp.replace(ack)  # appears whole
        self.line({"event": "frozen", "t": time.time()})
        while self._frozen() and not self.stop:
            time.sleep(POLL_S)
        if ack is not None:
            ack.unlink(missing_ok=True)
        self.line({"event": "resumed", "t": time.time()})

    def write(self, op: str) -> None:
        if op == "delete" and not self.mine:
            op = "insert"
        if op == "update" and not self.targets:
            op = "insert"
        act: Callable[[], tuple[str, int]] = getattr(self, f"_{op}")
        t, t0 = time.time(), time.perf_counter()
        record: dict[str, Any] = {"t": round(t, 4), "op": op}
        try:
            coll, n = act()
            record.update(coll=coll, ok=True, n=n)
        except PyMongoError as exc:
            record.update(ok=False, error=f"{type(exc).__name__}: {str(exc)[:200]}")
        record["ms"] = round((time.perf_counter() - t0) * 1000, 2)
        self.line(record)

    def _insert(self) -> tuple[str, int]:
        oid = ObjectId()
        name = self.args.insert_into
        self.db[name].insert_one(
            {"_id": oid, "benchWriter": self.n, "content": f"bench writer {self.n}",
             "createdAt": datetime.now(UTC)}
        )  # fmt: skip
        self.mine.append(oid)
        return name, 1

    def _update(self) -> tuple[str, int]:
        name = self.args.update_in
        target = self.targets[self.n % len(self.targets)]
        result = self.db[name].update_one(
            {"_id": target},
            {"$set": {"benchWriterAt": datetime.now(UTC)}, "$inc": {"benchWriterN": 1}},
        )
        return name, result.matched_count

    def _delete(self) -> tuple[str, int]:
        name = self.args.insert_into
        result = self.db[name].delete_one({"_id": self.mine.popleft()})
        return name, result.deleted_count


def summarise(log: Path, start: float | None = None, end: float | None = None) -> dict[str, Any]:
    """The writes of a log (those started in [start, end] when given): counts by kind and outcome,
    the rate achieved outside frozen spans, the longest gap between two successful writes
    (a freeze included: the application's view of the outage), and the frozen spans."""
    lines = [json.loads(x) for x in log.read_text().splitlines() if x.strip()]
    inside = [
        x for x in lines if (start is None or x["t"] >= start) and (end is None or x["t"] <= end)
    ]
    writes = [x for x in inside if "op" in x]
    ok = [x["t"] for x in writes if x.get("ok")]
    by_op: dict[str, dict[str, int]] = {}
    for x in writes:
        entry = by_op.setdefault(x["op"], {"ok": 0, "failed": 0, "matched_none": 0})
        entry["ok" if x.get("ok") else "failed"] += 1
        entry["matched_none"] += int(bool(x.get("ok")) and x.get("n") == 0)
    frozen, spans = None, []
    for x in lines:
        if x.get("event") == "frozen":
            frozen = x["t"]
        elif x.get("event") == "resumed" and frozen is not None:
            spans.append({"from": frozen, "to": x["t"], "s": round(x["t"] - frozen, 4)})
            frozen = None
    gaps = [b - a for a, b in itertools.pairwise(ok)]
    first = start if start is not None else writes[0]["t"] if writes else 0.0
    last = end if end is not None else writes[-1]["t"] if writes else 0.0
    held = sum(max(0.0, min(x["to"], last) - max(x["from"], first)) for x in spans)
    span = last - first - held  # the time it was allowed to write
    return {
        "writes": len(writes),
        "achieved_rate": round(len(writes) / span, 1) if span > 0 else None,
        "failed": sum(1 for x in writes if not x.get("ok")),
        "by_op": by_op,
        "longest_gap_s": round(max(gaps), 4) if gaps else None,
        "max_latency_ms": max((x["ms"] for x in writes), default=None),
        "frozen": spans,
        "errors": sorted({x["error"] for x in writes if "error" in x})[:5],
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.rate <= 0:
        raise SystemExit("--rate must be above 0")
    with open(args.log, "a", encoding="utf-8") as log:
        writer = Writer(args, log)

        def stop(signum: int, frame: Any) -> None:
            writer.stop = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        writer.line({"event": "started", "t": time.time(), "rate": args.rate, "pid": os.getpid()})
        writer.run()
        writer.client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
