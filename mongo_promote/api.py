"""The library's public commands: one plain function per CLI command, usable without the CLI."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pymongo import MongoClient

from mongo_promote.conn import connect, detect_capabilities, redact_uri, refuse_sharded
from mongo_promote.console import Output, confirm_once
from mongo_promote.context import RunContext, new_run_id
from mongo_promote.errors import UsageError
from mongo_promote.inventory import Inventory, collection_names, take_inventory
from mongo_promote.journal import RunLock, latest_run, open_journal
from mongo_promote.plan import LoadedPlan, Plan
from mongo_promote.steps.analyse import analyse
from mongo_promote.steps.validate import ValidationReport


@contextmanager
def clients(plan: Plan) -> Iterator[tuple[MongoClient[Any], MongoClient[Any]]]:
    """Both sides connected (or exit 3 within seconds); closed whatever happens."""
    source = connect(plan.source.uri, role="source")
    try:
        target = connect(plan.target.uri, role="target")
    except BaseException:
        source.close()
        raise
    try:
        yield source, target
    finally:
        source.close()
        target.close()


def inspect(plan: Plan) -> Inventory:
    """Inventory of both sides under the plan's classification; reads only."""
    with clients(plan) as (source, target):
        refuse_sharded(detect_capabilities(target), "target")
        return take_inventory(plan, source[plan.source.database], target[plan.target.database])


def seed(
    source_uri: str,
    target_uri: str,
    *,
    source_database: str = "meeshy",
    target_database: str = "meeshy",
    scale: float = 1,
    seed: int = 42,
    progress: Callable[[str, str, int], None] | None = None,
) -> dict[str, Any]:
    """Fill staging and production with the synthetic Meeshy data; returns the generator's manifest."""
    from mongo_promote.demo.generator import generate

    source = connect(source_uri, role="source")
    target = connect(target_uri, role="target")
    try:
        return generate(
            source[source_database],
            target[target_database],
            seed=seed,
            scale=scale,
            progress=progress,
        )
    finally:
        source.close()
        target.close()


# ------------------------------------------------------------------ commands over a RunContext


@contextmanager
def run_context(
    loaded: LoadedPlan, out: Output, *, run_id: str | None = None, state_dir: Path | None = None
) -> Iterator[RunContext]:
    """Connections, capabilities and a run id for the commands that are not a whole run."""
    from mongo_promote.pipeline import base_dir

    plan = loaded.plan
    with clients(plan) as (source, target):
        target_caps = detect_capabilities(target)
        refuse_sharded(target_caps, "target")
        rid = run_id or new_run_id()
        yield RunContext(
            loaded,
            rid,
            source,
            target,
            detect_capabilities(source),
            target_caps,
            out,
            base_dir(loaded, state_dir) / "runs" / rid,
        )


def validate(
    loaded: LoadedPlan, out: Output, *, run_id: str | None = None, state_dir: Path | None = None
) -> ValidationReport:
    """The live target against the source, with the plan's transforms applied: reads only.

    `$now` defaults were filled with the run's own timestamp, so the check takes it from that
    run's journal (the latest run when none is named).
    """
    from datetime import datetime

    from mongo_promote.pipeline import base_dir
    from mongo_promote.steps.validate import validate_live

    base = base_dir(loaded, state_dir)
    run_id = run_id or latest_run(base)
    with run_context(loaded, out, state_dir=state_dir) as ctx:
        if run_id:
            ctx.now = datetime.fromisoformat(open_journal(base, run_id).header()["now"])
            out.detail(f"$now of run {run_id}: {ctx.now.isoformat()}")
        elif ctx.plan.embeds:
            out.warn("no run found: fields defaulted to $now cannot match (pass --run RUN_ID)")
        inventory = take_inventory(ctx.plan, ctx.source_db, ctx.target_db)
        return validate_live(ctx, analyse(ctx.plan, inventory))


def backup(loaded: LoadedPlan, out: Output, out_dir: Path | None, state_dir: Path | None) -> Any:
    """A verified backup of every application collection of the target database."""
    from mongo_promote.pipeline import base_dir
    from mongo_promote.steps.backup import backup_collections

    with run_context(loaded, out, state_dir=state_dir) as ctx:
        names = collection_names(ctx.target_client[ctx.plan.target.database])
        if out_dir is None:
            configured = Path(ctx.plan.backup.dir).expanduser()
            root = (
                configured if configured.is_absolute() else base_dir(loaded, state_dir) / configured
            )
            out_dir = root / ctx.run_id
        return backup_collections(ctx, names, out_dir)


def restore(
    loaded: LoadedPlan,
    out: Output,
    backup_dir: Path,
    *,
    confirm: Callable[[str], bool] | None,
    yes: bool,
    only: list[str] | None = None,
    drop: list[str] | None = None,
    identity: Path | None = None,
) -> Any:
    """Put the target back as the backup holds it, through shadows and cutover, under the lock.

    `identity`: the age identity file that decrypts an encrypted backup (`restore --identity`).
    """
    from mongo_promote.steps.restore import restore_dump

    with run_context(loaded, out) as ctx:
        what = ", ".join(only) if only else "every collection in the backup"
        confirm_once(
            f"Restore {what} of {backup_dir} into {redact_uri(ctx.plan.target.uri)} database "
            f"{ctx.plan.target.database!r}"
            + (f" and drop {', '.join(drop)}" if drop else "")
            + "?",
            confirm,
            yes=yes,
        )
        lock = RunLock(ctx.target_client, ctx.plan.target.database, ctx.run_id)
        lock.acquire()
        try:
            return restore_dump(ctx, backup_dir, only=only, drop=drop, identity=identity)
        finally:
            lock.release()


def rollback(
    loaded: LoadedPlan,
    out: Output,
    *,
    run_id: str | None,
    state_dir: Path | None,
    confirm: Callable[[str], bool] | None,
    yes: bool,
    identity: Path | None = None,
) -> Any:
    """Undo a run: its replaced collections come back from its backup, the ones it created go."""
    from mongo_promote.pipeline import base_dir

    base = base_dir(loaded, state_dir)
    run_id = run_id or latest_run(base)
    if run_id is None:
        raise UsageError(f"no run to roll back under {base / 'runs'}")
    backup_info = open_journal(base, run_id).done("backup_done").get("")
    if backup_info is None:
        raise UsageError(
            f"run {run_id} took no backup, so it changed nothing: nothing to roll back"
        )
    info = backup_info["backup"]
    out.info(f"rolling back run {run_id} from {info['dir']}")
    return restore(
        loaded,
        out,
        Path(info["dir"]),
        confirm=confirm,
        yes=yes,
        only=info["replaced"],
        drop=info["created"],
        identity=identity,
    )
