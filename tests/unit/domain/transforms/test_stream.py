"""The fold applied while copying, without a server: merged parent/child streams and the raw bytes out."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import bson
import pytest
from bson import ObjectId
from bson.raw_bson import RawBSONDocument
from hypothesis import given, settings
from hypothesis import strategies as st

from mongo_promote.domain.plan import EmbedSpec, RewriteSpec, bundled_plan_path, load_plan
from mongo_promote.domain.transforms.bsonbytes import CODEC
from mongo_promote.domain.transforms.fold import EmbedStats, fold_group
from mongo_promote.domain.transforms.oracle import apply_fold as _apply_fold
from mongo_promote.domain.transforms.rewrite import RewriteStats
from mongo_promote.domain.transforms.stream import FoldMerge, StreamTransformer

NOW = dt.datetime(2026, 1, 27, 12, 0, tzinfo=dt.UTC)
ENV = {
    "STAGING_MONGO_URI": "mongodb://s:1",
    "PROD_MONGO_URI": "mongodb://p:1",
    "MEESHY_REMOTE_HOST": "ops@meeshy-host.invalid",  # the freeze's ssh has no default
}
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


def day(n: int | None) -> dt.datetime | None:
    return None if n is None else dt.datetime(2025, 1, 1 + n, tzinfo=dt.UTC)


DAYS = st.none() | st.integers(0, 5)
children_strategy = st.lists(
    st.tuples(st.integers(0, 38), st.sampled_from(LANGS), st.text(max_size=5), DAYS),
    max_size=60,
)
# a parent without a map field, or with a map whose entries may or may not carry an updatedAt
existing_maps = st.none() | st.dictionaries(st.sampled_from([*LANGS, "it"]), DAYS)


def held_map(entries: dict[str, int | None]) -> dict[str, Any]:
    return {
        lang: {"text": f"held-{lang}", **({} if n is None else {"updatedAt": day(n)})}
        for lang, n in entries.items()
    }


def kept_by_rule(policy: str, held: Any, child_when: Any) -> bool:
    """on_existing, written out independently of the code under test."""
    if policy != "latest":
        return policy == "keep"
    theirs = held.get("updatedAt")
    if theirs is None or child_when is None:
        return theirs is not None
    return theirs >= child_when


@settings(max_examples=150, deadline=None)
@given(
    parents=st.dictionaries(st.integers(0, 30), existing_maps, max_size=25),
    kids=children_strategy,
    policy=st.sampled_from(["latest", "overwrite", "keep"]),
)
def test_merge_folds_every_child_into_its_parent_and_counts_the_rest_as_orphans(
    plan_specs: tuple[EmbedSpec, RewriteSpec],
    parents: dict[int, dict[str, int | None] | None],
    kids: list[tuple[int, str, str, int | None]],
    policy: str,
) -> None:
    embed = plan_specs[0].model_copy(update={"on_existing": policy})
    children = [
        {"_id": ObjectId(), "messageId": IDS[p], "targetLanguage": lang, "translatedText": text,
         "confidenceScore": 0.5, **({} if n is None else {"updatedAt": day(n)})}
        for p, lang, text, n in kids
    ]  # fmt: skip
    tx = transformer(embed, children)
    sources: dict[int, dict[str, Any]] = {}
    out = {}
    for p in sorted(parents):
        sources[p] = {"_id": IDS[p], "n": p}
        if parents[p] is not None:
            sources[p]["translations"] = held_map(parents[p])
        doc = raw(sources[p])
        out[p] = tx.apply(doc)
        if not any(c["messageId"] == IDS[p] for c in children):
            assert out[p] is doc  # untouched parents keep their bytes
    stats = tx.finish()[0]
    pairs = overlaps = 0
    for p, got in out.items():
        group = [c for c in children if c["messageId"] == IDS[p]]
        entries = fold_group(
            IDS[p], sorted(group, key=lambda c: c["_id"]), embed, NOW, EmbedStats()
        )
        decoded = bson.decode(got.raw, codec_options=CODEC)
        # the validator's side computes the same document, key order and types included
        expected = copy.deepcopy(sources[p])
        if entries:
            _apply_fold(expected, embed, entries)
        assert bson.encode(decoded) == bson.encode(expected)
        held = sources[p].get("translations", {})
        for lang, entry in entries.items():
            keep = lang in held and kept_by_rule(policy, held[lang], entry.updated_at)
            assert decoded["translations"][lang] == (held[lang] if keep else entry.value)
        for lang in set(held) - set(entries):
            assert decoded["translations"][lang] == held[lang]  # keys no child has survive
        assert decoded["n"] == p
        pairs += len(entries)
        overlaps += len(set(held) & set(entries))
    orphans = [c for c in children if IDS.index(c["messageId"]) not in parents]
    assert stats["orphans"] == len(orphans)
    assert stats["children_read"] == len(children)
    assert stats["folded"] + stats["existing_kept"] == pairs
    assert stats["existing_kept"] + stats["existing_replaced"] == overlaps


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


def test_a_document_a_rewrite_cannot_decode_is_copied_unchanged_and_reported(
    plan_specs: tuple[EmbedSpec, RewriteSpec],
) -> None:
    _, rewrite = plan_specs
    tx = StreamTransformer("MessageAttachment", [], [(rewrite, RewriteStats())])
    good = bson.encode({"_id": 7, "fileUrl": "https://staging.meeshy.me/\u00e9"})
    bad = good.replace("\u00e9".encode(), b"\xff\xfe")  # same length: still valid BSON framing
    doc = RawBSONDocument(bad)
    assert tx.apply(doc) is doc  # bytes untouched
    (stats,) = tx.finish()
    (unreadable,) = stats["unreadable_copied_unchanged"]
    assert unreadable["_id"] == "7" and "utf" in unreadable["error"].lower()


def test_a_parent_over_16_mb_after_the_transforms_fails_naming_its_id_and_size(
    plan_specs: tuple[EmbedSpec, RewriteSpec],
) -> None:
    _, rewrite = plan_specs
    tx = StreamTransformer("MessageAttachment", [], [(rewrite, RewriteStats())])
    url = "https://staging.meeshy.me/" + "x" * (16 * 1024 * 1024)
    doc = raw({"_id": "big", "fileUrl": url, "thumbnailUrl": url[:100]})
    with pytest.raises(Exception, match=r"_id 'big' would be [\d,]+ bytes") as failed:
        tx.apply(doc)
    assert getattr(failed.value, "exit_code", None) == 1


# ---------------------------------------------------------------- reading ahead


def test_read_ahead_yields_everything_in_order_across_chunks() -> None:
    from mongo_promote.domain.transforms.stream import read_ahead

    assert list(read_ahead(iter(range(2503)), chunk=100)) == list(range(2503))
    assert list(read_ahead(iter([]), chunk=100)) == []


def test_read_ahead_raises_the_sources_error_after_what_came_before() -> None:
    from mongo_promote.domain.transforms.stream import read_ahead

    def failing() -> Any:
        yield from range(250)
        raise ConnectionError("server gone")

    got: list[int] = []
    with pytest.raises(ConnectionError, match="server gone"):
        for value in read_ahead(failing(), chunk=100):
            got.append(value)
    assert got == list(range(200))  # the whole chunks read before the failure


def test_a_consumer_that_stops_early_stops_the_reader() -> None:
    import threading

    from mongo_promote.domain.transforms.stream import read_ahead

    pulled: list[int] = []

    def endless() -> Any:
        n = 0
        while True:
            pulled.append(n)
            yield n
            n += 1

    stream = read_ahead(endless(), chunk=10)
    assert [next(stream) for _ in range(5)] == [0, 1, 2, 3, 4]
    stream.close()  # what a `for` loop left by an exception does
    assert not any(t.name == "read-ahead" and t.is_alive() for t in threading.enumerate())
    assert len(pulled) <= 40  # one chunk in hand, one waiting, one being read: no runaway


@given(
    st.dictionaries(
        st.sampled_from(["a", "ab", "translations", "t", "x.y"]),
        st.one_of(
            st.text(max_size=20),
            st.integers(-(2**63), 2**63 - 1),
            st.none(),
            st.dictionaries(
                st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=3),
                st.integers(0, 9),
                max_size=2,
            ),
        ),
        max_size=5,
    ),
    st.sampled_from(["a", "ab", "translations", "t", "missing"]),
)
@settings(max_examples=300, deadline=None)
def test_locate_finds_exactly_the_top_level_element(doc: dict[str, Any], field: str) -> None:
    """Also when the name's bytes occur inside a value (a string holding "translations\\x00")."""
    from mongo_promote.domain.transforms.bsonbytes import bson_elements, locate

    doc = {"s": field + "\x00translations\x00", **doc}
    data = bson.encode(doc)
    walked = [(k, s, e, v) for name, k, s, e, v in bson_elements(data) if name == field]
    assert locate(data, field) == (walked[0] if walked else None)
