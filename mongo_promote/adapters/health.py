"""The plan's HTTP(S) health checks (`health`, refresh-staging, after cutover): status, body, latency."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from mongo_promote.redact import redact_text, redact_url

if TYPE_CHECKING:
    import httpx  # imported where a check runs: a plan without checks never loads it

MAX_BACKOFF_S = 30.0  # the doubling wait between attempts never exceeds this
MAX_BODY_BYTES = 1 << 20  # `contains` looks at the first MiB of the body


class HealthCheck(Protocol):
    """One HTTP(S) check as the plan declares it (`domain.plan.HealthCheck` has this shape)."""

    @property
    def name(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def method(self) -> str: ...
    @property
    def expect_status(self) -> int: ...
    @property
    def contains(self) -> str | None: ...
    @property
    def max_latency_ms(self) -> int | None: ...
    @property
    def retries(self) -> int: ...
    @property
    def backoff(self) -> timedelta: ...
    @property
    def timeout(self) -> timedelta: ...
    @property
    def verify(self) -> bool: ...


# ---------------------------------------------------------------- results


@dataclass
class CheckResult:
    """One check after its last attempt; `url` is redacted, never the one with credentials."""

    name: str
    method: str
    url: str
    ok: bool
    status: int | None
    latency_ms: float | None
    attempts: int
    reason: str | None = None
    final_url: str | None = None  # where redirects ended, when they moved it
    max_attempts: int = 1  # the first and its retries


@dataclass
class HealthReport:
    """Every check's result, in plan order; `ok` when all passed (vacuously with no checks)."""

    checks: list[CheckResult] = field(default_factory=list)
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    finished_at: str | None = None

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def failures(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.ok]

    def to_json(self) -> dict[str, Any]:
        """JSON-ready data, the shape `health --json` prints."""
        return {
            "ok": self.ok,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "checks": [asdict(c) for c in self.checks],
        }


# ---------------------------------------------------------------- running


OnAttempt = Callable[
    [CheckResult, float | None], None
]  # an attempt's result, the wait before the next


def run_checks(
    checks: Sequence[HealthCheck],
    *,
    on_result: Callable[[CheckResult], None] | None = None,
    on_attempt: OnAttempt | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> HealthReport:
    """Run every check in order (each with its retries); a failing check never stops the others."""
    report = HealthReport()
    for check in checks:
        result = run_check(check, sleep=sleep, on_attempt=on_attempt)
        report.checks.append(result)
        if on_result is not None:
            on_result(result)
    report.finished_at = datetime.now(UTC).isoformat()
    return report


def run_check(
    check: HealthCheck,
    *,
    sleep: Callable[[float], None] = time.sleep,
    on_attempt: OnAttempt | None = None,
) -> CheckResult:
    """Attempts until one passes or `retries` more have failed, waiting backoff, 2x, 4x… (capped).
    `on_attempt` hears of each attempt as it ends, with the wait before the next (None: last)."""
    import httpx  # here: a tenth of a second that commands which check nothing never pay

    attempts = check.retries + 1
    with httpx.Client(
        verify=check.verify,
        follow_redirects=True,
        timeout=check.timeout.total_seconds(),
    ) as client:
        for attempt in range(1, attempts + 1):
            result = _attempt(client, check)
            result.attempts, result.max_attempts = attempt, attempts
            last = result.ok or attempt == attempts
            wait = None if last else backoff_delay(check.backoff.total_seconds(), attempt)
            if on_attempt is not None:
                on_attempt(result, wait)
            if wait is None:
                return result
            sleep(wait)
    raise AssertionError("unreachable: the last attempt returns")


def backoff_delay(base_s: float, attempt: int) -> float:
    """The wait after failed attempt number `attempt` (1-based): base, 2x base, 4x base…, capped."""
    return min(base_s * 2 ** (attempt - 1), MAX_BACKOFF_S)


def _attempt(client: httpx.Client, check: HealthCheck) -> CheckResult:
    import httpx  # already loaded by run_check

    timeout_s = check.timeout.total_seconds()
    result = CheckResult(check.name, check.method, redact_url(check.url), False, None, None, 0)
    started = time.monotonic()
    try:
        with client.stream(check.method, check.url) as response:
            body = _read_capped(response, started + timeout_s)
            result.latency_ms = round((time.monotonic() - started) * 1000, 1)
            result.status = response.status_code
            final = str(response.url)
            if final != check.url:
                result.final_url = redact_url(final)
            text = body.decode(response.encoding or "utf-8", errors="replace")
    except _DeadlinePassed:
        result.latency_ms = round((time.monotonic() - started) * 1000, 1)
        result.reason = f"timed out after {timeout_s:g}s (body still arriving)"
        return result
    except httpx.TimeoutException as exc:
        result.latency_ms = round((time.monotonic() - started) * 1000, 1)
        result.reason = f"timed out after {timeout_s:g}s ({_describe(exc, check.url)})"
        return result
    except httpx.HTTPError as exc:
        result.reason = _describe(exc, check.url)
        return result
    result.reason = _verdict(check, result, text)
    result.ok = result.reason is None
    return result


def _verdict(check: HealthCheck, result: CheckResult, text: str) -> str | None:
    """Why a response fails the check, or None: status first, then body, then latency."""
    if result.status != check.expect_status:
        return f"status {result.status}, expected {check.expect_status}"
    if check.contains is not None and check.contains not in text:
        return f"body does not contain {check.contains!r}"
    if check.max_latency_ms is not None and (result.latency_ms or 0) > check.max_latency_ms:
        return f"latency {result.latency_ms:.0f} ms over the {check.max_latency_ms} ms limit"
    return None


class _DeadlinePassed(Exception):
    """The body kept trickling in past the check's timeout."""


def _read_capped(response: httpx.Response, deadline: float) -> bytes:
    """The body's first MAX_BODY_BYTES; httpx's timeout is per read, so the whole gets a deadline."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        if time.monotonic() > deadline:
            raise _DeadlinePassed
        chunks.append(chunk)
        size += len(chunk)
        if size >= MAX_BODY_BYTES:
            break
    if time.monotonic() > deadline:
        raise _DeadlinePassed
    return b"".join(chunks)[:MAX_BODY_BYTES]


def _describe(exc: httpx.HTTPError, url: str) -> str:
    detail = str(exc) or type(exc).__name__
    return redact_text(f"{type(exc).__name__}: {detail}", url)
