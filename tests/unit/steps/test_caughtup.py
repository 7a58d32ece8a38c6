"""Counting, by `_id`, what the application wrote between the backup and the freeze: two streams of
raw documents through a disk-backed index, whatever their order and size."""

from __future__ import annotations

import random
import resource
from pathlib import Path

import bson
from bson import ObjectId
from bson.int64 import Int64

from mongo_promote.steps.caughtup import IdDiff, diff_by_id


def raw(_id: object, **fields: object) -> bytes:
    return bson.encode({"_id": _id, **fields})


def test_inserted_changed_deleted_by_id_whatever_the_order(tmp_path: Path) -> None:
    oid = ObjectId()
    old = [raw(1, a=1), raw(2, a=2), raw("three", a=3), raw(oid, a=4), raw({"k": 1}, a=5)]
    new = [raw({"k": 1}, a=5), raw(oid, a=40), raw(1, a=1), raw(6, a=6), raw(7, a=7)]
    random.Random(3).shuffle(new)
    scratch = tmp_path / "scratch.sqlite"
    # 2 and "three" deleted; oid changed; 6 and 7 inserted; 1 and {"k": 1} the same
    assert diff_by_id(iter(old), iter(new), scratch) == IdDiff(inserted=2, changed=1, deleted=2)
    assert not scratch.exists()


def test_the_id_is_its_bytes_and_type_not_the_document_s(tmp_path: Path) -> None:
    """Same value, same bytes: one id. An int32 1 and an int64 1 differ in bytes (MongoDB holds
    only one of them under a unique _id): counted as one deleted, one inserted."""
    old = [raw(1, x="a"), raw(2)]
    new = [raw(1, x="a"), raw(Int64(2))]
    assert diff_by_id(old, new, tmp_path / "s") == IdDiff(inserted=1, changed=0, deleted=1)
    assert diff_by_id([], [], tmp_path / "s") == IdDiff(0, 0, 0)


def test_memory_stays_flat_over_a_large_collection(tmp_path: Path) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    padding = "x" * 2_000
    old = (raw(i, pad=padding) for i in range(60_000))
    new = (raw(i, pad=padding, n=i % 2) for i in range(30_000, 90_000))
    diff = diff_by_id(old, new, tmp_path / "big.sqlite")
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert diff == IdDiff(inserted=30_000, changed=30_000, deleted=30_000)
    assert grown_kb < 40_000, f"peak memory grew by {grown_kb} KB for ~240 MB of documents"
