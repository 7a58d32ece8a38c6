"""BSON helpers without a server: server ordering, dotted paths, byte editing that keeps every other byte."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import bson
import pytest
from bson import SON, Binary, Code, Decimal128, Int64, MaxKey, MinKey, ObjectId, Regex, Timestamp
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from hypothesis import given, settings
from hypothesis import strategies as st

from mongo_promote.domain.transforms.bsonbytes import (
    CODEC,
    bson_elements,
    bson_key,
    element,
    get_path,
    jsonable,
    set_elements,
    with_map,
)

T1 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
T2 = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)


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


def test_bson_key_naive_and_aware_dates_are_one_instant() -> None:
    assert bson_key(T1) == bson_key(T1.replace(tzinfo=None))


# ---------------------------------------------------------------- dotted paths


@pytest.mark.parametrize("as_raw", [False, True])
def test_get_path_through_documents_and_array_indexes(as_raw: bool) -> None:
    doc: dict[str, Any] = {"a": {"b": [{"c": 1}, "x"], "n": None}, "z": 0}
    got: Any = RawBSONDocument(bson.encode(doc)) if as_raw else doc
    assert get_path(got, "z") == (True, 0)
    assert get_path(got, "a.n") == (True, None)
    assert get_path(got, "a.b.0.c") == (True, 1)
    assert get_path(got, "a.b.1") == (True, "x")
    for missing in ("y", "a.x", "a.b.2", "a.b.c", "z.q", "a.b.1.c"):
        assert get_path(got, missing) == (False, None), missing


def test_jsonable_makes_ids_and_dates_strings() -> None:
    oid = ObjectId("65a000000000000000000001")
    assert jsonable({"i": oid, "d": T1, "l": (1, None)}) == {
        "i": str(oid),
        "d": T1.isoformat(),
        "l": [1, None],
    }


# ---------------------------------------------------------------- byte editing


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


def test_element_decodes_one_field() -> None:
    data = bson.encode(every_bson_type())
    assert element(data, "doc") == (True, {"a": [1, {"b": None}]})
    assert element(data, "date") == (True, T1)
    assert element(data, "null") == (True, None)
    assert element(data, "absent") == (False, None)


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
