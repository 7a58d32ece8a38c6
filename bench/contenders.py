"""One benchmark contender in its own process, so its CPU, children and peak RSS are its alone.

    python bench/contenders.py '<json spec>'     (run.py calls it; the result is the last stdout line)

The spec names the contender (tools, naive, ours, rollback, embed, read, write), the dataset
(meeshy or plain), both URIs, the database, the server pids (for their CPU), the collections
and a scratch directory; for `ours` and `rollback` optionally a writer on production (`writer`:
its rate), `allow_target_drift` and `freeze`. Every figure is taken here, around the work only
(imports and connection set-up are left out of wall and CPU, except `ours`'s own imports).
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
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

# The runbook's loop, one document at a time (its forEach as a cursor loop, so that the cap
# stops the reading too); the cap starts after the count and lets at least one update through.
LOOP = r"""
const total = db.MessageTranslation.countDocuments({});
const started = Date.now();
const deadline = started + %(cap_ms)d;
let done = 0, capped = false;
const cursor = db.MessageTranslation.find({});
while (cursor.hasNext()) {
  if (done > 0 && Date.now() > deadline) { capped = true; break; }
  const translation = cursor.next();
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
}
const loop_ms = Date.now() - started;
cursor.close();
print(JSON.stringify({done: done, total: total, capped: capped, loop_ms: loop_ms}));
"""


def _index_script(indexes: dict[str, list[dict[str, Any]]]) -> str:
    lines = []
    for coll, specs in indexes.items():
        for ix in specs:
            options = {k: v for k, v in ix.items() if k != "keys"}
            lines.append(
                f"db.getCollection({json.dumps(coll)}).createIndex("
                f"{json.dumps(ix['keys'])}, {json.dumps(options)});"
            )
    return "\n".join(lines)


def contender_tools(spec: dict[str, Any]) -> dict[str, Any]:
    """Backup with mongodump, then per collection `mongodump --archive | mongorestore --archive
    --drop`, then the indexes in mongosh; on the Meeshy data then the runbook's translation loop."""
    src, tgt, db = spec["source_uri"], spec["target_uri"], spec["database"]
    work = Path(spec["workdir"])
    extra = ["--noIndexRestore"] if spec["engine"] == "ferretdb" else []
    quiet = ["--quiet"]
    out: dict[str, Any] = {"steps": {}, "unavailable": {}}
    spans: dict[str, tuple[float, float]] = {}  # each pipeline, seconds from the start
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
                spans[coll] = (t0 - total.t0, time.perf_counter() - total.t0)
                if coll in spec["in_production"]:
                    # --drop drops the live collection when the restore of it starts; it is
                    # whole again when mongorestore exits: at most this pipeline's wall time.
                    out["unavailable"][coll] = round(time.perf_counter() - t0, 4)
        out["steps"]["copy"] = c.figures()
        if spec["indexes"]:
            with Clock(spec) as c:
                subprocess.run(
                    [tool("mongosh"), "--quiet", "--norc", tgt + db, "--eval",
                     _index_script(spec["indexes"])], check=True, capture_output=True,
                )  # fmt: skip
            out["steps"]["indexes"] = c.figures()
    out.update(total.figures())
    loop = _translation_loop(spec, total.t0) if spec.get("fold_parent") else None
    if loop is not None:
        out["translation_loop"] = loop
    out["unavailable_total_s"] = round(sum(out["unavailable"].values()), 4)
    out["unavailable_max_s"] = max(out["unavailable"].values(), default=0.0)
    out["outage"] = seed_outage(spans, spec["in_production"], spec.get("fold_parent"), loop)
    return out


def _translation_loop(spec: dict[str, Any], t0: float) -> dict[str, Any]:
    """The runbook's mongosh loop, capped at spec["cap_s"] and extrapolated to every child."""
    tgt, db = spec["target_uri"], spec["database"]
    started = time.perf_counter() - t0
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
    loop["loop_s_full"] = loop_s * loop["total"] / loop["done"] if loop["done"] else loop_s
    loop["started_at_s"] = round(started, 4)  # the mongosh process, from the contender's start
    loop["ended_at_s"] = round(time.perf_counter() - t0, 4)
    return loop


def seed_outage(
    spans: dict[str, tuple[float, float]],
    in_production: list[str],
    fold_parent: str | None,
    loop: dict[str, Any] | None,
) -> dict[str, Any]:
    """How long the seed's procedure leaves production wrong: the time any promoted collection was
    missing or partial under `mongorestore --drop` (from its pipeline's start to its end), and,
    when the runbook folds translations, from the drop of their parent until the mongosh loop
    has folded the last one (the loop's end, extrapolated when capped). The union of those
    spans, in seconds; `from_s`/`to_s` are measured from the procedure's start."""
    live = [(a, b) for coll, (a, b) in spans.items() if coll in in_production]
    out: dict[str, Any] = {"missing_or_partial_s": round(_union(live), 4), "extrapolated": False}
    if fold_parent and loop is not None and fold_parent in spans:
        folded = loop["ended_at_s"] + (loop["loop_s_full"] - loop["loop_s"])
        live.append((spans[fold_parent][0], folded))
        out["until_folded_s"] = round(folded - spans[fold_parent][0], 4)
        out["extrapolated"] = bool(loop["capped"])
    out["s"] = round(_union(live), 4)
    out["from_s"] = round(min((a for a, _ in live), default=0.0), 4)
    out["to_s"] = round(max((b for _, b in live), default=0.0), 4)
    return out


def _union(spans: list[tuple[float, float]]) -> float:
    total, end = 0.0, float("-inf")
    for a, b in sorted(spans):
        if b > end:
            total += b - max(a, end)
            end = b
    return total


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
            if done and time.perf_counter() > deadline:  # at least one, to extrapolate from
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

# What the writer does on each dataset's production: inserts into one collection, updates of
# another (and deletes of its own inserts): a chat's new messages and conversations touched.
WRITER_COLLECTIONS = {"meeshy": ("Message", "Conversation"), "plain": ("events", "accounts")}


def _plan(spec: dict[str, Any]) -> Any:
    from mongo_promote.domain.plan import bundled_plan_path, load_plan

    backups = str(Path(spec["workdir"]) / "backups")
    env = {"STAGING_MONGO_URI": spec["source_uri"], "PROD_MONGO_URI": spec["target_uri"]}
    if spec.get("dataset") == "plain":
        import plain

        path = plain.PLAN
        env.update(PLAIN_DB=spec["database"], BACKUP_DIR=backups)
    else:
        path = bundled_plan_path()
        env.update(
            STAGING_DB=spec["database"],
            PROD_DB=spec["database"],
            MEESHY_BACKUP_DIR=backups,
            MEESHY_RESTART_GATEWAY="true",
            MEESHY_GATEWAY_URL="http://127.0.0.1:9",
        )
    if spec.get("freeze"):
        path = freeze_plan(path, spec)
    return load_plan(path, env=env)


def freeze_plan(path: Path, spec: dict[str, Any]) -> Path:
    """A copy of the plan whose `freeze` (issue 17) is the writer's handshake: `start` creates the
    flag and returns once the writer has acknowledged it, `end` removes the flag.

    Refused, clearly, while the plan has no `freeze` key (issue 17 not built yet)."""
    if not freeze_supported():
        raise SystemExit(NO_FREEZE)
    if not spec.get("writer"):
        raise SystemExit("--freeze needs --writer: the freeze is the writer's handshake")
    from ruamel.yaml import YAML

    flag, ack = _handshake(spec)
    yaml = YAML()
    data = yaml.load(path.read_text())
    data["freeze"] = {
        "start": [{"run": f"touch '{flag}' && until [ -e '{ack}' ]; do sleep 0.01; done",
                   "timeout": "30s"}],
        "end": [f"rm -f '{flag}'"],
    }  # fmt: skip
    out = Path(spec["workdir"]) / f"frozen-{path.name}"
    with out.open("w") as fh:
        yaml.dump(data, fh)
    return out


NO_FREEZE = (
    "--freeze needs the plan's `freeze` (issue 17), which this build of mongo_promote does not "
    "have: run without --freeze (the writer alone still works)"
)


def freeze_supported() -> bool:
    """Whether this build's plan has issue 17's `freeze` (the harness checks before it starts)."""
    from mongo_promote.domain.plan import Plan

    return "freeze" in Plan.model_fields


def freeze_window(report: dict[str, Any]) -> dict[str, Any] | None:
    """The freeze as the run's report.json gives it (issue 17: `freeze.window_s`, `started_at`,
    `ended_at`, `caught_up`); None when the run had no freeze."""
    freeze = report.get("freeze")
    if not freeze:
        return None
    if "window_s" not in freeze:
        raise SystemExit(f"report.json has a `freeze` without `window_s`: {sorted(freeze)}")
    return {
        "window_s": freeze["window_s"],
        "started_at": freeze.get("started_at"),
        "ended_at": freeze.get("ended_at"),
        "caught_up": freeze.get("caught_up", {}),
    }


def _handshake(spec: dict[str, Any]) -> tuple[Path, Path]:
    work = Path(spec["workdir"])
    return work / "freeze.flag", work / "freeze.ack"


class Writer:
    """bench/writer.py in its own process on the target's production database (not counted in
    the contender's CPU: it is waited for after the figures are taken)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        insert, update = WRITER_COLLECTIONS[spec.get("dataset", "meeshy")]
        flag, ack = _handshake(spec)
        work = Path(spec["workdir"])
        self.log = work / f"writes-{len(list(work.glob('writes-*.jsonl')))}.jsonl"
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("writer.py")),
             "--uri", spec["target_uri"], "--db", spec["database"], "--insert-into", insert,
             "--update-in", update, "--rate", str(spec["writer"]), "--log", str(self.log),
             "--freeze-flag", str(flag), "--ack", str(ack)],
        )  # fmt: skip
        self._wait_first_write()

    def _wait_first_write(self, bound_s: float = 30.0) -> None:
        deadline = time.monotonic() + bound_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"the writer exited with {self.proc.returncode} before writing")
            if self.log.exists() and '"op"' in self.log.read_text():
                return
            time.sleep(0.05)
        self.stop()
        raise SystemExit(f"the writer made no write within {bound_s:g} s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def summary(self, start: float, end: float) -> dict[str, Any]:
        import writer

        return writer.summarise(self.log, start, end)


@contextmanager
def writing(spec: dict[str, Any]) -> Iterator[Writer | None]:
    """A writer on production for the duration of the block, when the spec asks for one."""
    if not spec.get("writer"):
        yield None
        return
    w = Writer(spec)
    try:
        yield w
    finally:
        w.stop()


def contender_ours(spec: dict[str, Any]) -> dict[str, Any]:
    """api.run with yes and no hooks (with --freeze: its freeze and `true` hooks), optionally with a writer on production; each step's time,
    and a timeline of steps and workers, read back from the run's journal. A run that fails
    (the drift guard, with a writer and no freeze) is a result, not a crash."""
    state = Path(spec["workdir"]) / "state"
    with writing(spec) as writer:
        started_at = time.time()
        with Clock(spec) as total:
            # inside the clock: a user's `mongo-promote run` pays for loading the tool (about
            # 0.7 s of imports), as the Database Tools' times include their processes' start
            run_id, error = _run(spec, state)
        ended_at = time.time()
        out: dict[str, Any] = total.figures()
    out.update(_run_figures(state, run_id, started_at, ended_at, error))
    if writer is not None:
        out["writer"] = {"rate": spec["writer"], **writer.summary(started_at, ended_at)}
    out["peak_rss_mb"] = round(vm_hwm_mb(), 1)
    return out


def _run(spec: dict[str, Any], state: Path) -> tuple[str | None, dict[str, Any] | None]:
    """The run's id and, when it failed, its error (message, exit code)."""
    from mongo_promote import api
    from mongo_promote.console import Output
    from mongo_promote.errors import PromoteError

    loaded = _plan(spec)
    options = api.RunOptions(
        yes=True, run_hooks=_hooks(spec), state_dir=state, health_gate="off",
        allow_target_drift=bool(spec.get("allow_target_drift")),
    )  # fmt: skip
    try:
        if spec.get("profile"):
            import cProfile

            prof = cProfile.Profile()
            outcome = prof.runcall(api.run, loaded, Output(quiet=True), options)
            prof.dump_stats(spec["profile"])
        else:
            outcome = api.run(loaded, Output(quiet=True), options)
    except PromoteError as exc:
        return None, {"message": exc.message, "exit_code": exc.exit_code}
    return outcome.run_id, None


def _hooks(spec: dict[str, Any]) -> bool:
    """With --freeze the plan's commands run (its freeze is the writer's handshake, its one hook
    `true`): without them the freeze would be skipped and the writer never stopped."""
    return bool(spec.get("freeze"))


def _run_dir(state: Path, run_id: str | None) -> Path:
    if run_id is not None:
        return state / "runs" / run_id
    runs = sorted((state / "runs").iterdir(), key=lambda d: d.stat().st_mtime)
    return runs[-1]


def _run_figures(
    state: Path,
    run_id: str | None,
    started_at: float,
    ended_at: float,
    error: dict[str, Any] | None,
) -> dict[str, Any]:
    """Status, steps, timeline, cutover and freeze of the run, from its journal and report."""
    import timeline

    run_dir = _run_dir(state, run_id)
    report = json.loads((run_dir / "report.json").read_text())
    events = timeline.events(run_dir / "journal.jsonl")
    out: dict[str, Any] = {"status": report.get("status"), "run_id": run_dir.name}
    if error is not None:
        out["error"] = error
    out["steps"] = timeline.step_seconds(events)
    out["timeline"] = timeline.bars(events, started_at, ended_at)
    windows = [c.get("window_ms") for c in report.get("cutover", [])]
    out["cutover"] = {
        "methods": sorted({c.get("method") for c in report.get("cutover", [])}),
        "window_ms_max": max((w for w in windows if w is not None), default=0.0),
        "window_ms_sum": round(sum(w for w in windows if w is not None), 3),
        "collections": len(windows),
    }
    out["validation_passed"] = (report.get("validation") or {}).get("passed")
    out["freeze"] = freeze_window(report)
    out["kept_previous"] = bool(report.get("kept_previous"))  # issue 17's instant rollback
    return out


def contender_rollback(spec: dict[str, Any]) -> dict[str, Any]:
    """`ours`, then `api.rollback` of that run, then a restore of production from the run's
    backup (`api.restore`): the rollback against the run's wall and against a restore.

    Issue 17's run keeps the replaced collections aside (report.json `kept_previous`) and the
    rollback swaps them back by renames; like `ours`, without the plan's hooks and freeze commands
    unless --freeze (then both run them: the rollback swaps inside the writer's freeze too)."""
    out = contender_ours(spec)
    if not out["cutover"]["collections"]:  # stopped before its cutover: production untouched
        return {"run": out, "wall_s": out["wall_s"], "error": "the run cut nothing over"}
    from mongo_promote import api

    loaded = _plan(spec)
    state = Path(spec["workdir"]) / "state"
    with writing(spec) as writer:
        started_at = time.time()
        with Clock(spec) as back:
            rolled = _attempt(
                api.rollback, loaded, api.RollbackOptions(
                    run_id=out["run_id"], state_dir=state, yes=True, run_hooks=_hooks(spec),
                    allow_target_drift=bool(spec.get("allow_target_drift")),
                ),
            )  # fmt: skip
        ended_at = time.time()
    result: dict[str, Any] = {"run": out, "wall_s": out["wall_s"]}
    result["rollback"] = {**back.figures(), "instant": out["kept_previous"], **rolled}
    if writer is not None:
        result["rollback"]["writer"] = writer.summary(started_at, ended_at)
    backup = json.loads((_run_dir(state, out["run_id"]) / "report.json").read_text())["backup"]
    with Clock(spec) as restore:
        restored = _attempt(
            api.restore, loaded,
            api.RestoreOptions(backup_dir=Path(backup["dir"]), state_dir=state, yes=True),
        )  # fmt: skip
    result["restore"] = {**restore.figures(), **restored}
    if "error" in rolled or "error" in restored:
        result["error"] = (rolled.get("error") or restored.get("error") or {})["message"]
        return result
    result["rollback_vs_run"] = round(back.wall / out["wall_s"], 4)
    result["rollback_vs_restore"] = round(back.wall / restore.wall, 4)
    return result


def _attempt(command: Callable[..., Any], loaded: Any, options: Any) -> dict[str, Any]:
    """api.rollback or api.restore, quiet: its run id, or its error (a result too)."""
    from mongo_promote.console import Output
    from mongo_promote.errors import PromoteError

    try:
        done = command(loaded, Output(quiet=True), options)
    except PromoteError as exc:
        return {"error": {"message": exc.message, "exit_code": exc.exit_code}}
    return {"run_id": done.run_id}


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
    "rollback": contender_rollback,
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
