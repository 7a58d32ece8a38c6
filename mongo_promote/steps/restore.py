"""Restore and rollback: load a dump (ours or mongodump's) into shadows, verify, then cut over like a run."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bson.raw_bson import RawBSONDocument

from mongo_promote.archive import archive_collections, is_archive
from mongo_promote.checksum import ContentHash
from mongo_promote.context import RunContext
from mongo_promote.dumpfmt import (
    DumpCollection,
    Manifest,
    ManifestMissing,
    iter_dump_collections,
    verify_dump,
)
from mongo_promote.errors import OperationFailed, UsageError
from mongo_promote.steps import cutover
from mongo_promote.steps.analyse import CollectionAction
from mongo_promote.steps.copy import create_shadow
from mongo_promote.steps.indexes import build_indexes

BATCH_BYTES = 8 * 1024 * 1024


@dataclass
class RestoreResult:
    dir: str
    dump_database: str
    collections: list[str]
    documents: int
    verified: bool  # False: no manifest (a plain mongodump directory), only loaded counts checked
    dropped: list[str] = field(default_factory=list)
    cutover: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def restore_dump(
    ctx: RunContext,
    backup_dir: Path,
    *,
    only: list[str] | None = None,
    drop: list[str] | None = None,
) -> RestoreResult:
    """Production keeps serving its current data until every collection is loaded and checked."""
    started = time.monotonic()
    if is_archive(backup_dir):  # a `mongodump --archive` file: no manifest, counts checked after loading
        manifest, found = None, list[DumpCollection](archive_collections(backup_dir))
    else:
        manifest = _verified_manifest(ctx, backup_dir)
        found = list(iter_dump_collections(backup_dir))
    database = _dump_database(found, ctx.plan.target.database, backup_dir)
    selected = [c for c in found if c.database == database and (only is None or c.name in only)]
    loaded: list[str] = []
    documents = 0
    try:
        for dumped in selected:
            documents += _load(ctx, dumped, manifest)
            loaded.append(dumped.name)
    except BaseException:
        cutover.drop_shadows(ctx, loaded + [d.name for d in selected])
        raise
    results = [asdict(cutover.install(ctx, name)) for name in loaded]
    cutover.drop_asides(ctx, loaded)
    dropped = [n for n in (drop or []) if _drop(ctx, n)]
    return RestoreResult(
        str(backup_dir),
        database,
        loaded,
        documents,
        manifest is not None,
        dropped,
        results,
        round(time.monotonic() - started, 3),
    )


def _verified_manifest(ctx: RunContext, backup_dir: Path) -> Manifest | None:
    if not backup_dir.is_dir():
        raise UsageError(f"no backup directory {backup_dir}")
    try:
        manifest = verify_dump(backup_dir)
    except ManifestMissing:
        ctx.out.warn(
            f"{backup_dir} has no manifest.json (a mongodump directory?): files cannot be "
            "verified in advance; each collection's count is checked after loading"
        )
        return None
    ctx.out.info(
        f"  backup verified: {len(manifest.collections)} collection(s), every file's sha256"
    )
    return manifest


def _dump_database(found: list[DumpCollection], wanted: str, backup_dir: Path) -> str:
    databases = sorted({c.database for c in found})
    if wanted in databases:
        return wanted
    if len(databases) == 1:
        return databases[0]
    raise UsageError(f"{backup_dir} holds databases {databases}; none is the target's {wanted!r}")


def _load(ctx: RunContext, dumped: DumpCollection, manifest: Manifest | None) -> int:
    ctx.check_cancelled()
    meta = dumped.metadata()
    action = CollectionAction(
        dumped.name,
        "replace",
        0,
        0,
        None,
        None,
        source_indexes=list(meta["indexes"]),
        source_options=dict(meta["options"]),
    )
    shadow = ctx.target_db[create_shadow(ctx, action)]
    hasher = ContentHash()
    batch: list[RawBSONDocument] = []
    size = 0
    for raw in dumped.iter_raw():
        batch.append(RawBSONDocument(raw))
        hasher.add(raw)
        size += len(raw)
        if size >= BATCH_BYTES:
            shadow.insert_many(batch, ordered=False, bypass_document_validation=True)
            batch, size = [], 0
            ctx.check_cancelled()
    if batch:
        shadow.insert_many(batch, ordered=False, bypass_document_validation=True)
    _check_loaded(dumped, manifest, hasher, shadow.count_documents({}))
    build_indexes(ctx, action, shadow.name, declared=False)
    ctx.out.info(f"  loaded {dumped.name}: {hasher.count:,} documents")
    return hasher.count


def _check_loaded(
    dumped: DumpCollection, manifest: Manifest | None, hasher: ContentHash, in_shadow: int
) -> None:
    if in_shadow != hasher.count:
        raise OperationFailed(
            f"restore of {dumped.name}: read {hasher.count} documents, the shadow holds {in_shadow}"
        )
    entry = manifest.collection(dumped.database, dumped.name) if manifest else None
    if entry and entry.content_hash != hasher.hexdigest():
        raise OperationFailed(f"restore of {dumped.name}: content differs from the manifest")


def _drop(ctx: RunContext, name: str) -> bool:
    if name in ctx.target_db.list_collection_names(filter={"name": name}):
        ctx.target_db.drop_collection(name)
        return True
    return False
