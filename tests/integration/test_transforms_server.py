"""Embed and rewrite against real servers: the fold reads the source, writes only the shadow."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from bson import ObjectId
from bson.int64 import Int64
from bson.raw_bson import RawBSONDocument
from pymongo.database import Database

from mongo_promote.conn import RAW
from mongo_promote.plan import EmbedSpec, RewriteSpec, bundled_plan_path, load_plan
from mongo_promote.transforms.embed import (
    CODEC,
    EmbedError,
    bson_time,
    child_cursor,
    embed_into_shadow,
    iter_folded,
    parent_lookup,
    plan_embed,
)
from mongo_promote.transforms.embed import EmbedStats as Stats
from mongo_promote.transforms.rewrite import find_remaining, plan_rewrite, rewrite_shadow

pytestmark = pytest.mark.integration

NOW = dt.datetime(2026, 1, 27, 12, 0, 0, 123456, tzinfo=dt.UTC)
T1 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
T2 = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)
SHADOW = "Message__promote_test"
ENV = {"STAGING_MONGO_URI": "mongodb://staging:1", "PROD_MONGO_URI": "mongodb://prod:2"}


@pytest.fixture(scope="module")
def spec() -> EmbedSpec:
    return load_plan(bundled_plan_path(), env=ENV).plan.embeds[0]


def oid(n: int) -> ObjectId:
    return ObjectId(f"{n:024x}")


def translation(n: int, message: Any, lang: str | None, **fields: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"_id": oid(1000 + n), "messageId": message}
    if lang is not None:
        doc["targetLanguage"] = lang
    doc.update({"translatedText": f"text-{n}", "confidenceScore": 0.9, **fields})
    return doc


def seed(source: Database[Any]) -> None:
    """Messages 1..6 (6 has no translation); translations covering every rule the plan states."""
    source.Message.insert_many(
        [
            {"_id": oid(1), "content": "hello", "conversationId": oid(900)},
            {"_id": oid(2), "content": "two", "translations": {"de": {"text": "kept"}}},
            {"_id": oid(3), "content": "three", "translations": None},
            {"_id": oid(4), "content": "four", "translations": "not a map"},
            {"_id": oid(5), "content": "five"},
            {"_id": oid(6), "content": "untouched", "n": Int64(6)},
        ]
    )
    source.MessageTranslation.insert_many(
        [
            translation(1, oid(1), "fr", updatedAt=T1, translatedText="vieux"),
            translation(2, oid(1), "fr", updatedAt=T2, translatedText="nouveau"),
            translation(3, oid(1), "fr", translatedText="undated"),
            translation(4, oid(1), None, language="en", translatedText=None, content="hi"),
            translation(5, oid(1), "es", translationModel="nllb", createdAt=T1, updatedAt=T2),
            translation(6, oid(2), "fr", confidenceScore=None),
            translation(7, oid(3), "it", isEncrypted=True, encryptionKeyId="k", encryptionIv="iv"),
            translation(8, oid(4), "pt"),
            translation(9, oid(5), "a.b"),
            translation(10, oid(5), None),
            translation(11, oid(404), "fr"),
            translation(12, oid(405), "fr"),
            translation(13, None, "fr"),
        ]
    )


def snapshot(db: Database[Any]) -> dict[str, list[bytes]]:
    """Every document of every collection as raw bytes, in _id order."""
    raw = db.client.get_database(db.name, codec_options=RAW)
    return {
        name: [doc.raw for doc in raw[name].find(sort=[("_id", 1)])]
        for name in sorted(raw.list_collection_names())
    }


def make_shadow(dbs: Any) -> Any:
    """The copy step's result, simulated: the source's Message copied into a target shadow."""
    raw_docs: list[RawBSONDocument] = list(
        dbs.source.client.get_database(dbs.name, codec_options=RAW).Message.find()
    )
    shadow = dbs.target.get_collection(SHADOW, codec_options=CODEC)
    shadow.insert_many(raw_docs)
    return shadow


def test_embed_folds_from_source_into_shadow(dbs: Any, spec: EmbedSpec) -> None:
    seed(dbs.source)
    before = snapshot(dbs.source)
    shadow = make_shadow(dbs)
    progressed: list[int] = []
    stats = embed_into_shadow(
        dbs.source, shadow, spec, now=NOW, batch_docs=2, progress=progressed.append
    )
    assert snapshot(dbs.source) == before
    assert sum(progressed) == stats.children_read == 13

    docs = {d["_id"]: d for d in shadow.find()}
    t1 = docs[oid(1)]["translations"]
    assert set(t1) == {"fr", "en", "es"}
    assert t1["fr"]["text"] == "nouveau" and t1["fr"]["updatedAt"] == T2
    assert t1["en"]["text"] == "hi"
    assert t1["en"]["translationModel"] == "basic"
    assert t1["en"]["createdAt"] == t1["en"]["updatedAt"] == bson_time(NOW)
    assert t1["es"]["translationModel"] == "nllb" and t1["es"]["createdAt"] == T1
    assert list(t1["fr"]) == [
        "text",
        "translationModel",
        "confidenceScore",
        "createdAt",
        "updatedAt",
    ]

    assert docs[oid(2)]["translations"]["de"] == {"text": "kept"}
    assert "confidenceScore" not in docs[oid(2)]["translations"]["fr"]
    it = docs[oid(3)]["translations"]["it"]
    assert (it["isEncrypted"], it["encryptionKeyId"], it["encryptionIv"]) == (True, "k", "iv")
    assert "encryptionAuthTag" not in it
    assert docs[oid(4)]["translations"] == "not a map"
    assert "translations" not in docs[oid(5)]
    assert "translations" not in docs[oid(6)]
    assert set(docs) == {oid(i) for i in range(1, 7)}

    assert stats.duplicates == 2
    assert stats.duplicate_samples[0]["winner"] == oid(1002)
    assert sorted(stats.duplicate_samples[0]["losers"]) == [oid(1001), oid(1003)]
    assert stats.orphans == 3 and set(stats.orphan_samples) == {oid(1011), oid(1012), oid(1013)}
    assert (stats.invalid_keys, stats.no_key) == (1, 1)
    assert stats.missing_fields == {"confidenceScore": 1}
    assert (stats.null_maps_replaced, stats.non_map_parents) == (1, 1)
    assert stats.folded == 5 and stats.parents_updated == 3
    assert stats.to_dict()["orphan_samples"][0].startswith("0000")


def test_untouched_parent_keeps_its_exact_bytes(dbs: Any, spec: EmbedSpec) -> None:
    seed(dbs.source)
    shadow = make_shadow(dbs)
    raw = dbs.target.get_collection(SHADOW, codec_options=RAW)
    before = raw.find_one({"_id": oid(6)}).raw
    embed_into_shadow(dbs.source, shadow, spec, now=NOW)
    assert raw.find_one({"_id": oid(6)}).raw == before


@pytest.mark.timeout(120)
@pytest.mark.parametrize("batch", [97, 1000])
def test_validator_view_matches_what_was_written(dbs: Any, spec: EmbedSpec, batch: int) -> None:
    """Many parents, small and large batches (a large one is hundreds of updates, which FerretDB
    only survives when split): the shadow holds exactly what iter_folded computes."""
    langs = ["fr", "en", "es", "de", "it"]
    dbs.source.Message.insert_many([{"_id": oid(i)} for i in range(1, 401)])
    kids = [
        translation(
            i, oid(1 + (i * 7) % 450), langs[i % 5], updatedAt=T1 + dt.timedelta(days=i % 4)
        )
        for i in range(1500)
    ]
    dbs.source.MessageTranslation.insert_many(kids)
    shadow = make_shadow(dbs)
    stats = embed_into_shadow(dbs.source, shadow, spec, now=NOW, batch_docs=batch)
    expected = dict(
        iter_folded(
            child_cursor(dbs.source, spec),
            spec,
            NOW,
            Stats(),
            parent_exists=parent_lookup(shadow, "_id"),
        )
    )
    written = {
        d["_id"]: d["translations"] for d in shadow.find({"translations": {"$exists": True}})
    }
    assert written == expected
    assert stats.folded == sum(len(v) for v in expected.values())
    assert stats.children_read == 1500
    assert stats.orphans == sum(1 for k in kids if k["messageId"] > oid(400))


def test_orphans_fail_after_the_scan(dbs: Any, spec: EmbedSpec) -> None:
    seed(dbs.source)
    shadow = make_shadow(dbs)
    strict = spec.model_copy(update={"on_orphan": "fail"})
    with pytest.raises(EmbedError, match="3 children have no Message") as caught:
        embed_into_shadow(dbs.source, shadow, strict, now=NOW)
    assert caught.value.stats is not None and caught.value.stats.folded == 5


def test_duplicates_fail_policy(dbs: Any, spec: EmbedSpec) -> None:
    seed(dbs.source)
    shadow = make_shadow(dbs)
    strict = spec.model_copy(update={"on_duplicate_key": "fail"})
    with pytest.raises(EmbedError, match="duplicate keys"):
        embed_into_shadow(dbs.source, shadow, strict, now=NOW)


def test_plan_embed_counts_and_writes_nothing(dbs: Any, spec: EmbedSpec) -> None:
    seed(dbs.source)
    before = snapshot(dbs.source)
    target_before = snapshot(dbs.target)
    strict = spec.model_copy(update={"on_duplicate_key": "fail", "on_orphan": "fail"})
    plan = plan_embed(dbs.source, strict)
    assert snapshot(dbs.source) == before and snapshot(dbs.target) == target_before
    assert plan["children_read"] == 13 and plan["parents_seen"] == 8
    assert (plan["orphans"], plan["duplicates"], plan["invalid_keys"]) == (3, 2, 1)
    assert (plan["folded"], plan["parents_updated"], plan["non_map_parents"]) == (5, 3, 1)
    assert len(plan["would_fail"]) == 2


ATTACHMENTS = [
    {
        "_id": oid(1),
        "fileUrl": "https://staging.meeshy.me/u/a.png",
        "thumbnailUrl": "https://staging.meeshy.me/u/a_t.png",
        "size": Int64(1234),
        "uploadedAt": T1,
        "metadata": {"variants": [{"url": "https://staging.meeshy.me/v/1", "w": 1}, {"w": 2}]},
    },
    {"_id": oid(2), "fileUrl": "https://meeshy.me/u/b.png", "tags": ["staging.meeshy.me"]},
    {"_id": oid(3), "fileUrl": "https://cdn.example/c.png", "size": 5},
]


@pytest.mark.parametrize(
    ("fields", "changed", "occurrences"),
    [(["fileUrl", "thumbnailUrl"], 1, 2), (["metadata.variants.url"], 1, 1), (["*"], 2, 4)],
)
def test_rewrite_on_a_real_collection(
    dbs: Any, fields: list[str], changed: int, occurrences: int
) -> None:
    spec = RewriteSpec(
        collection="MessageAttachment", fields=fields, find="staging.meeshy.me", replace="meeshy.me"
    )
    dbs.source.MessageAttachment.insert_many(ATTACHMENTS)
    dbs.target.MessageAttachment.insert_many(ATTACHMENTS)
    raw = dbs.target.get_collection("MessageAttachment", codec_options=RAW)
    before = {d["_id"]: d.raw for d in raw.find()}

    dry = plan_rewrite(dbs.source.MessageAttachment, spec)
    stats = rewrite_shadow(dbs.target.MessageAttachment, spec, batch_docs=1)
    assert (stats.documents_changed, stats.occurrences, stats.remaining) == (
        changed,
        occurrences,
        0,
    )
    assert (dry["documents_changed"], dry["occurrences"]) == (changed, occurrences)

    after = {d["_id"]: d for d in dbs.target.MessageAttachment.find()}
    for doc in after.values():
        assert find_remaining(doc, fields, "staging.meeshy.me") == []
    assert raw.find_one({"_id": oid(3)}).raw == before[oid(3)]
    first = after[oid(1)]
    assert isinstance(first["size"], Int64) and first["uploadedAt"] == T1.replace(tzinfo=None)
    assert list(first) == list(ATTACHMENTS[0])
    if fields != ["*"]:
        assert after[oid(2)]["tags"] == ["staging.meeshy.me"]
    assert rewrite_shadow(dbs.target.MessageAttachment, spec).documents_changed == 0


@pytest.mark.timeout(120)
def test_rewrite_many_documents_in_one_batch(dbs: Any) -> None:
    spec = RewriteSpec(collection="A", fields=["u"], find="staging.meeshy.me", replace="meeshy.me")
    dbs.target.A.insert_many(
        [{"_id": i, "u": f"https://staging.meeshy.me/{i}"} for i in range(450)]
    )
    stats = rewrite_shadow(dbs.target.A, spec)
    assert stats.documents_changed == 450
    assert dbs.target.A.count_documents({"u": {"$regex": "staging"}}) == 0
