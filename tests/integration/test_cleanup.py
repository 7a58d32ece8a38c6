"""`mongo-promote cleanup` after a real run: the age guard, the changed-collection guard, exactly
what it drops, dry-run writing nothing, and its backup restoring the dropped collections byte-identical."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId

from tests.integration.conftest import explain, index_specs, invoke, json_out, snapshot

pytestmark = pytest.mark.integration

DROPPED = ["Child", "legacy_notes", "old_calls"]  # the embed source, and both legacy matches


@dataclass
class Promoted:
    dbs: Any
    plan: Path
    state: Path
    run_id: str

    def cli(self, *args: str) -> Any:
        return invoke([*args, "--plan", str(self.plan), "--state-dir", str(self.state)])


@pytest.fixture
def promoted(dbs: Any, tmp_path: Path) -> Promoted:
    plan = tmp_path / "promote.yaml"
    plan.write_text(f"""\
version: 1
source: {{uri: "{dbs.servers.source_uri}", database: {dbs.name}}}
target: {{uri: "{dbs.servers.target_uri}", database: {dbs.name}}}
collections:
  include: [Parent, Plain]
  exclude: [legacy_notes]                  # excluded AND legacy: cleanup still drops it
  legacy: [old_calls, "re:^legacy_.*$"]
transforms:
  - embed:
      from: Child
      into: Parent
      match: {{from: parentId, into: _id}}
      key: {{from: lang}}
      as: texts
      fields: {{text: text}}
      keep_source: false
cleanup: {{min_age: 48h}}
hooks: {{after_cutover: ["echo cut over"]}}
""")
    p1 = ObjectId()
    dbs.source.Parent.insert_one({"_id": p1, "n": 1})
    dbs.source.Child.insert_one({"parentId": p1, "lang": "fr", "text": "bonjour"})
    dbs.source.Plain.insert_many([{"i": i} for i in range(3)])
    dbs.target.Parent.insert_one({"_id": p1, "old": True})
    dbs.target.Child.insert_many(
        [{"parentId": p1, "lang": "en", "text": f"old {i}"} for i in range(4)]
    )
    dbs.target.old_calls.insert_many([{"call": i, "at": f"2024-01-0{i + 1}"} for i in range(3)])
    dbs.target.old_calls.create_index([("call", 1)], name="legacy_call")
    dbs.target.legacy_notes.insert_one({"note": "keep me until cleanup"})
    dbs.target.Unrelated.insert_one({"stays": True})  # unmatched: never touched
    state = tmp_path / "state"
    result = invoke(["run", "--plan", str(plan), "--state-dir", str(state), "--yes", "--json"])
    assert result.exit_code == 0, explain(result)
    return Promoted(dbs, plan, state, json_out(result)["run_id"])


def live(dbs: Any) -> list[str]:
    return sorted(n for n in dbs.target.list_collection_names() if "__" not in n)


def test_cleanup_refuses_before_min_age(promoted: Promoted) -> None:
    before = snapshot(promoted.dbs.target)
    result = promoted.cli("cleanup", "--yes")
    assert result.exit_code == 1, explain(result)
    assert "UTC" in result.output and "--ignore-age" in result.output
    assert "(in 47h" in result.output  # how long until it is allowed
    assert snapshot(promoted.dbs.target) == before


def test_dry_run_lists_and_writes_nothing(promoted: Promoted) -> None:
    before = snapshot(promoted.dbs.target), sorted(promoted.state.rglob("*"))
    locks = list(promoted.dbs.servers.target.mongo_promote.locks.find())
    result = promoted.cli("cleanup", "--dry-run", "--json")
    assert result.exit_code == 0, explain(result)
    data = json_out(result)
    assert data["status"] == "dry-run" and data["age"]["refuses"] is True
    assert [c["name"] for c in data["collections"]] == DROPPED
    counts = {c["name"]: (c["count"], c["changed"]) for c in data["collections"]}
    assert counts == {"Child": (4, False), "legacy_notes": (1, False), "old_calls": (3, False)}
    assert (snapshot(promoted.dbs.target), sorted(promoted.state.rglob("*"))) == before
    assert list(promoted.dbs.servers.target.mongo_promote.locks.find()) == locks


def test_cleanup_drops_exactly_legacy_and_replaced_and_its_backup_restores_them(
    promoted: Promoted,
) -> None:
    dbs = promoted.dbs
    before, indexes = snapshot(dbs.target), index_specs(dbs.target)
    result = promoted.cli("cleanup", "--ignore-age", "--yes", "--json")
    assert result.exit_code == 0, explain(result)
    data = json_out(result)
    assert sorted(data["dropped"]) == DROPPED and data["status"] == "succeeded"
    assert live(dbs) == ["Parent", "Plain", "Unrelated"]
    assert {k: v for k, v in snapshot(dbs.target).items() if "__" not in k} == {
        k: v for k, v in before.items() if k not in DROPPED
    }
    journal = Path(data["report"]).parent / "journal.jsonl"
    assert '"command": "cleanup"' in journal.read_text()
    assert f'"cleans_up": "{promoted.run_id}"' in journal.read_text()

    result = promoted.cli("restore", "--backup", data["backup_dir"], "--yes")
    assert result.exit_code == 0, explain(result)
    assert snapshot(dbs.target, live_only=True) == before
    assert index_specs(dbs.target) == indexes


def test_cleanup_refuses_a_legacy_collection_written_after_the_run(promoted: Promoted) -> None:
    dbs = promoted.dbs
    dbs.target.old_calls.insert_one({"call": 99})  # something still writes to it
    result = promoted.cli("cleanup", "--ignore-age", "--yes")
    assert result.exit_code == 1, explain(result)
    assert "old_calls" in result.output and "--force-collection old_calls" in result.output
    assert live(dbs) == sorted(["Parent", "Plain", "Unrelated", *DROPPED])

    result = promoted.cli("cleanup", "--ignore-age", "--yes", "--force-collection", "old_calls")
    assert result.exit_code == 0, explain(result)
    assert live(dbs) == ["Parent", "Plain", "Unrelated"]


def test_force_collection_must_name_a_cleanup_candidate(promoted: Promoted) -> None:
    result = promoted.cli("cleanup", "--ignore-age", "--yes", "--force-collection", "Parent")
    assert result.exit_code == 2, explain(result)
    assert "Parent" in result.output and "Parent" in live(promoted.dbs)


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
