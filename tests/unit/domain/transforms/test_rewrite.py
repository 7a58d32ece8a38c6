"""The rewrite transform without a server: dotted paths through arrays, "*", idempotence."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import bson
import pytest
from bson.int64 import Int64
from hypothesis import given, settings
from hypothesis import strategies as st

from mongo_promote.domain.plan import RewriteSpec
from mongo_promote.domain.transforms.rewrite import (
    find_remaining,
    rewrite_document,
    rewrite_value,
)

FIND, REPLACE = "staging.meeshy.me", "meeshy.me"
OLD, NEW = "https://staging.meeshy.me/f/1.png", "https://meeshy.me/f/1.png"


def test_rewrite_value_counts_and_ignores_non_strings() -> None:
    assert rewrite_value(OLD, FIND, REPLACE) == (NEW, 1)
    assert rewrite_value(OLD + " " + OLD, FIND, REPLACE) == (NEW + " " + NEW, 2)
    assert rewrite_value("meeshy.me", FIND, REPLACE) == ("meeshy.me", 0)
    assert rewrite_value(5, FIND, REPLACE) == (5, 0)
    assert rewrite_value(None, FIND, REPLACE) == (None, 0)


def test_listed_top_level_fields_only() -> None:
    doc = {"_id": 1, "fileUrl": OLD, "thumbnailUrl": OLD, "note": OLD}
    result = rewrite_document(doc, ["fileUrl", "thumbnailUrl"], FIND, REPLACE)
    assert result.changes == {"fileUrl": NEW, "thumbnailUrl": NEW}
    assert result.fields_changed == ["fileUrl", "thumbnailUrl"]
    assert result.occurrences == 2
    assert doc["fileUrl"] == OLD  # the input is not modified


def test_dotted_path_through_arrays_of_documents() -> None:
    doc: dict[str, Any] = {
        "_id": 1,
        "metadata": {
            "size": Int64(10),
            "variants": [{"url": OLD, "w": 1}, {"url": "https://cdn/x"}, "loose " + OLD, 3],
        },
        "after": True,
    }
    result = rewrite_document(doc, ["metadata.variants.url"], FIND, REPLACE)
    assert result.fields_changed == ["metadata.variants.0.url"]
    new = result.changes["metadata"]
    assert new["variants"][0] == {"url": NEW, "w": 1}
    assert new["variants"][1:] == doc["metadata"]["variants"][1:]  # a bare string is not `.url`
    assert isinstance(new["size"], Int64)
    assert list(new) == ["size", "variants"]


def test_arrays_of_documents_at_every_level() -> None:
    doc = {"a": [{"b": [{"c": OLD}, {"c": [OLD, 1, "x"]}]}, {"b": {"c": OLD}}]}
    result = rewrite_document(doc, ["a.b.c"], FIND, REPLACE)
    assert result.fields_changed == ["a.0.b.0.c", "a.0.b.1.c.0", "a.1.b.c"]
    assert result.changes["a"] == [{"b": [{"c": NEW}, {"c": [NEW, 1, "x"]}]}, {"b": {"c": NEW}}]


def test_array_of_strings_and_numeric_index() -> None:
    doc = {"urls": [OLD, 7, OLD, "other"]}
    assert rewrite_document(doc, ["urls"], FIND, REPLACE).changes == {
        "urls": [NEW, 7, NEW, "other"]
    }
    assert rewrite_document(doc, ["urls.2"], FIND, REPLACE).changes == {
        "urls": [OLD, 7, NEW, "other"]
    }
    assert rewrite_document(doc, ["urls.9"], FIND, REPLACE).changes == {}


def test_path_to_a_subdocument_is_not_a_string() -> None:
    doc = {"meta": {"url": OLD}}
    assert rewrite_document(doc, ["meta"], FIND, REPLACE).changes == {}


def test_star_rewrites_every_string_but_id_and_keys() -> None:
    doc: dict[str, Any] = {
        "_id": OLD,
        "fileUrl": OLD,
        "n": 3,
        "meta": {FIND: OLD, "deep": [[OLD], {"x": OLD}], "when": dt.datetime(2025, 1, 1)},
    }
    result = rewrite_document(doc, ["*"], FIND, REPLACE)
    assert set(result.changes) == {"fileUrl", "meta"}
    meta = result.changes["meta"]
    assert list(meta) == [FIND, "deep", "when"]
    assert meta[FIND] == NEW and meta["deep"] == [[NEW], {"x": NEW}]
    assert meta["when"] is doc["meta"]["when"]
    assert result.occurrences == 4


def test_id_is_never_rewritten_even_when_listed() -> None:
    doc = {"_id": OLD, "x": {"_id": OLD}}
    assert rewrite_document(doc, ["_id", "_id.x"], FIND, REPLACE).changes == {}
    assert rewrite_document(doc, ["x._id"], FIND, REPLACE).changes == {"x": {"_id": NEW}}


def test_overlapping_paths_rewrite_each_string_once() -> None:
    doc = {"a": ["x"]}
    result = rewrite_document(doc, ["a", "a.0", "a"], "x", "xx")
    assert result.changes == {"a": ["xx"]}
    assert result.occurrences == 1


def test_find_remaining_names_concrete_paths() -> None:
    doc = {"_id": OLD, "a": [{"u": OLD}, {"u": "ok"}], "b": NEW}
    assert find_remaining(doc, ["a.u", "b"], FIND) == ["a.0.u"]
    assert find_remaining(doc, ["*"], FIND) == ["a.0.u"]


# ---------------------------------------------------------------- "*" as a path segment


def test_star_segment_is_every_key_of_a_map() -> None:
    doc: dict[str, Any] = {
        "_id": 1,
        "translations": {
            "en": {"url": OLD, "transcription": OLD},
            "fr": {"url": NEW},
            "de": {"type": "text"},
            "es": "not a document",
            "it": {"url": [OLD, 3, "x"]},
        },
    }
    result = rewrite_document(doc, ["translations.*.url"], FIND, REPLACE)
    assert result.fields_changed == ["translations.en.url", "translations.it.url.0"]
    new = result.changes["translations"]
    assert new["en"] == {"url": NEW, "transcription": OLD}  # only `url` under each key
    assert new["it"] == {"url": [NEW, 3, "x"]}
    assert new["fr"] is doc["translations"]["fr"] and new["es"] == "not a document"
    assert list(new) == list(doc["translations"])
    assert doc["translations"]["en"]["url"] == OLD  # the input is not modified


def test_star_segment_traverses_arrays_on_the_way() -> None:
    doc = {
        "a": [{"m": {"k1": {"u": OLD}, "k2": {"u": "ok"}}}, {"m": [{"k3": {"u": OLD}}]}, OLD],
    }
    result = rewrite_document(doc, ["a.m.*.u"], FIND, REPLACE)
    assert result.fields_changed == ["a.0.m.k1.u", "a.1.m.0.k3.u"]
    assert result.changes["a"][2] == OLD  # a bare string is not `.m`


def test_trailing_star_is_every_string_below() -> None:
    doc: dict[str, Any] = {
        "_id": OLD,
        "fileUrl": OLD,
        "metadata": {
            "source": OLD,
            "deep": {"x": [OLD, {"y": OLD}], "n": Int64(3)},
            FIND: 1,
        },
        "other": {"z": OLD},
    }
    result = rewrite_document(doc, ["metadata.*"], FIND, REPLACE)
    assert set(result.changes) == {"metadata"}
    assert result.fields_changed == [
        "metadata.source",
        "metadata.deep.x.0",
        "metadata.deep.x.1.y",
    ]
    meta = result.changes["metadata"]
    assert list(meta) == ["source", "deep", FIND]  # keys are never rewritten
    assert isinstance(meta["deep"]["n"], Int64)
    # under a string or a number there is nothing to rewrite
    assert rewrite_document(doc, ["fileUrl.*"], FIND, REPLACE).changes == {}
    assert rewrite_document({"urls": [OLD, 1]}, ["urls.*"], FIND, REPLACE).changes == {
        "urls": [NEW, 1]
    }


def test_leading_star_segment_is_every_top_level_field_but_id() -> None:
    doc = {"_id": {"url": OLD}, "a": {"url": OLD}, "b": {"url": "ok"}, "c": {"other": OLD}}
    result = rewrite_document(doc, ["*.url"], FIND, REPLACE)
    assert result.changes == {"a": {"url": NEW}}


def test_star_overlapping_an_explicit_path_rewrites_once() -> None:
    doc = {"t": {"en": {"url": "x"}}}
    result = rewrite_document(doc, ["t.*.url", "t.en.url", "t.*"], "x", "xx")
    assert result.changes == {"t": {"en": {"url": "xx"}}}
    assert result.occurrences == 1


def test_find_remaining_through_star_paths() -> None:
    """What validation's "no find string left" check relies on."""
    doc = {"translations": {"en": {"url": OLD}, "fr": {"url": NEW}}, "metadata": {"a": [OLD]}}
    assert find_remaining(doc, ["translations.*.url"], FIND) == ["translations.en.url"]
    assert find_remaining(doc, ["metadata.*"], FIND) == ["metadata.a.0"]
    fields = ["translations.*.url", "metadata.*"]
    fixed = {**doc, **rewrite_document(doc, fields, FIND, REPLACE).changes}
    assert find_remaining(fixed, fields, FIND) == []


def test_plan_accepts_star_segments() -> None:
    spec = RewriteSpec.model_validate(
        {
            "collection": "MessageAttachment",
            "fields": ["fileUrl", "translations.*.url", "metadata.*"],
            "find": FIND,
            "replace": REPLACE,
        }
    )
    assert spec.fields == ["fileUrl", "translations.*.url", "metadata.*"]


# ---------------------------------------------------------------- properties

SEGMENT = st.text(alphabet="abc./", max_size=6)
FINDS = st.text(alphabet="abc./", min_size=0, max_size=5).map(lambda t: "X" + t)
REPLACES = st.text(alphabet="abc./", max_size=6)
KEYS = st.sampled_from(["a", "b", "c", "d", "e"])


def planted(find: str) -> st.SearchStrategy[str]:
    """Strings whose only occurrences of `find` are the planted ones: X appears nowhere else, and
    neither the plain text nor `replace` contains it, so no occurrence can survive a rewrite."""
    return st.lists(SEGMENT, min_size=1, max_size=4).map(find.join)


def values(find: str) -> st.SearchStrategy[Any]:
    leaves = st.one_of(planted(find), st.integers(-(2**63), 2**63 - 1), st.none(), st.booleans())
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=4)
        ),
        max_leaves=12,
    )


@st.composite
def cases(draw: st.DrawFn) -> tuple[dict[str, Any], list[str], str, str]:
    find, replace = draw(FINDS), draw(REPLACES)
    doc = {"_id": draw(planted(find))}
    doc.update(draw(st.dictionaries(KEYS, values(find), max_size=5)))
    paths = st.lists(KEYS, min_size=1, max_size=3).map(".".join)
    fields = draw(st.one_of(st.just(["*"]), st.lists(paths, min_size=1, max_size=4)))
    return doc, fields, find, replace


def strings(node: Any, path: str = "") -> dict[str, str]:
    """Every string in a document by concrete path."""
    if isinstance(node, str):
        return {path: node}
    items = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else []
    )
    out: dict[str, str] = {}
    for key, value in items:
        out.update(strings(value, f"{path}.{key}".lstrip(".")))
    return out


def shape(node: Any) -> Any:
    """The document with every string blanked: what a rewrite must leave identical."""
    if isinstance(node, str):
        return "<s>"
    if isinstance(node, dict):
        return [(k, shape(v)) for k, v in node.items()]
    if isinstance(node, list):
        return [shape(v) for v in node]
    return (type(node).__name__, node)


def generic(path: str) -> str:
    return ".".join(p for p in path.split(".") if not p.isdigit())


@settings(max_examples=400, deadline=None)
@given(cases())
def test_rewrite_properties(case: tuple[dict[str, Any], list[str], str, str]) -> None:
    doc, fields, find, replace = case
    before = copy.deepcopy(doc)
    result = rewrite_document(doc, fields, find, replace)
    assert doc == before
    new = {**doc, **result.changes}
    assert list(new) == list(doc)
    assert new["_id"] == doc["_id"]
    assert shape(new) == shape(doc)
    assert find_remaining(new, fields, find) == []
    assert rewrite_document(new, fields, find, replace).changes == {}
    old_s, new_s = strings(doc), strings(new)
    differ = {p for p in old_s if old_s[p] != new_s[p]}
    assert differ == set(result.fields_changed)
    for path in differ:
        assert new_s[path] == old_s[path].replace(find, replace)
        assert fields == ["*"] or generic(path) in {generic(f) for f in fields}
    if fields == ["*"]:
        assert differ == {p for p, s in old_s.items() if find in s and not p.startswith("_id")}
    assert result.occurrences == sum(old_s[p].count(find) for p in differ)
    assert bson.encode(new)  # still a valid document


@pytest.mark.parametrize("fields", [["a"], ["*"]])
def test_replace_containing_find_is_single_pass(fields: list[str]) -> None:
    doc = {"a": "meeshy.me"}
    result = rewrite_document(doc, fields, "meeshy.me", "staging.meeshy.me")
    assert result.changes == {"a": "staging.meeshy.me"}
    assert find_remaining({**doc, **result.changes}, fields, "meeshy.me") == ["a"]
