"""The streaming driver: transforms applied on the way into the shadow, one pass, inserts only.

Why not copy first and update the shadow afterwards? Each per-parent `updateOne` is a second
write of the document, and on FerretDB v1 (SQLite) an update by `_id` costs ~20 ms and bulk
updates of a hundred operations stall the server. Folding while copying writes every parent
once, touches the server with plain inserts, and leaves untouched documents as raw bytes.
The run (steps/copy.py), the dry-run (transforms/effects.py) and the validator all go through
`FoldMerge`: one definition of what each parent receives.
"""

from __future__ import annotations

import datetime as dt
import queue
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import bson
from bson.errors import InvalidBSON
from bson.raw_bson import RawBSONDocument
from pymongo.collection import Collection
from pymongo.database import Database

from mongo_promote.adapters.mongo import RAW, first_reply_bounded
from mongo_promote.checksum import ContentHash
from mongo_promote.domain.plan import EmbedSpec, Plan, RewriteSpec
from mongo_promote.domain.transforms.bsonbytes import (
    CODEC,
    before,
    bson_key,
    element,
    get_path,
    locate,
    with_map,
)
from mongo_promote.domain.transforms.fold import (
    MAX_BSON_SIZE,
    RECENCY_FIELD,
    EmbedError,
    EmbedStats,
    Entry,
    Settled,
    fitting,
    fold_group,
    group_by_parent,
    record_settled,
    settle,
    without_skipped,
    would_fail,
)
from mongo_promote.domain.transforms.oracle import Verification
from mongo_promote.domain.transforms.rewrite import RewriteStats, account_rewrite

T = TypeVar("T")


CHILD_BATCH = 1000


# ---------------------------------------------------------------- reading ahead


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


_END = object()


READ_AHEAD_CHUNK = 200  # documents per hand-over (the copy sizes its chunks by bytes)


def read_ahead(docs: Iterable[T], *, chunk: int = READ_AHEAD_CHUNK) -> Iterator[T]:
    """`docs` iterated on a thread, one chunk ahead of the consumer.

    A pymongo cursor asks the server for its next reply only once its buffer is empty, and then
    waits: read ahead, that wait (and the server's work behind it: a sort, a scan) overlaps the
    caller's processing of the previous chunk. One chunk waits at most, so memory stays bounded:
    besides the cursor's reply, up to three chunks are held (the one the consumer is on, the one
    waiting, the one the thread is filling). Chunks are small beside a reply: with 1,000
    documents a chunk, four copies at once could hold 12,000 documents more at their peak, and
    the peak grew from scale 10 to 100 as every copy came to read a collection larger than a
    reply (issue 20, BENCHMARKS.md). The thread stops when the consumer stops, at its next
    hand-over.
    """
    handed: queue.Queue[Any] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def hand(item: Any) -> bool:
        while not stop.is_set():
            try:
                handed.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            batch: list[T] = []
            for doc in docs:
                batch.append(doc)
                if len(batch) >= chunk:
                    if not hand(batch):
                        return
                    batch = []
            if (not batch or hand(batch)) and hand(_END):
                return
        except BaseException as exc:  # handed over, raised in the consumer
            hand(_Failed(exc))

    worker = threading.Thread(target=produce, name="read-ahead", daemon=True)
    worker.start()
    try:
        while True:
            item = handed.get()
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield from item
    finally:
        stop.set()
        worker.join()


# ---------------------------------------------------------------- children, from the source


def child_cursor(
    source_db: Database[Any], spec: EmbedSpec, seen: ContentHash, *, batch_docs: int = CHILD_BATCH
) -> Iterator[dict[str, Any]]:
    """The children, read from the SOURCE, sorted so each parent's children are contiguous.

    Only the fields the fold reads are fetched. A collection with a default collation is read with
    the simple one, so the order is the binary one `group_by_parent` checks. Each child's bytes
    go into `seen` as they pass (what the fold relied on: `--resume` compares `children_hash`).
    """
    coll = source_db.client.get_database(source_db.name).get_collection(
        spec.source, codec_options=RAW
    )
    cursor = coll.find(
        {},
        _child_projection(spec),
        sort=[(spec.match.source, 1), ("_id", 1)],
        batch_size=batch_docs,
        allow_disk_use=True,
        **_binary_order(coll),
    )
    for raw in first_reply_bounded(cursor, coll):  # sorted: the first reply waits for the sort
        data = raw.raw
        seen.add(data)
        yield bson.decode(data, codec_options=CODEC)


def child_documents(source_db: Database[Any], spec: EmbedSpec, parent: Any) -> list[dict[str, Any]]:
    """The children of one parent (its match value), as `child_cursor` reads them, by `_id`."""
    coll = source_db.client.get_database(source_db.name).get_collection(
        spec.source, codec_options=CODEC
    )
    found = coll.find({spec.match.source: parent}, _child_projection(spec), sort=[("_id", 1)])
    return list(found)


def children_hash(source_db: Database[Any], spec: EmbedSpec) -> str:
    """The content hash of what an embed reads of its children (the fields the fold uses), as
    `child_cursor` hashes it on its way: order-independent, so read here in natural order."""
    coll = source_db.client.get_database(source_db.name).get_collection(
        spec.source, codec_options=RAW
    )
    found = ContentHash()
    with coll.find({}, _child_projection(spec), batch_size=CHILD_BATCH) as cursor:
        found.update_many(bytes(doc.raw) for doc in cursor)
    return found.hexdigest()


def _binary_order(coll: Collection[Any]) -> dict[str, Any]:
    """Sort options that give BSON's binary order even on a collection with a default collation
    (FerretDB has no collations, and must not be sent one)."""
    return {"collation": {"locale": "simple"}} if coll.options().get("collation") else {}


def _child_projection(spec: EmbedSpec) -> dict[str, int]:
    """Every path the fold reads; one under another listed path is dropped (path collision)."""
    paths = {"_id", spec.match.source, RECENCY_FIELD, *spec.key.source}
    for mapping in spec.fields.values():
        paths.update(mapping.source)
    kept = sorted(p for p in paths if not any(p.startswith(q + ".") for q in paths))
    return dict.fromkeys(kept, 1)


# ---------------------------------------------------------------- the merge join


class FoldMerge:
    """One embed's children merged with its parents as they stream past, both sorted by parent id.

    The merge itself finds the orphans (children whose parent never comes by), so no lookup
    query is needed: on FerretDB a `$in` on `_id` scans the collection, once per batch. Parents
    must be asked for in increasing `bson_key` order of their match value.
    """

    def __init__(
        self,
        spec: EmbedSpec,
        now: dt.datetime,
        children: Iterable[Mapping[str, Any]],
        *,
        tolerate_duplicates: bool = False,
    ) -> None:
        self.spec = spec
        self.now = now
        self.stats = EmbedStats()
        self.children_seen = ContentHash()  # filled by `from_source` as the children pass
        self.tolerate_duplicates = tolerate_duplicates
        self._groups = group_by_parent(read_ahead(children), spec.match.source)
        self._head: tuple[Any, list[Mapping[str, Any]]] | None = None
        self._advance()

    @classmethod
    def from_source(
        cls, source_db: Database[Any], spec: EmbedSpec, now: dt.datetime, **options: Any
    ) -> FoldMerge:
        """The merge over `spec.source` read from the source database (see `child_cursor`)."""
        seen = ContentHash()
        merge = cls(spec, now, child_cursor(source_db, spec, seen), **options)
        merge.children_seen = seen
        return merge

    def _advance(self) -> None:
        self._head = next(self._groups, None)
        if self._head is not None:
            self.stats.children_read += len(self._head[1])
            self.stats.parents_seen += 1

    def entries_for(self, parent: Any) -> dict[str, Entry]:
        """Key -> entry for this parent (empty when no valid child names it)."""
        key = bson_key(parent)
        while self._head is not None and (
            self._head[0] is None or before(bson_key(self._head[0]), key)
        ):
            self._orphans(self._head[1])
            self._advance()
        if self._head is None or bson_key(self._head[0]) != key:
            return {}
        group = self._head[1]
        self._advance()
        return fold_group(
            parent,
            group,
            self.spec,
            self.now,
            self.stats,
            tolerate_duplicates=self.tolerate_duplicates,
        )

    def drain(self) -> EmbedStats:
        """Children left after the last parent have no parent either; the final statistics."""
        while self._head is not None:
            self._orphans(self._head[1])
            self._advance()
        return self.stats

    def _orphans(self, group: list[Mapping[str, Any]]) -> None:
        self.stats.orphans += len(group)
        for child in group:
            self.stats.sample(self.stats.orphan_samples, child.get("_id"))


# ---------------------------------------------------------------- one collection's stream


@dataclass
class StreamTransformer:
    """Turns the stream of a collection's source documents into what its shadow must hold.

    `tolerant` (the dry-run) counts what `fail` policies would stop on instead of raising.
    `verification` (the run) holds every document a transform touched to the decoded reference
    (`oracle.expected`) before it leaves: the byte edits are checked as they are made.
    """

    collection: str
    folds: list[FoldMerge] = field(default_factory=list)
    rewrites: list[tuple[RewriteSpec, RewriteStats]] = field(default_factory=list)
    tolerant: bool = False
    # documents a rewrite could not decode (invalid UTF-8): copied unchanged, listed by _id
    unreadable: list[dict[str, str]] = field(default_factory=list)
    verification: Verification | None = None

    @classmethod
    def for_collection(
        cls,
        plan: Plan,
        name: str,
        source_db: Database[Any],
        now: dt.datetime,
        *,
        tolerant: bool = False,
        verify: bool = False,
    ) -> StreamTransformer | None:
        """The plan's transforms of collection `name` (None when it has none)."""
        embeds = [e for e in plan.embeds if e.into == name]
        rewrites = [r for r in plan.rewrites if r.collection == name]
        if not embeds and not rewrites:
            return None
        built = cls.build(name, embeds, rewrites, source_db, now, tolerant=tolerant)
        built.verification = Verification() if verify else None
        return built

    @classmethod
    def build(
        cls,
        name: str,
        embeds: list[EmbedSpec],
        rewrites: list[RewriteSpec],
        source_db: Database[Any],
        now: dt.datetime,
        *,
        tolerant: bool = False,
    ) -> StreamTransformer:
        folds = [
            FoldMerge.from_source(source_db, spec, now, tolerate_duplicates=tolerant)
            for spec in embeds
        ]
        return cls(name, folds, [(r, RewriteStats()) for r in rewrites], tolerant)

    @property
    def sort(self) -> list[tuple[str, int]] | None:
        """Parents must come in the order the folds are produced (by the match field)."""
        if not self.folds:
            return None
        return [(self.folds[0].spec.match.into, 1), ("_id", 1)]

    def apply(self, raw: RawBSONDocument) -> RawBSONDocument:
        """The same object when nothing changes (its bytes go through untouched).

        A fold edits the parent's bytes in place (`with_map`): every other field keeps its exact
        encoding. Only a document a rewrite changes is decoded and encoded again.
        """
        data = bytes(raw.raw)  # no copy: RawBSONDocument keeps bytes
        changed = False
        folded: list[tuple[EmbedSpec, dict[str, Entry]]] = []
        for fold in self.folds:
            parent = _parent_id(raw, data, fold.spec.match.into)
            entries = fold.entries_for(parent)
            if entries:
                data, done, applied = _fold_into(data, fold, parent, entries, self.tolerant)
                folded.append((fold.spec, applied))
                changed = changed or done
        doc: dict[str, Any] | None = None
        rewritten = unreadable = False
        for spec, stats in self.rewrites:
            if doc is None and spec.find.encode() not in data:
                stats.documents_scanned += 1  # cannot contain it: no need to decode
                continue
            try:
                doc = doc if doc is not None else bson.decode(data, codec_options=CODEC)
            except (InvalidBSON, UnicodeDecodeError) as exc:
                self.unreadable.append({"_id": repr(element(data, "_id")[1]), "error": str(exc)})
                doc, rewritten, unreadable = None, False, True
                break  # copied unchanged, reported
            changes = account_rewrite(stats, doc, spec).changes
            doc.update(changes)
            rewritten = rewritten or bool(changes)
        if rewritten and doc is not None:
            data, changed = bson.encode(doc, codec_options=CODEC), True
        if changed and len(data) > MAX_BSON_SIZE:
            raise EmbedError(
                f"{self.collection}: document _id {element(data, '_id')[1]!r} would be "
                f"{len(data):,} bytes after the transforms, over MongoDB's {MAX_BSON_SIZE:,}-byte "
                "limit; nothing was cut over"
            )
        if self.verification is not None and (folded or doc is not None) and not unreadable:
            # a document no transform looked at is its own source bytes: nothing to check
            self.verification.check(
                bytes(raw.raw), data, folded, [spec for spec, _ in self.rewrites]
            )
        return RawBSONDocument(data) if changed else raw

    def children_hashes(self) -> dict[str, str]:
        """Each embed's child collection as the folds read it (content hash of the fields they
        use), once `finish` has drained them: what a resume checks the source against."""
        return {fold.spec.source: fold.children_seen.hexdigest() for fold in self.folds}

    def finish(self) -> list[dict[str, Any]]:
        """Statistics for the report; a policy that says `fail` fails here, before any cutover
        (or, when tolerant, is listed under `would_fail`)."""
        stats: list[dict[str, Any]] = []
        for fold in self.folds:
            spec, folded = fold.spec, fold.drain()
            if spec.on_orphan == "fail" and folded.orphans and not self.tolerant:
                raise EmbedError(
                    f"{spec.source}: {folded.orphans} children have no "
                    f"{spec.into} (on_orphan: fail)",
                    folded,
                )
            entry: dict[str, Any] = {
                "embed": spec.source,
                "into": self.collection,
                "as": spec.as_field,
                "on_oversize": spec.on_oversize,
            }
            entry.update(folded.to_dict())
            if self.tolerant:
                entry["would_fail"] = would_fail(spec, folded)
            stats.append(entry)
        for rewrite, rstats in self.rewrites:
            stats.append(
                {
                    "rewrite": self.collection,
                    "find": rewrite.find,
                    "replace": rewrite.replace,
                    **rstats.to_dict(),
                    "unreadable_copied_unchanged": self.unreadable[:100],
                }
            )
        return stats


def _fold_into(
    data: bytes, fold: FoldMerge, parent: Any, entries: dict[str, Entry], tolerant: bool
) -> tuple[bytes, bool, dict[str, Entry]]:
    """Write a parent's entries into its map field as `$set: {"<as>.<key>": value}` would, for the
    keys `on_existing` lets through; a map field holding anything but a map (or null) is left as
    it is and reported; a parent that would pass 16 MB goes as `on_oversize` says. Returns the
    bytes, whether they changed, and the entries written (what the reference must expect)."""
    spec, stats = fold.spec, fold.stats
    at = locate(data, spec.as_field)
    found, current = element(data, spec.as_field, at=at)
    if found and current is not None and not isinstance(current, Mapping):
        stats.non_map_parents += 1
        stats.sample(stats.non_map_samples, {"parent": parent, "keys": sorted(entries)})
        return data, False, entries
    settled = settle(current, entries, spec.on_existing)
    out, outcome = with_map(data, spec.as_field, settled.values, at=at) if settled.values else (
        data, "unchanged"
    )  # fmt: skip
    if len(out) > MAX_BSON_SIZE:
        out, outcome, settled = _oversized(data, at, fold, parent, settled, len(out), tolerant)
    record_settled(stats, parent, settled)
    applied = {key: entries[key] for key in settled.values}
    if not settled.values:
        return data, False, applied
    if outcome == "null":
        stats.null_maps_replaced += 1
    stats.folded += len(settled.values)
    stats.parents_updated += 1
    return out, True, applied


def _oversized(
    data: bytes,
    at: Any,
    fold: FoldMerge,
    parent: Any,
    settled: Settled,
    after: int,
    tolerant: bool,
) -> tuple[bytes, str, Settled]:
    """A parent every entry would push past 16 MB, under `on_oversize`: `fail` stops the copy
    (a dry-run lists it and writes none of its entries), `skip_children` keeps the entries that
    fit, `report` none; each such parent is counted and listed with its sizes."""
    spec = fold.spec
    doc_id = element(data, "_id")[1]
    if spec.on_oversize == "fail" and not tolerant:
        raise EmbedError(
            f"{spec.into}: document _id {doc_id!r} would be {after:,} bytes once {spec.source} is "
            f"folded in ({len(data):,} now), over MongoDB's {MAX_BSON_SIZE:,}-byte limit "
            "(on_oversize: fail; skip_children or report let the run go on); nothing was cut over"
        )
    values: dict[str, dict[str, Any]] = {}
    if spec.on_oversize == "skip_children":
        values = fitting(
            settled.values,
            lambda v: len(with_map(data, spec.as_field, v, at=at)[0]) <= MAX_BSON_SIZE,
            spec.on_oversize,
        )
    fold.stats.oversize(doc_id, len(data), after, [k for k in settled.values if k not in values])
    kept = without_skipped(settled, values)
    if not values:
        return data, "unchanged", kept
    out, outcome = with_map(data, spec.as_field, values, at=at)
    return out, outcome, kept


def _parent_id(raw: RawBSONDocument, data: bytes, path: str) -> Any:
    """The parent's match value: a top-level field is read from the bytes alone (decoding the whole
    document to find it cost more than the fold)."""
    if "." in path:
        return _decoded(get_path(raw, path)[1])
    return element(data, path)[1]


def _decoded(value: Any) -> Any:
    """A match value that is itself a document, decoded like the children's (for samples)."""
    if isinstance(value, RawBSONDocument):
        return bson.decode(value.raw, codec_options=CODEC)
    return value
