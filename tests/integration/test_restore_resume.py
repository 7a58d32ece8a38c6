"""Restore and rollback are runs too: killed with SIGKILL mid-way, they resume from their journal
and end exactly where an uninterrupted one would, production whole in between."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mongo_promote import api
from mongo_promote.console import Output
from mongo_promote.domain.plan import bundled_plan_path, load_plan
from tests.integration.conftest import (
    explain,
    index_specs,
    invoke,
    journal_events,
    json_out,
    kill_when_journalled,
    meeshy_env,
    run_artifacts,
    seed_meeshy,
    snapshot,
)

pytestmark = pytest.mark.integration
SCALE = 0.3


def change_production(servers: Any, name: str) -> None:
    target = servers.target[name]
    target.Message.delete_many({"_id": {"$in": [d["_id"] for d in target.Message.find().limit(5)]}})
    target.Conversation.update_many({}, {"$set": {"changed": True}})
    target.drop_collection("User")


def kill_after_first_load(args: list[str], env: dict[str, str], state: Path) -> str:
    return kill_when_journalled(
        args,
        env,
        state,
        lambda events: any(
            e["event"] == "action_finished" and e["key"].startswith("load:") for e in events
        ),
    )


def journal_of(state: Path, run_id: str) -> list[dict[str, Any]]:
    return journal_events(state / "runs" / run_id / "journal.jsonl")


def finished(events: list[dict[str, Any]]) -> list[str]:
    return [e["key"] for e in events if e["event"] == "action_finished"]


def test_a_killed_restore_resumes_to_the_backup_s_exact_content(
    servers: Any, fresh_name: Any, tmp_path: Path
) -> None:
    name = fresh_name("rk")
    seed_meeshy(servers, name, scale=SCALE)
    env = meeshy_env(servers, name, tmp_path / "backups")
    target = servers.target[name]
    original = (snapshot(target), index_specs(target))
    dump = tmp_path / "dump"
    made = invoke(["backup", "--plan", "meeshy", "--out", str(dump), "--json"], env)
    assert made.exit_code == 0, explain(made)
    change_production(servers, name)
    changed = snapshot(target)

    run_id = kill_after_first_load(
        ["restore", "--plan", "meeshy", "--backup", str(dump), "--yes", "--json"], env, tmp_path
    )

    dead_run = journal_of(tmp_path, run_id)
    before_resume = finished(dead_run)
    assert any(k.startswith("load:") for k in before_resume)
    assert not any(k.startswith("cutover:") for k in before_resume)
    assert snapshot(target, live_only=True) == changed  # production untouched by the dead run

    loaded = load_plan(bundled_plan_path(), env=env)
    result = api.restore(
        loaded,
        Output(quiet=True),
        api.RestoreOptions(yes=True, resume=run_id, state_dir=tmp_path),
    )

    assert result.run_id == run_id and result.verified
    assert (snapshot(target), index_specs(target)) == original
    assert run_artifacts(target) == []
    assert servers.target.mongo_promote.locks.find_one({"_id": name}) is None
    after = journal_of(tmp_path, run_id)
    assert after[-1]["event"] == "run_finished" and after[-1]["status"] == "succeeded"
    started_again = [e["key"] for e in after[len(dead_run) :] if e["event"] == "action_started"]
    assert not set(started_again) & set(before_resume), "finished work was done again"
    report = json.loads((tmp_path / "runs" / run_id / "report.json").read_text())
    assert report["resumed"] is True and report["backup"]["dir"]  # what it replaced is backed up


def test_a_killed_rollback_resumes_to_the_state_before_the_run(
    servers: Any, fresh_name: Any, tmp_path: Path
) -> None:
    """The bundled plan keeps the previous collections: the rollback is a swap of names, killed
    here between the two renames of one collection (its name missing), then resumed."""
    from mongo_promote.steps.cutover import CRASH_ENV
    from tests.integration.test_cutover_states import cli

    name = fresh_name("rbk")
    seed_meeshy(servers, name, scale=SCALE)
    env = meeshy_env(servers, name, tmp_path / "backups")
    target = servers.target[name]
    before = (snapshot(target), index_specs(target))
    common = ["--plan", "meeshy", "--state-dir", str(tmp_path), "--yes", "--json"]
    ran = invoke(["run", *common], env)
    assert ran.exit_code == 0, explain(ran)
    promoted = snapshot(target, live_only=True)

    crashed = cli(["rollback", *common], {**env, CRASH_ENV: "cutover:Message:after_aside"})

    assert crashed.returncode == 137, crashed.stderr[-2000:]
    (run_id,) = {p.name for p in (tmp_path / "runs").iterdir()} - {json_out(ran)["run_id"]}
    events = journal_of(tmp_path, run_id)
    assert events[0]["command"] == "rollback"
    assert events[0]["rolls_back"] == json_out(ran)["run_id"]
    assert "swap:Message" not in finished(events)
    now = snapshot(target, live_only=True)
    assert "Message" not in now  # between its two renames

    loaded = load_plan(bundled_plan_path(), env=env)
    result = api.rollback(
        loaded,
        Output(quiet=True),
        api.RollbackOptions(run_id=None, state_dir=tmp_path, yes=True, resume=run_id),
    )

    assert result.run_id == run_id and "Message" in result.swapped and not result.dropped
    assert (snapshot(target, live_only=True), index_specs(target)) == before
    assert run_artifacts(target) == []
    assert snapshot(target)[f"Message__undone_{run_id}"] == promoted["Message"]
    # a rollback is not a run to roll back: the latest *run* is still the promotion, which is
    # already rolled back, so a second rollback says so and touches nothing (issue 8)
    again = invoke(["rollback", *common], env)
    assert again.exit_code == 0, explain(again)
    assert json_out(again)["nothing_to_do"] and run_id in again.stderr
    assert (snapshot(target, live_only=True), index_specs(target)) == before
