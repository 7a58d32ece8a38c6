"""`run --dry-run`: every check that only reads, and the exact list of what `run` would do. Writes nothing."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from mongo_promote.console import human_bytes
from mongo_promote.context import RunContext
from mongo_promote.journal import RunLock
from mongo_promote.steps.analyse import Actions
from mongo_promote.transforms.effects import expected_effects


def describe_dry_run(ctx: RunContext, actions: Actions) -> Any:
    from mongo_promote.pipeline import RunOutcome

    plan = ctx.plan
    out = ctx.out
    out.step(
        2,
        f"backup (would write): {len(actions.backup)} target collection(s), "
        f"about {human_bytes(actions.backup_bytes)} before compression",
    )
    out.step(3, "copy into shadows, transforming on the way; cut over after validation (would do):")
    out.table(_actions_table(actions))
    transforms = _transform_expectations(ctx)
    out.info("  transforms, expected effect:")
    for t in transforms:
        out.info("  " + _describe_transform(t))
    indexes = {
        a.name: [ix["name"] for ix in a.source_indexes if ix["name"] != "_id_"] + a.declared_indexes
        for a in actions.collections
    }
    out.step(
        4,
        f"indexes to build: {sum(len(v) for v in indexes.values())} on "
        f"{sum(1 for v in indexes.values() if v)} collection(s)",
    )
    for name, names in indexes.items():
        if names:
            out.detail(f"  {name}: {', '.join(names)}")
    holder = RunLock(ctx.target_client, plan.target.database, ctx.run_id).holder()
    lock = holder.describe() if holder else None
    if lock:
        out.warn(f"the lock is held now: {lock}; `run` would exit 4")
    for item in actions.left_alone:
        out.detail(f"  left alone: {item.name} ({item.cls}, {item.where}): {item.reason}")
    out.info("[bold]dry-run: nothing was written[/]")
    summary = {
        **actions.to_json(),
        "transforms": transforms,
        "indexes": indexes,
        "lock_held_by": lock,
        "documents_to_copy": sum(a.source_count for a in actions.collections),
        "bytes_to_copy": sum(a.source_size for a in actions.collections),
    }
    return RunOutcome(None, "dry-run", None, None, None, dry_run=summary)


def _describe_transform(t: dict[str, Any]) -> str:
    if "embed" in t:
        return (
            f"{t['embed']} -> {t['into']}: {t.get('children_read', 0):,} children, "
            f"{t.get('folded', 0):,} (parent, key) pairs into {t.get('parents_updated', 0):,} "
            f"parents; {t.get('duplicates', 0)} duplicate(s) resolved, {t.get('orphans', 0)} "
            f"orphan(s), {t.get('invalid_keys', 0)} invalid key(s), {t.get('no_key', 0)} "
            f"without a key"
        )
    return (
        f"{t['rewrite']}: {t.get('documents_changed', 0):,} of {t.get('documents_scanned', 0):,} "
        f"documents, {t.get('occurrences', 0):,} occurrence(s) of {t['find']!r}"
    )


def _actions_table(actions: Actions) -> Table:
    table = Table()
    for column in (
        "collection",
        "action",
        "source docs",
        "source size",
        "target docs now",
        "transforms",
        "declared indexes",
    ):
        table.add_column(column)
    for a in actions.collections:
        table.add_row(
            a.name,
            a.action,
            f"{a.source_count:,}",
            human_bytes(a.source_size),
            "-" if a.target_count is None else f"{a.target_count:,}",
            "; ".join(a.transforms),
            ", ".join(a.declared_indexes),
        )
    for item in actions.left_alone:
        table.add_row(item.name, f"leave alone ({item.cls})", "", "", "", item.where, "")
    return table


def _transform_expectations(ctx: RunContext) -> list[dict[str, Any]]:
    """The same streaming merge as the run, over the source, writing nothing."""
    return expected_effects(ctx.source_client[ctx.plan.source.database], ctx.plan, ctx.now)
