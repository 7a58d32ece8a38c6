"""STEP 5 of run (and `validate`): prove the target holds what the plan promised: counts, content, transforms, indexes, references."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import bson
from bson.codec_options import CodecOptions
from bson.errors import InvalidBSON
from pymongo.collection import Collection

from mongo_promote.checksum import ContentHash, collection_content_hash, hashed_count
from mongo_promote.domain.analysis import Actions, CollectionAction
from mongo_promote.domain.plan import EmbedSpec, ReferenceCheck, RewriteSpec
from mongo_promote.domain.transforms.bsonbytes import CODEC, before, bson_key, get_path, jsonable
from mongo_promote.domain.transforms.oracle import difference
from mongo_promote.domain.transforms.oracle import expected as transformed
from mongo_promote.domain.transforms.rewrite import find_remaining
from mongo_promote.domain.transforms.stream import FoldMerge
from mongo_promote.errors import OperationFailed
from mongo_promote.state.context import RunContext
from mongo_promote.state.step import Action, Result, RunState, StepBase
from mongo_promote.steps.indexes import index_models

if TYPE_CHECKING:
    from mongo_promote.steps.copy import CopyResult

SAMPLES = 5
BATCH = 1000


@dataclass
class Check:
    kind: str  # count, checksum, content, rewrite, indexes, references
    collection: str
    passed: bool
    detail: str
    samples: list[Any] = field(default_factory=list)
    severity: str = "error"  # a failed "warning" does not fail the run


@dataclass
class ValidationReport:
    checks: list[Check] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    # content hash of each collection checked as it was read (cutover's fingerprint of a shadow)
    hashes: dict[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks if c.severity == "error")

    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.passed and c.severity == "error"]

    def summary(self) -> str:
        failed = self.failures()
        return (
            "; ".join(f"{c.collection} {c.kind}: {c.detail}" for c in failed) or "all checks passed"
        )

    def collection_checks(self) -> dict[str, str]:
        """One word per collection for the summary table."""
        result: dict[str, str] = {}
        for c in self.checks:
            if c.kind in ("count", "checksum", "content"):
                previous = result.get(c.collection, "ok")
                result[c.collection] = previous if c.passed else f"FAILED {c.kind}"
        return result

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "counts": self.counts,
            "hashes": self.hashes,
            "checks": [jsonable(asdict(c)) for c in self.checks],
        }


class ValidateStep(StepBase):
    """One action: every shadow against the source; any failed check stops the run before cutover."""

    title = "validate the shadows against the source"
    builds_shadows = True

    def __init__(self, state: RunState, number: int, analysis: Actions) -> None:
        super().__init__(state, number)
        self.analysis = analysis

    def plan(self, ctx: RunContext) -> list[Action]:
        spec = ctx.plan.validate_
        checks = ["counts"] * spec.counts + ["content"] + ["indexes"]
        checks += ["references"] * bool(spec.references)
        return [
            self.action(
                "validate",
                f"validate {len(self.analysis.collections)} shadow(s) against the source: "
                + ", ".join(checks),
            )
        ]

    def read_back(self, ctx: RunContext, copied: CopyResult) -> None:
        """Read a shadow back as soon as its copy is done (`CopyStep(after_each=...)`), in the
        copy's worker: its read overlaps the copies still running instead of following them.
        Not read when validation would not read it either (counts only, nothing transformed)."""
        if copied.verification is None and not ctx.plan.validate_.checksums:
            return
        # Looked up at call time, so a test can stand between the copy and the read.
        self.state.read_backs[copied.name] = read_back(ctx, copied.name)

    def apply(self, ctx: RunContext, action: Action) -> Result:
        # Looked up at call time, so a test can stand between the run and the check.
        validation = validate_shadows(
            ctx, self.analysis, self.state.copied, read_backs=self.state.read_backs
        )
        result = {"validation": validation.to_json(), "checks": validation.collection_checks()}
        self.resume(ctx, action, result)
        if not validation.passed:
            raise OperationFailed("validation failed before cutover: " + validation.summary())
        return result

    def resume(self, ctx: RunContext, action: Action, result: Result) -> None:
        report = self.state.report
        report.validation = result["validation"]
        self.state.shadow_hashes.update(result["validation"].get("hashes", {}))
        for name, check in result["checks"].items():
            report.collection(name)["check"] = check
        self.state.counts.update(result["validation"]["counts"])


def validate_shadows(
    ctx: RunContext,
    actions: Actions,
    copied: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    read_backs: Mapping[str, ReadBack] | None = None,
) -> ValidationReport:
    """Shadows against the source, before cutover: any failed check stops the run.

    `copied` holds what the copy saw (steps/copy.py): the content hash of the documents it
    wrote and its verification of each transformed one. With it a shadow is read once, raw,
    and its hash compared; without it (a journal from an older version) the source is read
    again and transformed here. `read_backs` are shadows already read that way right after
    their copy; the others are read now.
    """
    names = {a.name: ctx.shadow_name(a.name) for a in actions.collections}
    return _validate(ctx, actions, names, copied or {}, read_backs or {})


def validate_live(ctx: RunContext, actions: Actions) -> ValidationReport:
    """The live target against the source, any time after a run (`mongo-promote validate`)."""
    return _validate(ctx, actions, {a.name: a.name for a in actions.collections}, {}, {})


def _validate(
    ctx: RunContext,
    actions: Actions,
    names: dict[str, str],
    copied: Mapping[str, Mapping[str, Any]],
    read_backs: Mapping[str, ReadBack],
) -> ValidationReport:
    """Collections are checked side by side (ctx.workers at once, biggest first so the longest
    starts earliest): each check is independent."""
    report = ValidationReport()
    biggest = sorted(actions.collections, key=lambda a: (a.source_size, a.source_count))[::-1]
    with ThreadPoolExecutor(max_workers=max(1, ctx.workers), thread_name_prefix="validate") as pool:
        futures = {
            a.name: pool.submit(
                _collection_checks,
                ctx,
                a,
                names[a.name],
                copied.get(a.name, {}),
                read_backs.get(a.name),
            )
            for a in biggest
        }
    results = [futures[a.name].result() for a in actions.collections]
    for action, (count, checks, content_hash) in zip(actions.collections, results, strict=True):
        report.counts[action.name] = count
        report.checks.extend(checks)
        if content_hash is not None:
            report.hashes[action.name] = content_hash
    for ref in ctx.plan.validate_.references:
        report.checks.append(_reference_check(ctx, ref, names))
    return report


def _collection_checks(
    ctx: RunContext,
    action: CollectionAction,
    target_name: str,
    copied: Mapping[str, Any],
    done: ReadBack | None = None,
) -> tuple[int, list[Check], str | None]:
    """The collection's checks, and its content hash when one was computed."""
    ctx.check_cancelled()
    ctx.out.detail(f"  validating {action.name}")
    spec = ctx.plan.validate_
    target = ctx.target_db[target_name]
    source = ctx.source_db[action.name]
    checks: list[Check] = []
    found: ContentHash | None = None
    if action.transformed and copied.get("verification") is not None:
        found, content_checks = _written_checks(ctx, action, target, copied, done)
        checks.extend(content_checks)
    elif action.transformed:
        checks.extend(_transformed_checks(ctx, action, target))
    elif spec.checksums:
        found = done.content if done is not None else collection_content_hash(target)
        checks.append(_checksum_check(action.name, source, found, copied.get("content_hash")))
    # Counted on the pass that hashed it, and the source as its copy read it: a count_documents
    # is a whole scan on FerretDB v1. Without those, counted here.
    count = found.count if found is not None else target.count_documents({})
    if spec.counts:
        read = copied.get("count") if found is not None else None
        expected = int(read) if read is not None else source.count_documents({})
        checks.insert(0, _count_check(action.name, expected, count))
    checks.append(_index_check(ctx, action, target))
    return count, checks, found.hexdigest() if found is not None else None


def _count_check(name: str, expected: int, found: int) -> Check:
    return Check("count", name, expected == found, f"source {expected}, target {found}")


def _checksum_check(
    name: str, source: Collection[Any], target: ContentHash, copied: str | None
) -> Check:
    """Order-independent hash of raw BSON: equal means byte-identical documents, types and order.
    The source's hash is the one its copy computed as the bytes passed, else it is read now."""
    expected = copied or collection_content_hash(source).hexdigest()
    found = target.hexdigest()
    return Check(
        "checksum", name, expected == found, f"source {expected[:24]}…, target {found[:24]}…"
    )


def _written_checks(
    ctx: RunContext,
    action: CollectionAction,
    target: Collection[Any],
    copied: Mapping[str, Any],
    done: ReadBack | None = None,
) -> tuple[ContentHash, list[Check]]:
    """A transformed collection, from what its copy proved: each transformed document equal to
    the decoded reference of transform(source) (checked as it passed), and the content hash of
    the documents written. One raw read of the target then proves it holds exactly those; the
    rewrite checks look at the same bytes. A target that differs is compared again document by
    document (source read and transformed here) to name the documents."""
    rewrites = [r for r in ctx.plan.rewrites if r.collection == action.name]
    if done is None:
        done = _read(target, rewrites)
    found, remaining = done.content, done.remaining
    verified: Mapping[str, Any] = copied["verification"]
    written = str(copied["output_hash"])
    same = found.hexdigest() == written
    samples = list(verified["samples"][:SAMPLES])
    if not same:
        samples += _compare_transformed(
            ctx, action, target, [e for e in ctx.plan.embeds if e.into == action.name], rewrites
        ).mismatches[:SAMPLES]
    detail = (
        f"{verified['checked']:,} transformed documents held to transform(source) as they were "
        f"copied ({verified['pairs']:,} embedded pairs), {verified['mismatched']:,} differ; "
        + (
            f"the target holds exactly the {found.count:,} documents written"
            if same
            else f"the target differs from the documents written ({hashed_count(written):,} written, "
            f"{found.count:,} read back)"
        )
    )
    checks = [Check("content", action.name, same and not verified["mismatched"], detail, samples)]
    return found, checks + [r.check(action.name) for r in remaining]


# ------------------------------------------------------------------ transformed collections


def _transformed_checks(
    ctx: RunContext, action: CollectionAction, target: Collection[Any]
) -> list[Check]:
    """Every target document must equal its source document with the plan's transforms applied."""
    plan = ctx.plan
    embeds = [e for e in plan.embeds if e.into == action.name]
    rewrites = [r for r in plan.rewrites if r.collection == action.name]
    comparison = _compare_transformed(ctx, action, target, embeds, rewrites)
    checks = [
        Check(
            "content",
            action.name,
            not comparison.mismatches,
            f"{comparison.compared} documents compared with transform(source), "
            f"{comparison.pairs} embedded pairs verified, {len(comparison.mismatches)} differ"
            + (f", {comparison.missing} missing in target" if comparison.missing else ""),
            comparison.mismatches[:SAMPLES],
        )
    ]
    remaining = _read(target, rewrites).remaining if rewrites else []
    return checks + [r.check(action.name) for r in remaining]


@dataclass
class _Comparison:
    compared: int = 0
    pairs: int = 0
    missing: int = 0
    mismatches: list[Any] = field(default_factory=list)


def _compare_transformed(
    ctx: RunContext,
    action: CollectionAction,
    target: Collection[Any],
    embeds: list[EmbedSpec],
    rewrites: list[RewriteSpec],
) -> _Comparison:
    """A merge of two scans in the same order: no per-batch lookups (FerretDB scans for `$in`)."""
    source_db = ctx.source_client[ctx.plan.source.database]
    match_field = embeds[0].match.into if embeds else "_id"
    order = [(match_field, 1), ("_id", 1)]
    merges = [
        FoldMerge.from_source(source_db, e, ctx.now, tolerate_duplicates=True) for e in embeds
    ]
    source = source_db.get_collection(action.name, codec_options=CODEC)
    plain_target = target.with_options(codec_options=CODEC)
    result = _Comparison()
    pairs = _merge(
        source.find({}, sort=order, batch_size=BATCH),
        plain_target.find({}, sort=order, batch_size=BATCH),
        lambda d: (bson_key(get_path(d, match_field)[1]), bson_key(d["_id"])),
    )
    for n, (doc, actual) in enumerate(pairs):
        if n % BATCH == 0:
            ctx.check_cancelled()
        if doc is None:
            extra = actual or {}
            result.mismatches.append(
                {"_id": extra.get("_id"), "problem": "in target, not in source"}
            )
            continue
        source_id = doc["_id"]
        expected = _expected(doc, merges, rewrites, result)
        result.compared += 1
        if actual is None:
            result.missing += 1
            result.mismatches.append({"_id": source_id, "problem": "missing in target"})
        elif bson.encode(expected, codec_options=CODEC) != bson.encode(actual, codec_options=CODEC):
            result.mismatches.append({"_id": source_id, "problem": difference(expected, actual)})
    return result


def _merge(
    left: Iterator[dict[str, Any]], right: Iterator[dict[str, Any]], key: Any
) -> Iterator[tuple[dict[str, Any] | None, dict[str, Any] | None]]:
    """Pairs of documents with equal keys from two sorted streams; None where one side lacks it."""
    a, b = next(left, None), next(right, None)
    while a is not None or b is not None:
        if b is None or (a is not None and key(a) < key(b)):
            yield a, None
            a = next(left, None)
        elif a is None or key(b) < key(a):
            yield None, b
            b = next(right, None)
        else:
            yield a, b
            a, b = next(left, None), next(right, None)


def _expected(
    doc: dict[str, Any],
    merges: list[FoldMerge],
    rewrites: list[RewriteSpec],
    result: _Comparison,
) -> dict[str, Any]:
    """The source document as the pipeline must have left it (edited in place, see oracle)."""
    folded = [(m.spec, m.entries_for(get_path(doc, m.spec.match.into)[1])) for m in merges]
    result.pairs += sum(len(entries) for _, entries in folded)
    return transformed(doc, folded, rewrites)


@dataclass
class _Remaining:
    """A rewrite's `find` left in its fields, looked for in raw bytes: a document is decoded only
    when `find`'s UTF-8 bytes occur in it somewhere."""

    spec: RewriteSpec
    total: int = 0
    undecodable: int = 0
    samples: list[Any] = field(default_factory=list)

    def see(self, raw: bytes) -> None:
        if self.spec.find in self.spec.replace or self.spec.find.encode() not in raw:
            return
        try:
            doc = bson.decode(raw, codec_options=CODEC)
        except (InvalidBSON, UnicodeDecodeError):
            self.undecodable += 1  # copied unchanged, listed by the copy's report
            return
        paths = find_remaining(doc, self.spec.fields, self.spec.find)
        if paths:
            self.total += 1
            if len(self.samples) < SAMPLES:
                self.samples.append({"_id": doc["_id"], "paths": paths})

    def check(self, name: str) -> Check:
        spec = self.spec
        if spec.find in spec.replace:
            return Check(
                "rewrite",
                name,
                True,
                f"skipped: {spec.replace!r} contains {spec.find!r}",
                severity="warning",
            )
        return Check(
            "rewrite",
            name,
            self.total == 0,
            f"{self.total} documents still contain {spec.find!r} in {', '.join(spec.fields)}"
            + (
                f"; {self.undecodable} undecodable document(s) hold its bytes (copied unchanged)"
                if self.undecodable
                else ""
            ),
            self.samples,
        )


def _seeing(remaining: list[_Remaining]) -> Callable[[bytes], None] | None:
    """One visitor feeding every rewrite check the same bytes (None when there is none)."""
    if not remaining:
        return None

    def each(raw: bytes) -> None:
        for r in remaining:
            r.see(raw)

    return each


@dataclass
class ReadBack:
    """A shadow read once, raw: its content hash, and its rewrite checks run on the same bytes."""

    content: ContentHash
    remaining: list[_Remaining]


def read_back(ctx: RunContext, name: str) -> ReadBack:
    """Collection `name`'s shadow read back as validation reads it, for validation to use later."""
    rewrites = [r for r in ctx.plan.rewrites if r.collection == name]
    return _read(ctx.target_db[ctx.shadow_name(name)], rewrites)


def _read(target: Collection[Any], rewrites: Sequence[RewriteSpec]) -> ReadBack:
    remaining = [_Remaining(r) for r in rewrites]
    return ReadBack(collection_content_hash(target, each=_seeing(remaining)), remaining)


def _batches(cursor: Any) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for doc in cursor:
        batch.append(doc)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


# ------------------------------------------------------------------ indexes and references


def _index_check(ctx: RunContext, action: CollectionAction, target: Collection[Any]) -> Check:
    """Every index the indexes step planned for this collection (after fitting it to the target,
    each change a reported fallback) is there with its keys and options: unique, sparse,
    partialFilterExpression, expireAfterSeconds, collation. An index that lost an option fails."""
    models, _ = index_models(
        action.source_indexes, ctx.plan.indexes.get(action.name, []), ctx.target_caps
    )
    planned = [dict(m.document) for m in models]
    actual = list(target.with_options(codec_options=_PLAIN_INDEX).list_indexes())
    problems = compare_indexes(planned, actual)
    return Check(
        "indexes",
        action.name,
        not problems,
        f"{len(planned) - len(problems)}/{len(planned)} present with their options"
        + (f"; {'; '.join(problems)}" if problems else ""),
        problems,
    )


_PLAIN_INDEX: CodecOptions[dict[str, Any]] = CodecOptions(tz_aware=True)
INDEX_OPTIONS = ("unique", "sparse", "partialFilterExpression", "expireAfterSeconds", "collation")


def compare_indexes(
    planned: Sequence[Mapping[str, Any]], actual: Sequence[Mapping[str, Any]]
) -> list[str]:
    """One line per planned index that is missing or differs (keys, or one of INDEX_OPTIONS)."""
    present = {str(ix["name"]): ix for ix in actual}
    problems = []
    for want in planned:
        name = str(want["name"])
        have = present.get(name)
        if have is None:
            problems.append(f"{name}: missing")
            continue
        if _key_list(want["key"]) != _key_list(have["key"]):
            problems.append(f"{name}: keys {dict(have['key'])} instead of {dict(want['key'])}")
        for option in INDEX_OPTIONS:
            expected, found = _option(want, option), _option(have, option)
            if option == "collation" and isinstance(found, Mapping) and expected is not None:
                # The server fills in the collation's defaults: what was asked must be there.
                found = {k: v for k, v in found.items() if k in expected}
            if expected != found:
                problems.append(f"{name}: {option} is {found!r}, planned {expected!r}")
    return problems


def _key_list(key: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """listIndexes may say 1.0 or Int64(1) where the plan says 1."""
    return [
        (k, int(v) if isinstance(v, int | float) and not isinstance(v, bool) else v)
        for k, v in key.items()
    ]


def _option(spec: Mapping[str, Any], option: str) -> Any:
    value = spec.get(option)
    if option in ("unique", "sparse"):
        return bool(value)
    if option == "expireAfterSeconds" and value is not None:
        return int(value)
    return dict(value) if isinstance(value, Mapping) else value


def _reference_check(ctx: RunContext, ref: ReferenceCheck, names: dict[str, str]) -> Check:
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
        for doc in cursor:
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
    for batch in _batches(cursor):
        values = {bson_key(v): v for d in batch if (v := get_path(d, from_field)[1]) is not None}
        result.checked += len(values)
        found = {
            bson_key(get_path(d, to_field)[1])
            for d in referenced.find({to_field: {"$in": list(values.values())}}, {to_field: 1})
        }
        for key, value in values.items():
            if key not in found:
                result.missing(value)
    return result


# ------------------------------------------------------------------ what production changed since cutover


@dataclass
class Changes:
    """The live collection against transform(source), by _id: the application's writes since cutover
    are expected ("added", "changed"); a document the source has and production lacks is "missing"."""

    collection: str
    unchanged: int = 0
    added: int = 0
    changed: int = 0
    missing: int = 0
    samples: dict[str, list[Any]] = field(default_factory=dict)

    def see(self, kind: str, _id: Any) -> None:
        setattr(self, kind, getattr(self, kind) + 1)
        if kind != "unchanged" and len(found := self.samples.setdefault(kind, [])) < SAMPLES:
            found.append(_id)

    def check(self) -> Check:
        return Check(
            "changes",
            self.collection,
            self.missing == 0,
            f"since cutover: {self.added} added, {self.changed} changed (the application's "
            f"writes), {self.missing} missing, {self.unchanged} unchanged",
            self.samples.get("missing", []),
        )


def changes_since_cutover(ctx: RunContext, action: CollectionAction) -> Changes:
    """Two scans in the same order, merged: raw bytes compared for plain collections, the source
    with the plan's transforms applied for transformed ones (the run's own `$now`: ctx.now)."""
    ctx.check_cancelled()
    changes = Changes(action.name)
    target = ctx.target_db[action.name]
    pairs: Iterator[tuple[bytes | None, bytes | None, Any]]
    if action.transformed:
        pairs = _transformed_pairs(ctx, action, target)
    else:
        order = [("_id", 1)]
        pairs = (
            (_raw(s), _raw(t), s or t)
            for s, t in _merge(
                ctx.source_db[action.name].find({}, sort=order, batch_size=BATCH),
                target.find({}, sort=order, batch_size=BATCH),
                lambda d: bson_key(d["_id"]),
            )
        )
    for n, (expected, actual, doc) in enumerate(pairs):
        if n % BATCH == 0:
            ctx.check_cancelled()
        kind = (
            "added"
            if expected is None
            else "missing"
            if actual is None
            else "unchanged"
            if expected == actual
            else "changed"
        )
        changes.see(kind, doc["_id"])
    return changes


def _raw(doc: Any) -> bytes | None:
    return None if doc is None else bytes(doc.raw)


def _transformed_pairs(
    ctx: RunContext, action: CollectionAction, target: Collection[Any]
) -> Iterator[tuple[bytes | None, bytes | None, Any]]:
    plan = ctx.plan
    embeds = [e for e in plan.embeds if e.into == action.name]
    rewrites = [r for r in plan.rewrites if r.collection == action.name]
    source_db = ctx.source_client[plan.source.database]
    match_field = embeds[0].match.into if embeds else "_id"
    order = [(match_field, 1), ("_id", 1)]
    merges = [
        FoldMerge.from_source(source_db, e, ctx.now, tolerate_duplicates=True) for e in embeds
    ]
    unused = _Comparison()
    for doc, actual in _merge(
        source_db.get_collection(action.name, codec_options=CODEC).find(
            {}, sort=order, batch_size=BATCH
        ),
        target.with_options(codec_options=CODEC).find({}, sort=order, batch_size=BATCH),
        lambda d: (bson_key(get_path(d, match_field)[1]), bson_key(d["_id"])),
    ):
        expected = None if doc is None else _expected(doc, merges, rewrites, unused)
        yield (
            None if expected is None else bson.encode(expected, codec_options=CODEC),
            None if actual is None else bson.encode(actual, codec_options=CODEC),
            doc or actual,
        )
