"""The names the tool gives: its own database, and every collection it makes beside the application's
(each with `__` in it). One definition, read by every step, check and report."""

from __future__ import annotations

from dataclasses import dataclass

TOOL_DATABASE = "mongo_promote"  # the lock, run records and capability probes live here
SHADOW_INFIX = "__promote_"  # where a collection is built before cutover
ASIDE_INFIX = "__old_"  # a live collection renamed aside during a cutover without dropTarget
RECREATED_INFIX = "__recreated_"  # writes that re-created a name between two renames
PREVIOUS_INFIX = "__prev_"  # a live collection a cutover replaced, kept for an instant rollback
UNDONE_INFIX = "__undone_"  # what a rollback took out of production, kept aside
KEPT_INFIXES = (PREVIOUS_INFIX, UNDONE_INFIX)  # kept until cleanup (inspect: their own class)
TOOL_INFIXES = (SHADOW_INFIX, ASIDE_INFIX, RECREATED_INFIX, *KEPT_INFIXES)  # inventories skip
KEPT_CLASSES = {PREVIOUS_INFIX: "previous", UNDONE_INFIX: "kept_aside"}  # inspect's class names


def shadow_name(name: str, run_id: str) -> str:
    return f"{name}{SHADOW_INFIX}{run_id}"


def aside_name(name: str, run_id: str) -> str:
    return f"{name}{ASIDE_INFIX}{run_id}"


def kept_name(name: str, infix: str, run_id: str) -> str:
    """Where run `run_id` keeps a live collection it replaced or took out (`infix`: one of
    KEPT_INFIXES): PREVIOUS_INFIX for a cutover with keep_previous, UNDONE_INFIX for a rollback."""
    return f"{name}{infix}{run_id}"


def undone_name(name: str, run_id: str) -> str:
    return kept_name(name, UNDONE_INFIX, run_id)


def recreated_name(name: str, run_id: str, attempt: int) -> str:
    return f"{name}{RECREATED_INFIX}{run_id}_{attempt}"


def is_tool_collection(name: str) -> bool:
    """A collection the tool made (a shadow, an aside or kept copy), never the application's own."""
    return any(infix in name for infix in TOOL_INFIXES)


def made_by_run(name: str, run_id: str) -> bool:
    """A shadow or aside copy of run `run_id` (what a rollback of that run cleans up); never a
    previous collection it kept (a rollback puts that one back)."""
    return name.endswith((f"{SHADOW_INFIX}{run_id}", f"{ASIDE_INFIX}{run_id}"))


@dataclass(frozen=True)
class Kept:
    """A collection the tool keeps until cleanup: `<collection><infix><run_id>`."""

    name: str
    collection: str  # the application's name it was kept from
    run_id: str  # the run (previous) or rollback (kept aside) that kept it
    cls: str  # "previous" or "kept_aside"


def kept(name: str) -> Kept | None:
    """What a kept collection's name says (None: not one)."""
    for infix, cls in KEPT_CLASSES.items():
        collection, found, run_id = name.rpartition(infix)
        if found and collection and run_id:
            return Kept(name, collection, run_id, cls)
    return None
