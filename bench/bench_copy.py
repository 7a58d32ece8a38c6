"""Benchmark the raw-BSON copy step against `mongodump | mongorestore` on the same data (§8).

Two ways in:
- `bench/run.py --only copy`: copy_all over the demo's Meeshy collections at two scales, on the
  pair of servers run.py starts; throughput, client CPU per document, and the peer comparison
  when mongodump and mongorestore are installed (otherwise it says they are not);
- `python bench/bench_copy.py [--docs N --doc-bytes B]`: the original stand-alone run on one
  synthetic collection (`bench_copy.Payload`), against given URIs or a throw-away pair.
"""

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
from mongo_promote.context import RunContext, RunPaths, new_run_id
from mongo_promote.inventory import take_inventory
from mongo_promote.plan import load_plan
from mongo_promote.servers import find_tool, temporary_pair
from mongo_promote.steps.analyse import analyse
from mongo_promote.steps.copy import copy_all

DB, COLL = "bench_copy", "Payload"
# The demo plan's selection (every PascalCase collection), with no transform: a plain copy, the
# same work mongodump | mongorestore would do. MessageTranslation is copied too.
PLAIN_SELECTION = 'collections: {include: ["re:^[A-Z][A-Za-z0-9]*$"], exclude: ["MessageAttachment_backup_urls"]}\n'


@dataclass
class Measure:
    label: str
    docs: int
    wall: float
    cpu: float  # client-side CPU seconds (our process, or the peer tools as children)
    bytes: int = 0
    server_cpu: float = 0.0

    def row(self) -> str:
        rate = self.docs / self.wall if self.wall else 0.0
        per_doc = self.cpu / self.docs * 1e6 if self.docs else 0.0
        return (
            f"{self.label:<28} {self.wall:8.2f} s {rate:12,.0f} docs/s {per_doc:10.1f} µs CPU/doc"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "docs": self.docs,
            "bytes": self.bytes,
            "wall_s": self.wall,
            "docs_per_s": self.docs / self.wall if self.wall else None,
            "mb_per_s": self.bytes / 1e6 / self.wall if self.wall else None,
            "client_cpu_s": self.cpu,
            "client_cpu_us_per_doc": self.cpu / self.docs * 1e6 if self.docs else None,
            "server_cpu_s": self.server_cpu,
            "server_cpu_us_per_doc": self.server_cpu / self.docs * 1e6 if self.docs else None,
        }


# ---------------------------------------------------------------- run.py: the Meeshy dataset


def peer_tools() -> tuple[Path | None, Path | None]:
    return find_tool("mongodump"), find_tool("mongorestore")


def run(env: Any, *, scales: list[float], workers: int = 4) -> dict[str, Any]:
    """copy_all (plain, every PascalCase collection) at each scale, then the peer if installed."""
    from bench_support import actions_of, drop_all_shadows, make_ctx, seed_dataset, timed

    dump, restore = peer_tools()
    peer_missing = [n for n, p in (("mongodump", dump), ("mongorestore", restore)) if p is None]
    result: dict[str, Any] = {"workers": workers, "runs": []}
    for scale in scales:
        data = seed_dataset(env, scale)
        ctx = make_ctx(env, data["database"], PLAIN_SELECTION, workers=workers)
        actions = actions_of(ctx)
        with timed(env) as t:
            copied = copy_all(ctx, actions.collections)
        drop_all_shadows(ctx, actions)
        ours = Measure("mongo-promote copy_all", sum(r.count for r in copied), t.wall, t.cpu,
                       sum(r.bytes for r in copied), t.server_cpu)  # fmt: skip
        entry: dict[str, Any] = {
            "scale": scale,
            "database": data["database"],
            "collections": len(copied),
            "seed_seconds": data["seed_seconds"],
            "ours": ours.to_json(),
        }
        if peer_missing:
            entry["peer"] = {"available": False,
                             "why": f"{' and '.join(peer_missing)} not installed: the MongoDB "
                                    "Database Tools could not be installed on this machine"}  # fmt: skip
        else:
            assert dump and restore
            names = [a.name for a in actions.collections]
            peer = run_peer_db(env, dump, restore, data["database"], names, ours.docs)
            entry["peer"] = {"available": True, **peer.to_json()}
            entry["speed_ratio_peer_over_ours"] = peer.wall / ours.wall
            entry["cpu_per_doc_ratio_ours_over_peer"] = ours.cpu / max(peer.cpu, 1e-9)
        result["runs"].append(entry)
    return result


def run_peer_db(env: Any, dump: Path, restore: Path, database: str, names: list[str],
                docs: int) -> Measure:  # fmt: skip
    """mongodump --archive of the same collections piped into mongorestore under another name.

    Never run on the machine BENCHMARKS.md was written on (the tools are not installed there).
    """
    everything = MongoClient(env.source_uri)[database].list_collection_names()
    skip = [f"--excludeCollection={n}" for n in everything if n not in names]
    peer_db = f"{database}_peer"
    server = env.server_cpu()
    wall, cpu = pipe_dump_restore(
        [str(dump), f"--uri={env.source_uri}", f"--db={database}", *skip],
        [str(restore), f"--uri={env.target_uri}", f"--nsFrom={database}.*", f"--nsTo={peer_db}.*"],
    )
    server = env.server_cpu() - server
    MongoClient(env.target_uri).drop_database(peer_db)
    return Measure("mongodump | mongorestore", docs, wall, cpu, 0, server)


def pipe_dump_restore(dump_args: list[str], restore_args: list[str]) -> tuple[float, float]:
    """`mongodump --archive | mongorestore --archive --drop`: wall seconds and both children's CPU."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    dumper = subprocess.Popen([*dump_args, "--archive", "--quiet"], stdout=subprocess.PIPE)
    subprocess.run(
        [*restore_args, "--archive", "--quiet", "--drop"], stdin=dumper.stdout, check=True
    )
    dumper.wait()
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def rows(result: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    out: list[tuple[str, str, str, str]] = []
    for entry in result["runs"]:
        o = entry["ours"]
        out.append((f"copy_all, scale {entry['scale']:g}",
                    f"{o['docs']:,} docs, {o['bytes'] / 1e6:.1f} MB in {o['wall_s']:.2f} s: "
                    f"{o['docs_per_s']:,.0f} docs/s, {o['mb_per_s']:.2f} MB/s", "", ""))  # fmt: skip
        out.append((f"  client CPU, scale {entry['scale']:g}",
                     f"{o['client_cpu_us_per_doc']:.0f} µs/doc (servers: "
                     f"{o['server_cpu_us_per_doc']:.0f} µs/doc)", "", ""))  # fmt: skip
        peer = entry["peer"]
        if not peer["available"]:
            out.append(("  vs mongodump | mongorestore", "not measured: " + peer["why"],
                        "≥ 1x speed, ≤ 0.5x CPU/doc", "n/a"))  # fmt: skip
        else:
            speed = entry["speed_ratio_peer_over_ours"]
            cpu = entry["cpu_per_doc_ratio_ours_over_peer"]
            met = speed >= 1 and cpu <= 0.5
            out.append(("  vs mongodump | mongorestore",
                        f"{speed:.2f}x as fast, {cpu:.2f}x its CPU/doc",
                        "≥ 1x speed, ≤ 0.5x CPU/doc", "met" if met else "NOT met"))  # fmt: skip
    return out


# ---------------------------------------------------------------- stand-alone: one synthetic collection


@contextmanager
def server_uris(args: argparse.Namespace) -> Iterator[tuple[str, str]]:
    """The URIs given, else a throw-away local pair (FerretDB or mongod)."""
    if args.source_uri and args.target_uri:
        yield args.source_uri, args.target_uri
        return
    with tempfile.TemporaryDirectory() as tmp, temporary_pair(Path(tmp)) as (src, tgt):
        yield src.uri, tgt.uri


def payload_docs(start: int, stop: int, doc_bytes: int) -> list[dict[str, Any]]:
    """Documents start..stop-1 of the synthetic collection, each about doc_bytes of BSON."""
    pad = "x" * max(0, doc_bytes - 120)
    return [
        {"_id": ObjectId(), "n": i, "big": Int64(i * 7919), "f": i / 3, "tags": ["a", "b"],
         "nested": {"k": i % 13, "s": f"user-{i}"}, "pad": pad}
        for i in range(start, stop)
    ]  # fmt: skip


def grow(coll: Any, docs: int, doc_bytes: int, batch: int = 5000) -> int:
    """Append documents until the collection holds `docs`; returns how many were added."""
    have = coll.estimated_document_count()
    for start in range(have, docs, batch):
        coll.insert_many(payload_docs(start, min(docs, start + batch), doc_bytes), ordered=False)
    return max(0, docs - have)


def seed(client: MongoClient[Any], docs: int, doc_bytes: int) -> None:
    """Fill the source once; reruns against the same server reuse the data."""
    coll = client[DB][COLL]
    if coll.estimated_document_count() == docs:
        return
    coll.drop()
    grow(coll, docs, doc_bytes)


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
            paths=RunPaths.under(Path(tmp), "bench"),
            workers=workers,
        )
        actions = analyse(ctx.plan, take_inventory(ctx.plan, ctx.source_db, ctx.target_db))
        wall, cpu = time.perf_counter(), time.process_time()
        results = copy_all(ctx, actions.collections)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        target.drop_database(DB)
        return Measure("mongo-promote copy", sum(r.count for r in results), wall, cpu,
                       sum(r.bytes for r in results))  # fmt: skip


def run_peer(src: str, tgt: str, docs: int) -> Measure | None:
    """The seed's procedure: mongodump piped into mongorestore, CPU counted from both children."""
    dump, restore = peer_tools()
    if not (dump and restore):
        print("mongodump/mongorestore not found: peer comparison skipped", file=sys.stderr)
        return None
    wall, cpu = pipe_dump_restore(
        [str(dump), f"--uri={src}", f"--db={DB}", f"--collection={COLL}"],
        [str(restore), f"--uri={tgt}", f"--nsFrom={DB}.{COLL}", f"--nsTo={DB}_peer.{COLL}"],
    )
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
