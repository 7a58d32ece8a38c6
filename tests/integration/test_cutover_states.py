"""Every intermediate state of a cutover, made by a real crash (the CRASH_ENV test hook of
steps/cutover.py: os._exit(137) between two renames), then finished by `--resume` or undone by
`rollback`; and the per-collection guards: drift right before a rename, a created name taken,
a name re-created between the two renames, a rollback that would lose production writes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mongo_promote.steps import cutover as cutover_step
from tests.integration.conftest import (
    SAFE_ENV,
    environment_without_uris,
    explain,
    index_specs,
    invoke,
    json_out,
    kept_collections,
    run_artifacts,
    snapshot,
    write_plan,
)
from tests.integration.test_run_safety import (
    KEEP_MODES,
    PEOPLE_PLAN,
    people_plan,
    run_args,
    seed_small,
)

pytestmark = pytest.mark.integration


def cli(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI in a process of its own (a crash ends only that process)."""
    return subprocess.run(
        [sys.executable, "-m", "mongo_promote", *args],
        env={**environment_without_uris(), **SAFE_ENV, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )


def rollback_args(plan: Path, state: Path, *extra: str) -> list[str]:
    return ["rollback", "--plan", str(plan), "--state-dir", str(state), "--json", "--yes", *extra]


def only_run(state: Path) -> str:
    (run_dir,) = (state / "runs").iterdir()
    return run_dir.name


CRASH_POINTS = [
    "People:before_rename",
    "People:after_aside",
    "People:after_install",
    "Orders:before_rename",
    "Orders:after_aside",
]


@pytest.mark.parametrize("keep", KEEP_MODES)
@pytest.mark.parametrize("then", ["resume", "rollback"])
@pytest.mark.parametrize("point", CRASH_POINTS)
def test_a_crash_at_every_point_of_the_cutover_is_finished_or_undone_exactly(
    servers: Any, fresh_name: Any, tmp_path: Path, point: str, then: str, keep: bool
) -> None:
    # with one atomic rename (dropTarget, nothing kept) the name is never missing
    no_window = "after_aside" in point and servers.caps.rename_drop_target and not keep
    name = fresh_name()
    seed_small(servers, name)
    plan = write_plan(tmp_path / "plan.yaml", servers, name, people_plan(keep))
    target, source = servers.target[name], servers.source[name]
    before = (snapshot(target), index_specs(target))

    crashed = cli(
        run_args(plan, tmp_path, "--yes"),
        {cutover_step.CRASH_ENV: f"cutover:{point}"},
    )
    run_id = only_run(tmp_path)
    if no_window:  # one atomic rename (dropTarget): that state cannot exist, the run completes
        assert crashed.returncode == 0, crashed.stderr[-3000:]
        then = "rollback"
    else:
        assert crashed.returncode == 137, crashed.stderr[-3000:]

    if then == "resume":
        resumed = cli(run_args(plan, tmp_path, "--yes", "--resume", run_id))
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        assert json.loads(resumed.stdout)["status"] == "succeeded"
        after = snapshot(target)
        kept = {f"{c}__prev_{run_id}": before[0][c] for c in ("People", "Orders")} if keep else {}
        assert after == {
            **before[0],
            "People": snapshot(source)["People"],
            "Orders": snapshot(source)["Orders"],
            **kept,  # the previous collections, byte for byte
        }
    else:
        rolled = cli(rollback_args(plan, tmp_path, "--run", run_id))
        assert rolled.returncode == 0, rolled.stderr[-3000:]
        assert (snapshot(target, live_only=True), index_specs(target)) == before
        if point.startswith("Orders:before_rename"):  # first in order: nothing was renamed
            assert "nothing to roll back" in rolled.stderr
            assert all("__promote_" in a for a in run_artifacts(target))  # shadows: untouched
            return
        taken_out = kept_collections(target)  # what the rollback took out: the run's own data
        installed = point.startswith("People:")  # Orders, first in order, was cut over
        assert all("__undone_" in k for k in taken_out) and bool(taken_out) == (keep and installed)
        for aside, collection in taken_out.items():
            assert snapshot(target)[aside] == snapshot(source)[collection]
    assert run_artifacts(target) == []
    assert servers.target.mongo_promote.locks.find_one({"_id": name}) is None


@pytest.mark.parametrize("keep", KEEP_MODES)
def test_drift_right_before_a_rename_stops_there_and_rollback_undoes_the_renames_made(
    servers: Any, fresh_name: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keep: bool
) -> None:
    """A production write lands in the second collection after the first one's cutover began:
    the second is not cut over (the write would be lost), the first is; rollback undoes it only."""
    name = fresh_name()
    seed_small(servers, name)
    plan = write_plan(tmp_path / "plan.yaml", servers, name, people_plan(keep))
    target = servers.target[name]
    before = snapshot(target)
    original = cutover_step.guard
    order: list[str] = []

    def write_then_guard(ctx: Any, state: Any, coll: str, **how: Any) -> str | None:
        order.append(coll)  # the first collection's cutover began: its guard's look
        if len(order) == 1:
            other = "Orders" if coll == "People" else "People"
            target[other].insert_one({"_id": 7777, "email": "during@the.cutover"})
        return original(ctx, state, coll, **how)

    monkeypatch.setattr(cutover_step, "guard", write_then_guard)
    result = invoke(run_args(plan, tmp_path, "--yes"))
    monkeypatch.setattr(cutover_step, "guard", original)

    assert result.exit_code == 1, explain(result)
    first, second = order[0], ("Orders" if order[0] == "People" else "People")
    err = " ".join(result.stderr.split())
    was = len(before[second])
    assert f"{second}: {was} document(s) at the backup, {was + 1} now" in err
    assert f"already cut over {first}" in err and "rollback --run" in err and "--resume" in err
    assert target[second].find_one({"_id": 7777}) is not None  # production's write kept
    assert snapshot(target)[first] == snapshot(servers.source[name])[first]

    rolled = invoke(rollback_args(plan, tmp_path, "--run", only_run(tmp_path)))

    assert rolled.exit_code == 0, explain(rolled)
    after = snapshot(target)
    assert after[first] == before[first]
    assert len(after[second]) == was + 1  # the write is still there
    assert run_artifacts(target) == []
    assert list(kept_collections(target).values()) == ([first] if keep else [])


def test_a_collection_production_created_meanwhile_is_not_replaced(
    servers: Any, fresh_name: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = fresh_name()
    seed_small(servers, name)
    servers.target[name].People.drop()  # the run will create People (cut over after Orders)
    plan = write_plan(tmp_path / "plan.yaml", servers, name, PEOPLE_PLAN)
    target = servers.target[name]
    original = cutover_step.guard

    def production_creates_people(ctx: Any, state: Any, coll: str, **how: Any) -> str | None:
        if coll == "Orders":  # after every collection was looked at, before People's rename
            target.People.insert_one({"_id": "prod", "made": "by the application"})
        return original(ctx, state, coll, **how)

    monkeypatch.setattr(cutover_step, "guard", production_creates_people)
    result = invoke(run_args(plan, tmp_path, "--yes"))

    assert result.exit_code == 1, explain(result)
    assert "People did not exist at the backup and exists now" in " ".join(result.stderr.split())
    assert [d["_id"] for d in target.People.find()] == ["prod"]


@pytest.mark.parametrize("keep", KEEP_MODES)
def test_a_name_recreated_between_the_two_renames_is_put_back_with_its_writes(
    servers: Any, fresh_name: Any, tmp_path: Path, keep: bool
) -> None:
    name = fresh_name()
    seed_small(servers, name)
    plan = write_plan(tmp_path / "plan.yaml", servers, name, people_plan(keep))
    target = servers.target[name]
    before = snapshot(target, live_only=True)
    crashed = cli(
        run_args(plan, tmp_path, "--yes"), {cutover_step.CRASH_ENV: "cutover:People:after_aside"}
    )
    if servers.caps.rename_drop_target and not keep:  # one atomic rename: no re-created name
        assert crashed.returncode == 0, crashed.stderr[-3000:]
        assert snapshot(target)["People"] == snapshot(servers.source[name])["People"]
        return
    assert crashed.returncode == 137
    run_id = only_run(tmp_path)
    target.People.insert_one({"_id": 4242, "email": "new@example.org"})  # re-creates the name

    resumed = cli(run_args(plan, tmp_path, "--yes", "--resume", run_id))

    assert resumed.returncode == 1, resumed.stderr[-3000:]
    err = " ".join(resumed.stderr.split())
    assert "re-created" in err and "People" in err and "1 document(s)" in err
    people = snapshot(target)["People"]
    assert len(people) == len(before["People"]) + 1  # production's data and the new write
    assert set(before["People"]) <= set(people)

    rolled = cli(rollback_args(plan, tmp_path, "--run", run_id))
    assert rolled.returncode == 0, rolled.stderr[-3000:]
    after = snapshot(target, live_only=True)
    assert after["People"] == people and after["Orders"] == before["Orders"]
    assert run_artifacts(target) == []


# ---------------------------------------------------------------- rollback, safe by construction


def test_rollback_after_a_run_that_failed_before_cutover_touches_nothing(
    servers: Any, fresh_name: Any, tmp_path: Path
) -> None:
    name = fresh_name()
    seed_small(servers, name, duplicate_emails=True)  # the unique index fails the run
    plan = write_plan(tmp_path / "plan.yaml", servers, name, PEOPLE_PLAN)
    failed = invoke(run_args(plan, tmp_path, "--yes"))
    assert failed.exit_code == 1, explain(failed)
    servers.target[name].People.insert_one({"_id": 999, "email": "written@after.the.run"})
    before = snapshot(servers.target[name])
    runs = sorted((tmp_path / "runs").iterdir())

    rolled = invoke(rollback_args(plan, tmp_path))

    assert rolled.exit_code == 0, explain(rolled)
    assert "nothing to roll back" in rolled.stderr
    assert json_out(rolled)["nothing_to_do"]
    assert snapshot(servers.target[name]) == before
    assert sorted((tmp_path / "runs").iterdir()) == runs  # no rollback run either


def test_rollback_refuses_to_lose_production_writes_unless_told_and_can_itself_be_undone(
    servers: Any, fresh_name: Any, tmp_path: Path
) -> None:
    """keep_previous: false, the rollback from the backup (with the previous collections kept,
    nothing is lost and nothing refused: test_instant_rollback.py)."""
    name = fresh_name()
    seed_small(servers, name)
    plan = write_plan(tmp_path / "plan.yaml", servers, name, people_plan(keep=False))
    target = servers.target[name]
    before = snapshot(target)
    ran = invoke(run_args(plan, tmp_path, "--yes"))
    assert ran.exit_code == 0, explain(ran)
    run_id = json_out(ran)["run_id"]
    target.People.insert_one({"_id": 4243, "email": "after@cutover.org"})
    live = snapshot(target)

    refused = invoke(rollback_args(plan, tmp_path, "--run", run_id))

    assert refused.exit_code == 1, explain(refused)
    err = " ".join(refused.stderr.split())
    assert "People: 12 document(s) at cutover, 13 now" in err and "--allow-target-drift" in err
    assert "Orders" not in err.split("cut over:")[1].split(".")[0]
    assert snapshot(target) == live

    rolled = invoke(rollback_args(plan, tmp_path, "--run", run_id, "--allow-target-drift"))

    assert rolled.exit_code == 0, explain(rolled)
    result = json_out(rolled)
    assert snapshot(target) == before
    assert result["undo"] == f"mongo-promote rollback --run {result['run_id']} --plan {plan}"
    undone = invoke(rollback_args(plan, tmp_path, "--run", result["run_id"]))
    assert undone.exit_code == 0, explain(undone)
    assert snapshot(target) == live  # the rollback undone: the write is back
