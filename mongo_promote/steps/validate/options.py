"""The options check: a collection holds the options its source has (validator, collation, capped,
...), or the plan accepts their loss for it (`collections.options: best_effort`)."""

from __future__ import annotations

from typing import Any

from pymongo.collection import Collection

from mongo_promote.adapters.mongo import collection_options
from mongo_promote.domain.analysis import CollectionAction
from mongo_promote.domain.options import checked_options, differences
from mongo_promote.state.context import RunContext
from mongo_promote.steps.validate.checks import Check


def options_check(ctx: RunContext, action: CollectionAction, target: Collection[Any]) -> Check:
    """What listCollections shows of `target` against the source's options: one the target did
    not keep fails, unless the plan says `best_effort` for the collection (then a warning: the
    report lists what was lost)."""
    expected = checked_options(action.source_options)
    kept = collection_options(target.database, target.name)
    lost = differences(expected, kept)
    accepted = ctx.plan.collections.options_policy(action.name) == "best_effort"
    if not lost:
        detail = f"{len(expected)} option(s) kept" if expected else "no collection options"
        return Check("options", action.name, True, detail)
    shown = ", ".join(lost)
    return Check(
        "options",
        action.name,
        False,
        f"the target does not hold {shown} as the source has it"
        + (
            " (collections.options: best_effort accepts it)"
            if accepted
            else "; `collections: {options: {"
            + action.name
            + ": best_effort}}` in the plan accepts the loss"
        ),
        [{k: expected[k] for k in lost}],
        severity="warning" if accepted else "error",
    )
