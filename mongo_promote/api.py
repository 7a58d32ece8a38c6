"""The library's public commands: one plain function per CLI command, usable without the CLI."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from pymongo import MongoClient

from mongo_promote.conn import connect, detect_capabilities, refuse_sharded
from mongo_promote.inventory import Inventory, take_inventory
from mongo_promote.plan import Plan


@contextmanager
def clients(plan: Plan) -> Iterator[tuple[MongoClient[Any], MongoClient[Any]]]:
    """Both sides connected (or exit 3 within seconds); closed whatever happens."""
    source = connect(plan.source.uri, role="source")
    try:
        target = connect(plan.target.uri, role="target")
    except BaseException:
        source.close()
        raise
    try:
        yield source, target
    finally:
        source.close()
        target.close()


def inspect(plan: Plan) -> Inventory:
    """Inventory of both sides under the plan's classification; reads only."""
    with clients(plan) as (source, target):
        refuse_sharded(detect_capabilities(target), "target")
        return take_inventory(plan, source[plan.source.database], target[plan.target.database])


def seed(
    source_uri: str,
    target_uri: str,
    *,
    source_database: str = "meeshy",
    target_database: str = "meeshy",
    scale: float = 1,
    seed: int = 42,
    progress: Callable[[str, str, int], None] | None = None,
) -> dict[str, Any]:
    """Fill staging and production with the synthetic Meeshy data; returns the generator's manifest."""
    from mongo_promote.demo.generator import generate

    source = connect(source_uri, role="source")
    target = connect(target_uri, role="target")
    try:
        return generate(
            source[source_database],
            target[target_database],
            seed=seed,
            scale=scale,
            progress=progress,
        )
    finally:
        source.close()
        target.close()
