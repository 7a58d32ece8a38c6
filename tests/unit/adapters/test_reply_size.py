"""Streaming reads ask for replies of a size in bytes, whatever the documents' size (issue 20)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mongo_promote.adapters.mongo import REPLY_BYTES, docs_per_reply


@given(st.integers(min_value=1, max_value=16 * 1024 * 1024), st.integers(1, 10_000_000))
def test_a_reply_holds_about_reply_bytes_whatever_the_documents(average: int, count: int) -> None:
    batch = docs_per_reply(average * count, count)
    assert 101 <= batch <= 100_000
    # at most REPLY_BYTES, except where 101 documents (the server's own first batch) are more
    assert batch * average <= max(REPLY_BYTES, 101 * average)


def test_small_documents_come_many_to_a_reply_large_ones_few() -> None:
    assert docs_per_reply(100 * 1_000_000, 1_000_000) == REPLY_BYTES // 100
    assert docs_per_reply(8_000 * 1_000, 1_000) == REPLY_BYTES // 8_000
    assert docs_per_reply(0, None) == docs_per_reply(0, 0) == 1_000  # no size known: a bounded guess
