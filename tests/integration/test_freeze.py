"""A promotion while the application writes (issue 17): a real writer on production that obeys the
plan's write freeze by a flag-file handshake, and what the run promises around it. The application
is stopped only for the window; every write it made before the freeze is in the backup (read from
the files, restorable by mongorestore and by rollback) and counted as caught up exactly as the
writer logged it; its writes after freeze.end land in the promoted collections. The freeze always
ends, with production consistent: after a failing hook, a kill and a resume, Ctrl-C in the
catch-up; a freeze that does not hold stops the run before any rename; max_window stops it before
freeze.start; a plan without a freeze runs as before."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import bson
import pytest

from mongo_promote.adapters.dump import iter_dump_collections, side_dir, verify_dump
from mongo_promote.adapters.servers import find_tool
from mongo_promote.steps import catchup as catchup_step
from mongo_promote.steps import cutover as cutover_step
from tests.integration.conftest import (
    SAFE_ENV,
    environment_without_uris,
    explain,
    invoke,
    journal_events,
    json_out,
    kill_when_journalled,
    run_artifacts,
    snapshot,
    write_plan,
)
from tests.integration.writer import (
    HandshakeWriter,
    Targets,
    after_backup,
    freeze_yaml,
    moment,
    writes_inside,
)

pytestmark = pytest.mark.integration

COLLECTIONS = 'collections: {include: ["People", "Orders", "Tasks", "Fresh", "Big"]}\n'
WRITES = Targets(insert_into="People", update_in="Orders", delete_from="Tasks")
BIG_DOC = "x" * 2_000


def seed(servers: Any, name: str, *, big: int = 0) -> None:
    """Source: the new People, Orders, Tasks and Fresh (created by the run); target: older ones
    (Tasks enough for every delete the writer makes), and with `big`, a Big collection the
    catch-up takes a while to read."""
    source, target = servers.source[name], servers.target[name]
    source.People.insert_many([{"_id": i, "email": f"user{i}@example.org"} for i in range(20)])
    source.Orders.insert_many([{"_id": i, "total": i * 1.5} for i in range(30)])
    source.Tasks.insert_many([{"_id": i, "todo": f"new {i}"} for i in range(10)])
    source.Fresh.insert_many([{"_id": i} for i in range(3)])
    target.People.insert_many([{"_id": 1000 + i, "email": f"old{i}@example.org"} for i in range(8)])
    target.Orders.insert_many([{"_id": 5000 + i, "total": 1.0} for i in range(40)])
    target.Tasks.insert_many([{"_id": 7000 + i, "todo": f"old {i}"} for i in range(400)])
    if big:
        source.Big.insert_one({"_id": 0})
        target.Big.insert_many([{"_id": i, "pad": BIG_DOC} for i in range(big)])


def handshake(tmp_path: Path) -> tuple[Path, Path]:
    return tmp_path / "frozen", tmp_path / "frozen.ack"


def freeze_plan(
    tmp_path: Path,
    servers: Any,
    name: str,
    *,
    hooks: dict[str, list[str]] | None = None,
    freeze: str | None = None,
) -> Path:
    """A small plan of our own whose freeze is the handshake with a HandshakeWriter."""
    plan = write_plan(tmp_path / "plan.yaml", servers, name, COLLECTIONS)
    stages = {"after_cutover": ["echo restarted"], **(hooks or {})}
    text = plan.read_text().replace(
        'hooks: {after_cutover: ["echo restarted"]}\n', f"hooks: {json.dumps(stages)}\n"
    )
    plan.write_text(text + (freeze if freeze is not None else freeze_yaml(*handshake(tmp_path))))
    return plan


def run_args(plan: Path, state: Path, *extra: str) -> list[str]:
    return ["run", "--plan", str(plan), "--state-dir", str(state), "--json", "--yes", *extra]


def writer_on(servers: Any, name: str, tmp_path: Path, **kw: Any) -> HandshakeWriter:
    flag, ack = handshake(tmp_path)
    return HandshakeWriter(
        servers.target_uri, name, WRITES, flag=flag, ack=ack, gate=after_backup(tmp_path), **kw
    )


def only_report(tmp_path: Path) -> dict[str, Any]:
    (report,) = (tmp_path / "runs").glob("*/report.json")
    data: dict[str, Any] = json.loads(report.read_text())
    return data


def counts(freeze: dict[str, Any]) -> dict[str, dict[str, int]]:
    """The report's caught-up writes, as the writer counts them."""
    return {
        n: {k: c[k] for k in ("inserted", "changed", "deleted")}
        for n, c in freeze.get("caught_up", {}).items()
    }


def backup_documents(backup: Path, name: str) -> dict[str, dict[Any, dict[str, Any]]]:
    """Every document of the backup files, decoded, by collection and `_id`."""
    return {
        c.name: {d["_id"]: d for d in map(bson.decode, c.iter_raw())}
        for c in iter_dump_collections(backup)
        if c.database == name
    }


def events(tmp_path: Path, run_id: str) -> list[str]:
    return [e["event"] for e in journal_events(tmp_path / "runs" / run_id / "journal.jsonl")]


# ---------------------------------------------------------------- the promise, end to end


def test_the_writer_is_stopped_only_for_the_window_and_none_of_its_writes_is_lost(
    servers: Any, fresh_name: Any, tmp_path: Path, probed: Any
) -> None:
    name = fresh_name()
    seed(servers, name)
    plan = freeze_plan(tmp_path, servers, name)

    # settle: one write of each kind before it stops, however soon the freeze comes after the backup
    with writer_on(servers, name, tmp_path, settle=4) as writer:
        result = invoke(run_args(plan, tmp_path))
        assert result.exit_code == 0, explain(result)
        report = json.loads(Path(json_out(result)["report"]).read_text())
        freeze = report["freeze"]
        writer.wait_for_writes_after(moment(freeze["end_launched_at"]), 12)

    assert writer.writes and not writer.errors and writer.frozen
    # stopped for the window only: no write from freeze.start's return to freeze.end's launch
    assert writes_inside(writer, freeze) == []
    assert freeze["window_s"] == pytest.approx(
        moment(freeze["ended_at"]) - moment(freeze["started_at"]), abs=0.01
    )
    assert moment(freeze["started_at"]) <= moment(freeze["start_returned_at"])
    said = " ".join(result.stderr.split())
    assert "write freeze window" in said and "caught up Orders (" in said
    # the caught-up writes are the writer's own, by _id
    stopped = moment(freeze["start_returned_at"])
    expected = writer.caught_up(stopped).to_json()
    assert set(expected) == {"People", "Orders", "Tasks"}, expected
    assert counts(freeze) == expected
    assert freeze["backup_as_of_backup_time"] == []  # every collection of the target is replaced

    # the backup holds every write made before the freeze (read from its files)
    backup = Path(report["backup"]["dir"])
    verify_dump(backup)
    assert not side_dir(backup).exists()  # the originals went once counted
    held = backup_documents(backup, name)
    before = [w for w in writer.writes if w.ended <= stopped]
    assert {w.id for w in before if w.op == "insert"} <= set(held["People"])
    assert not {w.id for w in before if w.op == "delete"} & set(held["Tasks"])
    for _id in {w.id for w in before if w.op == "update"}:
        updates = sum(1 for w in before if w.op == "update" and w.id == _id)
        assert held["Orders"][_id]["writerN"] == updates

    # the writes after freeze.end went into the promoted collections
    target = servers.target[name]
    after = writer.writes_after(moment(freeze["end_launched_at"]))
    people = {d["_id"] for d in target.People.find({}, {"_id": 1})}
    assert {w.id for w in after if w.op == "insert"} <= people
    assert set(range(20)) <= people and not {1000, 1001} & people  # the promoted People

    # and the caught-up backup comes back: with mongorestore, and with rollback
    mongorestore = find_tool("mongorestore")
    assert mongorestore is not None, "mongorestore is not installed: run scripts/install-tools"
    restored = f"r_{name}"
    args = [str(mongorestore), "--uri", servers.source_uri, "--gzip", "--dir", str(backup),
            "--nsInclude", f"{name}.*", "--nsFrom", f"{name}.*", "--nsTo", f"{restored}.*"]  # fmt: skip
    if not probed.index_ns_option:
        args.append("--noIndexRestore")
    try:
        subprocess.run(args, check=True, capture_output=True, timeout=300)
        again = snapshot(servers.source[restored])
    finally:
        servers.source.drop_database(restored)
    files = {
        c.name: sorted(c.iter_raw()) for c in iter_dump_collections(backup) if c.database == name
    }
    assert again == files
    # the writer is gone: nobody answers the freeze's handshake (--no-hooks skips its commands)
    undo = invoke(["rollback", "--plan", str(plan), "--state-dir", str(tmp_path), "--yes",
                   "--allow-target-drift", "--no-hooks", "--run", report["run_id"]])  # fmt: skip
    assert undo.exit_code == 0, explain(undo)
    live = snapshot(target, live_only=True)
    assert {n: live[n] for n in ("People", "Orders", "Tasks")} == {
        n: files[n] for n in ("People", "Orders", "Tasks")
    }
    assert "Fresh" not in live  # the run created it: the rollback removed it


# ---------------------------------------------------------------- the freeze always ends


def test_a_failing_before_cutover_hook_ends_the_freeze_with_production_untouched(
    servers: Any, fresh_name: Any, tmp_path: Path
) -> None:
    name = fresh_name()
    seed(servers, name)
    plan = freeze_plan(tmp_path, servers, name, hooks={"before_cutover": ["echo refusing; exit 3"]})

    with writer_on(servers, name, tmp_path) as writer:
        result = invoke(run_args(plan, tmp_path))
        freeze = only_report(tmp_path)["freeze"]
        assert freeze.get("end_launched_at"), explain(result)
        writer.wait_for_writes_after(moment(freeze["end_launched_at"]), 8)

    assert result.exit_code == 1, explain(result)
    err = " ".join(result.stderr.split())
    assert "before_cutover hook exited 3" in err and "production untouched" in err
    assert "the write freeze ended (freeze.end ran" in err
    report = only_report(tmp_path)
    assert report["status"] == "failed" and report["cutover"] == []
    assert freeze["ended_at"] and writes_inside(writer, freeze) == []
    assert len(writer.writes_after(moment(freeze["end_launched_at"]))) >= 8  # it writes again
    target = servers.target[name]
    assert run_artifacts(target) == [] and "Fresh" not in target.list_collection_names()
    people = {d["_id"] for d in target.People.find({}, {"_id": 1})}
    assert {1000, 1001} <= people and not set(range(20)) & people  # never cut over
    assert {w.id for w in writer.writes if w.op == "insert"} <= people  # nothing it wrote lost
    assert events(tmp_path, report["run_id"]).count("freeze_ended") == 1


def test_a_run_killed_inside_the_freeze_is_resumed_and_the_freeze_ends(
    servers: Any, fresh_name: Any, tmp_path: Path
) -> None:
    """SIGKILL between two renames: the application stays stopped (the freeze never ended);
    `--resume` runs freeze.start again (it returns at once: writes are stopped), finishes the
    catch-up and the cutover, the post-checks, and ends the freeze."""
    name = fresh_name()
    seed(servers, name)
    plan = freeze_plan(tmp_path, servers, name)
    flag, _ = handshake(tmp_path)

    def renaming(ev: list[dict[str, Any]]) -> bool:
        return any(
            e["event"] == "action_finished" and str(e.get("key")).startswith("cutover:") for e in ev
        )

    with writer_on(servers, name, tmp_path) as writer:
        run_id = kill_when_journalled(run_args(plan, tmp_path), SAFE_ENV, tmp_path, renaming)
        assert flag.exists()  # still frozen: the kill left the application stopped
        written = len(writer.writes)
        time.sleep(1.0)
        assert len(writer.writes) == written
        target = servers.target[name]
        renamed = [e["key"] for e in journal_events(tmp_path / "runs" / run_id / "journal.jsonl")
                   if e["event"] == "action_finished" and str(e.get("key")).startswith("cutover:")]  # fmt: skip
        assert 1 <= len(renamed) < 5

        result = invoke(run_args(plan, tmp_path, "--resume", run_id))
        assert result.exit_code == 0, explain(result)
        freeze = only_report(tmp_path)["freeze"]
        writer.wait_for_writes_after(moment(freeze["end_launched_at"]), 8)

    assert not flag.exists() and writes_inside(writer, freeze) == []
    # the window runs from the first launch of freeze.start, the kill included
    kinds = events(tmp_path, run_id)
    assert kinds.count("freeze_started") == 2 and kinds.count("freeze_ended") == 1
    assert freeze["window_s"] >= 1.0
    assert counts(freeze) == writer.caught_up(moment(freeze["start_returned_at"])).to_json()
    people = {d["_id"] for d in target.People.find({}, {"_id": 1})}
    assert set(range(20)) <= people and run_artifacts(target) == []
    assert "Fresh" in target.list_collection_names()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_during_the_catch_up_ends_the_freeze_with_production_untouched(
    servers: Any, fresh_name: Any, tmp_path: Path, signum: int
) -> None:
    name = fresh_name()
    seed(servers, name, big=4_000)  # about 8 MB to read inside the freeze
    plan = freeze_plan(tmp_path, servers, name)
    flag, _ = handshake(tmp_path)
    before = snapshot(servers.target[name])

    with writer_on(servers, name, tmp_path, obey=True) as writer:
        writer.gate = lambda: False  # no writes at all: production as it was
        proc = subprocess.Popen(
            [sys.executable, "-m", "mongo_promote", *run_args(plan, tmp_path)],
            env={**environment_without_uris(), **SAFE_ENV},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        try:
            run_id = _wait_for(tmp_path, proc, "catch-up")
            os.kill(proc.pid, signum)
            _, stderr = proc.communicate(timeout=180)
        finally:
            if proc.poll() is None:
                proc.kill()

    assert proc.returncode == 130, stderr[-3000:]
    journal = journal_events(tmp_path / "runs" / run_id / "journal.jsonl")
    finished = {e.get("key") for e in journal if e["event"] == "action_finished"}
    assert "catch-up" not in finished, "the catch-up ended before Ctrl-C came: make Big larger"
    kinds = [e["event"] for e in journal]
    assert kinds.index("freeze_started") < kinds.index("freeze_ended") < kinds.index("run_failed")
    assert "the write freeze ended" in " ".join(stderr.split())
    assert not flag.exists()
    assert snapshot(servers.target[name]) == before  # production untouched, no shadow left


def _wait_for(state: Path, proc: subprocess.Popen[str], key: str) -> str:
    """The run's id as soon as its journal shows action `key` started."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"ended before {key}: {proc.communicate()[1][-3000:]}"
        for journal in (state / "runs").glob("*/journal.jsonl"):
            if any(
                e["event"] == "action_started" and e.get("key") == key
                for e in journal_events(journal)
            ):
                return journal.parent.name
        time.sleep(0.005)
    raise AssertionError(f"{key} did not start in time")


# ---------------------------------------------------------------- a freeze that does not hold


def test_a_freeze_that_does_not_hold_stops_the_run_before_any_rename(
    servers: Any, fresh_name: Any, tmp_path: Path
) -> None:
    """The writer ignores the flag; freeze.start returns at once: its writes inside the freeze
    stop the run before the first rename, nothing renamed, nothing it wrote lost, freeze ended."""
    name = fresh_name()
    seed(servers, name)
    flag, ack = handshake(tmp_path)
    careless = f'freeze:\n  start: ["touch {flag} {ack}"]\n  end: ["rm -f {flag} {ack}"]\n'
    plan = freeze_plan(
        tmp_path, servers, name, hooks={"before_cutover": ["sleep 1"]}, freeze=careless
    )

    with writer_on(servers, name, tmp_path, obey=False) as writer:
        result = invoke(run_args(plan, tmp_path))

    assert result.exit_code == 1, explain(result)
    err = " ".join(result.stderr.split())
    assert "the freeze did not hold" in err and "the write freeze ended" in err
    report = only_report(tmp_path)
    assert report["cutover"] == [] and report["freeze"]["ended_at"]
    target = servers.target[name]
    people = {d["_id"] for d in target.People.find({}, {"_id": 1})}
    assert {w.id for w in writer.writes if w.op == "insert"} <= people and {1000} <= people
    # seen before the first rename: the shadows go; seen after one (the guard of a later rename),
    # the renames made are swapped back (keep_previous) and the shadows kept for --resume
    assert run_artifacts(target) == [] or "were swapped back" in err
    names = target.list_collection_names()
    assert "Fresh" not in names and not [n for n in names if "__prev_" in n]
    assert not flag.exists()


# ---------------------------------------------------------------- bounds, skips, failures, none


def test_max_window_exceeded_stops_the_run_before_freeze_start(
    servers: Any, fresh_name: Any, tmp_path: Path
) -> None:
    name = fresh_name()
    seed(servers, name)
    flag, ack = handshake(tmp_path)
    plan = freeze_plan(tmp_path, servers, name, freeze=freeze_yaml(flag, ack, max_window="1ms"))
    before = snapshot(servers.target[name])

    result = invoke(run_args(plan, tmp_path))

    assert result.exit_code == 1, explain(result)
    err = " ".join(result.stderr.split())
    assert "estimated window is" in err and "over max_window (0.001 s)" in err
    assert "dominated by" in err and "freeze.start was not run" in err
    assert not flag.exists() and snapshot(servers.target[name]) == before
    report = only_report(tmp_path)
    assert report["freeze"]["estimate"]["dominated_by"] in report["freeze"]["estimate"]["parts"]
    assert "freeze_started" not in events(tmp_path, report["run_id"])


def test_no_hooks_runs_the_frozen_section_without_stopping_the_application(
    servers: Any, fresh_name: Any, tmp_path: Path
) -> None:
    name = fresh_name()
    seed(servers, name)
    plan = freeze_plan(tmp_path, servers, name)
    flag, _ = handshake(tmp_path)

    dry = invoke(run_args(plan, tmp_path, "--dry-run", "--no-hooks"))
    assert dry.exit_code == 0, explain(dry)
    planned = {a["key"]: a["description"] for a in json_out(dry)["actions"]["planned"]}
    assert "the application is NOT stopped" in planned["freeze:start"]

    result = invoke(run_args(plan, tmp_path, "--no-hooks"))

    assert result.exit_code == 0, explain(result)
    assert "freeze commands skipped (--no-hooks)" in result.stderr and not flag.exists()
    freeze = only_report(tmp_path)["freeze"]
    assert freeze["skipped"] == "--no-hooks" and freeze["window_s"] > 0
    assert freeze["commands"] == {"start": [], "end": []}
    assert {d["_id"] for d in servers.target[name].People.find()} == set(range(20))


def test_a_failing_freeze_end_is_exit_1_with_the_command_to_run_by_hand_and_resume_ends_it(
    servers: Any, fresh_name: Any, tmp_path: Path
) -> None:
    name = fresh_name()
    seed(servers, name)
    flag, ack = handshake(tmp_path)
    allowed = tmp_path / "gateway-may-start"
    freeze = freeze_yaml(flag, ack).replace('["rm -f', f'["test -e {allowed} && rm -f')
    plan = freeze_plan(tmp_path, servers, name, freeze=freeze)

    with writer_on(servers, name, tmp_path) as writer:
        result = invoke(run_args(plan, tmp_path))
        assert result.exit_code == 1, explain(result)
        err = " ".join(result.stderr.split())
        assert "freeze.end exited 1" in err and "Run by hand" in err and str(allowed) in err
        report = only_report(tmp_path)
        assert report["status"] == "cut_over_freeze_end_failed" and flag.exists()
        held = len(writer.writes)
        time.sleep(0.5)
        assert len(writer.writes) == held  # the application is still stopped

        allowed.touch()
        again = invoke(run_args(plan, tmp_path, "--resume", report["run_id"]))
        assert again.exit_code == 0, explain(again)
        freeze_report = only_report(tmp_path)["freeze"]
        writer.wait_for_writes_after(moment(freeze_report["end_launched_at"]), 5)

    assert not flag.exists() and freeze_report["ended_at"]
    assert writes_inside(writer, freeze_report) == []
    assert events(tmp_path, report["run_id"]).count("freeze_started") == 1  # cut over: not again


def test_a_plan_without_a_freeze_runs_as_before(
    servers: Any, fresh_name: Any, tmp_path: Path
) -> None:
    name = fresh_name()
    seed(servers, name)
    plan = write_plan(tmp_path / "plan.yaml", servers, name, COLLECTIONS)

    dry = invoke(run_args(plan, tmp_path, "--dry-run"))
    keys = [a["key"] for a in json_out(dry)["actions"]["planned"]]
    assert "drift-guard" in keys
    assert not {"pre-pass", "freeze:start", "catch-up", "freeze:end", "caught-up"} & set(keys)
    result = invoke(run_args(plan, tmp_path))
    assert result.exit_code == 0, explain(result)
    report = only_report(tmp_path)
    assert report["freeze"] == {} and report["drift"]["changed"] == []
    assert "write freeze" not in result.stderr


# ---------------------------------------------------------------- a cutover stopped part-way


MANY = [f"C{i:02d}" for i in range(16)]  # renamed one after the other before Zeta


@pytest.mark.parametrize("keep", [True, False], ids=["keep_previous", "no kept previous"])
@pytest.mark.parametrize("cause", ["write", "lost lock"])
def test_a_cutover_stopped_part_way_inside_the_freeze(
    servers: Any,
    fresh_name: Any,
    tmp_path: Path,
    cause: str,
    keep: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Once the first collection is renamed in, something stops the cutover before the last
    (Zeta): a write to Zeta inside the freeze (its rename's guard sees it), or the lock taken by
    another run. With keep_previous the renames made are swapped back at once: production is as
    it was before the run (Zeta with the write), freeze.end runs, exit 1 (4: the lock), and
    `--resume` cuts over again with a new freeze and a new catch-up. Without a kept previous
    collection production is part-way cut over and cannot be made whole at once: the freeze is
    NOT ended (the application stays stopped), the message says so with the commands; `--resume`
    reads what moved into the backup again, finishes the cutover and ends the freeze."""
    name = fresh_name()
    source, target = servers.source[name], servers.target[name]
    for coll in [*MANY, "Zeta"]:
        source[coll].insert_many([{"_id": i, "new": True} for i in range(3)])
        target[coll].insert_many([{"_id": 100 + i, "old": True} for i in range(3)])
    extra = "" if keep else "cutover: {keep_previous: false}\n"
    plan = write_plan(
        tmp_path / "plan.yaml", servers, name, 'collections: {include: ["re:.*"]}\n' + extra
    )
    flag, ack = handshake(tmp_path)
    plan.write_text(plan.read_text() + freeze_yaml(flag, ack))
    before = snapshot(target, live_only=True)

    renames = cutover_step.rename
    meddled: list[str] = []

    def rename_then_meddle(ctx: Any, source: str, target_name: str, **kw: Any) -> None:
        """Right after the first collection's shadow is renamed in (in this process: the
        run is invoked in it), before any other rename: deterministic, however fast the
        cutover goes (about 12 ms a collection on a quiet machine)."""
        renames(ctx, source, target_name, **kw)
        if target_name == MANY[0] and not meddled:
            meddled.append(target_name)
            if cause == "write":
                target.Zeta.insert_one({"_id": "written during the freeze"})
            else:
                servers.target.mongo_promote.locks.update_one(
                    {"_id": name}, {"$set": {"run_id": "thief", "token": "stolen"}}
                )

    with writer_on(servers, name, tmp_path) as writer:
        writer.gate = lambda: False  # it only answers the freeze
        monkeypatch.setattr(cutover_step, "rename", rename_then_meddle)
        result = invoke(run_args(plan, tmp_path))
        monkeypatch.setattr(cutover_step, "rename", renames)
        assert meddled == [MANY[0]]

        assert result.exit_code == (1 if cause == "write" else 4), explain(result)
        err = " ".join(result.stderr.split())
        report = only_report(tmp_path)
        kinds = events(tmp_path, report["run_id"])
        if keep:
            assert "were swapped back: production is as it was before the run" in err, err[-3000:]
            assert "the write freeze ended" in err
            assert report["status"] == "failed" and report["cutover"] == []
            assert MANY[0] in report["freeze"]["swapped_back"]
            assert report["freeze"]["ended_at"] and not flag.exists()  # the application runs
            assert "cutover_undone" in kinds and kinds.index("cutover_undone") < kinds.index(
                "freeze_ended"
            )
            now = snapshot(target, live_only=True)
            if cause == "write":  # the previous Zeta is back, with the write made in the freeze
                ids = {d["_id"] for d in target.Zeta.find()}
                assert ids == {100, 101, 102, "written during the freeze"}
                now.pop("Zeta"), before.pop("Zeta")
            assert now == before  # production as it was before the run
            assert not [n for n in target.list_collection_names() if "__prev_" in n]
        else:
            assert "The write freeze was NOT ended: production is part-way cut over" in err, err[
                -3000:
            ]
            assert "--resume" in err and f"rm -f {flag}" in err  # the commands, to paste
            assert report["freeze"]["kept"] and not report["freeze"].get("ended_at")
            renamed = [c["collection"] for c in report["cutover"]]
            assert MANY[0] in renamed and "Zeta" not in renamed
            assert flag.exists()  # the application is still stopped
            assert "freeze_kept" in kinds and "freeze_ended" not in kinds

        if cause == "lost lock":  # the other run is gone: its lease expires
            servers.target.mongo_promote.locks.update_one(
                {"_id": name},
                {"$set": {"lease_expires_at": dt.datetime(2000, 1, 1, tzinfo=dt.UTC)}},
            )
        again = invoke(run_args(plan, tmp_path, "--resume", report["run_id"]))
        assert again.exit_code == 0, explain(again)

    assert not flag.exists()
    final = only_report(tmp_path)
    assert final["freeze"]["ended_at"] and "kept" not in final["freeze"]
    live = snapshot(target, live_only=True)
    assert all(len(live[c]) == 3 for c in [*MANY, "Zeta"])  # every one cut over
    assert {d["_id"] for d in target.Zeta.find()} == {0, 1, 2}
    if cause == "write":  # the write made inside the freeze is in the backup: nothing lost
        held = backup_documents(Path(final["backup"]["dir"]), name)
        assert "written during the freeze" in held["Zeta"]
        if not keep:
            assert "read again into the backup" in " ".join(again.stderr.split())
            assert final["freeze"]["caught_up"]["Zeta"]["inserted"] == 1


@pytest.mark.parametrize("where", ["catch-up", "rename"])
def test_statistics_that_move_without_a_write_do_not_stop_the_run(
    servers: Any, fresh_name: Any, tmp_path: Path, where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FerretDB v2 on PostgreSQL re-estimates a collection's data size after an autovacuum with
    no write (seen: 28.3 -> 34.1 MB for 100,000 untouched documents, 57 s after they were loaded):
    the freeze's guards then read the collection again, find the content the catch-up read, say
    so and go on. The server's figure moves here at the stats call (the test cannot summon an
    autovacuum in time), during the catch-up's read of Orders or between the catch-up and the
    renames; everything else is real. A real write made alongside still stops the run."""
    name = fresh_name()
    seed(servers, name)
    plan = freeze_plan(tmp_path, servers, name)
    handshake(tmp_path)
    real = catchup_step.collection_stats
    looks: list[str] = []

    def drifting(db: Any, coll: str) -> tuple[int | None, int]:
        count, size = real(db, coll)
        if coll != "Orders" or db.name != name:
            return count, size
        looks.append(coll)
        moved = len(looks) >= (2 if where == "catch-up" else 3)  # after the read's first look
        return count, size + 4096 if moved else size

    with writer_on(servers, name, tmp_path) as writer:
        writer.gate = lambda: False  # it only answers the freeze
        monkeypatch.setattr(catchup_step, "collection_stats", drifting)
        result = invoke(run_args(plan, tmp_path))
        monkeypatch.undo()

    assert result.exit_code == 0, explain(result)
    assert "a second read hashes the same: no write" in " ".join(result.stderr.split())
    assert only_report(tmp_path)["status"] == "succeeded"
    assert {d["_id"] for d in servers.target[name].Orders.find()} == set(range(30))


def test_statistics_that_move_with_a_write_still_stop_the_run(
    servers: Any, fresh_name: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same guard, a real write to Orders right after the catch-up read it: the second read
    hashes otherwise, the run stops before any rename, production as it was."""
    name = fresh_name()
    seed(servers, name)
    plan = freeze_plan(tmp_path, servers, name)
    handshake(tmp_path)
    target = servers.target[name]
    real = catchup_step.collection_stats
    looks: list[str] = []

    def writing(db: Any, coll: str) -> tuple[int | None, int]:
        if coll == "Orders" and db.name == name:
            looks.append(coll)
            if len(looks) == 2:  # the catch-up's look after its read: a write lands first
                target.Orders.insert_one({"_id": "in the freeze"})  # the count moves: every engine
        return real(db, coll)

    with writer_on(servers, name, tmp_path) as writer:
        writer.gate = lambda: False
        monkeypatch.setattr(catchup_step, "collection_stats", writing)
        result = invoke(run_args(plan, tmp_path))
        monkeypatch.undo()

    assert result.exit_code == 1, explain(result)
    err = " ".join(result.stderr.split())
    assert "Orders was written to while the catch-up read it" in err, err[-2000:]
    assert "a second read disagrees with the first" in err
    assert target.Orders.count_documents({"_id": "in the freeze"}) == 1  # production as it is
    assert not [n for n in target.list_collection_names() if "__prev_" in n]
    assert run_artifacts(target) == []
