"""What `run --dry-run` shows: the plan's summary first (Terraform-style), then each step's actions
(identical ones grouped), each collection, the transforms' expected effect, the lock, the fallbacks."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table

from mongo_promote import api
from mongo_promote.console import Output, human_bytes
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
NAMES_SHOWN = 4  # collections named in a group of identical actions (-v: all)


def dry_run(out: Output, result: api.DryRun, *, table: bool = True) -> None:
    """The summary, each step's actions (grouped), the collections (`table`), the transforms'
    expected effect, the lock and the fallbacks; then that nothing was written."""
    plan_summary(out, result.summary)
    plan_list(out, result.planned)
    if table:
        out.table(actions_table(result.analysis.collections, result.analysis.left_alone))
    effects = [describe_effect(t) for t in result.transforms]
    if effects:
        out.info("  transforms, expected effect: " + effects[0])
    for line in effects[1:]:
        out.info("    " + line)
    if result.lock_held_by:
        out.warn(f"the lock is held now: {result.lock_held_by}; `run` would exit 4")
    for item in result.analysis.left_alone:
        out.detail(f"  left alone: {item.name} ({item.cls}, {item.where}): {item.reason}")
    if result.fallbacks:
        how = "probed" if result.probed else "expected from buildInfo (`run` probes them)"
        out.info(f"  fallbacks, {how}: {', '.join(result.fallbacks)}")
    out.info("[bold]dry-run: nothing was written[/]")


def plan_summary(out: Output, summary: api.PlanSummary) -> None:
    """One line each: what is created, replaced, left alone; the backup; the commands."""
    lines = summary.lines()
    out.info(f"[bold]{escape(lines[0])}[/]")
    for line in lines[1:]:
        out.info("  " + escape(line))
    if summary.missing:
        out.warn(
            f"{summary.missing}: `run` refuses without them (--no-hooks runs without the hooks)"
        )


def plan_list(out: Output, planned: list[api.PlannedAction]) -> None:
    """The action list: each step's heading, then its actions, identical ones (the same
    sentence about another collection) grouped on one line, naming a few (-v: every one)."""
    steps: dict[int, list[api.PlannedAction]] = {}
    for p in planned:
        steps.setdefault(p.step, []).append(p)
    for number, actions in steps.items():
        out.step(number, actions[0].title)  # a stage's steps print under its first one's title
        for text, names in grouped(actions):
            out.info(f"  - {escape(_with_names(text, names, out.verbose))}")


def grouped(actions: list[api.PlannedAction]) -> list[tuple[str, list[str]]]:
    """(sentence, collections) in order of first appearance: an action whose description, its
    collection's name taken out, equals another's joins it."""
    groups: dict[str, list[str]] = {}
    for p in actions:
        name = p.action.collection
        text = p.action.description
        if name and text.startswith(f"{name}: "):
            groups.setdefault(text[len(name) + 2 :], []).append(name)
        else:
            groups.setdefault(text, [])
    merged: list[tuple[str, list[str]]] = []
    for text, names in groups.items():
        if len(names) == 1:
            merged.append((f"{names[0]}: {text}", []))
        else:
            merged.append((text, names))
    return merged


def _with_names(text: str, names: list[str], verbose: bool) -> str:
    if not names:
        return text
    shown = names if verbose or len(names) <= NAMES_SHOWN + 1 else names[:NAMES_SHOWN]
    more = f", … {len(names) - len(shown)} more" if len(shown) < len(names) else ""
    return f"{len(names)} collections: {text} ({', '.join(shown)}{more})"


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


def describe_effect(t: dict[str, Any]) -> str:
    """One line for a transform's expected effect (`transforms.effects.expected_effects`)."""
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
