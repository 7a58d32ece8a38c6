"""What the checking commands show: validation, the HTTP health checks, the staging refresh."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table
from rich.text import Text

from mongo_promote import api
from mongo_promote.console import Output


def validation(out: Output, report: api.ValidationReport) -> None:
    """The verdict and its totals, then only the checks that are not ok (-v: every one)."""
    out.info(f"[bold]{escape(validation_totals(report))}[/]")
    rows = report.checks if out.verbose else [c for c in report.checks if not c.passed]
    if rows:
        out.table(validation_table(rows))


def validation_totals(report: api.ValidationReport) -> str:
    checks = report.checks
    failed = sum(1 for c in checks if not c.passed and c.severity != "warning")
    warned = sum(1 for c in checks if not c.passed and c.severity == "warning")
    verdict = "passed" if report.passed else "FAILED"
    return (
        f"validation {verdict}: {len(checks)} checks, {len(checks) - failed - warned} ok, "
        f"{warned} warning(s), {failed} failed"
    )


def validation_table(checks: list[api.Check]) -> Table:
    table = Table()
    for column in ("check", "collection", "result", "detail"):
        table.add_column(column)
    for c in checks:
        result = "ok" if c.passed else ("warning" if c.severity == "warning" else "FAILED")
        table.add_row(c.kind, c.collection, result, c.detail)
    return table


def health_table(report: api.HealthReport, *, title: str = "health checks") -> Table:
    """One row per check with its status, latency and why it failed (shown as written)."""
    table = Table(title=title)
    for column in ("check", "url", "result", "status", "latency", "attempts", "reason"):
        table.add_column(column, justify="right" if column in ("latency", "attempts") else "left")
    for c in report.checks:
        table.add_row(
            Text(c.name),
            Text(f"{c.method} {c.url}" if c.method != "GET" else c.url),
            Text("ok", style="green") if c.ok else Text("FAIL", style="bold red"),
            "—" if c.status is None else str(c.status),
            "—" if c.latency_ms is None else f"{c.latency_ms:.0f} ms",
            str(c.attempts),
            Text(c.reason or ""),
        )
    return table


def check_line(out: Output, result: api.CheckResult) -> None:
    """A health check as it finishes (--verbose)."""
    verdict = "[green]ok[/]" if result.ok else f"[red]FAIL[/] {escape(result.reason or '')}"
    out.detail(f"{escape(result.name)}: {verdict} ({result.attempts} attempt(s))")


def attempt_line(out: Output, result: api.CheckResult, wait: float | None) -> None:
    """Each attempt of a health check as it ends: nobody waits minutes in silence."""
    if result.ok:
        latency = "" if result.latency_ms is None else f" in {result.latency_ms:.0f} ms"
        verdict = f"[green]ok[/] {result.status}{latency}"
    else:
        verdict = f"[red]FAIL[/] {escape(result.reason or '')}"
    after = f"; next attempt in {wait:g}s" if wait is not None else ""
    out.info(
        f"{escape(result.name)}: attempt {result.attempts}/{result.max_attempts} {verdict}{after}"
    )


def refresh_event(out: Output, kind: str, payload: Any) -> None:
    """The staging refresh as it happens: each command, its end, the wait, each check."""
    if kind == api.COMMAND_STARTED:
        out.info(f"[bold cyan]$[/] {escape(payload.command)}")
    elif kind == api.COMMAND_DONE:
        done: api.CommandResult = payload
        code = "timed out" if done.exit_code is None else f"exit {done.exit_code}"
        out.detail(f"{code} after {done.seconds:.1f}s")
        if not done.ok and done.output.strip():
            out.info(escape(done.output.rstrip()))
    elif kind == api.WAITING:
        out.info(f"waiting {payload:g}s before the health checks")
    elif kind == api.HEALTH_CHECK:
        check_line(out, payload)


def refresh_plan(out: Output, report: api.RefreshReport) -> None:
    """`refresh-staging --dry-run`: the runbook, in order."""
    out.info("would run, in order (stopping at the first failure):")
    for i, hook in enumerate(report.planned, 1):
        out.info(f"  {i}. {escape(hook.command)}   [dim](timeout {hook.timeout_s:g}s)[/]")
    if report.wait_s:
        out.info(f"then wait {report.wait_s:g}s")
    for check in report.planned_health:
        out.info(escape(f"then check {check['name']}: {check['method']} {check['url']}"))
