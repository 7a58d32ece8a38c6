"""Issue 19, "failures that are not one line": a path the user gave that cannot be used is exit 2 in
one line (backup --out, a backup directory the dry-run finds unwritable or without room); a
`--collection` the backup does not hold is exit 2; a server's refusal is its message and code
name; with --json every error is `{"error": {"code", "exit", "message"}}` on stdout; a dry-run
under another run's lock shows its plan, then exits 4."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.cli.helpers import UNREACHABLE, orders_plan, seed_orders
from tests.integration.conftest import explain, footprint, invoke, lock_doc, snapshot

pytestmark = pytest.mark.integration


def one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if not line.startswith("warning:")]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ") and "Traceback" not in stderr
    return lines[0]


def error_json(result: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(result.stdout)
    assert data["schema_version"] == 1, data
    error: dict[str, Any] = data["error"]
    assert error["exit"] == result.exit_code
    assert f"error: {error['message']}" in result.stderr
    return error


def test_backup_out_under_a_file_or_a_place_nothing_can_be_written_is_exit_2(
    dbs: Any, tmp_path: Path
) -> None:
    seed_orders(dbs, source=0, target=3)
    plan = orders_plan(tmp_path, dbs)
    a_file = tmp_path / "afile"
    a_file.write_text("not a directory")
    for out, why in ((a_file / "sub", f"{a_file} is not a directory"), (Path("/proc/mp/x"), "")):
        result = invoke(["backup", "--plan", str(plan), "--out", str(out), "--json"])
        assert result.exit_code == 2, explain(result)
        line = one_line(result.stderr)
        assert f"cannot write the backup to {out}: {why}" in line
        assert error_json(result)["code"] == "bad_path"
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_the_dry_run_checks_the_backup_directory_and_the_run_refuses_it_the_same(
    dbs: Any, tmp_path: Path
) -> None:
    seed_orders(dbs, source=3, target=3)
    plan = orders_plan(tmp_path, dbs)
    before = footprint(dbs.servers, dbs.name)
    (tmp_path / "afile").write_text("x")
    text = plan.read_text()
    for directory, why in (("/proc/mongo-promote", "not enough room: 0 B free"), ("afile/x", "")):
        plan.write_text(text.replace("backup: {dir: ./backups}", f"backup: {{dir: {directory}}}"))
        dry = invoke(["run", "--plan", str(plan), "--dry-run"])
        assert dry.exit_code == 2, explain(dry)
        assert "cannot write the backup to " in one_line(dry.stderr) and why in dry.stderr
        run = invoke(["run", "--plan", str(plan), "--yes"])
        assert run.exit_code == 2, explain(run)
        line = one_line(run.stderr)
        assert "cannot write the backup to " in line and "--resume" not in line
    assert footprint(dbs.servers, dbs.name) == before


def test_restore_of_a_collection_the_backup_does_not_hold_is_exit_2(
    dbs: Any, tmp_path: Path
) -> None:
    seed_orders(dbs, source=0, target=3)
    plan = orders_plan(tmp_path, dbs)
    out = tmp_path / "dump"
    assert invoke(["backup", "--plan", str(plan), "--out", str(out)]).exit_code == 0
    before = snapshot(dbs.target)
    result = invoke(
        ["restore", "--plan", str(plan), "--backup", str(out), "--collection", "Nope", "--yes"]
    )
    assert result.exit_code == 2, explain(result)
    line = one_line(result.stderr)
    assert "holds no collection Nope" in line and "it holds Orders" in line
    assert snapshot(dbs.target) == before


def test_a_server_refusal_is_its_message_and_code_name(dbs: Any, tmp_path: Path) -> None:
    plan = orders_plan(tmp_path, dbs)
    host = dbs.servers.target_uri.removeprefix("mongodb://")
    wrong = f"mongodb://bob:wrongPW@{host}?authMechanism=SCRAM-SHA-256"
    result = invoke(["inspect", "--plan", str(plan), "--target-uri", wrong, "--json"])
    assert result.exit_code == 3, explain(result)
    line = one_line(result.stderr)
    assert "refused: " in line and line.endswith("(AuthenticationFailed)"), line
    assert "full error" not in result.output and "wrongPW" not in result.output
    assert error_json(result)["code"] == "unreachable"


def test_with_json_every_error_is_one_document_on_stdout(dbs: Any, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("version: 1\nsource: [oops]\n")
    invalid = invoke(["inspect", "--plan", str(broken), "--json"])
    assert invalid.exit_code == 2 and error_json(invalid)["code"] == "invalid_plan"
    plan = orders_plan(tmp_path, dbs)
    unreachable = invoke(["validate", "--plan", str(plan), "--source-uri", UNREACHABLE, "--json"])
    assert unreachable.exit_code == 3 and error_json(unreachable)["code"] == "unreachable"
    usage = invoke(["run", "--plan", str(plan), "--json"])  # no terminal, no --yes
    assert usage.exit_code == 2 and error_json(usage)["code"] == "usage"
    no_run = invoke(["rollback", "--plan", str(plan), "--yes", "--json"])
    assert no_run.exit_code == 2 and "no run to roll back" in error_json(no_run)["message"]


def test_a_dry_run_under_another_runs_lock_shows_its_plan_then_exits_4(
    dbs: Any, tmp_path: Path
) -> None:
    seed_orders(dbs, source=3, target=1)
    plan = orders_plan(tmp_path, dbs)
    locks = dbs.servers.target.mongo_promote.locks
    locks.insert_one(lock_doc(dbs.name, "20260101-000000-beef", dt.timedelta(minutes=9)))
    try:
        before = footprint(dbs.servers, dbs.name)
        result = invoke(["run", "--plan", str(plan), "--dry-run"])
        assert result.exit_code == 4, explain(result)
        assert result.stdout.startswith("Plan: 0 to create, 1 to replace")
        assert "dry-run: nothing was written" in result.stdout
        assert "another run holds the lock: run 20260101-000000-beef" in result.stderr
        as_json = invoke(["run", "--plan", str(plan), "--dry-run", "--json"])
        data = json.loads(as_json.stdout)  # one document: the dry-run, its error inside
        assert as_json.exit_code == 4 and data["status"] == "dry_run"
        assert data["error"]["code"] == "lock_held" and data["actions"]["lock_held_by"]
        assert footprint(dbs.servers, dbs.name) == before
        run = invoke(["run", "--plan", str(plan), "--yes", "--json"])
        assert run.exit_code == 4 and error_json(run)["code"] == "lock_held"
    finally:
        locks.delete_one({"_id": dbs.name})


def test_a_state_dir_that_cannot_be_written_is_exit_2_before_anything(
    dbs: Any, tmp_path: Path
) -> None:
    seed_orders(dbs, source=2, target=1)
    plan = orders_plan(tmp_path, dbs)
    a_file = tmp_path / "afile"
    a_file.write_text("x")
    before = footprint(dbs.servers, dbs.name)
    result = invoke(["run", "--plan", str(plan), "--yes", "--state-dir", str(a_file / "state")])
    assert result.exit_code == 2, explain(result)
    assert "cannot write the " in one_line(result.stderr) and f"{a_file} is not a directory" in (
        result.stderr
    )
    assert footprint(dbs.servers, dbs.name) == before
