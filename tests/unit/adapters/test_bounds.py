"""How long a server is waited for: the network timeout (option, plan, the URI's own), the longer
bound of slow operations, and the way a lost or silent server is named."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
from pymongo.errors import AutoReconnect, ExecutionTimeout, NetworkTimeout

from mongo_promote.adapters.mongo import (
    NETWORK_TIMEOUT_S,
    Bounds,
    describe_network_failure,
    network_cause,
)
from mongo_promote.cli.timeouts import network_timeout
from mongo_promote.console import human_duration
from mongo_promote.domain.plan import load_plan
from mongo_promote.errors import OperationFailed, PlanError, UsageError
from mongo_promote.state.context import plan_bounds

PLAN = """\
version: 1
source: {uri: "mongodb://a:1", database: app}
target: {uri: "mongodb://b:1", database: app}
"""


def plan_file(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "promote.yaml"
    path.write_text(PLAN + textwrap.dedent(extra))
    return path


def test_the_default_is_finite_and_at_most_five_minutes() -> None:
    assert 0 < NETWORK_TIMEOUT_S <= 300
    assert Bounds().network_s == NETWORK_TIMEOUT_S


def test_a_uri_s_own_timeout_is_honoured_as_given() -> None:
    mine = Bounds(network_s=15, origin="set by --network-timeout or the plan")
    assert mine.for_uri("mongodb://h:1/?directConnection=true") == mine
    socket = mine.for_uri("mongodb://h:1/?socketTimeoutMS=30000&directConnection=true")
    assert (socket.network_s, socket.from_uri) == (30, True)
    assert "socketTimeoutMS" in socket.describe()
    csot = mine.for_uri("mongodb://h:1/?timeoutms=4500")
    assert csot.network_s == 4.5 and "timeoutMS" in csot.origin
    unbounded = mine.for_uri("mongodb://h:1/?socketTimeoutMS=0")
    assert unbounded.network_s is None and "no bound" in unbounded.describe()


def test_slow_operations_get_a_bound_from_the_collection_s_size_or_the_plan_s() -> None:
    bounds = Bounds(network_s=10)
    small = bounds.long_operation(0, 0)
    assert small == 10  # never less than a request's own bound
    big = bounds.long_operation(1024 * 1024 * 1024, 3_000_000)
    assert big > bounds.long_operation(1024 * 1024, 3_000) > small
    assert Bounds(network_s=10, long_s=7200).long_operation(1 << 40, 10**9) == 7200


def test_the_plan_s_network_timeout_the_option_wins_and_neither_changes_the_fingerprint(
    tmp_path: Path,
) -> None:
    plain = load_plan(plan_file(tmp_path), env={})
    assert plan_bounds(plain.plan).network_s == NETWORK_TIMEOUT_S
    assert plan_bounds(plain.plan).origin == "the default"
    timed = load_plan(
        plan_file(tmp_path, "network_timeout: 45s\nlong_operation_timeout: 3h\n"), env={}
    )
    bounds = plan_bounds(timed.plan)
    assert (bounds.network_s, bounds.long_s) == (45, 3 * 3600)
    option = load_plan(plan_file(tmp_path), env={}, network_timeout=timedelta(seconds=5))
    assert plan_bounds(option.plan).network_s == 5
    overridden = load_plan(
        plan_file(tmp_path, "network_timeout: 45s\n"), env={}, network_timeout=timedelta(seconds=5)
    )
    assert plan_bounds(overridden.plan).network_s == 5  # the option wins
    # how long to wait is not what to do: a resume may wait longer or less
    assert plain.fingerprint == timed.fingerprint == option.fingerprint


@pytest.mark.parametrize(
    ("extra", "problem"),
    [("network_timeout: soon\n", "not a duration"), ("network_timeout: 0s\n", "positive")],
)
def test_a_bad_network_timeout_in_the_plan_is_located(
    tmp_path: Path, extra: str, problem: str
) -> None:
    path = plan_file(tmp_path, extra)
    with pytest.raises(PlanError) as info:
        load_plan(path, env={})
    assert f"{path}:4" in info.value.message and "network_timeout" in info.value.message
    assert problem in info.value.message


def test_the_option_is_a_duration_or_a_usage_error() -> None:
    assert network_timeout("15s") == timedelta(seconds=15)
    assert network_timeout(None) is None
    for bad in ("fast", "0s"):
        with pytest.raises(UsageError) as info:
            network_timeout(bad)
        assert "--network-timeout" in info.value.message and info.value.exit_code == 2


def test_human_durations() -> None:
    assert [human_duration(s) for s in (5, 4.2, 90, 120, 3725)] == [
        "5s",
        "4.2s",
        "1m30s",
        "2m",
        "1h02m",
    ]


def test_network_failures_are_found_behind_wrappers_and_timeouts_named() -> None:
    try:
        try:
            raise NetworkTimeout("127.0.0.1:1: timed out")
        except NetworkTimeout as inner:
            raise OperationFailed("copy failed") from inner
    except OperationFailed as wrapped:
        cause = network_cause(wrapped)
    assert isinstance(cause, NetworkTimeout)
    assert "did not answer" in describe_network_failure(cause, [])
    slow = ExecutionTimeout("operation exceeded time limit", 50)
    assert network_cause(slow) is slow
    assert "did not finish" in describe_network_failure(slow, [])
    assert "lost the connection" in describe_network_failure(AutoReconnect("reset"), [])
    assert network_cause(OperationFailed("a refusal")) is None
