"""Content checks: counts, raw content hashes, and transformed documents held to transform(source)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import bson
from bson.errors import InvalidBSON
from pymongo.collection import Collection

from mongo_promote.adapters.mongo import content_hash, first_reply_bounded
from mongo_promote.checksum import ContentHash, hashed_count
from mongo_promote.domain.analysis import CollectionAction
from mongo_promote.domain.plan import EmbedSpec, RewriteSpec
from mongo_promote.domain.transforms.bsonbytes import CODEC, bson_key, get_path
from mongo_promote.domain.transforms.oracle import difference
from mongo_promote.domain.transforms.oracle import expected as transformed
from mongo_promote.domain.transforms.rewrite import find_remaining
from mongo_promote.domain.transforms.stream import FoldMerge
from mongo_promote.state.context import RunContext
from mongo_promote.steps.validate.checks import BATCH, SAMPLES, Check


def count_check(name: str, expected: int, found: int) -> Check:
    return Check("count", name, expected == found, f"source {expected}, target {found}")


def checksum_check(
    name: str,
    source: Collection[Any],
    target: Collection[Any],
    done: ReadBack | None,
    copied: str | None,
) -> tuple[ContentHash, Check]:
    """Order-independent hash of raw BSON: equal means byte-identical documents, types and order.
    The target's hash is the one read right after its copy (`done`), else it is read now; the
    source's is the one its copy computed as the bytes passed, else it is read now."""
    found = done.content if done is not None else content_hash(target)
    expected = copied or content_hash(source).hexdigest()
    digest = found.hexdigest()
    return found, Check(
        "checksum", name, expected == digest, f"source {expected[:24]}…, target {digest[:24]}…"
    )


def written_checks(
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
        samples += compare_transformed(
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


def transformed_checks(
    ctx: RunContext, action: CollectionAction, target: Collection[Any]
) -> list[Check]:
    """Every target document must equal its source document with the plan's transforms applied."""
    plan = ctx.plan
    embeds = [e for e in plan.embeds if e.into == action.name]
    rewrites = [r for r in plan.rewrites if r.collection == action.name]
    comparison = compare_transformed(ctx, action, target, embeds, rewrites)
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
class Comparison:
    compared: int = 0
    pairs: int = 0
    missing: int = 0
    mismatches: list[Any] = field(default_factory=list)


def compare_transformed(
    ctx: RunContext,
    action: CollectionAction,
    target: Collection[Any],
    embeds: list[EmbedSpec],
    rewrites: list[RewriteSpec],
) -> Comparison:
    """A merge of two scans in the same order: no per-batch lookups (FerretDB scans for `$in`)."""
    source_db = ctx.source_client[ctx.plan.source.database]
    match_field = embeds[0].match.into if embeds else "_id"
    order = [(match_field, 1), ("_id", 1)]
    merges = [
        FoldMerge.from_source(source_db, e, ctx.now, tolerate_duplicates=True) for e in embeds
    ]
    source = source_db.get_collection(action.name, codec_options=CODEC)
    plain_target = target.with_options(codec_options=CODEC)
    result = Comparison()
    pairs = merge_sorted(
        first_reply_bounded(source.find({}, sort=order, batch_size=BATCH), source),
        first_reply_bounded(plain_target.find({}, sort=order, batch_size=BATCH), plain_target),
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
        expected = expected_document(doc, merges, rewrites, result)
        result.compared += 1
        if actual is None:
            result.missing += 1
            result.mismatches.append({"_id": source_id, "problem": "missing in target"})
        elif bson.encode(expected, codec_options=CODEC) != bson.encode(actual, codec_options=CODEC):
            result.mismatches.append({"_id": source_id, "problem": difference(expected, actual)})
    return result


def merge_sorted(
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


def expected_document(
    doc: dict[str, Any],
    merges: list[FoldMerge],
    rewrites: list[RewriteSpec],
    result: Comparison,
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
    return ReadBack(content_hash(target, each=_seeing(remaining)), remaining)
