"""PROPOSED for mongo_promote/api.py: the `health` and `refresh-staging` commands as library calls."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.markup import escape

from mongo_promote.console import Output
from mongo_promote.context import new_run_id
from mongo_promote.errors import UsageError
from mongo_promote.health import CheckResult, HealthReport, run_checks
from mongo_promote.plan import Hook, LoadedPlan
from mongo_promote.refresh import (
    COMMAND_DONE,
    COMMAND_STARTED,
    HEALTH_CHECK,
    WAITING,
    CommandResult,
    RefreshReport,
)


def health(loaded: LoadedPlan, out: Output) -> HealthReport:
    """The plan's HTTP health checks, in order, each with its retries; touches no database."""
    checks = loaded.plan.health
    if not checks:
        raise UsageError("the plan has no health checks (a `health:` list of {name, url, ...})")
    return run_checks(checks, on_result=lambda r: _show_check(out, r))


def refresh_staging(
    loaded: LoadedPlan, out: Output, dry_run: bool, *, state_dir: Path | None = None
) -> RefreshReport:
    """The plan's staging_refresh runbook; its report is saved under runs/refresh-<id>/ (0600)."""
    from mongo_promote.pipeline import base_dir  # wherever the runner puts it
    from mongo_promote.refresh import refresh_staging as run_runbook

    report = run_runbook(loaded.plan, dry_run=dry_run, on_event=lambda k, p: _show_event(out, k, p))
    if not dry_run:
        run_dir = base_dir(loaded, state_dir) / "runs" / f"refresh-{new_run_id()}"
        report.save(run_dir)
        out.info(f"report: {run_dir / 'report.md'}")
    return report


def _show_check(out: Output, result: CheckResult) -> None:
    verdict = "[green]ok[/]" if result.ok else f"[red]FAIL[/] {escape(result.reason or '')}"
    out.detail(f"{escape(result.name)}: {verdict} ({result.attempts} attempt(s))")


def _show_event(out: Output, kind: str, payload: Any) -> None:
    if kind == COMMAND_STARTED:
        hook: Hook = payload
        out.info(f"[bold cyan]$[/] {escape(hook.command)}")
    elif kind == COMMAND_DONE:
        done: CommandResult = payload
        code = "timed out" if done.exit_code is None else f"exit {done.exit_code}"
        out.detail(f"{code} after {done.seconds:.1f}s")
        if not done.ok and done.output.strip():
            out.info(escape(done.output.rstrip()))
    elif kind == WAITING:
        out.info(f"waiting {payload:g}s before the health checks")
    elif kind == HEALTH_CHECK:
        _show_check(out, payload)
