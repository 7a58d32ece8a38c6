"""Indexes on the shadows (run, restore, rollback): the source's (or backup's) and the plan's, on each shadow."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import bson
import pymongo
from bson import json_util
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo import IndexModel
from pymongo.collection import Collection
from pymongo.errors import OperationFailure

from mongo_promote.adapters.mongo import (
    Capabilities,
    bounds_of,
    long_operation,
    operation_bound,
)
from mongo_promote.console import human_duration
from mongo_promote.domain.analysis import CollectionAction, default_index_name
from mongo_promote.domain.plan import IndexSpec
from mongo_promote.errors import OperationFailed
from mongo_promote.state.context import RunContext
from mongo_promote.state.step import Action, Result, RunState, StepBase

# listIndexes fields that describe the old index rather than ask for a new one.
_NOT_OPTIONS = frozenset({"v", "ns", "key", "name", "background"})
_NOT_IMPLEMENTED = 238
_DUPLICATE_KEY = 11000
# FerretDB v1: `Index option "x" is not implemented`; v2: `createIndex.x is not implemented`.
_REFUSED_OPTION = re.compile(
    r'(?:Index option|field) "([^"]+)"|createIndex\.(\w+) is not implemented'
)
_MONGOD_DUP = re.compile(r"index: (\S+) dup key: (\{.*\})", re.S)
_FERRET_DUP = re.compile(r"UNIQUE constraint failed: index '([^']+)'")
_RELAXED = json_util.JSONOptions(json_mode=json_util.JSONMode.RELAXED)
_PLAIN: CodecOptions[dict[str, Any]] = CodecOptions(tz_aware=True)
_MAX_RETRIES = 8


class IndexBuildFailed(OperationFailed):
    """An index could not be built on a shadow; the message names collection, index and keys."""

    code = "index_build_failed"


@dataclass
class IndexResult:
    collection: str
    built: list[str]
    skipped: list[str]  # each with its reason
    seconds: float


@dataclass
class _Wanted:
    name: str
    keys: list[tuple[str, Any]]
    options: dict[str, Any] = field(default_factory=dict)

    def model(self) -> IndexModel:
        return IndexModel(self.keys, name=self.name, **self.options)


# ---------------------------------------------------------------- pure part


def index_models(
    source_specs: list[dict[str, Any]], declared: list[IndexSpec], caps: Capabilities
) -> tuple[list[IndexModel], list[str]]:
    """What to build on the shadow, and what was left out or changed, each with its reason.

    Source indexes keep every option they were created with; the plan's declared indexes
    join them. Options the target server lacks are removed rather than failing the run,
    and each removal is listed so the report can say what production does not have.
    """
    source = [_from_source(spec) for spec in source_specs if _plain(spec.get("name")) != "_id_"]
    wanted, notes = _merge(source, [_from_declared(ix) for ix in declared])
    models: list[IndexModel] = []
    for want in wanted:
        fitted, why = _fit(want, caps)
        notes += why
        if fitted is not None:
            models.append(fitted.model())
    return models, notes


def planned_index_names(
    action: CollectionAction, declared: list[IndexSpec], caps: Capabilities
) -> list[str]:
    """The names `build_indexes` will build on this collection's shadow (what the dry-run shows)."""
    models, _ = index_models(action.source_indexes, declared, caps)
    return [str(m.document["name"]) for m in models]


def _plain(value: Any) -> Any:
    """Index specs may come from a raw-BSON handle: decode the few small documents involved."""
    if isinstance(value, RawBSONDocument):
        return bson.decode(value.raw)
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _from_source(spec: Mapping[str, Any]) -> _Wanted:
    spec = _plain(spec)
    keys = list(spec["key"].items())
    options = {k: v for k, v in spec.items() if k not in _NOT_OPTIONS}
    return _Wanted(spec.get("name") or default_index_name(keys), keys, options)


def _from_declared(ix: IndexSpec) -> _Wanted:
    options: dict[str, Any] = {}
    if ix.unique:
        options["unique"] = True
    if ix.sparse:
        options["sparse"] = True
    if ix.partial_filter_expression is not None:
        options["partialFilterExpression"] = ix.partial_filter_expression
    if ix.expire_after_seconds is not None:
        options["expireAfterSeconds"] = ix.expire_after_seconds
    keys = list(ix.keys.items())
    return _Wanted(ix.name or default_index_name(keys), keys, options)


def _merge(source: list[_Wanted], declared: list[_Wanted]) -> tuple[list[_Wanted], list[str]]:
    """One index per name and per key pattern, as the server insists; the plan wins a name clash."""
    wanted = list(source)
    notes: list[str] = []
    for ix in declared:
        same_name = next((w for w in wanted if w.name == ix.name), None)
        same_keys = next((w for w in wanted if _same_keys(w.keys, ix.keys)), None)
        if same_name is not None:
            if not (_same_keys(same_name.keys, ix.keys) and same_name.options == ix.options):
                notes.append(f"index {ix.name!r}: the plan's declaration replaces the source's")
            wanted[wanted.index(same_name)] = ix
        elif same_keys is not None:
            notes.append(
                f"declared index {ix.name!r} not built: source index {same_keys.name!r} "
                f"has the same keys {_keys_text(ix.keys)}"
            )
        else:
            wanted.append(ix)
    return wanted, notes


def _same_keys(a: list[tuple[str, Any]], b: list[tuple[str, Any]]) -> bool:
    return [(k, _direction(v)) for k, v in a] == [(k, _direction(v)) for k, v in b]


def _direction(value: Any) -> Any:
    """listIndexes may return 1.0 or Int64(1) where the plan says 1."""
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def _keys_text(keys: list[tuple[str, Any]]) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in keys) + "}"


def _unsupported(caps: Capabilities) -> dict[str, str]:
    """Index options the target does not keep (probed), and what dropping each means for production."""
    lacks: dict[str, str] = {}
    if not caps.collation:
        lacks["collation"] = "no index collation on the target; strings compare by binary value"
    if not caps.partial_indexes:
        lacks["partialFilterExpression"] = "no partial indexes on the target; it covers all"
    if not caps.sparse_indexes:
        # (FerretDB v1 accepts `sparse` and ignores it; its unique indexes already skip
        # documents that lack the field, so dropping it changes nothing it would have enforced.)
        lacks["sparse"] = "the target does not keep sparse indexes"
    if not caps.ttl_indexes:
        lacks["expireAfterSeconds"] = "no TTL indexes on the target; documents will not expire"
    return lacks


def _fit(want: _Wanted, caps: Capabilities) -> tuple[_Wanted | None, list[str]]:
    """Adapt one index to the target: drop options it lacks, or skip what it cannot build."""
    special = sorted({str(v) for _, v in want.keys if _direction(v) not in (1, -1)})
    lacking = [kind for kind in special if kind not in caps.index_kinds]
    if lacking:
        kinds = "/".join(lacking)
        return None, [f"index {want.name!r} not built: the target has no {kinds} indexes"]
    options = dict(want.options)
    # `hidden: false` is refused too where hidden indexes are unknown: leave it out.
    if not caps.hidden_indexes and options.pop("hidden", False):
        return None, [f"index {want.name!r} not built: the target has no hidden indexes"]
    notes = []
    for option, reason in _unsupported(caps).items():
        if option in options:
            options.pop(option)
            notes.append(f"index {want.name!r}: {option} dropped ({reason})")
            if option == "partialFilterExpression" and options.pop("unique", False):
                notes.append(
                    f"index {want.name!r}: built without unique, since uniqueness over every "
                    "document is stricter than the source's over the filtered ones"
                )
    return _Wanted(want.name, want.keys, options), notes


# ---------------------------------------------------------------- building


def build_indexes(
    ctx: RunContext, action: CollectionAction, shadow: str, *, declared: bool = True
) -> IndexResult:
    """Build every index in one command once the data is in: one scan, and no per-insert cost.

    A restore passes declared=False: it rebuilds exactly what the backup held, nothing more.
    """
    started = time.monotonic()
    ctx.check_cancelled()
    wanted = ctx.plan.indexes.get(action.name, []) if declared else []
    models, skipped = index_models(action.source_indexes, wanted, ctx.target_caps)
    for note in skipped:
        ctx.fallback(f"{action.name}: {note}")
    caps = ctx.target_caps
    shadow_coll = ctx.target_db[shadow]
    bound = operation_bound(shadow_coll, size=action.source_size, documents=action.source_count)
    built, refused = (
        _create(shadow_coll, action.name, models, caps.duplicate_key_code, bound)
        if models
        else ([], [])
    )
    for note in refused:
        ctx.fallback(f"{action.name}: {note}")
    return IndexResult(action.name, built, skipped + refused, time.monotonic() - started)


def _create(
    coll: Collection[Any],
    collection: str,
    models: list[IndexModel],
    dup_code: int | None,
    bound: float,
) -> tuple[list[str], list[str]]:
    """create_indexes, leaving out any option the server still says it does not implement;
    `bound`: how long the build may take (the collection's size decides: `operation_bound`)."""
    notes: list[str] = []
    for _ in range(_MAX_RETRIES):
        try:
            # an index build may take long: its own deadline replaces the client's socket
            # timeout (pymongo's client-side operation timeout, also sent as maxTimeMS)
            with pymongo.timeout(bound):
                return list(coll.create_indexes(models)), notes
        except OperationFailure as exc:
            option = _refused_option(exc)
            if option is None or not any(option in m.document for m in models):
                raise _failure(coll, collection, models, exc, dup_code) from exc
            models = [_without(m, option) for m in models]
            notes.append(f"index option {option} dropped (the server answers: not implemented)")
    raise IndexBuildFailed(f"indexes on {collection}: the server kept refusing options")


def _refused_option(exc: OperationFailure) -> str | None:
    message = str((exc.details or {}).get("errmsg", exc))
    if exc.code != _NOT_IMPLEMENTED and "not implemented" not in message:
        return None
    m = _REFUSED_OPTION.search(message)
    return (m.group(1) or m.group(2)) if m else None


def _without(model: IndexModel, option: str) -> IndexModel:
    doc = dict(model.document)
    keys = list(doc.pop("key").items())
    doc.pop(option, None)
    return IndexModel(keys, **doc)


class IndexStep(StepBase):
    """One action per collection: its shadow's indexes, in one createIndexes once the data is in.

    `declared=False` (restore, rollback) rebuilds exactly what the backup held, nothing more.
    """

    title = "build indexes on the shadows"
    kind = "indexes"
    builds_shadows = True

    def __init__(
        self,
        state: RunState,
        collections: list[CollectionAction],
        *,
        declared: bool = True,
    ) -> None:
        super().__init__(state)
        self.collections = {a.name: a for a in collections}
        self.declared = declared

    def plan(self, ctx: RunContext) -> list[Action]:
        actions = []
        for name, coll in self.collections.items():
            wanted = ctx.plan.indexes.get(name, []) if self.declared else []
            names = planned_index_names(coll, wanted, ctx.target_caps)
            bound = bounds_of(ctx.target_client).long_operation(
                coll.source_size, coll.source_count
            )
            actions.append(
                self.action(
                    f"indexes:{name}",
                    f"{name}: build {len(names)} index(es) on its shadow"
                    + (f": {', '.join(names)}" if names else "")
                    + (f" (bound {human_duration(bound)})" if names else ""),
                    name,
                )
            )
        return actions

    def apply(self, ctx: RunContext, action: Action) -> Result:
        coll = self.collections[str(action.collection)]
        built = build_indexes(ctx, coll, ctx.shadow_name(coll.name), declared=self.declared)
        result = {"indexes": asdict(built)}
        self.resume(ctx, action, result)
        return result

    def resume(self, ctx: RunContext, action: Action, result: Result) -> None:
        self.state.report.indexes[str(action.collection)] = result["indexes"]


# ---------------------------------------------------------------- failures


def _failure(
    coll: Collection[Any],
    collection: str,
    models: list[IndexModel],
    exc: OperationFailure,
    dup_code: int | None = None,
) -> IndexBuildFailed:
    """Name the collection, the index and the duplicate key, whichever server said it and how.

    A server whose message lacks the index or the key (FerretDB: SQLite's or PostgreSQL's
    constraint error) is asked with an aggregation which key values repeat. `dup_code` is the
    code the probe saw a unique build over duplicates fail with on this server: a failure with
    that code is a duplicate only if the data has one.
    """
    message = str((exc.details or {}).get("errmsg") or exc)
    unique = [m for m in models if m.document.get("unique")]
    recognised = _is_duplicate(exc, message)
    if not unique or not (recognised or (dup_code is not None and exc.code == dup_code)):
        return IndexBuildFailed(
            f"index build on {collection} ({coll.name}) failed: {message.split(', full error')[0]}"
        )
    name = _failed_index(message, unique)
    key = _dup_key_from_error(exc, message)
    if key is None:
        suspects = [m for m in unique if m.document["name"] == name] or unique
        found = _search_duplicates(coll, suspects)
        if found is None and not recognised:
            return IndexBuildFailed(
                f"index build on {collection} ({coll.name}) failed: "
                f"{message.split(', full error')[0]}"
            )
        name, key = found or (name, None)
    return IndexBuildFailed(
        f"unique index {name or '?'} on {collection} cannot be built: duplicate key "
        f"{key or '(not found)'} in the copied data; remove the duplicates in the source "
        "or drop the unique option, then run again"
    )


def _is_duplicate(exc: OperationFailure, message: str) -> bool:
    """mongod says E11000 (code 11000); FerretDB's SQLite: 'UNIQUE constraint failed' (code 1)."""
    return (
        exc.code == _DUPLICATE_KEY
        or "duplicate key" in message
        or bool(_FERRET_DUP.search(message))
    )


def _failed_index(message: str, unique: list[IndexModel]) -> str | None:
    """mongod names the index; FerretDB names its SQLite index `<collection>_<hash>_<name>`."""
    if m := _MONGOD_DUP.search(message):
        return m.group(1)
    names = [str(x.document["name"]) for x in unique]
    if m := _FERRET_DUP.search(message):
        matching = [n for n in names if m.group(1).endswith("_" + n)]
        return max(matching, key=len) if matching else None
    return names[0] if len(names) == 1 else None


def _dup_key_from_error(exc: OperationFailure, message: str) -> str | None:
    key_value = (exc.details or {}).get("keyValue")
    if isinstance(key_value, Mapping):
        return _doc_text(_plain(key_value))
    m = _MONGOD_DUP.search(message)
    return m.group(2) if m else None


def _search_duplicates(coll: Collection[Any], suspects: list[IndexModel]) -> tuple[str, str] | None:
    """Ask the data which key values repeat, for servers whose error does not say (FerretDB)."""
    for model in suspects:
        key = _find_duplicate(coll, model)
        if key:
            return str(model.document["name"]), key
    return None


def _find_duplicate(coll: Collection[Any], model: IndexModel) -> str | None:
    """Up to three repeated key values of one index, with how many documents share each."""
    fields = list(model.document["key"].keys())
    group_id = {f"k{i}": f"${f}" for i, f in enumerate(fields)}
    pipeline: list[dict[str, Any]] = []
    if model.document.get("partialFilterExpression"):  # only these documents must be unique
        pipeline.append({"$match": model.document["partialFilterExpression"]})
    pipeline += [
        {"$group": {"_id": group_id, "n": {"$sum": 1}}},
        {"$match": {"n": {"$gt": 1}}},
        {"$limit": 3},
    ]
    with long_operation(coll):
        found = list(coll.with_options(codec_options=_PLAIN).aggregate(pipeline))
    texts = [
        f"{_doc_text({f: row['_id'].get(f'k{i}') for i, f in enumerate(fields)})} "
        f"({row['n']} documents)"
        for row in found
    ]
    return "; ".join(texts) or None


def _doc_text(doc: Mapping[str, Any]) -> str:
    """Shell-like `{ email: "a@b.c" }`, the form MongoDB's own dup key message uses."""
    inner = ", ".join(f"{k}: {json_util.dumps(v, json_options=_RELAXED)}" for k, v in doc.items())
    return "{ " + inner + " }"
