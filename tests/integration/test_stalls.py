"""A network that stays open and answers nothing (an ssh tunnel whose far side died): the tests' TCP
proxy stalls every connection at a chosen point of a run or a rollback. Each one ends within its
network timeout plus a margin, exit 3, the message naming the server, the request and the time
waited, production consistent; through the healed proxy, `--resume` finishes exactly."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mongo_promote.adapters import mongo as mongo_adapter
from mongo_promote.adapters.mongo import Bounds, connect
from mongo_promote.steps import copy as copy_step
from mongo_promote.steps import cutover as cutover_step
from mongo_promote.steps.validate import step as validate_step
from tests.integration.conftest import (
    explain,
    invoke,
    json_out,
    live_part,
    run_artifacts,
    snapshot,
)
from tests.integration.test_faults import (
    Proxy,
    assert_promoted,
    only_run,
    plan_via,
    port_of,
    proxied,
    rollback_args,
    run_args,
)
from tests.integration.test_run_safety import seed_small

pytestmark = pytest.mark.integration

TIMEOUT = "5s"
# What a stalled run may take beyond its first timeout: the lock's release (one more bounded
# wait), the on_failure hooks, writing the report. Generous for 2 shared cores.
MARGIN_S = 25


def stall_on(
    monkeypatch: pytest.MonkeyPatch,
    module: Any,
    name: str,
    proxy: Proxy,
    *,
    after: bool = False,
    nth: int = 1,
) -> None:
    """`module.name` stalls the proxy before (or `after`) its `nth` call."""
    original = getattr(module, name)
    calls: list[int] = []

    def stalling(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if not after and len(calls) == nth:
            proxy.stall()
        result = original(*args, **kwargs)
        if after and len(calls) == nth:
            proxy.stall()
        return result

    monkeypatch.setattr(module, name, stalling)


def timed(args: list[str]) -> tuple[Any, float]:
    started = time.monotonic()
    result = invoke(args)
    return result, time.monotonic() - started


def assert_stalled(result: Any, elapsed: float, proxy: Proxy, bound_s: int, *said: str) -> str:
    """Exit 3 within the bound plus the margin; the message names the target server (its URI,
    redacted), what it was asked, the wait and the bound; no traceback."""
    assert result.exit_code == 3, explain(result)
    assert elapsed < bound_s + MARGIN_S, f"took {elapsed:.1f}s:\n{explain(result)}"
    err = " ".join(result.stderr.split())
    assert f"target server mongodb://127.0.0.1:{proxy.port}" in err, err
    # the request given up (its own timeout, or the driver's heartbeat to the server first)
    assert re.search(r"(did not answer|stopped answering: ).*`\w+` on ", err), err
    assert re.search(r"(waited|after) \d+(\.\d)?s", err), err
    assert f"network timeout {bound_s}s" in err, err
    assert "Traceback" not in result.stderr
    for text in said:
        assert text in err, err
    return err


def stalled_run(
    servers: Any,
    name: str,
    tmp_path: Path,
    arrange: Callable[[Proxy], None],
    timeout: str = TIMEOUT,
) -> tuple[Any, float, Proxy, Path]:
    """A run of the small plan through a proxied target that `arrange` stalls at some point."""
    proxy = Proxy(port_of(servers.target_uri))
    plan = plan_via(tmp_path / "plan.yaml", servers.source_uri, proxy.uri, name)
    arrange(proxy)
    result, elapsed = timed(run_args(plan, tmp_path, "--network-timeout", timeout))
    return result, elapsed, proxy, plan


# ---------------------------------------------------------------- stalled mid-run, then resumed


@pytest.mark.parametrize("where", ["copy", "validation"])
def test_a_stall_before_cutover_ends_in_the_bound_exit_3_and_resume_is_exact(
    servers: Any, fresh_name: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    name = fresh_name()
    seed_small(servers, name)
    target = servers.target[name]
    before, source = snapshot(target), snapshot(servers.source[name])

    def arrange(proxy: Proxy) -> None:
        if where == "copy":  # the second collection's copy meets a silent network
            stall_on(monkeypatch, copy_step, "copy_collection", proxy, nth=2)
        else:
            stall_on(monkeypatch, validate_step, "validate_shadows", proxy)

    result, elapsed, proxy, plan = stalled_run(servers, name, tmp_path, arrange)
    try:
        monkeypatch.undo()
        run_id = only_run(tmp_path)
        assert_stalled(result, elapsed, proxy, 5, f"run --resume {run_id}", "production untouched")
        assert snapshot(target, live_only=True) == before

        proxy.heal()
        resumed = invoke(run_args(plan, tmp_path, "--resume", run_id))
        assert resumed.exit_code == 0, explain(resumed)
    finally:
        proxy.stop()
    assert_promoted(snapshot(target), before, source)  # the replaced ones kept (keep_previous)
    assert run_artifacts(target) == []


def test_a_stall_between_two_renames_ends_in_the_bound_and_resume_finishes_the_cutover(
    servers: Any, fresh_name: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = fresh_name()
    seed_small(servers, name)
    target = servers.target[name]
    before, source = snapshot(target), snapshot(servers.source[name])

    def arrange(proxy: Proxy) -> None:
        # the rollback's swap renames through cutover.rename (its previous collections kept)
        stall_on(monkeypatch, cutover_step, "rename", proxy, after=True)

    result, elapsed, proxy, plan = stalled_run(servers, name, tmp_path, arrange)
    try:
        monkeypatch.undo()
        run_id = only_run(tmp_path)
        assert_stalled(
            result, elapsed, proxy, 5, f"run --resume {run_id}", f"rollback --run {run_id}"
        )
        # production is consistent: every live collection is either what it was or the source's
        live = snapshot(target, live_only=True)
        for coll in ("People", "Orders"):
            if coll in live:
                assert live[coll] in (before[coll], source[coll]), coll
        proxy.heal()
        resumed = invoke(run_args(plan, tmp_path, "--resume", run_id))
        assert resumed.exit_code == 0, explain(resumed)
    finally:
        proxy.stop()
    assert_promoted(snapshot(target), before, source)  # the replaced ones kept (keep_previous)
    assert run_artifacts(target) == []


def test_a_stall_during_rollback_ends_in_the_bound_and_its_resume_restores_exactly(
    servers: Any, fresh_name: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = fresh_name()
    seed_small(servers, name)
    target = servers.target[name]
    before = snapshot(target)
    with proxied(port_of(servers.target_uri)) as proxy:
        plan = plan_via(tmp_path / "plan.yaml", servers.source_uri, proxy.uri, name)
        done = invoke(run_args(plan, tmp_path))
        assert done.exit_code == 0, explain(done)
        run_id = json_out(done)["run_id"]

        # the rollback's swap renames through cutover.rename (its previous collections kept)
        stall_on(monkeypatch, cutover_step, "rename", proxy, after=True)
        failed, elapsed = timed(
            [*rollback_args(plan, tmp_path, run_id), "--network-timeout", TIMEOUT]
        )
        monkeypatch.undo()
        rollback_id = next(p.name for p in (tmp_path / "runs").iterdir() if p.name != run_id)
        assert_stalled(failed, elapsed, proxy, 5, f"rollback --resume {rollback_id}")

        proxy.heal()
        resumed = invoke(
            ["rollback", "--plan", str(plan), "--state-dir", str(tmp_path), "--json", "--yes",
             "--resume", rollback_id]
        )  # fmt: skip
        assert resumed.exit_code == 0, explain(resumed)
    assert snapshot(target, live_only=True) == live_part(
        before
    )  # what the run installed: kept aside
    assert run_artifacts(target) == []


# ---------------------------------------------------------------- the capability probe


def test_a_stall_during_the_capability_probe_ends_in_its_bound_and_touches_nothing(
    servers: Any, fresh_name: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where a run was seen hanging in `recv`: the probe's first write, through a relay that keeps
    the connection open and answers nothing."""
    name = fresh_name()
    seed_small(servers, name)
    before = snapshot(servers.target[name])
    monkeypatch.setattr(mongo_adapter, "_PROBED", {})  # probed again, not taken from the cache

    def arrange(proxy: Proxy) -> None:
        stall_on(monkeypatch, mongo_adapter._Scratch, "run", proxy)

    result, elapsed, proxy, _ = stalled_run(servers, name, tmp_path, arrange)
    proxy.stop()
    err = assert_stalled(result, elapsed, proxy, 5, "while probing the target's capabilities")
    assert "production untouched" in err
    assert snapshot(servers.target[name]) == before


def test_a_relay_that_keeps_connections_the_server_closed_open_delays_the_probe_by_its_bound(
    servers: Any, fresh_name: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hang the issue met: FerretDB v1 hangs up on the probe's unknown BSON types, the relay
    keeps the client's side open, and the probe's insert waited in `recv` for ever. Now it waits
    its bound, concludes what the server lacks, and the run goes on (on a server that does not
    hang up, nothing waits at all)."""
    name = fresh_name()
    seed_small(servers, name)
    target = servers.target[name]
    before, source = snapshot(target), snapshot(servers.source[name])
    monkeypatch.setattr(mongo_adapter, "_PROBED", {})  # probed again, through the relay
    with proxied(port_of(servers.target_uri)) as proxy:
        proxy.sticky = True
        plan = plan_via(tmp_path / "plan.yaml", servers.source_uri, proxy.uri, name)
        result, elapsed = timed(run_args(plan, tmp_path, "--network-timeout", TIMEOUT))
    assert result.exit_code == 0, explain(result)
    assert elapsed < 5 + MARGIN_S, f"took {elapsed:.1f}s"
    report = json.loads(Path(json_out(result)["report"]).read_text())
    assert report["capabilities"]["target"]["full_bson"] == servers.caps.full_bson
    assert_promoted(snapshot(target), before, source)  # the replaced ones kept (keep_previous)


# ---------------------------------------------------------------- the issue's own figure


@pytest.mark.timeout(300)
def test_with_a_15s_network_timeout_a_stalled_run_ends_within_a_minute_and_resumes_exactly(
    servers: Any, fresh_name: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = fresh_name()
    seed_small(servers, name)
    target = servers.target[name]
    before, source = snapshot(target), snapshot(servers.source[name])

    def arrange(proxy: Proxy) -> None:
        stall_on(monkeypatch, copy_step, "copy_collection", proxy)

    result, elapsed, proxy, plan = stalled_run(servers, name, tmp_path, arrange, timeout="15s")
    try:
        monkeypatch.undo()
        run_id = only_run(tmp_path)
        assert elapsed < 60, f"took {elapsed:.1f}s"
        assert_stalled(result, elapsed, proxy, 15, f"run --resume {run_id}")
        proxy.heal()
        resumed = invoke(run_args(plan, tmp_path, "--resume", run_id))
        assert resumed.exit_code == 0, explain(resumed)
    finally:
        proxy.stop()
    assert_promoted(snapshot(target), before, source)  # the replaced ones kept (keep_previous)
    assert run_artifacts(target) == []


# ---------------------------------------------------------------- the bound every client has


def test_every_client_the_tool_opens_waits_at_most_its_network_timeout(servers: Any) -> None:
    """connect() gives the driver the network timeout as its socket timeout; a URI that names
    its own keeps it (honoured as given)."""
    mine = Bounds(network_s=5, origin="set by --network-timeout or the plan")
    plain = connect(servers.target_uri, role="target", bounds=mine)
    own_uri = servers.target_uri.rstrip("/") + "/?socketTimeoutMS=7000"
    own = connect(own_uri, role="target", bounds=mine)
    try:
        assert plain.options.pool_options.socket_timeout == 5
        assert plain.bounds.network_s == 5
        assert own.options.pool_options.socket_timeout == 7
        assert own.bounds.network_s == 7 and "socketTimeoutMS" in own.bounds.describe()
    finally:
        plain.close()
        own.close()
