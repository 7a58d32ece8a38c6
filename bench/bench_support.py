"""What the benchmarks share: the server pair, seeded datasets, run contexts and the clocks."""

from __future__ import annotations

import os
import resource
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pymongo import MongoClient

from mongo_promote.conn import detect_capabilities
from mongo_promote.console import Output
from mongo_promote.context import RunContext, RunPaths, new_run_id
from mongo_promote.inventory import take_inventory
from mongo_promote.plan import bundled_plan_path, load_plan
from mongo_promote.servers import LocalServer, temporary_pair
from mongo_promote.steps.analyse import Actions, analyse
from mongo_promote.steps.cutover import drop_shadows

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Env:
    """One benchmark session: both servers, a scratch directory, the datasets seeded so far."""

    source_uri: str
    target_uri: str
    workdir: Path
    scale: float
    servers: list[LocalServer] = field(default_factory=list)
    datasets: dict[float, dict[str, Any]] = field(default_factory=dict)

    @property
    def source(self) -> MongoClient[Any]:
        return MongoClient(self.source_uri)

    @property
    def target(self) -> MongoClient[Any]:
        return MongoClient(self.target_uri)

    def server_cpu(self) -> float:
        """CPU seconds both server processes have used so far (0 when the URIs were given)."""
        return sum(process_cpu(s.pid) for s in self.servers)


@contextmanager
def session(workdir: Path | None, scale: float,
            source_uri: str | None = None, target_uri: str | None = None) -> Iterator[Env]:  # fmt: skip
    """Our own FerretDB (or mongod) pair on loopback ports, stopped and removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="mongo-promote-bench-", dir=workdir) as tmp:
        if source_uri and target_uri:
            yield Env(source_uri, target_uri, Path(tmp), scale)
            return
        with temporary_pair(Path(tmp) / "servers") as (src, tgt):
            yield Env(src.uri, tgt.uri, Path(tmp), scale, [src, tgt])


def process_cpu(pid: int) -> float:
    """utime + stime of a process, in seconds, from /proc (children not included)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Timing:
    wall: float = 0.0
    cpu: float = 0.0  # this process (every thread): the client side
    server_cpu: float = 0.0  # both server processes together


@contextmanager
def timed(env: Env) -> Iterator[Timing]:
    result = Timing()
    wall, cpu, server = time.perf_counter(), self_cpu(), env.server_cpu()
    yield result
    result.wall = time.perf_counter() - wall
    result.cpu = self_cpu() - cpu
    result.server_cpu = env.server_cpu() - server


def dataset_db(scale: float) -> str:
    return "meeshy_s" + f"{scale:g}".replace(".", "_")


def seed_dataset(env: Env, scale: float) -> dict[str, Any]:
    """The demo's Meeshy data at `scale` (same database name on both sides), seeded once per session."""
    from mongo_promote.demo.generator import generate

    if scale not in env.datasets:
        name = dataset_db(scale)
        started = time.perf_counter()
        manifest = generate(env.source[name], env.target[name], seed=42, scale=scale)
        env.datasets[scale] = {
            "database": name,
            "manifest": manifest,
            "seed_seconds": time.perf_counter() - started,
            "source_docs": sum(manifest["source"]["collections"].values()),
        }
    return env.datasets[scale]


def demo_plan_env(env: Env, database: str) -> dict[str, str]:
    return {
        "STAGING_MONGO_URI": env.source_uri,
        "PROD_MONGO_URI": env.target_uri,
        "STAGING_DB": database,
        "PROD_DB": database,
        "MEESHY_BACKUP_DIR": str(env.workdir / "backups"),
        "MEESHY_RESTART_GATEWAY": "true",
        "MEESHY_GATEWAY_URL": "http://127.0.0.1:9",
    }


def make_ctx(
    env: Env, database: str, plan_yaml: str | None = None, *, workers: int = 4
) -> RunContext:
    """A RunContext over `database` on both servers: the demo's own plan, or the YAML given."""
    if plan_yaml is None:
        loaded = load_plan(bundled_plan_path(), env=demo_plan_env(env, database))
    else:
        path = env.workdir / f"plan-{new_run_id()}.yaml"
        path.write_text(
            "version: 1\n"
            f'source: {{uri: "{env.source_uri}", database: {database}}}\n'
            f'target: {{uri: "{env.target_uri}", database: {database}}}\n' + plan_yaml
        )
        loaded = load_plan(path, env={})
    source, target = env.source, env.target
    return RunContext(
        loaded=loaded,
        run_id=new_run_id(),
        source_client=source,
        target_client=target,
        source_caps=detect_capabilities(source),
        target_caps=detect_capabilities(target),
        out=Output(quiet=True),
        paths=RunPaths.under(env.workdir, "bench"),
        workers=workers,
    )


def actions_of(ctx: RunContext) -> Actions:
    return analyse(ctx.plan, take_inventory(ctx.plan, ctx.source_db, ctx.target_db))


def drop_all_shadows(ctx: RunContext, actions: Actions) -> None:
    drop_shadows(ctx, [a.name for a in actions.collections])


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine_busy_cpu() -> float:
    """CPU seconds the whole machine has spent busy (every core, every process) since boot."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def ours_cpu(env: Env) -> float:
    """CPU seconds of this process, its waited-for children (mongosh, memory children) and servers."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime + env.server_cpu()
