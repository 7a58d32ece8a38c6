"""What every step of a run shares, opened in one place: the plan, both connections, capabilities, paths."""

from __future__ import annotations

import ctypes
import json
import secrets
import shlex
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pymongo import MongoClient
from pymongo.database import Database
from pymongo.write_concern import WriteConcern

from mongo_promote.adapters.mongo import (
    NETWORK_TIMEOUT_S,
    RAW,
    Bounds,
    Capabilities,
    Client,
    connect,
    describe_network_failure,
    detect_capabilities,
    network_cause,
    not_connected,
    probe_capabilities,
    refuse_sharded,
    unconnected,
)
from mongo_promote.console import Output
from mongo_promote.domain.names import TOOL_DATABASE, aside_name, shadow_name
from mongo_promote.domain.plan import LoadedPlan, Plan, bundled_plan_path
from mongo_promote.errors import Interrupted, PromoteError, ServerUnreachable
from mongo_promote.files import write_private


def new_run_id(now: datetime | None = None) -> str:
    """`YYYYMMDD-HHMMSS-xxxx`: sorts by time, and two runs in the same second still differ."""
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def run_clock() -> datetime:
    """The run's `$now`: one timestamp, truncated to what BSON dates store (milliseconds)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def base_dir(loaded: LoadedPlan, state_dir: Path | None) -> Path:
    """Runs live next to the plan (or --state-dir); the bundled plan's runs go to the current
    directory. Always absolute: every path a run prints or records works from anywhere."""
    if state_dir:
        return Path(state_dir).expanduser().absolute()
    if is_bundled(loaded):
        return Path.cwd()
    return loaded.path.parent


def is_bundled(loaded: LoadedPlan) -> bool:
    return loaded.path == bundled_plan_path().resolve()


def command_line(loaded: LoadedPlan, base: Path, *words: str) -> str:
    """A command to paste, from any directory: `mongo-promote WORDS --plan PLAN` (the plan's
    absolute path, or `meeshy` for the bundled one) and `--state-dir DIR` when the runs are not
    next to the plan (--state-dir, MONGO_PROMOTE_STATE_DIR, or the bundled plan's)."""
    parts = [
        "mongo-promote",
        *words,
        "--plan",
        "meeshy" if is_bundled(loaded) else str(loaded.path),
    ]
    if Path(base).absolute() != loaded.path.parent:
        parts += ["--state-dir", str(Path(base).absolute())]
    return shlex.join(parts)


def runs_dir(base: Path) -> Path:
    """Where every run under `base` (the plan's directory, or --state-dir) has its directory."""
    return base / "runs"


@dataclass(frozen=True)
class RunPaths:
    """Every file a run writes, computed once: nothing else joins paths of the run directory."""

    base: Path  # holds runs/<run-id>/ (the plan's directory, or --state-dir)
    run_dir: Path
    journal: Path
    report_json: Path
    report_md: Path
    capabilities: Path  # the target's probed capabilities, reused by --resume (`connected`)
    backup_dir: Path  # where this run's backup goes

    @classmethod
    def of(cls, loaded: LoadedPlan, state_dir: Path | None, run_id: str) -> RunPaths:
        base = base_dir(loaded, state_dir)
        configured = Path(loaded.plan.backup.dir).expanduser()
        backups = configured if configured.is_absolute() else base / configured
        return cls.under(base, run_id, backups / run_id)

    @classmethod
    def under(cls, base: Path, run_id: str, backup_dir: Path | None = None) -> RunPaths:
        run_dir = runs_dir(base) / run_id
        return cls(
            base=base,
            run_dir=run_dir,
            journal=run_dir / "journal.jsonl",
            report_json=run_dir / "report.json",
            report_md=run_dir / "report.md",
            capabilities=run_dir / "capabilities.json",
            backup_dir=backup_dir or base / "backups" / run_id,
        )


@dataclass
class RunContext:
    loaded: LoadedPlan
    run_id: str
    source_client: MongoClient[Any]
    target_client: MongoClient[Any]
    source_caps: Capabilities
    target_caps: Capabilities
    out: Output
    paths: RunPaths
    now: datetime = field(default_factory=run_clock)
    workers: int = 4
    cancel: threading.Event = field(default_factory=threading.Event)
    fallbacks: list[str] = field(default_factory=list)
    verb: str = "run"  # the command this run is (run, restore, rollback, cleanup): its --resume

    @property
    def plan(self) -> Plan:
        return self.loaded.plan

    def command(self, *words: str) -> str:
        """A command about this plan and state directory, to paste (see `command_line`)."""
        return command_line(self.loaded, self.paths.base, *words)

    def resume_command(self) -> str:
        return self.command(self.verb, "--resume", self.run_id)

    def rollback_command(self, run_id: str | None = None) -> str:
        return self.command("rollback", "--run", run_id or self.run_id)

    @property
    def run_dir(self) -> Path:
        return self.paths.run_dir

    @property
    def write_concern(self) -> WriteConcern | None:
        """Majority on a replica set, so a failover cannot roll back a shadow we then cut over."""
        return WriteConcern(w="majority") if self.target_caps.topology == "replicaset" else None

    @property
    def source_db(self) -> Database[Any]:
        """Reads return RawBSONDocument: documents travel as bytes, never decoded.

        The read preference is the source URI's (a secondary spares staging's primary).
        """
        return self.source_client.get_database(self.plan.source.database, codec_options=RAW)

    @property
    def target_db(self) -> Database[Any]:
        """The one handle every write to the target goes through: raw BSON, the run's write concern."""
        return self.target_client.get_database(
            self.plan.target.database, codec_options=RAW, write_concern=self.write_concern
        )

    def shadow_name(self, name: str) -> str:
        return shadow_name(name, self.run_id)

    def aside_name(self, name: str) -> str:
        return aside_name(name, self.run_id)

    def check_cancelled(self) -> None:
        """Long loops call this between batches so Ctrl-C stops work promptly and cleanly."""
        if self.cancel.is_set():
            raise Interrupted("interrupted by the user")

    def fallback(self, note: str) -> None:
        """A feature the server lacks and what we did instead; it goes into the report."""
        if note not in self.fallbacks:
            self.fallbacks.append(note)
            self.out.warn(note)


def another_run(ctx: RunContext) -> RunContext:
    """A run of its own (id, paths, cancel flag, fallbacks) on the same connections and
    capabilities: the health gate's rollback, inside the run whose lock it runs under."""
    rid = new_run_id()
    paths = RunPaths.of(ctx.loaded, ctx.paths.base, rid)
    return replace(
        ctx, run_id=rid, paths=paths, now=run_clock(), cancel=threading.Event(), fallbacks=[]
    )


def probe_target(ctx: RunContext) -> None:
    """Probe the target now if its capabilities were only expected (`connected`): a rollback
    that swaps by renames needs none, one that loads a backup does."""
    if not ctx.target_caps.probed:
        ctx.target_caps = probe_capabilities(ctx.target_client, TOOL_DATABASE)


def plan_bounds(plan: Plan) -> Bounds:
    """How long the plan's servers are waited for (adapters/mongo.Bounds): its `network_timeout`
    (already replaced by --network-timeout) and `long_operation_timeout`."""
    long = plan.long_operation_timeout
    return Bounds(
        network_s=plan.network_timeout.total_seconds(),
        long_s=long.total_seconds() if long is not None else None,
        origin="set by --network-timeout or the plan"
        if plan.network_timeout.total_seconds() != NETWORK_TIMEOUT_S
        else "the default",
    )


@contextmanager
def open_clients(
    source_uri: str,
    target_uri: str,
    bounds: Bounds | None = None,
    *,
    source_needed: bool = True,
) -> Iterator[tuple[Client, Client]]:
    """Both clients (exit 3 within seconds if one is unreachable); closed whatever happens.
    `source_needed=False`: the source's client does not connect (restore, rollback).

    A connection lost, or a request unanswered within its bound, in the block becomes
    ServerUnreachable (exit 3) naming the server, the request and the time waited (a run's
    runner says more: how far it got and the command that continues)."""
    if source_needed:
        source = connect(source_uri, role="source", bounds=bounds)
    else:
        source = unconnected(source_uri, role="source", bounds=bounds)
    try:
        target = connect(target_uri, role="target", bounds=bounds)
    except BaseException:
        source.close()
        raise
    try:
        yield source, target
    except Exception as exc:
        cause = network_cause(exc)
        if cause is None or isinstance(exc, PromoteError):
            raise
        raise ServerUnreachable(describe_network_failure(cause, [source, target])) from exc
    finally:
        source.close()
        target.close()


@contextmanager
def connected(
    plan: Plan, *, probe: bool = False, probed: Path | None = None, source_needed: bool = True
) -> Iterator[tuple[MongoClient[Any], MongoClient[Any], Capabilities, Capabilities]]:
    """The plan's two servers and their capabilities; a sharded target is refused (exit 2).

    probe=True (commands that write to the target) tries the target's capabilities on scratch
    collections; otherwise they are expected from buildInfo/hello and nothing is written. The
    source is only ever read, so its capabilities are always the expected ones. `probed`: a
    run's `capabilities.json` (`--resume`): what its first attempt probed is used again, without
    scratch writes, when the target is the same server (hosts, version, topology).
    """
    uris = plan.source.uri, plan.target.uri
    with open_clients(*uris, plan_bounds(plan), source_needed=source_needed) as (source, target):
        target_caps = detect_capabilities(target)
        refuse_sharded(target_caps, "target")
        if probe:
            known = _probed_before(probed, target, target_caps)
            target_caps = known or probe_capabilities(target, TOOL_DATABASE)
        source_caps = detect_capabilities(source) if source_needed else not_connected()
        yield source, target, source_caps, target_caps


def save_capabilities(ctx: RunContext) -> None:
    """The target's probed capabilities into the run's directory, for a `--resume` (`connected`)."""
    if ctx.target_caps.probed:
        record = {"nodes": _nodes(ctx.target_client), "capabilities": ctx.target_caps.to_dict()}
        write_private(ctx.paths.capabilities, json.dumps(record, indent=1) + "\n")


def _probed_before(
    path: Path | None, client: MongoClient[Any], expected: Capabilities
) -> Capabilities | None:
    """The capabilities a run probed (`save_capabilities`), if `client` is that same server."""
    if path is None or not path.exists():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        caps = Capabilities(**record["capabilities"])
    except (OSError, ValueError, TypeError, KeyError):
        return None  # unreadable or of another version: probed again
    same = (caps.server, caps.version, caps.topology) == (
        expected.server,
        expected.version,
        expected.topology,
    )
    return caps if same and caps.probed and record.get("nodes") == _nodes(client) else None


def _nodes(client: MongoClient[Any]) -> list[str]:
    return sorted(f"{host}:{port}" for host, port in client.nodes)


_M_ARENA_MAX = -8
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD = 256 * 1024


def fewer_malloc_arenas() -> None:
    """At most two glibc malloc arenas for the threads to come, and large blocks always mapped.

    glibc gives threads their own arenas (up to 8 per core) and each keeps what it freed: with a
    dozen worker threads (copy, read-ahead, backup beside) a run's peak memory grew with the data.
    Measured on the Meeshy data at scale 10: 160-176 MB peak, 126-131 MB with two arenas, same
    speed. glibc also raises its mmap threshold to the largest block freed (up to 32 MB), after
    which the MB-sized server replies and insert messages come from the arenas and fragment
    them; a fixed threshold gives each back to the system when freed (documentdb, one run each,
    peak RSS at scale 10 116 -> 103 MB, at scale 100 183 -> 160 MB). Where there is no glibc
    (musl, macOS) this does nothing."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
        mallopt(ctypes.c_int(_M_ARENA_MAX), ctypes.c_int(2))
        mallopt(ctypes.c_int(_M_MMAP_THRESHOLD), ctypes.c_int(_MMAP_THRESHOLD))
    except (OSError, AttributeError):
        return


@contextmanager
def open_context(
    loaded: LoadedPlan,
    out: Output,
    *,
    run_id: str | None = None,
    state_dir: Path | None = None,
    workers: int = 4,
    probe: bool = False,
    source_needed: bool = True,
) -> Iterator[RunContext]:
    """Connections, capabilities (probed when `probe`: see `connected`) and the run's paths:
    the only place a RunContext is built. `source_needed=False`: the source is not connected
    (a command that reads nothing from it runs while it is down)."""
    fewer_malloc_arenas()
    rid = run_id or new_run_id()
    paths = RunPaths.of(loaded, state_dir, rid)
    probed = paths.capabilities if run_id else None  # a resumed run's own probe
    with connected(loaded.plan, probe=probe, probed=probed, source_needed=source_needed) as (
        source,
        target,
        source_caps,
        target_caps,
    ):
        yield RunContext(
            loaded=loaded,
            run_id=rid,
            source_client=source,
            target_client=target,
            source_caps=source_caps,
            target_caps=target_caps,
            out=out,
            paths=paths,
            workers=workers,
        )
