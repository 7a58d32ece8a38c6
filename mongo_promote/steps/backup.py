"""The backup of run, restore, rollback and cleanup: the target in mongodump's layout, read back whole, verified."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mongo_promote.adapters.dump import MANIFEST_NAME, DumpWriter, Manifest, verify_dump
from mongo_promote.adapters.mongo import reply_batch
from mongo_promote.console import human_bytes
from mongo_promote.errors import OperationFailed, PathError
from mongo_promote.files import directory_problem, existing_ancestor, free_bytes
from mongo_promote.state.context import RunContext
from mongo_promote.state.journal import Kind
from mongo_promote.state.step import Action, Result, RunState, StepBase

BACKUP_REPLY_BYTES = 512 * 1024  # half the copy's: the peak at scale 100 (issue 20)


@dataclass
class BackupResult:
    dir: str
    collections: list[str]
    documents: int
    bytes: int  # on disk
    seconds: float
    verified: bool
    content_hashes: dict[str, str] = field(default_factory=dict)
    replaced: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    # per collection dumped: started_at, finished_at (ISO 8601 UTC) and the worker thread;
    # journalled with the backup action (for timelines of a run), not part of the report
    timings: dict[str, dict[str, str]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("timings")
        return data


def backup_collections(
    ctx: RunContext,
    names: list[str],
    out_dir: Path,
    *,
    replaced: Iterable[str] = (),
    created: Iterable[str] = (),
    expected_bytes: int = 0,
) -> BackupResult:
    """Dump `names` from the target database, verify every file, and record what the run will do."""
    started = time.monotonic()
    database = ctx.plan.target.database
    timings: dict[str, dict[str, str]] = {}
    if _finished_by(out_dir, ctx.run_id):
        ctx.out.info(f"  {out_dir} already holds this run's finished backup: verifying it again")
    else:
        timings = _write(ctx, names, out_dir, database, expected_bytes)
    manifest = verify_dump(out_dir)  # read back: sizes, sha256, counts, content hashes
    entries = [e for e in manifest.collections if e.database == database]
    size = sum(f.size for e in manifest.collections for f in e.files)
    ctx.out.info(
        f"  backup verified: {len(entries)} collections, "
        f"{sum(e.count for e in entries):,} documents, {human_bytes(size)}"
    )
    return BackupResult(
        dir=str(out_dir),
        collections=[e.name for e in entries],
        documents=sum(e.count for e in entries),
        bytes=size,
        seconds=round(time.monotonic() - started, 3),
        verified=True,
        content_hashes={e.name: e.content_hash for e in entries},
        replaced=sorted(replaced),
        created=sorted(created),
        timings=timings,
    )


def _finished_by(out_dir: Path, run_id: str) -> bool:
    """This run's own finished dump (a resume after an interrupted verification): reused."""
    if not (out_dir / MANIFEST_NAME).exists():
        return False
    try:
        return Manifest.load(out_dir).run_id == run_id
    except (OperationFailed, ValueError, OSError):
        return False


def _write(
    ctx: RunContext, names: list[str], out_dir: Path, database: str, expected_bytes: int
) -> dict[str, dict[str, str]]:
    """Dump every collection, ctx.workers at once; when and on which worker each one was dumped."""
    check_backup_dir(out_dir, expected_bytes)
    try:
        writer = DumpWriter(
            out_dir,
            gzip=ctx.plan.backup.gzip,
            run_id=ctx.run_id,
            server_version=ctx.target_caps.version,
            encrypt_to=ctx.plan.backup.encrypt_to,
        )
    except OSError as exc:  # a path the checks could not foresee (a race, /proc, ...)
        raise PathError(f"cannot write the backup to {out_dir}: {exc.strerror or exc}") from None
    with (
        writer,
        ThreadPoolExecutor(max_workers=max(1, ctx.workers), thread_name_prefix="backup") as pool,
    ):
        timed = list(pool.map(lambda name: _timed_dump(ctx, writer, database, name), names))
    return dict(zip(names, timed, strict=True))


def _timed_dump(ctx: RunContext, writer: DumpWriter, database: str, name: str) -> dict[str, str]:
    started_at = datetime.now(UTC).isoformat()
    _dump_one(ctx, writer, database, name)
    return {
        "started_at": started_at,
        "finished_at": datetime.now(UTC).isoformat(),
        "worker": threading.current_thread().name,
    }


@dataclass(frozen=True)
class Metadata:
    """What a dump's .metadata.json holds of a collection, as the server lists it."""

    options: dict[str, Any]
    indexes: list[dict[str, Any]]
    uuid: Any


def collection_metadata(ctx: RunContext, name: str) -> Metadata | None:
    """A target collection's options, indexes and uuid (None: the collection does not exist)."""
    plain = ctx.target_client[ctx.plan.target.database]
    info = next(iter(plain.list_collections(filter={"name": name})), None)
    if info is None:
        return None
    return Metadata(
        dict(info.get("options", {})),
        [dict(ix) for ix in plain[name].list_indexes()],
        info.get("info", {}).get("uuid"),
    )


def live_documents(ctx: RunContext, name: str) -> Iterator[bytes]:
    """A target collection's documents as raw bytes, streaming, stopping promptly on Ctrl-C.

    Replies of about BACKUP_REPLY_BYTES: the backup runs beside the copy, and while both read
    large collections each of their cursors holds a whole reply at least twice (pymongo's
    receive buffer and the documents cut from it)."""
    coll = ctx.target_db[name]
    with coll.find({}, batch_size=reply_batch(coll, BACKUP_REPLY_BYTES)) as cursor:
        for n, doc in enumerate(cursor):
            if n % 500 == 0:
                ctx.check_cancelled()
            yield bytes(doc.raw)


def _dump_one(ctx: RunContext, writer: DumpWriter, database: str, name: str) -> None:
    ctx.check_cancelled()
    meta = collection_metadata(ctx, name)
    if meta is None:
        return  # dropped since the inventory: nothing to back up
    writer.write_collection(
        database,
        name,
        live_documents(ctx, name),
        options=meta.options,
        indexes=meta.indexes,
        uuid=meta.uuid,
    )


def check_backup_dir(directory: Path, need_bytes: int) -> None:
    """Before anything is written (the dry-run asks too): the backup directory can be made,
    written, and has room for the data before compression; exit 2 naming the problem."""
    problem = directory_problem(directory)
    if problem is None and need_bytes and (free := free_bytes(directory)) < need_bytes:
        problem = (
            f"not enough room: {human_bytes(free)} free under {existing_ancestor(directory)}, "
            f"about {human_bytes(need_bytes)} needed (the data, before compression)"
        )
    if problem:
        raise PathError(f"cannot write the backup to {directory}: {problem}")


class BackupStep(StepBase):
    """One action: the verified backup of every target collection the command may change.

    It reads production and writes files while the shadows are built (the runner runs it
    beside them); nothing that touches production starts before it is verified."""

    title = "backup the target"
    kind = Kind.BACKUP
    overlaps = True

    def __init__(
        self,
        state: RunState,
        names: list[str],
        *,
        replaced: list[str],
        created: list[str],
        expected_bytes: int = 0,
    ) -> None:
        super().__init__(state)
        self.names, self.replaced, self.created = names, replaced, created
        self.expected_bytes = expected_bytes

    def plan(self, ctx: RunContext) -> list[Action]:
        return [
            self.action(
                "backup",
                f"back up {len(self.names)} target collection(s) (about "
                f"{human_bytes(self.expected_bytes)} before compression) to {ctx.paths.backup_dir}",
            )
        ]

    def apply(self, ctx: RunContext, action: Action) -> Result:
        result = backup_collections(
            ctx,
            self.names,
            ctx.paths.backup_dir,
            replaced=self.replaced,
            created=self.created,
            expected_bytes=self.expected_bytes,
        )
        self.resume(ctx, action, {"backup": result.to_json()})
        return {"backup": result.to_json(), "timings": result.timings}

    def resume(self, ctx: RunContext, action: Action, result: Result) -> None:
        self.state.report.backup = result["backup"]
        self.state.backed_up = dict(result["backup"]["content_hashes"])
