"""The journal's typed queries, over journals written by the real `Journal` as a run writes them:
what resume, rollback, cleanup and history read back, a torn last line and older journals included."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mongo_promote.errors import UsageError
from mongo_promote.state.context import RunPaths
from mongo_promote.state.journal import (
    CAUGHT_UP,
    COPIED,
    CUTOVER_FINGERPRINT,
    CUTOVER_RENAMES,
    CUTOVER_UNDONE,
    FREEZE_ENDED,
    FREEZE_STARTED,
    RUN_FAILED,
    RUN_FINISHED,
    RUN_RESUMED,
    SHADOWS_DROPPED,
    ActionRef,
    Backup,
    Change,
    Freeze,
    Journal,
    Kind,
    journal_of,
    latest_run,
    rolled_back_by,
    run_ids,
)

NOW = "2025-03-04T05:06:07+00:00"
BACKUP = {
    "dir": "/backups/r1",
    "collections": ["A", "B"],
    "content_hashes": {"A": "3:aa", "B": "4:bb"},
    "replaced": ["A"],
    "created": ["B"],
}


def _start(base: Path, run_id: str, **header: Any) -> Journal:
    fields = {"run_id": run_id, "command": "run", "fingerprint": "f1", "now": NOW, **header}
    return Journal.create(RunPaths.under(base, run_id).journal, fields)


def _ref(key: str, kind: str, collection: str | None = None, phase: str = "before") -> ActionRef:
    return ActionRef(key, 1, kind, phase, collection)


def _act(
    journal: Journal, ref: ActionRef, result: dict[str, Any] | None, shadow: bool = False
) -> None:
    """One action as the runner journals it: started, then (unless result is None) finished."""
    journal.action_started(ref)
    if result is not None:
        journal.action_finished(ref, shadow=shadow, result=result)


def _cutover(journal: Journal, name: str, fingerprint: str, *, finished: bool) -> None:
    journal.record(CUTOVER_FINGERPRINT, collection=name, content_hash=fingerprint)
    ref = _ref(f"cutover:{name}", Kind.CUTOVER, name, "cutover")
    _act(journal, ref, {"result": {"collection": name}} if finished else None)


def _promotion(base: Path) -> Journal:
    """Run r1: backed up, copied A and B, cut A over; crashed in B's cutover (fingerprint
    journalled, rename started, never journalled as done)."""
    journal = _start(base, "r1", plan="/plans/p.yaml")
    _act(journal, _ref("preflight", "preflight"), {})
    _act(journal, _ref("backup", Kind.BACKUP), {"backup": BACKUP})
    journal.record(COPIED, collection="A", count=3, content_hash="3:aa")
    journal.record(COPIED, collection="B", count=4, content_hash="4:bb")
    _act(journal, _ref("copy", "copy"), {"copied": {}}, shadow=True)
    _cutover(journal, "A", "3:a1", finished=True)
    _cutover(journal, "B", "4:b1", finished=False)
    return journal


def test_the_header_is_typed_and_keeps_every_field_to_continue_with(tmp_path: Path) -> None:
    journal = _start(
        tmp_path, "r2", command="rollback", rolls_back="r1", backup="/b", only=["A"], drop=["B"]
    )
    header = journal.header()
    assert (header.run_id, header.command, header.fingerprint) == ("r2", "rollback", "f1")
    assert header.now == datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
    assert (header.backup, header.only, header.drop) == ("/b", ["A"], ["B"])
    assert header.rolls_back == header.acted_on == "r1" and header.cleans_up is None
    assert header.fields["only"] == ["A"] and "event" not in header.fields
    assert datetime.fromisoformat(header.at) <= datetime.now(UTC)

    cleanup = _start(tmp_path, "r3", command="cleanup", cleans_up="r1").header()
    assert cleanup.acted_on == "r1" and cleanup.only is None and cleanup.drop == []


def test_a_journal_without_its_header(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.jsonl")
    assert journal.find_header() is None and journal.events() == []
    with pytest.raises(UsageError, match="no run_started record"):
        journal.header()
    no_now = Journal.create(tmp_path / "old" / "journal.jsonl", {"run_id": "r0"}).header()
    assert no_now.command == "run"  # journals from before restore existed
    with pytest.raises(UsageError, match=r"r0: its journal records no \$now"):
        _ = no_now.now


def test_what_a_run_did_as_resume_rollback_and_cleanup_ask_it(tmp_path: Path) -> None:
    journal = _promotion(tmp_path)

    assert set(journal.finished_actions()) == {"preflight", "backup", "copy", "cutover:A"}
    assert journal.finished_actions()["backup"] == {"backup": BACKUP}
    assert journal.started_cutover() and not journal.is_finished()
    assert journal.copied() == {
        "A": {"count": 3, "content_hash": "3:aa"},
        "B": {"count": 4, "content_hash": "4:bb"},
    }
    assert journal.fingerprint_of("B") == "4:b1" and journal.fingerprint_of("C") is None

    (a,) = journal.cutovers()  # B's rename was never journalled as done
    assert (a.collection, a.fingerprint) == ("A", "3:a1")
    assert a.at <= datetime.now(UTC)
    assert journal.backup_of() == Backup("/backups/r1", ["A"], ["B"], {"A": "3:aa", "B": "4:bb"})
    assert journal.acted_on() == [
        Change("A", Kind.CUTOVER, True, False, "3:a1"),
        Change("B", Kind.CUTOVER, False, False, "4:b1"),
    ]


def test_nothing_cut_over_and_no_backup(tmp_path: Path) -> None:
    journal = _start(tmp_path, "r1")
    _act(journal, _ref("preflight", "preflight"), {})
    _act(journal, _ref("backup", Kind.BACKUP), None)  # started, never finished
    assert journal.backup_of() is None
    assert journal.cutovers() == [] and journal.acted_on() == []
    assert not journal.started_cutover()


def test_shadow_work_is_forgotten_once_the_shadows_are_dropped(tmp_path: Path) -> None:
    journal = _start(tmp_path, "r1")
    _act(journal, _ref("backup", Kind.BACKUP), {"backup": BACKUP})
    _act(journal, _ref("indexes:A", "indexes", "A"), {"indexes": []}, shadow=True)
    journal.record(SHADOWS_DROPPED)
    _act(journal, _ref("copy", "copy"), {"copied": {}}, shadow=True)
    assert set(journal.finished_actions()) == {"backup", "copy"}


def test_the_asides_action_is_no_collection_and_drops_say_whether_they_dropped(
    tmp_path: Path,
) -> None:
    journal = _start(tmp_path, "rb", command="rollback", rolls_back="r1")
    _cutover(journal, "A", "3:a0", finished=True)
    _act(journal, _ref("cutover:asides", Kind.CUTOVER, None, "cutover"), {"dropped": []})
    _act(journal, _ref("drop:B", Kind.DROP, "B", "cutover"), {"dropped": True})
    _act(journal, _ref("drop:C", Kind.DROP, "C", "cutover"), {"dropped": False})
    _act(journal, _ref("drop:D", Kind.DROP, "D", "cutover"), None)

    assert [c.collection for c in journal.cutovers()] == ["A"]
    assert journal.acted_on() == [
        Change("A", Kind.CUTOVER, True, False, "3:a0"),
        Change("B", Kind.DROP, True, True, None),
        Change("C", Kind.DROP, True, False, None),
        Change("D", Kind.DROP, False, False, None),
    ]


def test_a_torn_last_line_hides_only_itself(tmp_path: Path) -> None:
    journal = _promotion(tmp_path)
    finished = json.dumps({"event": "action_finished", "key": "cutover:B", "kind": Kind.CUTOVER})
    with open(journal.path, "a") as fh:
        fh.write(finished[:40])  # the crash tore B's finish

    again = journal_of(tmp_path, "r1")  # what a resume or a rollback opens
    assert [c.collection for c in again.cutovers()] == ["A"]
    assert [(c.collection, c.finished) for c in again.acted_on()] == [("A", True), ("B", False)]
    assert again.header().run_id == "r1" and again.backup_of() is not None

    _cutover(again, "B", "4:b1", finished=True)  # the resume finishes it: the tail is repaired
    assert [c.collection for c in again.cutovers()] == ["A", "B"]
    assert all(json.loads(line) for line in again.path.read_text().splitlines())


def test_a_journal_written_before_actions_carried_their_kind_and_collection(
    tmp_path: Path,
) -> None:
    """Records of the previous format name the action by its key only: still understood."""
    journal = _start(tmp_path, "old")
    for key, result in [("backup", {"backup": BACKUP}), ("cutover:A", {}), ("cutover:asides", {})]:
        journal.record("action_started", key=key, step=1)
        journal.record("action_finished", key=key, shadow=False, result=result)
    journal.record(CUTOVER_FINGERPRINT, collection="B", content_hash="4:b1")
    journal.record("action_started", key="cutover:B", step=1)

    assert journal.started_cutover()
    assert [c.collection for c in journal.cutovers()] == ["A"]
    assert journal.backup_of() is not None
    assert [(c.collection, c.finished, c.fingerprint) for c in journal.acted_on()] == [
        ("A", True, None),
        ("B", False, "4:b1"),
    ]


def test_the_runs_of_a_state_directory(tmp_path: Path) -> None:
    assert run_ids(tmp_path) == [] and latest_run(tmp_path) is None
    assert rolled_back_by(tmp_path, "20250101-000000-aaaa") is None
    run = _start(tmp_path, "20250101-000000-aaaa")
    run.record(RUN_FINISHED, status="succeeded")
    failed = _start(
        tmp_path, "20250102-000000-bbbb", command="rollback", rolls_back=run.header().run_id
    )
    failed.record(RUN_FAILED, status="failed", error="boom")
    (RunPaths.under(tmp_path, "refresh-20250103").run_dir).mkdir(parents=True)  # no journal

    assert run_ids(tmp_path) == ["20250101-000000-aaaa", "20250102-000000-bbbb", "refresh-20250103"]
    assert rolled_back_by(tmp_path, "20250101-000000-aaaa") is None  # that rollback failed
    assert failed.ended_at() is not None and not failed.is_finished()
    assert latest_run(tmp_path, command="rollback") == "20250102-000000-bbbb"

    done = _start(
        tmp_path, "20250104-000000-cccc", command="rollback", rolls_back="20250101-000000-aaaa"
    )
    done.record(RUN_FINISHED, status="succeeded")
    assert rolled_back_by(tmp_path, "20250101-000000-aaaa") == "20250104-000000-cccc"
    assert journal_of(tmp_path, "refresh-20250103").find_header() is None
    assert run.is_finished() and run.ended_at() == run.events()[-1]["at"]


def _kept_cutover(journal: Journal, name: str, kept_as: str | None, *, finished: bool) -> None:
    """A cutover that keeps what it replaces, as steps/cutover.py journals it."""
    journal.record(CUTOVER_FINGERPRINT, collection=name, content_hash="2:ff")
    journal.record(
        CUTOVER_RENAMES,
        collection=name,
        kept_as=kept_as,
        kept_uuid="aa" if kept_as else None,
        installed_uuid="bb",
        installed_count=2,
        kept_fingerprint="3:aa" if kept_as else None,
    )
    ref = _ref(f"cutover:{name}", Kind.CUTOVER, name, "cutover")
    _act(journal, ref, {"result": {"collection": name}} if finished else None)


def test_every_collection_journalled_at_once_before_the_first_rename(tmp_path: Path) -> None:
    """As `steps/cutover.prepare` writes them: every fingerprint and renames record in one
    write; only the collections whose action started count as acted on (the others were not
    reached), and an unsynced finish reads back like any other."""
    journal = _start(tmp_path, "r1")
    records: list[tuple[str, dict[str, Any]]] = []
    for name, kept_as in (("A", "A__prev_r1"), ("B", None), ("C", "C__prev_r1")):
        records.append((CUTOVER_FINGERPRINT, {"collection": name, "content_hash": f"2:{name}"}))
        fields = {"collection": name, "kept_as": kept_as, "installed_uuid": f"u{name}"}
        records.append((CUTOVER_RENAMES, {**fields, "installed_count": 2}))
    journal.record_all(records)
    ref = _ref("cutover:A", Kind.CUTOVER, "A", "cutover")
    journal.action_started(ref)
    journal.action_finished(ref, shadow=False, result={"result": {}}, sync=False)
    journal.action_started(_ref("cutover:B", Kind.CUTOVER, "B", "cutover"))

    assert [journal.fingerprint_of(n) for n in "ABC"] == ["2:A", "2:B", "2:C"]
    assert journal.renames()["C"].installed_uuid == "uC"
    changes = {c.collection: c for c in journal.acted_on()}
    assert set(changes) == {"A", "B"} and changes["A"].finished and not changes["B"].finished
    assert changes["A"].fingerprint == "2:A" and changes["B"].renames == journal.renames()["B"]
    assert [c.collection for c in journal.cutovers()] == ["A"]
    lines = journal.path.read_text().splitlines()
    assert len(lines) == 1 + 6 + 3  # header, the six records, the action records


def test_the_renames_that_kept_what_they_replaced_are_read_back_typed(tmp_path: Path) -> None:
    journal = _start(tmp_path, "r1")
    _kept_cutover(journal, "A", "A__prev_r1", finished=True)
    _kept_cutover(journal, "B", None, finished=False)  # created by the run, crashed

    renames = journal.renames()
    assert (renames["A"].kept_as, renames["A"].kept_uuid, renames["A"].installed_uuid) == (
        "A__prev_r1",
        "aa",
        "bb",
    )
    assert renames["A"].installed_count == 2 and renames["A"].kept_fingerprint == "3:aa"
    assert renames["B"].kept_as is None
    assert set(journal.kept()) == {"A__prev_r1"}
    changes = {c.collection: c for c in journal.acted_on()}
    assert changes["A"].renames == renames["A"] and changes["B"].renames == renames["B"]
    assert changes["A"].finished and not changes["B"].finished


def test_a_rollback_s_header_stands_for_the_renames_of_its_swaps(tmp_path: Path) -> None:
    """What a rollback of that rollback reads: its swaps, planned in its header (Swap.to_json)."""
    swap = {
        "collection": "A",
        "take_out": "A__undone_rb1",
        "put_back": "A__prev_r1",
        "live_uuid": "bb",
        "put_back_uuid": "aa",
        "put_back_count": 3,
        "kept_fingerprint": "2:ff",
        "put_back_fingerprint": "3:aa",
        "written_since": "unknown: same count, content not compared",
    }
    created = {"collection": "C", "take_out": "C__undone_rb1", "put_back": None, "live_uuid": "cc"}
    journal = _start(tmp_path, "rb1", command="rollback", rolls_back="r1", swaps=[swap, created])
    _act(journal, _ref("swap:A", Kind.CUTOVER, "A", "cutover"), {"result": {}})

    renames = journal.renames()
    a, c = renames["A"], renames["C"]
    assert (a.kept_as, a.kept_uuid, a.installed_uuid, a.installed_count) == (
        "A__undone_rb1",
        "bb",
        "aa",
        3,
    )
    assert a.kept_fingerprint == "2:ff" and journal.fingerprint_of("A") == "3:aa"
    assert (c.kept_as, c.installed_uuid, c.installed_count) == ("C__undone_rb1", None, None)
    assert set(journal.kept()) == {"A__undone_rb1", "C__undone_rb1"}
    (change,) = journal.acted_on()  # only A's swap was started
    assert change.fingerprint == "3:aa" and change.renames == a


def test_renames_undone_by_the_run_itself_count_as_never_made(tmp_path: Path) -> None:
    """undo_renames (a failure inside a freeze): the cutover is to be made again on --resume."""
    journal = _start(tmp_path, "r1")
    _act(journal, _ref("copy", "copy"), {"copied": {}}, shadow=True)
    _kept_cutover(journal, "A", "A__prev_r1", finished=True)
    journal.record(CUTOVER_UNDONE, collections=["A"])

    assert set(journal.finished_actions()) == {"copy"}  # the shadows' work still stands
    assert journal.acted_on() == [] and journal.cutovers() == [] and journal.renames() == {}
    assert not journal.started_cutover()
    _kept_cutover(journal, "A", "A__prev_r1", finished=True)  # the resume cuts over again
    assert [c.collection for c in journal.acted_on()] == ["A"]


# ---------------------------------------------------------------- attempts, spans, windows (issue 19)


def test_attempts_keep_every_go_a_resume_appends_and_a_kill_is_interrupted(tmp_path: Path) -> None:
    journal = _start(tmp_path, "r1")
    journal.record(RUN_FAILED, status="failed", error="hook exited 1")
    journal.record(RUN_RESUMED)  # a second go ... killed without a word
    journal.record(COPIED, collection="A", started_at=NOW, finished_at=NOW, worker="copy_0")
    journal.record(RUN_RESUMED)
    journal.record(RUN_FINISHED, status="succeeded")
    attempts = journal.attempts()
    assert [a.outcome for a in attempts] == ["failed", "interrupted", "succeeded"]
    assert attempts[0].error == "hook exited 1" and attempts[2].error is None
    assert attempts[1].finished_at is not None  # its last record's time
    assert all(a.started_at for a in attempts)
    running = _start(tmp_path, "r2")
    assert [(a.outcome, a.finished_at) for a in running.attempts()] == [(None, None)]


def test_spans_and_windows_say_what_ran_when_and_on_which_worker(tmp_path: Path) -> None:
    journal = _start(tmp_path, "r1")
    copy = ActionRef("copy", 3, "copy", "before", None)
    backup = ActionRef("backup", 2, "backup", "before", None)
    timings = {"A": {"started_at": NOW, "finished_at": NOW, "worker": "backup_1"}}
    _act(journal, backup, {"backup": BACKUP, "timings": timings})
    journal.action_started(copy)
    journal.record(COPIED, collection="B", started_at=NOW, finished_at=NOW, worker="copy_0")
    journal.action_finished(copy, shadow=True, result={})
    _cutover(journal, "A", "3:aa", finished=True)
    journal.record(FREEZE_STARTED)
    _cutover(journal, "B", "4:bb", finished=False)  # interrupted mid-cutover
    spans = journal.spans()
    lanes = [(s.step, s.lane, s.label, s.finished_at is None) for s in spans]
    assert (2, "backup", "", False) in lanes and (3, "copy", "", False) in lanes
    assert (2, "backup_1", "A", False) in lanes and (3, "copy_0", "B", False) in lanes
    assert (1, "cutover", "B", True) in lanes  # started, never finished
    windows = journal.windows()
    assert windows["cutover"][0] <= windows["cutover"][1]  # type: ignore[operator]
    assert windows["freeze"][1] is None  # the freeze never ended (yet)
# ---------------------------------------------------------------- the write freeze


def test_a_freeze_span_runs_from_its_first_start_to_its_end_and_holds_its_catch_up(
    tmp_path: Path,
) -> None:
    journal = _promotion(tmp_path)
    assert journal.freeze() == Freeze(None, None, {}) and not journal.freeze().holding

    journal.record(FREEZE_STARTED, again=False)
    journal.record(CAUGHT_UP, collection="A", changed=True, content_hash="4:a2", stats=[4, 9])
    first = journal.freeze()
    assert first.holding and first.caught_up == {
        "A": {"changed": True, "content_hash": "4:a2", "stats": [4, 9]}
    }
    journal.record(FREEZE_STARTED, again=True)  # a resume runs freeze.start again: same span
    assert journal.freeze().started_at == first.started_at and "A" in journal.freeze().caught_up

    journal.record(FREEZE_ENDED)
    ended = journal.freeze()
    assert not ended.holding and ended.ended_at is not None and "A" in ended.caught_up

    journal.record(FREEZE_STARTED, again=False)  # a new freeze: a new catch-up
    again = journal.freeze()
    assert again.holding and again.started_at != first.started_at and again.caught_up == {}


def test_the_backup_of_a_run_has_the_hashes_its_catch_up_wrote(tmp_path: Path) -> None:
    journal = _promotion(tmp_path)
    journal.record(FREEZE_STARTED, again=False)
    journal.record(CAUGHT_UP, collection="A", changed=True, content_hash="4:a2", stats=[4, 9])
    backup = journal.backup_of()
    assert backup is not None and backup.content_hashes == {"A": "4:a2", "B": "4:bb"}
