"""The embed's pure fold without a server: key and field fallbacks, defaults, duplicates, invariants."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import pytest
from bson import ObjectId
from hypothesis import given, settings
from hypothesis import strategies as st

from mongo_promote.domain.plan import EmbedSpec, load_plan
from mongo_promote.domain.transforms.bsonbytes import bson_key, bson_time
from mongo_promote.domain.transforms.fold import (
    EmbedError,
    EmbedStats,
    Entry,
    fold_group,
    group_by_parent,
    invalid_key_reason,
    map_child,
    pick_key,
    record_settled,
    settle,
)
from mongo_promote.domain.transforms.stream import FoldMerge

NOW = dt.datetime(2026, 1, 27, 12, 0, 0, 123456, tzinfo=dt.UTC)
T1 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
T2 = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)
ENV = {
    "STAGING_MONGO_URI": "mongodb://staging:27017",
    "PROD_MONGO_URI": "mongodb://prod:27017",
    "MEESHY_REMOTE_HOST": "ops@meeshy-host.invalid",  # the freeze's ssh has no default
}


@pytest.fixture(scope="module")
def spec() -> EmbedSpec:
    """The bundled Meeshy plan's embed: the tests check the transform users actually run."""
    from mongo_promote.domain.plan import bundled_plan_path

    return load_plan(bundled_plan_path(), env=ENV).plan.embeds[0]


def child(_id: Any, parent: Any = "m1", **fields: Any) -> dict[str, Any]:
    base = {"_id": _id, "messageId": parent, "targetLanguage": "fr", "translatedText": "bonjour"}
    base.update(fields)
    return {k: v for k, v in base.items() if v is not ...}


def texts(folded: dict[str, Entry]) -> dict[str, Any]:
    return {key: entry.value["text"] for key, entry in folded.items()}


def merged(
    kids: list[dict[str, Any]], spec: EmbedSpec, parents: list[Any] | None = None
) -> tuple[list[tuple[Any, dict[str, Entry]]], EmbedStats]:
    """The run's merge over `kids` (sorted by parent) and `parents` (default: every parent named)."""
    if parents is None:
        named = {bson_key(c.get("messageId")): c.get("messageId") for c in kids}
        parents = [named[k] for k in sorted(named) if named[k] is not None]
    merge = FoldMerge(spec, NOW, kids)
    out = [(p, entries) for p in parents if (entries := merge.entries_for(p))]
    return out, merge.drain()


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
    assert texts(folded) == {"fr": "new", "en": "hello"}
    assert (folded["fr"].updated_at, folded["en"].updated_at) == (T2, None)
    assert stats.duplicates == 2
    assert stats.duplicate_samples == [{"parent": "m1", "key": "fr", "winner": 2, "losers": [1, 3]}]


def test_tie_on_updated_at_greater_id_wins(spec: EmbedSpec) -> None:
    low, high = ObjectId("000000000000000000000001"), ObjectId("000000000000000000000002")
    kids = [
        child(high, translatedText="b", updatedAt=T1),
        child(low, translatedText="a", updatedAt=T1),
    ]
    assert texts(fold_group("m1", kids, spec, NOW, EmbedStats())) == {"fr": "b"}
    assert texts(fold_group("m1", kids[::-1], spec, NOW, EmbedStats())) == {"fr": "b"}


def test_all_undated_greater_id_wins(spec: EmbedSpec) -> None:
    kids = [child(2, translatedText="b"), child(1, translatedText="a", updatedAt=None)]
    assert texts(fold_group("m1", kids, spec, NOW, EmbedStats())) == {"fr": "b"}


def test_first_policy_keeps_earliest(spec: EmbedSpec) -> None:
    first = spec.model_copy(update={"on_duplicate_key": "first"})
    kids = [
        child(1, translatedText="undated"),
        child(2, translatedText="new", updatedAt=T2),
        child(3, translatedText="old", updatedAt=T1),
        child(4, translatedText="old-too", updatedAt=T1),
    ]
    stats = EmbedStats()
    assert texts(fold_group("m1", kids, first, NOW, stats)) == {"fr": "old"}
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
    out, stats = merged([child(1, targetLanguage=...)], spec)
    assert out == [] and stats.no_key == 1


def test_orphans_and_missing_match_field(spec: EmbedSpec) -> None:
    kids = [child(1, parent=...), child(2, parent="gone"), child(3, parent="gone"), child(4)]
    kids.sort(key=lambda c: bson_key(c.get("messageId")))
    out, stats = merged(kids, spec, parents=["m1"])
    assert [p for p, _ in out] == ["m1"]
    assert (stats.orphans, sorted(stats.orphan_samples)) == (3, [1, 2, 3])
    assert stats.parents_seen == 3 and stats.children_read == 4


def test_orphans_between_and_after_parents(spec: EmbedSpec) -> None:
    kids = [child(i, parent=p) for i, p in enumerate(["a", "b", "b", "c", "d", "e"])]
    out, stats = merged(kids, spec, parents=["b", "d"])
    assert [p for p, _ in out] == ["b", "d"]
    assert sorted(stats.orphan_samples) == [0, 3, 5]  # before, between and after the parents
    assert stats.duplicates == 1  # the two children of "b" share the key "fr"


def test_numeric_parents_group_like_the_server() -> None:
    kids: list[dict[str, Any]] = [{"p": 1, "_id": 1}, {"p": 1.0, "_id": 2}, {"p": True, "_id": 3}]
    assert [len(g) for _, g in group_by_parent(kids, "p")] == [2, 1]


def test_unsorted_input_is_refused(spec: EmbedSpec) -> None:
    kids = [child(1, parent="b"), child(2, parent="a")]
    with pytest.raises(EmbedError, match="not sorted"):
        merged(kids, spec, parents=["a", "b"])


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
@given(children(), st.sets(st.sampled_from(PARENTS[1:])))
def test_fold_invariants(spec: EmbedSpec, kids: list[dict[str, Any]], present: set[Any]) -> None:
    parents = sorted(present, key=bson_key)
    out, stats = merged(kids, spec, parents)
    present_keys = {bson_key(p) for p in parents}
    valid: dict[tuple[Any, str], list[dict[str, Any]]] = {}
    for c in kids:
        key = pick_key(c, spec)
        if (
            bson_key(c.get("messageId")) in present_keys
            and key is not None
            and invalid_key_reason(key) is None
        ):
            valid.setdefault((bson_key(c["messageId"]), key), []).append(c)
    emitted = [(bson_key(p), k) for p, values in out for k in values]
    assert len(emitted) == len(set(emitted)) == len(valid)
    assert set(emitted) == set(valid)
    by_text = {c["translatedText"]: c for c in kids}
    for parent, values in out:
        for key, entry in values.items():
            source = by_text[entry.value["text"]]
            assert pick_key(source, spec) == key
            assert bson_key(source["messageId"]) == bson_key(parent)
            assert source is max(valid[(bson_key(parent), key)], key=_rank)
            assert entry.updated_at == source.get("updatedAt")
    orphans = sum(1 for c in kids if bson_key(c.get("messageId")) not in present_keys)
    assert stats.orphans == orphans
    accounted = len(emitted) + stats.duplicates + stats.invalid_keys + stats.no_key + stats.orphans
    assert stats.children_read == len(kids) == accounted


# ---------------------------------------------------------------- on_existing


def held(when: Any = ..., text: str = "existing") -> dict[str, Any]:
    """An entry the parent's map already holds; `...`: without an updatedAt field."""
    return {"text": text} if when is ... else {"text": text, "updatedAt": when}


@pytest.mark.parametrize(
    ("theirs", "ours", "kept"),
    [
        (T2, T1, True),  # the existing entry is newer
        (T1, T2, False),  # the child is newer
        (T1, T1, True),  # an exact tie keeps the existing entry
        (T1.replace(tzinfo=None), T1, True),  # the same instant, decoded naive: still a tie
        (..., T1, False),  # the existing entry has no updatedAt: it loses
        (None, T1, False),  # a null updatedAt counts as none
        (T1, None, True),  # the child has no updatedAt: it loses
        (..., None, False),  # neither has one: the child wins
    ],
)
def test_on_existing_latest_keeps_the_newer_side(theirs: Any, ours: Any, kept: bool) -> None:
    entries = {"fr": Entry({"text": "child"}, ours)}
    settled = settle({"fr": held(theirs)}, entries, "latest")
    assert settled.kept == (["fr"] if kept else [])
    assert settled.replaced == ([] if kept else ["fr"])
    assert settled.values == ({} if kept else {"fr": {"text": "child"}})


def test_on_existing_keep_and_overwrite_ignore_dates() -> None:
    current = {"fr": held(T1), "en": held(T2)}
    entries = {"fr": Entry({"text": "c-fr"}, T2), "en": Entry({"text": "c-en"}, T1)}
    keep = settle(current, entries, "keep")
    assert (keep.values, keep.kept, keep.replaced) == ({}, ["fr", "en"], [])
    overwrite = settle(current, entries, "overwrite")
    assert overwrite.values == {"fr": {"text": "c-fr"}, "en": {"text": "c-en"}}
    assert (overwrite.kept, overwrite.replaced) == ([], ["fr", "en"])


def test_on_existing_only_concerns_keys_both_sides_have() -> None:
    current = {"de": held(T2), "fr": "a bare string", "it": None}
    entries = {
        "es": Entry({"text": "new"}, None),
        "fr": Entry({"text": "c-fr"}, None),
        "it": Entry({"text": "c-it"}, T1),
    }
    for policy in ("latest", "overwrite"):
        settled = settle(current, entries, policy)
        assert set(settled.values) == {"es", "fr", "it"}  # "de" is never written: it survives
        assert settled.replaced == ["fr", "it"]  # entries that are not documents have no date
    assert settle(current, entries, "keep").values == {"es": {"text": "new"}}
    for nothing in (None, "not a map", [1]):
        assert settle(nothing, entries, "keep").values == {k: e.value for k, e in entries.items()}


def test_settled_counts_are_recorded_with_samples() -> None:
    stats = EmbedStats()
    settled = settle({"fr": held(T2), "en": held(T1)}, {
        "fr": Entry({}, T1), "en": Entry({}, T2), "es": Entry({}, T1)
    }, "latest")  # fmt: skip
    record_settled(stats, "m1", settled)
    assert (stats.existing_kept, stats.existing_replaced) == (1, 1)
    assert stats.existing_samples == [{"parent": "m1", "kept": ["fr"], "replaced": ["en"]}]


WHENS = [..., None, T1, T2, T1.replace(tzinfo=None)]


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(st.sampled_from(["fr", "en", "es", "de"]), st.sampled_from(WHENS)),
    st.dictionaries(st.sampled_from(["fr", "en", "es", "it"]), st.sampled_from([None, T1, T2])),
    st.sampled_from(["latest", "overwrite", "keep"]),
)
def test_settle_properties(
    current_dates: dict[str, Any], entry_dates: dict[str, Any], policy: str
) -> None:
    current = {k: held(w, f"old-{k}") for k, w in current_dates.items()}
    entries = {k: Entry({"text": f"new-{k}"}, w) for k, w in entry_dates.items()}
    settled = settle(current, entries, policy)
    assert set(settled.values).isdisjoint(settled.kept)
    assert set(settled.values) | set(settled.kept) == set(entries)
    assert sorted(settled.kept + settled.replaced) == sorted(set(current) & set(entries))
    assert all(settled.values[k] == entries[k].value for k in settled.values)
    for key in set(current) & set(entries):
        theirs, ours = current[key].get("updatedAt"), entries[key].updated_at
        if policy == "latest" and theirs is not None and ours is not None:
            newer_child = bson_key(ours) > bson_key(theirs)
            assert (key in settled.replaced) == newer_child
        elif policy == "latest":
            assert (key in settled.kept) == (theirs is not None)
        else:
            assert (key in settled.kept) == (policy == "keep")
