"""Issue 19, "the record is rewritten": a resume keeps the run id and appends an attempt
(report.json and `history --json`), and `history` shows resumed, failed-then-resumed,
rolled-back and standalone `backup` runs, and which run's collections production holds now."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.integration.cli.helpers import orders_plan, seed_orders
from tests.integration.conftest import explain, invoke, json_out

pytestmark = pytest.mark.integration


def test_a_failed_then_resumed_run_keeps_both_attempts_and_history_tells_it_all(
    dbs: Any, tmp_path: Path
) -> None:
    seed_orders(dbs, source=5, target=2)
    marker = tmp_path / "ready"
    plan = orders_plan(tmp_path, dbs)
    plan.write_text(plan.read_text().replace('["echo restarted"]', f'["test -f {marker}"]'))
    plan.write_text(plan.read_text().replace("after_cutover", "before_cutover"))
    common = ["--plan", str(plan), "--json"]
    backup = invoke(["backup", *common])
    assert backup.exit_code == 0, explain(backup)
    failed = invoke(["run", *common, "--yes", "--keep-shadows"])
    assert failed.exit_code == 1, explain(failed)
    run_id = re.findall(r"--resume (\S+)", json_out(failed)["error"]["message"])[0]
    report_path = tmp_path / "runs" / run_id / "report.json"
    first = json.loads(report_path.read_text())
    assert first["status"] == "failed" and first["attempts"][0]["outcome"] == "failed"

    marker.touch()
    resumed = invoke(["run", *common, "--yes", "--resume", run_id])
    assert resumed.exit_code == 0, explain(resumed)
    assert json_out(resumed)["run_id"] == run_id
    report = json.loads(report_path.read_text())
    attempts = report["attempts"]
    assert [a["outcome"] for a in attempts] == ["failed", "succeeded"]
    assert "before_cutover hook exited 1" in attempts[0]["error"] and attempts[1]["error"] is None
    assert report["started_at"] == first["started_at"] == attempts[0]["started_at"]
    assert attempts[0]["finished_at"] <= attempts[1]["started_at"] <= report["finished_at"]

    rolled = invoke(["rollback", *common, "--yes"])
    assert rolled.exit_code == 0, explain(rolled)
    rollback_id = json_out(rolled)["run_id"]
    history = json_out(invoke(["history", *common]))
    runs = {r["run_id"]: r for r in history["runs"]}
    assert [r["command"] for r in history["runs"]] == ["backup", "run", "rollback"]
    backup_id = json_out(backup)["run_id"]
    assert runs[backup_id]["status"] == "succeeded" and runs[backup_id]["backup_dir"]
    run = runs[run_id]
    assert run["status"] == "succeeded" and run["started_at"] == first["started_at"]
    assert [a["outcome"] for a in run["attempts"]] == ["failed", "succeeded"]
    assert run["acted_on_by"] == [{"run_id": rollback_id, "command": "rollback"}]
    assert history["current"] == []  # rolled back: production holds what it held before

    again = invoke(["run", *common, "--yes"])
    assert again.exit_code == 0, explain(again)
    history = json_out(invoke(["history", *common]))
    assert history["current"] == [{"run_id": json_out(again)["run_id"], "collections": ["Orders"]}]
    table = invoke(["history", "--plan", str(plan)])
    assert "succeeded (2 attempts: failed, succeeded)" in table.stdout
    assert f"rollback {rollback_id}" in table.stdout and f"undoes {run_id}" in table.stdout
