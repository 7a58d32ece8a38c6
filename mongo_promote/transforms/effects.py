"""What the plan's transforms would do to the source's data, for the dry-run; reads only.

Temporary: wraps today's `plan_embed` / `plan_rewrite`; the transforms branch replaces this module
with one computed by the run's own streaming merge (same signature).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.database import Database

from mongo_promote.plan import Plan
from mongo_promote.transforms.embed import plan_embed
from mongo_promote.transforms.rewrite import plan_rewrite


def expected_effects(source_db: Database[Any], plan: Plan, now: datetime) -> list[dict[str, Any]]:
    """One dict per transform: `{"embed", "into", ...stats}` or `{"rewrite", "find", ...stats}`."""
    plain = source_db.client.get_database(source_db.name)
    found: list[dict[str, Any]] = []
    for embed in plan.embeds:
        found.append({"embed": embed.source, "into": embed.into, **plan_embed(plain, embed)})
    for rewrite in plan.rewrites:
        found.append(
            {
                "rewrite": rewrite.collection,
                "find": rewrite.find,
                **plan_rewrite(plain[rewrite.collection], rewrite),
            }
        )
    return found
