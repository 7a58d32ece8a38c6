"""Benchmark the raw-BSON copy step against `mongodump | mongorestore` on the same data (§8)."""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bson import Int64, ObjectId
from pymongo import MongoClient

from mongo_promote.conn import detect_capabilities
from mongo_promote.console import Output
from mongo_promote.context import RunContext, new_run_id
from mongo_promote.inventory import take_inventory
from mongo_promote.plan import load_plan
from mongo_promote.servers import find_tool, temporary_pair
from mongo_promote.steps.analyse import analyse
from mongo_promote.steps.copy import copy_all

DB, COLL = "bench_copy", "Payload"


@dataclass
class Measure:
    label: str
    docs: int
    wall: float
    cpu: float  # client-side CPU seconds (our process, or the peer tools as children)

    def row(self) -> str:
        rate = self.docs / self.wall if self.wall else 0.0
        per_doc = self.cpu / self.docs * 1e6 if self.docs else 0.0
        return (
            f"{self.label:<28} {self.wall:8.2f} s {rate:12,.0f} docs/s {per_doc:10.1f} µs CPU/doc"
        )


@contextmanager
def server_uris(args: argparse.Namespace) -> Iterator[tuple[str, str]]:
    """The URIs given, else a throw-away local pair (FerretDB or mongod)."""
    if args.source_uri and args.target_uri:
        yield args.source_uri, args.target_uri
        return
    with tempfile.TemporaryDirectory() as tmp, temporary_pair(Path(tmp)) as (src, tgt):
        yield src.uri, tgt.uri


def seed(client: MongoClient[Any], docs: int, doc_bytes: int) -> None:
    """Fill the source once; reruns against the same server reuse the data."""
    coll = client[DB][COLL]
    if coll.estimated_document_count() == docs:
        return
    coll.drop()
    pad = "x" * max(0, doc_bytes - 120)
    for start in range(0, docs, 5000):
        batch = [
            {"_id": ObjectId(), "n": i, "big": Int64(i * 7919), "f": i / 3, "tags": ["a", "b"],
             "nested": {"k": i % 13, "s": f"user-{i}"}, "pad": pad}
            for i in range(start, min(docs, start + 5000))
        ]  # fmt: skip
        coll.insert_many(batch, ordered=False)


def run_ours(src: str, tgt: str, workers: int) -> Measure:
    with tempfile.TemporaryDirectory() as tmp:
        plan = Path(tmp) / "promote.yaml"
        plan.write_text(
            f'version: 1\nsource: {{uri: "{src}", database: {DB}}}\n'
            f'target: {{uri: "{tgt}", database: {DB}}}\n'
        )
        source: MongoClient[Any] = MongoClient(src)
        target: MongoClient[Any] = MongoClient(tgt)
        ctx = RunContext(
            loaded=load_plan(plan, env={}),
            run_id=new_run_id(),
            source_client=source,
            target_client=target,
            source_caps=detect_capabilities(source),
            target_caps=detect_capabilities(target),
            out=Output(quiet=True),
            run_dir=Path(tmp),
            workers=workers,
        )
        actions = analyse(ctx.plan, take_inventory(ctx.plan, ctx.source_db, ctx.target_db))
        wall, cpu = time.perf_counter(), time.process_time()
        results = copy_all(ctx, actions.collections)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        target.drop_database(DB)
        return Measure("mongo-promote copy", sum(r.count for r in results), wall, cpu)


def run_peer(src: str, tgt: str, docs: int) -> Measure | None:
    """The seed's procedure: mongodump piped into mongorestore, CPU counted from both children."""
    dump, restore = find_tool("mongodump"), find_tool("mongorestore")
    if not (dump and restore):
        print("mongodump/mongorestore not found: peer comparison skipped", file=sys.stderr)
        return None
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    dumper = subprocess.Popen(
        [str(dump), f"--uri={src}", f"--db={DB}", f"--collection={COLL}", "--archive", "--quiet"],
        stdout=subprocess.PIPE,
    )
    subprocess.run(
        [str(restore), f"--uri={tgt}", "--archive", "--quiet", "--drop",
         f"--nsFrom={DB}.{COLL}", f"--nsTo={DB}_peer.{COLL}"],
        stdin=dumper.stdout, check=True,
    )  # fmt: skip
    dumper.wait()
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    MongoClient(tgt).drop_database(f"{DB}_peer")
    return Measure("mongodump | mongorestore", docs, wall, cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=int, default=20_000)
    parser.add_argument("--doc-bytes", type=int, default=500)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--source-uri", default=os.environ.get("MONGO_PROMOTE_BENCH_SOURCE_URI"))
    parser.add_argument("--target-uri", default=os.environ.get("MONGO_PROMOTE_BENCH_TARGET_URI"))
    args = parser.parse_args()
    with server_uris(args) as (src, tgt):
        seed(MongoClient(src), args.docs, args.doc_bytes)
        ours = run_ours(src, tgt, args.workers)
        peer = run_peer(src, tgt, args.docs)
    print(ours.row())
    if peer:
        print(peer.row())
        print(f"speed ratio (ours/peer): {peer.wall / ours.wall:.2f}x; "
              f"CPU per doc ratio (ours/peer): {ours.cpu / max(peer.cpu, 1e-9):.2f}")  # fmt: skip
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {rss_mb:.0f} MB")


if __name__ == "__main__":
    main()
