"""`mongo-promote history`: every run of a state directory, oldest first, with what acted on what,
read tolerantly (a torn journal or report is listed as far as readable)."""

from __future__ import annotations

import pytest

from tests.integration.cli.conftest import Promoted
from tests.integration.conftest import explain, invoke, json_out

pytestmark = pytest.mark.integration


def test_history_lists_run_cleanup_and_rollback_with_their_links(promoted: Promoted) -> None:
    cleanup = promoted.cli("cleanup", "--ignore-age", "--yes", "--json")
    assert cleanup.exit_code == 0, explain(cleanup)
    rollback = promoted.cli("rollback", "--run", promoted.run_id, "--yes", "--json")
    assert rollback.exit_code == 0, explain(rollback)
    cleanup_id, rollback_id = json_out(cleanup)["run_id"], json_out(rollback)["run_id"]
    torn = promoted.state / "runs" / "20000101-000000-dead"
    torn.mkdir()
    (torn / "journal.jsonl").write_text('{"event": "run_started", "command": "run", "at": "2000-')
    (torn / "report.json").write_text('{"status": "succ')

    result = invoke(
        ["history", "--plan", str(promoted.plan), "--state-dir", str(promoted.state), "--json"],
    )
    assert result.exit_code == 0, explain(result)
    runs = {r["run_id"]: r for r in json_out(result)["runs"]}
    assert next(iter(runs)) == torn.name  # oldest first; unreadable start sorts first
    assert runs[torn.name]["status"] == "unknown"
    run, clean, back = runs[promoted.run_id], runs[cleanup_id], runs[rollback_id]
    assert (run["command"], run["status"]) == ("run", "succeeded")
    assert (clean["command"], clean["acted_on"]) == ("cleanup", promoted.run_id)
    assert (back["command"], back["acted_on"]) == ("rollback", promoted.run_id)
    assert run["acted_on_by"] == [
        {"run_id": cleanup_id, "command": "cleanup"},
        {"run_id": rollback_id, "command": "rollback"},
    ]
    assert clean["backup_dir"] and run["backup_dir"] and run["duration_s"] > 0

    table = invoke(["history", "--plan", str(promoted.plan), "--state-dir", str(promoted.state)])
    assert table.exit_code == 0 and cleanup_id in table.output and "unknown" in table.output
