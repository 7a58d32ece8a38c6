"""The health gate (plan key `health_gate`): the plan's health checks once the after_cutover hooks
have run, against a real HTTP server on 127.0.0.1 that the hook brings up (or not). `rollback`:
a failing gate undoes the cutover at once (a rollback run of its own); `report`: exit 1 only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import (
    MeeshyRun,
    explain,
    invoke,
    json_out,
    kept_collections,
    snapshot,
)
from tests.integration.localhttp import LocalHTTP, serve
from tests.integration.test_cutover_states import rollback_args
from tests.integration.test_run_safety import PEOPLE_PLAN, run_args, seed_small

pytestmark = pytest.mark.integration


@pytest.fixture
def http() -> Any:
    with serve() as server:
        yield server


def gated_plan(
    tmp_path: Path, servers: Any, name: str, http: LocalHTTP, mode: str, *, up: bool
) -> Path:
    """A plan whose after_cutover hook brings the "gateway" up (a file the server's /gate/ path
    looks for) or not, and whose health check asks for it (two attempts, 100 ms apart)."""
    flag = tmp_path / "gateway-up"
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "version: 1\n"
        f'source: {{uri: "{servers.source_uri}", database: {name}}}\n'
        f'target: {{uri: "{servers.target_uri}", database: {name}}}\n'
        f'hooks: {{after_cutover: ["{"touch " + str(flag) if up else "true"}"]}}\n'
        f'health: [{{name: gateway, url: "{http.url("/gate" + str(flag))}", retries: 1, '
        "backoff: 100ms}]\n"
        f"health_gate: {mode}\n" + PEOPLE_PLAN
    )
    return plan


def report_of(state: Path, run_id: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((state / "runs" / run_id / "report.json").read_text())
    return data


def only_run(state: Path) -> str:
    (run_dir,) = (state / "runs").iterdir()
    return run_dir.name


def test_a_failing_gate_rolls_back_at_once_and_says_so(
    servers: Any, fresh_name: Any, tmp_path: Path, http: LocalHTTP
) -> None:
    name = fresh_name()
    seed_small(servers, name)
    target = servers.target[name]
    before = snapshot(target)
    plan = gated_plan(tmp_path, servers, name, http, "rollback", up=False)

    result = invoke(run_args(plan, tmp_path, "--yes"))

    assert result.exit_code == 1, explain(result)
    err = " ".join(result.stderr.split())
    assert "health gate failed (gateway: status 503, expected 200): rolled back by run" in err
    assert snapshot(target, live_only=True) == before  # production as before the run
    runs = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert len(runs) == 2  # the run, and its rollback: a run of its own
    run_id = next(r for r in runs if (report_of(tmp_path, r).get("health_gate")))
    report = report_of(tmp_path, run_id)
    gate = report["health_gate"]
    rb = gate["rollback_run_id"]
    assert rb in runs and rb != run_id and f"rolled back by run {rb}" in err
    assert (gate["mode"], gate["passed"]) == ("rollback", False)
    assert [(c["name"], c["ok"], c["attempts"]) for c in gate["checks"]] == [("gateway", False, 2)]
    assert report["status"] == "rolled_back_by_health_gate"
    assert report_of(tmp_path, rb)["kept_aside"] == {
        c: f"{c}__undone_{rb}" for c in ("Orders", "People")
    }
    assert sorted(kept_collections(target).values()) == ["Orders", "People"]
    assert servers.target.mongo_promote.locks.find_one({"_id": name}) is None  # released

    again = invoke(rollback_args(plan, tmp_path, "--run", run_id))
    assert again.exit_code == 0, explain(again)
    assert f"already rolled back by run {rb}" in " ".join(again.stderr.split())


def test_a_passing_gate_leaves_the_promotion_in_place(
    servers: Any, fresh_name: Any, tmp_path: Path, http: LocalHTTP
) -> None:
    name = fresh_name()
    seed_small(servers, name)
    plan = gated_plan(tmp_path, servers, name, http, "rollback", up=True)

    result = invoke(run_args(plan, tmp_path, "--yes"))

    assert result.exit_code == 0, explain(result)
    run_id = only_run(tmp_path)  # no rollback run
    gate = report_of(tmp_path, run_id)["health_gate"]
    assert (gate["mode"], gate["passed"], gate["rollback_run_id"]) == ("rollback", True, None)
    source, target = snapshot(servers.source[name]), snapshot(servers.target[name])
    assert target["People"] == source["People"] and target["Orders"] == source["Orders"]
    assert http.counts[f"/gate{tmp_path / 'gateway-up'}"] == 1  # after the hook brought it up


def test_report_mode_exits_1_and_leaves_production_cut_over(
    servers: Any, fresh_name: Any, tmp_path: Path, http: LocalHTTP
) -> None:
    name = fresh_name()
    seed_small(servers, name)
    plan = gated_plan(tmp_path, servers, name, http, "report", up=False)

    result = invoke(run_args(plan, tmp_path, "--yes"))

    assert result.exit_code == 1, explain(result)
    err = " ".join(result.stderr.split())
    assert (
        "health gate failed (gateway: status 503, expected 200): production stays cut over" in err
    )
    run_id = only_run(tmp_path)  # nothing rolled back
    assert f"rollback --run {run_id}" in err
    report = report_of(tmp_path, run_id)
    assert report["status"] == "health_gate_failed"
    assert (report["health_gate"]["passed"], report["health_gate"]["rollback_run_id"]) == (
        False,
        None,
    )
    source, target = snapshot(servers.source[name]), snapshot(servers.target[name])
    assert target["People"] == source["People"]


def test_the_dry_run_lists_the_gate_and_the_option_overrides_the_plan(
    servers: Any, fresh_name: Any, tmp_path: Path, http: LocalHTTP
) -> None:
    name = fresh_name()
    seed_small(servers, name)
    plan = gated_plan(tmp_path, servers, name, http, "rollback", up=True)

    dry = invoke(run_args(plan, tmp_path, "--dry-run"))
    off = invoke(run_args(plan, tmp_path, "--dry-run", "--health-gate", "off"))
    bad = invoke(run_args(plan, tmp_path, "--dry-run", "--health-gate", "sometimes"))

    assert dry.exit_code == 0 and off.exit_code == 0, explain(dry) + explain(off)
    planned = json_out(dry)["actions"]["planned"]
    assert [p["key"] for p in planned][-3:] == [
        "hook:after_cutover:0",
        "post-checks",
        "health-gate",
    ]
    gate = next(p for p in planned if p["key"] == "health-gate")
    assert "health gate (rollback): 1 check(s) (gateway)" in gate["description"]
    assert "health-gate" not in [p["key"] for p in json_out(off)["actions"]["planned"]]
    assert bad.exit_code == 2 and "--health-gate sometimes" in bad.stderr
    assert http.counts == {}  # a dry-run checks nothing


def test_the_bundled_meeshy_plan_gates_on_its_health_checks_with_rollback(
    meeshy_run: MeeshyRun,
) -> None:
    assert meeshy_run.dry_run.exit_code == 0, explain(meeshy_run.dry_run)
    planned = json_out(meeshy_run.dry_run)["actions"]["planned"]
    gate = next(p for p in planned if p["key"] == "health-gate")
    assert (
        "health gate (rollback): 3 check(s) (gateway, frontend, conversations)"
        in gate["description"]
    )
    assert meeshy_run.run.exit_code == 0, explain(meeshy_run.run)
    report = json.loads(Path(json_out(meeshy_run.run)["report"]).read_text())
    assert report["health_gate"]["passed"] is True  # the local server the tests point it at
    run_id = json_out(meeshy_run.run)["run_id"]
    kept = report["kept_previous"]
    assert kept and set(kept) <= set(meeshy_run.target_before)  # what it replaced, kept
    assert kept == {c: f"{c}__prev_{run_id}" for c in kept}


def test_without_kept_collections_a_failing_gate_rolls_back_from_the_backup(
    servers: Any, fresh_name: Any, tmp_path: Path, http: LocalHTTP
) -> None:
    """keep_previous: false: the gate's rollback loads the run's backup (probing the target,
    under the run's lock), and production is exactly as before, nothing kept."""
    name = fresh_name()
    seed_small(servers, name)
    target = servers.target[name]
    before = snapshot(target)
    plan = gated_plan(tmp_path, servers, name, http, "rollback", up=False)
    plan.write_text(plan.read_text() + "cutover: {keep_previous: false}\n")

    result = invoke(run_args(plan, tmp_path, "--yes"))

    assert result.exit_code == 1, explain(result)
    assert "rolled back by run" in " ".join(result.stderr.split())
    assert snapshot(target) == before and kept_collections(target) == {}
    runs = {r.name: report_of(tmp_path, r.name) for r in (tmp_path / "runs").iterdir()}
    (run_id,) = [r for r, report in runs.items() if report.get("health_gate")]
    rb = runs[run_id]["health_gate"]["rollback_run_id"]
    assert runs[rb]["backup"]["dir"] and runs[rb]["kept_aside"] == {}  # as before keep_previous
    assert report_of(tmp_path, rb)["status"] == "succeeded"
    assert servers.target.mongo_promote.locks.find_one({"_id": name}) is None
