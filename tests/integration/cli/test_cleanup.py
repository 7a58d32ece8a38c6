"""`mongo-promote cleanup` after a real run: the age guard, the changed-collection guard, exactly
what it drops, dry-run writing nothing, and its backup restoring the dropped collections byte-identical."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.integration.cli.conftest import Promoted
from tests.integration.conftest import explain, index_specs, json_out, snapshot

pytestmark = pytest.mark.integration

DROPPED = ["Child", "legacy_notes", "old_calls"]  # the embed source, and both legacy matches


def previous(promoted: Promoted) -> str:
    """The production Parent the run replaced, kept until cleanup (keep_previous)."""
    return f"Parent__prev_{promoted.run_id}"


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
    assert [c["name"] for c in data["collections"]] == [*DROPPED, previous(promoted)]
    counts = {c["name"]: (c["count"], c["changed"]) for c in data["collections"]}
    assert counts == {
        "Child": (4, False),
        "legacy_notes": (1, False),
        "old_calls": (3, False),
        previous(promoted): (1, False),  # as the run's backup holds it
    }
    assert {c["name"]: c["cls"] for c in data["collections"]}[previous(promoted)] == "previous"
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
    assert sorted(data["dropped"]) == sorted([*DROPPED, previous(promoted)])
    assert data["status"] == "succeeded"
    assert live(dbs) == ["Parent", "Plain", "Unrelated"]
    assert snapshot(dbs.target) == {
        k: v for k, v in before.items() if k not in DROPPED and k != previous(promoted)
    }
    journal = Path(data["report"]).parent / "journal.jsonl"
    assert '"command": "cleanup"' in journal.read_text()
    assert f'"cleans_up": "{promoted.run_id}"' in journal.read_text()

    result = promoted.cli("restore", "--backup", data["backup_dir"], "--yes")
    assert result.exit_code == 0, explain(result)
    assert snapshot(dbs.target) == before  # the kept previous collection too
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
    assert previous(promoted) not in dbs.target.list_collection_names()


def test_force_collection_must_name_a_cleanup_candidate(promoted: Promoted) -> None:
    result = promoted.cli("cleanup", "--ignore-age", "--yes", "--force-collection", "Parent")
    assert result.exit_code == 2, explain(result)
    assert "Parent" in result.output and "Parent" in live(promoted.dbs)
