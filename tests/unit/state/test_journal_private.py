"""The journal on disk: private files, scrubbed secrets, torn last lines repaired and tolerated."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from mongo_promote.files import open_private, private_dir, write_private
from mongo_promote.redact import remember_secrets
from mongo_promote.state.journal import Journal


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_private_helpers_ignore_a_permissive_umask(tmp_path: Path, umask_022: None) -> None:
    deep = private_dir(tmp_path / "a" / "b" / "c")
    assert [_mode(p) for p in (tmp_path / "a", tmp_path / "a" / "b", deep)] == [0o700] * 3
    write_private(deep / "f.json", "{}")
    with open_private(deep / "g.log", "a") as fh:
        fh.write("x")
    assert _mode(deep / "f.json") == _mode(deep / "g.log") == 0o600
    existing = tmp_path / "loose.txt"
    existing.write_text("old")
    existing.chmod(0o644)
    write_private(existing, "new", atomic=False)
    assert _mode(existing) == 0o600 and existing.read_text() == "new"


def test_journal_is_private(tmp_path: Path, umask_022: None) -> None:
    journal = Journal.create(tmp_path / "runs" / "r1" / "journal.jsonl", {"run_id": "r1"})
    assert _mode(tmp_path / "runs" / "r1") == 0o700
    assert _mode(journal.path) == 0o600


def test_journal_scrubs_remembered_secrets(tmp_path: Path) -> None:
    remember_secrets("Sup3r-Secret-Value")
    journal = Journal.create(tmp_path / "journal.jsonl", {"run_id": "r"})
    journal.record(
        "run_failed",
        error="auth failed for mongodb://admin:P%40ss%2Fw0rd@h/db with Sup3r-Secret-Value",
        nested={"list": ["Sup3r-Secret-Value"]},
    )
    text = journal.path.read_text()
    assert "Sup3r-Secret-Value" not in text and "P%40ss" not in text and "P@ss" not in text
    assert "admin:***@h/db" in text
    assert json.loads(text.splitlines()[-1])["nested"] == {"list": ["***"]}


def test_a_torn_last_line_is_cut_on_the_next_write(tmp_path: Path) -> None:
    journal = Journal.create(tmp_path / "journal.jsonl", {"run_id": "r"})
    journal.record("copied", collection="A")
    with open(journal.path, "a") as fh:
        fh.write('{"event": "copied", "collection": "B", "cou')  # the crash
    assert [e["event"] for e in journal.events()] == ["run_started", "copied"]  # tolerated

    again = Journal(journal.path)  # the resumed run
    again.record("run_resumed")
    again.record("copied", collection="C")
    lines = journal.path.read_text().splitlines()
    assert all(json.loads(line) for line in lines)  # every line whole again
    events = [e["event"] for e in again.events()]
    assert events == ["run_started", "copied", "journal_repaired", "run_resumed", "copied"]
    assert [c for c in again.copied()] == ["A", "C"]


def test_a_whole_last_record_without_newline_is_kept(tmp_path: Path) -> None:
    journal = Journal.create(tmp_path / "journal.jsonl", {"run_id": "r"})
    with open(journal.path, "a") as fh:
        fh.write(json.dumps({"event": "copied", "collection": "B"}))  # newline lost
    Journal(journal.path).record("run_finished")
    assert [e["event"] for e in journal.events()] == [
        "run_started",
        "copied",
        "journal_repaired",
        "run_finished",
    ]


def test_a_damaged_line_in_the_middle_hides_nothing_after_it(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_text(
        '{"event": "run_started"}\n{"event": "cop\n{"event": "run_finished", "status": "ok"}\n'
    )
    journal = Journal(path)
    assert journal.is_finished()  # a finished run cannot be resumed again
