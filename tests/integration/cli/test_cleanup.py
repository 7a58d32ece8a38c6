"""`mongo-promote cleanup` after a real run: the age guard, the changed-collection guard, exactly
what it drops, dry-run writing nothing, and its backup restoring the dropped collections byte-identical."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest

from tests.integration.cli.conftest import Promoted
from tests.integration.conftest import explain, index_specs, invoke, json_out, snapshot

pytestmark = pytest.mark.integration

DROPPED = ["Child", "legacy_notes", "old_calls"]  # the embed source, and both legacy matches


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
    assert data["status"] == "dry_run" and data["age"]["refuses"] is True
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

    # the command cleanup prints to bring them back is whole (issue 19): pasted as printed
    restore = shlex.split(data["restore"])
    assert restore[:4] == ["mongo-promote", "restore", "--backup", data["backup_dir"]]
    assert restore[4:] == ["--plan", str(promoted.plan), "--state-dir", str(promoted.state)]
    result = invoke([*restore[1:], "--yes"])
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


