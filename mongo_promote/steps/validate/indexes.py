"""The index check: every index the indexes step planned is on the collection, with its keys and options."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bson.codec_options import CodecOptions
from pymongo.collection import Collection

from mongo_promote.domain.analysis import CollectionAction
from mongo_promote.state.context import RunContext
from mongo_promote.steps.indexes import index_models
from mongo_promote.steps.validate.checks import Check


def index_check(ctx: RunContext, action: CollectionAction, target: Collection[Any]) -> Check:
    """Every index the indexes step planned for this collection (after fitting it to the target,
    each change a reported fallback) is there with its keys and options: unique, sparse,
    partialFilterExpression, expireAfterSeconds, collation. An index that lost an option fails."""
    models, _ = index_models(
        action.source_indexes, ctx.plan.indexes.get(action.name, []), ctx.target_caps
    )
    planned = [dict(m.document) for m in models]
    actual = list(target.with_options(codec_options=_PLAIN_INDEX).list_indexes())
    problems = compare_indexes(planned, actual)
    return Check(
        "indexes",
        action.name,
        not problems,
        f"{len(planned) - len(problems)}/{len(planned)} present with their options"
        + (f"; {'; '.join(problems)}" if problems else ""),
        problems,
    )


_PLAIN_INDEX: CodecOptions[dict[str, Any]] = CodecOptions(tz_aware=True)
INDEX_OPTIONS = ("unique", "sparse", "partialFilterExpression", "expireAfterSeconds", "collation")


def compare_indexes(
    planned: Sequence[Mapping[str, Any]], actual: Sequence[Mapping[str, Any]]
) -> list[str]:
    """One line per planned index that is missing or differs (keys, or one of INDEX_OPTIONS)."""
    present = {str(ix["name"]): ix for ix in actual}
    problems = []
    for want in planned:
        name = str(want["name"])
        have = present.get(name)
        if have is None:
            problems.append(f"{name}: missing")
            continue
        if _key_list(want["key"]) != _key_list(have["key"]):
            problems.append(f"{name}: keys {dict(have['key'])} instead of {dict(want['key'])}")
        for option in INDEX_OPTIONS:
            expected, found = _option(want, option), _option(have, option)
            if option == "collation" and isinstance(found, Mapping) and expected is not None:
                # The server fills in the collation's defaults: what was asked must be there.
                found = {k: v for k, v in found.items() if k in expected}
            if expected != found:
                problems.append(f"{name}: {option} is {found!r}, planned {expected!r}")
    return problems


def _key_list(key: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """listIndexes may say 1.0 or Int64(1) where the plan says 1."""
    return [
        (k, int(v) if isinstance(v, int | float) and not isinstance(v, bool) else v)
        for k, v in key.items()
    ]


def _option(spec: Mapping[str, Any], option: str) -> Any:
    value = spec.get(option)
    if option in ("unique", "sparse"):
        return bool(value)
    if option == "expireAfterSeconds" and value is not None:
        return int(value)
    return dict(value) if isinstance(value, Mapping) else value
