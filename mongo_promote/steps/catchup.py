"""The catch-up, inside a write freeze (issue 17): every production collection the run replaces
is read once; one that changed since its backup gets its backup files replaced by what production
holds now (written like the backup, read back, then moved in), so that the run's backup holds
production as the freeze found it. That read is also the look at the content that guards each
rename inside the freeze (`FrozenGuard`): the renames do not read production again.

What is detected, and when (README: "Promoting a production that is in use"):
- during each collection's read: a write to it (its stored count or data size differs before and
  after the read and a second read hashes otherwise, or two reads disagree): the run stops,
  nothing renamed. Stats that move while the content hashes the same are the server's own
  statistics (PostgreSQL's autovacuum under FerretDB v2), not a write: said, and the run goes on;
- before the first rename, for every collection the run replaces or creates, and again right
  before each collection's own rename: a document inserted or deleted (the server's stored count),
  an update that changes the collection's data size (on servers that keep it exactly: MongoDB,
  FerretDB v2; FerretDB v1 counts in pages), a collection created or dropped. Moved stats are
  confirmed by reading the collection's content against the catch-up's hash; a difference stops
  the run before that rename (CutoverDrift), as the drift guard does.
- not seen: an update in place that keeps the collection's data size (on FerretDB v1: any update),
  made after the catch-up read that collection. Excluding it is freeze.start's contract (it
  returns once writes have stopped); a run without a freeze re-hashes each collection instead.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mongo_promote.adapters.dump import DumpUpdate, Staged
from mongo_promote.checksum import ContentHash, hashed_count
from mongo_promote.domain.inventory import collection_stats
from mongo_promote.state.context import RunContext
from mongo_promote.state.journal import CAUGHT_UP, Kind
from mongo_promote.state.step import Action, Result, RunState, StepBase
from mongo_promote.steps.backup import collection_metadata, live_documents
from mongo_promote.steps.cutover import CutoverDrift

Stats = tuple[int | None, int]  # the server's stored count and data size (collStats)


class FreezeNotHeld(CutoverDrift):
    """Production was written to inside the freeze, before any rename: the freeze did not hold."""


@dataclass
class CaughtUp:
    """One collection read by the catch-up."""

    collection: str
    changed: bool  # it differed from its backup: its backup files were replaced
    backed_up: str  # content hash "<count>:<hex>" the backup held before
    content_hash: str  # what the backup holds now (production when the freeze began)
    stats: list[Any]  # [count, size] right after the read: what the renames' guard compares with
    seconds: float
    reads: int = 1  # 2: it changed between the pre-pass and the freeze (read, then read to write)


class CatchUpStep(StepBase):
    """One action: each replaced collection read once, `ctx.workers` at once; each journalled as
    it is done (a resume inside the same freeze skips those), changed ones rewritten in the backup.
    Collections the run creates must still be absent; the others are not touched, their backup is
    as of the backup's time."""

    title = "catch-up: what the application wrote since the backup goes into the backup"
    kind = Kind.CATCH_UP

    def __init__(
        self, state: RunState, replaced: list[str], created: list[str], *, allow: bool
    ) -> None:
        super().__init__(state)
        self.replaced, self.created, self.allow = replaced, created, allow

    def plan(self, ctx: RunContext) -> list[Action]:
        return [
            self.action(
                "catch-up",
                f"read each of the {len(self.replaced)} collection(s) the run replaces once: one "
                "that changed since the backup has its backup files rewritten from production "
                "(read back, then moved in; the original kept aside until its writes are "
                f"counted); the {len(self.created)} it creates must still be absent",
            )
        ]

    def apply(self, ctx: RunContext, action: Action) -> Result:
        already = self._still_caught_up(ctx)
        update = DumpUpdate(
            Path(self.state.report.backup["dir"]),
            gzip=ctx.plan.backup.gzip,
            encrypt_to=ctx.plan.backup.encrypt_to,
        )
        database = ctx.plan.target.database
        backed = {
            e.name: e.content_hash for e in update.manifest.collections if e.database == database
        }
        renamed = self.state.renamed()
        present = self._still_present(ctx, renamed)
        todo = [n for n in present if n not in already and n in backed]
        todo.sort(key=lambda n: -hashed_count(backed[n]))  # the largest first: the workers even out
        with ThreadPoolExecutor(
            max_workers=max(1, ctx.workers), thread_name_prefix="catchup"
        ) as pool:
            done = list(pool.map(lambda n: self._one(ctx, update, n, backed[n]), todo))
        self._created_still_absent(ctx)
        entries = {**already, **{c.collection: asdict(c) for c in done}}
        result = {
            "catch_up": {
                n: {k: v for k, v in e.items() if k != "collection"} for n, e in entries.items()
            }
        }
        self.resume(ctx, action, result)
        changed = [n for n, e in result["catch_up"].items() if e["changed"]]
        ctx.out.info(
            f"  caught up: {len(changed)} of {len(entries)} collection(s) changed since the backup"
            + (f" ({', '.join(sorted(changed))}): their backup files now hold production as the "
               "freeze found it" if changed else "")
        )  # fmt: skip
        return result

    def _still_caught_up(self, ctx: RunContext) -> dict[str, dict[str, Any]]:
        """This freeze's catch-up so far (a resume inside the same freeze), minus any collection
        renamed since or moved since it was read: those are read again."""
        renamed = self.state.renamed()
        kept = {}
        for name, entry in self.state.freeze_span().caught_up.items():
            if name in renamed or collection_stats(ctx.target_db, name) == tuple(entry["stats"]):
                kept[name] = entry
            else:
                ctx.out.warn(
                    f"{name} changed since the catch-up read it (the freeze did not hold while "
                    "this run was stopped): read again into the backup"
                )
        return kept

    def resume(self, ctx: RunContext, action: Action, result: Result) -> None:
        entries = result["catch_up"]
        for name, e in entries.items():
            self.state.backed_up[name] = e["content_hash"]
        stats = {n: (e["stats"][0], e["stats"][1]) for n, e in entries.items()}
        hashes = {n: e["content_hash"] for n, e in entries.items()}
        self.state.rename_guard = FrozenGuard(
            self.state, stats, self.replaced, self.created, hashes=hashes
        )
        left = sorted(
            set(self.state.report.backup.get("collections", [])) - {*self.replaced, *self.created}
        )
        self.state.report.freeze.update(
            catch_up=entries,
            backup_as_of_backup_time=left,
        )

    def _one(self, ctx: RunContext, update: DumpUpdate, name: str, backed_up: str) -> CaughtUp:
        """Read `name` once (writing it beside the backup on the way when the pre-pass saw it
        changed); replace its backup files if it differs from them."""
        started = time.monotonic()
        staged: Staged | None = None
        if self.state.prepass.get(name, backed_up) != backed_up:
            staged, stats = self._staging_read(ctx, update, name)
            now = staged.entry.content_hash
        else:
            now, stats = self._hashing_read(ctx, name)
        reads = 1
        if now != backed_up and staged is None:  # changed after the pre-pass: read to write
            staged, stats = self._staging_read(ctx, update, name)
            if staged.entry.content_hash != now:  # two reads in the freeze disagree
                self._not_held(ctx, name, "a second read disagrees with the first")
            reads = 2
        if now == backed_up:
            if staged is not None:
                update.discard(staged)
            update.settle(ctx.plan.target.database, name)
        elif staged is not None:
            now = update.commit(staged).content_hash
        caught = CaughtUp(
            name, now != backed_up, backed_up, now, list(stats),
            round(time.monotonic() - started, 3), reads,
        )  # fmt: skip
        self.state.record(CAUGHT_UP, **asdict(caught))  # a resume in this freeze skips it
        return caught

    def _hashing_read(self, ctx: RunContext, name: str) -> tuple[str, Stats]:
        """`name`'s content hash, between two looks at its stored count and size."""
        before = collection_stats(ctx.target_db, name)
        content = live_hash(ctx, name)
        after = collection_stats(ctx.target_db, name)
        return content, self._settled(ctx, name, before, after, content)

    def _staging_read(self, ctx: RunContext, update: DumpUpdate, name: str) -> tuple[Staged, Stats]:
        """`name` written beside the backup as it is read (its hash on the way), between two looks."""
        before = collection_stats(ctx.target_db, name)
        meta = collection_metadata(ctx, name)
        staged = update.stage(
            ctx.plan.target.database,
            name,
            live_documents(ctx, name),
            options=meta.options if meta else {},
            indexes=meta.indexes if meta else [],
            uuid=meta.uuid if meta else None,
        )
        after = collection_stats(ctx.target_db, name)
        return staged, self._settled(ctx, name, before, after, staged.entry.content_hash)

    def _settled(
        self, ctx: RunContext, name: str, before: Stats, after: Stats, content: str
    ) -> Stats:
        """The stats the renames' guard compares with: `after`, when the stored count and size
        held still across the read. When they moved, the collection is read again and must hash
        as the read did: a write moves them, but so do the server's own statistics (FerretDB v2
        on PostgreSQL re-estimates a collection's data size after an autovacuum, with no write:
        34.1 instead of 28.3 MB for 100,000 untouched documents, seen)."""
        if before == after:
            return after
        if live_hash(ctx, name) != content:
            self._not_held(
                ctx, name, f"count {before[0]} -> {after[0]}, data size {before[1]} -> {after[1]} "
                "bytes, and a second read disagrees with the first",
            )  # fmt: skip
            return after
        ctx.out.info(stats_moved(name, before, after))
        return collection_stats(ctx.target_db, name)

    def _not_held(self, ctx: RunContext, name: str, seen: str) -> None:
        """The freeze did not hold while `name` was read: stop (or warn, --allow-target-drift)."""
        problem = f"{name} was written to while the catch-up read it ({seen}): the freeze did not hold"
        if self.allow:
            ctx.out.warn(f"{problem} (--allow-target-drift: its backup is as it was read)")
            return
        raise FreezeNotHeld(f"{problem}; nothing was cut over, production is left as it is")

    def _still_present(self, ctx: RunContext, renamed: set[str]) -> list[str]:
        """The replaced collections not yet renamed; one the application dropped since the backup
        stops the run here, before any rename (its backup stays as it was)."""
        present = set(ctx.target_db.list_collection_names())
        gone = [n for n in self.replaced if n not in present and n not in renamed]
        if gone and not self.allow:
            raise FreezeNotHeld(
                f"{', '.join(gone)} dropped since the backup: nothing was cut over, production "
                "is left as it is"
            )
        return [n for n in self.replaced if n in present and n not in renamed]

    def _created_still_absent(self, ctx: RunContext) -> None:
        present = set(ctx.target_db.list_collection_names())
        there = [n for n in self.created if n in present]
        if there and not self.allow:
            raise FreezeNotHeld(
                f"{', '.join(there)} did not exist at the backup and exist(s) now: the run would "
                "replace what the application created; nothing was cut over"
            )


class FrozenGuard:
    """The look right before each rename inside a freeze (`RenameGuard`): the collection's stored
    count and data size against what they were when the catch-up read it; before the first rename
    of this process, the same for every collection not yet renamed (and those the run creates
    must be absent). What it sees and what it cannot: this module's docstring."""

    def __init__(
        self,
        state: RunState,
        stats: dict[str, Stats],
        replaced: list[str],
        created: list[str],
        *,
        hashes: dict[str, str] | None = None,
    ) -> None:
        self.state, self.stats, self.hashes = state, stats, hashes or {}
        self.replaced, self.created = replaced, created
        self.swept = False

    def problem(self, ctx: RunContext, name: str) -> str | None:
        if not self.swept:
            self.swept = True
            found = self._created(ctx, name) or self._sweep(ctx, self._pending(name))
            if found:
                return f"{found} (seen before the first rename)"
        return self._look(ctx, name)

    def _sweep(self, ctx: RunContext, names: list[str]) -> str | None:
        """The first problem among `names`, looked at `ctx.workers` at once (one round trip each)."""
        with ThreadPoolExecutor(
            max_workers=max(1, ctx.workers), thread_name_prefix="sweep"
        ) as pool:
            return next(filter(None, pool.map(lambda n: self._look(ctx, n), names)), None)

    def _created(self, ctx: RunContext, name: str) -> str | None:
        """A collection the run creates that exists now (its own rename's guard sees `name`)."""
        present = set(ctx.target_db.list_collection_names())
        renamed = self.state.renamed()
        there = [n for n in self.created if n in present and n != name and n not in renamed]
        if not there:
            return None
        return f"{', '.join(there)} did not exist at the backup and exist(s) now"

    def _pending(self, name: str) -> list[str]:
        renamed = self.state.renamed()
        return [n for n in self.replaced if n not in renamed and n != name]

    def _look(self, ctx: RunContext, name: str) -> str | None:
        then = self.stats.get(name)
        if then is None:
            return None
        now = collection_stats(ctx.target_db, name)
        if then[0] is None:
            ctx.fallback(
                "the server gives no stored count (collStats): inside the freeze, the renames' "
                "guard cannot see a document inserted or deleted"
            )
        if now == then:
            return None
        content = self.hashes.get(name)
        if content is not None and live_hash(ctx, name) == content:  # the server's statistics
            ctx.out.info(stats_moved(name, then, now))
            self.stats[name] = collection_stats(ctx.target_db, name)
            return None
        return (
            f"{name} changed during the freeze, after the catch-up read it (count {then[0]} -> "
            f"{now[0]}, data size {then[1]} -> {now[1]} bytes, and its content differs): the "
            "freeze did not hold"
        )


def live_hash(ctx: RunContext, name: str) -> str:
    """A live collection's content hash ("<count>:<hex>"), as the catch-up reads it."""
    content = ContentHash()
    content.update_many(live_documents(ctx, name))
    return content.hexdigest()


def stats_moved(name: str, before: Stats, after: Stats) -> str:
    return (
        f"  {name}: the server's stored count or data size moved ({before[0]} -> {after[0]} "
        f"documents, {before[1]} -> {after[1]} bytes) but a second read hashes the same: no write "
        "(the server's statistics, e.g. PostgreSQL's autovacuum)"
    )
