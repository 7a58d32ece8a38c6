"""The dry-run's expected effect of the plan's transforms: the run's own streaming merge, writing nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pymongo.database import Database

from mongo_promote.adapters.mongo import RAW, first_reply_bounded
from mongo_promote.domain.plan import Plan
from mongo_promote.domain.transforms.rewrite import EVERYWHERE
from mongo_promote.domain.transforms.stream import StreamTransformer

PARENT_BATCH = 1000


def expected_effects(
    source_db: Database[Any], plan: Plan, now: dt.datetime
) -> list[dict[str, Any]]:
    """For each embed and each rewrite of the plan, the statistics the run will report.

    Each transformed collection is streamed from the SOURCE in the run's order (by the match
    field) through the run's `StreamTransformer`, only the fields the transforms read, and the
    output thrown away: no `$in` lookups, no second algorithm. `fail` policies are counted and
    listed under `would_fail` instead of raised. Embeds come first, then rewrites, in plan order.
    """
    raw_db = source_db.client.get_database(source_db.name, codec_options=RAW)
    names = [e.into for e in plan.embeds] + [r.collection for r in plan.rewrites]
    by_spec: dict[int, dict[str, Any]] = {}
    for name in dict.fromkeys(names):
        transformer = StreamTransformer.for_collection(plan, name, source_db, now, tolerant=True)
        if transformer is None:
            continue
        cursor = raw_db[name].find(
            {}, _projection(transformer), sort=transformer.sort, batch_size=PARENT_BATCH
        )
        with cursor:
            for doc in first_reply_bounded(cursor, raw_db[name]) if transformer.sort else cursor:
                transformer.apply(doc)
        specs = [f.spec for f in transformer.folds] + [r for r, _ in transformer.rewrites]
        by_spec.update(zip(map(id, specs), transformer.finish(), strict=True))
    embeds = [by_spec[id(spec)] for spec in plan.embeds]
    rewrites = [{**by_spec[id(spec)], "collection": spec.collection} for spec in plan.rewrites]
    return embeds + rewrites


def _projection(transformer: StreamTransformer) -> dict[str, int] | None:
    """The top-level fields the transforms read or change; everything for a `"*"` rewrite."""
    fields = ["_id"]
    for fold in transformer.folds:
        fields += [fold.spec.match.into.split(".")[0], fold.spec.as_field]
    for rewrite, _ in transformer.rewrites:
        if any(path.split(".")[0] == EVERYWHERE for path in rewrite.fields):
            return None
        fields += [path.split(".")[0] for path in rewrite.fields]
    return dict.fromkeys(fields, 1)
