"""Unit tests of the order-independent content hash (mongo_promote.checksum), no server needed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import bson
from bson.int64 import Int64
from bson.objectid import ObjectId
from bson.raw_bson import RawBSONDocument
from hypothesis import given
from hypothesis import strategies as st

from mongo_promote.checksum import ContentHash, collection_content_hash

_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=12)
_keys = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"))
_values = st.recursive(
    st.one_of(
        _text,
        st.integers(-(2**31), 2**31 - 1),
        st.integers(-(2**63), 2**63 - 1).map(Int64),
        st.floats(allow_nan=False),
        st.booleans(),
        st.none(),
        st.binary(min_size=12, max_size=12).map(ObjectId),
    ),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(_keys, children, max_size=3),
    max_leaves=10,
)
raw_documents = st.dictionaries(_keys, _values, max_size=5).map(bson.encode)
collections = st.lists(raw_documents, max_size=20)


def hash_of(raws: list[bytes]) -> ContentHash:
    result = ContentHash()
    for raw in raws:
        result.add(raw)
    return result


@given(collections, st.randoms(use_true_random=False))
def test_hash_ignores_document_order(raws: list[bytes], rng: Any) -> None:
    shuffled = list(raws)
    rng.shuffle(shuffled)
    assert hash_of(raws).hexdigest() == hash_of(shuffled).hexdigest()
    assert hash_of(raws) == hash_of(shuffled)


@given(st.lists(raw_documents, min_size=1, max_size=20), st.data())
def test_hash_changes_when_a_document_is_duplicated(raws: list[bytes], data: Any) -> None:
    extra = data.draw(st.sampled_from(raws))
    assert hash_of([*raws, extra]).hexdigest() != hash_of(raws).hexdigest()


@given(st.lists(raw_documents, min_size=1, max_size=20), st.data())
def test_hash_changes_when_a_document_is_removed(raws: list[bytes], data: Any) -> None:
    index = data.draw(st.integers(0, len(raws) - 1))
    assert hash_of(raws[:index] + raws[index + 1 :]).hexdigest() != hash_of(raws).hexdigest()


@given(st.lists(raw_documents, min_size=1, max_size=20), st.data())
def test_hash_changes_when_a_document_changes(raws: list[bytes], data: Any) -> None:
    index = data.draw(st.integers(0, len(raws) - 1))
    changed = bson.encode({"wrapped": bson.decode(raws[index])})  # never equal to the original
    altered = [*raws[:index], changed, *raws[index + 1 :]]
    assert hash_of(altered).hexdigest() != hash_of(raws).hexdigest()


def test_hash_sees_key_order_and_numeric_type() -> None:
    """Raw bytes are hashed: {a,b} vs {b,a} and int32 vs Int64 are different documents."""
    ab, ba = bson.encode({"a": 1, "b": 2}), bson.encode({"b": 2, "a": 1})
    int32, int64 = bson.encode({"n": 1}), bson.encode({"n": Int64(1)})
    assert hash_of([ab]).hexdigest() != hash_of([ba]).hexdigest()
    assert hash_of([int32]).hexdigest() != hash_of([int64]).hexdigest()


@given(collections)
def test_update_many_equals_repeated_add(raws: list[bytes]) -> None:
    bulk = ContentHash()
    bulk.update_many(iter(raws))
    assert bulk == hash_of(raws)
    assert (bulk.count, bulk.bytes) == (len(raws), sum(map(len, raws)))


def test_hexdigest_form() -> None:
    assert ContentHash().hexdigest() == "0:" + "0" * 64
    digest = hash_of([bson.encode({"_id": 1})]).hexdigest()
    assert re.fullmatch(r"1:[0-9a-f]{64}", digest)


class _FakeCursor:
    def __init__(self, docs: list[RawBSONDocument]) -> None:
        self._docs = docs
        self.closed = False

    def __enter__(self) -> _FakeCursor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.closed = True

    def __iter__(self) -> Iterator[RawBSONDocument]:
        return iter(self._docs)


class _FakeCollection:
    """Records how collection_content_hash queries, without a server."""

    def __init__(self, raws: list[bytes]) -> None:
        self.raws = raws
        self.codec_options: Any = None
        self.find_args: Any = None
        self.cursor: _FakeCursor | None = None

    def with_options(self, *, codec_options: Any) -> _FakeCollection:
        self.codec_options = codec_options
        return self

    def find(self, filter: dict[str, Any], **kwargs: Any) -> _FakeCursor:
        self.find_args = (filter, kwargs)
        docs_class = self.codec_options.document_class
        self.cursor = _FakeCursor([docs_class(raw) for raw in self.raws])
        return self.cursor


def test_collection_content_hash_streams_raw_documents() -> None:
    raws = [bson.encode({"_id": i, "s": "é" * i}) for i in range(50)]
    fake = _FakeCollection(raws)
    result = collection_content_hash(fake, batch_size=7)  # type: ignore[arg-type]
    assert result == hash_of(raws)
    assert fake.codec_options.document_class is RawBSONDocument
    assert fake.find_args == ({}, {"batch_size": 7})
    assert fake.cursor is not None and fake.cursor.closed
