"""The cutover of run, restore and rollback: install shadows over live collections, one rename each,
each one fenced by the lock and guarded against production writes made since the backup."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from typing import Any, NoReturn

from pymongo.errors import OperationFailure, PyMongoError

from mongo_promote.adapters.mongo import collection_uuids, content_hash
from mongo_promote.checksum import hashed_count
from mongo_promote.domain.names import kept_name, recreated_name
from mongo_promote.errors import OperationFailed
from mongo_promote.state.context import RunContext
from mongo_promote.state.journal import CUTOVER_DRIFT, CUTOVER_FINGERPRINT, CUTOVER_RENAMES, Kind
from mongo_promote.state.step import Action, Phase, Result, RunState, StepBase

# Test hook, never set in production: `MONGO_PROMOTE_TEST_CRASH_AT=cutover:<collection>:<point>`
# ends the process at once (os._exit(137), as kill -9 would) at that point of that collection's
# cutover, so the tests can resume and roll back from every intermediate state. Points:
# `before_rename` (guard passed, fingerprint journalled), `after_aside` (live renamed aside, shadow
# not yet in: the two renames of keep_previous, or of FerretDB's fallback), `after_install` (shadow
# in, not yet journalled). steps/swap.py has the same points for a rollback's swap.
CRASH_ENV = "MONGO_PROMOTE_TEST_CRASH_AT"
NAMESPACE_EXISTS = 48  # renameCollection's answer when the target name exists
_MERGE_ATTEMPTS = 5


class CutoverDrift(OperationFailed):
    """Production changed a collection since its backup: cutover stopped before renaming it."""

    code = "target_drift"


@dataclass
class CutoverResult:
    collection: str
    # "rename dropTarget" (atomic), "rename aside" (FerretDB fallback), "rename aside, kept"
    # (keep_previous: the replaced collection stays), "rename" (a new name), or "already done"
    method: str
    window_ms: float | None  # how long the name did not exist (two renames only)
    aside: str | None  # where the replaced collection is now (dropped after success unless kept)
    fingerprint: str | None = None  # content hash "<count>:<hex>" of what was installed
    drift: str | None = None  # a change since the backup, overridden by --allow-target-drift
    kept: bool = False  # `aside` is kept until cleanup (keep_previous, or a rollback's restore)


class CutoverStep(StepBase):
    """One action per collection (journalled one by one, so a resume finishes a cutover), then,
    where the server has no dropTarget and nothing is kept, one that drops the old live copies
    renamed aside.

    Before the first rename (of this process): one listCollections says where every collection
    stands, and every shadow's fingerprint (`cutover_fingerprint`, so a rollback can tell whether
    production changed since) and, with `keep`, its renames (`cutover_renames`) are journalled
    together, one fsync (`Prepared`). Before each rename: the lock is checked (`state.fence`, by
    time) and the live collection is compared with its backup (or must still be absent when the
    run creates it).

    `keep` (names.KEPT_INFIXES): the live collection each rename replaces is renamed aside as
    `<name><keep><run-id>` and kept (two renames, the window reported), with its UUID and the
    installed one's journalled (`cutover_renames`), so a rollback can swap them back. None: one
    atomic dropTarget rename where the server has it, else renamed aside and dropped after success.
    """

    kind = Kind.CUTOVER
    phase: Phase = "cutover"

    def __init__(
        self,
        state: RunState,
        names: list[str],
        *,
        allow_drift: bool = False,
        keep: str | None = None,
        frozen: bool = False,
    ) -> None:
        super().__init__(state)
        self.names = names
        self.allow_drift = allow_drift
        self.keep = keep
        self.frozen = frozen  # inside a write freeze: the catch-up leaves the guard (steps/catchup.py)
        self.title = f"cutover: {len(names)} rename(s), one per collection"
        self.prepared: Prepared | None = None  # taken at the first rename of this process

    # a rename's finish is found again on the server by `install` (shadow gone, name there)
    finish_unsynced = True

    def plan(self, ctx: RunContext) -> list[Action]:
        if self.keep:
            how = (
                f"the live one renamed aside and kept as <name>{self.keep}{ctx.run_id}, then "
                "the shadow in (two renames: window reported)"
            )
        elif ctx.target_caps.rename_drop_target:
            how = "one atomic rename (dropTarget)"
        else:
            how = "renamed aside, then the shadow in (no dropTarget: window reported)"
        guard = (
            "a change since the backup is reported (--allow-target-drift)"
            if self.allow_drift
            else "stops if production changed it since the backup"
        )
        look = (  # inside a write freeze the catch-up's read was the look at its content
            "its stored count and size compared with the catch-up's read"
            if self.frozen
            else "live re-hashed"
        )
        actions = [
            self.action(
                f"cutover:{n}",
                f"{n}: lock checked, {look} ({guard}), then its shadow replaces it, {how}",
                n,
            )
            for n in self.names
        ]
        if self.names and not self.keep and not ctx.target_caps.rename_drop_target:
            actions.append(
                self.action("cutover:asides", "drop the old live copies renamed aside (backed up)")
            )
        return actions

    def apply(self, ctx: RunContext, action: Action) -> Result:
        if action.collection is None:
            dropped = drop_asides(ctx, self.names)
            if dropped:
                ctx.out.detail(f"dropped the old live copies: {', '.join(dropped)} (in the backup)")
            return {"dropped": dropped}
        if self.prepared is None:
            self.prepared = prepare(ctx, self.state, self.names, self.keep)
        try:
            installed = install(
                ctx,
                self.state,
                action.collection,
                allow_drift=self.allow_drift,
                keep=self.keep,
                seen=self.prepared.take(action.collection),
            )
        except BaseException:
            self.prepared = None  # a failure: whatever comes next looks at the server again
            raise
        result = {"result": asdict(installed)}
        self.resume(ctx, action, result)
        return result

    def resume(self, ctx: RunContext, action: Action, result: Result) -> None:
        if action.collection is None:
            return
        done = result["result"]
        self.state.report.cutover.append(done)
        if self.keep and done.get("kept") and done.get("aside"):
            self.state.report.keep(self.keep, action.collection, done["aside"])
        # what the live collection holds from now on (post-checks count it again)
        fingerprint = done.get("fingerprint")
        installed = hashed_count(fingerprint) if fingerprint else None
        if installed is not None:
            self.state.report.collection(action.collection)["target_count_after"] = installed


# ---------------------------------------------------------------- every collection at once


@dataclass
class Seen:
    """One collection as `prepare` found it, its fingerprint and renames already journalled."""

    present: set[str]  # which of the name, its shadow, its aside existed
    fingerprint: str


@dataclass
class Prepared:
    """Where each collection to cut over stood before the first rename, handed out once each
    (`take`): a collection asked for again, or after a failure, is looked at again."""

    seen: dict[str, Seen] = field(default_factory=dict)

    def take(self, name: str) -> Seen | None:
        return self.seen.pop(name, None)


def prepare(ctx: RunContext, state: RunState, names: list[str], keep: str | None) -> Prepared:
    """Before the first rename: one listCollections for every collection (and UUID), each shadow's
    fingerprint (validation's read of it, or read now, `ctx.workers` at once), then every
    collection still to install journalled in one write and one fsync: its `cutover_fingerprint`
    and, with `keep`, its `cutover_renames` (what `_fingerprint` and `_record_renames` journal one
    by one for a collection looked at again). A collection part-way done is left to `install`."""
    uuids = collection_uuids(ctx.target_db)
    renamed = state.renamed()
    fresh: dict[str, tuple[str, str]] = {}
    for name in names:
        shadow = ctx.shadow_name(name)
        aside = kept_name(name, keep, ctx.run_id) if keep else ctx.aside_name(name)
        if name not in renamed and shadow in uuids and aside not in uuids:
            fresh[name] = (shadow, aside)
    unread = [n for n in fresh if not state.shadow_hashes.get(n)]
    with ThreadPoolExecutor(max_workers=max(1, ctx.workers), thread_name_prefix="print") as pool:
        read = dict(
            zip(
                unread,
                pool.map(lambda n: content_hash(ctx.target_db[fresh[n][0]]).hexdigest(), unread),
                strict=True,
            )
        )
    prepared, records = Prepared(), []
    for name, (shadow, aside) in fresh.items():
        fingerprint = state.shadow_hashes.get(name) or read[name]
        records.append((CUTOVER_FINGERPRINT, {"collection": name, "content_hash": fingerprint}))
        if keep:
            kept_as = aside if name in uuids else None
            records.append(
                (CUTOVER_RENAMES, _renames(state, name, kept_as, uuids, shadow, fingerprint))
            )
        present = {n for n in (name, shadow, aside) if n in uuids}
        prepared.seen[name] = Seen(present, fingerprint)
    if records and state.journal is not None:
        state.journal.record_all(records)
    return prepared


# ---------------------------------------------------------------- one collection


def install(
    ctx: RunContext,
    state: RunState,
    name: str,
    *,
    allow_drift: bool,
    keep: str | None = None,
    seen: Seen | None = None,
) -> CutoverResult:
    """Shadow over live. Idempotent from every intermediate state, so `--resume` finishes it:
    shadow gone and name present (done), live renamed aside and the shadow not yet in (finish),
    the name re-created meanwhile (put production back, stop). `keep`: see CutoverStep. `seen`:
    where it stood before the first rename, its fingerprint and renames journalled (`prepare`);
    None: looked at now, and journalled here."""
    shadow = ctx.shadow_name(name)
    aside = kept_name(name, keep, ctx.run_id) if keep else ctx.aside_name(name)
    kept = keep is not None
    present = seen.present if seen is not None else _present(ctx, name, shadow, aside)
    if shadow not in present:
        if name in present:
            there = aside if aside in present else None
            return CutoverResult(name, "already done", None, there, kept=kept and bool(there))
        if aside in present:
            _stop_with_recovery(
                ctx, name, aside, f"its shadow {shadow} is gone and production's data is in {aside}"
            )
        raise OperationFailed(f"cutover of {name}: neither its shadow {shadow} nor {name} exists")
    if aside in present:
        if name in present:  # written to after the aside rename: production's name came back
            _recreated(ctx, name, shadow, aside)
        finished = _finish_aside(ctx, state, name, shadow, aside)  # crashed between the renames
        return replace(
            finished, kept=kept, method="rename aside, kept" if kept else finished.method
        )
    fingerprint = seen.fingerprint if seen is not None else _fingerprint(ctx, state, name, shadow)
    state.fence()
    # the last look at production, as close to the rename as it can be (MongoDB has no lock on
    # a collection: a write in the few milliseconds between this hash and the rename is the
    # one case no guard can see)
    drift = guard(ctx, state, name, present=name in present, allow=allow_drift)
    if kept and seen is None:
        _record_renames(ctx, state, name, shadow, aside if name in present else None, fingerprint)
    crash_point(name, "before_rename")
    # a name absent when looked at is renamed into without dropTarget: one the application
    # created since makes the rename fail (and the guard stop the run), never dropped
    if not kept and ctx.target_caps.rename_drop_target and name in present:
        rename(ctx, shadow, name, drop_target=True)
        method, window, there = "rename dropTarget", None, None
    elif name not in present:
        _rename_new(ctx, state, name, shadow)
        method, window, there = "rename", 0.0, None
    else:
        window = _install_aside(ctx, name, shadow, aside, fallback=not kept)
        method, there = ("rename aside, kept" if kept else "rename aside"), aside
    crash_point(name, "after_install")
    return CutoverResult(name, method, window, there, fingerprint, drift, kept=there is not None)


def _record_renames(
    ctx: RunContext,
    state: RunState,
    name: str,
    shadow: str,
    kept_as: str | None,
    fingerprint: str,
) -> None:
    """Before renames that keep the live collection: where it goes, and both UUIDs (a rollback
    checks them instead of reading the collections), the installed count, the kept one's hash."""
    uuids = collection_uuids(ctx.target_db, [name, shadow])
    state.record(CUTOVER_RENAMES, **_renames(state, name, kept_as, uuids, shadow, fingerprint))


def _renames(
    state: RunState,
    name: str,
    kept_as: str | None,
    uuids: dict[str, str | None],
    shadow: str,
    fingerprint: str,
) -> dict[str, Any]:
    """A `cutover_renames` record's fields (journal.Renames)."""
    return {
        "collection": name,
        "kept_as": kept_as,
        "kept_uuid": uuids.get(name) if kept_as else None,
        "installed_uuid": uuids.get(shadow),
        "installed_count": hashed_count(fingerprint),
        "kept_fingerprint": state.backed_up.get(name) if kept_as else None,
    }


def guard(ctx: RunContext, state: RunState, name: str, *, present: bool, allow: bool) -> str | None:
    """Right before `name`'s rename: production must hold what its backup holds (or, for a
    collection the run creates, still not exist). Otherwise CutoverDrift, or the change reported
    when `allow` (--allow-target-drift)."""
    ctx.check_cancelled()
    expected = state.backed_up.get(name)
    problem = None
    if expected is None and present:
        count = ctx.target_db[name].estimated_document_count()
        problem = f"{name} did not exist at the backup and exists now ({count:,} document(s))"
    elif expected is not None and not present:
        problem = (
            f"{name} was dropped since the backup ({hashed_count(expected):,} document(s) then)"
        )
    elif expected is not None:
        problem = _content_changed(ctx, state, name, expected)
    if problem is None:
        return None
    state.record(CUTOVER_DRIFT, collection=name, problem=problem, overridden=allow)
    if allow:
        ctx.out.warn(f"production changed since its backup: {problem} (--allow-target-drift)")
        return problem
    done = [c["collection"] for c in state.report.cutover]
    raise CutoverDrift(
        f"production changed since its backup: {problem}. {name} was not cut over and "
        "production is left as it is"
        + (
            f"; this run already cut over {', '.join(done)} (journalled)"
            if done
            else "; nothing was cut over yet"
        )
        + f". `{ctx.resume_command()}` finishes the cutover ("
        + (
            "once the freeze holds: it reads what moved into the backup again"
            if state.rename_guard is not None
            else "with --allow-target-drift it overwrites those writes"
        )
        + f"), `{ctx.rollback_command()}` undoes the renames made"
    )


def _content_changed(ctx: RunContext, state: RunState, name: str, expected: str) -> str | None:
    """Whether `name` still holds what its backup holds. Inside a write freeze the catch-up's
    read was that look, and its guard compares what is cheap to know now (steps/catchup.py);
    otherwise the collection is re-hashed whole."""
    if state.rename_guard is not None:
        return state.rename_guard.problem(ctx, name)
    now = content_hash(ctx.target_db[name]).hexdigest()
    if now == expected:
        return None
    return (
        f"{name}: {hashed_count(expected):,} document(s) at the backup, {hashed_count(now):,} now, "
        "content changed"
    )


def _fingerprint(ctx: RunContext, state: RunState, name: str, shadow: str) -> str:
    """What the live collection will hold once renamed: journalled before the rename, so a
    rollback can tell production's later writes from the run's own data."""
    # validation has just read the shadow whole (nothing writes to a shadow but this run)
    fingerprint = state.shadow_hashes.get(name) or (
        content_hash(ctx.target_db[shadow]).hexdigest()
    )
    state.record(CUTOVER_FINGERPRINT, collection=name, content_hash=fingerprint)
    return fingerprint


def _finish_aside(
    ctx: RunContext, state: RunState, name: str, shadow: str, aside: str
) -> CutoverResult:
    """Live already renamed aside by an interrupted run: the shadow goes in, nothing else."""
    fingerprint = state.journalled_fingerprint(name) or _fingerprint(ctx, state, name, shadow)
    state.fence()
    try:
        rename(ctx, shadow, name)
    except OperationFailure as exc:
        if exc.code == NAMESPACE_EXISTS or _present(ctx, name):
            _recreated(ctx, name, shadow, aside)
        raise
    return CutoverResult(name, "rename aside", None, aside, fingerprint)


def _rename_new(ctx: RunContext, state: RunState, name: str, shadow: str) -> None:
    """A collection the run creates, renamed in without dropTarget: the name must still be free."""
    try:
        rename(ctx, shadow, name)
    except OperationFailure as exc:
        if exc.code == NAMESPACE_EXISTS or _present(ctx, name):
            guard(ctx, state, name, present=True, allow=False)
        raise


def _install_aside(
    ctx: RunContext, name: str, shadow: str, aside: str, *, fallback: bool = True
) -> float:
    """Live -> aside, shadow -> live: kept (keep_previous), or, with no dropTarget (FerretDB,
    `fallback`), the aside copy dropped only after success. Returns the window in ms during
    which the name did not exist."""
    if fallback:
        ctx.fallback(
            "renameCollection dropTarget unsupported: cutover renames each live collection aside "
            "(<name>__old_<run>) then the shadow in; the window without the name is reported"
        )
    started = time.perf_counter()
    rename(ctx, name, aside)
    crash_point(name, "after_aside")
    try:
        rename(ctx, shadow, name)
    except OperationFailure as exc:
        if exc.code == NAMESPACE_EXISTS or _present(ctx, name):
            _recreated(ctx, name, shadow, aside)
        try:
            rename(ctx, aside, name)  # put production back as it was
        except PyMongoError:
            _stop_with_recovery(ctx, name, aside, f"renaming the shadow in failed ({_reason(exc)})")
        raise OperationFailed(f"cutover of {name} failed and was undone: {_reason(exc)}") from exc
    return round((time.perf_counter() - started) * 1000, 2)


def _recreated(ctx: RunContext, name: str, shadow: str, aside: str) -> NoReturn:
    """Production wrote to `name` after it was renamed aside: the write re-created the name.
    Put production back (its collection under its name, the documents written meanwhile merged
    in: they are newer) and stop; the shadow stays for `--resume`."""
    held: list[str] = []
    try:
        for attempt in range(_MERGE_ATTEMPTS):
            if _present(ctx, name):  # the window's writes out of the way
                held.append(recreated_name(name, ctx.run_id, attempt))
                rename(ctx, name, held[-1])
            try:
                rename(ctx, aside, name)  # production's collection back under its name
                break
            except OperationFailure:
                continue  # written again meanwhile: once more
        else:
            _stop_with_recovery(ctx, name, aside, "it was re-created again at every attempt")
        merged = sum(_merge(ctx, h, name) for h in held)  # oldest first: the newest write wins
    except PyMongoError as exc:
        _stop_with_recovery(ctx, name, aside, f"putting it back failed ({_reason(exc)})")
    raise CutoverDrift(
        f"production wrote to {name} during its cutover (the name was re-created between the "
        f"two renames): {name} is put back as it was, with the {merged} document(s) written "
        f"meanwhile merged in; it was not cut over. Stop the writers and run again (a new backup); "
        f"or `{ctx.resume_command()} --allow-target-drift` finishes the cutover (replacing "
        f"those writes), or `{ctx.rollback_command()}` undoes the renames made; the shadow {shadow} "
        "is kept"
    )


def _merge(ctx: RunContext, source: str, into: str) -> int:
    """Every document of `source` into `into` (by `_id`: the newer write wins); `source` dropped."""
    db = ctx.target_db
    moved = 0
    for doc in db[source].find():
        db[into].replace_one({"_id": doc["_id"]}, doc, upsert=True)
        moved += 1
    db.drop_collection(source)
    return moved


def _stop_with_recovery(ctx: RunContext, name: str, aside: str, why: str) -> NoReturn:
    """A state the tool will not guess its way out of: say exactly where production's data is
    and the commands that put it back."""
    db = ctx.plan.target.database
    present = sorted(c for c in ctx.target_db.list_collection_names() if c.startswith(name))
    raise OperationFailed(
        f"cutover of {name} stopped: {why}. Production's data before this run is in "
        f"{db}.{aside} (also in the backup); collections now: {', '.join(present)}. To put it "
        f"back by hand (mongosh): db.getSiblingDB({db!r}).getCollection({aside!r})"
        f".renameCollection({name!r}) (after moving any {name} aside), or "
        f"`{ctx.rollback_command()}`"
    )


def _reason(exc: PyMongoError) -> str:
    details = getattr(exc, "details", None) or {}
    return str(details.get("errmsg") or exc).split(", full error:")[0]


def crash_point(name: str, point: str) -> None:
    """The test hook described at CRASH_ENV: the one place the variable is read (the swap of
    steps/swap.py calls it too)."""
    if os.environ.get(CRASH_ENV) == f"cutover:{name}:{point}":
        os._exit(137)


def rename(ctx: RunContext, source: str, target: str, *, drop_target: bool = False) -> None:
    """One renameCollection in the target database (majority on a replica set)."""
    db = ctx.plan.target.database
    command: dict[str, Any] = {"renameCollection": f"{db}.{source}", "to": f"{db}.{target}"}
    if drop_target:
        command["dropTarget"] = True
    if ctx.target_caps.topology == "replicaset":
        command["writeConcern"] = {"w": "majority"}
    ctx.target_client.admin.command(command)


def _present(ctx: RunContext, *names: str) -> set[str]:
    """Which of `names` exist now (one listCollections)."""
    found = ctx.target_db.list_collection_names(filter={"name": {"$in": list(names)}})
    return set(found)


def drop_asides(ctx: RunContext, names: list[str]) -> list[str]:
    """After the run has succeeded: the old live copies are in the verified backup."""
    return _drop_existing(ctx, [ctx.aside_name(n) for n in names])


def drop_shadows(ctx: RunContext, names: list[str]) -> list[str]:
    """Failure before cutover: remove what the run built; production was never touched."""
    return _drop_existing(ctx, [ctx.shadow_name(n) for n in names])


def _drop_existing(ctx: RunContext, collections: list[str]) -> list[str]:
    present = set(ctx.target_db.list_collection_names())
    dropped = [c for c in collections if c in present]
    for collection in dropped:
        ctx.target_db.drop_collection(collection)
    return dropped
