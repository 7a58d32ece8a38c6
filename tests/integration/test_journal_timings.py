"""The journal says when and on which worker each collection was backed up and copied (bench/
timeline.py draws a run from it): fields added to the records, nothing else changed."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import explain, invoke

pytestmark = pytest.mark.integration

NAMES = ("Alpha", "Beta", "Gamma")


def plan(tmp_path: Path, dbs: Any) -> Path:
    path = tmp_path / "promote.yaml"
    path.write_text(f"""\
version: 1
source: {{uri: "{dbs.servers.source_uri}", database: {dbs.name}}}
target: {{uri: "{dbs.servers.target_uri}", database: {dbs.name}}}
collections: {{include: [{", ".join(NAMES)}]}}
backup: {{dir: "{tmp_path / "backups"}"}}
""")
    return path


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_backup_and_copy_journal_each_collections_start_end_and_worker(
    dbs: Any, tmp_path: Path
) -> None:
    for i, name in enumerate(NAMES):
        dbs.source[name].insert_many([{"_id": n, "v": "x" * n} for n in range(50 * (i + 1))])
        dbs.target[name].insert_many([{"_id": n, "old": True} for n in range(10)])

    result = invoke(["run", "--plan", str(plan(tmp_path, dbs)), "--state-dir",
                     str(tmp_path / "state"), "--json", "--yes"])  # fmt: skip

    assert result.exit_code == 0, explain(result)
    (journal,) = (tmp_path / "state").rglob("journal.jsonl")
    events = [json.loads(line) for line in journal.read_text().splitlines()]
    span = {
        (e["event"], e["key"]): at(e["at"])
        for e in events
        if e["event"] in ("action_started", "action_finished")
    }
    # the backup's action result: per collection dumped, its start, end and worker
    (backup,) = [e for e in events if e["event"] == "action_finished" and e["key"] == "backup"]
    timings = backup["result"]["timings"]
    assert sorted(timings) == sorted(NAMES)
    for t in timings.values():
        assert t["worker"].startswith("backup_")
        assert span["action_started", "backup"] <= at(t["started_at"]) <= at(t["finished_at"])
        assert at(t["finished_at"]) <= span["action_finished", "backup"]
    # each "copied" record: its start, the worker, and when that worker was done with it
    copied = {e["collection"]: e for e in events if e["event"] == "copied"}
    assert sorted(copied) == sorted(NAMES)
    for e in copied.values():
        assert e["worker"].startswith("copy_")
        started, finished = at(e["started_at"]), at(e["finished_at"])
        assert span["action_started", "copy"] <= started <= finished <= at(e["at"])
        assert (finished - started).total_seconds() >= e["stats"]["copy_seconds"]
    # additive only: the report's backup section is as before, without the timings
    (report,) = (tmp_path / "state").rglob("report.json")
    assert "timings" not in json.loads(report.read_text())["backup"]
