"""The run journal: what is recorded, what a crash leaves readable, what `--resume` skips."""

from __future__ import annotations

from pathlib import Path

import pytest

from mongo_promote.errors import UsageError
from mongo_promote.state.context import RunPaths
from mongo_promote.state.journal import Journal, latest_run, open_journal


def _created(base: Path, run_id: str, header: dict[str, object]) -> Journal:
    return Journal.create(RunPaths.under(base, run_id).journal, header)


def test_records_survive_a_torn_last_line_and_the_header_is_the_first(tmp_path: Path) -> None:
    journal = _created(tmp_path, "r1", {"run_id": "r1", "command": "run"})
    journal.record("copied", collection="A", count=3)
    journal.record("copied", collection="B", count=4)
    with open(journal.path, "a") as fh:
        fh.write('{"event": "copied", "collec')  # the crash tore this one

    assert [e["event"] for e in journal.events()] == ["run_started", "copied", "copied"]
    assert journal.header().run_id == "r1"
    assert set(journal.copied()) == {"A", "B"}
    assert journal.copied() and not journal.is_finished()
    assert open_journal(tmp_path, "r1").path == journal.path


def test_a_missing_run_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no run nope"):
        open_journal(tmp_path, "nope")


def test_latest_run_picks_the_newest_of_the_command_asked(tmp_path: Path) -> None:
    assert latest_run(tmp_path) is None
    _created(tmp_path, "20250101-000000-aaaa", {"command": "run"})
    _created(tmp_path, "20250102-000000-bbbb", {})  # older journals: a run
    _created(tmp_path, "20250103-000000-cccc", {"command": "rollback"})
    assert latest_run(tmp_path) == "20250102-000000-bbbb"
    assert latest_run(tmp_path, command="rollback") == "20250103-000000-cccc"
    assert latest_run(tmp_path, command="restore") is None


def test_finished_actions_forget_shadow_work_once_the_shadows_are_dropped(tmp_path: Path) -> None:
    journal = Journal.create(tmp_path / "journal.jsonl", {"command": "run"})
    journal.record("action_finished", key="backup", shadow=False, result={"n": 1})
    journal.record("action_finished", key="copy", shadow=True, result={})
    journal.record("action_started", key="indexes:A")
    journal.record("shadows_dropped")
    journal.record("action_finished", key="preflight", shadow=False, result={})

    done = journal.finished_actions()

    assert set(done) == {"backup", "preflight"}
    assert done["backup"] == {"n": 1}
