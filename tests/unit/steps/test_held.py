"""The line a run ends with when its freeze did not hold (steps/held.py)."""

from __future__ import annotations

from mongo_promote.steps.held import not_held_line


def test_the_line_names_each_collection_and_how_many_documents_differ() -> None:
    line = not_held_line(
        {"Orders": {"documents_differ": 12}, "Message": {"documents_differ": None}}
    )
    assert line == (
        "the freeze did not hold: Message changed during the window (the documents that differ "
        "not counted: the backup is encrypted); Orders changed during the window (12 documents "
        "differ); the backup holds it as replaced"
    )
