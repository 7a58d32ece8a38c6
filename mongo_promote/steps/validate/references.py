"""The plan's reference checks: referencing values that find no document on the other side (streaming)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pymongo
from pymongo.collection import Collection

from mongo_promote.adapters.mongo import first_reply_bounded, operation_bound
from mongo_promote.domain.plan import ReferenceCheck
from mongo_promote.domain.transforms.bsonbytes import CODEC, before, bson_key, get_path
from mongo_promote.state.context import RunContext
from mongo_promote.steps.validate.checks import BATCH, SAMPLES, Check


def reference_check(ctx: RunContext, ref: ReferenceCheck, names: dict[str, str]) -> Check:
    """Distinct referencing values that find no document on the other side (after promotion).

    Both sides are read sorted by their field and merged: two streaming reads, whatever their
    size. Values the server does not order the way the merge compares them (arrays, a collation)
    are looked up in batches instead (`$in`, one query per thousand referencing documents)."""
    from_coll, from_field = ref.source.split(".", 1)
    to_coll, to_field = ref.to.split(".", 1)
    referencing = ctx.target_db.get_collection(names.get(from_coll, from_coll), codec_options=CODEC)
    referenced = ctx.target_db.get_collection(names.get(to_coll, to_coll), codec_options=CODEC)
    try:
        found = _dangling_by_merge(referencing, from_field, referenced, to_field)
    except _Unordered:
        found = _dangling_by_lookup(referencing, from_field, referenced, to_field)
    severity = "error" if ref.on_dangling == "fail" else "warning"
    return Check(
        "references",
        f"{ref.source} -> {ref.to}",
        found.dangling == 0,
        f"{found.dangling} dangling of {found.checked} references checked",
        found.samples,
        severity,
    )


@dataclass
class _Dangling:
    checked: int = 0
    dangling: int = 0
    samples: list[Any] = field(default_factory=list)

    def missing(self, value: Any) -> None:
        self.dangling += 1
        if len(self.samples) < SAMPLES:
            self.samples.append(value)


class _Unordered(Exception):
    """A side came in an order the merge cannot follow."""


def _distinct_sorted(coll: Collection[Any], path: str) -> Iterator[tuple[tuple[int, Any], Any]]:
    """Each distinct non-null value of `path`, in increasing `bson_key` order, as the server sorts."""
    projection = {path: 1} if path == "_id" else {path: 1, "_id": 0}
    cursor = coll.find(
        {path: {"$exists": True, "$ne": None}},
        projection,
        sort=[(path, 1)],
        batch_size=10_000,
        allow_disk_use=True,
    )
    last: tuple[int, Any] | None = None
    with cursor:
        for doc in first_reply_bounded(cursor, coll):
            value = get_path(doc, path)[1]
            if value is None:
                continue
            key = bson_key(value)
            if isinstance(value, list | Mapping) or (last is not None and before(key, last)):
                raise _Unordered(path)
            if key != last:
                yield key, value
            last = key


def _dangling_by_merge(
    referencing: Collection[Any], from_field: str, referenced: Collection[Any], to_field: str
) -> _Dangling:
    result = _Dangling()
    targets = _distinct_sorted(referenced, to_field)
    current = next(targets, None)
    for key, value in _distinct_sorted(referencing, from_field):
        result.checked += 1
        while current is not None and before(current[0], key):
            current = next(targets, None)
        if current is None or current[0] != key:
            result.missing(value)
    return result


def _dangling_by_lookup(
    referencing: Collection[Any], from_field: str, referenced: Collection[Any], to_field: str
) -> _Dangling:
    result = _Dangling()
    cursor = referencing.find(
        {from_field: {"$exists": True, "$ne": None}}, {from_field: 1}, batch_size=BATCH
    )
    bound = operation_bound(referenced)  # an `$in` may scan the collection (FerretDB)
    for batch in _batches(cursor):
        values = {bson_key(v): v for d in batch if (v := get_path(d, from_field)[1]) is not None}
        result.checked += len(values)
        with pymongo.timeout(bound):
            found = {
                bson_key(get_path(d, to_field)[1])
                for d in referenced.find({to_field: {"$in": list(values.values())}}, {to_field: 1})
            }
        for key, value in values.items():
            if key not in found:
                result.missing(value)
    return result


def _batches(cursor: Any) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for doc in cursor:
        batch.append(doc)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch
