"""The embed fold without a server: key and field fallbacks, defaults, duplicates, invariants."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Mapping
from typing import Any

import bson
import pytest
from bson import SON, Binary, Code, Decimal128, Int64, MaxKey, MinKey, ObjectId, Regex, Timestamp
from bson.codec_options import CodecOptions
from hypothesis import given, settings
from hypothesis import strategies as st

from mongo_promote.plan import EmbedSpec, load_plan
from mongo_promote.transforms.embed import (
    CODEC,
    EmbedError,
    EmbedStats,
    bson_elements,
    bson_key,
    bson_time,
    fold_group,
    group_by_parent,
    invalid_key_reason,
    iter_folded,
    map_child,
    pick_key,
    set_elements,
    with_map,
)

NOW = dt.datetime(2026, 1, 27, 12, 0, 0, 123456, tzinfo=dt.UTC)
T1 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
T2 = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)
ENV = {"STAGING_MONGO_URI": "mongodb://staging:27017", "PROD_MONGO_URI": "mongodb://prod:27017"}


@pytest.fixture(scope="module")
def spec() -> EmbedSpec:
    """The bundled Meeshy plan's embed: the tests check the transform users actually run."""
    from mongo_promote.plan import bundled_plan_path

    return load_plan(bundled_plan_path(), env=ENV).plan.embeds[0]


def child(_id: Any, parent: Any = "m1", **fields: Any) -> dict[str, Any]:
    base = {"_id": _id, "messageId": parent, "targetLanguage": "fr", "translatedText": "bonjour"}
    base.update(fields)
    return {k: v for k, v in base.items() if v is not ...}


# ---------------------------------------------------------------- keys


def test_key_is_first_present_non_null_field(spec: EmbedSpec) -> None:
    assert pick_key(child(1), spec) == "fr"
    assert pick_key(child(1, targetLanguage=..., language="en"), spec) == "en"
    assert pick_key(child(1, targetLanguage=None, language="en"), spec) == "en"
    assert pick_key(child(1, targetLanguage="de", language="en"), spec) == "de"
    assert pick_key(child(1, targetLanguage=...), spec) is None


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("fr", None),
        ("zh-Hant", None),
        ("", "empty"),
        ("$where", "starts with '$'"),
        ("a.b", "contains '.'"),
        ("a\x00b", "contains NUL"),
        (5, "not a string (int)"),
        (["fr"], "not a string (list)"),
    ],
)
def test_invalid_key_reasons(key: Any, reason: str | None) -> None:
    assert invalid_key_reason(key) == reason


# ---------------------------------------------------------------- fields


def test_text_falls_back_translatedText_translatedContent_content(spec: EmbedSpec) -> None:
    text = lambda c: map_child(c, spec, NOW).value["text"]  # noqa: E731
    assert text(child(1, translatedContent="b", content="c")) == "bonjour"
    assert text(child(1, translatedText=..., translatedContent="b", content="c")) == "b"
    assert text(child(1, translatedText=None, translatedContent="b")) == "b"
    assert text(child(1, translatedText=..., content="c")) == "c"


def test_defaults_and_now_is_one_bson_timestamp(spec: EmbedSpec) -> None:
    mapped = map_child(child(1, confidenceScore=0.9), spec, NOW)
    assert mapped.value["translationModel"] == "basic"
    assert mapped.value["createdAt"] == mapped.value["updatedAt"] == bson_time(NOW)
    assert mapped.value["createdAt"].microsecond == 123000
    assert mapped.missing == []
    given_values = map_child(
        child(1, translationModel="nllb", createdAt=T1, updatedAt=T2, confidenceScore=1), spec, NOW
    ).value
    assert (given_values["translationModel"], given_values["createdAt"]) == ("nllb", T1)


def test_naive_now_is_taken_as_utc() -> None:
    assert bson_time(dt.datetime(2026, 1, 1, 10, 0, 0, 999999)) == dt.datetime(
        2026, 1, 1, 10, 0, 0, 999000, tzinfo=dt.UTC
    )


def test_optional_fields_omitted_and_encryption_carried(spec: EmbedSpec) -> None:
    plain = map_child(child(1, confidenceScore=0.5), spec, NOW).value
    assert not {"isEncrypted", "encryptionKeyId", "encryptionIv", "encryptionAuthTag"} & set(plain)
    enc = child(
        1,
        confidenceScore=0.5,
        isEncrypted=True,
        encryptionKeyId="k1",
        encryptionIv="iv",
        encryptionAuthTag="tag",
    )
    value = map_child(enc, spec, NOW).value
    assert value["isEncrypted"] is True
    assert (value["encryptionKeyId"], value["encryptionIv"], value["encryptionAuthTag"]) == (
        "k1",
        "iv",
        "tag",
    )


def test_value_follows_plan_field_order(spec: EmbedSpec) -> None:
    doc = child(1, confidenceScore=0.5, isEncrypted=False, updatedAt=T2, createdAt=T1)
    assert list(map_child(doc, spec, NOW).value) == [
        f for f in spec.fields if f not in ("encryptionKeyId", "encryptionIv", "encryptionAuthTag")
    ]


def test_plain_mapping_missing_is_reported_not_invented(spec: EmbedSpec) -> None:
    mapped = map_child(child(1), spec, NOW)
    assert "confidenceScore" not in mapped.value
    assert mapped.missing == ["confidenceScore"]
    stats = EmbedStats()
    fold_group("m1", [child(7)], spec, NOW, stats)
    assert stats.missing_fields == {"confidenceScore": 1}
    assert stats.missing_samples == [{"child": 7, "fields": ["confidenceScore"]}]


def test_mutable_default_is_not_shared() -> None:
    spec = EmbedSpec.model_validate(
        {
            "from": "C",
            "into": "P",
            "match": {"from": "p"},
            "key": {"from": "k"},
            "as": "m",
            "fields": {"tags": {"from": "tags", "default": []}},
        }
    )
    a = map_child({"k": "x"}, spec, NOW).value["tags"]
    b = map_child({"k": "y"}, spec, NOW).value["tags"]
    a.append(1)
    assert b == [] and spec.fields["tags"].default == []


# ---------------------------------------------------------------- duplicates


def test_latest_updated_at_wins_and_losers_are_reported(spec: EmbedSpec) -> None:
    stats = EmbedStats()
    kids = [
        child(1, translatedText="old", updatedAt=T1),
        child(2, translatedText="new", updatedAt=T2),
        child(3, translatedText="undated"),
        child(4, targetLanguage="en", translatedText="hello"),
    ]
    folded = fold_group("m1", kids, spec, NOW, stats)
    assert folded["fr"]["text"] == "new" and folded["en"]["text"] == "hello"
    assert stats.duplicates == 2
    assert stats.duplicate_samples == [{"parent": "m1", "key": "fr", "winner": 2, "losers": [1, 3]}]


def test_tie_on_updated_at_greater_id_wins(spec: EmbedSpec) -> None:
    low, high = ObjectId("000000000000000000000001"), ObjectId("000000000000000000000002")
    kids = [
        child(high, translatedText="b", updatedAt=T1),
        child(low, translatedText="a", updatedAt=T1),
    ]
    assert fold_group("m1", kids, spec, NOW, EmbedStats())["fr"]["text"] == "b"
    assert fold_group("m1", kids[::-1], spec, NOW, EmbedStats())["fr"]["text"] == "b"


def test_all_undated_greater_id_wins(spec: EmbedSpec) -> None:
    kids = [child(2, translatedText="b"), child(1, translatedText="a", updatedAt=None)]
    assert fold_group("m1", kids, spec, NOW, EmbedStats())["fr"]["text"] == "b"


def test_first_policy_keeps_earliest(spec: EmbedSpec) -> None:
    first = spec.model_copy(update={"on_duplicate_key": "first"})
    kids = [
        child(1, translatedText="undated"),
        child(2, translatedText="new", updatedAt=T2),
        child(3, translatedText="old", updatedAt=T1),
        child(4, translatedText="old-too", updatedAt=T1),
    ]
    stats = EmbedStats()
    assert fold_group("m1", kids, first, NOW, stats)["fr"]["text"] == "old"
    assert stats.duplicate_samples[0]["winner"] == 3


def test_fail_policy_raises_listing_pairs_unless_tolerated(spec: EmbedSpec) -> None:
    strict = spec.model_copy(update={"on_duplicate_key": "fail"})
    kids = [child(1, updatedAt=T1), child(2, updatedAt=T2)]
    with pytest.raises(EmbedError, match=r"duplicate keys.*'fr'.*'losers': \[1\]"):
        fold_group("m1", kids, strict, NOW, EmbedStats())
    stats = EmbedStats()
    assert fold_group("m1", kids, strict, NOW, stats, tolerate_duplicates=True)
    assert stats.duplicates == 1


# ---------------------------------------------------------------- invalid keys, orphans, grouping


def test_invalid_and_missing_keys_are_counted_never_emitted(spec: EmbedSpec) -> None:
    stats = EmbedStats()
    kids = [
        child(1, targetLanguage="a.b"),
        child(2, targetLanguage="$x"),
        child(3, targetLanguage=""),
        child(4, targetLanguage=7),
        child(5, targetLanguage=...),
        child(6, targetLanguage="fr", confidenceScore=1),
    ]
    assert list(fold_group("m1", kids, spec, NOW, stats)) == ["fr"]
    assert (stats.invalid_keys, stats.no_key) == (4, 1)
    assert [s["child"] for s in stats.invalid_key_samples] == [1, 2, 3, 4]
    assert stats.no_key_samples == [5]


def test_parent_with_only_bad_children_gets_nothing(spec: EmbedSpec) -> None:
    out = list(iter_folded([child(1, targetLanguage=...)], spec, NOW, EmbedStats()))
    assert out == []


def test_orphans_and_missing_match_field(spec: EmbedSpec) -> None:
    kids = [child(1, parent=...), child(2, parent="gone"), child(3, parent="gone"), child(4)]
    kids.sort(key=lambda c: bson_key(c.get("messageId")))
    stats = EmbedStats()
    asked: list[list[Any]] = []

    def exists(ids: Any) -> list[Any]:
        asked.append(list(ids))
        return [i for i in ids if i == "m1"]

    out = list(iter_folded(kids, spec, NOW, stats, parent_exists=exists))
    assert [p for p, _ in out] == ["m1"]
    assert (stats.orphans, sorted(stats.orphan_samples)) == (3, [1, 2, 3])
    assert asked == [["gone", "m1"]]


def test_batches_look_up_parents_batch_by_batch(spec: EmbedSpec) -> None:
    kids = [child(i, parent=f"m{i // 3:03d}", targetLanguage=f"l{i % 3}") for i in range(30)]
    calls: list[int] = []

    def exists(ids: Any) -> list[Any]:
        calls.append(len(ids))
        return list(ids)

    out = list(iter_folded(kids, spec, NOW, EmbedStats(), parent_exists=exists, batch_docs=7))
    assert len(out) == 10 and all(len(v) == 3 for _, v in out)
    assert sum(calls) == 10 and len(calls) > 1


def test_bson_key_orders_like_the_server() -> None:
    ordered = [
        None,
        -1.5,
        2,
        Decimal128("2.5"),
        "A",
        "a",
        "é",
        {"a": 1},
        [1],
        Binary(b"x", 0),
        ObjectId("000000000000000000000001"),
        ObjectId("100000000000000000000000"),
        False,
        True,
        T1,
        T2,
        Timestamp(1, 9),
        Timestamp(2, 1),
    ]
    assert sorted(ordered[::-1], key=bson_key) == ordered


def test_numeric_parents_group_like_the_server() -> None:
    kids: list[dict[str, Any]] = [{"p": 1, "_id": 1}, {"p": 1.0, "_id": 2}, {"p": True, "_id": 3}]
    assert [len(g) for _, g in group_by_parent(kids, "p")] == [2, 1]


def test_unsorted_input_is_refused(spec: EmbedSpec) -> None:
    kids = [child(1, parent="b"), child(2, parent="a")]
    with pytest.raises(EmbedError, match="not sorted"):
        list(iter_folded(kids, spec, NOW, EmbedStats()))


# ---------------------------------------------------------------- property


PARENTS = [None, "m1", "m2", ObjectId("65a000000000000000000001"), 3]
KEYS = ["fr", "en", "es", "", "$bad", "a.b", None, 5, ...]
DATES = [None, T1, T2, ...]


@st.composite
def children(draw: st.DrawFn) -> list[dict[str, Any]]:
    n = draw(st.integers(0, 40))
    out = []
    for i in range(n):
        doc = {
            "_id": draw(st.integers(0, 10_000)) * 100 + i,
            "messageId": draw(st.sampled_from(PARENTS)),
            "targetLanguage": draw(st.sampled_from(KEYS)),
            "language": draw(st.sampled_from(KEYS)),
            "updatedAt": draw(st.sampled_from(DATES)),
            "translatedText": f"t{i}",
            "confidenceScore": 0.5,
        }
        out.append({k: v for k, v in doc.items() if v is not ...})
    return sorted(out, key=lambda c: bson_key(c.get("messageId")))


def _rank(c: Mapping[str, Any]) -> tuple[Any, ...]:
    when = c.get("updatedAt")
    return (when is not None, bson_key(when) if when is not None else (0, 0), c["_id"])


@settings(max_examples=300, deadline=None)
@given(children(), st.integers(1, 12))
def test_fold_invariants(spec: EmbedSpec, kids: list[dict[str, Any]], batch: int) -> None:
    stats = EmbedStats()
    out = list(iter_folded(kids, spec, NOW, stats, batch_docs=batch))
    valid: dict[tuple[Any, str], list[dict[str, Any]]] = {}
    for c in kids:
        key = pick_key(c, spec)
        if c.get("messageId") is not None and key is not None and invalid_key_reason(key) is None:
            valid.setdefault((bson_key(c["messageId"]), key), []).append(c)
    emitted = [(bson_key(p), k) for p, values in out for k in values]
    assert len(emitted) == len(set(emitted)) == len(valid)
    assert set(emitted) == set(valid)
    by_text = {c["translatedText"]: c for c in kids}
    for parent, values in out:
        for key, value in values.items():
            source = by_text[value["text"]]
            assert pick_key(source, spec) == key
            assert bson_key(source["messageId"]) == bson_key(parent)
            assert source is max(valid[(bson_key(parent), key)], key=_rank)
    accounted = len(emitted) + stats.duplicates + stats.invalid_keys + stats.no_key + stats.orphans
    assert stats.children_read == len(kids) == accounted


# ---------------------------------------------------------------- raw splicing (merge strategy)


def every_bson_type() -> dict[str, Any]:
    return {
        "_id": ObjectId("65a000000000000000000001"),
        "double": -0.0,
        "string": "héllo",
        "doc": {"a": [1, {"b": None}]},
        "array": [1, "two", 3.0],
        "binary": Binary(b"\x00\x01", 4),
        "bool": True,
        "date": dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
        "null": None,
        "regex": Regex("^a.b$", "i"),
        "code": Code("f()"),
        "scope": Code("g(x)", {"x": 1}),
        "int32": 7,
        "ts": Timestamp(1, 2),
        "int64": Int64(2**40),
        "decimal": Decimal128("1.10"),
        "min": MinKey(),
        "max": MaxKey(),
    }


def test_bson_elements_walks_every_type_and_set_nothing_is_identity() -> None:
    data = bson.encode(every_bson_type())
    assert [name for name, *_ in bson_elements(data)] == list(every_bson_type())
    assert set_elements(data, {}) == data


def test_with_map_adds_merges_replaces_null_and_refuses_other_values() -> None:
    fr, en = {"text": "bonjour"}, {"text": "hello"}
    base = every_bson_type()
    data = bson.encode(base)

    added, outcome = with_map(data, "translations", {"fr": fr})
    assert outcome == "added" and added[4:-1].startswith(data[4:-1])
    assert bson.decode(added, CODEC) == {**base, "translations": {"fr": fr}}

    existing = bson.encode(
        {"_id": 1, "translations": {"de": {"t": Int64(1)}, "fr": {"t": 0}}, "z": 1}
    )
    merged, outcome = with_map(existing, "translations", {"fr": fr, "en": en})
    assert outcome == "merged"
    got = bson.decode(merged, CodecOptions(document_class=SON))
    assert list(got) == ["_id", "translations", "z"]
    assert list(got["translations"].items()) == [("de", {"t": 1}), ("fr", fr), ("en", en)]
    assert isinstance(got["translations"]["de"]["t"], Int64)

    nulled, outcome = with_map(
        bson.encode({"translations": None, "x": 1}), "translations", {"fr": fr}
    )
    assert outcome == "null" and bson.decode(nulled) == {"translations": {"fr": fr}, "x": 1}

    odd = bson.encode({"translations": "text"})
    assert with_map(odd, "translations", {"fr": fr}) == (odd, "non_map")


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from("abc"), inner),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(st.sampled_from(["_id", "m", "n", "t"]), JSONISH, max_size=4),
    st.dictionaries(st.sampled_from(["fr", "en", "a"]), st.dictionaries(st.just("v"), JSONISH)),
)
def test_with_map_is_dotted_set(doc: dict[str, Any], values: dict[str, Any]) -> None:
    data, outcome = with_map(bson.encode(doc), "t", values)
    expected = copy.deepcopy(doc)
    current = doc.get("t", ...)
    if current is ...:
        expected["t"], kind = dict(values), "added"
    elif current is None:
        expected["t"], kind = dict(values), "null"
    elif isinstance(current, dict):
        expected["t"], kind = {**current, **values}, "merged"
    else:
        kind = "non_map"
    assert bson.decode(data) == expected
    assert outcome == kind
