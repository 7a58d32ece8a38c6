"""What a run must never do to production: each failure mode leaves the live collections as they were.

Small plans of our own (written into tmp_path, hooks `echo restarted`) keep most tests fast; the
kill-and-resume test uses the bundled Meeshy plan and compares its result with the uninterrupted
promotion of identical data made by the `meeshy_run` session fixture.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from mongo_promote.state import context as context_module
from mongo_promote.steps import cutover as cutover_step
from mongo_promote.steps.validate import step as validate_step
from tests.integration.conftest import (
    SAFE_ENV,
    MeeshyRun,
    by_kept_collection,
    environment_without_uris,
    explain,
    footprint,
    index_specs,
    invoke,
    journal_events,
    json_out,
    kill_when_journalled,
    live_part,
    lock_doc,
    meeshy_env,
    run_artifacts,
    seed_meeshy,
    snapshot,
    write_plan,
)

pytestmark = pytest.mark.integration

PEOPLE_PLAN = """\
collections:
  include: ["People", "Orders"]
  legacy: ["re:^old_"]
indexes:
  People:
    - {keys: {email: 1}, unique: true, name: uniq_people_email}
"""


# The cutover keeps each replaced collection as <name>__prev_<run> (the default) or replaces it
# as before (one dropTarget rename where the server has it): every recovery path, both ways.
KEEP_MODES = [pytest.param(True, id="keep-previous"), pytest.param(False, id="no-keep")]


def people_plan(keep: bool) -> str:
    return PEOPLE_PLAN + ("" if keep else "cutover: {keep_previous: false}\n")


def seed_small(servers: Any, name: str, *, duplicate_emails: bool = False) -> None:
    """Source: People (unique emails unless asked) and Orders; target: older copies plus legacy."""
    source, target = servers.source[name], servers.target[name]
    emails = [f"user{i % 4 if duplicate_emails else i}@example.org" for i in range(12)]
    source.People.insert_many([{"_id": i, "email": e, "n": i} for i, e in enumerate(emails)])
    source.Orders.insert_many([{"_id": i, "person": i % 12, "total": i * 1.5} for i in range(30)])
    target.People.insert_many([{"_id": 100 + i, "email": f"old{i}@example.org"} for i in range(3)])
    target.Orders.insert_many([{"_id": 500 + i, "person": 100, "total": 1.0} for i in range(5)])
    target.old_sessions.insert_many([{"_id": i, "user": i} for i in range(4)])


def run_args(plan: Path, state: Path, *extra: str) -> list[str]:
    return ["run", "--plan", str(plan), "--state-dir", str(state), "--json", *extra]


# ---------------------------------------------------------------- (a) unique index


def test_unique_index_violation_fails_before_cutover(
    servers: Any, fresh_name: Any, tmp_path: Path
) -> None:
    name = fresh_name()
    seed_small(servers, name, duplicate_emails=True)
    plan = write_plan(tmp_path / "plan.yaml", servers, name, PEOPLE_PLAN)
    before = snapshot(servers.target[name])

    result = invoke(run_args(plan, tmp_path, "--yes"))

    assert result.exit_code == 1, explain(result)
    assert "uniq_people_email" in result.stderr
    assert "user0@example.org" in result.stderr  # the offending key value is named
    assert snapshot(servers.target[name]) == before  # byte for byte, and no shadow left
    assert run_artifacts(servers.target[name]) == []
    assert servers.target.mongo_promote.locks.find_one({"_id": name}) is None
    (run_dir,) = (tmp_path / "runs").iterdir()
    report = json.loads((run_dir / "report.json").read_text())
    assert report["status"] == "failed" and "uniq_people_email" in report["error"]
    assert report["cutover"] == []


# ---------------------------------------------------------------- (b) lock


def test_lock_held_by_another_run_refuses_and_writes_nothing(
    servers: Any, fresh_name: Any, tmp_path: Path
) -> None:
    name = fresh_name()
    seed_small(servers, name)
    plan = write_plan(tmp_path / "plan.yaml", servers, name, PEOPLE_PLAN)
    locks = servers.target.mongo_promote.locks
    locks.insert_one(lock_doc(name, "other", dt.timedelta(minutes=10)))
    before = footprint(servers, name)

    result = invoke(run_args(plan, tmp_path, "--yes"))

    assert result.exit_code == 4, explain(result)
    assert "other" in result.stderr and "elsewhere" in result.stderr  # names the holder
    assert footprint(servers, name) == before  # the lock too: still the other run's
    assert not (tmp_path / "backups").exists()

    # an expired lease can be taken over, and is released when the run ends
    locks.update_one(
        {"_id": name},
        {"$set": {"lease_expires_at": dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)}},
    )
    result = invoke(run_args(plan, tmp_path, "--yes"))
    assert result.exit_code == 0, explain(result)
    assert json_out(result)["status"] == "succeeded"
    assert locks.find_one({"_id": name}) is None
    after = snapshot(servers.target[name])
    source = snapshot(servers.source[name])
    assert after["People"] == source["People"] and after["Orders"] == source["Orders"]
    assert after["old_sessions"] == before[3]["old_sessions"]


# ---------------------------------------------------------------- (c) kill -9 and resume


@pytest.mark.timeout(400)  # the session's Meeshy run may be built first (about a minute)
def test_kill_mid_copy_leaves_production_and_resume_matches_uninterrupted(
    servers: Any, fresh_name: Any, tmp_path: Path, meeshy_run: MeeshyRun
) -> None:
    assert meeshy_run.run.exit_code == 0, explain(meeshy_run.run)
    name = fresh_name("kill")
    seed_meeshy(servers, name)  # the same data the uninterrupted reference run promoted
    target = servers.target[name]
    before = snapshot(target)
    env = meeshy_env(servers, name, tmp_path / "backups")
    common = ["--plan", "meeshy", "--state-dir", str(tmp_path), "--json", "--yes"]
    run_id = kill_when_journalled(
        ["run", *common, "--workers", "1"],
        env,
        tmp_path,
        lambda events: any(e["event"] == "copied" for e in events),
    )

    journal = tmp_path / "runs" / run_id / "journal.jsonl"
    events = [json.loads(line) for line in journal.read_text().splitlines()]
    copied = [e["collection"] for e in events if e["event"] == "copied"]
    started = [e["key"] for e in events if e["event"] == "action_started"]
    assert copied and started[-1] == "copy", started  # killed inside the copy, before indexes
    assert len(copied) < len(meeshy_run.source_before) - 1, "killed after the copy had finished"
    assert run_artifacts(target), "the killed run left its shadows for --resume"
    # production's live collections are exactly as they were
    assert snapshot(target, live_only=True) == before

    # while its lease is live and its holder may still be running (another host), neither a new
    # run nor a resume of that very run may take the lock ...
    locks = servers.target.mongo_promote.locks
    held = locks.find_one({"_id": name})
    assert held is not None and held["run_id"] == run_id and held["pid"] != os.getpid()
    locks.update_one({"_id": name}, {"$set": {"host": "elsewhere"}})
    for args in (["run", *common], ["run", *common, "--resume", run_id]):
        refused = invoke(args, env)
        assert refused.exit_code == 4, explain(refused)
        assert run_id in refused.stderr and "elsewhere" in refused.stderr
        assert str(held["pid"]) in refused.stderr
    assert snapshot(target, live_only=True) == before

    # ... but on this host its process is provably gone: the run resumes at once, skipping
    # what it had finished
    locks.update_one({"_id": name}, {"$set": {"host": held["host"]}})
    resumed = invoke(["run", *common, "--resume", run_id], env)
    assert resumed.exit_code == 0, explain(resumed)
    assert json_out(resumed)["status"] == "succeeded"
    assert json_out(resumed)["run_id"] == run_id
    events = [json.loads(line) for line in journal.read_text().splitlines()]
    recopied = [e["collection"] for e in events if e["event"] == "copied"]
    assert sorted(recopied) == sorted(set(recopied)), "a finished collection was copied again"
    assert set(copied) <= set(recopied)
    report = json.loads((tmp_path / "runs" / run_id / "report.json").read_text())
    assert report["resumed"] is True
    # an honest record: the killed attempt, then the resume, under the same id (issue 19)
    assert [a["outcome"] for a in report["attempts"]] == ["interrupted", "succeeded"]
    assert report["started_at"] == report["attempts"][0]["started_at"] < report["finished_at"]

    # the result is the uninterrupted run's result on the same data, byte for byte
    assert run_artifacts(target) == []
    assert servers.target.mongo_promote.locks.find_one({"_id": name}) is None
    after = snapshot(target)
    assert live_part(after) == live_part(meeshy_run.target_after)
    assert by_kept_collection(after) == by_kept_collection(meeshy_run.target_after)
    assert index_specs(target) == index_specs(servers.target[meeshy_run.name])


# ---------------------------------------------------------------- (d) resume under a changed plan


def test_resume_with_a_changed_plan_is_refused(
    servers: Any, fresh_name: Any, tmp_path: Path
) -> None:
    name = fresh_name()
    seed_small(servers, name, duplicate_emails=True)
    plan = write_plan(tmp_path / "plan.yaml", servers, name, PEOPLE_PLAN)
    failed = invoke(run_args(plan, tmp_path, "--yes", "--keep-shadows"))
    assert failed.exit_code == 1, explain(failed)
    (run_dir,) = (tmp_path / "runs").iterdir()
    kept = footprint(servers, name)
    assert run_artifacts(servers.target[name]), "--keep-shadows kept them"

    plan.write_text(plan.read_text().replace("uniq_people_email", "people_email"))
    result = invoke(run_args(plan, tmp_path, "--yes", "--resume", run_dir.name))

    assert result.exit_code == 2, explain(result)
    assert "different plan" in result.stderr and run_dir.name in result.stderr
    assert footprint(servers, name) == kept  # nothing written, not even the lock


# ---------------------------------------------------------------- (e) no --yes without a terminal


def test_non_interactive_run_without_yes_refuses(
    servers: Any, fresh_name: Any, tmp_path: Path
) -> None:
    name = fresh_name()
    seed_small(servers, name)
    plan = write_plan(tmp_path / "plan.yaml", servers, name, PEOPLE_PLAN)
    before = footprint(servers, name)

    result = invoke(run_args(plan, tmp_path))

    assert result.exit_code == 2, explain(result)
    assert "--yes" in result.stderr
    assert footprint(servers, name) == before
    assert sorted(tmp_path.iterdir()) == [plan]  # no run directory, no backup


# ---------------------------------------------------------------- (f) drift guard


def test_drift_guard_stops_when_production_changes_after_its_backup(
    servers: Any, fresh_name: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer changes production while the run validates: cutover would lose that write."""
    name = fresh_name()
    seed_small(servers, name)
    plan = write_plan(tmp_path / "plan.yaml", servers, name, PEOPLE_PLAN)
    target = servers.target[name]
    original = validate_step.validate_shadows
    late_writes: list[int] = []

    def validate_then_write(*args: Any, **kwargs: Any) -> Any:
        late_writes.append(len(late_writes))
        target.Orders.insert_one({"_id": 900 + len(late_writes), "late": True})
        return original(*args, **kwargs)

    monkeypatch.setattr(validate_step, "validate_shadows", validate_then_write)
    before = snapshot(target)

    result = invoke(run_args(plan, tmp_path, "--yes"))

    assert late_writes, "the pipeline no longer validates through validate_shadows"
    assert result.exit_code == 1, explain(result)
    assert "Orders" in result.stderr and "--allow-target-drift" in result.stderr
    assert "People" not in result.stderr.split("changed since its backup")[-1].split(";")[0]
    after = snapshot(target)
    assert after["People"] == before["People"] and after["old_sessions"] == before["old_sessions"]
    late = [d for d in servers.target[name].Orders.find() if d.get("late")]
    assert len(late) == 1 and len(after["Orders"]) == len(before["Orders"]) + 1  # the write kept
    assert run_artifacts(target) == []
    assert servers.target.mongo_promote.locks.find_one({"_id": name}) is None

    # overriding is possible, and recorded in the report
    result = invoke(run_args(plan, tmp_path, "--yes", "--allow-target-drift"))
    assert result.exit_code == 0, explain(result)
    report = json.loads(Path(json_out(result)["report"]).read_text())
    assert report["drift"]["overridden"] is True
    assert [d["collection"] for d in report["drift"]["changed"]] == ["Orders"]
    assert snapshot(target)["Orders"] == snapshot(servers.source[name])["Orders"]


# ---------------------------------------------------------------- validation compares content


def test_validate_finds_a_changed_value_that_counts_would_miss(
    servers: Any, fresh_name: Any, tmp_path: Path
) -> None:
    name = fresh_name()
    seed_small(servers, name)
    plan = write_plan(tmp_path / "plan.yaml", servers, name, PEOPLE_PLAN)
    assert invoke(run_args(plan, tmp_path, "--yes")).exit_code == 0
    assert invoke(["validate", "--plan", str(plan)]).exit_code == 0
    servers.target[name].Orders.update_one({"_id": 3}, {"$set": {"total": 999.0}})

    result = invoke(["validate", "--plan", str(plan), "--json"])

    # found (the count is the same), and, after a cutover, an edit is the application's: a
    # warning in every row that sees it, with the document named (issue 19: one verdict)
    assert result.exit_code == 0, explain(result)
    report = json_out(result)
    flagged = {
        (c["kind"], c["collection"], c["severity"]) for c in report["checks"] if not c["passed"]
    }
    assert flagged == {("checksum", "Orders", "warning"), ("changes", "Orders", "warning")}
    changes = next(c for c in report["checks"] if c["kind"] == "changes" and not c["passed"])
    assert "0 added, 1 changed" in changes["detail"] and changes["samples"] == [3]
    servers.target[name].Orders.delete_one({"_id": 2})  # a document production lost fails
    lost = invoke(["validate", "--plan", str(plan), "--json"])
    assert lost.exit_code == 1 and json_out(lost)["passed"] is False


# ---------------------------------------------------------------- (g) unreachable, secrets


def test_unreachable_servers_exit_3_quickly_and_never_print_passwords(
    servers: Any, fresh_name: Any, tmp_path: Path
) -> None:
    name = fresh_name()
    plan = write_plan(tmp_path / "plan.yaml", servers, name, PEOPLE_PLAN)
    secret = "s3cretpw"
    dead = f"mongodb://user:{secret}@127.0.0.1:1/"
    base = [sys.executable, "-m", "mongo_promote"]
    env = {**environment_without_uris(), **SAFE_ENV}
    commands = {
        "target": [*base, *run_args(plan, tmp_path, "--yes", "--target-uri", dead)],
        "source": [*base, *run_args(plan, tmp_path, "--yes", "--source-uri", dead)],
        "inspect": [*base, "inspect", "--plan", str(plan), "--json", "--source-uri", dead],
        "meeshy-env": [
            *base,
            "run",
            "--plan",
            "meeshy",
            "--yes",
            "--json",
            "--state-dir",
            str(tmp_path / "m"),
        ],
    }
    meeshy_env_ = {
        **env,
        "STAGING_MONGO_URI": dead,
        "PROD_MONGO_URI": servers.target_uri,
        "STAGING_DB": name,
        "PROD_DB": name,
    }
    started = time.monotonic()
    procs = {
        key: subprocess.Popen(
            cmd,
            env=meeshy_env_ if key == "meeshy-env" else env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
        )
        for key, cmd in commands.items()
    }
    results = {
        key: (*p.communicate(timeout=60), time.monotonic() - started) for key, p in procs.items()
    }
    for key, (stdout, stderr, elapsed) in results.items():
        text = (stdout + stderr).decode(errors="replace")
        assert procs[key].returncode == 3, (key, text)
        assert elapsed < 10, (key, elapsed)
        assert secret not in text, (key, text)
        assert "127.0.0.1:1" in text, (key, text)  # says which server
    assert name not in servers.target.list_database_names()
    assert not (tmp_path / "runs").exists() and not (tmp_path / "m").exists()


@pytest.mark.capability("accepts_any_credentials")
def test_no_password_in_output_journal_reports_or_backup_of_a_successful_run(
    servers: Any, fresh_name: Any, tmp_path: Path
) -> None:
    """A real run with passwords in both URIs, where the server without auth lets any PLAIN credentials
    in (FerretDB v1); where it refuses them (FerretDB v2 --no-auth), the refusal must not show them."""
    name = fresh_name()
    seed_small(servers, name)
    secret = "Zq81-s3cret-xK"

    def with_password(uri: str) -> str:
        return uri.replace("mongodb://", f"mongodb://promoter:{secret}@") + "?authMechanism=PLAIN"

    plan = tmp_path / "plan.yaml"
    write_plan(plan, servers, name, PEOPLE_PLAN)
    plan.write_text(plan.read_text().replace(f'"{servers.source_uri}"', '"${SRC_URI}"'))
    state = tmp_path / "state"
    env = {"SRC_URI": with_password(servers.source_uri)}

    result = invoke(
        run_args(plan, state, "--yes", "-v", "--target-uri", with_password(servers.target_uri)), env
    )

    assert secret not in result.stdout + result.stderr
    if not servers.probed.accepts_any_credentials:
        assert result.exit_code == 3, explain(result)  # refused, like an unreachable server
        assert "promoter:***@" in result.stderr  # redacted, not dropped
        assert not [
            p for p in state.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()
        ]
        return
    assert result.exit_code == 0, explain(result)
    (report,) = (state / "runs").glob("*/report.json")
    assert "promoter:***@" in report.read_text()  # redacted, not dropped
    files = [p for p in state.rglob("*") if p.is_file()]
    assert any(p.name == "manifest.json" for p in files) and any(p.suffix == ".gz" for p in files)
    for path in files:
        data = path.read_bytes()
        if path.suffix == ".gz":
            data = gzip.decompress(data)
        assert secret.encode() not in data, path


def test_a_lock_document_with_only_run_id_and_lease_still_means_exit_4(
    servers: Any, fresh_name: Any, tmp_path: Path
) -> None:
    name = fresh_name()
    seed_small(servers, name)
    plan = write_plan(tmp_path / "plan.yaml", servers, name, PEOPLE_PLAN)
    lease = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)
    servers.target.mongo_promote.locks.insert_one(
        {"_id": name, "run_id": "other", "lease_expires_at": lease}
    )
    before = snapshot(servers.target[name])

    result = invoke(run_args(plan, tmp_path, "--yes"))

    assert snapshot(servers.target[name]) == before
    assert result.exit_code == 4, explain(result)
    assert "other" in result.stderr


class _Killed(BaseException):
    """Escapes every handler, like SIGKILL: nothing of the run gets to clean up after it."""


@pytest.mark.parametrize("keep", KEEP_MODES)
@pytest.mark.parametrize(
    "kill_at",
    [
        pytest.param(2, id="name-missing"),  # first collection renamed aside, shadow not yet in
        pytest.param(3, id="half-cut-over"),  # first collection installed, second renamed aside
    ],
)
def test_resume_finishes_an_interrupted_cutover_and_rollback_still_works(
    servers: Any,
    fresh_name: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    kill_at: int,
    keep: bool,
) -> None:
    name = fresh_name()
    seed_small(servers, name)
    plan = write_plan(tmp_path / "plan.yaml", servers, name, people_plan(keep))
    target = servers.target[name]
    before = (snapshot(target), index_specs(target))
    renames: list[tuple[str, str]] = []
    original = cutover_step.rename

    def rename(ctx: Any, old: str, new: str, **kwargs: Any) -> None:
        renames.append((old, new))
        if len(renames) == kill_at:
            raise _Killed
        original(ctx, old, new, **kwargs)

    monkeypatch.setattr(cutover_step, "rename", rename)
    # The states between the two renames of the fallback, on every engine: no dropTarget.
    probed = context_module.probe_capabilities
    monkeypatch.setattr(
        context_module,
        "probe_capabilities",
        lambda client, database: dataclasses.replace(
            probed(client, database), rename_drop_target=False
        ),
    )
    with pytest.raises(_Killed):
        invoke(run_args(plan, tmp_path, "--yes"))
    monkeypatch.setattr(cutover_step, "rename", original)
    assert len(renames) == kill_at
    (run_dir,) = (tmp_path / "runs").iterdir()

    resumed = invoke(run_args(plan, tmp_path, "--yes", "--resume", run_dir.name))

    assert resumed.exit_code == 0, explain(resumed)
    assert json_out(resumed)["status"] == "succeeded"
    after, source = snapshot(target), snapshot(servers.source[name])
    expected = {**before[0], "People": source["People"], "Orders": source["Orders"]}
    assert live_part(after) == expected
    kept = {"People": before[0]["People"], "Orders": before[0]["Orders"]} if keep else {}
    assert by_kept_collection(after) == kept  # the previous collections, byte for byte
    assert "uniq_people_email" in {ix[0] for ix in index_specs(target)["People"]}

    rolled = invoke(
        [
            "rollback",
            "--plan",
            str(plan),
            "--state-dir",
            str(tmp_path),
            "--yes",
            "--json",
            "--run",
            run_dir.name,
        ]
    )
    assert rolled.exit_code == 0, explain(rolled)
    assert (snapshot(target, live_only=True), index_specs(target)) == before
    assert run_artifacts(target) == []


# ---------------------------------------------------------------- every recovery path


def stopped_in(
    monkeypatch: pytest.MonkeyPatch,
    module: Any,
    name: str,
    args: list[str],
    *,
    raising: type[BaseException] | BaseException = KeyboardInterrupt,
    code: int = 130,
) -> Path:
    """A run stopped where `module.name` is called (Ctrl-C there, or `raising`): its exit code
    checked, the function restored for the resume, the run's directory returned."""
    original = getattr(module, name)

    def stop(*_args: Any, **_kwargs: Any) -> Any:
        raise raising

    monkeypatch.setattr(module, name, stop)
    stopped = invoke(args)
    monkeypatch.setattr(module, name, original)
    assert stopped.exit_code == code, explain(stopped)
    (run_dir,) = (Path(args[args.index("--state-dir") + 1]) / "runs").iterdir()
    return run_dir


def test_ctrl_c_after_indexes_then_resume_rebuilds_indexes_and_validates(
    servers: Any, fresh_name: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = fresh_name()
    seed_small(servers, name)
    plan = write_plan(tmp_path / "plan.yaml", servers, name, PEOPLE_PLAN)
    target = servers.target[name]
    before = snapshot(target)
    run_dir = stopped_in(
        monkeypatch, validate_step, "validate_shadows", run_args(plan, tmp_path, "--yes")
    )
    assert snapshot(target) == before

    resumed = invoke(run_args(plan, tmp_path, "--yes", "--resume", run_dir.name))

    assert resumed.exit_code == 0, explain(resumed)
    assert "uniq_people_email" in {ix[0] for ix in index_specs(target)["People"]}
    assert snapshot(target)["People"] == snapshot(servers.source[name])["People"]


def test_resume_uses_the_capabilities_its_run_probed_unless_the_server_changed(
    servers: Any, fresh_name: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One probe per server per run (issue 20): the run keeps what it probed in its directory,
    its --resume uses that without scratch writes; another server (version) is probed again."""
    from mongo_promote.domain.plan import load_plan

    name = fresh_name()
    seed_small(servers, name)
    plan = write_plan(tmp_path / "plan.yaml", servers, name, PEOPLE_PLAN)
    run_dir = stopped_in(
        monkeypatch, validate_step, "validate_shadows", run_args(plan, tmp_path, "--yes")
    )
    saved = run_dir / "capabilities.json"
    record = json.loads(saved.read_text())
    assert record["capabilities"] == dataclasses.asdict(servers.caps)
    assert saved.stat().st_mode & 0o777 == 0o600
    probes: list[str] = []
    probe = context_module.probe_capabilities

    def counted(client: Any, database: str) -> Any:
        probes.append(database)
        return probe(client, database)

    monkeypatch.setattr(context_module, "probe_capabilities", counted)
    loaded = load_plan(plan)
    moved = {**record, "capabilities": {**record["capabilities"], "server": "another server"}}
    (tmp_path / "moved.json").write_text(json.dumps(moved))
    with context_module.connected(loaded.plan, probe=True, probed=tmp_path / "moved.json"):
        assert len(probes) == 1, "a server other than the run's is probed again"

    resumed = invoke(run_args(plan, tmp_path, "--yes", "--resume", run_dir.name))

    assert resumed.exit_code == 0, explain(resumed)
    assert len(probes) == 1, "the resume used its run's probe"
    assert snapshot(servers.target[name])["People"] == snapshot(servers.source[name])["People"]


def test_ctrl_c_during_backup_verification_then_resume_reuses_the_finished_backup(
    servers: Any, fresh_name: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mongo_promote.steps import backup as backup_step

    name = fresh_name()
    seed_small(servers, name)
    plan = write_plan(tmp_path / "plan.yaml", servers, name, PEOPLE_PLAN)
    run_dir = stopped_in(monkeypatch, backup_step, "verify_dump", run_args(plan, tmp_path, "--yes"))
    assert (tmp_path / "backups" / run_dir.name / "manifest.json").exists()

    resumed = invoke(run_args(plan, tmp_path, "--yes", "--resume", run_dir.name))

    assert resumed.exit_code == 0, explain(resumed)
    assert "already holds this run's finished backup" in resumed.stderr


def test_resume_recopies_a_shadow_whose_source_changed_since_it_was_copied(
    servers: Any, fresh_name: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = fresh_name()
    seed_small(servers, name)
    plan = write_plan(tmp_path / "plan.yaml", servers, name, PEOPLE_PLAN)
    run_dir = stopped_in(
        monkeypatch, validate_step, "validate_shadows",
        run_args(plan, tmp_path, "--yes", "--keep-shadows"),
        raising=RuntimeError("stopped on purpose"), code=1,
    )  # fmt: skip
    # same count, other content: only a content hash of the source can tell
    servers.source[name].Orders.update_one({"_id": 3}, {"$set": {"total": 12345.0}})

    resumed = invoke(run_args(plan, tmp_path, "--yes", "--resume", run_dir.name))

    assert resumed.exit_code == 0, explain(resumed)
    assert "Orders" in resumed.stderr.split("no longer match the source")[0].splitlines()[-1]
    assert snapshot(servers.target[name])["Orders"] == snapshot(servers.source[name])["Orders"]


@pytest.mark.parametrize("keep", KEEP_MODES)
def test_sigterm_during_cutover_waits_for_the_renames_then_stops_with_130(
    servers: Any, fresh_name: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keep: bool
) -> None:
    import signal as signals

    name = fresh_name()
    seed_small(servers, name)
    plan = write_plan(tmp_path / "plan.yaml", servers, name, people_plan(keep))
    original = cutover_step.rename
    sent: list[int] = []

    def rename(ctx: Any, old: str, new: str, **kwargs: Any) -> None:
        if not sent:
            sent.append(signals.SIGTERM)
            os.kill(os.getpid(), signals.SIGTERM)
        original(ctx, old, new, **kwargs)

    monkeypatch.setattr(cutover_step, "rename", rename)
    result = invoke(run_args(plan, tmp_path, "--yes"))
    monkeypatch.setattr(cutover_step, "rename", original)

    assert result.exit_code == 130, explain(result)
    assert "cutover in progress: finishing the renames" in result.stderr
    source = snapshot(servers.source[name])
    after = snapshot(servers.target[name])
    assert after["People"] == source["People"] and after["Orders"] == source["Orders"]
    (run_dir,) = (tmp_path / "runs").iterdir()
    resumed = invoke(run_args(plan, tmp_path, "--yes", "--resume", run_dir.name))
    assert resumed.exit_code == 0, explain(resumed)


def test_a_lost_lease_stops_the_run_before_cutover(
    servers: Any, fresh_name: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = fresh_name()
    seed_small(servers, name)
    plan = write_plan(tmp_path / "plan.yaml", servers, name, PEOPLE_PLAN)
    before = snapshot(servers.target[name])
    original = validate_step.validate_shadows

    def validate_then_lose_the_lock(*args: Any, **kwargs: Any) -> Any:
        servers.target.mongo_promote.locks.update_one(
            {"_id": name}, {"$set": {"run_id": "thief", "token": "stolen"}}
        )
        return original(*args, **kwargs)

    monkeypatch.setattr(validate_step, "validate_shadows", validate_then_lose_the_lock)
    result = invoke(run_args(plan, tmp_path, "--yes"))

    assert result.exit_code == 4, explain(result)
    assert "lost its lock" in result.stderr and "thief" in result.stderr
    assert snapshot(servers.target[name], live_only=True) == before
    assert servers.target.mongo_promote.locks.find_one({"_id": name})["run_id"] == "thief"


@pytest.mark.parametrize("keep", KEEP_MODES)
def test_an_interrupted_rollback_cutover_is_finished_by_its_resume(
    servers: Any, fresh_name: Any, tmp_path: Path, keep: bool
) -> None:
    """Killed before its first rename (the swap back with keep_previous, the restore's cutover
    without), a rollback is finished by `rollback --resume`."""
    from tests.integration.test_cutover_states import cli

    name = fresh_name()
    seed_small(servers, name)
    plan = write_plan(tmp_path / "plan.yaml", servers, name, people_plan(keep))
    target = servers.target[name]
    before = snapshot(target)
    ran = invoke(run_args(plan, tmp_path, "--yes"))
    assert ran.exit_code == 0, explain(ran)
    rollback = ["rollback", "--plan", str(plan), "--state-dir", str(tmp_path), "--yes", "--json"]

    crashed = cli(rollback, {cutover_step.CRASH_ENV: "cutover:People:before_rename"})
    assert crashed.returncode == 137, crashed.stderr[-2000:]
    # the rollback's own run (its id may sort either side of the run's within one second)
    (rollback_id,) = {p.name for p in (tmp_path / "runs").iterdir()} - {json_out(ran)["run_id"]}
    resumed = cli([*rollback, "--resume", rollback_id])

    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert snapshot(target, live_only=True) == before
    assert run_artifacts(target) == []
    source = snapshot(servers.source[name])
    taken_out = by_kept_collection(snapshot(target))  # the run's data, kept aside
    assert taken_out == ({"People": source["People"], "Orders": source["Orders"]} if keep else {})


EMBED_PLAN = """\
collections:
  include: [Parent, Plain]
transforms:
  - embed:
      from: Child
      into: Parent
      match: {from: parentId, into: _id}
      key: {from: lang}
      as: texts
      fields: {text: text}
"""


def test_resume_rebuilds_a_parent_whose_embedded_children_changed_since_its_copy(
    servers: Any, fresh_name: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parent's own source is unchanged, one of its children is not: the copy folded the old
    text in, and only the children's record in the journal can tell."""
    name = fresh_name()
    source = servers.source[name]
    source.Parent.insert_many([{"_id": i, "n": i} for i in range(5)])
    source.Child.insert_many(
        [{"_id": 10 * i + k, "parentId": i, "lang": lang, "text": f"{lang} {i}"}
         for i in range(5) for k, lang in enumerate(("fr", "en"))]
    )  # fmt: skip
    source.Plain.insert_many([{"_id": i} for i in range(3)])
    plan = write_plan(tmp_path / "plan.yaml", servers, name, EMBED_PLAN)
    run_dir = stopped_in(
        monkeypatch, validate_step, "validate_shadows",
        run_args(plan, tmp_path, "--yes", "--keep-shadows"),
        raising=RuntimeError("stopped on purpose"), code=1,
    )  # fmt: skip
    # same count, same parent, another text: what the parent's shadow holds is no longer true
    source.Child.update_one({"_id": 21}, {"$set": {"text": "changed after the copy"}})

    resumed = invoke(run_args(plan, tmp_path, "--yes", "--resume", run_dir.name))

    assert resumed.exit_code == 0, explain(resumed)
    stale = resumed.stderr.split("no longer match the source")[0].splitlines()[-1]
    assert "Parent" in stale and "Plain" not in stale, resumed.stderr
    folded = servers.target[name].Parent.find_one({"_id": 2})
    assert folded["texts"]["en"] == {"text": "changed after the copy"}
    copies = [e for e in journal_events(run_dir / "journal.jsonl") if e["event"] == "copied"]
    assert [c["collection"] for c in copies].count("Plain") == 1  # the other shadow is reused
