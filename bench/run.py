"""Benchmark `mongo-promote run` against the seed's procedure, a naive copy and the servers' limit.

    .venv/bin/python bench/run.py --engines ferretdb,documentdb --scales 1,10,100
    .venv/bin/python bench/run.py --smoke          (scale 1, one repeat, FerretDB v1, seconds)

Starts its own pair of servers per engine (127.0.0.1, free ports, telemetry off; stopped at the
end, also on failure), seeds the Meeshy demo data at each scale (production kept pristine in a
side database), and runs every contender `--repeats` times, each on a freshly reset target and
in its own process (bench/contenders.py). Writes bench/results/<stamp>.json, PNG charts, and
the generated section of BENCHMARKS.md (not with --smoke).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo import MongoClient

from mongo_promote.adapters.servers import LocalServer, find_tool, temporary_pair
from mongo_promote.domain.plan import bundled_plan_path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
DB, PRISTINE = "meeshy", "bench_pristine"
RAW = CodecOptions(document_class=RawBSONDocument)
CONTENDERS = ("ours", "tools", "naive", "read", "write", "embed")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--engines", default="ferretdb,documentdb", help="comma-separated engines")
    p.add_argument("--scales", default="1,10,100", help="comma-separated dataset scales")
    p.add_argument("--repeats", type=int, default=3, help="runs of each contender per scale")
    p.add_argument(
        "--repeats-at",
        default="",
        help="per-scale override, e.g. 100=1 (scale 100 once)",
    )
    p.add_argument("--contenders", default=",".join(CONTENDERS), help="which to run")
    p.add_argument(
        "--cap", type=float, default=30.0,
        help="seconds after which a translation loop (mongosh, naive) stops; the rest is extrapolated",
    )  # fmt: skip
    p.add_argument("--smoke", action="store_true", help="scale 1, one repeat, one engine, no md")
    p.add_argument("--results-dir", type=Path, default=BENCH / "results")
    p.add_argument("--markdown", type=Path, default=ROOT / "BENCHMARKS.md")
    p.add_argument("--no-markdown", action="store_true")
    p.add_argument("--profile", type=Path, help="cProfile the last `ours` run into this directory")
    p.add_argument(
        "--sample", type=Path,
        help="py-spy (installed apart: pip install py-spy) samples every thread of the last `ours` "
        "run into this directory, as collapsed stacks",
    )  # fmt: skip
    args = p.parse_args(argv)
    if args.smoke:
        args.engines, args.scales, args.repeats, args.cap = "ferretdb", "1", 1, 2.0
        args.no_markdown = True
    return args


# ---------------------------------------------------------------- setup


def machine() -> dict[str, Any]:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")), platform.processor(),
    )  # fmt: skip
    mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
    commit = os.environ.get("BENCH_COMMIT") or subprocess.run(
        ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
        capture_output=True, text=True, check=False,
    ).stdout.strip()  # fmt: skip

    def version(tool: str) -> str | None:
        found = find_tool(tool)
        if found is None:
            return None
        out = subprocess.run([str(found), "--version"], capture_output=True, text=True, check=False)
        return (out.stdout or out.stderr).strip().splitlines()[0]

    import pymongo

    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "memory_gb": round(int(mem) / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "pymongo": pymongo.version,
        "commit": commit,
        "mongodump": version("mongodump"),
        "mongorestore": version("mongorestore"),
        "mongosh": version("mongosh"),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def server_version(server: LocalServer) -> str:
    with MongoClient(server.uri) as client:
        info = client.admin.command("buildInfo")
        hello = client.admin.command("hello")
    ferret = info.get("ferretdbVersion") or (info.get("ferretdb") or {}).get("version")
    return (
        f"{server.kind}: wire {info.get('version')}"
        + (f", FerretDB {ferret}" if ferret else "")
        + f", compression {hello.get('compression', [])}"
    )


def server_groups(src: LocalServer, tgt: LocalServer) -> list[list[int]]:
    """Per server: the wire process, and PostgreSQL's postmaster when there is one."""
    return [s.pids()[:2] for s in (src, tgt)]


def plan_facts(src_uri: str, tgt_uri: str) -> dict[str, Any]:
    """What the bundled plan copies, what it reads besides (embed children), its indexes."""
    from mongo_promote.domain.analysis import analyse
    from mongo_promote.domain.inventory import take_inventory
    from mongo_promote.domain.plan import load_plan

    loaded = load_plan(
        bundled_plan_path(),
        env={"STAGING_MONGO_URI": src_uri, "PROD_MONGO_URI": tgt_uri, "MEESHY_BACKUP_DIR": "/tmp"},
    )
    plan = loaded.plan
    with MongoClient(src_uri) as client:
        names = client[DB].list_collection_names()
        actions = analyse(plan, take_inventory(plan, client[DB], client[DB]))
    copied = sorted(a.name for a in actions.collections)
    children = [e.source for e in plan.embeds if e.source in names]
    indexes = {
        coll: [{"keys": ix.keys, "name": ix.name} for ix in specs]
        for coll, specs in plan.indexes.items()
    }
    # The seed's runbook copies every PascalCase collection, MessageTranslation included.
    return {"copied": copied, "read": sorted({*copied, *children}), "indexes": indexes}


def seed(src: LocalServer, tgt: LocalServer, scale: float) -> dict[str, Any]:
    """Staging in `meeshy`; production in a side database, copied into `meeshy` before each run."""
    t0 = time.perf_counter()
    from mongo_promote.demo.generator import generate

    # 1 MB batches: FerretDB v2.7 refuses inserts of more than 25,000 documents, which the
    # generator's 4 MB batches of small documents exceed at scale 100 (api.seed fails there).
    with MongoClient(src.uri) as s, MongoClient(tgt.uri) as t:
        manifest = generate(s[DB], t[PRISTINE], seed=42, scale=scale, batch_bytes=1 << 20)
    with MongoClient(src.uri) as client:
        stats = client[DB].command("dbStats")
    return {
        "seed_s": round(time.perf_counter() - t0, 2),
        "source_docs": sum(manifest["source"]["collections"].values()),
        "target_docs": sum(manifest["target"]["collections"].values()),
        "source_bytes": int(stats.get("dataSize", 0)),
        "production": sorted(manifest["target"]["collections"]),
    }


def reset_target(tgt: LocalServer) -> None:
    """Production as seeded: drop `meeshy` and copy the pristine side database into it, raw."""
    with MongoClient(tgt.uri) as client:
        client.drop_database(DB)
        client.drop_database("bench_write_limit")
        client["mongo_promote"]["locks"].delete_many({})
        for name in client[PRISTINE].list_collection_names():
            docs = list(client[PRISTINE].get_collection(name, codec_options=RAW).find({}))
            for i in range(0, len(docs), 5000):
                client[DB][name].insert_many(docs[i : i + 5000], ordered=False)


def run_contender(spec: dict[str, Any]) -> dict[str, Any]:
    command = [sys.executable, str(BENCH / "contenders.py"), json.dumps(spec)]
    if spec.get("sample"):  # py-spy samples every thread (cProfile sees only the main one)
        command = [
            str(Path(sys.executable).with_name("py-spy")), "record", "--rate", "100",
            "--format", "raw", "--output", spec["sample"], "--", *command,
        ]  # fmt: skip
    proc = subprocess.run(
        command,
        capture_output=True, text=True, check=False, cwd=ROOT,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"contender {spec['contender']} failed:\n{proc.stderr[-3000:]}")
    return json.loads([x for x in proc.stdout.splitlines() if x.startswith("{")][-1])


# ---------------------------------------------------------------- the session


def bench_engine(args: argparse.Namespace, engine: str, out: dict[str, Any]) -> None:
    scales = [float(s) for s in args.scales.split(",")]
    contenders = [c for c in args.contenders.split(",") if c]
    repeats_at = {
        float(k): int(v) for k, v in (x.split("=") for x in args.repeats_at.split(",") if x)
    }
    with (
        tempfile.TemporaryDirectory(prefix="mp-bench-") as tmp,
        temporary_pair(Path(tmp) / "servers", engine) as (src, tgt),
    ):
        entry = out["engines"].setdefault(engine, {"scales": {}})
        entry["servers"] = [server_version(src), server_version(tgt)]
        groups = server_groups(src, tgt)
        for scale in scales:
            data = seed(src, tgt, scale)
            facts = plan_facts(src.uri, tgt.uri)
            data["copied_docs"] = _count(src.uri, facts["copied"])
            data["read_docs"] = _count(src.uri, facts["read"])
            runs: dict[str, list[dict[str, Any]]] = {c: [] for c in contenders}
            entry["scales"][f"{scale:g}"] = {"data": data, "runs": runs}
            for r in range(repeats_at.get(scale, args.repeats)):
                for name in contenders:  # interleaved: a busy moment hits every contender
                    reset_target(tgt)
                    work = Path(tmp) / f"{name}-{scale:g}-{r}"
                    work.mkdir()
                    spec = {
                        "contender": name, "engine": engine, "source_uri": src.uri,
                        "target_uri": tgt.uri, "database": DB, "server_pids": groups,
                        "workdir": str(work), "cap_s": args.cap, "indexes": facts["indexes"],
                        "collections": facts["read"] if name == "read" else facts["copied"]
                        if name in ("ours", "write") else facts["read"],
                        "in_production": data["production"],
                    }  # fmt: skip
                    if args.profile and name == "ours":
                        args.profile.mkdir(parents=True, exist_ok=True)
                        spec["profile"] = str(args.profile / f"ours-{engine}-{scale:g}.prof")
                    if args.sample and name == "ours":
                        args.sample.mkdir(parents=True, exist_ok=True)
                        spec["sample"] = str(args.sample / f"ours-{engine}-{scale:g}.txt")
                    t0 = time.perf_counter()
                    result = run_contender(spec)
                    result["load_1min"] = round(os.getloadavg()[0], 2)
                    runs[name].append(result)
                    shutil.rmtree(work, ignore_errors=True)
                    save(args, out)
                    print(
                        f"{engine} scale {scale:g} run {r + 1}: {name} "
                        f"{result.get('wall_s', result.get('fold_copy', {}).get('wall_s'))} s "
                        f"(harness {time.perf_counter() - t0:.1f} s, load {result['load_1min']})",
                        flush=True,
                    )


def _count(uri: str, names: list[str]) -> int:
    with MongoClient(uri) as client:
        return sum(client[DB][n].estimated_document_count() for n in names)


def save(args: argparse.Namespace, out: dict[str, Any]) -> Path:
    args.results_dir.mkdir(parents=True, exist_ok=True)
    path = args.results_dir / f"{out['stamp']}.json"
    path.write_text(json.dumps(out, indent=1, default=str) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    unknown = set(args.contenders.split(",")) - set(CONTENDERS) - {""}
    if unknown:
        raise SystemExit(f"unknown contender(s) {sorted(unknown)}; known: {', '.join(CONTENDERS)}")
    out: dict[str, Any] = {
        "stamp": datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + ("-smoke" if args.smoke else ""),
        "machine": machine(),
        "args": {k: str(v) for k, v in vars(args).items()},
        "load_at_start": [round(x, 2) for x in os.getloadavg()],
        "engines": {},
    }
    if args.smoke:
        args.results_dir = Path(tempfile.mkdtemp(prefix="mp-bench-smoke-"))
    for engine in args.engines.split(","):
        bench_engine(args, engine, out)
    out["load_at_end"] = [round(x, 2) for x in os.getloadavg()]
    path = save(args, out)
    import report

    summary = report.summarise(out)
    print(report.table(summary))
    if not args.no_markdown:
        report.write_markdown(out, summary, args.markdown, BENCH / "results", path)
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(BENCH))
    raise SystemExit(main())
