"""Hooks at every stage of a real run: order, environment, and what a failure means at each stage
(before_*: nothing changes; after_cutover: exit 1 and the rollback command; on_failure: on any
failure or interrupt, never masking the run's own error); --no-hooks; the dry-run lists them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import (
    SAFE_ENV,
    environment_without_uris,
    explain,
    footprint,
    invoke,
    json_out,
    run_artifacts,
    snapshot,
    write_plan,
)
from tests.integration.test_run_safety import PEOPLE_PLAN, run_args, seed_small

pytestmark = pytest.mark.integration

ENV = {"GREETING": "hello"}
LOG = 'echo "$MONGO_PROMOTE_STAGE|$MONGO_PROMOTE_STATUS|$MONGO_PROMOTE_RUN_ID|$GREETING" >> {log}'


def hooks_plan(tmp_path: Path, servers: Any, name: str, **stages: list[Any]) -> tuple[Path, Path]:
    """A plan whose hooks are `stages` (each command may use {log}); every stage also logs."""
    log = tmp_path / "hooks.log"
    hooks: dict[str, Any] = {"timeout": "20s"}
    for stage in ("before_backup", "before_cutover", "after_cutover", "on_failure"):
        extra = [
            c.format(log=log) if isinstance(c, str) else {**c, "run": c["run"].format(log=log)}
            for c in stages.get(stage, [])
        ]
        hooks[stage] = [LOG.format(log=log), *extra]
    plan = write_plan(tmp_path / "plan.yaml", servers, name, PEOPLE_PLAN)
    text = plan.read_text().replace('hooks: {after_cutover: ["echo restarted"]}\n', "")
    plan.write_text(text + "hooks: " + json.dumps(hooks) + "\n")
    return plan, log


def logged(log: Path) -> list[list[str]]:
    return [line.split("|") for line in log.read_text().splitlines()] if log.exists() else []


def test_hooks_run_at_their_stage_with_the_run_in_their_environment(
    servers: Any, fresh_name: Any, tmp_path: Path
) -> None:
    name = fresh_name()
    seed_small(servers, name)
    plan, log = hooks_plan(tmp_path, servers, name)

    dry = invoke(run_args(plan, tmp_path, "--dry-run"), ENV)
    assert dry.exit_code == 0, explain(dry)
    planned = [a["key"] for a in json_out(dry)["actions"]["planned"]]
    assert planned.index("hook:before_backup:0") < planned.index("backup")
    assert planned.index("drift-guard") < planned.index("hook:before_cutover:0")
    assert planned.index("hook:before_cutover:0") < planned.index("cutover:People")
    assert planned.index("hook:after_cutover:0") < planned.index("post-checks")
    assert "hook:on_failure:0" in planned
    assert not log.exists()  # the dry-run runs nothing

    result = invoke(run_args(plan, tmp_path, "--yes"), ENV)

    assert result.exit_code == 0, explain(result)
    run_id = json_out(result)["run_id"]
    assert logged(log) == [
        ["before_backup", "running", run_id, "hello"],
        ["before_cutover", "validated", run_id, "hello"],
        ["after_cutover", "cut_over", run_id, "hello"],
    ]
    report = json.loads(Path(json_out(result)["report"]).read_text())
    assert [h["stage"] for h in report["hooks"]] == [
        "before_backup",
        "before_cutover",
        "after_cutover",
    ]


@pytest.mark.parametrize("stage", ["before_backup", "before_cutover"])
def test_a_failing_before_hook_stops_the_run_before_anything_changes(
    servers: Any, fresh_name: Any, tmp_path: Path, stage: str
) -> None:
    name = fresh_name()
    seed_small(servers, name)
    plan, log = hooks_plan(
        tmp_path, servers, name, **{stage: ["echo refusing; exit 3"], "on_failure": ["exit 9"]}
    )
    before = snapshot(servers.target[name])

    result = invoke(run_args(plan, tmp_path, "--yes"), ENV)

    assert result.exit_code == 1, explain(result)
    err = " ".join(result.stderr.split())
    assert f"{stage} hook exited 3" in err and "refusing" in err
    assert "production untouched" in err
    assert "on_failure hook failed" in err  # reported, and the run's own error still stands
    assert snapshot(servers.target[name]) == before
    assert run_artifacts(servers.target[name]) == []
    stages = [entry[0] for entry in logged(log)]
    assert stages[-1] == "on_failure" and logged(log)[-1][1] == "failed"
    assert "after_cutover" not in stages
    if stage == "before_backup":
        assert not (tmp_path / "backups").exists()


def test_a_failing_after_cutover_hook_exits_1_cut_over_with_the_rollback_command(
    servers: Any, fresh_name: Any, tmp_path: Path
) -> None:
    name = fresh_name()
    seed_small(servers, name)
    plan, log = hooks_plan(tmp_path, servers, name, after_cutover=["exit 5"])

    result = invoke(run_args(plan, tmp_path, "--yes"), ENV)

    assert result.exit_code == 1, explain(result)
    (run_dir,) = (tmp_path / "runs").iterdir()
    report = json.loads((run_dir / "report.json").read_text())
    assert report["status"] == "cut_over_hook_failed"
    undo = f"mongo-promote rollback --run {run_dir.name} --plan {plan}"  # runs next to the plan
    assert undo in " ".join(result.stderr.split()) and report["undo"] == undo
    assert snapshot(servers.target[name])["People"] == snapshot(servers.source[name])["People"]
    assert logged(log)[-1][:2] == ["on_failure", "cut_over_hook_failed"]
    # what the cutover installed, though the post-checks did not run (never "-")
    people = servers.source[name].People.count_documents({})
    assert report["collections"]["People"]["target_count_after"] == people > 0


def test_a_timed_out_after_cutover_hook_is_killed_and_fails_the_run(
    servers: Any, fresh_name: Any, tmp_path: Path
) -> None:
    name = fresh_name()
    seed_small(servers, name)
    plan, _ = hooks_plan(
        tmp_path, servers, name, after_cutover=[{"run": "sleep 60", "timeout": "1s"}]
    )

    result = invoke(run_args(plan, tmp_path, "--yes"), ENV)

    assert result.exit_code == 1, explain(result)
    assert "after_cutover hook timed out" in " ".join(result.stderr.split())
    (run_dir,) = (tmp_path / "runs").iterdir()
    report = json.loads((run_dir / "report.json").read_text())
    after = [h for h in report["hooks"] if h["stage"] == "after_cutover"]
    assert after[-1]["timed_out"] is True and report["status"] == "cut_over_hook_failed"
    assert after[-1]["seconds"] < 30  # killed after its 1 s, not left to sleep


@pytest.mark.parametrize("signal_name", ["INT", "TERM"])
def test_on_failure_runs_when_the_run_is_interrupted_by_sigint_or_sigterm(
    servers: Any, fresh_name: Any, tmp_path: Path, signal_name: str
) -> None:
    """The before_cutover hook signals the tool itself ($PPID of its shell): exit 130, the
    hook's process group killed, production untouched, on_failure told `interrupted`."""
    name = fresh_name()
    seed_small(servers, name)
    plan, log = hooks_plan(
        tmp_path, servers, name, before_cutover=[f"kill -{signal_name} $PPID; sleep 30"]
    )
    before = footprint(servers, name)

    proc = subprocess.run(
        [sys.executable, "-m", "mongo_promote", *run_args(plan, tmp_path, "--yes")],
        env={**environment_without_uris(), **SAFE_ENV, **ENV},
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )

    assert proc.returncode == 130, proc.stderr[-3000:]
    assert "--resume" in proc.stderr
    assert logged(log)[-1][:2] == ["on_failure", "interrupted"]
    assert footprint(servers, name)[3] == before[3]  # production's documents as they were
    assert run_artifacts(servers.target[name]) == []


def test_no_hooks_skips_every_stage_and_says_so(
    servers: Any, fresh_name: Any, tmp_path: Path
) -> None:
    name = fresh_name()
    seed_small(servers, name)
    plan, log = hooks_plan(tmp_path, servers, name)

    result = invoke(run_args(plan, tmp_path, "--yes", "--no-hooks"), ENV)

    assert result.exit_code == 0, explain(result)
    assert not log.exists()
    assert "before_backup hook(s) skipped (--no-hooks)" in result.stderr
    report = json.loads(Path(json_out(result)["report"]).read_text())
    assert {h["stage"] for h in report["hooks"]} == {
        "before_backup",
        "before_cutover",
        "after_cutover",
    }
    assert all(h["skipped"] == "--no-hooks" for h in report["hooks"])
