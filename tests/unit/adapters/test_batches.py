"""Insert batches (`adapters.mongo.raw_batches`): by bytes, and never more documents than a server takes."""

from __future__ import annotations

import bson
from bson.raw_bson import RawBSONDocument
from hypothesis import given, settings
from hypothesis import strategies as st

from mongo_promote.adapters.mongo import MAX_BATCH_DOCS, raw_batches


def _docs(sizes: list[int]) -> list[RawBSONDocument]:
    return [RawBSONDocument(bson.encode({"_id": i, "s": "x" * n})) for i, n in enumerate(sizes)]


@given(st.lists(st.integers(0, 300), max_size=200), st.integers(1, 2_000))
@settings(max_examples=200, deadline=None)
def test_batches_keep_every_document_in_order_and_close_at_the_byte_size(
    sizes: list[int], batch_bytes: int
) -> None:
    docs = _docs(sizes)
    batches = list(raw_batches(docs, batch_bytes))
    assert [d.raw for b, _ in batches for d in b] == [d.raw for d in docs]
    for batch, size in batches:
        assert size == sum(len(d.raw) for d in batch)
        assert size - len(batch[-1].raw) < batch_bytes  # closed by its last document
    assert all(size >= batch_bytes for _, size in batches[:-1])


def test_many_tiny_documents_are_cut_at_the_document_cap() -> None:
    tiny = [RawBSONDocument(bson.encode({"_id": i})) for i in range(2 * MAX_BATCH_DOCS + 5)]
    counts = [len(b) for b, _ in raw_batches(tiny, 8 * 1024 * 1024)]
    assert counts == [MAX_BATCH_DOCS, MAX_BATCH_DOCS, 5]
