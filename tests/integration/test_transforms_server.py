"""Embed and rewrite against real servers, through the run's streaming driver: the fold reads the
source, parents stream past in the copy's order, only the shadow is written; the dry-run's
expected effect comes from the same merge."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import bson
import pytest
from bson import ObjectId
from bson.int64 import Int64
from pymongo.database import Database

from mongo_promote.adapters.mongo import RAW
from mongo_promote.domain.plan import (
    EmbedSpec,
    EmbedTransform,
    Plan,
    RewriteSpec,
    RewriteTransform,
    bundled_plan_path,
    load_plan,
)
from mongo_promote.domain.transforms.bsonbytes import CODEC, bson_key, bson_time
from mongo_promote.domain.transforms.effects import expected_effects
from mongo_promote.domain.transforms.fold import EmbedError
from mongo_promote.domain.transforms.rewrite import find_remaining
from mongo_promote.domain.transforms.stream import FoldMerge, StreamTransformer

pytestmark = pytest.mark.integration

NOW = dt.datetime(2026, 1, 27, 12, 0, 0, 123456, tzinfo=dt.UTC)
T1 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
T2 = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)
SHADOW = "Message__promote_test"
ENV = {
    "STAGING_MONGO_URI": "mongodb://staging:1",
    "PROD_MONGO_URI": "mongodb://prod:2",
    "MEESHY_REMOTE_HOST": "nobody@meeshy-host.invalid",  # the freeze's ssh has no default
}


@pytest.fixture(scope="module")
def bundled() -> Plan:
    return load_plan(bundled_plan_path(), env=ENV).plan


@pytest.fixture(scope="module")
def spec(bundled: Plan) -> EmbedSpec:
    return bundled.embeds[0]


def plan_with(bundled: Plan, *transforms: EmbedSpec | RewriteSpec) -> Plan:
    """The bundled plan with only these transforms."""
    wrapped = [
        EmbedTransform(embed=t) if isinstance(t, EmbedSpec) else RewriteTransform(rewrite=t)
        for t in transforms
    ]
    return bundled.model_copy(update={"transforms": wrapped})


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


def copy_through(dbs: Any, name: str, *transforms: EmbedSpec | RewriteSpec) -> StreamTransformer:
    """What the copy step does with a transformed collection: stream the source documents as raw
    BSON in the transformer's order, apply it, insert into the target's shadow `<name>__promote_test`.
    """
    embeds = [t for t in transforms if isinstance(t, EmbedSpec)]
    rewrites = [t for t in transforms if isinstance(t, RewriteSpec)]
    tx = StreamTransformer.build(name, embeds, rewrites, dbs.source, NOW)
    raw = dbs.source.client.get_database(dbs.name, codec_options=RAW)[name]
    docs = [tx.apply(doc) for doc in raw.find({}, sort=tx.sort, batch_size=3)]
    if docs:
        dbs.target[f"{name}__promote_test"].insert_many(docs)
    return tx


def shadow(dbs: Any, name: str = "Message", codec: Any = CODEC) -> Any:
    return dbs.target.get_collection(f"{name}__promote_test", codec_options=codec)


def test_embed_folds_from_source_into_shadow(dbs: Any, spec: EmbedSpec) -> None:
    seed(dbs.source)
    before = snapshot(dbs.source)
    tx = copy_through(dbs, "Message", spec)
    report = tx.finish()[0]
    stats = tx.folds[0].stats
    assert snapshot(dbs.source) == before
    assert stats.children_read == 13

    docs = {d["_id"]: d for d in shadow(dbs).find()}
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
    assert list(docs[oid(3)]["translations"]) == ["it"]  # the null map replaced whole
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
    assert stats.non_map_samples == [{"parent": oid(4), "keys": ["pt"]}]
    assert stats.folded == 5 and stats.parents_updated == 3
    assert report["orphan_samples"][0].startswith("0000")
    assert (report["embed"], report["into"], report["as"]) == (
        "MessageTranslation",
        "Message",
        "translations",
    )


def test_untouched_parent_keeps_its_exact_bytes(dbs: Any, spec: EmbedSpec) -> None:
    seed(dbs.source)
    copy_through(dbs, "Message", spec)
    source = dbs.source.client.get_database(dbs.name, codec_options=RAW).Message
    for n in (5, 6):  # no child, and only a child without a valid key
        assert (
            shadow(dbs, codec=RAW).find_one({"_id": oid(n)}).raw
            == source.find_one({"_id": oid(n)}).raw
        )
    folded = bson.decode(shadow(dbs, codec=RAW).find_one({"_id": oid(2)}).raw)
    original = bson.decode(source.find_one({"_id": oid(2)}).raw)
    assert list(folded) == list(original)  # every field where it was, the map edited in place


@pytest.mark.timeout(120)
def test_merge_over_many_parents_matches_what_was_written(dbs: Any, spec: EmbedSpec) -> None:
    """Many parents, children of parents that do not exist among them: the shadow holds exactly
    what a fresh merge over the source (the validator's view) computes."""
    langs = ["fr", "en", "es", "de", "it"]
    dbs.source.Message.insert_many([{"_id": oid(i)} for i in range(1, 401)])
    kids = [
        translation(
            i, oid(1 + (i * 7) % 450), langs[i % 5], updatedAt=T1 + dt.timedelta(days=i % 4)
        )
        for i in range(1500)
    ]
    dbs.source.MessageTranslation.insert_many(kids)
    tx = copy_through(dbs, "Message", spec)
    tx.finish()
    merge = FoldMerge.from_source(dbs.source, spec, NOW)
    expected = {}
    for parent in sorted((oid(i) for i in range(1, 401)), key=bson_key):
        entries = merge.entries_for(parent)
        if entries:
            expected[parent] = {key: entry.value for key, entry in entries.items()}
    written = {
        d["_id"]: d["translations"] for d in shadow(dbs).find({"translations": {"$exists": True}})
    }
    assert written == expected
    stats = tx.folds[0].stats
    assert stats.folded == sum(len(v) for v in expected.values())
    assert stats.children_read == 1500
    assert stats.orphans == sum(1 for k in kids if k["messageId"] > oid(400))
    assert merge.drain().orphans == stats.orphans


def test_orphans_fail_after_the_scan(dbs: Any, spec: EmbedSpec) -> None:
    seed(dbs.source)
    strict = spec.model_copy(update={"on_orphan": "fail"})
    tx = copy_through(dbs, "Message", strict)
    with pytest.raises(EmbedError, match="3 children have no Message") as caught:
        tx.finish()
    assert caught.value.stats is not None and caught.value.stats.folded == 5


def test_duplicates_fail_policy(dbs: Any, spec: EmbedSpec) -> None:
    seed(dbs.source)
    strict = spec.model_copy(update={"on_duplicate_key": "fail"})
    with pytest.raises(EmbedError, match="duplicate keys"):
        copy_through(dbs, "Message", strict)


def test_expected_effects_counts_and_writes_nothing(
    dbs: Any, bundled: Plan, spec: EmbedSpec
) -> None:
    seed(dbs.source)
    before = snapshot(dbs.source)
    target_before = snapshot(dbs.target)
    strict = spec.model_copy(update={"on_duplicate_key": "fail", "on_orphan": "fail"})
    (effect,) = expected_effects(dbs.source, plan_with(bundled, strict), NOW)
    assert snapshot(dbs.source) == before and snapshot(dbs.target) == target_before
    assert (effect["embed"], effect["into"]) == ("MessageTranslation", "Message")
    assert effect["children_read"] == 13 and effect["parents_seen"] == 8
    assert (effect["orphans"], effect["duplicates"], effect["invalid_keys"]) == (3, 2, 1)
    assert (effect["folded"], effect["parents_updated"], effect["non_map_parents"]) == (5, 3, 1)
    assert effect["no_key"] == 1 and effect["null_maps_replaced"] == 1
    assert len(effect["would_fail"]) == 2


def test_dry_run_effects_equal_the_runs_report(dbs: Any, bundled: Plan, spec: EmbedSpec) -> None:
    """The dry-run promises exactly what the run then reports: the same merge over the same data."""
    seed(dbs.source)
    dbs.source.MessageAttachment.insert_many(ATTACHMENTS)
    rewrite = RewriteSpec(
        collection="MessageAttachment", fields=["fileUrl"], find="staging.", replace=""
    )
    effects = expected_effects(dbs.source, plan_with(bundled, spec, rewrite), NOW)
    reported = copy_through(dbs, "Message", spec).finish()
    reported += copy_through(dbs, "MessageAttachment", rewrite).finish()
    assert [
        {k: v for k, v in e.items() if k not in ("would_fail", "collection")} for e in effects
    ] == reported
    assert effects[0]["would_fail"] == [] and effects[1]["collection"] == "MessageAttachment"
    assert effects[1]["documents_changed"] == 1


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
    dbs: Any, bundled: Plan, fields: list[str], changed: int, occurrences: int
) -> None:
    spec = RewriteSpec(
        collection="MessageAttachment", fields=fields, find="staging.meeshy.me", replace="meeshy.me"
    )
    dbs.source.MessageAttachment.insert_many(ATTACHMENTS)
    raw = dbs.source.client.get_database(dbs.name, codec_options=RAW).MessageAttachment
    before = {d["_id"]: d.raw for d in raw.find()}

    (dry,) = expected_effects(dbs.source, plan_with(bundled, spec), NOW)
    (stats,) = copy_through(dbs, "MessageAttachment", spec).finish()
    assert (stats["documents_changed"], stats["occurrences"], stats["remaining"]) == (
        changed,
        occurrences,
        0,
    )
    assert stats["documents_scanned"] == 3
    assert (dry["documents_changed"], dry["occurrences"]) == (changed, occurrences)

    target = shadow(dbs, "MessageAttachment", codec=None)
    after = {d["_id"]: d for d in target.find()}
    for doc in after.values():
        assert find_remaining(doc, fields, "staging.meeshy.me") == []
    assert (
        shadow(dbs, "MessageAttachment", codec=RAW).find_one({"_id": oid(3)}).raw == before[oid(3)]
    )
    first = after[oid(1)]
    assert isinstance(first["size"], Int64) and first["uploadedAt"] == T1.replace(tzinfo=None)
    assert list(first) == list(ATTACHMENTS[0])
    if fields != ["*"]:
        assert after[oid(2)]["tags"] == ["staging.meeshy.me"]
    again = StreamTransformer.build("MessageAttachment", [], [spec], dbs.source, NOW)
    for doc in shadow(dbs, "MessageAttachment", codec=RAW).find():
        assert again.apply(doc) is doc  # rewritten documents do not change again
    assert again.finish()[0]["documents_changed"] == 0


@pytest.mark.timeout(120)
def test_rewrite_many_documents(dbs: Any) -> None:
    spec = RewriteSpec(collection="A", fields=["u"], find="staging.meeshy.me", replace="meeshy.me")
    dbs.source.A.insert_many(
        [{"_id": i, "u": f"https://staging.meeshy.me/{i}"} for i in range(450)]
    )
    (stats,) = copy_through(dbs, "A", spec).finish()
    assert stats["documents_changed"] == 450
    assert shadow(dbs, "A", codec=None).count_documents({"u": {"$regex": "staging"}}) == 0


# ---------------------------------------------------------------- on_existing, end to end


def existing_plan(tmp_path: Path, dbs: Any, on_existing: str) -> Path:
    plan = tmp_path / "promote.yaml"
    plan.write_text(f"""\
version: 1
source: {{uri: "{dbs.servers.source_uri}", database: {dbs.name}}}
target: {{uri: "{dbs.servers.target_uri}", database: {dbs.name}}}
collections: {{include: [Parent]}}
transforms:
  - embed:
      from: Child
      into: Parent
      match: {{from: parentId}}
      key: {{from: lang}}
      as: texts
      fields:
        text: text
        updatedAt: {{from: updatedAt, optional: true}}
      on_existing: {on_existing}
""")
    return plan


def seed_existing(source: Database[Any]) -> None:
    """Parents that already carry maps (as staging's Message.translations may), and children
    newer, older, tied with, or beside what is there."""
    source.Parent.insert_many([
        {"_id": oid(1), "texts": {
            "fr": {"text": "held newer", "updatedAt": T2},
            "en": {"text": "held older", "updatedAt": T1},
            "it": {"text": "held tie", "updatedAt": T1},
            "de": {"text": "held, no child"},
        }, "n": Int64(1)},
        {"_id": oid(2), "n": Int64(2)},
    ])  # fmt: skip
    source.Child.insert_many([
        {"parentId": oid(1), "lang": "fr", "text": "child older", "updatedAt": T1},
        {"parentId": oid(1), "lang": "en", "text": "child newer", "updatedAt": T2},
        {"parentId": oid(1), "lang": "it", "text": "child tie", "updatedAt": T1},
        {"parentId": oid(1), "lang": "es", "text": "child new key", "updatedAt": T1},
        {"parentId": oid(2), "lang": "fr", "text": "child alone"},
    ])  # fmt: skip


def cli(*args: str) -> Any:
    from typer.testing import CliRunner

    from mongo_promote.cli import app

    return CliRunner().invoke(app, [*args, "--json"], catch_exceptions=False)


@pytest.mark.timeout(300)
def test_on_existing_latest_on_a_real_server(dbs: Any, tmp_path: Path) -> None:
    seed_existing(dbs.source)
    plan = str(existing_plan(tmp_path, dbs, "latest"))
    dry = cli("run", "--plan", plan, "--dry-run")
    assert dry.exit_code == 0, dry.output
    (expected,) = json.loads(dry.stdout)["actions"]["transforms"]
    assert (expected["existing_kept"], expected["existing_replaced"]) == (2, 1)

    run = cli("run", "--plan", plan, "--yes")
    assert run.exit_code == 0, run.output
    outcome = json.loads(run.stdout)
    assert outcome["validation"]["passed"] is True
    (reported,) = json.loads(Path(outcome["report"]).read_text())["transforms"]
    assert (reported["existing_kept"], reported["existing_replaced"]) == (2, 1)
    assert (reported["folded"], reported["parents_updated"]) == (3, 2)

    texts = dbs.target.Parent.find_one({"_id": oid(1)})["texts"]
    assert texts["fr"]["text"] == "held newer"  # the existing entry is newer: kept
    assert texts["en"]["text"] == "child newer"  # the existing entry is older: replaced
    assert texts["it"]["text"] == "held tie"  # a tie keeps the existing entry
    assert texts["de"] == {"text": "held, no child"}  # a language no child has survives
    assert texts["es"]["text"] == "child new key"
    assert list(texts) == ["fr", "en", "it", "de", "es"]
    assert dbs.target.Parent.find_one({"_id": oid(2)})["texts"] == {"fr": {"text": "child alone"}}

    ok = cli("validate", "--plan", plan)
    assert ok.exit_code == 0, ok.output
    # what `overwrite` would have written is a wrong entry under `latest`: validation says so
    dbs.target.Parent.update_one({"_id": oid(1)}, {"$set": {"texts.fr.text": "child older"}})
    caught = cli("validate", "--plan", plan)
    # after a cutover an edit reads as the application's own: a warning that names it (issue 19)
    assert caught.exit_code == 0
    flagged = [c for c in json.loads(caught.stdout)["checks"] if not c["passed"]]
    assert {(c["kind"], c["collection"], c["severity"]) for c in flagged} == {
        ("content", "Parent", "warning"),
        ("changes", "Parent", "warning"),
    }
    content = next(c for c in flagged if c["kind"] == "content")
    assert content["detail"].startswith("changed since cutover: 0 added, 1 changed")


@pytest.mark.parametrize(
    ("on_existing", "fr", "en", "counts"),
    [
        ("overwrite", "child older", "child newer", (0, 3)),
        ("keep", "held newer", "held older", (3, 0)),
    ],
)
def test_on_existing_overwrite_and_keep_while_copying(
    dbs: Any, spec: EmbedSpec, on_existing: str, fr: str, en: str, counts: tuple[int, int]
) -> None:
    seed_existing(dbs.source)
    child = spec.model_copy(
        update={
            "source": "Child",
            "into": "Parent",
            "match": spec.match.model_copy(update={"source": "parentId"}),
            "key": spec.key.model_copy(update={"source": ["lang"]}),
            "as_field": "texts",
            "fields": {"text": spec.fields["text"].model_copy(update={"source": ["text"]})},
            "on_existing": on_existing,
        }
    )
    (stats,) = copy_through(dbs, "Parent", child).finish()
    assert (stats["existing_kept"], stats["existing_replaced"]) == counts
    texts = shadow(dbs, "Parent").find_one({"_id": oid(1)})["texts"]
    assert (texts["fr"]["text"], texts["en"]["text"]) == (fr, en)
    assert texts["de"] == {"text": "held, no child"}
