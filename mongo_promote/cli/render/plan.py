"""The plan before a write, as people read it: its summary (Terraform-style, one line each), its
action list (each step's actions, identical ones grouped), the transforms' expected effect."""

from __future__ import annotations

from typing import Any

from rich.markup import escape

from mongo_promote import api
from mongo_promote.console import Output

NAMES_SHOWN = 4  # collections named in a group of identical actions (-v: all)


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


def effect_lines(transforms: list[dict[str, Any]]) -> list[str]:
    """The transforms' expected effect: a line per embed, one for every rewrite together."""
    embeds = [describe_effect(t) for t in transforms if "embed" in t]
    rewrites = [t for t in transforms if "embed" not in t]
    lines = [f"expected: {line}" for line in embeds]
    if len(rewrites) == 1:
        lines.append(f"expected: {describe_effect(rewrites[0])}")
    elif rewrites:
        lines.append(
            "expected rewrites (documents changed of scanned, occurrences): "
            + ", ".join(
                f"{t['rewrite']} {t.get('documents_changed', 0):,}/"
                f"{t.get('documents_scanned', 0):,} ({t.get('occurrences', 0):,})"
                for t in rewrites
            )
        )
    return lines


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
