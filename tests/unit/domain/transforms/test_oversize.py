"""A parent the fold would push past 16 MB: which entries it keeps under `on_oversize`, the same
whether the copy measures its bytes or the reference its encoding."""

from __future__ import annotations

import datetime as dt

import bson
import pytest
from bson.raw_bson import RawBSONDocument

from mongo_promote.domain.plan import EmbedSpec
from mongo_promote.domain.transforms.fold import MAX_BSON_SIZE, EmbedError, fitting
from mongo_promote.domain.transforms.oracle import expected
from mongo_promote.domain.transforms.stream import FoldMerge, StreamTransformer

NOW = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
BIG = MAX_BSON_SIZE - 300_000
TEXT = 200_000


def spec(policy: str) -> EmbedSpec:
    return EmbedSpec.model_validate(
        {
            "from": "Comment",
            "into": "Post",
            "match": {"from": "postId", "into": "_id"},
            "key": {"from": "lang"},
            "as": "comments",
            "fields": {"text": "text"},
            "on_oversize": policy,
        }
    )


def children() -> list[dict[str, object]]:
    return [
        {"_id": 10 + k, "postId": 1, "lang": lang, "text": lang * TEXT}
        for k, lang in enumerate("abc")
    ]


def copied(policy: str) -> tuple[bytes, StreamTransformer]:
    transformer = StreamTransformer("Post", [FoldMerge(spec(policy), NOW, children())])
    parent = RawBSONDocument(bson.encode({"_id": 1, "body": "b" * BIG}))
    return bytes(transformer.apply(parent).raw), transformer


def test_fitting_keeps_each_entry_that_still_fits_in_map_order() -> None:
    sizes = {"a": 5, "b": 9, "c": 3, "d": 4}
    values = {k: {"n": v} for k, v in sizes.items()}

    def fits(chosen: dict[str, dict[str, int]]) -> bool:
        return sum(v["n"] for v in chosen.values()) <= 12

    assert list(fitting(values, fits, "skip_children")) == ["a", "c", "d"]
    assert fitting(values, fits, "report") == {}


@pytest.mark.parametrize(("policy", "kept"), [("skip_children", ["a"]), ("report", [])])
def test_the_copy_and_the_reference_choose_the_same_entries(policy: str, kept: list[str]) -> None:
    out, transformer = copied(policy)
    doc = bson.decode(out)
    assert sorted(doc.get("comments", {})) == kept and len(out) <= MAX_BSON_SIZE
    (stats,) = transformer.finish()
    (listed,) = stats["oversized"]
    assert listed["skipped"] == [k for k in "abc" if k not in kept]
    assert listed["size"] == len(bson.encode({"_id": 1, "body": "b" * BIG}))
    assert listed["size_after"] > MAX_BSON_SIZE
    # the decoded reference, given every entry, leaves the same document
    merge = FoldMerge(spec(policy), NOW, children())
    want = expected({"_id": 1, "body": "b" * BIG}, [(merge.spec, merge.entries_for(1))], [])
    assert bson.encode(want) == out


def test_fail_stops_the_copy_naming_the_parent_and_its_sizes() -> None:
    with pytest.raises(EmbedError) as info:
        copied("fail")
    assert "_id 1" in info.value.message and "on_oversize: fail" in info.value.message
