"""One benchmark contender in its own process, so its CPU, children and peak RSS are its alone.

    python bench/contenders.py '<json spec>'     (run.py calls it; the result is the last stdout line)

The spec names the contender (tools, naive, ours, embed, read, write), both URIs, the database,
the server pids (for their CPU), the collections and a scratch directory. Every figure is taken
here, around the work only (imports and connection set-up are left out of wall and CPU).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo import MongoClient

RAW = CodecOptions(document_class=RawBSONDocument)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
BATCH_BYTES = 8 * 1024 * 1024
MAX_DOCS = 10_000  # as steps/copy.py: FerretDB v2.7 refuses inserts of more than 25,000


# ---------------------------------------------------------------- clocks


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def server_cpu(pids: list[int]) -> float:
    """utime+stime of each server process; for PostgreSQL's postmaster also the CPU of the
    backends it has reaped (cutime+cstime), so connections that came and went are counted."""
    total = 0.0
    seen: set[int] = set()
    for pid in pids:
        for p in [pid, *_children(pid)]:
            if p in seen:
                continue
            seen.add(p)
            try:
                f = _stat(p)
            except OSError:
                continue
            total += int(f[11]) + int(f[12])
            if p == pid and len(pids) > 1:
                total += int(f[13]) + int(f[14])
    return total / CLOCK_TICKS


def _children(pid: int) -> list[int]:
    try:
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def client_cpu() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def vm_hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Clock:
    """Wall, client CPU (this process and its children) and server CPU of a block of work."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.pids = [p for group in spec["server_pids"] for p in group]
        self.groups = spec["server_pids"]

    def __enter__(self) -> Clock:
        self.t0, self.c0 = time.perf_counter(), client_cpu()
        self.s0 = sum(server_cpu(g) for g in self.groups)
        self.load0 = os.getloadavg()[0]
        return self

    def __exit__(self, *exc: Any) -> None:
        self.wall = time.perf_counter() - self.t0
        self.cpu = client_cpu() - self.c0
        self.server = sum(server_cpu(g) for g in self.groups) - self.s0

    def figures(self) -> dict[str, Any]:
        return {
            "wall_s": round(self.wall, 4),
            "client_cpu_s": round(self.cpu, 4),
            "server_cpu_s": round(self.server, 4),
            "load_before": round(self.load0, 2),
            "load_after": round(os.getloadavg()[0], 2),
        }


def tool(name: str) -> str:
    from mongo_promote.adapters.servers import find_tool

    found = find_tool(name)
    if found is None:
        raise SystemExit(f"{name} not found (scripts/install-tools installs it)")
    return str(found)


# ---------------------------------------------------------------- (a) the seed's procedure

LOOP = r"""
const deadline = Date.now() + %(cap_ms)d;
const total = db.MessageTranslation.countDocuments({});
let done = 0, capped = false;
const started = Date.now();
db.MessageTranslation.find({}).forEach(translation => {
  if (capped || Date.now() > deadline) { capped = true; return; }
  const messageId = translation.messageId;
  const targetLanguage = translation.targetLanguage;
  const translationData = {
    text: translation.translatedText,
    translationModel: translation.translationModel || "basic",
    confidenceScore: translation.confidenceScore,
    createdAt: translation.createdAt,
    updatedAt: translation.updatedAt
  };
  db.Message.updateOne(
    { _id: messageId },
    { $set: { [`translations.${targetLanguage}`]: translationData } }
  );
  done += 1;
});
print(JSON.stringify({done: done, total: total, capped: capped, loop_ms: Date.now() - started}));
"""


def _index_script(indexes: dict[str, list[dict[str, Any]]]) -> str:
    lines = []
    for coll, specs in indexes.items():
        for ix in specs:
            lines.append(
                f"db.getCollection({json.dumps(coll)}).createIndex("
                f"{json.dumps(ix['keys'])}, {{name: {json.dumps(ix['name'])}}});"
            )
    return "\n".join(lines)


def contender_tools(spec: dict[str, Any]) -> dict[str, Any]:
    """Backup with mongodump, then per collection `mongodump --archive | mongorestore --archive
    --drop`, then the runbook's indexes and translation loop in mongosh."""
    src, tgt, db = spec["source_uri"], spec["target_uri"], spec["database"]
    work = Path(spec["workdir"])
    extra = ["--noIndexRestore"] if spec["engine"] == "ferretdb" else []
    quiet = ["--quiet"]
    out: dict[str, Any] = {"steps": {}, "unavailable": {}}
    with Clock(spec) as total:
        with Clock(spec) as c:
            subprocess.run(
                [tool("mongodump"), f"--uri={tgt}", f"--db={db}", f"--out={work / 'backup'}",
                 "--gzip", *quiet], check=True,
            )  # fmt: skip
        out["steps"]["backup"] = c.figures()
        with Clock(spec) as c:
            for coll in spec["collections"]:
                t0 = time.perf_counter()
                dump = subprocess.Popen(
                    [tool("mongodump"), f"--uri={src}", f"--db={db}", f"--collection={coll}",
                     "--archive", *quiet], stdout=subprocess.PIPE,
                )  # fmt: skip
                subprocess.run(
                    [tool("mongorestore"), f"--uri={tgt}", "--archive", "--drop",
                     f"--nsInclude={db}.{coll}", *extra, *quiet], stdin=dump.stdout, check=True,
                )  # fmt: skip
                assert dump.stdout is not None
                dump.stdout.close()
                if dump.wait() != 0:
                    raise SystemExit(f"mongodump of {coll} failed")
                if coll in spec["in_production"]:
                    # --drop drops the live collection when the restore of it starts; it is
                    # whole again when mongorestore exits: at most this pipeline's wall time.
                    out["unavailable"][coll] = round(time.perf_counter() - t0, 4)
        out["steps"]["copy"] = c.figures()
        with Clock(spec) as c:
            subprocess.run(
                [tool("mongosh"), "--quiet", "--norc", tgt + db, "--eval",
                 _index_script(spec["indexes"])], check=True, capture_output=True,
            )  # fmt: skip
        out["steps"]["indexes"] = c.figures()
    out.update(total.figures())
    with Clock(spec) as c:
        proc = subprocess.run(
            [tool("mongosh"), "--quiet", "--norc", tgt + db, "--eval",
             LOOP % {"cap_ms": int(spec["cap_s"] * 1000)}], check=True, capture_output=True,
            text=True,
        )  # fmt: skip
    loop = json.loads(proc.stdout.strip().splitlines()[-1])
    loop_s = loop["loop_ms"] / 1000
    loop.update(c.figures())
    loop["loop_s"] = loop_s
    loop["extrapolated"] = bool(loop["capped"])
    loop["loop_s_full"] = loop_s * loop["total"] / loop["done"] if loop["done"] else None
    out["translation_loop"] = loop
    out["unavailable_total_s"] = round(sum(out["unavailable"].values()), 4)
    out["unavailable_max_s"] = max(out["unavailable"].values(), default=0.0)
    return out


# ---------------------------------------------------------------- (b) naive pymongo


def contender_naive(spec: dict[str, Any]) -> dict[str, Any]:
    """Decoded documents, insert_many per 1,000, then one update_one per translation."""
    src = MongoClient(spec["source_uri"])[spec["database"]]
    tgt = MongoClient(spec["target_uri"])[spec["database"]]
    out: dict[str, Any] = {"steps": {}}
    with Clock(spec) as total:
        with Clock(spec) as c:
            for coll in spec["collections"]:
                tgt.drop_collection(coll)
                batch: list[dict[str, Any]] = []
                for doc in src[coll].find({}):
                    batch.append(doc)
                    if len(batch) == 1000:
                        tgt[coll].insert_many(batch)
                        batch = []
                if batch:
                    tgt[coll].insert_many(batch)
        out["steps"]["copy"] = c.figures()
    out.update(total.figures())
    deadline = time.perf_counter() + spec["cap_s"]
    total_children = src["MessageTranslation"].estimated_document_count()
    done, capped = 0, False
    with Clock(spec) as c:
        for t in src["MessageTranslation"].find({}):
            if time.perf_counter() > deadline:
                capped = True
                break
            data = {
                "text": t.get("translatedText"),
                "translationModel": t.get("translationModel") or "basic",
                "confidenceScore": t.get("confidenceScore"),
                "createdAt": t.get("createdAt"),
                "updatedAt": t.get("updatedAt"),
            }
            lang = t.get("targetLanguage") or t.get("language")
            tgt["Message"].update_one(
                {"_id": t["messageId"]}, {"$set": {f"translations.{lang}": data}}
            )
            done += 1
    loop = c.figures()
    loop.update(done=done, total=total_children, capped=capped, extrapolated=capped,
                loop_s=c.wall, loop_s_full=c.wall * total_children / done if done else None)  # fmt: skip
    out["translation_loop"] = loop
    return out


# ---------------------------------------------------------------- (c) mongo-promote run


def _plan(spec: dict[str, Any]) -> Any:
    from mongo_promote.domain.plan import bundled_plan_path, load_plan

    env = {
        "STAGING_MONGO_URI": spec["source_uri"],
        "PROD_MONGO_URI": spec["target_uri"],
        "STAGING_DB": spec["database"],
        "PROD_DB": spec["database"],
        "MEESHY_BACKUP_DIR": str(Path(spec["workdir"]) / "backups"),
        "MEESHY_RESTART_GATEWAY": "true",
        "MEESHY_GATEWAY_URL": "http://127.0.0.1:9",
    }
    return load_plan(bundled_plan_path(), env=env)


def contender_ours(spec: dict[str, Any]) -> dict[str, Any]:
    """api.run with yes and no hooks; each step's time read back from the run's journal."""
    from datetime import datetime

    state = Path(spec["workdir"]) / "state"
    profile = spec.get("profile")
    with Clock(spec) as total:
        # inside the clock: a user's `mongo-promote run` pays for loading the tool (about 0.7 s
        # of imports), as the Database Tools' times include their processes' start
        from mongo_promote import api
        from mongo_promote.console import Output

        loaded = _plan(spec)
        if profile:
            import cProfile

            prof = cProfile.Profile()
            outcome = prof.runcall(api.run, loaded, Output(quiet=True),
                                   api.RunOptions(yes=True, run_hooks=False, state_dir=state, health_gate="off"))  # fmt: skip
            prof.dump_stats(profile)
        else:
            outcome = api.run(
                loaded, Output(quiet=True),
                api.RunOptions(yes=True, run_hooks=False, state_dir=state, health_gate="off"),
            )  # fmt: skip
    out: dict[str, Any] = total.figures()
    out["status"] = outcome.status
    report = json.loads(Path(outcome.report).read_text())
    journal = Path(outcome.report).with_name("journal.jsonl")
    started: dict[str, tuple[str, datetime]] = {}
    steps: dict[str, float] = {}
    for line in journal.read_text().splitlines():
        event = json.loads(line)
        at = datetime.fromisoformat(event["at"])
        if event["event"] == "action_started":
            started[event["key"]] = (str(event.get("step")), at)
        elif event["event"] == "action_finished" and event["key"] in started:
            _step, t0 = started.pop(event["key"])
            name = event["key"].split(":", 1)[0]
            steps[name] = steps.get(name, 0.0) + (at - t0).total_seconds()
    out["steps"] = {k: round(v, 4) for k, v in steps.items()}
    windows = [c.get("window_ms") for c in report.get("cutover", [])]
    out["cutover"] = {
        "methods": sorted({c.get("method") for c in report.get("cutover", [])}),
        "window_ms_max": max((w for w in windows if w is not None), default=0.0),
        "window_ms_sum": round(sum(w for w in windows if w is not None), 3),
        "collections": len(windows),
    }
    out["validation_passed"] = (report.get("validation") or {}).get("passed")
    out["peak_rss_mb"] = round(vm_hwm_mb(), 1)
    return out


# ---------------------------------------------------------------- embed alone


def contender_embed(spec: dict[str, Any]) -> dict[str, Any]:
    """copy_collection(Message) under the plan (fold on the way) against a plain copy of it."""
    from mongo_promote.console import Output
    from mongo_promote.domain.analysis import analyse
    from mongo_promote.domain.inventory import take_inventory
    from mongo_promote.state.context import open_context
    from mongo_promote.steps.copy import copy_collection

    loaded = _plan(spec)
    with open_context(loaded, Output(quiet=True), state_dir=Path(spec["workdir"])) as ctx:
        actions = analyse(ctx.plan, take_inventory(ctx.plan, ctx.source_db, ctx.target_db))
        message = next(a for a in actions.collections if a.name == "Message")
        with Clock(spec) as fold:
            copy_collection(ctx, message)
        ctx.target_db.drop_collection(ctx.shadow_name("Message"))
        with Clock(spec) as plain:
            _plain_copy(ctx, "Message")
        ctx.target_db.drop_collection("bench_plain_Message")
    return {
        "fold_copy": fold.figures(),
        "plain_copy": plain.figures(),
        "fold_cost_s": round(fold.wall - plain.wall, 4),
    }


def _plain_copy(ctx: Any, name: str) -> None:
    src = ctx.source_db.get_collection(name, codec_options=RAW)
    dst = ctx.target_db["bench_plain_" + name]
    dst.drop()
    _raw_copy(src, dst)


def _raw_copy(src: Any, dst: Any) -> int:
    batch: list[RawBSONDocument] = []
    size = n = 0
    for doc in src.find({}, batch_size=10_000):
        batch.append(doc)
        size += len(doc.raw)
        if size >= BATCH_BYTES or len(batch) >= MAX_DOCS:
            dst.insert_many(batch, ordered=False)
            n += len(batch)
            batch, size = [], 0
    if batch:
        dst.insert_many(batch, ordered=False)
        n += len(batch)
    return n


# ---------------------------------------------------------------- (d) the servers' limit


def _each(spec: dict[str, Any], work: Callable[[str], Any]) -> list[Any]:
    with ThreadPoolExecutor(max_workers=spec.get("workers", 4)) as pool:
        return list(pool.map(work, spec["collections"]))


def contender_read(spec: dict[str, Any]) -> dict[str, Any]:
    """Every source document read as raw BSON and dropped: the source's read limit."""
    src = MongoClient(spec["source_uri"])[spec["database"]]
    lock = threading.Lock()
    totals = {"docs": 0, "bytes": 0}

    def read(coll: str) -> None:
        docs = size = 0
        for doc in src.get_collection(coll, codec_options=RAW).find({}, batch_size=10_000):
            docs += 1
            size += len(doc.raw)
        with lock:
            totals["docs"] += docs
            totals["bytes"] += size

    with Clock(spec) as c:
        _each(spec, read)
    return {**c.figures(), **totals}


def contender_write(spec: dict[str, Any]) -> dict[str, Any]:
    """Every source document, read beforehand into memory, inserted raw into scratch collections
    of the target (batches of 8 MB, 4 at once): the target's write limit."""
    src = MongoClient(spec["source_uri"])[spec["database"]]
    tgt = MongoClient(spec["target_uri"])["bench_write_limit"]
    batches: dict[str, list[list[RawBSONDocument]]] = {}
    for coll in spec["collections"]:
        group: list[list[RawBSONDocument]] = [[]]
        size = 0
        for doc in src.get_collection(coll, codec_options=RAW).find({}, batch_size=10_000):
            group[-1].append(doc)
            size += len(doc.raw)
            if size >= BATCH_BYTES or len(group[-1]) >= MAX_DOCS:
                group.append([])
                size = 0
        batches[coll] = [b for b in group if b]
        tgt.drop_collection(coll)

    def write(coll: str) -> None:
        for batch in batches[coll]:
            tgt[coll].insert_many(batch, ordered=False)

    with Clock(spec) as c:
        _each(spec, write)
    tgt.client.drop_database("bench_write_limit")
    return {**c.figures(), "docs": sum(len(b) for g in batches.values() for b in g)}


CONTENDERS = {
    "tools": contender_tools,
    "naive": contender_naive,
    "ours": contender_ours,
    "embed": contender_embed,
    "read": contender_read,
    "write": contender_write,
}


def main() -> int:
    spec = json.loads(sys.argv[1])
    result = CONTENDERS[spec["contender"]](spec)
    result.setdefault("peak_rss_mb", round(vm_hwm_mb(), 1))
    print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
