"""The dry-run's expected effect of the plan's transforms: the run's own streaming merge, writing nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any

import bson
from pymongo.database import Database
from pymongo.errors import OperationFailure

from mongo_promote.adapters.mongo import RAW, first_reply_bounded, long_operation
from mongo_promote.domain.plan import EmbedSpec, Plan
from mongo_promote.domain.transforms.fold import MAX_BSON_SIZE
from mongo_promote.domain.transforms.rewrite import EVERYWHERE
from mongo_promote.domain.transforms.stream import FoldMerge, StreamTransformer, child_documents

PARENT_BATCH = 1000


def expected_effects(
    source_db: Database[Any], plan: Plan, now: dt.datetime
) -> list[dict[str, Any]]:
    """For each embed and each rewrite of the plan, the statistics the run will report.

    Each transformed collection is streamed from the SOURCE in the run's order (by the match
    field) through the run's `StreamTransformer`, the output thrown away: no `$in` lookups, no
    second algorithm. `fail` policies are counted and listed under `would_fail` instead of
    raised. A parent of an embed is read whole, so every one the fold would push past 16 MB is
    named with its exact sizes (`oversized`, on the same pass); a collection only rewritten,
    only the fields its rewrites read. Embeds come first, then rewrites, in plan order.
    """
    names = [e.into for e in plan.embeds] + [r.collection for r in plan.rewrites]
    by_spec: dict[int, dict[str, Any]] = {}
    for name in dict.fromkeys(names):
        by_spec.update(_streamed(source_db, plan, name, now))
    embeds = [by_spec[id(spec)] for spec in plan.embeds]
    rewrites = [{**by_spec[id(spec)], "collection": spec.collection} for spec in plan.rewrites]
    return embeds + rewrites


def _streamed(
    source_db: Database[Any], plan: Plan, name: str, now: dt.datetime
) -> dict[int, dict[str, Any]]:
    """One transformed collection through the run's transformer (tolerant): stats by spec."""
    transformer = StreamTransformer.for_collection(plan, name, source_db, now, tolerant=True)
    if transformer is None:
        return {}
    coll = source_db.client.get_database(source_db.name, codec_options=RAW)[name]
    cursor = coll.find({}, _projection(transformer), sort=transformer.sort, batch_size=PARENT_BATCH)
    with cursor:
        for doc in first_reply_bounded(cursor, coll) if transformer.sort else cursor:
            transformer.apply(doc)
    specs = [f.spec for f in transformer.folds] + [r for r, _ in transformer.rewrites]
    return dict(zip(map(id, specs), transformer.finish(), strict=True))


def oversized_parents(
    source_db: Database[Any], plan: Plan, now: dt.datetime, parents: set[str]
) -> dict[str, list[dict[str, Any]]]:
    """Before a run copies anything: for each embed into one of `parents` (the collections the
    run copies) whose `on_oversize` is `fail`, every parent
    the fold would push past 16 MB (`_id`, size now, size after), exact. Where the source has
    `$bsonSize` the server finds the few parents big enough to be at risk (a bound on what the
    fold could add, from its children's sizes: conservative) and only those are folded here;
    elsewhere (FerretDB v1) the parents and children are streamed once, as the dry-run does."""
    found: dict[str, list[dict[str, Any]]] = {}
    for spec in plan.embeds:
        if spec.on_oversize != "fail" or spec.into not in parents:
            continue
        at_risk = _at_risk(source_db, spec)
        if at_risk is None:
            stats = _streamed(source_db, plan, spec.into, now)
            entry = next(v for v in stats.values() if v.get("embed") == spec.source)
            found[spec.source] = list(entry.get("oversized", []))
        else:
            found[spec.source] = _folded_one_by_one(source_db, plan, spec, at_risk, now)
    return {k: v for k, v in found.items() if v}


def _at_risk(source_db: Database[Any], spec: EmbedSpec) -> list[Any] | None:
    """The match values of the parents whose size leaves less room than the most the fold could
    add to any parent (None: the server has no `$bsonSize`, or no parent can be ruled out).

    What a child adds is at most its key (a value of the child) and, per mapped field, a value
    of the child or the field's default, with their names: (fields + 1) times the child's size
    plus a fixed part. The server sums that per parent and keeps the largest."""
    per_child = len(spec.fields) + 1
    fixed = 16 + sum(4 + len(f) + len(bson.encode({"": m.default})) for f, m in spec.fields.items())
    grow: list[dict[str, Any]] = [
        {"$group": {
            "_id": f"${spec.match.source}",
            "s": {"$sum": {"$bsonSize": "$$ROOT"}},
            "n": {"$sum": 1},
        }},
        {"$group": {
            "_id": None,
            "g": {"$max": {"$add": [{"$multiply": ["$s", per_child]}, {"$multiply": ["$n", fixed]}]}},
        }},
    ]  # fmt: skip
    children, parents = source_db[spec.source], source_db[spec.into]
    try:
        with long_operation(children):
            rows = list(children.aggregate(grow, allowDiskUse=True))
        room = MAX_BSON_SIZE - (int(rows[0]["g"]) if rows else 0) - 16 - len(spec.as_field)
        if room <= 0:
            return None
        big: list[dict[str, Any]] = [{"$match": {"$expr": {"$gt": [{"$bsonSize": "$$ROOT"}, room]}}},
               {"$project": {"m": f"${spec.match.into}"}}]  # fmt: skip
        with long_operation(parents):
            return [row.get("m") for row in parents.aggregate(big, allowDiskUse=True)]
    except OperationFailure:
        return None


def _folded_one_by_one(
    source_db: Database[Any], plan: Plan, spec: EmbedSpec, at_risk: list[Any], now: dt.datetime
) -> list[dict[str, Any]]:
    """Each parent at risk folded with its own children, as the run would: exact sizes."""
    raw_db = source_db.client.get_database(source_db.name, codec_options=RAW)
    found: list[dict[str, Any]] = []
    for value in at_risk:
        children = child_documents(source_db, spec, value)
        merge = FoldMerge(spec, now, children, tolerate_duplicates=True)
        transformer = StreamTransformer(spec.into, [merge], tolerant=True)
        for doc in raw_db[spec.into].find({spec.match.into: value}):
            transformer.apply(doc)
        found.extend(merge.stats.oversized)
    return found


def _projection(transformer: StreamTransformer) -> dict[str, int] | None:
    """The top-level fields the rewrites read or change; everything for a `"*"` rewrite or an
    embed (a parent's whole size decides whether the fold fits in 16 MB)."""
    if transformer.folds:
        return None
    fields = ["_id"]
    for rewrite, _ in transformer.rewrites:
        if any(path.split(".")[0] == EVERYWHERE for path in rewrite.fields):
            return None
        fields += [path.split(".")[0] for path in rewrite.fields]
    return dict.fromkeys(fields, 1)
