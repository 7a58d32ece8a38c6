"""The embed's pure fold: map children to values, choose among duplicates, settle existing keys."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from mongo_promote.domain.plan import EmbedSpec
from mongo_promote.domain.transforms.bsonbytes import (
    SAMPLE_LIMIT,
    before,
    bson_key,
    bson_time,
    get_path,
    jsonable,
)
from mongo_promote.errors import OperationFailed

NOW = "$now"
RECENCY_FIELD = "updatedAt"
MAX_BSON_SIZE = 16 * 1024 * 1024  # the most a server stores in one document
OVERSIZE_LISTED = 1000  # parents named one by one in a report (every one, in practice)


class EmbedError(OperationFailed):
    """The fold cannot be done as the plan asks (duplicates/orphans under `fail`, unsorted input)."""

    def __init__(self, message: str, stats: EmbedStats | None = None) -> None:
        super().__init__(message)
        self.stats = stats


@dataclass
class MappedChild:
    """The value one child contributes, and the plain-mapped fields it lacked (to be reported)."""

    value: dict[str, Any]
    missing: list[str]


@dataclass
class Entry:
    """What the fold puts under one key of a parent's map, and its child's `updatedAt` (or None),
    which `on_existing: latest` weighs against an entry the parent already has."""

    value: dict[str, Any]
    updated_at: Any = None


@dataclass
class Settled:
    """One parent's entries against the map it already holds: what to write, and which existing
    keys were kept or replaced."""

    values: dict[str, dict[str, Any]]
    kept: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)


@dataclass
class EmbedStats:
    """What the fold did. Every child read ends up in exactly one of folded, existing_kept,
    duplicates, orphans, invalid_keys, no_key, or a non-map parent; folded counts the
    (parent, key) pairs written, existing_replaced among them."""

    children_read: int = 0
    parents_seen: int = 0
    folded: int = 0
    parents_updated: int = 0
    existing_kept: int = 0
    existing_replaced: int = 0
    existing_samples: list[dict[str, Any]] = field(default_factory=list)
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
    # parents the fold would push past 16 MB (on_oversize): each with its size now and after
    # folding everything, and the keys left out (all of them under `report` and `fail`)
    oversize_parents: int = 0
    oversize_skipped: int = 0  # (parent, key) entries left out
    oversized: list[dict[str, Any]] = field(default_factory=list)

    def oversize(self, parent: Any, size: int, after: int, skipped: list[str]) -> None:
        self.oversize_parents += 1
        self.oversize_skipped += len(skipped)
        if len(self.oversized) < OVERSIZE_LISTED:
            self.oversized.append(
                {"_id": parent, "size": size, "size_after": after, "skipped": skipped}
            )

    def sample(self, bucket: list[Any], item: Any) -> None:
        """Reports show a few examples, never an unbounded list."""
        if len(bucket) < SAMPLE_LIMIT:
            bucket.append(item)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe view for report.json (ObjectIds and dates as strings)."""
        return jsonable(asdict(self))


# ---------------------------------------------------------------- one child


def _first_present(doc: Mapping[str, Any], names: Sequence[str]) -> tuple[bool, Any]:
    """A null counts as absent: fallbacks exist precisely to skip empty legacy fields."""
    plain = type(doc) is dict
    for name in names:
        # absent and null alike give None: one dict lookup where the name has no dot
        value = doc.get(name) if plain and "." not in name else get_path(doc, name)[1]
        if value is not None:
            return True, value
    return False, None


@dataclass(frozen=True)
class _Field:
    """One field of the embedded value, ready for the loop that runs once per child."""

    name: str
    sources: tuple[str, ...]
    dotted: bool  # a source is a dotted path (the dict lookup shortcut does not apply)
    has_default: bool
    default: Any
    optional: bool


_COMPILED: dict[int, tuple[EmbedSpec, tuple[_Field, ...]]] = {}


def _fields(spec: EmbedSpec) -> tuple[_Field, ...]:
    """The spec's field mappings as plain tuples, built once per spec (the spec is frozen)."""
    known = _COMPILED.get(id(spec))
    if known is None or known[0] is not spec:
        compiled = tuple(
            _Field(
                name,
                tuple(m.source),
                any("." in source for source in m.source),
                m.has_default,
                m.default,
                m.optional,
            )
            for name, m in spec.fields.items()
        )
        known = _COMPILED[id(spec)] = (spec, compiled)
    return known[1]


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
    plain = type(child) is dict
    for f in _fields(spec):
        got = None
        if plain and not f.dotted:  # once per field of every child: plain lookups, inline
            for source in f.sources:
                got = child.get(source)
                if got is not None:
                    break
        else:
            got = _first_present(child, f.sources)[1]
        if got is not None:
            value[f.name] = got
        elif f.has_default:
            value[f.name] = bson_time(now) if f.default == NOW else copy.deepcopy(f.default)
        elif not f.optional:
            missing.append(f.name)
    return MappedChild(value, missing)


def recency(doc: Any) -> Any:
    """A document's `updatedAt`, or None (absent, null, or not a document at all)."""
    if not isinstance(doc, Mapping):
        return None
    return get_path(doc, RECENCY_FIELD)[1]


# ---------------------------------------------------------------- one parent's children


def _rank_latest(child: Mapping[str, Any]) -> tuple[Any, ...]:
    """Greatest wins: a dated child beats an undated one, then later updatedAt, then greater _id."""
    when = recency(child)
    dated = when is not None
    return (dated, bson_key(when) if dated else (0, 0), bson_key(child.get("_id")))


def _rank_first(child: Mapping[str, Any]) -> tuple[Any, ...]:
    """Smallest wins: a dated child beats an undated one, then earlier updatedAt, then lower _id."""
    when = recency(child)
    dated = when is not None
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
) -> dict[str, Entry]:
    """Key -> entry for one parent's children; keyless, invalid and losing children are counted
    in `stats` and left out. `on_duplicate_key: fail` raises unless `tolerate_duplicates` (the
    dry-run and the validator count them all instead of stopping at the first)."""
    by_key = _bucket_by_key(children, spec, stats)
    failures: list[dict[str, Any]] = []
    folded: dict[str, Entry] = {}
    for key, group in by_key.items():
        winner = group[0] if len(group) == 1 else _choose(group, spec.on_duplicate_key)
        if len(group) > 1:
            failures.append(_record_duplicate(parent_id, key, winner, group, stats))
        mapped = map_child(winner, spec, now)
        _record_missing(winner, mapped.missing, stats)
        folded[key] = Entry(mapped.value, recency(winner))
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


# ---------------------------------------------------------------- keys the parent already has


def settle(current: Any, entries: Mapping[str, Entry], policy: str) -> Settled:
    """Which entries to write into a parent whose map field holds `current` (`on_existing`).

    A key the map lacks is always written; for one it has: `overwrite` writes the child's entry,
    `keep` keeps the existing one, `latest` keeps whichever `updatedAt` is newer (a tie keeps the
    existing entry, a side without one loses, neither: the child's). Existing keys no child has
    are never touched. A `current` that is not a map (absent, null, other) has no keys to keep.
    """
    existing = current if isinstance(current, Mapping) else {}
    settled = Settled({})
    for key, entry in entries.items():
        if key not in existing:
            settled.values[key] = entry.value
        elif _keeps_existing(existing[key], entry, policy):
            settled.kept.append(key)
        else:
            settled.values[key] = entry.value
            settled.replaced.append(key)
    return settled


def _keeps_existing(existing: Any, entry: Entry, policy: str) -> bool:
    if policy == "overwrite":
        return False
    if policy == "keep":
        return True
    theirs, ours = recency(existing), entry.updated_at
    if theirs is None:
        return False
    if ours is None:
        return True
    return not before(bson_key(theirs), bson_key(ours))


def fitting(
    values: dict[str, dict[str, Any]], fits: Callable[[dict[str, dict[str, Any]]], bool], policy: str
) -> dict[str, dict[str, Any]]:
    """The entries a parent can take under `on_oversize` when all of them would not fit:
    `report`: none; `skip_children`: each entry in map order that still fits with those kept
    before it. `fits(values)` says whether the parent with those entries stays within 16 MB:
    the copy measures its bytes, the reference (oracle) its encoding, so both choose alike."""
    if policy == "report":
        return {}
    kept: dict[str, dict[str, Any]] = {}
    for key, value in values.items():
        if fits({**kept, key: value}):
            kept[key] = value
    return kept


def without_skipped(settled: Settled, values: dict[str, dict[str, Any]]) -> Settled:
    """`settled` once `fitting` left entries out: a replaced key left out keeps its entry."""
    left_out = [k for k in settled.values if k not in values]
    return Settled(
        values,
        settled.kept + [k for k in settled.replaced if k in left_out],
        [k for k in settled.replaced if k in values],
    )


def record_settled(stats: EmbedStats, parent: Any, settled: Settled) -> None:
    """Count the existing keys a parent kept or had replaced, with a few examples."""
    stats.existing_kept += len(settled.kept)
    stats.existing_replaced += len(settled.replaced)
    if settled.kept or settled.replaced:
        stats.sample(
            stats.existing_samples,
            {"parent": parent, "kept": settled.kept, "replaced": settled.replaced},
        )


# ---------------------------------------------------------------- children of many parents


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
            if current is not None and before(key, current):
                raise EmbedError(
                    f"children are not sorted by {match_field!r} (a collection collation?): "
                    f"{parent!r} came after {run_parent!r}; folding on would split a parent"
                )
        current, run_parent, run = key, parent, [child]
    if run:
        yield run_parent, run


def would_fail(spec: EmbedSpec, stats: EmbedStats) -> list[str]:
    """The reasons the plan's `fail` policies would stop a run with these counts."""
    reasons = []
    if spec.on_duplicate_key == "fail" and stats.duplicates:
        reasons.append(f"{stats.duplicates} duplicate children (on_duplicate_key: fail)")
    if spec.on_orphan == "fail" and stats.orphans:
        reasons.append(f"{stats.orphans} orphan children (on_orphan: fail)")
    if spec.on_oversize == "fail" and stats.oversize_parents:
        reasons.append(
            f"{stats.oversize_parents} {spec.into} document(s) past 16 MB once folded "
            "(on_oversize: fail)"
        )
    return reasons
