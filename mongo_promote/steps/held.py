"""Did the write freeze hold? (issue 17) Inside the window the guard before each rename looks at
stored counts and sizes only (FerretDB v1 sees no update in them). With keep_previous each previous
collection IS production as it was at its rename: after freeze.end, outside the window, each one is
hashed and compared with the backup's hash of that collection (after the catch-up). One that
differs was written to during the freeze: it is dumped again into the run's backup (read back and
verified like the rest), so the backup and `rollback` hold what was really replaced, and the run
ends with exit 1 saying so."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

from mongo_promote.adapters.dump import (
    DumpEncrypted,
    DumpUpdate,
    Manifest,
    documents_file,
    iter_file_documents,
    remove_side,
)
from mongo_promote.adapters.mongo import content_hash
from mongo_promote.state.context import RunContext
from mongo_promote.state.journal import CAUGHT_UP, CUTOVER_RENAMES
from mongo_promote.state.step import Action, Phase, Result, StepBase
from mongo_promote.steps.backup import collection_metadata, live_documents
from mongo_promote.steps.caughtup import diff_by_id


def not_held_line(changed: dict[str, dict[str, Any]]) -> str:
    """`the freeze did not hold: People changed during the window (3 documents differ); ...`"""
    parts = [
        f"{name} changed during the window ({_differ(c.get('documents_differ'))})"
        for name, c in sorted(changed.items())
    ]
    return f"the freeze did not hold: {'; '.join(parts)}; the backup holds it as replaced"


def _differ(count: int | None) -> str:
    if count is None:  # an encrypted backup: the run has no identity to read its old files
        return "the documents that differ not counted: the backup is encrypted"
    return f"{count:,} documents differ"


class FreezeHeldStep(StepBase):
    """One action after freeze.end (only with keep_previous): each kept previous collection's
    content hash against the backup's. The result goes to the report (`freeze.held`, and
    `freeze.not_held` by collection); the runner ends the run on it (exit 1)."""

    title = "did the freeze hold: each kept previous collection against the backup"
    kind = "freeze-held"
    phase: Phase = "after"

    def plan(self, ctx: RunContext) -> list[Action]:
        return [
            self.action(
                "freeze-held",
                "hash each previous collection the cutover kept (production as it was at its "
                "rename) and compare it with the backup's hash; one that differs was written to "
                "during the freeze: dumped again into the backup, exit 1",
            )
        ]

    def apply(self, ctx: RunContext, action: Action) -> Result:
        kept = dict(self.state.report.kept_previous)
        with ThreadPoolExecutor(max_workers=max(1, ctx.workers), thread_name_prefix="held") as pool:
            hashes = dict(
                zip(
                    kept,
                    pool.map(lambda n: content_hash(ctx.target_db[kept[n]]), kept),
                    strict=True,
                )
            )
        differ = [n for n, h in hashes.items() if h.hexdigest() != self.state.backed_up.get(n)]
        changed = {n: self._dump_again(ctx, n, kept[n]) for n in sorted(differ)}
        result = {
            "freeze_held": {"held": not changed, "checked": sorted(kept), "not_held": changed}
        }
        self.resume(ctx, action, result)
        if changed:
            ctx.out.warn(not_held_line(changed))
        else:
            ctx.out.info(
                f"  the freeze held: {len(kept)} previous collection(s) as the backup holds them"
            )
        return result

    def resume(self, ctx: RunContext, action: Action, result: Result) -> None:
        held = result["freeze_held"]
        self.state.report.freeze["held"] = held["held"]
        if held["not_held"]:
            self.state.report.freeze["not_held"] = held["not_held"]
            for name, c in held["not_held"].items():
                self.state.backed_up[name] = c["content_hash"]

    def _dump_again(self, ctx: RunContext, name: str, previous: str) -> dict[str, Any]:
        """`previous` written into the backup as `name` (staged, read back, moved in), and how
        many of its documents differ from what the backup held, by `_id`."""
        root = Path(self.state.report.backup["dir"])
        database = ctx.plan.target.database
        update = DumpUpdate(root, gzip=ctx.plan.backup.gzip, encrypt_to=ctx.plan.backup.encrypt_to)
        old = Manifest.load(root).collection(database, name)
        meta = collection_metadata(ctx, previous)
        staged = update.stage(
            database,
            name,
            live_documents(ctx, previous),
            options=meta.options if meta else {},
            indexes=meta.indexes if meta else [],
            uuid=meta.uuid if meta else None,
        )
        differ: int | None = None
        if old is not None:
            try:
                diff = diff_by_id(
                    iter_file_documents(documents_file(root, old)),
                    iter_file_documents(documents_file(staged.root, staged.entry)),
                    ctx.paths.run_dir / "freeze-held.sqlite",
                )
                differ = diff.inserted + diff.changed + diff.deleted
            except DumpEncrypted:
                differ = None  # the run has no identity to read an encrypted backup
        entry = update.commit(staged)
        remove_side(root)  # what the backup held before: the previous collection now holds more
        was = self.state.backed_up.get(name)
        self._journal(name, entry.content_hash)
        return {
            "kept_as": previous,
            "backup_hash_was": was,
            "content_hash": entry.content_hash,
            "documents_differ": differ,
        }

    def _journal(self, name: str, content_hash: str) -> None:
        """The backup's new hash (a rollback restoring from it, cleanup) and the kept collection's
        (a rollback's swap installs it: what a rollback of that rollback compares)."""
        self.state.record(CAUGHT_UP, collection=name, changed=True, content_hash=content_hash)
        journal = self.state.journal
        renames = journal.renames().get(name) if journal is not None else None
        if renames is not None:
            fields = {k: v for k, v in asdict(renames).items() if k != "at"}
            self.state.record(CUTOVER_RENAMES, **{**fields, "kept_fingerprint": content_hash})
