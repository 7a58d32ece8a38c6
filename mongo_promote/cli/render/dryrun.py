"""What `run --dry-run` shows: the plan's summary first (Terraform-style), then each step's actions
(identical ones grouped), each collection, the transforms' expected effect, the lock, the fallbacks."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from mongo_promote import api
from mongo_promote.cli.render.plan import effect_lines, plan_list, plan_summary
from mongo_promote.console import Output, human_bytes, human_duration
from mongo_promote.domain.analysis import CollectionAction, LeftAlone

ACTION_COLUMNS = (
    "collection",
    "action",
    "source docs",
    "source size",
    "target docs now",
    "transforms",
    "declared indexes",
)


def dry_run(out: Output, result: api.DryRun, *, table: bool = True, actions: bool = True) -> None:
    """The summary, each step's actions (grouped; or, without `actions`, how many), the
    collections (`table`), the transforms' expected effect, the lock and the fallbacks; then that
    nothing was written."""
    plan_summary(out, result.summary)
    if actions:
        plan_list(out, result.planned)
    else:
        steps = len({p.step for p in result.planned})
        out.info(
            f"  {len(result.planned)} actions in {steps} steps (`mongo-promote run --dry-run` "
            "lists them)"
        )
    if table:
        out.table(actions_table(result.analysis.collections, result.analysis.left_alone))
    for line in effect_lines(result.transforms):
        out.info("  " + line)
    for name, lost in result.option_losses.items():
        out.warn(option_warning(name, lost))
    for t in result.transforms:
        for line in oversize_warnings(t):
            out.warn(line)
    if result.lock_held_by:
        out.warn(f"the lock is held now: {result.lock_held_by}; `run` would exit 4")
    for item in result.analysis.left_alone:
        out.detail(f"  left alone: {item.name} ({item.cls}, {item.where}): {item.reason}")
    out.info("  " + describe_bounds(result.bounds))
    if result.fallbacks:
        how = "probed" if result.probed else "expected from buildInfo (`run` probes them)"
        out.info(f"  fallbacks, {how}: {', '.join(result.fallbacks)}")
    out.info("[bold]dry-run: nothing was written[/]")


def option_warning(name: str, lost: dict[str, Any]) -> str:
    """A collection option the target is expected to drop, and what the run does about it."""
    then = (
        "collections.options says best_effort: the run goes on and reports it"
        if lost["policy"] == "best_effort"
        else "the run refuses unless `collections: {options: {" + name + ": best_effort}}`"
    )
    return f"{name}: the target would not keep collection option(s) {', '.join(lost['options'])}; {then}"


def oversize_warnings(t: dict[str, Any]) -> list[str]:
    """Every parent an embed would push past 16 MB: its _id, size now and after."""
    parents = t.get("oversized", [])
    if not parents:
        return []
    policy = t.get("on_oversize", "fail")
    then = {
        "fail": "on_oversize: fail, the run refuses before copying",
        "skip_children": "on_oversize: skip_children, it keeps the entries that fit",
        "report": "on_oversize: report, it keeps none of them",
    }[policy]
    head = f"{t['into']}: {t.get('oversize_parents', len(parents))} document(s) past 16 MB once {t['embed']} is folded in ({then}):"
    return [head] + [
        f"  _id {p['_id']}: {human_bytes(p['size'])} now, {human_bytes(p['size_after'])} after"
        for p in parents
    ]


def describe_bounds(bounds: dict[str, Any]) -> str:
    """How long each server is waited for, and the longer bounds of the slow operations."""
    network = bounds["network"]
    sides = (
        f"network timeout {network['source']} on both servers"
        if network["source"] == network["target"]
        else f"network timeout: source {network['source']}, target {network['target']}"
    )
    how = "set by the plan" if bounds["long_operations_set_by_plan"] else "from each size"
    longer = ", ".join(
        f"{name} {human_duration(s)}" for name, s in bounds["long_operations"].items()
    )
    return f"bounds: {sides}" + (
        f"; index builds, counting scans, sorted reads ({how}): {longer}" if longer else ""
    )


def actions_table(collections: list[CollectionAction], left_alone: list[LeftAlone]) -> Table:
    """The dry-run's view of each collection: what the run does to it, or why it is left alone."""
    table = Table()
    for column in ACTION_COLUMNS:
        table.add_column(column)
    for a in collections:
        table.add_row(
            a.name,
            a.action,
            f"{a.source_count:,}",
            human_bytes(a.source_size),
            "-" if a.target_count is None else f"{a.target_count:,}",
            "; ".join(a.transforms),
            ", ".join(a.declared_indexes),
        )
    for item in left_alone:
        table.add_row(item.name, f"leave alone ({item.cls})", "", "", "", item.where, "")
    return table
