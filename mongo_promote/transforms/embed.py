"""Fold a child collection into a map field of its parent (MessageTranslation -> translations).

The pure core (`pick_key`, `map_child`, `fold_group`, `iter_folded`) decides what every parent
receives; the update driver (`embed_into_shadow`), the dry-run (`plan_embed`) and the copy-time
merge (transforms/stream.py) all go through `fold_group`, and the validator can consume
`iter_folded`: one definition of "what the fold should produce". `with_map` splices a map into a
parent's raw BSON, so a merge at copy time can keep every other byte.
"""

from __future__ import annotations

import calendar
import copy
import datetime as dt
import struct
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

import bson
from bson.codec_options import CodecOptions, DatetimeConversion
from bson.datetime_ms import DatetimeMS
from bson.decimal128 import Decimal128
from bson.errors import InvalidDocument
from bson.objectid import ObjectId
from bson.timestamp import Timestamp
from pymongo import UpdateOne
from pymongo.collection import Collection as MongoCollection
from pymongo.database import Database
from pymongo.errors import BulkWriteError

from mongo_promote.errors import OperationFailed
from mongo_promote.plan import EmbedSpec

NOW = "$now"
RECENCY_FIELD = "updatedAt"
SAMPLE_LIMIT = 20
# FerretDB 1.24 (SQLite) never answers an `update` command carrying 100 statements or more, and
# stays stuck afterwards; smaller commands cost mongod next to nothing.
UPDATES_PER_COMMAND = 64

# How children are decoded: aware UTC datetimes (so `$now` compares with stored values) and
# out-of-range dates kept as DatetimeMS instead of failing the run. The validator should decode
# the folded maps with the same options to compare like with like.
CODEC: CodecOptions[dict[str, Any]] = CodecOptions(
    tz_aware=True, datetime_conversion=DatetimeConversion.DATETIME_AUTO
)

Progress = Callable[[int], None]
_Doc = TypeVar("_Doc")
ParentLookup = Callable[[Sequence[Any]], Iterable[Any]]


class EmbedError(OperationFailed):
    """The fold cannot be done as the plan asks (duplicates/orphans under `fail`, a bad reply)."""

    def __init__(self, message: str, stats: EmbedStats | None = None) -> None:
        super().__init__(message)
        self.stats = stats


@dataclass
class MappedChild:
    """The value one child contributes, and the plain-mapped fields it lacked (to be reported)."""

    value: dict[str, Any]
    missing: list[str]


@dataclass
class EmbedStats:
    """What the fold did; every child read ends up in exactly one of folded/duplicates/orphans/
    invalid_keys/no_key (folded counting (parent, key) pairs written)."""

    children_read: int = 0
    parents_seen: int = 0
    folded: int = 0
    parents_updated: int = 0
    duplicates: int = 0
    duplicate_samples: list[dict[str, Any]] = field(default_factory=list)
    orphans: int = 0
    orphan_samples: list[Any] = field(default_factory=list)
    invalid_keys: int = 0
    invalid_key_samples: list[dict[str, Any]] = field(default_factory=list)
    no_key: int = 0
    no_key_samples: list[Any] = field(default_factory=list)
    missing_fields: dict[str, int] = field(default_factory=dict)
    missing_samples: list[dict[str, Any]] = field(default_factory=list)
    null_maps_replaced: int = 0
    non_map_parents: int = 0
    non_map_samples: list[dict[str, Any]] = field(default_factory=list)

    def sample(self, bucket: list[Any], item: Any) -> None:
        """Reports show a few examples, never an unbounded list."""
        if len(bucket) < SAMPLE_LIMIT:
            bucket.append(item)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe view for report.json (ObjectIds and dates as strings)."""
        return jsonable(asdict(self))


# ---------------------------------------------------------------- pure core


def run_timestamp() -> dt.datetime:
    """The one `$now` of a run: UTC, truncated to what BSON stores (milliseconds)."""
    return bson_time(dt.datetime.now(dt.UTC))


def bson_time(moment: dt.datetime) -> dt.datetime:
    """A datetime exactly as it reads back from BSON (aware UTC, millisecond precision)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    moment = moment.astimezone(dt.UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def get_path(doc: Mapping[str, Any], path: str) -> tuple[bool, Any]:
    """(found, value) of a dotted path through sub-documents; arrays are not traversed."""
    node: Any = doc
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _first_present(doc: Mapping[str, Any], names: Sequence[str]) -> tuple[bool, Any]:
    """A null counts as absent: fallbacks exist precisely to skip empty legacy fields."""
    for name in names:
        found, value = get_path(doc, name)
        if found and value is not None:
            return True, value
    return False, None


def pick_key(child: Mapping[str, Any], spec: EmbedSpec) -> Any:
    """The map key of a child: its first present non-null key field, or None.

    Not necessarily a string: `invalid_key_reason` judges it, so bad keys are reported, not guessed.
    """
    return _first_present(child, spec.key.source)[1]


def invalid_key_reason(key: Any) -> str | None:
    """Why a key cannot be a field name in a document (None when it can)."""
    if not isinstance(key, str):
        return f"not a string ({type(key).__name__})"
    if not key:
        return "empty"
    if key.startswith("$"):
        return "starts with '$'"
    if "." in key:
        return "contains '.'"
    if "\x00" in key:
        return "contains NUL"
    return None


def map_child(child: Mapping[str, Any], spec: EmbedSpec, now: dt.datetime) -> MappedChild:
    """Build the embedded value in the plan's field order, applying fallbacks and defaults."""
    value: dict[str, Any] = {}
    missing: list[str] = []
    for name, mapping in spec.fields.items():
        found, got = _first_present(child, mapping.source)
        if found:
            value[name] = got
        elif mapping.has_default:
            default = mapping.default
            value[name] = bson_time(now) if default == NOW else copy.deepcopy(default)
        elif not mapping.optional:
            missing.append(name)
    return MappedChild(value, missing)


def bson_key(value: Any) -> tuple[int, Any]:
    """A hashable key that orders values like MongoDB does across types (null < numbers < strings
    < objects < arrays < binary < ObjectId < bool < dates < timestamps < regex).

    Grouping and tie-breaking both use it, so 1 and 1.0 are one parent (as on the server) while
    True and 1 are not.
    """
    if value is None:
        return (1, 0)
    if isinstance(value, bool):
        return (8, value)
    if isinstance(value, int | float):
        return (2, value)
    if isinstance(value, Decimal128):
        return (2, value.to_decimal())
    if isinstance(value, str):
        return (3, value)
    if isinstance(value, ObjectId):
        return (7, value.binary)
    if isinstance(value, dt.datetime):
        return (9, _millis(value))
    if isinstance(value, DatetimeMS):
        return (9, int(value))
    if isinstance(value, Timestamp):
        return (10, (value.time, value.inc))
    rank = 4 if isinstance(value, Mapping) else 5 if isinstance(value, list) else 6
    try:
        return (rank, bson.encode({"v": value}))
    except (TypeError, ValueError, InvalidDocument):
        return (rank, repr(value).encode())


def _millis(moment: dt.datetime) -> int:
    """Naive datetimes are UTC, as BSON encodes them."""
    return calendar.timegm(moment.utctimetuple()) * 1000 + moment.microsecond // 1000


def _rank_latest(child: Mapping[str, Any]) -> tuple[Any, ...]:
    """Greatest wins: a dated child beats an undated one, then later updatedAt, then greater _id."""
    found, when = get_path(child, RECENCY_FIELD)
    dated = found and when is not None
    return (dated, bson_key(when) if dated else (0, 0), bson_key(child.get("_id")))


def _rank_first(child: Mapping[str, Any]) -> tuple[Any, ...]:
    """Smallest wins: a dated child beats an undated one, then earlier updatedAt, then lower _id."""
    found, when = get_path(child, RECENCY_FIELD)
    dated = found and when is not None
    return (not dated, bson_key(when) if dated else (0, 0), bson_key(child.get("_id")))


def _choose(group: list[Mapping[str, Any]], policy: str) -> Mapping[str, Any]:
    if policy == "first":
        return min(group, key=_rank_first)
    return max(group, key=_rank_latest)


def fold_group(
    parent_id: Any,
    children: Iterable[Mapping[str, Any]],
    spec: EmbedSpec,
    now: dt.datetime,
    stats: EmbedStats,
    *,
    tolerate_duplicates: bool = False,
) -> dict[str, dict[str, Any]]:
    """Key -> embedded value for one parent's children; keyless, invalid and losing children are
    counted in `stats` and left out. `on_duplicate_key: fail` raises unless `tolerate_duplicates`
    (the dry-run counts them all instead of stopping at the first)."""
    by_key = _bucket_by_key(children, spec, stats)
    failures: list[dict[str, Any]] = []
    folded: dict[str, dict[str, Any]] = {}
    for key, group in by_key.items():
        winner = group[0] if len(group) == 1 else _choose(group, spec.on_duplicate_key)
        if len(group) > 1:
            failures.append(_record_duplicate(parent_id, key, winner, group, stats))
        mapped = map_child(winner, spec, now)
        _record_missing(winner, mapped.missing, stats)
        folded[key] = mapped.value
    if failures and spec.on_duplicate_key == "fail" and not tolerate_duplicates:
        raise EmbedError(
            f"{spec.source}: duplicate keys for {spec.into} {parent_id!r} "
            f"(on_duplicate_key: fail): {jsonable(failures[:5])}",
            stats,
        )
    return folded


def _bucket_by_key(
    children: Iterable[Mapping[str, Any]], spec: EmbedSpec, stats: EmbedStats
) -> dict[str, list[Mapping[str, Any]]]:
    by_key: dict[str, list[Mapping[str, Any]]] = {}
    for child in children:
        key = pick_key(child, spec)
        if key is None:
            stats.no_key += 1
            stats.sample(stats.no_key_samples, child.get("_id"))
            continue
        reason = invalid_key_reason(key)
        if reason is not None:
            stats.invalid_keys += 1
            stats.sample(
                stats.invalid_key_samples, {"child": child.get("_id"), "key": key, "reason": reason}
            )
            continue
        by_key.setdefault(key, []).append(child)
    return by_key


def _record_duplicate(
    parent_id: Any,
    key: str,
    winner: Mapping[str, Any],
    group: list[Mapping[str, Any]],
    stats: EmbedStats,
) -> dict[str, Any]:
    losers = [c.get("_id") for c in group if c is not winner]
    stats.duplicates += len(losers)
    entry = {"parent": parent_id, "key": key, "winner": winner.get("_id"), "losers": losers}
    stats.sample(stats.duplicate_samples, entry)
    return entry


def _record_missing(child: Mapping[str, Any], missing: list[str], stats: EmbedStats) -> None:
    for name in missing:
        stats.missing_fields[name] = stats.missing_fields.get(name, 0) + 1
    if missing:
        stats.sample(stats.missing_samples, {"child": child.get("_id"), "fields": missing})


def group_by_parent(
    children: Iterable[Mapping[str, Any]], match_field: str
) -> Iterator[tuple[Any, list[Mapping[str, Any]]]]:
    """Contiguous runs of children with the same parent id (input sorted by the match field).

    A run that goes backwards means the input was not sorted as assumed (e.g. a collection default
    collation): folding on would split a parent, so it stops instead.
    """
    current: tuple[int, Any] | None = None
    run_parent: Any = None
    run: list[Mapping[str, Any]] = []
    for child in children:
        parent = get_path(child, match_field)[1]
        key = bson_key(parent)
        if run and key == current:
            run.append(child)
            continue
        if run:
            yield run_parent, run
            if current is not None and _before(key, current):
                raise EmbedError(
                    f"children are not sorted by {match_field!r} (a collection collation?): "
                    f"{parent!r} came after {run_parent!r}; folding on would split a parent"
                )
        current, run_parent, run = key, parent, [child]
    if run:
        yield run_parent, run


def _before(key: tuple[int, Any], other: tuple[int, Any]) -> bool:
    try:
        return key < other
    except TypeError:  # values the server orders but Python cannot compare: trust the server
        return False


def iter_folded(
    children: Iterable[Mapping[str, Any]],
    spec: EmbedSpec,
    now: dt.datetime,
    stats: EmbedStats,
    *,
    parent_exists: ParentLookup | None = None,
    batch_docs: int = 1000,
    tolerate_duplicates: bool = False,
) -> Iterator[tuple[Any, dict[str, dict[str, Any]]]]:
    """(parent id, {key: value}) for every parent that gets a non-empty map.

    `children` must be sorted by `spec.match.source`. `parent_exists(ids)` returns which of a batch
    of parent ids exist (None: all do); children of the others are orphans and are not folded.
    Only about `batch_docs` children are held at a time.
    """
    pending: list[tuple[Any, list[Mapping[str, Any]]]] = []
    held = 0
    for parent, group in group_by_parent(children, spec.match.source):
        stats.children_read += len(group)
        stats.parents_seen += 1
        pending.append((parent, group))
        held += len(group)
        if held >= batch_docs:
            yield from _fold_batch(pending, spec, now, stats, parent_exists, tolerate_duplicates)
            pending, held = [], 0
    yield from _fold_batch(pending, spec, now, stats, parent_exists, tolerate_duplicates)


def _fold_batch(
    pending: list[tuple[Any, list[Mapping[str, Any]]]],
    spec: EmbedSpec,
    now: dt.datetime,
    stats: EmbedStats,
    parent_exists: ParentLookup | None,
    tolerate_duplicates: bool,
) -> Iterator[tuple[Any, dict[str, dict[str, Any]]]]:
    present = _present(pending, parent_exists)
    for parent, group in pending:
        if parent is None or (present is not None and bson_key(parent) not in present):
            stats.orphans += len(group)
            for child in group:
                stats.sample(stats.orphan_samples, child.get("_id"))
            continue
        folded = fold_group(
            parent, group, spec, now, stats, tolerate_duplicates=tolerate_duplicates
        )
        if folded:
            yield parent, folded


def _present(
    pending: list[tuple[Any, list[Mapping[str, Any]]]], parent_exists: ParentLookup | None
) -> set[tuple[int, Any]] | None:
    if parent_exists is None or not pending:
        return None
    ids = [parent for parent, _ in pending if parent is not None]
    return {bson_key(found) for found in parent_exists(ids)} if ids else set()


# ---------------------------------------------------------------- streaming driver


def child_cursor(source_db: Database[Any], spec: EmbedSpec, *, batch_docs: int = 1000) -> Any:
    """The children, read from the SOURCE, sorted so each parent's children are contiguous.

    Only the fields the fold reads are fetched. A collection with a default collation is read with
    the simple one, so the order is the binary one `group_by_parent` checks.
    """
    coll = source_db.get_collection(spec.source, codec_options=CODEC)
    return coll.find(
        {},
        _projection(spec),
        sort=[(spec.match.source, 1), ("_id", 1)],
        batch_size=batch_docs,
        allow_disk_use=True,
        **_binary_order(coll),
    )


def _binary_order(coll: MongoCollection[Any]) -> dict[str, Any]:
    """Sort options that give BSON's binary order even on a collection with a default collation
    (FerretDB has no collations, and must not be sent one)."""
    return {"collation": {"locale": "simple"}} if coll.options().get("collation") else {}


def _projection(spec: EmbedSpec) -> dict[str, int]:
    """Every path the fold reads; one under another listed path is dropped (path collision)."""
    paths = {"_id", spec.match.source, RECENCY_FIELD, *spec.key.source}
    for mapping in spec.fields.values():
        paths.update(mapping.source)
    kept = sorted(p for p in paths if not any(p.startswith(q + ".") for q in paths))
    return dict.fromkeys(kept, 1)


def parent_lookup(parents: MongoCollection[Any], match_into: str) -> ParentLookup:
    """Which of a batch of parent ids exist in `parents`: one indexed query per batch."""

    def exists(ids: Sequence[Any]) -> list[Any]:
        found = parents.find({match_into: {"$in": list(ids)}}, {match_into: 1})
        return [get_path(doc, match_into)[1] for doc in found]

    return exists


def embed_into_shadow(
    source_db: Database[Any],
    shadow_coll: MongoCollection[Any],
    spec: EmbedSpec,
    *,
    now: dt.datetime,
    parent_source_coll: MongoCollection[Any] | None = None,
    batch_docs: int = 1000,
    progress: Progress | None = None,
) -> EmbedStats:
    """Fold `spec.source` (read from the source database, never the target) into `shadow_coll`.

    Each parent gets one `$set` of `<as>.<key>` paths (plain dotted $set: FerretDB has no update
    pipelines, $merge or $lookup), sent in unordered bulk batches. Orphans are looked up in
    `parent_source_coll` (default: the shadow itself) and never written. Raises EmbedError after
    the scan when `on_orphan: fail` and orphans were found.
    """
    stats = EmbedStats()
    lookup = parent_lookup(parent_source_coll or shadow_coll, spec.match.into)
    cursor = _counted(child_cursor(source_db, spec, batch_docs=batch_docs), progress, batch_docs)
    folded = iter_folded(cursor, spec, now, stats, parent_exists=lookup, batch_docs=batch_docs)
    _write_folded(shadow_coll, spec, folded, stats, batch_docs, write=True)
    _check_orphans(spec, stats)
    return stats


def _check_orphans(spec: EmbedSpec, stats: EmbedStats) -> None:
    """`on_orphan: fail` is judged after the whole scan, so the error counts every orphan."""
    if spec.on_orphan == "fail" and stats.orphans:
        raise EmbedError(
            f"{spec.source}: {stats.orphans} children have no {spec.into} "
            f"(on_orphan: fail); e.g. {jsonable(stats.orphan_samples[:5])}",
            stats,
        )


def plan_embed(
    source_db: Database[Any], spec: EmbedSpec, *, batch_docs: int = 1000
) -> dict[str, Any]:
    """Dry-run: what `embed_into_shadow` would do, computed by the same code against the SOURCE
    parents, writing nothing. Duplicates under `fail` are all counted rather than raised."""
    stats = EmbedStats()
    parents = source_db.get_collection(spec.into, codec_options=CODEC)
    lookup = parent_lookup(parents, spec.match.into)
    cursor = child_cursor(source_db, spec, batch_docs=batch_docs)
    folded = iter_folded(
        cursor,
        spec,
        run_timestamp(),
        stats,
        parent_exists=lookup,
        batch_docs=batch_docs,
        tolerate_duplicates=True,
    )
    _write_folded(parents, spec, folded, stats, batch_docs, write=False)
    result = stats.to_dict()
    result["would_fail"] = _would_fail(spec, stats)
    return result


def _would_fail(spec: EmbedSpec, stats: EmbedStats) -> list[str]:
    reasons = []
    if spec.on_duplicate_key == "fail" and stats.duplicates:
        reasons.append(f"{stats.duplicates} duplicate children (on_duplicate_key: fail)")
    if spec.on_orphan == "fail" and stats.orphans:
        reasons.append(f"{stats.orphans} orphan children (on_orphan: fail)")
    return reasons


def _counted(docs: Iterable[_Doc], progress: Progress | None, every: int) -> Iterator[_Doc]:
    """Pass documents through, telling `progress` how many more were read every `every` of them."""
    if progress is None:
        yield from docs
        return
    done = 0
    for doc in docs:
        yield doc
        done += 1
        if done == every:
            progress(done)
            done = 0
    if done:
        progress(done)


def _write_folded(
    parents: MongoCollection[Any],
    spec: EmbedSpec,
    folded: Iterable[tuple[Any, dict[str, dict[str, Any]]]],
    stats: EmbedStats,
    batch_docs: int,
    *,
    write: bool,
) -> None:
    """Batch the per-parent maps into bulk updates (or, for the dry-run, only count them)."""
    batch: list[tuple[Any, dict[str, dict[str, Any]]]] = []
    pairs = 0
    for parent, values in folded:
        batch.append((parent, values))
        pairs += len(values)
        if pairs >= batch_docs:
            _flush(parents, spec, batch, stats, write=write)
            batch, pairs = [], 0
    if batch:
        _flush(parents, spec, batch, stats, write=write)


def _flush(
    parents: MongoCollection[Any],
    spec: EmbedSpec,
    batch: list[tuple[Any, dict[str, dict[str, Any]]]],
    stats: EmbedStats,
    *,
    write: bool,
) -> None:
    """One bulk write for a batch of parents, after checking none holds a non-map `as` field
    (`$set: {"translations.fr": ...}` on `translations: null` is an error that, on FerretDB,
    also aborts the rest of the batch)."""
    blocked = _non_map_values(parents, spec, [parent for parent, _ in batch])
    ops: list[UpdateOne] = []
    pairs = 0
    for parent, values in batch:
        update = _update_for(parent, values, blocked, spec, stats)
        if update is not None:
            ops.append(UpdateOne({spec.match.into: parent}, update))
            pairs += len(values)
    if not write:
        stats.folded += pairs
        stats.parents_updated += len(ops)
        return
    matched = _bulk(parents, ops, spec)
    if matched != len(ops):
        raise EmbedError(
            f"{spec.into}: {len(ops) - matched} parents vanished from {parents.name} mid-fold",
            stats,
        )
    stats.folded += pairs
    stats.parents_updated += matched


def _update_for(
    parent: Any,
    values: dict[str, dict[str, Any]],
    blocked: dict[tuple[int, Any], Any],
    spec: EmbedSpec,
    stats: EmbedStats,
) -> dict[str, Any] | None:
    """Dotted `$set` per key (keeps keys the parent already has); a null map is replaced whole;
    any other non-map value is reported and left alone rather than overwritten."""
    pkey = bson_key(parent)
    if pkey not in blocked:
        return {"$set": {f"{spec.as_field}.{key}": value for key, value in values.items()}}
    current = blocked[pkey]
    if current is None:
        stats.null_maps_replaced += 1
        return {"$set": {spec.as_field: values}}
    stats.non_map_parents += 1
    stats.sample(
        stats.non_map_samples,
        {"parent": parent, "type": type(current).__name__, "keys": sorted(values)},
    )
    return None


def _non_map_values(
    parents: MongoCollection[Any], spec: EmbedSpec, ids: list[Any]
) -> dict[tuple[int, Any], Any]:
    """Parent id -> current value, for parents whose `as` field exists but is not a document."""
    query = {
        spec.match.into: {"$in": ids},
        spec.as_field: {"$exists": True, "$not": {"$type": "object"}},
    }
    found = parents.find(query, {spec.match.into: 1, spec.as_field: 1})
    return {
        bson_key(get_path(doc, spec.match.into)[1]): get_path(doc, spec.as_field)[1]
        for doc in found
    }


def _bulk(parents: MongoCollection[Any], ops: list[UpdateOne], spec: EmbedSpec) -> int:
    """Unordered bulk writes of at most UPDATES_PER_COMMAND statements; returns parents matched."""
    return sum(
        _bulk_command(parents, ops[i : i + UPDATES_PER_COMMAND], spec)
        for i in range(0, len(ops), UPDATES_PER_COMMAND)
    )


def _bulk_command(parents: MongoCollection[Any], ops: list[UpdateOne], spec: EmbedSpec) -> int:
    try:
        result = parents.bulk_write(ops, ordered=False)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])[:3]
        raise EmbedError(f"{spec.into}: the server rejected part of the fold: {errors}") from None
    except KeyError as exc:  # pymongo on a FerretDB reply that carries write errors without counts
        raise EmbedError(
            f"{spec.into}: the server rejected part of the fold (incomplete reply: {exc})"
        ) from None
    return result.matched_count


# ---------------------------------------------------------------- BSON splicing

_FIXED_SIZE = {0x01: 8, 0x06: 0, 0x07: 12, 0x08: 1, 0x09: 8, 0x0A: 0, 0x10: 4, 0x11: 8, 0x12: 8}
_FIXED_SIZE.update({0x13: 16, 0x7F: 0, 0xFF: 0})
_EMBEDDED_DOC, _NULL = 0x03, 0x0A


def with_map(data: bytes, field: str, values: Mapping[str, Any]) -> tuple[bytes, str]:
    """Set `field.<key>` for each key in a BSON document's bytes, as `$set` would.

    Returns the new bytes and what happened: "added" (no such field), "merged" (into an existing
    sub-document, its other entries byte for byte), "null" (a null replaced by the map), or
    "non_map" (any other value: bytes returned unchanged).
    """
    for name, kind, _start, end, value_start in bson_elements(data):
        if name != field:
            continue
        if kind == _EMBEDDED_DOC:
            inner = set_elements(data[value_start:end], _encoded(values))
            return set_elements(data, {field: bytes([kind]) + _cstring(field) + inner}), "merged"
        if kind == _NULL:
            return set_elements(data, _encoded({field: dict(values)})), "null"
        return data, "non_map"
    return set_elements(data, _encoded({field: dict(values)})), "added"


def bson_elements(data: bytes) -> Iterator[tuple[str, int, int, int, int]]:
    """(name, type, element start, element end, value start) of each top-level element."""
    pos, last = 4, len(data) - 1
    while pos < last:
        kind = data[pos]
        name_end = data.index(b"\x00", pos + 1)
        value_start = name_end + 1
        end = _value_end(data, value_start, kind)
        yield data[pos + 1 : name_end].decode("utf-8"), kind, pos, end, value_start
        pos = end


def _value_end(data: bytes, pos: int, kind: int) -> int:
    if kind in _FIXED_SIZE:
        return pos + _FIXED_SIZE[kind]
    if kind in (0x02, 0x0D, 0x0E):  # string, code, symbol: int32 length + bytes
        return pos + 4 + _int32(data, pos)
    if kind in (0x03, 0x04, 0x0F):  # document, array, code with scope: int32 total length
        return pos + _int32(data, pos)
    if kind == 0x05:  # binary: int32 length + subtype + bytes
        return pos + 5 + _int32(data, pos)
    if kind == 0x0B:  # regex: two C strings
        return data.index(b"\x00", data.index(b"\x00", pos) + 1) + 1
    if kind == 0x0C:  # DBPointer: string + 12-byte id
        return pos + 4 + _int32(data, pos) + 12
    raise EmbedError(f"unknown BSON type 0x{kind:02x} in a parent document")


def set_elements(data: bytes, elements: Mapping[str, bytes]) -> bytes:
    """Replace the named elements where they stand and append the others, in the given order."""
    pending = dict(elements)
    parts: list[bytes] = []
    copied = 4
    for name, _, start, end, _ in bson_elements(data):
        if name in pending:
            parts += [data[copied:start], pending.pop(name)]
            copied = end
    parts += [data[copied:-1], *pending.values()]
    return _document(b"".join(parts))


def _encoded(values: Mapping[str, Any]) -> dict[str, bytes]:
    """Each entry as its own BSON element bytes."""
    return {
        name: bson.encode({name: value}, codec_options=CODEC)[4:-1]
        for name, value in values.items()
    }


def _document(elements: bytes) -> bytes:
    return struct.pack("<i", len(elements) + 5) + elements + b"\x00"


def _cstring(text: str) -> bytes:
    return text.encode("utf-8") + b"\x00"


def _int32(data: bytes, pos: int) -> int:
    return int(struct.unpack_from("<i", data, pos)[0])


# ---------------------------------------------------------------- reporting helpers


def jsonable(value: Any) -> Any:
    """Plain JSON types: ids and dates become strings, containers are walked."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return str(value)
