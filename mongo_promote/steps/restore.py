"""The load of restore and rollback: a dump (ours, or mongodump's) into shadows, checked against its manifest."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bson.raw_bson import RawBSONDocument

from mongo_promote.adapters.dump import (
    DumpCollection,
    Manifest,
    ManifestMissing,
    iter_dump_collections,
    verify_dump,
)
from mongo_promote.adapters.dump.archive import archive_collections, is_archive
from mongo_promote.adapters.mongo import raw_batches
from mongo_promote.checksum import ContentHash
from mongo_promote.console import Output
from mongo_promote.domain.analysis import CollectionAction
from mongo_promote.domain.inventory import counted
from mongo_promote.errors import OperationFailed, UsageError
from mongo_promote.state.context import RunContext
from mongo_promote.state.journal import Kind
from mongo_promote.state.step import Action, Phase, Result, RunState, StepBase
from mongo_promote.steps.copy import create_shadow

BATCH_BYTES = 8 * 1024 * 1024


@dataclass
class Dump:
    """A backup directory, verified, and the collections of the target's database it holds."""

    dir: Path
    database: str
    manifest: Manifest | None  # None: a plain mongodump directory, only loaded counts checked
    collections: list[DumpCollection]

    def actions(self) -> list[CollectionAction]:
        """Each dumped collection as the shadow steps see it: its options and indexes."""
        found = []
        for dumped in self.collections:
            meta = dumped.metadata()
            entry = (
                self.manifest.collection(dumped.database, dumped.name) if self.manifest else None
            )
            found.append(
                CollectionAction(
                    name=dumped.name,
                    action="replace",
                    source_count=entry.count if entry else 0,
                    source_size=0,
                    target_count=None,
                    target_size=None,
                    source_indexes=list(meta["indexes"]),
                    source_options=dict(meta["options"]),
                )
            )
        return found


def read_dump(
    out: Output,
    backup_dir: Path,
    database: str,
    only: list[str] | None,
    identity: Path | None = None,
) -> Dump:
    """Verify the whole backup (every file's sha256) before anything is touched; reads only.

    `identity`: the age identity file that decrypts an encrypted backup (`--identity`).
    """
    if is_archive(
        backup_dir
    ):  # a `mongodump --archive` file: no manifest, counts checked after loading
        out.warn(
            f"{backup_dir} is a mongodump archive: each collection's count is checked after loading"
        )
        found: list[DumpCollection] = list(archive_collections(backup_dir))
        chosen = _dump_database(found, database, backup_dir)
        return Dump(backup_dir, chosen, None, _select(found, chosen, only, backup_dir))
    if not backup_dir.is_dir():
        raise UsageError(f"no backup directory {backup_dir}")
    try:
        manifest: Manifest | None = verify_dump(backup_dir, identity=identity)
        assert manifest is not None
        out.info(
            f"  backup verified: {len(manifest.collections)} collection(s), every file's sha256"
        )
    except ManifestMissing:
        out.warn(
            f"{backup_dir} has no manifest.json (a mongodump directory?): files cannot be "
            "verified in advance; each collection's count is checked after loading"
        )
        manifest = None
    found = list(iter_dump_collections(backup_dir, identity=identity))
    chosen = _dump_database(found, database, backup_dir)
    return Dump(backup_dir, chosen, manifest, _select(found, chosen, only, backup_dir))


def _select(
    found: list[DumpCollection], database: str, only: list[str] | None, backup_dir: Path
) -> list[DumpCollection]:
    """The dump's collections of `database` (those named in `only`): a name the backup does not
    hold is a usage error (exit 2), never a restore of nothing."""
    held = [c for c in found if c.database == database]
    names = {c.name for c in held}
    unknown = [n for n in only or [] if n not in names]
    if unknown:
        raise UsageError(
            f"{backup_dir} holds no collection {', '.join(unknown)} in database {database!r} "
            f"(it holds {', '.join(sorted(names)) or 'none'})"
        )
    return [c for c in held if only is None or c.name in only]


def _dump_database(found: list[DumpCollection], wanted: str, backup_dir: Path) -> str:
    databases = sorted({c.database for c in found})
    if wanted in databases:
        return wanted
    if len(databases) == 1:
        return databases[0]
    raise UsageError(f"{backup_dir} holds databases {databases}; none is the target's {wanted!r}")


class LoadStep(StepBase):
    """One action per collection: its documents into a fresh shadow, counted and hashed."""

    title = "load the backup into shadows"
    kind = "load"
    builds_shadows = True

    def __init__(self, state: RunState, dump: Dump) -> None:
        super().__init__(state)
        self.dump = dump
        self.actions = {a.name: a for a in dump.actions()}

    def plan(self, ctx: RunContext) -> list[Action]:
        return [
            self.action(
                f"load:{d.name}",
                f"{d.name}: load "
                + (f"{self.actions[d.name].source_count:,} documents" if self.dump.manifest else "")
                + " into a shadow and check them against the backup",
                d.name,
            )
            for d in self.dump.collections
        ]

    def apply(self, ctx: RunContext, action: Action) -> Result:
        dumped = next(d for d in self.dump.collections if d.name == action.collection)
        count = _load(ctx, dumped, self.actions[dumped.name], self.dump.manifest)
        self.resume(ctx, action, {"count": count})
        return {"count": count}

    def resume(self, ctx: RunContext, action: Action, result: Result) -> None:
        self.state.counts[str(action.collection)] = result["count"]


def _load(
    ctx: RunContext, dumped: DumpCollection, action: CollectionAction, manifest: Manifest | None
) -> int:
    """Through the same target handle (raw BSON, the run's write concern) as a run's copy."""
    ctx.check_cancelled()
    shadow = ctx.target_db[create_shadow(ctx, action)]
    hasher = ContentHash()

    def hashed() -> Iterator[RawBSONDocument]:
        for raw in dumped.iter_raw():
            hasher.add(raw)
            yield RawBSONDocument(raw)

    for batch, _ in raw_batches(hashed(), BATCH_BYTES):
        shadow.insert_many(batch, ordered=False, bypass_document_validation=True)
        ctx.check_cancelled()
    _check_loaded(dumped, manifest, hasher, counted(shadow, hasher.count))
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


class DropStep(StepBase):
    """Rollback: one action per collection the rolled-back run created (they are in the backup)."""

    title = "drop the collections the rolled-back run created"
    kind = Kind.DROP
    phase: Phase = "cutover"

    def __init__(self, state: RunState, names: list[str]) -> None:
        super().__init__(state)
        self.names = names

    def plan(self, ctx: RunContext) -> list[Action]:
        return [self.action(f"drop:{n}", f"drop {n}", n) for n in self.names]

    def apply(self, ctx: RunContext, action: Action) -> Result:
        name = str(action.collection)
        present = bool(ctx.target_db.list_collection_names(filter={"name": name}))
        if present:
            ctx.target_db.drop_collection(name)
        self.resume(ctx, action, {"dropped": present})
        return {"dropped": present}

    def resume(self, ctx: RunContext, action: Action, result: Result) -> None:
        if result["dropped"]:
            self.state.dropped.append(str(action.collection))
