"""The copy of run: source collections into target shadows as raw BSON, transformed on the way, in parallel."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bson.raw_bson import RawBSONDocument
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError, OperationFailure

from mongo_promote.adapters.mongo import (
    collection_options,
    docs_per_reply,
    first_reply_bounded,
    raw_batches,
)
from mongo_promote.checksum import ContentHash
from mongo_promote.console import Bars, human_bytes
from mongo_promote.domain.analysis import CollectionAction
from mongo_promote.domain.inventory import counted
from mongo_promote.domain.names import shadow_name
from mongo_promote.domain.transforms.stream import StreamTransformer, read_ahead
from mongo_promote.errors import Interrupted, OperationFailed
from mongo_promote.state.context import RunContext
from mongo_promote.state.journal import COPIED
from mongo_promote.state.step import Action, Result, RunState, StepBase
from mongo_promote.steps.cutover import rename

# was 8 MB: peak RSS 333 -> 311 MB at scale 100 (one run each). Then (replies sized alike,
# adapters.mongo.REPLY_BYTES), documentdb peak RSS at scales 10 / 100: 4 MB 99.5 / 148 MB,
# 2 MB 91 / 120 MB, 1 MB 84 / 103 MB (one run each); 1 MB against 2 MB at scale 10, 4 runs
# interleaved: client CPU 0.98x, wall 0.98x
DEFAULT_BATCH_BYTES = 1024 * 1024
# what the read-ahead hands over at a time (`read_ahead`: up to three such chunks are held)
READ_AHEAD_BYTES = 64 * 1024
_NOT_IMPLEMENTED = 238
_REFUSED_FIELD = re.compile(r'field "([^"]+)"|option "([^"]+)"')
# Options that mean nothing once another is gone: a level or action without its validator.
_COMPANIONS = {"validator": ("validationLevel", "validationAction"), "capped": ("size", "max")}
_MAX_OPTION_RETRIES = 8
_MAX_BESIDE = 3  # other names tried when the server refuses the shadow's as a leftover

Progress_ = Callable[[int, int], None]


@dataclass
class CopyResult:
    name: str
    shadow: str
    count: int
    bytes: int
    seconds: float
    content_hash: str  # ContentHash.hexdigest() of the source documents as read
    transforms: list[dict[str, Any]] = field(default_factory=list)  # stats of folds and rewrites
    # ContentHash.hexdigest() of the documents inserted (the source's when nothing is transformed)
    output_hash: str = ""
    # the transformed documents held to the decoded reference as they passed (oracle.Verification)
    verification: dict[str, Any] | None = None
    # each embed's child collection as the fold read it (stream.children_hash): checked on resume
    children: dict[str, str] = field(default_factory=dict)
    # when (ISO 8601 UTC) and on which worker thread the copy started, and when that worker was
    # done with it (validation's read-back included): journalled, for timelines of a run
    started_at: str = ""
    worker: str = ""
    finished_at: str = ""


# what runs in a copy's worker once its collection is copied (validation's read-back)
AfterCopy = Callable[[RunContext, CopyResult], None]


# ---------------------------------------------------------------- shadows


def create_shadow(ctx: RunContext, action: CollectionAction) -> str:
    """(Re)create the empty shadow with the source's options, so a retry starts from nothing.

    Options the target refuses as not implemented (FerretDB v1: validator, collation,
    timeseries) are left out one by one. Then what the server KEPT is read back: a server
    may accept options and store nothing (FerretDB v2: validator, capped, collation). A lost
    validator is set again with collMod where the server has it; everything else that did
    not arrive is reported through ctx.fallback: the data still arrives, the report says
    what did not.
    """
    shadow = ctx.shadow_name(action.name)
    db = ctx.target_db
    db.drop_collection(shadow)
    options = dict(action.source_options)
    for _ in range(_MAX_OPTION_RETRIES):
        try:
            db.create_collection(shadow, check_exists=False, **options)
            break
        except OperationFailure as exc:
            if _leftover(ctx, shadow, exc):
                _create_beside(ctx, action.name, shadow, options, exc)
                break
            refused = _refused_options(exc, options)
            if not refused:
                raise OperationFailed(
                    f"cannot create the shadow {shadow} of {action.name} with options "
                    f"{sorted(options)}: {_server_message(exc)}"
                ) from exc
            for key in refused:
                options.pop(key)
            ctx.fallback(_option_note(ctx, action.name, refused, _answer(exc)))
    else:
        raise OperationFailed(
            f"cannot create the shadow {shadow} of {action.name}: too many refusals"
        )
    _check_kept(ctx, action.name, shadow, options)
    return shadow


def _leftover(ctx: RunContext, shadow: str, exc: OperationFailure) -> bool:
    """The server refuses a name as existing that it does not list: storage it kept of that
    name and lost track of (FerretDB v1 on SQLite killed between creating a collection's table
    and recording it: every later create of that name fails with "table ... already exists")."""
    if "already exists" not in _server_message(exc).lower():
        return False
    return not ctx.target_db.list_collection_names(filter={"name": shadow})


def _create_beside(
    ctx: RunContext, name: str, shadow: str, options: dict[str, Any], exc: OperationFailure
) -> None:
    """Create the shadow under another tool name (its storage is named after that name) and
    rename it to the shadow's: every step finds the shadow by its usual name."""
    db = ctx.target_db
    for attempt in range(1, _MAX_BESIDE + 1):
        beside = shadow_name(f"{name}__{attempt}", ctx.run_id)  # still a shadow of this run
        db.drop_collection(beside)
        try:
            db.create_collection(beside, check_exists=False, **options)
        except OperationFailure as again:
            if _leftover(ctx, beside, again):
                continue
            raise OperationFailed(
                f"cannot create the shadow {shadow} of {name} (as {beside}): "
                f"{_server_message(again)}"
            ) from again
        rename(ctx, beside, shadow)
        ctx.fallback(
            f"{name}: the target refuses to create {shadow} ({_server_message(exc)}) yet does "
            f"not list it: storage left by a server stopped mid-create. The shadow was created "
            f"as {beside} and renamed; the server's leftover stays in its files"
        )
        return
    raise OperationFailed(
        f"cannot create the shadow {shadow} of {name}: the target refuses it and "
        f"{_MAX_BESIDE} other names as existing without listing them ({_server_message(exc)})"
    ) from exc


def _check_kept(ctx: RunContext, name: str, shadow: str, given: dict[str, Any]) -> None:
    """Compare what create was given with what listCollections shows; mend or report the gap."""
    if not given:
        return
    kept = collection_options(ctx.target_db, shadow)
    lost = [k for k in given if k not in kept]
    for group in _groups(lost):
        if group[0] == "validator" and _validator_by_coll_mod(ctx, name, shadow, given, group):
            continue
        ctx.fallback(_option_note(ctx, name, group, "accepts it at create but does not keep it"))


def _groups(lost: list[str]) -> list[list[str]]:
    """Lost options, each with the companions that mean nothing without it."""
    groups: list[list[str]] = []
    taken: set[str] = set()
    for key in lost:
        if key in taken:
            continue
        group = [key] + [c for c in _COMPANIONS.get(key, ()) if c in lost]
        taken.update(group)
        groups.append(group)
    # A companion lost without its head (e.g. only `size`) stands alone; heads come first.
    return sorted(groups, key=lambda g: g[0] not in _COMPANIONS)


def _validator_by_coll_mod(
    ctx: RunContext, name: str, shadow: str, given: dict[str, Any], group: list[str]
) -> bool:
    """Set the validator the server's create dropped with collMod (where it has one that holds)."""
    caps = ctx.target_caps
    if not caps.coll_mod_validator:
        return False
    command: dict[str, Any] = {"collMod": shadow, **{k: given[k] for k in group}}
    try:
        ctx.target_db.command(command)
    except OperationFailure as exc:
        ctx.fallback(_option_note(ctx, name, group, f"refuses it through collMod ({_answer(exc)})"))
        return True
    if "validator" not in collection_options(ctx.target_db, shadow):
        return False
    ctx.fallback(
        f"{name}: collection option {', '.join(group)} set with collMod after create: the "
        f"{caps.server or caps.flavour} target accepts it at create but does not keep it"
    )
    return True


def _refused_options(exc: OperationFailure, options: dict[str, Any]) -> list[str]:
    """The option a "not implemented" refusal names (and its companions), if we passed it."""
    if exc.code != _NOT_IMPLEMENTED and "not implemented" not in str(exc).lower():
        return []
    m = _REFUSED_FIELD.search(_server_message(exc))
    field = (m.group(1) or m.group(2)) if m else None
    if field not in options:
        return []
    return [field] + [c for c in _COMPANIONS.get(field, ()) if c in options]


def _answer(exc: OperationFailure) -> str:
    return f"answers {exc.details.get('codeName') if exc.details else exc.code}"


def _option_note(ctx: RunContext, name: str, group: list[str], how: str) -> str:
    caps = ctx.target_caps
    consequence = {
        "validator": "the shadow has no validator (documents are copied as they are)",
        "collation": "the shadow compares strings by binary value (no collation)",
        "capped": "the shadow is not capped (no size limit, oldest documents are not removed)",
    }.get(group[0], "the shadow is created without it")
    return (
        f"{name}: collection option {', '.join(group)} not carried over: the "
        f"{caps.server or caps.flavour + ' ' + caps.version} target {how}; {consequence}"
    )


def _server_message(exc: OperationFailure) -> str:
    details = exc.details or {}
    return str(details.get("errmsg") or exc).split(", full error:")[0]


# ---------------------------------------------------------------- one collection


def copy_collection(
    ctx: RunContext,
    action: CollectionAction,
    *,
    progress: Progress_ | None = None,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
) -> CopyResult:
    """Stream one collection into a fresh shadow, bytes untouched, hashing what was read.

    Documents stay RawBSONDocument end to end: pymongo sends `.raw` as it is, so every
    type, key order and value arrives byte for byte, and no CPU goes into decoding. A
    transformed collection also hashes what it inserts and checks each transformed document
    against the decoded reference: validation then re-reads only the target.
    """
    started = time.monotonic()
    started_at = datetime.now(UTC).isoformat()
    ctx.check_cancelled()
    shadow = create_shadow(ctx, action)
    target = ctx.target_db[shadow]
    transformer = StreamTransformer.for_collection(
        ctx.plan, action.name, ctx.source_db, ctx.now, verify=True
    )
    # A capped collection's natural order is its insertion order: keep it exact.
    ordered = bool(action.source_options.get("capped"))
    hasher, written = ContentHash(), ContentHash()
    docs = size = 0
    source = ctx.source_db[action.name]
    sort = transformer.sort if transformer else None
    cursor = source.find(
        {},
        sort=sort,
        batch_size=docs_per_reply(action.source_size, action.source_count, batch_bytes),
    )
    # sorted, the server reads everything before its first reply: a longer bound for that one
    sizes = {"size": action.source_size, "documents": action.source_count}
    stream = first_reply_bounded(cursor, source, **sizes) if sort else cursor
    with cursor:
        # the next reply is read while this batch is transformed and inserted
        ahead = docs_per_reply(action.source_size, action.source_count, READ_AHEAD_BYTES)
        for batch, batch_size in raw_batches(read_ahead(stream, chunk=ahead), batch_bytes):
            ctx.check_cancelled()
            hasher.update_many(bytes(doc.raw) for doc in batch)  # bytes(bytes) is no copy
            if transformer:
                batch = [transformer.apply(doc) for doc in batch]
                written.update_many(bytes(doc.raw) for doc in batch)
            _insert(target, action.name, batch, ordered=ordered)
            docs, size = docs + len(batch), size + batch_size
            if progress:
                progress(docs, size)
    stats = transformer.finish() if transformer else []
    _check_count(target, action.name, docs)
    verification = transformer.verification if transformer else None
    return CopyResult(
        action.name,
        shadow,
        docs,
        size,
        time.monotonic() - started,
        hasher.hexdigest(),
        stats,
        output_hash=(written if transformer else hasher).hexdigest(),
        verification=verification.to_dict() if verification else None,
        children=transformer.children_hashes() if transformer else {},
        started_at=started_at,
        worker=threading.current_thread().name,
    )


def _insert(
    target: Collection[Any], name: str, batch: list[RawBSONDocument], *, ordered: bool
) -> None:
    """Validation is bypassed: staging already accepted these documents, we copy, not judge."""
    try:
        target.insert_many(batch, ordered=ordered, bypass_document_validation=True)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        first = errors[0].get("errmsg", "") if errors else str(exc)
        raise OperationFailed(
            f"copy of {name} into {target.name} failed: {len(errors)} document(s) refused, "
            f"first: {first}"
        ) from exc
    except OperationFailure as exc:
        raise OperationFailed(
            f"copy of {name} into {target.name} failed: {_server_message(exc)}"
        ) from exc


def _check_count(target: Collection[Any], name: str, copied: int) -> None:
    """A write the server acknowledged but did not keep must not reach cutover."""
    found = counted(target, copied)
    if found != copied:
        raise OperationFailed(
            f"copy of {name}: {copied} documents written but the shadow {target.name} holds {found}"
        )


# ---------------------------------------------------------------- many collections


def copy_all(
    ctx: RunContext,
    actions: list[CollectionAction],
    *,
    on_done: Callable[[CopyResult], None] | None = None,
    after_each: AfterCopy | None = None,
) -> list[CopyResult]:
    """Copy several collections at once, biggest first so the longest one starts earliest.

    after_each runs in the worker right after a collection's copy (validation's read-back of
    the shadow: it overlaps the copies still running); on_done runs in this (the caller's)
    thread as each one finishes, so journaling needs no lock. The first failure cancels the
    others and is re-raised once they have stopped; Ctrl-C does the same and raises Interrupted.
    """
    todo = sorted(
        actions,
        key=lambda a: (a.source_size, a.source_count),
        reverse=True,
    )
    if not todo:
        return []
    with (
        _Display(ctx) as display,
        ThreadPoolExecutor(max_workers=max(1, ctx.workers), thread_name_prefix="copy") as pool,
    ):
        futures = {pool.submit(_copy_then, ctx, a, display.tracker(a), after_each): a for a in todo}
        done = _collect(ctx, futures, display, on_done)
    order = {a.name: i for i, a in enumerate(actions)}
    return sorted(done, key=lambda r: order[r.name])


def _copy_then(
    ctx: RunContext, action: CollectionAction, progress: Progress_ | None, then: AfterCopy | None
) -> CopyResult:
    result = copy_collection(ctx, action, progress=progress)
    if then is not None:
        ctx.check_cancelled()
        then(ctx, result)
    result.finished_at = datetime.now(UTC).isoformat()
    return result


def _collect(
    ctx: RunContext,
    futures: dict[Future[CopyResult], CollectionAction],
    display: _Display,
    on_done: Callable[[CopyResult], None] | None,
) -> list[CopyResult]:
    """Hand each result over as it comes; remember the first failure, cancel, wait, re-raise."""
    results: list[CopyResult] = []
    first: BaseException | None = None
    pending = set(futures)
    try:
        while pending:
            finished, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            for future in finished:
                try:
                    result = future.result()
                    display.finish(futures[future], result)
                    results.append(result)
                    if on_done:
                        on_done(result)
                except Exception as exc:
                    if first is None:
                        first = exc
                        ctx.cancel.set()
    except KeyboardInterrupt:
        ctx.cancel.set()
        wait(pending)
        raise Interrupted("interrupted by the user during the copy") from None
    if first is not None:
        raise first
    return results


# ---------------------------------------------------------------- the step


class CopyStep(StepBase):
    """One action for the whole copy set (its workers run side by side); each collection is
    journalled as it finishes, so `--resume` copies only the ones whose shadow is not whole."""

    title = "copy into shadows, transforming on the way"
    kind = "copy"
    builds_shadows = True

    def __init__(
        self,
        state: RunState,
        collections: list[CollectionAction],
        *,
        after_each: AfterCopy | None = None,
    ) -> None:
        super().__init__(state)
        self.collections = collections
        self.after_each = after_each

    def plan(self, ctx: RunContext) -> list[Action]:
        if not self.collections:
            return []
        docs = sum(a.source_count for a in self.collections)
        size = sum(a.source_size for a in self.collections)
        return [
            self.action(
                "copy",
                f"copy {len(self.collections)} collection(s), {docs:,} documents "
                f"({human_bytes(size)}), into shadows with {ctx.workers} worker(s)",
            )
        ]

    def apply(self, ctx: RunContext, action: Action) -> Result:
        finished = self._finished(ctx)
        todo = [a for a in self.collections if a.name not in finished]
        if finished:
            ctx.out.info(f"  {len(finished)} collection(s) already copied, {len(todo)} to go")
        copied = copy_all(ctx, todo, on_done=self._copied, after_each=self.after_each)
        for result in copied:
            finished[result.name] = self._entry(result)
        if copied:
            ctx.out.info(
                f"  copied {len(copied)} collection(s), {sum(r.count for r in copied):,} "
                f"documents, {human_bytes(sum(r.bytes for r in copied))}"
            )
        self.resume(ctx, action, {"copies": finished})
        return {"copies": finished}

    def resume(self, ctx: RunContext, action: Action, result: Result) -> None:
        for name, entry in result["copies"].items():
            self.state.copied[name] = entry
            self.state.report.collection(name).update(entry.get("stats", {}))
        self.state.report.transforms = [
            t
            for a in self.collections
            for t in result["copies"].get(a.name, {}).get("transforms", [])
        ]

    def _finished(self, ctx: RunContext) -> dict[str, dict[str, Any]]:
        """A copy journalled earlier counts only if its shadow is still there, whole (a shadow a
        resume found stale is gone: an empty one too)."""
        present = set(ctx.target_db.list_collection_names())
        finished = {}
        for name, entry in self.state.journalled_copies().items():
            shadow = ctx.shadow_name(name)
            if (
                shadow in present
                and counted(ctx.target_db[shadow], entry["count"]) == entry["count"]
            ):
                finished[name] = entry
        return finished

    def _copied(self, result: CopyResult) -> None:
        self.state.record(COPIED, collection=result.name, **self._entry(result))

    @staticmethod
    def _entry(result: CopyResult) -> dict[str, Any]:
        return {
            "count": result.count,
            "bytes": result.bytes,
            "content_hash": result.content_hash,
            "output_hash": result.output_hash,
            "verification": result.verification,
            "children": result.children,
            "transforms": result.transforms,
            "started_at": result.started_at,
            "worker": result.worker,
            "finished_at": result.finished_at,
            "stats": {
                "bytes": result.bytes,
                "copy_seconds": round(result.seconds, 3),
                "docs_per_second": round(result.count / result.seconds) if result.seconds else None,
            },
        }


# ---------------------------------------------------------------- display


class _Display(AbstractContextManager["_Display"]):
    """A bar per collection on a terminal (`Output.bars`); elsewhere one line per finished one."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self._cm = ctx.out.bars()
        self.bars: Bars | None = None

    def __enter__(self) -> _Display:
        self.bars = self._cm.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._cm.__exit__(*exc)

    def tracker(self, action: CollectionAction) -> Progress_ | None:
        return None if self.bars is None else self.bars.add(action.name, action.source_count)

    def finish(self, action: CollectionAction, result: CopyResult) -> None:
        if self.bars is not None:
            self.bars.finish(action.name, result.count, result.bytes)
            return
        rate = result.count / result.seconds if result.seconds > 0 else 0.0
        self.ctx.out.detail(
            f"  copied {result.name}: {result.count:,} documents, {human_bytes(result.bytes)} "
            f"in {result.seconds:.1f} s ({rate:,.0f} docs/s)"
        )
