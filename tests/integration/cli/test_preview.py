"""Issue 19, "no preview where it matters most": `rollback --dry-run` and `restore --dry-run` say what
happens to each collection and write nothing; their prompt is that summary (no 1,000-character
line). Saved plans: `run --dry-run --save FILE`, then `run --from FILE` applies exactly that, or
refuses (exit 1, naming what moved, nothing touched)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

import mongo_promote.cli.rollback as rollback_command
from tests.integration.cli.conftest import Promoted
from tests.integration.cli.helpers import orders_plan, seed_orders
from tests.integration.conftest import explain, footprint, invoke, json_out, snapshot

pytestmark = pytest.mark.integration


def files(root: Path) -> list[Path]:
    return sorted(root.rglob("*"))


def test_rollback_dry_run_lists_each_collection_and_writes_nothing(
    promoted: Promoted, monkeypatch: pytest.MonkeyPatch
) -> None:
    servers = promoted.dbs.servers
    before = footprint(servers, promoted.dbs.name), files(promoted.state)
    result = promoted.cli("rollback", "--dry-run")
    assert result.exit_code == 0, explain(result)
    assert (footprint(servers, promoted.dbs.name), files(promoted.state)) == before
    lines = result.stdout.splitlines()
    lines = lines[next(i for i, line in enumerate(lines) if line.startswith("Plan: ")) :]
    assert lines[0].startswith(f"Plan: rollback of run {promoted.run_id} by renames ")
    assert ": 2 by renames (kept, never dropped), 0 to restore, 0 to drop, " in lines[0]
    parent = next(line for line in lines if line.startswith("  Parent: swapped back: "))
    assert f"Parent__prev_{promoted.run_id} renamed back in" in parent
    assert any(line.startswith("  Plain: taken out: renamed aside and kept as ") for line in lines)
    assert lines[-1] == "dry-run: nothing was written"
    as_json = json_out(promoted.cli("rollback", "--dry-run", "--json"))
    assert as_json["status"] == "dry_run" and as_json["run_id"] == ""
    assert {c["collection"] for c in as_json["plan"]["collections"]} == {"Parent", "Plain"}

    asked: list[str] = []
    monkeypatch.setattr(
        rollback_command, "confirmer", lambda: lambda question: asked.append(question) or False
    )
    refused = promoted.cli("rollback")
    assert refused.exit_code == 2 and "cancelled" in refused.stderr, explain(refused)
    [prompt] = asked
    assert prompt.splitlines()[0] == lines[0]
    assert prompt.splitlines()[-1] == f"Roll back run {promoted.run_id}?"
    assert max(len(line) for line in prompt.splitlines()) < 300
    assert (footprint(servers, promoted.dbs.name), files(promoted.state)) == before


def test_restore_dry_run_lists_each_collection_and_writes_nothing(dbs: Any, tmp_path: Path) -> None:
    seed_orders(dbs, source=0, target=3)
    dbs.target.Extra.insert_one({"x": 1})
    plan = orders_plan(tmp_path, dbs)
    out = tmp_path / "dump"
    assert invoke(["backup", "--plan", str(plan), "--out", str(out)]).exit_code == 0
    dbs.target.drop_collection("Extra")
    before = footprint(dbs.servers, dbs.name), files(tmp_path)
    result = invoke(["restore", "--plan", str(plan), "--backup", str(out), "--dry-run"])
    assert result.exit_code == 0, explain(result)
    assert (footprint(dbs.servers, dbs.name), files(tmp_path)) == before
    assert f"Plan: restore of {out}: 2 to restore, 0 to drop, 0 left alone" in result.stdout
    assert "  Extra: created from the backup's copy (1 documents)" in result.stdout
    assert "  Orders: replaced by the backup's copy (3 documents)" in result.stdout


def test_a_saved_plan_is_applied_exactly_or_refused_naming_what_moved(
    dbs: Any, tmp_path: Path
) -> None:
    seed_orders(dbs, source=5, target=2)
    plan = orders_plan(tmp_path, dbs)
    saved = tmp_path / "reviewed.json"
    dry = invoke(["run", "--plan", str(plan), "--dry-run", "--save", str(saved), "--json"])
    assert dry.exit_code == 0, explain(dry)
    assert stat.S_IMODE(os.stat(saved).st_mode) == 0o600
    kept = json.loads(saved.read_text())
    reserved = json_out(dry)["saved"]["run_id"]
    assert kept["run_id"] == reserved and kept["fingerprints"]["target"]["Orders"].startswith("2:")
    assert kept["fingerprints"]["source"]["Orders"].startswith("5:")
    assert f"run --from {saved}" in dry.stdout + json_out(dry)["saved"]["apply"]

    # production moved since the review: refused, naming it; nothing touched
    dbs.target.Orders.insert_one({"_id": 100, "n": 100})
    before = footprint(dbs.servers, dbs.name)
    moved = invoke(["run", "--plan", str(plan), "--from", str(saved), "--yes"])
    assert moved.exit_code == 1, explain(moved)
    assert "production collection Orders changed (2 documents then, 3 documents now)" in moved.stderr
    assert footprint(dbs.servers, dbs.name) == before and not (tmp_path / "runs").exists()
    dbs.target.Orders.delete_one({"_id": 100})

    # the plan file changed: refused before any connection
    text = plan.read_text()
    plan.write_text(text + "# a comment\n")
    changed = invoke(["run", "--plan", str(plan), "--from", str(saved), "--yes"])
    assert changed.exit_code == 1 and f"the plan file {plan} changed since" in changed.stderr
    plan.write_text(text)

    applied = invoke(["run", "--plan", str(plan), "--from", str(saved), "--yes", "--json"])
    assert applied.exit_code == 0, explain(applied)
    assert json_out(applied)["run_id"] == reserved  # the run the review reserved
    journal = tmp_path / "runs" / reserved / "journal.jsonl"
    keys = [
        json.loads(line)["key"]
        for line in journal.read_text().splitlines()
        if '"action_finished"' in line
    ]
    assert sorted(keys) == sorted(a["key"] for a in kept["actions"])  # every reviewed action
    assert snapshot(dbs.target, live_only=True)["Orders"] == snapshot(dbs.source)["Orders"]
    twice = invoke(["run", "--plan", str(plan), "--from", str(saved), "--yes"])
    assert twice.exit_code == 2 and "was applied already" in twice.stderr
