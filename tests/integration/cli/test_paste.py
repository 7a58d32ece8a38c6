"""Issue 19, "recovery hints do not paste": every command a run prints (console, report.json `undo`,
report.md) is whole and works pasted from another directory; MONGO_PROMOTE_STATE_DIR stands for
--state-dir; `history` never cuts a run id at 80 columns; `servers stop` finds the demo's pair."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest

import mongo_promote.cli.rollback as rollback_command
import mongo_promote.cli.run as run_command
from tests.integration.cli.helpers import orders_plan, seed_orders
from tests.integration.conftest import explain, invoke, json_out, snapshot

pytestmark = pytest.mark.integration

PASTED = re.compile(r"`(mongo-promote [^`]+)`")


def pasted(text: str, verb: str) -> list[str]:
    """The arguments of the `mongo-promote <verb> …` command a message prints, as printed."""
    found = [m for m in PASTED.findall(" ".join(text.split())) if m.split()[1] == verb]
    assert found, text
    return shlex.split(found[0])[1:]


@pytest.fixture
def answers_yes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A person at a terminal who says yes: a pasted command runs exactly as printed."""
    for module in (run_command, rollback_command):
        monkeypatch.setattr(module, "confirmer", lambda: lambda question: True)


def test_the_printed_resume_and_rollback_commands_paste_from_anywhere(
    dbs: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, answers_yes: None
) -> None:
    seed_orders(dbs, source=5, target=2)
    here, elsewhere = tmp_path / "here", tmp_path / "elsewhere"
    here.mkdir()
    elsewhere.mkdir()
    marker = tmp_path / "ready"
    plan = orders_plan(here, dbs)
    plan.write_text(
        plan.read_text().replace(
            'hooks: {after_cutover: ["echo restarted"]}',
            f'hooks: {{before_cutover: ["test -f {marker}"], after_cutover: ["exit 5"]}}',
        )
    )
    before = snapshot(dbs.target)
    monkeypatch.chdir(here)
    failed = invoke(["run", "--plan", "promote.yaml", "--state-dir", "state", "--yes"])
    assert failed.exit_code == 1, explain(failed)
    resume = pasted(failed.stderr, "run")
    assert resume[:2] == ["run", "--resume"]
    assert resume[3:] == ["--plan", str(plan), "--state-dir", str(here / "state")]

    marker.touch()
    monkeypatch.chdir(elsewhere)
    resumed = invoke(resume)  # as printed: the before_cutover hook passes now, the after one fails
    assert resumed.exit_code == 1, explain(resumed)
    run_id = resume[2]
    report = json_out(invoke(["history", *resume[3:], "--json"]))["runs"][0]
    assert report["run_id"] == run_id and report["status"] == "cut_over_hook_failed"
    undo = pasted(resumed.stderr, "rollback")
    assert undo == ["rollback", "--run", run_id, *resume[3:]]
    saved = json_out(invoke(["history", *resume[3:], "--json"]))
    assert saved["current"] == [{"run_id": run_id, "collections": ["Orders"]}]
    report_json = here / "state" / "runs" / run_id / "report.json"
    assert json_out_text(report_json)["undo"] == shlex.join(["mongo-promote", *undo])
    assert (
        f"`{shlex.join(['mongo-promote', *undo])}`"
        in (report_json.parent / "report.md").read_text()
    )

    rolled = invoke(undo)  # pasted as printed, from another directory
    assert rolled.exit_code == 0, explain(rolled)
    assert snapshot(dbs.target, live_only=True) == before


def json_out_text(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def test_the_state_dir_variable_stands_for_the_option(
    dbs: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_orders(dbs, source=3, target=1)
    plan = orders_plan(tmp_path, dbs)
    state = tmp_path / "kept"
    env = {"MONGO_PROMOTE_STATE_DIR": str(state)}
    result = invoke(["run", "--plan", str(plan), "--yes", "--json"], env)
    assert result.exit_code == 0, explain(result)
    run_id = json_out(result)["run_id"]
    assert (state / "runs" / run_id / "report.json").is_file()
    assert (state / "backups" / run_id / "manifest.json").is_file()
    undo = json_out_text(state / "runs" / run_id / "report.json")["undo"]
    assert undo == shlex.join(
        [
            "mongo-promote",
            "rollback",
            "--run",
            run_id,
            "--plan",
            str(plan),
            "--state-dir",
            str(state),
        ]
    )
    listed = invoke(["history", "--plan", str(plan), "--json"], env)
    assert [r["run_id"] for r in json_out(listed)["runs"]] == [run_id]
    # run ids whole at 80 columns, oldest first
    second = invoke(["backup", "--plan", str(plan), "--json"], env)
    assert second.exit_code == 0, explain(second)
    table = invoke(["history", "--plan", str(plan)], {**env, "COLUMNS": "80"})
    assert table.exit_code == 0, explain(table)
    assert max(len(line) for line in table.stdout.splitlines()) <= 80
    ids = [run_id, json_out(second)["run_id"]]
    found = re.findall(r"\b\d{8}-\d{6}-[0-9a-f]{4}\b", table.stdout)
    assert list(dict.fromkeys(i for i in found if i in ids)) == ids
    assert f"production holds now: run {run_id} (1 collection(s))" in table.stdout


def test_servers_stop_finds_the_demos_pair_or_says_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    demo_servers = tmp_path / "mongo-promote-demo" / "servers"  # where `demo --keep` leaves them
    started = invoke(["servers", "start", "--state-dir", str(demo_servers), "--engine", "ferretdb"])
    assert started.exit_code == 0, explain(started)
    try:
        status = invoke(["servers", "status"])
        assert status.exit_code == 0 and status.stdout.count("running") == 2, explain(status)
        stopped = invoke(["servers", "stop"])
        assert stopped.exit_code == 0, explain(stopped)
        assert stopped.stdout.startswith("stopped 2 server(s): mongodb://127.0.0.1:")
    finally:
        invoke(["servers", "stop", "--state-dir", str(demo_servers)])
    again = invoke(["servers", "stop"])
    assert again.exit_code == 0
    assert "no local servers running (looked in " in again.stdout
    assert str(demo_servers) in again.stdout and str(tmp_path / ".mongo-promote") in again.stdout
