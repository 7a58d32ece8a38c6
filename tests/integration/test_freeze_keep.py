"""The write freeze and keep_previous together (issue 17): a rollback inside the plan's freeze,
with an application that obeys it; the health gate's place after freeze.end and after_cutover, its
rollback in a freeze of its own; and the check after the window that the freeze held (a writer
that ignores the freeze: its writes land in the previous collections, the backup is made whole)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import explain, invoke, journal_events, json_out
from tests.integration.localhttp import LocalHTTP, serve
from tests.integration.test_freeze import (
    backup_documents,
    freeze_plan,
    handshake,
    only_report,
    run_args,
    seed,
    writer_on,
)
from tests.integration.writer import HandshakeWriter, Targets, moment, writes_inside

pytestmark = pytest.mark.integration


def report_of(state: Path, run_id: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((state / "runs" / run_id / "report.json").read_text())
    return data


def keys(state: Path, run_id: str) -> list[str]:
    """The run's events in order: an action's start as its key, other events by name."""
    return [
        e["key"] if e["event"] == "action_started" else e["event"]
        for e in journal_events(state / "runs" / run_id / "journal.jsonl")
    ]


# ---------------------------------------------------------------- a rollback inside the freeze


def test_a_rollback_runs_inside_the_freeze_and_keeps_aside_what_the_application_wrote(
    servers: Any, fresh_name: Any, tmp_path: Path
) -> None:
    name = fresh_name()
    seed(servers, name)
    plan = freeze_plan(tmp_path, servers, name)
    target = servers.target[name]
    before = {d["_id"] for d in target.People.find({}, {"_id": 1})}

    with writer_on(servers, name, tmp_path, settle=4) as writer:
        result = invoke(run_args(plan, tmp_path))
        assert result.exit_code == 0, explain(result)
        run = only_report(tmp_path)
        writer.wait_for_writes_after(moment(run["freeze"]["end_launched_at"]), 8)
        args = ["rollback", "--plan", str(plan), "--state-dir", str(tmp_path), "--yes"]
        dry = invoke([*args, "--dry-run", "--run", run["run_id"]])
        assert dry.exit_code == 0, explain(dry)
        assert "inside the plan's write freeze: freeze.start before the renames" in dry.stdout
        undo = invoke([*args, "--json", "--allow-target-drift", "--run", run["run_id"]])
        assert undo.exit_code == 0, explain(undo)
        rb = json_out(undo)["run_id"]
        rb_report = report_of(tmp_path, rb)
        writer.wait_for_writes_after(moment(rb_report["freeze"]["end_launched_at"]), 4)

    assert not writer.errors, writer.errors
    freeze = rb_report["freeze"]
    # the rollback's own window, in its report and console; no write inside it
    assert freeze["window_s"] > 0 and freeze["ended_at"]
    assert writes_inside(writer, freeze) == []
    assert "the write freeze ended: window" in undo.stderr + undo.stdout
    order = keys(tmp_path, rb)
    assert order.index("freeze:start") < order.index("swap:People") < order.index("freeze:end")
    # production is what the run replaced; what the application wrote since the cutover is kept
    people = {d["_id"] for d in target.People.find({}, {"_id": 1})}
    inserted_after = {
        w.id
        for w in writer.writes
        if w.op == "insert"
        and w.started > moment(run["freeze"]["end_launched_at"])
        and w.ended < moment(freeze["start_returned_at"])
    }
    assert inserted_after and not inserted_after & people
    kept = rb_report["kept_aside"]["People"]
    assert kept == f"People__undone_{rb}"
    assert inserted_after <= {d["_id"] for d in target[kept].find({}, {"_id": 1})}
    assert rb_report["collections"]["People"]["written_since_cutover"].startswith("yes")
    assert before <= people  # the previous People, with the writes caught up before the freeze


# ---------------------------------------------------------------- the gate after the freeze


@pytest.fixture
def http() -> Any:
    with serve() as server:
        yield server


def test_the_gate_runs_after_freeze_end_and_after_cutover_and_its_rollback_freezes_again(
    servers: Any, fresh_name: Any, tmp_path: Path, http: LocalHTTP
) -> None:
    name = fresh_name()
    seed(servers, name)
    plan = freeze_plan(tmp_path, servers, name)
    gate = (
        f'health: [{{name: gateway, url: "{http.url("/gate/never-up")}", retries: 1, '
        "backoff: 100ms}]\nhealth_gate: rollback\n"
    )
    plan.write_text(plan.read_text() + gate)
    flag, _ = handshake(tmp_path)

    with writer_on(servers, name, tmp_path) as writer:
        result = invoke(run_args(plan, tmp_path))
        assert result.exit_code == 1, explain(result)
    assert not flag.exists() and not writer.errors

    err = " ".join(result.stderr.split())
    assert "health gate failed" in err and "rolled back by run" in err
    said = " ".join((result.stdout + result.stderr).split())
    assert "the write freeze ended after the cutover: the rollback starts it again" in said
    runs = sorted(p.name for p in (tmp_path / "runs").iterdir())
    run_id = next(r for r in runs if report_of(tmp_path, r).get("health_gate"))
    order = keys(tmp_path, run_id)
    assert (
        order.index("freeze:end") < order.index("hook:after_cutover:0") < order.index("health-gate")
    ), order
    rb = report_of(tmp_path, run_id)["health_gate"]["rollback_run_id"]
    rb_order = keys(tmp_path, rb)
    assert rb_order.index("freeze_started") < rb_order.index("freeze_ended")
    rb_freeze = report_of(tmp_path, rb)["freeze"]
    assert rb_freeze["window_s"] > 0
    assert writes_inside(writer, rb_freeze) == []  # the writer obeyed the rollback's freeze too


# ---------------------------------------------------------------- the freeze did not hold


def test_a_freeze_that_did_not_hold_is_found_after_the_window_and_the_backup_made_whole(
    servers: Any, fresh_name: Any, tmp_path: Path
) -> None:
    """A writer that ignores the freeze, updating Orders in place (same count, same sizes: the
    per-rename guard inside the window cannot see it); a before_cutover hook gives it a second
    after the catch-up. After freeze.end the previous Orders is hashed against the backup: it
    differs, so it is dumped again into the backup, and the run ends with exit 1 saying so."""
    name = fresh_name()
    seed(servers, name)
    target = servers.target[name]
    # every Orders document already has the fields the writer sets: its updates change no size
    target.Orders.update_many({}, {"$set": {"writerAt": 0.0, "writerN": 0}})
    target.Elsewhere.insert_many([{"_id": i} for i in range(400)])
    flag, ack = handshake(tmp_path)
    freeze = f'freeze:\n  start: ["touch {flag}"]\n  end: ["rm -f {flag}"]\n  timeout: 90s\n'
    plan = freeze_plan(
        tmp_path, servers, name, hooks={"before_cutover": ["sleep 1"]}, freeze=freeze
    )
    only_orders = Targets(insert_into="Elsewhere", update_in="Orders", delete_from="Elsewhere")
    writer = HandshakeWriter(
        servers.target_uri, name, only_orders, flag=flag, ack=ack, obey=False, interval_s=0.01
    )
    with writer:
        result = invoke(run_args(plan, tmp_path))

    assert result.exit_code == 1, explain(result)
    err = " ".join(result.stderr.split())
    report = only_report(tmp_path)
    assert report["status"] == "freeze_not_held", err
    assert "the freeze did not hold: Orders changed during the window (" in err
    assert "documents differ); the backup holds it as replaced" in err
    freeze = report["freeze"]
    assert freeze["held"] is False and set(freeze["not_held"]) == {"Orders"}
    assert freeze["not_held"]["Orders"]["documents_differ"] >= 1
    assert freeze["ended_at"] and not flag.exists()
    # the backup holds the previous Orders as it really was when it was replaced
    previous = report["kept_previous"]["Orders"]
    held = backup_documents(Path(report["backup"]["dir"]), name)["Orders"]
    assert {d["_id"]: d["writerN"] for d in target[previous].find()} == {
        _id: d["writerN"] for _id, d in held.items()
    }
    # and a rollback puts exactly that back
    undo = invoke(["rollback", "--plan", str(plan), "--state-dir", str(tmp_path), "--yes",
                   "--no-hooks", "--allow-target-drift", "--run", report["run_id"]])  # fmt: skip
    assert undo.exit_code == 0, explain(undo)
    assert {d["_id"]: d["writerN"] for d in target.Orders.find()} == {
        _id: d["writerN"] for _id, d in held.items()
    }
