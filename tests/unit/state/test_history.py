"""`history`'s view of what production holds now, from journals alone (issue 19)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mongo_promote.state.context import RunPaths
from mongo_promote.state.history import current_holders, read_history
from mongo_promote.state.journal import RUN_FINISHED, ActionRef, Journal, Kind


def journal(base: Path, run_id: str, command: str, *, cut: list[str] = (), **header: Any) -> None:  # type: ignore[assignment]
    j = Journal.create(
        RunPaths.under(base, run_id).journal, {"run_id": run_id, "command": command, **header}
    )
    for name in cut:
        ref = ActionRef(f"cutover:{name}", 7, Kind.CUTOVER, "cutover", name)
        j.action_started(ref)
        j.action_finished(ref, shadow=False, result={"result": {"collection": name}})
    j.record(RUN_FINISHED, status="succeeded")


def holders(base: Path) -> dict[str, str]:
    return current_holders(base, read_history(base))


def test_the_last_cutover_not_undone_holds_each_collection(tmp_path: Path) -> None:
    journal(tmp_path, "20250101-000001-aaaa", "run", cut=["A", "B"])
    assert holders(tmp_path) == {"A": "20250101-000001-aaaa", "B": "20250101-000001-aaaa"}
    journal(tmp_path, "20250101-000002-bbbb", "backup")  # a backup changes nothing
    journal(tmp_path, "20250101-000003-cccc", "run", cut=["A"])
    assert holders(tmp_path) == {"A": "20250101-000003-cccc", "B": "20250101-000001-aaaa"}
    # rolling back the second run hands A back to the first
    journal(
        tmp_path, "20250101-000004-dddd", "rollback", cut=["A"], rolls_back="20250101-000003-cccc"
    )
    assert holders(tmp_path) == {"A": "20250101-000001-aaaa", "B": "20250101-000001-aaaa"}
    # undoing that rollback gives A to the second run again
    journal(
        tmp_path, "20250101-000005-eeee", "rollback", cut=["A"], rolls_back="20250101-000004-dddd"
    )
    assert holders(tmp_path) == {"A": "20250101-000003-cccc", "B": "20250101-000001-aaaa"}
    # rolling back the first run: nothing of it is left (what it replaced predates the records)
    journal(
        tmp_path, "20250101-000006-ffff", "rollback", cut=["B"], rolls_back="20250101-000001-aaaa"
    )
    assert holders(tmp_path) == {"A": "20250101-000003-cccc"}
