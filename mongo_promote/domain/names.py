"""The names the tool gives: its own database, and every collection it makes beside the application's
(each with `__` in it). One definition, read by every step, check and report."""

from __future__ import annotations

TOOL_DATABASE = "mongo_promote"  # the lock, run records and capability probes live here
SHADOW_INFIX = "__promote_"  # where a collection is built before cutover
ASIDE_INFIX = "__old_"  # a live collection renamed aside during a cutover without dropTarget
RECREATED_INFIX = "__recreated_"  # writes that re-created a name between two renames
TOOL_INFIXES = (SHADOW_INFIX, ASIDE_INFIX)  # what inventories leave out


def shadow_name(name: str, run_id: str) -> str:
    return f"{name}{SHADOW_INFIX}{run_id}"


def aside_name(name: str, run_id: str) -> str:
    return f"{name}{ASIDE_INFIX}{run_id}"


def is_tool_collection(name: str) -> bool:
    """A collection the tool made (a shadow, an aside copy), never the application's own."""
    return any(infix in name for infix in TOOL_INFIXES)


def made_by_run(name: str, run_id: str) -> bool:
    """A shadow or aside copy of run `run_id` (what a rollback of that run cleans up)."""
    return name.endswith((f"{SHADOW_INFIX}{run_id}", f"{ASIDE_INFIX}{run_id}"))
