"""The names the tool gives its collections: every one has `__`, inventories leave them out, and a
kept one says what it was kept from and by which run."""

from __future__ import annotations

from mongo_promote.domain.names import (
    PREVIOUS_INFIX,
    UNDONE_INFIX,
    is_tool_collection,
    kept,
    kept_name,
    made_by_run,
    shadow_name,
    undone_name,
)

RUN = "20250101-000000-abcd"


def previous_name(name: str, run_id: str) -> str:
    return kept_name(name, PREVIOUS_INFIX, run_id)


def test_every_name_the_tool_gives_has_a_double_underscore_and_is_a_tool_collection() -> None:
    names = [
        shadow_name("Message", RUN),
        previous_name("Message", RUN),
        undone_name("Message", RUN),
    ]
    assert all("__" in n and is_tool_collection(n) for n in names)
    assert not is_tool_collection("Message") and not is_tool_collection("user_preferences")


def test_a_kept_name_says_what_it_was_kept_from_and_by_which_run() -> None:
    found = kept(previous_name("notification_preferences", RUN))
    assert found is not None
    assert (found.collection, found.run_id, found.cls) == (
        "notification_preferences",
        RUN,
        "previous",
    )
    aside = kept(kept_name("Message", UNDONE_INFIX, RUN))
    assert aside is not None and (aside.collection, aside.cls) == ("Message", "kept_aside")
    assert kept(shadow_name("Message", RUN)) is None and kept("Message") is None


def test_a_rollback_cleans_up_shadows_and_asides_of_the_run_never_its_previous_collections() -> (
    None
):
    assert made_by_run(shadow_name("A", RUN), RUN)
    assert not made_by_run(previous_name("A", RUN), RUN)
    assert not made_by_run(shadow_name("A", "other"), RUN)
