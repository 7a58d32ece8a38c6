"""The fold applied while copying, without a server: merged parent/child streams and the raw bytes out."""

from __future__ import annotations

import datetime as dt
from typing import Any

import bson
import pytest
from bson import ObjectId
from bson.raw_bson import RawBSONDocument
from hypothesis import given, settings
from hypothesis import strategies as st

from mongo_promote.plan import EmbedSpec, RewriteSpec, bundled_plan_path, load_plan
from mongo_promote.transforms.bsonbytes import CODEC
from mongo_promote.transforms.fold import EmbedStats, fold_group
from mongo_promote.transforms.rewrite import RewriteStats
from mongo_promote.transforms.stream import FoldMerge, StreamTransformer

NOW = dt.datetime(2026, 1, 27, 12, 0, tzinfo=dt.UTC)
ENV = {"STAGING_MONGO_URI": "mongodb://s:1", "PROD_MONGO_URI": "mongodb://p:1"}
IDS = [ObjectId(f"{i:024x}") for i in range(1, 40)]
LANGS = ["fr", "en", "de"]


@pytest.fixture(scope="module")
def plan_specs() -> tuple[EmbedSpec, RewriteSpec]:
    plan = load_plan(bundled_plan_path(), env=ENV).plan
    return plan.embeds[0], plan.rewrites[0]


def transformer(
    embed: EmbedSpec, children: list[dict[str, Any]], rewrites: list[RewriteSpec] = ()
) -> StreamTransformer:  # type: ignore[assignment]
    ordered = sorted(children, key=lambda c: (c["messageId"], c["_id"]))
    merge = FoldMerge(embed, NOW, ordered)
    return StreamTransformer("Message", [merge], [(r, RewriteStats()) for r in rewrites])


def raw(doc: dict[str, Any]) -> RawBSONDocument:
    return RawBSONDocument(bson.encode(doc))


children_strategy = st.lists(
    st.tuples(st.integers(0, 38), st.sampled_from(LANGS), st.text(max_size=5), st.integers(0, 5)),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(parents=st.sets(st.integers(0, 30), max_size=25), kids=children_strategy)
def test_merge_folds_every_child_into_its_parent_and_counts_the_rest_as_orphans(
    plan_specs: tuple[EmbedSpec, RewriteSpec],
    parents: set[int],
    kids: list[tuple[int, str, str, int]],
) -> None:
    embed, _ = plan_specs
    children = [
        {"_id": ObjectId(), "messageId": IDS[p], "targetLanguage": lang, "translatedText": text,
         "updatedAt": dt.datetime(2025, 1, 1 + day, tzinfo=dt.UTC), "confidenceScore": 0.5}
        for p, lang, text, day in kids
    ]  # fmt: skip
    tx = transformer(embed, children)
    out = {}
    for p in sorted(parents):
        doc = raw({"_id": IDS[p], "n": p})
        out[p] = tx.apply(doc)
        has_children = any(c["messageId"] == IDS[p] for c in children)
        assert (out[p] is doc) == (not has_children)  # untouched parents keep their bytes
    stats = tx.finish()[0]
    for p, got in out.items():
        group = [c for c in children if c["messageId"] == IDS[p]]
        expected = fold_group(
            IDS[p], sorted(group, key=lambda c: c["_id"]), embed, NOW, EmbedStats()
        )
        decoded = bson.decode(got.raw, codec_options=CODEC)
        assert decoded.get("translations", {}) == {k: e.value for k, e in expected.items()}
        assert decoded["n"] == p
    orphans = [c for c in children if IDS.index(c["messageId"]) not in parents]
    assert stats["orphans"] == len(orphans)
    assert stats["children_read"] == len(children)
    assert stats["folded"] == sum(
        len(bson.decode(d.raw).get("translations", {})) for d in out.values()
    )


def test_existing_map_keeps_its_keys_and_a_null_map_is_replaced(
    plan_specs: tuple[EmbedSpec, RewriteSpec],
) -> None:
    embed, _ = plan_specs
    kids = [{"_id": ObjectId(), "messageId": IDS[i], "targetLanguage": "fr", "translatedText": "x",
             "confidenceScore": 1.0} for i in (1, 2, 3)]  # fmt: skip
    tx = transformer(embed, kids)
    kept = bson.decode(tx.apply(raw({"_id": IDS[1], "translations": {"de": {"text": "d"}}})).raw)
    assert list(kept["translations"]) == ["de", "fr"]
    replaced = bson.decode(tx.apply(raw({"_id": IDS[2], "translations": None})).raw)
    assert list(replaced["translations"]) == ["fr"]
    odd = raw({"_id": IDS[3], "translations": "not a map"})
    assert tx.apply(odd).raw == odd.raw  # reported, never overwritten
    stats = tx.finish()[0]
    assert (stats["null_maps_replaced"], stats["non_map_parents"]) == (1, 1)


def test_rewrite_on_the_way_touches_only_documents_that_contain_the_string(
    plan_specs: tuple[EmbedSpec, RewriteSpec],
) -> None:
    _, rewrite = plan_specs
    tx = StreamTransformer("MessageAttachment", [], [(rewrite, RewriteStats())])
    clean = raw({"_id": 1, "fileUrl": "https://meeshy.me/a", "size": bson.int64.Int64(5)})
    assert tx.apply(clean) is clean
    dirty = raw({"_id": 2, "fileUrl": "https://staging.meeshy.me/a",
                 "metadata": {"variants": [{"url": "https://staging.meeshy.me/b"}]}, "size": bson.int64.Int64(5)})  # fmt: skip
    out = bson.decode(tx.apply(dirty).raw)
    assert out["fileUrl"] == "https://meeshy.me/a"
    assert out["metadata"]["variants"][0]["url"] == "https://meeshy.me/b"
    assert isinstance(out["size"], bson.int64.Int64)  # types survive the decode/encode
    stats = tx.finish()[0]
    assert (stats["documents_scanned"], stats["documents_changed"], stats["occurrences"]) == (
        2,
        1,
        2,
    )
