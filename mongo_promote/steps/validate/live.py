"""`validate` on the live target after cutover: the same checks, what production changed since, and a
URL audit of every application collection (a rewrite's `find` string left anywhere, not only in rewritten fields)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import bson
from pymongo.collection import Collection

from mongo_promote.adapters.mongo import first_reply_bounded
from mongo_promote.domain.analysis import Actions, CollectionAction
from mongo_promote.domain.inventory import collection_names
from mongo_promote.domain.transforms.bsonbytes import CODEC, bson_key, get_path, jsonable
from mongo_promote.domain.transforms.rewrite import find_remaining
from mongo_promote.domain.transforms.stream import FoldMerge
from mongo_promote.state.context import RunContext
from mongo_promote.steps.validate.checks import BATCH, SAMPLES, Check, ValidationReport
from mongo_promote.steps.validate.content import Comparison, expected_document, merge_sorted
from mongo_promote.steps.validate.step import validate_collections


def validate_live(ctx: RunContext, actions: Actions) -> ValidationReport:
    """The live target against the source, any time after a run (`mongo-promote validate`)."""
    return validate_collections(ctx, actions, {a.name: a.name for a in actions.collections}, {}, {})


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

    @property
    def written(self) -> bool:
        """The application wrote to it since cutover, and nothing the source has is missing."""
        return (self.added or self.changed) > 0 and self.missing == 0

    def describe(self) -> str:
        return (
            f"changed since cutover: {self.added} added, {self.changed} changed (the "
            "application's writes)"
        )

    def check(self) -> Check:
        """ok when untouched; a warning when the application added or changed documents; a
        failure when a document the source has is missing."""
        detail = f"{self.describe()}, {self.missing} missing, {self.unchanged} unchanged"
        if self.missing:
            return Check("changes", self.collection, False, detail, self.samples["missing"])
        samples = self.samples.get("changed", []) + self.samples.get("added", [])
        return Check(
            "changes",
            self.collection,
            not self.written,
            detail,
            samples[:SAMPLES],
            severity="warning" if self.written else "error",
        )


def changes_since_cutover(
    ctx: RunContext, action: CollectionAction, live: str | None = None
) -> Changes:
    """Two scans in the same order, merged: raw bytes compared for plain collections, the source
    with the plan's transforms applied for transformed ones (the run's own `$now`: ctx.now).
    `live`: the target collection to read instead of the one named like the source (a rollback's
    kept-aside one)."""
    ctx.check_cancelled()
    changes = Changes(action.name)
    target = ctx.target_db[live or action.name]
    pairs: Iterator[tuple[bytes | None, bytes | None, Any]]
    if action.transformed:
        pairs = _transformed_pairs(ctx, action, target)
    else:
        order = [("_id", 1)]
        pairs = (
            (_raw(s), _raw(t), s or t)
            for s, t in merge_sorted(
                _sorted(ctx.source_db[action.name], order),
                _sorted(target, order),
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


def _sorted(coll: Collection[Any], order: list[tuple[str, int]]) -> Iterator[Any]:
    """Every document of `coll` in `order`, the first reply (the server's sort) bounded apart."""
    return first_reply_bounded(coll.find({}, sort=order, batch_size=BATCH), coll)


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
    unused = Comparison()
    for doc, actual in merge_sorted(
        _sorted(source_db.get_collection(action.name, codec_options=CODEC), order),
        _sorted(target.with_options(codec_options=CODEC), order),
        lambda d: (bson_key(get_path(d, match_field)[1]), bson_key(d["_id"])),
    ):
        expected = None if doc is None else expected_document(doc, merges, rewrites, unused)
        yield (
            None if expected is None else bson.encode(expected, codec_options=CODEC),
            None if actual is None else bson.encode(actual, codec_options=CODEC),
            doc or actual,
        )


# ------------------------------------------------------------------ the monitoring report and the URL audit

MAX_PATHS = 20  # distinct dotted paths listed per collection (the count covers them all)


@dataclass
class UrlFinding:
    """Where one `find` string still occurs in one collection."""

    collection: str
    cls: str  # the plan's class of the collection (copy, legacy, ...)
    find: str
    documents: int = 0
    paths: dict[str, int] = field(default_factory=dict)  # dotted path -> documents
    samples: list[dict[str, Any]] = field(default_factory=list)  # {_id, path}

    def to_json(self) -> dict[str, Any]:
        return {
            "collection": self.collection,
            "class": self.cls,
            "find": self.find,
            "documents": self.documents,
            "paths": self.paths,
            "samples": jsonable(self.samples),
        }


@dataclass
class MonitoringReport(ValidationReport):
    """The validation report, plus the changes since cutover and the URL audit (new JSON keys)."""

    changes: dict[str, Changes] = field(default_factory=dict)
    url_audit: list[UrlFinding] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            **super().to_json(),
            "changes": {
                name: {
                    "added": c.added,
                    "changed": c.changed,
                    "missing": c.missing,
                    "unchanged": c.unchanged,
                    "samples": jsonable(c.samples),
                }
                for name, c in self.changes.items()
            },
            "url_audit": [f.to_json() for f in self.url_audit],
        }


def monitor(ctx: RunContext, actions: Actions, report: ValidationReport) -> MonitoringReport:
    """`report` (the live validation) with, per promoted collection, what changed since cutover,
    and the URL audit; collections side by side (ctx.workers at once)."""
    result = MonitoringReport(checks=list(report.checks), counts=dict(report.counts))
    with ThreadPoolExecutor(max_workers=max(1, ctx.workers), thread_name_prefix="monitor") as pool:
        changes = list(pool.map(lambda a: changes_since_cutover(ctx, a), actions.collections))
        finds = sorted({r.find for r in ctx.plan.rewrites if r.find not in r.replace})
        names = collection_names(ctx.target_db) if finds else []
        audits = list(pool.map(lambda n: url_audit(ctx, n, finds), names))
    for c in changes:
        result.changes[c.collection] = c
        result.checks.append(c.check())
    result.checks = [_explained(check, result.changes) for check in result.checks]
    for findings in audits:
        for f in findings:
            result.url_audit.append(f)
            result.checks.append(
                Check(
                    "url_audit",
                    f.collection,
                    False,
                    f"{f.documents} document(s) still hold {f.find!r} in "
                    + ", ".join(list(f.paths)[:5])
                    + (" …" if len(f.paths) > 5 else ""),
                    f.samples,
                    severity="warning",
                )
            )
    return result


# differences the application's own writes cause (the checks compare production with the source)
EXPLAINABLE = ("count", "checksum", "content", "rewrite")


def _explained(check: Check, changes: dict[str, Changes]) -> Check:
    """One verdict: after cutover production takes the application's writes, so a count,
    checksum, content or rewrite difference in a collection where documents were only added or
    changed since (none the source has is missing) is a warning that says so, in every row. A
    missing document still fails."""
    c = changes.get(check.collection)
    if check.passed or check.kind not in EXPLAINABLE or c is None or not c.written:
        return check
    return replace(check, severity="warning", detail=f"{c.describe()}: {check.detail}")


def url_audit(ctx: RunContext, name: str, finds: list[str]) -> list[UrlFinding]:
    """Stream the collection as raw BSON; only a document whose bytes hold a `find` is decoded."""
    ctx.check_cancelled()
    needles = [(f, f.encode()) for f in finds]
    findings = {f: UrlFinding(name, ctx.plan.classify(name), f) for f in finds}
    with ctx.target_db[name].find({}, batch_size=BATCH) as cursor:
        for n, raw_doc in enumerate(cursor):
            if n % BATCH == 0:
                ctx.check_cancelled()
            raw = bytes(raw_doc.raw)
            hits = [f for f, needle in needles if needle in raw]
            if hits:
                _locate(bson.decode(raw, codec_options=CODEC), hits, findings)
    return [f for f in findings.values() if f.documents]


def _locate(doc: dict[str, Any], hits: list[str], findings: dict[str, UrlFinding]) -> None:
    for find in hits:
        paths = find_remaining(doc, ["*"], find)
        if not paths:
            continue  # only in a key or the _id: never rewritten, not reported
        finding = findings[find]
        finding.documents += 1
        for path in paths:
            if path in finding.paths or len(finding.paths) < MAX_PATHS:
                finding.paths[path] = finding.paths.get(path, 0) + 1
        if len(finding.samples) < SAMPLES:
            finding.samples.append({"_id": doc["_id"], "path": paths[0]})


# ------------------------------------------------------------------ what a rollback took out


def kept_aside_changes(ctx: RunContext, actions: Actions, kept: dict[str, str]) -> MonitoringReport:
    """`validate --run <rollback>`: each collection the rollback took out of production (`kept`:
    collection -> where it is kept) against the source with the plan's transforms (the rolled-back
    run's `$now`: ctx.now), by `_id`: what the application added, changed and deleted between the
    cutover and the rollback (the source as it is now: a change to staging since shows too).
    Informative: it never fails."""
    by_name = {a.name: a for a in actions.collections}
    report = MonitoringReport()
    for name, aside in sorted(kept.items()):
        action = by_name.get(name)
        if action is None:
            report.checks.append(
                Check("kept_aside", name, True, f"{aside}: not promoted from the source: not compared")
            )
            continue
        c = changes_since_cutover(ctx, action, live=aside)
        report.changes[name] = c
        samples = {k: v for k, v in c.samples.items() if k != "unchanged"}
        report.checks.append(
            Check(
                "kept_aside",
                name,
                True,
                f"{aside} (kept aside, not in production): since the cutover the application "
                f"added {c.added}, changed {c.changed} and deleted {c.missing} document(s); "
                f"{c.unchanged} as the run installed them",
                [samples] if samples else [],
                severity="warning",
            )
        )
    return report
