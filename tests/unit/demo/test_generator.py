"""Unit tests of the Meeshy demo data generator: determinism, manifest truth, portable BSON."""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import bson
import pytest
from bson import Binary, Decimal128, Int64, MaxKey, MinKey, ObjectId
from bson.code import Code

from mongo_promote.demo.generator import (
    DROPPED_IN_TARGET,
    LEGACY_COLLECTIONS,
    NEW_IN_SOURCE,
    SNAKE_CASE_MODELS,
    SOURCE_COLLECTIONS,
    URL_FIELDS,
    build_manifest,
    generate,
    iter_dataset,
)

Docs = dict[tuple[str, str], list[dict[str, Any]]]
FULL_ONLY = (Decimal128, MinKey, MaxKey, Code)
LANGS_SET = {"fr", "en", "es", "de", "it", "pt", "ar", "zh", "ja", "ru"}


def digests(seed: int, scale: float, full_bson: bool) -> dict[tuple[str, str], tuple[int, str]]:
    """(side, collection) -> (count, sha256 of the concatenated BSON): a byte-level fingerprint."""
    out = {}
    for side, coll, docs in iter_dataset(seed=seed, scale=scale, full_bson=full_bson):
        h, n = hashlib.sha256(), 0
        for doc in docs:
            h.update(bson.encode(doc))
            n += 1
        out[side, coll] = (n, h.hexdigest())
    return out


@lru_cache(maxsize=4)
def dataset(seed: int = 42, scale: float = 1, full_bson: bool = False) -> Docs:
    """The whole dataset in memory, for tests only (the generator itself never does this)."""
    return {
        (side, coll): list(docs)
        for side, coll, docs in iter_dataset(seed=seed, scale=scale, full_bson=full_bson)
    }


@lru_cache(maxsize=4)
def manifest(seed: int = 42, scale: float = 1, full_bson: bool = False) -> dict:
    return build_manifest(seed=seed, scale=scale, full_bson=full_bson)


def walk(value: Any, key: str = "") -> Any:
    """Yield (key, value, parent_is_list) for every value inside a document."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield k, v, False
            yield from walk(v, k)
    elif isinstance(value, list):
        for v in value:
            yield key, v, True
            yield from walk(v, key)


def ids(docs: Docs, side: str, coll: str) -> set[ObjectId]:
    return {d["_id"] for d in docs[side, coll]}


def lang_of(doc: dict) -> str:
    return doc.get("targetLanguage") or doc["language"]


# ---------------------------------------------------------------- determinism and counts


def test_same_arguments_give_identical_bytes() -> None:
    assert digests(42, 0.5, False) == digests(42, 0.5, False)


def test_another_seed_changes_every_collection() -> None:
    a, b = digests(42, 0.5, False), digests(43, 0.5, False)
    assert a.keys() == b.keys()
    assert all(a[k][1] != b[k][1] for k in a)


def test_manifest_counts_equal_what_is_yielded() -> None:
    for scale in (1, 0.37):
        got = digests(7, scale, False)
        m = build_manifest(seed=7, scale=scale, full_bson=False)
        for side in ("source", "target"):
            counted = {coll: n for (s, coll), (n, _) in got.items() if s == side}
            assert counted == m[side]["collections"]


@pytest.mark.parametrize("scale", [1, 0.5, 0.01, 2.5])
def test_translation_total_scales_from_2787(scale: float) -> None:
    m = build_manifest(seed=42, scale=scale, full_bson=False)
    expected = max(1, round(2787 * scale))
    assert m["translations"]["total"] == expected
    assert m["source"]["collections"]["MessageTranslation"] == expected


def test_tiny_scale_keeps_one_document_per_collection() -> None:
    m = build_manifest(seed=1, scale=0.0001, full_bson=False)
    for side in ("source", "target"):
        assert min(m[side]["collections"].values()) >= 1


def test_plausible_sizes_at_scale_1() -> None:
    src = manifest()["source"]["collections"]
    assert src["MessageTranslation"] == 2787
    assert 1000 <= src["Message"] <= 2000
    assert 30 <= src["User"] <= 100
    assert all(1 <= n <= 3000 for n in src.values())


def test_manifest_is_json_serialisable() -> None:
    import json

    m = manifest()
    assert json.loads(json.dumps(m)) == m


# ---------------------------------------------------------------- sides and collections


def test_sides_hold_the_expected_collections() -> None:
    m = manifest()
    src, tgt = set(m["source"]["collections"]), set(m["target"]["collections"])
    assert src == set(SOURCE_COLLECTIONS) and len(SOURCE_COLLECTIONS) == 32
    # the schema's models: the dropped ones are gone from staging, the current ones are there
    assert not src & {"MessageStatus", "TypingIndicator", "MessageReadStatus", "UserPreference"}
    assert {
        "MessageStatusEntry",
        "AttachmentStatusEntry",
        "AttachmentReaction",
        "CallSession",
        "CallParticipant",
    } <= src
    assert set(SNAKE_CASE_MODELS) == {
        "notification_preferences",
        "user_preferences",
        "user_preference",
    }
    assert set(SNAKE_CASE_MODELS) <= src & tgt  # live data on both sides
    assert not src & set(LEGACY_COLLECTIONS)
    assert set(LEGACY_COLLECTIONS) <= tgt and len(LEGACY_COLLECTIONS) == 6
    assert set(DROPPED_IN_TARGET) <= tgt and not set(DROPPED_IN_TARGET) & src
    assert not tgt & set(NEW_IN_SOURCE)
    assert tgt - set(LEGACY_COLLECTIONS) - set(DROPPED_IN_TARGET) == set(SOURCE_COLLECTIONS) - set(
        NEW_IN_SOURCE
    )


def test_unique_keys_of_the_schema_hold() -> None:
    docs = dataset()
    for side in ("source", "target"):
        for coll in ("notification_preferences", "user_preferences"):
            users = [d["userId"] for d in docs[side, coll]]
            assert len(users) == len(set(users)), (side, coll)
        pairs = [(d["userId"], d["key"]) for d in docs[side, "user_preference"]]
        assert len(pairs) == len(set(pairs))
    for coll, key in (
        ("MessageStatusEntry", "messageId"),
        ("AttachmentStatusEntry", "attachmentId"),
    ):
        pairs = [(d[key], d["userId"]) for d in docs["source", coll]]
        assert len(pairs) == len(set(pairs)), coll


def test_target_is_older_smaller_and_independent() -> None:
    docs, m = dataset(), manifest()
    for coll in set(SOURCE_COLLECTIONS) - set(NEW_IN_SOURCE):
        assert m["target"]["collections"][coll] < m["source"]["collections"][coll]
        assert not ids(docs, "source", coll) & ids(docs, "target", coll), coll
    assert all("deviceId" not in u for u in docs["target", "User"])
    assert all("deviceId" in u for u in docs["source", "User"])


def test_ids_are_unique_and_dated_2025_2026() -> None:
    for (side, coll), items in dataset().items():
        assert len({d["_id"] for d in items}) == len(items), (side, coll)
        for d in items:
            assert 2025 <= d["_id"].generation_time.year <= 2026


def test_id_timestamps_match_creation_times() -> None:
    for items in dataset().values():
        for d in items:
            created = d.get("createdAt") or d.get("created_at")
            if created is not None:
                assert d["_id"].generation_time == created.replace(microsecond=0)


def test_references_point_at_real_documents() -> None:
    docs = dataset()
    for side in ("source", "target"):
        users, convs = ids(docs, side, "User"), ids(docs, side, "Conversation")
        messages = ids(docs, side, "Message")
        assert {d["conversationId"] for d in docs[side, "Message"]} <= convs
        assert {d["senderId"] for d in docs[side, "Message"]} <= users
        assert {d["userId"] for d in docs[side, "ConversationMember"]} <= users
        assert {d["conversationId"] for d in docs[side, "ConversationMember"]} <= convs
        assert {d["messageId"] for d in docs[side, "MessageAttachment"]} <= messages
        assert {d["messageId"] for d in docs[side, "Reaction"]} <= messages


def test_message_senders_are_members_of_their_conversation() -> None:
    docs = dataset()
    members = {(d["conversationId"], d["userId"]) for d in docs["source", "ConversationMember"]}
    assert all((m["conversationId"], m["senderId"]) in members for m in docs["source", "Message"])


# ---------------------------------------------------------------- translations


def test_orphans_point_at_missing_messages() -> None:
    docs, t = dataset(), manifest()["translations"]
    messages = ids(docs, "source", "Message")
    by_id = {d["_id"]: d for d in docs["source", "MessageTranslation"]}
    orphans = [by_id[ObjectId(x)] for x in t["orphan_ids"]]
    assert t["orphans"] == len(orphans) == 10
    assert all(d["messageId"] not in messages for d in orphans)
    assert sorted(str(d["messageId"]) for d in orphans) == sorted(t["orphan_message_ids"])
    others = [d for d in by_id.values() if str(d["_id"]) not in set(t["orphan_ids"])]
    assert all(d["messageId"] in messages for d in others)
    already = {d["_id"] for d in docs["source", "Message"] if "translations" in d}
    assert t["messages_with_translations"] == len({d["messageId"] for d in others} | already)


def test_duplicates_share_key_and_winner_is_latest() -> None:
    docs, t = dataset(), manifest()["translations"]
    by_id = {str(d["_id"]): d for d in docs["source", "MessageTranslation"]}
    assert t["duplicate_pairs"] == len(t["duplicate_winners"]) == len(t["duplicate_losers"]) == 8
    for win_id, lose_id in zip(t["duplicate_winners"], t["duplicate_losers"], strict=True):
        win, lose = by_id[win_id], by_id[lose_id]
        assert (win["messageId"], lang_of(win)) == (lose["messageId"], lang_of(lose))
        assert win["updatedAt"] > lose["updatedAt"]
    keys = Counter((d["messageId"], lang_of(d)) for d in by_id.values())
    shared = {k for k, n in keys.items() if n > 1}
    assert all(keys[k] == 2 for k in shared)
    assert shared == {(by_id[w]["messageId"], lang_of(by_id[w])) for w in t["duplicate_winners"]}


def test_translation_styles_match_manifest() -> None:
    docs, t = dataset()["source", "MessageTranslation"], manifest()["translations"]
    recount = {
        "encrypted": sum(d.get("isEncrypted") is True for d in docs),
        "without_target_language": sum("targetLanguage" not in d for d in docs),
        "without_model": sum("translationModel" not in d for d in docs),
        "without_is_encrypted": sum("isEncrypted" not in d for d in docs),
    }
    assert recount == {k: t[k] for k in recount}
    assert all(n > 0 for n in recount.values())
    names = ("translatedContent", "translatedText", "content")
    assert all(sum(name in d for name in names) == 1 for d in docs)  # exactly one text field
    fields = Counter(next(n for n in names if n in d) for d in docs)
    assert fields == t["text_fields"]
    # the schema's field is the main one; the older names are a minority the plan still covers
    assert fields["translatedContent"] > 0.75 * len(docs)
    assert 0 < fields["translatedText"] < 0.15 * len(docs)
    assert 0 < fields["content"] < 0.15 * len(docs)
    assert {type(d["confidenceScore"]) for d in docs} == {float}


def test_old_model_fields_only() -> None:
    allowed = {
        "_id",
        "messageId",
        "targetLanguage",
        "language",
        "translatedContent",
        "translatedText",
        "content",
        "translationModel",
        "confidenceScore",
        "isEncrypted",
        "encryptionKeyId",
        "encryptionIv",
        "encryptionAuthTag",
        "createdAt",
        "updatedAt",
    }
    for side in ("source", "target"):
        for d in dataset()[side, "MessageTranslation"]:
            assert set(d) <= allowed, set(d) - allowed
    target = dataset()["target", "MessageTranslation"]
    assert all("translatedContent" in d and d["isEncrypted"] is False for d in target)


def test_encrypted_translations_carry_key_iv_and_tag() -> None:
    docs = [d for d in dataset()["source", "MessageTranslation"] if d.get("isEncrypted")]
    assert all(d["encryptionKeyId"] and d["encryptionIv"] and d["encryptionAuthTag"] for d in docs)
    assert {type(d["encryptionIv"]) for d in docs} == {str}  # base64, as the schema says
    # encryption on either text field name
    by_field = manifest()["translations"]["encrypted_by_text_field"]
    assert by_field["translatedContent"] > 0 and by_field["translatedText"] > 0
    assert sum(by_field.values()) == len(docs)
    plain = [d for d in dataset()["source", "MessageTranslation"] if "isEncrypted" in d]
    assert all("encryptionIv" not in d for d in plain if d["isEncrypted"] is False)


def test_unique_message_language_except_deliberate_duplicates() -> None:
    """The old unique index (messageId, targetLanguage): a missing targetLanguage counts as null."""
    docs, t = dataset()["source", "MessageTranslation"], manifest()["translations"]
    duplicates = set(t["duplicate_winners"]) | set(t["duplicate_losers"])
    keys = Counter(
        (d["messageId"], d.get("targetLanguage")) for d in docs if str(d["_id"]) not in duplicates
    )
    assert max(keys.values()) == 1


# ---------------------------------------------------------------- translations already on staging


def _winners() -> dict[tuple[Any, str], dict]:
    by_key: dict[tuple[Any, str], dict] = {}
    for d in dataset()["source", "MessageTranslation"]:
        key = (d["messageId"], lang_of(d))
        if key not in by_key or d["updatedAt"] > by_key[key]["updatedAt"]:
            by_key[key] = d
    return by_key


def test_existing_translation_maps_compare_both_ways_with_the_children() -> None:
    winners, t = _winners(), manifest()["translations"]["existing"]
    kinds: Counter[str] = Counter()
    messages = [d for d in dataset()["source", "Message"] if "translations" in d]
    for message in messages:
        for lang, entry in message["translations"].items():
            child = winners.get((message["_id"], lang))
            if child is None:
                kinds["other_language"] += 1
            elif "updatedAt" not in entry:
                kinds["undated"] += 1
            elif entry["updatedAt"] < child["updatedAt"]:
                kinds["older"] += 1
            elif entry["updatedAt"] > child["updatedAt"]:
                kinds["newer"] += 1
            else:
                kinds["tie"] += 1
    assert t["messages"] == len(messages) > 0
    assert t["entries"] == sum(kinds.values())
    assert {k: t[k] for k in kinds} == dict(kinds)
    assert all(kinds[k] > 0 for k in ("older", "newer", "tie", "undated", "other_language"))
    assert not any("translations" in d for d in dataset()["target", "Message"])


def test_existing_entries_have_the_application_migrations_shape() -> None:
    shape = [
        "text",
        "translationModel",
        "confidenceScore",
        "isEncrypted",
        "encryptionKeyId",
        "encryptionIv",
        "encryptionAuthTag",
        "createdAt",
        "updatedAt",
    ]
    for message in dataset()["source", "Message"]:
        for entry in message.get("translations", {}).values():
            assert list(entry) in (shape, ["text", "translationModel", "createdAt"])
            assert entry["createdAt"] <= entry.get("updatedAt", entry["createdAt"])


# ---------------------------------------------------------------- URLs


def _staging_paths(docs: list[dict], find: str) -> set[str]:
    return {p for d in docs for p, v in _leaves(d) if isinstance(v, str) and find in v}


def _covered(path: str, pattern: str) -> bool:
    """Whether a path (array indexes dropped) lies under a plan path ("*" segments)."""
    got, want = path.split("."), pattern.split(".")
    for i, segment in enumerate(want):
        if segment == "*" and i == len(want) - 1:
            return len(got) > i
        if i >= len(got) or segment not in ("*", got[i]):
            return False
    return len(got) == len(want)


def test_staging_hosts_in_every_url_field_and_nowhere_else() -> None:
    u, docs = manifest()["urls"], dataset()
    assert u["fields"] == {c: list(f) for c, f in URL_FIELDS.items()}
    for (side, coll), items in docs.items():
        found = _staging_paths(items, u["find"])
        if side == "target" or coll not in URL_FIELDS:
            assert not found or (side, coll) == ("target", "MessageAttachment_backup_urls"), coll
            continue
        for path in found:  # nowhere but in a declared field
            assert any(_covered(path, f) for f in URL_FIELDS[coll]), (coll, path)
        for pattern in URL_FIELDS[coll]:  # and in every declared field
            assert any(_covered(path, pattern) for path in found), (coll, pattern)
    attachments = docs["source", "MessageAttachment"]
    paths = _staging_paths(attachments, u["find"])
    assert {p for p in paths if p.startswith("translations.")} and {
        p for p in paths if p.startswith("metadata.")
    }


def test_staging_url_counts_match_manifest() -> None:
    u = manifest()["urls"]
    for coll in URL_FIELDS:
        docs = dataset()["source", coll]
        per_doc = [
            sum(v.count(u["find"]) for _, v, _ in walk(d) if isinstance(v, str)) for d in docs
        ]
        counts = u["collections"][coll]
        assert counts["occurrences"] == sum(per_doc) > 0, coll
        assert counts["documents_with_staging"] == sum(n > 0 for n in per_doc), coll
        assert 0 < counts["documents_with_staging"] < len(docs), coll  # some already on meeshy.me
    strings = [
        v
        for d in dataset()["source", "MessageAttachment"]
        for _, v, _ in walk(d)
        if isinstance(v, str)
    ]
    assert any(v.count(u["find"]) == 2 for v in strings)  # a redirect parameter repeats the host


def test_attachments_follow_the_schema() -> None:
    for d in dataset()["source", "MessageAttachment"]:
        assert "variants" not in d["metadata"]
        for lang, entry in d.get("translations", {}).items():
            assert lang in LANGS_SET and entry["type"] in ("audio", "text")
        if d["duration"] is not None:
            assert isinstance(d["duration"], int)  # milliseconds


def _leaves(value: Any, prefix: str = "") -> Any:
    """(dotted path with array indexes dropped, leaf value) pairs."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, f"{prefix}.{k}" if prefix else k)
    elif isinstance(value, list):
        for v in value:
            yield from _leaves(v, prefix)
    else:
        yield prefix, value


# ---------------------------------------------------------------- BSON types and portability


def _types(docs: Docs) -> set[type]:
    return {type(v) for items in docs.values() for d in items for _, v, _ in walk(d)}


def _nested_arrays(docs: Docs) -> int:
    return sum(
        isinstance(v, list) and inside
        for items in docs.values()
        for d in items
        for _, v, inside in walk(d)
    )


def test_no_full_bson_types_on_ferretdb_profile() -> None:
    docs = dataset()
    assert not _types(docs) & set(FULL_ONLY)
    assert _nested_arrays(docs) == 0


def test_full_bson_profile_adds_the_rich_types() -> None:
    docs = dataset(42, 0.2, True)
    assert set(FULL_ONLY) <= _types(docs)
    assert _nested_arrays(docs) > 0


def test_many_portable_types_are_present() -> None:
    docs = dataset()
    kinds = _types(docs)
    assert {
        int,
        Int64,
        float,
        str,
        bool,
        type(None),
        datetime,
        ObjectId,
        Binary,
        dict,
        list,
    } <= kinds
    assert {bson.Regex, bson.Timestamp} <= kinds
    uuids = [
        v for items in docs.values() for d in items for _, v, _ in walk(d) if isinstance(v, Binary)
    ]
    assert any(b.subtype == 4 for b in uuids)
    strings = {v for d in docs["source", "Message"] for _, v, _ in walk(d) if isinstance(v, str)}
    assert any(ord(c) > 0xFFFF for s in strings for c in s)  # emoji outside the BMP


def test_values_are_portable() -> None:
    low, high = datetime(2025, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
    for items in dataset(42, 0.3, True).values():
        for d in items:
            for key, v, _ in walk(d):
                assert "." not in key and not key.startswith("$")
                if isinstance(v, float):
                    assert math.isfinite(v) and math.copysign(1, v) == (1 if v >= 0 else -1)
                elif isinstance(v, str):
                    assert "\x00" not in v
                elif isinstance(v, datetime):
                    assert low <= v < high and v.microsecond % 1000 == 0


# ---------------------------------------------------------------- generate() with a stand-in


class _Coll:
    def __init__(self, log: list) -> None:
        self.log = log
        self.batches: list[list[bytes]] = []

    def insert_many(self, docs: list, ordered: bool = True) -> None:
        assert ordered is False
        self.batches.append([d.raw for d in docs])


class _Db:
    """Records what generate() asks of a database (given full_bson, it probes no server)."""

    def __init__(self) -> None:
        self.dropped: list[str] = []
        self.colls: dict[str, _Coll] = {}

    def drop_collection(self, name: str) -> None:
        assert name not in self.colls, "drops happen before any insert"
        self.dropped.append(name)

    def __getitem__(self, name: str) -> _Coll:
        return self.colls.setdefault(name, _Coll([]))


def test_generate_drops_then_inserts_in_byte_batches() -> None:
    src, tgt = _Db(), _Db()
    ticks: list[tuple[str, str, int]] = []
    m = generate(
        src,
        tgt,
        seed=5,
        scale=0.05,
        full_bson=False,
        batch_bytes=20_000,
        progress=lambda *a: ticks.append(a),
    )
    assert m == build_manifest(seed=5, scale=0.05, full_bson=False)
    for db in (src, tgt):
        assert set(db.dropped) >= set(SOURCE_COLLECTIONS) | set(LEGACY_COLLECTIONS)
    expected = {(s, c): d for (s, c), d in digests(5, 0.05, False).items()}
    for side, db in (("source", src), ("target", tgt)):
        assert set(db.colls) == set(m[side]["collections"])
        for name, coll in db.colls.items():
            raws = [r for batch in coll.batches for r in batch]
            assert (len(raws), hashlib.sha256(b"".join(raws)).hexdigest()) == expected[side, name]
            for batch in coll.batches[:-1]:
                assert sum(map(len, batch[:-1])) < 20_000
            assert (side, name, len(raws)) in ticks
