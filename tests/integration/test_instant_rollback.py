"""The instant rollback (issue 17): the cutover keeps what it replaces (`<name>__prev_<run>`), a
rollback swaps it back by renames only, keeps aside what it takes out (`<name>__undone_<rollback>`)
with the application's writes, and is itself a run that `rollback --run` undoes. Real servers, a
real writer thread; no mock."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mongo_promote.adapters.mongo import collection_options, collection_uuids
from mongo_promote.console import Output
from mongo_promote.domain.plan import load_plan
from mongo_promote.state.context import open_context
from mongo_promote.state.journal import Journal
from mongo_promote.state.step import RunState
from mongo_promote.steps import cutover as cutover_step
from mongo_promote.steps.swap import undo_renames
from tests.integration.conftest import (
    explain,
    index_specs,
    invoke,
    json_out,
    kept_collections,
    run_artifacts,
    snapshot,
    write_plan,
)
from tests.integration.test_cutover_states import cli, rollback_args
from tests.integration.test_run_safety import PEOPLE_PLAN, people_plan, run_args, seed_small
from tests.integration.writer import writing

pytestmark = pytest.mark.integration


def options_of(db: Any) -> dict[str, Any]:
    return {n: collection_options(db, n) for n in sorted(db.list_collection_names())}


def report_of(state: Path, run_id: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((state / "runs" / run_id / "report.json").read_text())
    return data


def events_of(state: Path, run_id: str) -> list[dict[str, Any]]:
    return Journal(state / "runs" / run_id / "journal.jsonl").events()


def promote(servers: Any, name: str, tmp_path: Path, body: str = PEOPLE_PLAN) -> tuple[Path, str]:
    plan = write_plan(tmp_path / "plan.yaml", servers, name, body)
    ran = invoke(run_args(plan, tmp_path, "--yes"))
    assert ran.exit_code == 0, explain(ran)
    return plan, json_out(ran)["run_id"]


def rollback(plan: Path, state: Path, *extra: str) -> Any:
    return invoke(rollback_args(plan, state, *extra))


# ---------------------------------------------------------------- the swap, exact to the byte


def test_the_cutover_keeps_each_replaced_collection_and_journals_both_uuids(
    servers: Any, fresh_name: Any, tmp_path: Path
) -> None:
    name = fresh_name()
    seed_small(servers, name)
    target = servers.target[name]
    before = snapshot(target)
    uuids = collection_uuids(target)

    _, run_id = promote(servers, name, tmp_path)

    report = report_of(tmp_path, run_id)
    kept = {c: f"{c}__prev_{run_id}" for c in ("People", "Orders")}
    assert report["kept_previous"] == kept
    assert {c["collection"]: c["method"] for c in report["cutover"]} == {
        "People": "rename aside, kept",
        "Orders": "rename aside, kept",
    }
    assert all(isinstance(c["window_ms"], float) for c in report["cutover"])
    after = snapshot(target)
    assert {c: after[k] for c, k in kept.items()} == {c: before[c] for c in kept}
    renames = {
        e["collection"]: e for e in events_of(tmp_path, run_id) if e["event"] == "cutover_renames"
    }
    now = collection_uuids(target)
    for c, k in kept.items():
        assert renames[c]["kept_as"] == k
        assert renames[c]["kept_uuid"] == uuids[c] == now[k]  # a rename keeps the UUID
        assert renames[c]["installed_uuid"] == now[c] != uuids[c]
        assert renames[c]["installed_count"] == len(after[c])
    assert run_artifacts(target) == []  # no shadow, no __old_ aside left


def test_instant_rollback_puts_production_back_exactly_by_renames_only(
    servers: Any, fresh_name: Any, tmp_path: Path
) -> None:
    name = fresh_name()
    seed_small(servers, name)
    target = servers.target[name]
    target.People.create_index([("email", 1), ("n", -1)], name="prod_email_n")
    target.create_collection("Journal", capped=True, size=1 << 16)  # options the server keeps
    target.Journal.insert_one({"_id": 1, "entry": "production's own, not in the plan"})
    before = (snapshot(target), index_specs(target), options_of(target))
    plan, run_id = promote(servers, name, tmp_path)

    rolled = rollback(plan, tmp_path, "--run", run_id)

    assert rolled.exit_code == 0, explain(rolled)
    result = json_out(rolled)
    rb = result["run_id"]
    live = (snapshot(target, live_only=True), index_specs(target), options_of(target))
    assert live[0] == before[0]  # every document as raw bytes
    assert live[1] == before[1]  # every index
    assert {k: v for k, v in live[2].items() if "__" not in k} == before[2]  # every option
    assert sorted(result["swapped"]) == ["Orders", "People"]
    assert result["kept_aside"] == {c: f"{c}__undone_{rb}" for c in ("Orders", "People")}
    assert result["backup_dir"] is None and result["collections"] == []
    # renames only: no backup taken, no backup read, nothing loaded, nothing dropped
    keys = [e["key"] for e in events_of(tmp_path, rb) if e["event"] == "action_finished"]
    assert keys == ["preflight", "swap:Orders", "swap:People"]
    assert not (tmp_path / "backups" / rb).exists()
    report = report_of(tmp_path, rb)
    assert report["kept_aside"] == result["kept_aside"] and report["backup"] == {}
    source = snapshot(servers.source[name])
    assert {c: snapshot(target)[a] for c, a in result["kept_aside"].items()} == {
        c: source[c] for c in ("Orders", "People")
    }
    assert report["collections"]["People"]["written_since_cutover"] == (
        "unknown: same count, content not compared"
    )
    assert "written to since the cutover? unknown: same count" in " ".join(rolled.stderr.split())
    assert report["capabilities"]["source"]["flavour"] == "not connected"  # staging not needed


def test_a_rollback_runs_while_staging_is_down(
    servers: Any, fresh_name: Any, tmp_path: Path
) -> None:
    name = fresh_name()
    seed_small(servers, name)
    target = servers.target[name]
    before = snapshot(target)
    plan, run_id = promote(servers, name, tmp_path)

    rolled = rollback(plan, tmp_path, "--run", run_id, "--source-uri", "mongodb://127.0.0.1:1/")

    assert rolled.exit_code == 0, explain(rolled)
    assert snapshot(target, live_only=True) == before


def test_what_the_application_wrote_after_the_cutover_is_kept_aside_and_listed(
    servers: Any, fresh_name: Any, tmp_path: Path
) -> None:
    name = fresh_name()
    seed_small(servers, name)
    target = servers.target[name]
    before = snapshot(target)
    plan, run_id = promote(servers, name, tmp_path)
    installed = [d["_id"] for d in target.People.find({}, {"_id": 1}).sort("_id", 1)]

    def person(_id: str, step: int) -> dict[str, Any]:  # People has a unique index on email
        return {"_id": _id, "email": f"{_id}@app.example", "step": step}

    with writing(
        servers.target_uri, name, "People", existing=installed, rate=60, document=person
    ) as writer:
        while writer.writes.operations < 12:
            writer.stopped.wait(0.05)
    writes = writer.writes
    assert not writes.errors and writes.updated and writes.deleted
    written = snapshot(target)["People"]

    rolled = rollback(plan, tmp_path, "--run", run_id)  # nothing lost: no --allow-target-drift

    assert rolled.exit_code == 0, explain(rolled)
    rb = json_out(rolled)["run_id"]
    assert snapshot(target, live_only=True) == before
    kept = snapshot(target)[f"People__undone_{rb}"]
    assert kept == written  # the promoted collection with every write the application made
    report = report_of(tmp_path, rb)
    people = report["collections"]["People"]
    net = len(writes.inserted) - len(writes.deleted)
    assert people["kept_aside"] == f"People__undone_{rb}"
    if net:
        assert people["written_since_cutover"] == (
            f"yes: {len(installed)} document(s) at cutover, {len(installed) + net} now"
        )
    else:
        assert people["written_since_cutover"] == "unknown: same count, content not compared"
    orders = report["collections"]["Orders"]["written_since_cutover"]
    assert orders == "unknown: same count, content not compared"

    # the exact documents: `validate --run <rollback>` reads them
    checked = invoke(
        ["validate", "--plan", str(plan), "--state-dir", str(tmp_path), "--run", rb, "--json"]
    )
    assert checked.exit_code == 0, explain(checked)
    changes = json_out(checked)["changes"]
    kept_updates = set(writes.updated) - set(writes.deleted)
    assert changes["People"]["added"] == len(writes.inserted)
    assert changes["People"]["changed"] == len(kept_updates)
    assert changes["People"]["missing"] == len(writes.deleted)
    assert (changes["Orders"]["added"], changes["Orders"]["changed"]) == (0, 0)
    assert set(changes["People"]["samples"]["added"]) <= set(writes.inserted)

    # ... and cleanup --dry-run says which kept collection the application wrote to
    dry = invoke(
        [
            "cleanup",
            "--plan",
            str(plan),
            "--state-dir",
            str(tmp_path),
            "--run",
            run_id,
            "--dry-run",
            "--json",
        ]
    )
    assert dry.exit_code == 0, explain(dry)
    found = {c["name"]: c for c in json_out(dry)["collections"]}
    assert found[f"People__undone_{rb}"]["changed"] is True
    assert "written to since the cutover" in found[f"People__undone_{rb}"]["guard"]
    assert found[f"Orders__undone_{rb}"]["changed"] is False
    assert found[f"Orders__undone_{rb}"]["cls"] == "kept_aside"


def test_a_rollback_refuses_when_a_later_run_replaced_a_collection(
    servers: Any, fresh_name: Any, tmp_path: Path
) -> None:
    name = fresh_name()
    seed_small(servers, name)
    target = servers.target[name]
    plan, first = promote(servers, name, tmp_path)
    servers.source[name].People.insert_one({"_id": 99, "email": "later@example.org", "n": 99})
    ran = invoke(run_args(plan, tmp_path, "--yes"))  # a later run replaces both again
    assert ran.exit_code == 0, explain(ran)
    everything = snapshot(target)

    refused = rollback(plan, tmp_path, "--run", first)

    assert refused.exit_code == 1, explain(refused)
    err = " ".join(refused.stderr.split())
    assert "People: not the collection the run installed" in err and "--allow-target-drift" in err
    assert snapshot(target) == everything  # nothing touched, kept ones included


def test_a_previous_collection_gone_comes_back_from_the_backup_in_the_same_rollback(
    servers: Any, fresh_name: Any, tmp_path: Path
) -> None:
    name = fresh_name()
    seed_small(servers, name)
    target = servers.target[name]
    before = (snapshot(target), index_specs(target))
    plan, run_id = promote(servers, name, tmp_path)
    target.drop_collection(f"People__prev_{run_id}")  # as a cleanup would have

    rolled = rollback(plan, tmp_path, "--run", run_id)

    assert rolled.exit_code == 0, explain(rolled)
    result = json_out(rolled)
    assert result["swapped"] == ["Orders"] and result["collections"] == ["People"]
    assert result["dir"] == str(tmp_path / "backups" / run_id)  # the run's backup, loaded
    assert (snapshot(target, live_only=True), index_specs(target)) == before
    rb = result["run_id"]
    assert result["kept_aside"] == {c: f"{c}__undone_{rb}" for c in ("Orders", "People")}
    assert run_artifacts(target) == []


def test_rollback_of_the_rollback_swaps_again(
    servers: Any, fresh_name: Any, tmp_path: Path
) -> None:
    name = fresh_name()
    seed_small(servers, name)
    target = servers.target[name]
    before = snapshot(target, live_only=True)
    plan, run_id = promote(servers, name, tmp_path)
    promoted = snapshot(target, live_only=True)
    first = rollback(plan, tmp_path, "--run", run_id)
    assert first.exit_code == 0, explain(first)
    rb = json_out(first)["run_id"]
    assert json_out(first)["undo"].startswith(f"mongo-promote rollback --run {rb} ")

    again = rollback(plan, tmp_path, "--run", rb)

    assert again.exit_code == 0, explain(again)
    rb2 = json_out(again)["run_id"]
    assert snapshot(target, live_only=True) == promoted  # the promotion is back
    assert json_out(again)["backup_dir"] is None  # renames only, again
    assert {k: v for k, v in kept_collections(target).items()} == {
        f"People__undone_{rb2}": "People",
        f"Orders__undone_{rb2}": "Orders",
    }
    taken = snapshot(target)
    assert {c: taken[f"{c}__undone_{rb2}"] for c in ("People", "Orders")} == {
        c: before[c] for c in ("People", "Orders")
    }
    # the first run is no longer "rolled back": its rollback was undone; undo it once more
    third = rollback(plan, tmp_path, "--run", rb2)
    assert third.exit_code == 0, explain(third)
    assert snapshot(target, live_only=True) == before


def test_keep_previous_false_keeps_the_cutover_and_rollback_of_today(
    servers: Any, fresh_name: Any, tmp_path: Path
) -> None:
    name = fresh_name()
    seed_small(servers, name)
    target = servers.target[name]
    before = snapshot(target)
    plan, run_id = promote(servers, name, tmp_path, people_plan(keep=False))

    report = report_of(tmp_path, run_id)
    methods = {c["method"] for c in report["cutover"]}
    assert methods == (
        {"rename dropTarget"} if servers.caps.rename_drop_target else {"rename aside"}
    )
    assert report["kept_previous"] == {} and kept_collections(target) == {}
    assert run_artifacts(target) == []

    rolled = rollback(plan, tmp_path, "--run", run_id)

    assert rolled.exit_code == 0, explain(rolled)
    result = json_out(rolled)
    assert result["swapped"] == [] and sorted(result["collections"]) == ["Orders", "People"]
    assert result["backup_dir"]  # what it replaced, backed up first, as before
    assert snapshot(target) == before and kept_collections(target) == {}


# ---------------------------------------------------------------- inspect and cleanup


def test_inspect_and_cleanup_treat_previous_and_kept_aside_collections(
    servers: Any, fresh_name: Any, tmp_path: Path
) -> None:
    name = fresh_name()
    seed_small(servers, name)
    target = servers.target[name]
    plan, run_id = promote(servers, name, tmp_path)
    common = ["--plan", str(plan), "--state-dir", str(tmp_path)]

    inspected = invoke(["inspect", "--plan", str(plan), "--json"])
    assert inspected.exit_code == 0, explain(inspected)
    classes = {c["name"]: c["class"] for c in json_out(inspected)["target"]["collections"]}
    assert classes[f"People__prev_{run_id}"] == classes[f"Orders__prev_{run_id}"] == "previous"
    assert classes["People"] == "copy" and classes["old_sessions"] == "unmatched"

    dry = invoke(["cleanup", *common, "--dry-run", "--json"])
    assert dry.exit_code == 0, explain(dry)
    found = {c["name"]: c for c in json_out(dry)["collections"]}
    assert set(found) == {f"People__prev_{run_id}", f"Orders__prev_{run_id}"}
    assert (
        found[f"People__prev_{run_id}"]["count"] == 3
        and found[f"People__prev_{run_id}"]["size"] >= 0
    )
    assert found[f"People__prev_{run_id}"]["cls"] == "previous"
    assert not any(c["changed"] for c in found.values())  # each as the run's backup holds it
    refused = invoke(["cleanup", *common, "--yes"])
    assert refused.exit_code == 1 and "--ignore-age" in refused.stderr  # the age guard
    target[f"Orders__prev_{run_id}"].insert_one({"_id": "someone", "wrote": "here"})
    changed = invoke(["cleanup", *common, "--yes", "--ignore-age"])
    assert changed.exit_code == 1, explain(changed)  # the still-in-use guard
    assert f"--force-collection Orders__prev_{run_id}" in changed.stderr

    done = invoke(
        [
            "cleanup",
            *common,
            "--yes",
            "--ignore-age",
            "--force-collection",
            f"Orders__prev_{run_id}",
            "--json",
        ]
    )

    assert done.exit_code == 0, explain(done)
    data = json_out(done)
    assert sorted(data["dropped"]) == sorted(found)
    assert kept_collections(target) == {} and "old_sessions" in target.list_collection_names()
    assert (Path(data["backup_dir"]) / "manifest.json").exists()  # backed up first

    rolled = rollback(plan, tmp_path, "--run", run_id)  # the previous ones are gone: backup
    assert rolled.exit_code == 0, explain(rolled)
    inspected = invoke(["inspect", "--plan", str(plan), "--json"])
    classes = {c["name"]: c["class"] for c in json_out(inspected)["target"]["collections"]}
    rb = json_out(rolled)["run_id"]
    assert classes[f"People__undone_{rb}"] == classes[f"Orders__undone_{rb}"] == "kept_aside"


# ---------------------------------------------------------------- a run undoing its own renames


def test_undo_renames_puts_production_back_and_resume_cuts_over_again(
    servers: Any, fresh_name: Any, tmp_path: Path
) -> None:
    """What a failure part-way through a frozen cutover calls: the renames made so far undone
    by swapping the previous collections back, the shadows kept for `--resume`."""
    name = fresh_name()
    seed_small(servers, name)
    target = servers.target[name]
    before = (snapshot(target), index_specs(target))
    plan = write_plan(tmp_path / "plan.yaml", servers, name, PEOPLE_PLAN)
    crashed = cli(
        run_args(plan, tmp_path, "--yes"), {cutover_step.CRASH_ENV: "cutover:People:after_aside"}
    )
    assert crashed.returncode == 137, crashed.stderr[-2000:]
    (run_dir,) = (tmp_path / "runs").iterdir()
    run_id = run_dir.name
    assert "People" not in target.list_collection_names()  # the name is missing right now

    loaded = load_plan(plan)
    with open_context(loaded, Output(quiet=True), run_id=run_id, state_dir=tmp_path) as ctx:
        journal = Journal(ctx.paths.journal)
        state = RunState(report=_report(ctx), shadows=["People", "Orders"], journal=journal)
        undone = undo_renames(ctx, state)

    assert undone == ["People", "Orders"]  # newest first
    assert (snapshot(target, live_only=True), index_specs(target)) == (before[0], before[1])
    assert sorted(run_artifacts(target)) == [
        f"Orders__promote_{run_id}",
        f"People__promote_{run_id}",
    ]
    assert kept_collections(target) == {}
    resumed = cli(run_args(plan, tmp_path, "--yes", "--resume", run_id))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    source = snapshot(servers.source[name])
    assert {c: snapshot(target)[c] for c in ("People", "Orders")} == {
        c: source[c] for c in ("People", "Orders")
    }
    assert run_artifacts(target) == []


def _report(ctx: Any) -> Any:
    from mongo_promote.run.sequence import new_state

    return new_state(ctx, [], resumed=True).report
