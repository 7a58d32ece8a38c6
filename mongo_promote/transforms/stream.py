"""Transforms applied on the way into the shadow: one pass, inserts only, whatever the server.

Why not copy first and update the shadow afterwards? Each per-parent `updateOne` is a second
write of the document, and on FerretDB v1 (SQLite) an update by `_id` costs ~20 ms and bulk
updates of a hundred operations stall the server. Folding while copying writes every parent
once, touches the server with plain inserts, and leaves untouched documents as raw bytes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import bson
from bson.raw_bson import RawBSONDocument
from pymongo.database import Database

from mongo_promote.plan import EmbedSpec, Plan, RewriteSpec
from mongo_promote.transforms.embed import (
    CODEC,
    EmbedError,
    EmbedStats,
    bson_key,
    child_cursor,
    fold_group,
    group_by_parent,
    with_map,
)
from mongo_promote.transforms.rewrite import RewriteStats, account_rewrite

SAMPLES = 20


@dataclass
class _Fold:
    """One embed, merged with the parents as they stream past: both sides sorted by parent id.

    The merge itself finds the orphans (children whose parent never comes by), so no lookup
    query is needed: on FerretDB a `$in` on `_id` scans the collection, once per batch.
    """

    spec: EmbedSpec
    now: Any
    stats: EmbedStats
    groups: Iterator[tuple[Any, list[Mapping[str, Any]]]]
    head: tuple[Any, list[Mapping[str, Any]]] | None = None

    def advance(self) -> None:
        self.head = next(self.groups, None)
        if self.head is not None:
            self.stats.children_read += len(self.head[1])
            self.stats.parents_seen += 1

    def values_for(self, parent: Any) -> dict[str, Any] | None:
        key = bson_key(parent)
        while self.head is not None and (self.head[0] is None or bson_key(self.head[0]) < key):
            self._orphans(self.head[1])
            self.advance()
        if self.head is None or bson_key(self.head[0]) != key:
            return None
        group = self.head[1]
        self.advance()
        return fold_group(parent, group, self.spec, self.now, self.stats) or None

    def drain(self) -> None:
        """Children left after the last parent have no parent either."""
        while self.head is not None:
            self._orphans(self.head[1])
            self.advance()

    def _orphans(self, group: list[Mapping[str, Any]]) -> None:
        self.stats.orphans += len(group)
        for child in group:
            self.stats.sample(self.stats.orphan_samples, child.get("_id"))


@dataclass
class StreamTransformer:
    """Turns the stream of a collection's source documents into what its shadow must hold."""

    collection: str
    folds: list[_Fold] = field(default_factory=list)
    rewrites: list[tuple[RewriteSpec, RewriteStats]] = field(default_factory=list)

    @classmethod
    def for_collection(
        cls, plan: Plan, name: str, source_db: Database[Any], now: Any
    ) -> StreamTransformer | None:
        embeds = [e for e in plan.embeds if e.into == name]
        rewrites = [r for r in plan.rewrites if r.collection == name]
        if not embeds and not rewrites:
            return None
        plain = source_db.client.get_database(source_db.name)
        folds = [_start_fold(plain, spec, now) for spec in embeds]
        return cls(name, folds, [(r, RewriteStats()) for r in rewrites])

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
        for fold in self.folds:
            parent = _field(raw, fold.spec.match.into)
            values = fold.values_for(parent)
            if values:
                data, outcome = with_map(data, fold.spec.as_field, values)
                _account_fold(fold, outcome, parent, values)
                changed = changed or outcome != "non_map"
        doc: dict[str, Any] | None = None
        rewritten = False
        for spec, stats in self.rewrites:
            if doc is None and spec.find.encode() not in data:
                stats.documents_scanned += 1  # cannot contain it: no need to decode
                continue
            doc = doc if doc is not None else bson.decode(data, codec_options=CODEC)
            changes = account_rewrite(stats, doc, spec).changes
            doc.update(changes)
            rewritten = rewritten or bool(changes)
        if rewritten and doc is not None:
            return RawBSONDocument(bson.encode(doc, codec_options=CODEC))
        return RawBSONDocument(data) if changed else raw

    def finish(self) -> list[dict[str, Any]]:
        """Statistics for the report; a policy that says `fail` fails here, before any cutover."""
        stats: list[dict[str, Any]] = []
        for fold in self.folds:
            fold.drain()
            if fold.spec.on_orphan == "fail" and fold.stats.orphans:
                raise EmbedError(
                    f"{fold.spec.source}: {fold.stats.orphans} children have no "
                    f"{fold.spec.into} (on_orphan: fail)",
                    fold.stats,
                )
            stats.append(
                {
                    "embed": fold.spec.source,
                    "into": self.collection,
                    "as": fold.spec.as_field,
                    **fold.stats.to_dict(),
                }
            )
        for spec, rstats in self.rewrites:
            stats.append(
                {
                    "rewrite": self.collection,
                    "find": spec.find,
                    "replace": spec.replace,
                    **rstats.to_dict(),
                }
            )
        return stats


def _start_fold(source_db: Database[Any], spec: EmbedSpec, now: Any) -> _Fold:
    groups = group_by_parent(child_cursor(source_db, spec), spec.match.source)
    fold = _Fold(spec, now, EmbedStats(), groups)
    fold.advance()
    return fold


def _account_fold(fold: _Fold, outcome: str, parent: Any, values: dict[str, Any]) -> None:
    """`with_map` did what `$set: {"<as>.<key>": value}` would; a non-map value is left and reported."""
    if outcome == "non_map":
        fold.stats.non_map_parents += 1
        fold.stats.sample(fold.stats.non_map_samples, {"parent": parent, "keys": sorted(values)})
        return
    if outcome == "null":
        fold.stats.null_maps_replaced += 1
    fold.stats.folded += len(values)
    fold.stats.parents_updated += 1


def _field(raw: RawBSONDocument, path: str) -> Any:
    node: Any = raw
    for part in path.split("."):
        try:
            node = node[part]
        except (KeyError, TypeError):
            return None
    if isinstance(node, RawBSONDocument):
        return bson.decode(node.raw, codec_options=CODEC)
    return node
