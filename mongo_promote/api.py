"""The library's public commands: one plain function per CLI command, usable without the CLI."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pymongo import MongoClient

from mongo_promote.conn import connect, detect_capabilities, redact_uri, refuse_sharded
from mongo_promote.console import Output, confirm_once
from mongo_promote.context import RunContext, new_run_id
from mongo_promote.demo import showcase
from mongo_promote.demo.showcase import DemoOptions, DemoResult, DemoView
from mongo_promote.errors import PromoteError, UsageError
from mongo_promote.inventory import Inventory, collection_names, take_inventory
from mongo_promote.journal import RunLock, latest_run, open_journal
from mongo_promote.plan import LoadedPlan, Plan, bundled_plan_path, load_plan
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
    out: Output | None = None,
) -> dict[str, Any]:
    """Fill staging and production with the synthetic Meeshy data; returns the generator's manifest.

    With `out`, progress shows as a status line there, then a one-line summary.
    """
    return showcase.seed_servers(
        source_uri,
        target_uri,
        source_database=source_database,
        target_database=target_database,
        scale=scale,
        seed=seed,
        progress=progress,
        out=out,
    )


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
) -> Any:
    """Put the target back as the backup holds it, through shadows and cutover, under the lock."""
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
            return restore_dump(ctx, backup_dir, only=only, drop=drop)
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
    )


def demo(options: DemoOptions, out: Output, view: DemoView | None = None) -> DemoResult:
    """The whole Meeshy promotion on two local servers: seed, inventory, dry-run, run, validate.

    `view` shows the inventory and the validation (the CLI draws tables). With `options.keep` the
    servers stay up (listed in the result); otherwise they are stopped and their data deleted.
    """
    view = view or showcase.NoView()
    state_dir = options.state_dir
    with showcase.demo_servers(out, options) as pair:
        source_uri, target_uri = pair[0].uri, pair[1].uri
        out.step("demo 2", f"seeding realistic Meeshy data at scale {options.scale:g}")
        seed(source_uri, target_uri, scale=options.scale, seed=options.seed, out=out)
        loaded = load_plan(bundled_plan_path(), source_uri=source_uri, target_uri=target_uri)
        out.step("demo 3", "inventory of both sides under the bundled Meeshy plan")
        view.inventory(inspect(loaded.plan))
        out.step("demo 4", "dry-run: what the promotion would do (writes nothing)")
        dry_run(loaded, RunOptions(state_dir=state_dir), out)
        out.step(
            "demo 5", "the promotion itself (hooks skipped: they would restart the real gateway)"
        )
        outcome = run(loaded, RunOptions(yes=True, run_hooks=False, state_dir=state_dir), out)
        out.step("demo 6", "validation of the live target against the source")
        report = validate(loaded, out, run_id=outcome.run_id, state_dir=state_dir)
        view.validation(report)
        out.info(
            f"\nrun {outcome.run_id}: {outcome.status}; report {outcome.report}; "
            f"backup {outcome.backup_dir}"
        )
        out.info(
            f"undo it with: mongo-promote rollback --plan meeshy --state-dir {state_dir} "
            "(with the servers kept: --keep)"
        )
        if not report.passed:
            raise PromoteError("demo: validation after the run found differences")
    return DemoResult(
        run_id=outcome.run_id,
        status=outcome.status,
        report=outcome.report,
        backup_dir=outcome.backup_dir,
        validation_passed=report.passed,
        kept_servers=pair if options.keep else [],
    )


# ------------------------------------------------------------------ TEMPORARY (branch `cli`)
# Stand-ins for the runner's `run` / `dry_run` so the CLI and the demo call `api` today; the
# lead replaces this block with the runner branch's definitions at merge.

from mongo_promote import pipeline  # noqa: E402
from mongo_promote.pipeline import RunOptions, RunOutcome  # noqa: E402


def run(loaded: LoadedPlan, options: RunOptions, out: Output) -> RunOutcome:
    """TEMPORARY: the whole promotion (backup, shadows, transform, index, validate, cutover)."""
    return pipeline.run(loaded, options, out)


def dry_run(loaded: LoadedPlan, options: RunOptions, out: Output) -> RunOutcome:
    """TEMPORARY: every read-only check and the exact list of actions; writes nothing."""
    return pipeline.run(loaded, dataclasses.replace(options, dry_run=True), out)
