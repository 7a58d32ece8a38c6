"""`mongo-promote cleanup` after a real run: the age guard, the changed-collection guard, exactly
what it drops, dry-run writing nothing, its backup restoring the dropped collections byte-identical,
and a cleanup killed mid-way continued by `cleanup --resume`."""

from __future__ import annotations

import shlex
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.integration.cli.conftest import Promoted
from tests.integration.conftest import (
    SAFE_ENV,
    environment_without_uris,
    explain,
    index_specs,
    invoke,
    journal_events,
    json_out,
    snapshot,
)

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
    assert data["status"] == "dry_run" and data["age"]["refuses"] is True
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

    # the command cleanup prints to bring them back is whole (issue 19): pasted as printed
    restore = shlex.split(data["restore"])
    assert restore[:4] == ["mongo-promote", "restore", "--backup", data["backup_dir"]]
    assert restore[4:] == ["--plan", str(promoted.plan), "--state-dir", str(promoted.state)]
    result = invoke([*restore[1:], "--yes"])
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




# ---------------------------------------------------------------- killed mid-way, then --resume

# The CLI in a process of its own that SIGKILLs itself as soon as the journal records an action
# whose key starts with argv[1] (a real kill at an exact point, no hook in the package).
KILLED_AFTER = """\
import os, signal, sys
from mongo_promote.state import journal
recorded, after = journal.Journal.action_finished, sys.argv[1]
def finished(self, action, **kwargs):
    recorded(self, action, **kwargs)
    if action.key.startswith(after):
        os.kill(os.getpid(), signal.SIGKILL)
journal.Journal.action_finished = finished
from mongo_promote.cli import main
sys.argv = ["mongo-promote", *sys.argv[2:]]
main()
"""


def killed_cleanup(promoted: Promoted, after: str) -> str:
    """A cleanup killed right after the journal recorded its first `after` action; its run id."""
    args = ["cleanup", "--plan", str(promoted.plan), "--state-dir", str(promoted.state),
            "--ignore-age", "--yes"]  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_AFTER, after, *args],
        env={**environment_without_uris(), **SAFE_ENV},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    (cleanup_id,) = [
        p.name
        for p in (promoted.state / "runs").iterdir()
        if '"command": "cleanup"' in (p / "journal.jsonl").read_text()
    ]
    return cleanup_id


def started(promoted: Promoted, run_id: str) -> list[str]:
    events = journal_events(promoted.state / "runs" / run_id / "journal.jsonl")
    return [e["key"] for e in events if e["event"] == "action_started"]


@pytest.mark.parametrize("after", ["backup", "drop:"])
def test_a_killed_cleanup_resumes_to_exactly_what_an_uninterrupted_one_does(
    promoted: Promoted, after: str
) -> None:
    dbs = promoted.dbs
    before, indexes = snapshot(dbs.target, live_only=True), index_specs(dbs.target)
    cleanup_id = killed_cleanup(promoted, after)
    dropped_then = [n for n in DROPPED if n not in live(dbs)]
    assert len(dropped_then) == (1 if after == "drop:" else 0), dropped_then
    assert promoted.cli("history").exit_code == 0

    result = promoted.cli("cleanup", "--resume", cleanup_id, "--yes", "--json")
    assert result.exit_code == 0, explain(result)
    data = json_out(result)
    assert data["run_id"] == cleanup_id and data["status"] == "succeeded"
    dropped = sorted([*DROPPED, previous(promoted)])  # the run's previous Parent too
    assert sorted(data["dropped"]) == dropped
    assert live(dbs) == ["Parent", "Plain", "Unrelated"]
    keys = started(promoted, cleanup_id)
    assert keys.count("backup") == 1, keys  # the finished backup is not taken again
    assert all(keys.count(f"drop:{n}") == 1 for n in dropped), keys  # nothing dropped twice

    # its backup holds every collection it dropped, before and after the kill
    result = promoted.cli("restore", "--backup", data["backup_dir"], "--yes")
    assert result.exit_code == 0, explain(result)
    assert snapshot(dbs.target, live_only=True) == before
    assert index_specs(dbs.target) == indexes


def test_a_resumed_cleanup_does_not_drop_what_was_written_since_its_backup(
    promoted: Promoted,
) -> None:
    dbs = promoted.dbs
    cleanup_id = killed_cleanup(promoted, "drop:")
    remaining = [n for n in DROPPED if n in live(dbs)]
    dbs.target[remaining[-1]].insert_one({"written": "after the cleanup's backup"})

    result = promoted.cli("cleanup", "--resume", cleanup_id, "--yes")
    assert result.exit_code == 1, explain(result)
    assert f"{remaining[-1]} was written to since the cleanup's backup" in " ".join(
        result.output.split()
    )
    assert remaining[-1] in live(dbs)  # kept, with the write


def test_cleanup_resume_refuses_a_run_that_is_not_a_cleanup(promoted: Promoted) -> None:
    result = promoted.cli("cleanup", "--resume", promoted.run_id, "--yes")
    assert result.exit_code == 2, explain(result)
    assert f"run --resume {promoted.run_id}" in result.output
