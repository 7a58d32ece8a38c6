"""Benchmark `mongo-promote run` against the seed's procedure, a naive copy and the servers' limit.

    .venv/bin/python bench/run.py --engines ferretdb,documentdb --scales 1,10,100
    .venv/bin/python bench/run.py --dataset plain --docs 40000,200000,800000
    .venv/bin/python bench/run.py --smoke          (scale 1, one repeat, FerretDB v1, seconds)

Starts its own pair of servers per engine (127.0.0.1, free ports, telemetry off; stopped at the
end, also on failure), seeds the data at each size (the Meeshy demo data at each scale, or the
plain-copy case's generic documents at each document count; production kept pristine in a
side database), and runs every contender `--repeats` times, each on a freshly reset target and
in its own process (bench/contenders.py). Writes bench/results/<stamp>.json, PNG charts into
bench/results/<stamp>/, and the generated section of BENCHMARKS.md (not with --smoke or
--no-markdown).
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
sys.path.insert(0, str(BENCH))

import plain  # noqa: E402  (bench/ is not a package)

DB, PRISTINE = "meeshy", "bench_pristine"
RAW = CodecOptions(document_class=RawBSONDocument)
CONTENDERS = ("ours", "tools", "naive", "read", "write", "embed", "rollback")
DEFAULT_CONTENDERS = ("ours", "tools", "naive", "read", "write", "embed")
# what applies to the plain-copy case (naive and embed are about the Meeshy translations)
PLAIN_CONTENDERS = ("ours", "tools", "read", "write", "rollback")


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
    p.add_argument(
        "--dataset", default="meeshy",
        help="meeshy (the demo data, at --scales), plain (generic documents, no transform, at "
        "--docs), or both: meeshy,plain",
    )  # fmt: skip
    p.add_argument(
        "--docs", default="40000,200000,800000",
        help="plain dataset: comma-separated source document counts",
    )  # fmt: skip
    p.add_argument(
        "--contenders", default=None,
        help=f"which to run (known: {', '.join(CONTENDERS)}); default: "
        f"{','.join(DEFAULT_CONTENDERS)} on meeshy, ours,tools on plain",
    )  # fmt: skip
    p.add_argument(
        "--writer", type=float, default=0.0, metavar="OPS_PER_S",
        help="a writer on production during `ours` and `rollback` (bench/writer.py), at this "
        "rate (e.g. 50); without a freeze the drift guard stops such a run (recorded)",
    )  # fmt: skip
    p.add_argument(
        "--allow-target-drift",
        action="store_true",
        help="`ours`/`rollback` run with allow_target_drift (the writer's writes are replaced)",
    )
    p.add_argument(
        "--freeze", action="store_true",
        help="`ours`/`rollback` with the plan's freeze as the writer's handshake (issue 17: "
        "refused until the plan has `freeze`)",
    )  # fmt: skip
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
        args.dataset, args.no_markdown = "meeshy", True
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


class Meeshy:
    """The Meeshy demo data at each --scales: staging in `meeshy`, production in a side database."""

    name, section, db, pristine = "meeshy", "scales", DB, PRISTINE
    default = DEFAULT_CONTENDERS
    applies = CONTENDERS

    @staticmethod
    def sizes(args: argparse.Namespace) -> list[str]:
        return [f"{float(s):g}" for s in args.scales.split(",") if s]

    @staticmethod
    def seed(src: LocalServer, tgt: LocalServer, size: str) -> dict[str, Any]:
        """Staging in `meeshy`; production in a side database, copied into `meeshy` before each run."""
        t0 = time.perf_counter()
        from mongo_promote.demo.generator import generate

        # 1 MB batches: FerretDB v2.7 refuses inserts of more than 25,000 documents, which the
        # generator's 4 MB batches of small documents exceed at scale 100 (api.seed fails there).
        with MongoClient(src.uri) as s, MongoClient(tgt.uri) as t:
            manifest = generate(s[DB], t[PRISTINE], seed=42, scale=float(size), batch_bytes=1 << 20)
        return {
            "seed_s": round(time.perf_counter() - t0, 2),
            "source_docs": sum(manifest["source"]["collections"].values()),
            "target_docs": sum(manifest["target"]["collections"].values()),
            "source_bytes": _data_size(src.uri, DB),
            "production": sorted(manifest["target"]["collections"]),
        }

    @staticmethod
    def facts(src_uri: str, tgt_uri: str, engine: str) -> dict[str, Any]:
        """What the bundled plan copies, what it reads besides (embed children), its indexes."""
        from mongo_promote.domain.analysis import analyse
        from mongo_promote.domain.inventory import take_inventory
        from mongo_promote.domain.plan import load_plan

        loaded = load_plan(
            bundled_plan_path(),
            env={
                "STAGING_MONGO_URI": src_uri,
                "PROD_MONGO_URI": tgt_uri,
                "MEESHY_BACKUP_DIR": "/tmp",
            },
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
        # The seed's runbook copies every PascalCase collection, MessageTranslation included,
        # then folds the translations into Message with its mongosh loop.
        return {
            "copied": copied, "read": sorted({*copied, *children}), "indexes": indexes,
            "fold_parent": plan.embeds[0].into if plan.embeds else None,
        }  # fmt: skip


class Plain:
    """The plain-copy case (bench/plain.py) at each --docs: no transform, both sides copy alike."""

    name, section, db, pristine = "plain", "plain", plain.DB, plain.PRISTINE
    default = ("ours", "tools")
    applies = PLAIN_CONTENDERS

    @staticmethod
    def sizes(args: argparse.Namespace) -> list[str]:
        return [str(int(float(s))) for s in args.docs.split(",") if s]

    @staticmethod
    def seed(src: LocalServer, tgt: LocalServer, size: str) -> dict[str, Any]:
        t0 = time.perf_counter()
        with MongoClient(src.uri) as s, MongoClient(tgt.uri) as t:
            made = plain.generate(s[plain.DB], t[plain.PRISTINE], int(size))
        return {
            "seed_s": round(time.perf_counter() - t0, 2),
            "source_docs": sum(made["source"].values()),
            "target_docs": sum(made["target"].values()),
            "source_bytes": _data_size(src.uri, plain.DB),
            "collections": made["source"],
            "production": sorted(made["target"]),
        }

    @staticmethod
    def facts(src_uri: str, tgt_uri: str, engine: str) -> dict[str, Any]:
        names = sorted(plain.COLLECTIONS)
        # mongorestore restores the source's indexes itself, except on FerretDB v1, which
        # refuses their `ns` option: there it runs with --noIndexRestore and mongosh builds them
        indexes = plain.secondary_indexes() if engine == "ferretdb" else {}
        return {"copied": names, "read": names, "indexes": indexes, "fold_parent": None}


DATASETS: dict[str, type[Meeshy] | type[Plain]] = {"meeshy": Meeshy, "plain": Plain}


def _data_size(uri: str, db: str) -> int:
    with MongoClient(uri) as client:
        return int(client[db].command("dbStats").get("dataSize", 0))


def reset_target(tgt: LocalServer, dataset: type[Meeshy] | type[Plain]) -> None:
    """Production as seeded: drop the dataset's database and copy the pristine side database into
    it, raw, in batches, with its secondary indexes."""
    with MongoClient(tgt.uri) as client:
        client.drop_database(dataset.db)
        client.drop_database("bench_write_limit")
        client["mongo_promote"]["locks"].delete_many({})
        pristine, live = client[dataset.pristine], client[dataset.db]
        for name in pristine.list_collection_names():
            batch: list[RawBSONDocument] = []
            for doc in pristine.get_collection(name, codec_options=RAW).find({}, batch_size=5000):
                batch.append(doc)
                if len(batch) == 5000:
                    live[name].insert_many(batch, ordered=False)
                    batch = []
            if batch:
                live[name].insert_many(batch, ordered=False)
            for ix in pristine[name].list_indexes():
                if ix["name"] != "_id_":
                    options = {k: v for k, v in ix.items() if k in ("name", "unique", "sparse")}
                    live[name].create_index(list(ix["key"].items()), **options)


def drop_dataset(src: LocalServer, tgt: LocalServer, dataset: type[Meeshy] | type[Plain]) -> None:
    """A dataset's databases off both servers once its sizes are done (disk and cache for the next)."""
    for server in (src, tgt):
        with MongoClient(server.uri) as client:
            for db in (dataset.db, dataset.pristine):
                client.drop_database(db)


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


def contenders_of(args: argparse.Namespace, dataset: type[Meeshy] | type[Plain]) -> list[str]:
    """--contenders (those that apply to the dataset), or the dataset's default set."""
    if not args.contenders:
        return list(dataset.default)
    asked = [c for c in args.contenders.split(",") if c]
    skipped = [c for c in asked if c not in dataset.applies]
    if skipped:
        print(f"{dataset.name}: {', '.join(skipped)} do(es) not apply, skipped", flush=True)
    return [c for c in asked if c in dataset.applies]


def spec_of(
    args: argparse.Namespace, name: str, dataset: type[Meeshy] | type[Plain], facts: dict[str, Any]
) -> dict[str, Any]:
    """What a contender process is given, besides the servers and its scratch directory."""
    collections = {"read": facts["read"], "ours": facts["copied"], "write": facts["copied"]}
    runs_ours = name in ("ours", "rollback")
    return {
        "contender": name, "dataset": dataset.name, "database": dataset.db, "cap_s": args.cap,
        "indexes": facts["indexes"], "fold_parent": facts["fold_parent"],
        "collections": collections.get(name, facts["read"]),
        "writer": args.writer if runs_ours else 0, "freeze": args.freeze and runs_ours,
        "allow_target_drift": args.allow_target_drift and runs_ours,
    }  # fmt: skip


def bench_engine(
    args: argparse.Namespace, engine: str, datasets: list[str], out: dict[str, Any]
) -> None:
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
        for dataset in (DATASETS[d] for d in datasets):
            contenders = contenders_of(args, dataset)
            for size in dataset.sizes(args):
                data = dataset.seed(src, tgt, size)
                facts = dataset.facts(src.uri, tgt.uri, engine)
                data["dataset"] = dataset.name
                data["copied_docs"] = _count(src.uri, dataset.db, facts["copied"])
                data["read_docs"] = _count(src.uri, dataset.db, facts["read"])
                runs: dict[str, list[dict[str, Any]]] = {c: [] for c in contenders}
                entry.setdefault(dataset.section, {})[size] = {"data": data, "runs": runs}
                for r in range(repeats_at.get(float(size), args.repeats)):
                    for name in contenders:  # interleaved: a busy moment hits every contender
                        reset_target(tgt, dataset)
                        work = Path(tmp) / f"{name}-{dataset.name}-{size}-{r}"
                        work.mkdir()
                        spec = {
                            **spec_of(args, name, dataset, facts), "engine": engine,
                            "source_uri": src.uri, "target_uri": tgt.uri, "server_pids": groups,
                            "workdir": str(work), "in_production": data["production"],
                        }  # fmt: skip
                        _diagnostics(args, spec, f"{engine}-{dataset.name}-{size}")
                        t0 = time.perf_counter()
                        result = run_contender(spec)
                        result["load_1min"] = round(os.getloadavg()[0], 2)
                        runs[name].append(result)
                        shutil.rmtree(work, ignore_errors=True)
                        save(args, out)
                        print(
                            f"{engine} {dataset.name} {size} run {r + 1}: {name} "
                            f"{result.get('wall_s', result.get('fold_copy', {}).get('wall_s'))} s"
                            f"{_failed(result)} (harness {time.perf_counter() - t0:.1f} s, "
                            f"load {result['load_1min']})",
                            flush=True,
                        )
            drop_dataset(src, tgt, dataset)


def _diagnostics(args: argparse.Namespace, spec: dict[str, Any], tag: str) -> None:
    """cProfile or py-spy of `ours`, when asked."""
    if spec["contender"] != "ours":
        return
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
        spec["profile"] = str(args.profile / f"ours-{tag}.prof")
    if args.sample:
        args.sample.mkdir(parents=True, exist_ok=True)
        spec["sample"] = str(args.sample / f"ours-{tag}.txt")


def _failed(result: dict[str, Any]) -> str:
    error = result.get("error") or (result.get("run") or {}).get("error")
    if not error:
        return ""
    text = error["message"] if isinstance(error, dict) else str(error)
    return f" FAILED: {text[:160]}"


def _count(uri: str, db: str, names: list[str]) -> int:
    with MongoClient(uri) as client:
        return sum(client[db][n].estimated_document_count() for n in names)


def save(args: argparse.Namespace, out: dict[str, Any]) -> Path:
    args.results_dir.mkdir(parents=True, exist_ok=True)
    path = args.results_dir / f"{out['stamp']}.json"
    path.write_text(json.dumps(out, indent=1, default=str) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    unknown = set((args.contenders or "").split(",")) - set(CONTENDERS) - {""}
    if unknown:
        raise SystemExit(f"unknown contender(s) {sorted(unknown)}; known: {', '.join(CONTENDERS)}")
    datasets = [d for d in args.dataset.split(",") if d]
    if not datasets or set(datasets) - {"meeshy", "plain"}:
        raise SystemExit(f"--dataset: meeshy, plain or meeshy,plain (not {args.dataset!r})")
    if args.freeze and not args.writer:
        raise SystemExit("--freeze needs --writer: the freeze is the writer's handshake")
    if args.freeze:
        import contenders

        if not contenders.freeze_supported():
            raise SystemExit(contenders.NO_FREEZE)
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
        bench_engine(args, engine, datasets, out)
    out["load_at_end"] = [round(x, 2) for x in os.getloadavg()]
    path = save(args, out)
    import charts
    import report

    summary = report.summarise(out)
    if summary:
        print(report.table(summary))
    if any(e.get("plain") for e in out["engines"].values()):
        print(report.plain_table(report.summarise_plain(out)))
    if live := report.live_summary(out):
        print(report.live_table(live))
    for chart in charts.all_charts(out, path.with_suffix("")):
        print(f"chart: {chart}")
    if not args.no_markdown:
        report.write_markdown(out, summary, args.markdown, BENCH / "results", path)
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
