"""What the application wrote between the backup and the freeze, counted after freeze.end (the
window does not wait for it): for each collection the catch-up replaced, its original backup file
against the caught-up one, by `_id`, through a disk-backed sqlite index (memory stays flat
whatever the size); then the original files go."""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from mongo_promote.adapters.dump import (
    DumpEncrypted,
    Manifest,
    documents_file,
    iter_file_documents,
    remove_side,
    superseded_documents,
)
from mongo_promote.checksum import hashed_count
from mongo_promote.domain.transforms.bsonbytes import locate
from mongo_promote.state.context import RunContext
from mongo_promote.state.report import caught_up_counts
from mongo_promote.state.step import Action, Phase, Result, RunState, StepBase

_BATCH = 5_000


@dataclass
class IdDiff:
    """By `_id`, the later file against the earlier: inserted = new ids, changed = same id with
    other bytes, deleted = ids gone."""

    inserted: int
    changed: int
    deleted: int


def _keyed(raws: Iterable[bytes]) -> Iterator[tuple[bytes, bytes]]:
    """(`_id` as its type byte and value bytes, sha256 of the document) per document. The same
    `_id` stored twice has the same bytes; 1 and 1.0 (one id to MongoDB) count as two."""
    for raw in raws:
        found = locate(raw, "_id")
        key = raw if found is None else bytes([found[0]]) + raw[found[3] : found[2]]
        yield key, hashlib.sha256(raw).digest()


def diff_by_id(old: Iterable[bytes], new: Iterable[bytes], scratch: Path) -> IdDiff:
    """Two streams of raw documents compared by `_id`, each indexed in an sqlite file at
    `scratch` (removed after): nothing held in memory but a batch."""
    scratch.unlink(missing_ok=True)
    con = sqlite3.connect(scratch)
    try:
        con.execute("PRAGMA journal_mode=OFF")
        con.execute("PRAGMA synchronous=OFF")
        for table, docs in (("old", old), ("new", new)):
            con.execute(f"CREATE TABLE {table} (id BLOB PRIMARY KEY, digest BLOB) WITHOUT ROWID")
            keyed = _keyed(docs)
            while batch := list(islice(keyed, _BATCH)):
                con.executemany(f"INSERT OR REPLACE INTO {table} VALUES (?, ?)", batch)
        (inserted,) = con.execute(
            "SELECT count(*) FROM new WHERE NOT EXISTS (SELECT 1 FROM old WHERE old.id = new.id)"
        ).fetchone()
        (changed,) = con.execute(
            "SELECT count(*) FROM new JOIN old ON old.id = new.id WHERE old.digest <> new.digest"
        ).fetchone()
        (deleted,) = con.execute(
            "SELECT count(*) FROM old WHERE NOT EXISTS (SELECT 1 FROM new WHERE new.id = old.id)"
        ).fetchone()
    finally:
        con.close()
        scratch.unlink(missing_ok=True)
    return IdDiff(inserted, changed, deleted)


class CaughtUpStep(StepBase):
    """One action, after freeze.end: the caught-up writes counted per collection for the report
    (collections with no change are not listed), then the original backup files removed."""

    title = (
        "caught-up writes, by _id (after the freeze: the original backup against the caught-up one)"
    )
    kind = "caught-up"
    phase: Phase = "after"

    def __init__(self, state: RunState, replaced: list[str]) -> None:
        super().__init__(state)
        self.replaced = replaced

    def plan(self, ctx: RunContext) -> list[Action]:
        return [
            self.action(
                "caught-up",
                "count what the application inserted, changed and deleted between the backup and "
                "the freeze, by _id (the original backup files against the caught-up ones), then "
                "remove the originals",
            )
        ]

    def apply(self, ctx: RunContext, action: Action) -> Result:
        root = Path(self.state.report.backup["dir"])
        database = ctx.plan.target.database
        manifest = Manifest.load(root)
        caught: dict[str, dict[str, Any]] = {}
        for name in self.replaced:
            old = superseded_documents(root, database, name)
            entry = manifest.collection(database, name)
            if old is None or entry is None:
                continue
            caught[name] = self._count(ctx, old, root, entry, name)
        remove_side(root)
        result = {"caught_up": caught}
        self.resume(ctx, action, result)
        for name, c in sorted(caught.items()):
            ctx.out.info(f"  {name}: {caught_up_counts(c)} between the backup and the freeze")
        return result

    def resume(self, ctx: RunContext, action: Action, result: Result) -> None:
        self.state.report.freeze["caught_up"] = result["caught_up"]

    def _count(
        self, ctx: RunContext, old: Path, root: Path, entry: Any, name: str
    ) -> dict[str, Any]:
        started = time.monotonic()
        counts: dict[str, Any] = {
            "documents_before": hashed_count(self.state.report.backup["content_hashes"][name]),
            "documents_at_freeze": entry.count,
        }
        new = documents_file(root, entry)
        try:
            diff = diff_by_id(
                iter_file_documents(old),
                iter_file_documents(new),
                ctx.paths.run_dir / "caught-up.sqlite",
            )
            counts.update(asdict(diff))
        except DumpEncrypted:
            counts.update(
                inserted=None,
                changed=None,
                deleted=None,
                by_id="not counted: the backup is encrypted (the run has no identity to read it)",
            )
        counts["seconds"] = round(time.monotonic() - started, 3)
        return counts
