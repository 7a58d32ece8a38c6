"""Small plans and an unreachable URI for the per-command CLI tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.integration.conftest import write_plan

# Nothing listens on port 1: a connection is refused at once (exit 3 within seconds).
UNREACHABLE = "mongodb://admin:s3cretPW@127.0.0.1:1/"


def orders_plan(tmp_path: Path, dbs: Any) -> Path:
    """A plan promoting one collection, `Orders`, in the test's own database on both servers."""
    return write_plan(
        tmp_path / "promote.yaml",
        dbs.servers,
        dbs.name,
        "collections: {include: [Orders]}\nbackup: {dir: ./backups}\n",
    )


def seed_orders(dbs: Any, source: int, target: int) -> None:
    """`source` documents in staging's Orders, `target` different ones in production's."""
    if source:
        dbs.source.Orders.insert_many([{"_id": i, "n": i} for i in range(source)])
    if target:
        dbs.target.Orders.insert_many([{"_id": i, "n": -i} for i in range(target)])
