"""Health-check helpers without a server: URL redaction, backoff schedule, the console table."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from mongo_promote.adapters.health import (
    MAX_BACKOFF_S,
    CheckResult,
    HealthReport,
    backoff_delay,
)
from mongo_promote.cli.render.checks import health_table
from mongo_promote.redact import redact_text, redact_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://gate.example/health", "https://gate.example/health"),
        ("https://ops:s3cret@gate.example/health", "https://ops:***@gate.example/health"),
        ("https://ghp_TOKEN123@gate.example/h", "https://***@gate.example/h"),
        (
            "https://gate.example/h?token=abc&region=eu",
            "https://gate.example/h?token=***&region=***",
        ),
        ("http://127.0.0.1:8080/h#access_token=xyz", "http://127.0.0.1:8080/h#***"),
        ("https://u:p%40ss@h.example:8443/a/b?k", "https://u:***@h.example:8443/a/b?k=***"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_redact_text_scrubs_the_url_its_secrets_and_any_http_userinfo() -> None:
    url = "https://deploy:pw-9f8e7d@gate.example/h?token=tok-123456"
    text = (
        f"GET {url} failed; retry with password pw-9f8e7d and token tok-123456; "
        "also see https://other:hidden-too@mirror.example/x"
    )
    scrubbed = redact_text(text, url)
    for secret in ("pw-9f8e7d", "tok-123456", "hidden-too"):
        assert secret not in scrubbed
    assert "https://deploy:***@gate.example/h?token=***" in scrubbed
    assert "https://other:***@mirror.example/x" in scrubbed


def test_backoff_doubles_from_the_base_and_is_capped() -> None:
    assert [backoff_delay(0.5, n) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 4.0]
    assert backoff_delay(1, 20) == MAX_BACKOFF_S
    # ten retries from the 1 s default stay under four minutes in all
    assert sum(backoff_delay(1, n) for n in range(1, 11)) < 240


def test_table_rows_and_report_verdict() -> None:
    report = HealthReport(
        checks=[
            CheckResult("gateway", "GET", "https://g/h", True, 200, 12.3, 1),
            CheckResult("api", "HEAD", "https://g/a", False, None, None, 4, "[errno 111] [red]x"),
        ]
    )
    assert not report.ok
    assert [c.name for c in report.failures] == ["api"]
    table = health_table(report)
    cells = {col.header: [str(cell) for cell in col.cells] for col in table.columns}
    assert cells["check"] == ["gateway", "api"]
    assert cells["url"] == ["https://g/h", "HEAD https://g/a"]
    assert cells["status"] == ["200", "—"]
    assert cells["latency"] == ["12 ms", "—"]
    assert cells["attempts"] == ["1", "4"]
    assert cells["reason"] == ["", "[errno 111] [red]x"]
    console = Console(file=io.StringIO(), width=200, record=True)
    console.print(table)
    assert "[errno 111] [red]x" in console.export_text()  # shown as is, never read as markup
    assert cells["result"] == ["ok", "FAIL"]
