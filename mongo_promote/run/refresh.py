"""The staging refresh runbook (`refresh-staging`): commands in order, a wait, then health checks."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from mongo_promote.adapters.health import CheckResult, HealthReport, run_checks
from mongo_promote.console import to_json as json_text
from mongo_promote.domain.plan import Hook, Plan
from mongo_promote.errors import UsageError
from mongo_promote.files import private_dir, write_private
from mongo_promote.redact import redact_url
from mongo_promote.state.report import Status

# Events passed to `on_event(kind, payload)`, in the order they happen.
COMMAND_STARTED = "command_started"  # payload: Hook
COMMAND_DONE = "command_done"  # payload: CommandResult
WAITING = "waiting"  # payload: seconds (float)
HEALTH_CHECK = "health_check"  # payload: CheckResult

OnEvent = Callable[[str, Any], None]


class _HookOutcome(Protocol):
    """What `adapters.shell.run_hook` returns (HookResult); only these fields are read."""

    exit_code: int | None
    seconds: float
    output: str


RunHook = Callable[[str, float], _HookOutcome]


@dataclass
class CommandResult:
    """One command of the runbook: exit code (None: timed out), time and captured output."""

    command: str
    timeout_s: float
    exit_code: int | None
    seconds: float
    output: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


@dataclass
class RefreshReport:
    """What refresh-staging did (or, dry-run, would do); `status` is succeeded, failed or dry_run."""

    dry_run: bool
    planned: list[Hook]
    wait_s: float
    planned_health: list[dict[str, str]]
    status: str = Status.RUNNING
    commands: list[CommandResult] = field(default_factory=list)
    waited_s: float | None = None
    health: HealthReport | None = None
    error: str | None = None
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    finished_at: str | None = None

    @property
    def ok(self) -> bool:
        return self.status in (Status.SUCCEEDED, Status.DRY_RUN)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready data: what report.json and `refresh-staging --json` hold."""
        return {
            "command": "refresh-staging",
            "status": str(self.status),
            "dry_run": self.dry_run,
            "error": self.error,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "planned": [asdict(h) for h in self.planned],
            "commands": [{**asdict(c), "ok": c.ok} for c in self.commands],
            "wait_s": self.wait_s,
            "waited_s": self.waited_s,
            "planned_health": self.planned_health,
            "health": None if self.health is None else self.health.to_json(),
        }

    def to_markdown(self) -> str:
        return render_markdown(self)

    def save(self, directory: Path) -> Path:
        """report.json and report.md in `directory` (0700), readable by the owner only (0600)."""
        private_dir(directory)
        path = directory / "report.json"
        write_private(path, json_text(self.to_json()) + "\n")
        write_private(directory / "report.md", self.to_markdown())
        return path


def refresh_staging(
    plan: Plan,
    *,
    dry_run: bool,
    run_hook: RunHook | None = None,
    on_event: OnEvent | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> RefreshReport:
    """Run the plan's staging_refresh; stop at the first failing command; then wait; then check."""
    runbook = plan.staging_refresh
    if runbook is None or not (runbook.commands or runbook.health):
        raise UsageError("the plan has no staging_refresh runbook (commands, wait, health)")
    if run_hook is None:
        from mongo_promote.adapters.shell import run_hook as default_run_hook

        run_hook = default_run_hook
    emit = on_event or (lambda kind, payload: None)
    report = RefreshReport(
        dry_run=dry_run,
        planned=runbook.steps,
        wait_s=runbook.wait.total_seconds(),
        planned_health=[
            {"name": c.name, "method": c.method, "url": redact_url(c.url)} for c in runbook.health
        ],
    )
    if dry_run:
        return _finish(report, Status.DRY_RUN)
    for hook in runbook.steps:
        emit(COMMAND_STARTED, hook)
        outcome = run_hook(hook.command, hook.timeout_s)
        result = CommandResult(
            hook.command, hook.timeout_s, outcome.exit_code, outcome.seconds, outcome.output
        )
        report.commands.append(result)
        emit(COMMAND_DONE, result)
        if not result.ok:
            why = (
                f"timed out after {hook.timeout_s:g}s"
                if result.exit_code is None
                else f"exited with {result.exit_code}"
            )
            report.error = f"command {len(report.commands)} {why}: {hook.command}"
            return _finish(report, Status.FAILED)
    if report.wait_s > 0:
        emit(WAITING, report.wait_s)
        started = time.monotonic()
        sleep(report.wait_s)
        report.waited_s = round(time.monotonic() - started, 3)
    report.health = run_checks(runbook.health, on_result=lambda r: emit(HEALTH_CHECK, r))
    if not report.health.ok:
        names = ", ".join(c.name for c in report.health.failures)
        report.error = f"health check failed: {names}"
        return _finish(report, Status.FAILED)
    return _finish(report, Status.SUCCEEDED)


def _finish(report: RefreshReport, status: Status) -> RefreshReport:
    report.status = status
    report.finished_at = datetime.now(UTC).isoformat()
    return report


# ---------------------------------------------------------------- report.md


def render_markdown(report: RefreshReport) -> str:
    lines = [f"# refresh-staging — {report.status}", ""]
    lines.append(f"- started: {report.started_at}")
    lines.append(f"- finished: {report.finished_at}")
    if report.error:
        lines.append(f"- error: {report.error}")
    lines.append("")
    if report.dry_run:
        lines += ["## Would run", ""]
        lines += [
            f"{i}. `{h.command}` (timeout {h.timeout_s:g}s)"
            for i, h in enumerate(report.planned, 1)
        ]
        lines += ["", f"then wait {report.wait_s:g}s, then check:", ""]
        lines += [f"- {c['name']}: {c['method']} {c['url']}" for c in report.planned_health]
        return "\n".join(lines) + "\n"
    lines += ["## Commands", ""]
    for i, c in enumerate(report.commands, 1):
        code = "timed out" if c.exit_code is None else f"exit {c.exit_code}"
        lines += [f"### {i}. `{c.command}` — {code}, {c.seconds:.1f}s", ""]
        lines += ["````text", c.output.rstrip("\n"), "````", ""] if c.output.strip() else []
    not_run = report.planned[len(report.commands) :] if report.status == Status.FAILED else []
    if not_run:
        lines += ["Not run after the failure:", ""]
        lines += [f"- `{h.command}`" for h in not_run]
        lines.append("")
    if report.waited_s is not None:
        lines += [f"Waited {report.waited_s:.1f}s.", ""]
    if report.health is not None:
        lines += [
            "## Health",
            "",
            "| check | url | result | status | latency | attempts | reason |",
        ]
        lines.append("| --- | --- | --- | --- | --- | --- | --- |")
        lines += [_health_row(c) for c in report.health.checks]
    return "\n".join(lines) + "\n"


def _health_row(c: CheckResult) -> str:
    latency = "" if c.latency_ms is None else f"{c.latency_ms:.0f} ms"
    status = "" if c.status is None else str(c.status)
    reason = (c.reason or "").replace("|", "\\|")
    result = "ok" if c.ok else "FAIL"
    return f"| {c.name} | {c.method} {c.url} | {result} | {status} | {latency} | {c.attempts} | {reason} |"
