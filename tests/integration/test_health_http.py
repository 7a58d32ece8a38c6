"""Health checks against a real HTTP server on 127.0.0.1: status, body, latency, timeout, retries."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from mongo_promote.adapters.health import CheckResult, run_check, run_checks
from mongo_promote.cli.render.checks import health_table
from mongo_promote.domain.plan import HealthCheck
from tests.integration.localhttp import LocalHTTP, closed_port, serve


@pytest.fixture
def http_server() -> Iterator[LocalHTTP]:
    with serve() as server:
        yield server


def check(url: str, **fields: Any) -> HealthCheck:
    return HealthCheck.model_validate({"name": "c", "url": url, **fields})


def test_200_passes_with_status_latency_and_one_attempt(http_server: LocalHTTP) -> None:
    result = run_check(check(http_server.url("/ok"), contains="healthy", max_latency_ms=2000))
    assert result.ok, result.reason
    assert (result.status, result.attempts, result.reason) == (200, 1, None)
    assert result.latency_ms is not None and 0 < result.latency_ms < 2000


def test_500_fails_with_the_status_in_the_reason(http_server: LocalHTTP) -> None:
    result = run_check(check(http_server.url("/status/500")))
    assert not result.ok
    assert result.status == 500
    assert result.reason == "status 500, expected 200"


def test_expect_status_other_than_200(http_server: LocalHTTP) -> None:
    assert run_check(check(http_server.url("/status/204"), expect_status=204)).ok
    assert not run_check(check(http_server.url("/ok"), expect_status=204)).ok


def test_slow_answer_over_max_latency_fails(http_server: LocalHTTP) -> None:
    result = run_check(check(http_server.url("/slow/400"), max_latency_ms=150))
    assert not result.ok
    assert result.status == 200
    assert result.latency_ms is not None and result.latency_ms >= 400
    assert result.reason is not None and "over the 150 ms limit" in result.reason


def test_slow_answer_under_max_latency_passes(http_server: LocalHTTP) -> None:
    result = run_check(check(http_server.url("/slow/50"), max_latency_ms=3000))
    assert result.ok, result.reason


def test_per_check_timeout_fails_without_waiting_for_the_server(http_server: LocalHTTP) -> None:
    started = time.monotonic()
    result = run_check(check(http_server.url("/slow/3000"), timeout="300ms"))
    assert time.monotonic() - started < 2
    assert not result.ok
    assert result.status is None
    assert result.reason is not None and result.reason.startswith("timed out after 0.3s")


def test_wrong_body_fails_contains(http_server: LocalHTTP) -> None:
    result = run_check(check(http_server.url("/body"), contains="healthy"))
    assert not result.ok
    assert result.status == 200
    assert result.reason == "body does not contain 'healthy'"


def test_connection_refused_fails_after_every_retry_with_bounded_backoff() -> None:
    url = f"http://127.0.0.1:{closed_port()}/health"
    started = time.monotonic()
    result = run_check(check(url, retries=3, backoff="100ms"))
    elapsed = time.monotonic() - started
    assert not result.ok
    assert result.attempts == 4
    assert result.status is None
    assert result.reason is not None and "ConnectError" in result.reason
    # waits 0.1 + 0.2 + 0.4 s between the four attempts
    assert 0.7 <= elapsed < 5


def test_retries_succeed_on_the_third_attempt(http_server: LocalHTTP) -> None:
    result = run_check(check(http_server.url("/flaky/a/2"), retries=5, backoff="50ms"))
    assert result.ok, result.reason
    assert result.attempts == 3
    assert http_server.counts["/flaky/a/2"] == 3  # stopped retrying once it passed


def test_retries_exhausted_report_the_last_attempt(http_server: LocalHTTP) -> None:
    result = run_check(check(http_server.url("/flaky/b/5"), retries=2, backoff="10ms"))
    assert not result.ok
    assert (result.attempts, result.status) == (3, 503)
    assert http_server.counts["/flaky/b/5"] == 3


def test_redirect_is_followed(http_server: LocalHTTP) -> None:
    result = run_check(check(http_server.url("/redirect"), contains="healthy"))
    assert result.ok, result.reason
    assert result.final_url == http_server.url("/ok")
    assert [p for _, p, _ in http_server.requests] == ["/redirect", "/ok"]


def test_method_is_used(http_server: LocalHTTP) -> None:
    assert run_check(check(http_server.url("/ok"), method="head")).ok
    assert run_check(check(http_server.url("/ok"), method="POST")).ok
    assert [m for m, _, _ in http_server.requests] == ["HEAD", "POST"]


def test_credentials_and_query_tokens_never_reach_the_report(http_server: LocalHTTP) -> None:
    secret_url = (
        f"http://deploy:hunter2secret@127.0.0.1:{http_server.port}/status/500?token=abcd1234xyz&v=1"
    )
    refused = f"http://deploy:hunter2secret@127.0.0.1:{closed_port()}/h?access_token=zzzz9999"
    report = run_checks([check(secret_url, name="a"), check(refused, name="b", backoff="10ms")])
    text = json.dumps(report.to_json()) + repr(report)
    for secret in ("hunter2secret", "abcd1234xyz", "zzzz9999"):
        assert secret not in text
    first = report.checks[0]
    assert first.url == f"http://deploy:***@127.0.0.1:{http_server.port}/status/500?token=***&v=***"
    assert first.reason == "status 500, expected 200"  # the request did carry the URL as given


def test_report_order_json_callback_and_table(http_server: LocalHTTP) -> None:
    seen: list[CheckResult] = []
    checks = [
        check(http_server.url("/ok"), name="up"),
        check(http_server.url("/status/500"), name="down"),
        check(http_server.url("/body"), name="wrong", contains="healthy"),
    ]
    report = run_checks(checks, on_result=seen.append)
    assert [c.name for c in seen] == ["up", "down", "wrong"]
    assert not report.ok
    assert [c.name for c in report.failures] == ["down", "wrong"]
    data = report.to_json()
    assert data["ok"] is False
    assert [(c["name"], c["ok"], c["status"]) for c in data["checks"]] == [
        ("up", True, 200),
        ("down", False, 500),
        ("wrong", False, 200),
    ]
    table = health_table(report)
    assert [col.header for col in table.columns][:4] == ["check", "url", "result", "status"]
    assert table.row_count == 3
    assert "status 500, expected 200" in [str(cell) for cell in table.columns[-1].cells]


def test_no_checks_is_an_ok_empty_report() -> None:
    report = run_checks([])
    assert report.ok and report.checks == []
