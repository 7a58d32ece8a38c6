"""refresh-staging with real shell commands and a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mongo_promote.domain.plan import Plan, load_plan
from mongo_promote.errors import UsageError
from mongo_promote.run.refresh import (
    COMMAND_DONE,
    COMMAND_STARTED,
    HEALTH_CHECK,
    WAITING,
    refresh_staging,
)
from tests.integration.localhttp import LocalHTTP, serve

HEADER = """\
version: 1
source: {uri: "mongodb://a:1", database: app}
target: {uri: "mongodb://b:1", database: app}
"""


@pytest.fixture
def http_server() -> Iterator[LocalHTTP]:
    with serve() as server:
        yield server


def plan_with(tmp_path: Path, runbook: str) -> Plan:
    path = tmp_path / "promote.yaml"
    path.write_text(HEADER + "staging_refresh:\n" + runbook)
    return load_plan(path, env={}).plan


def test_commands_run_in_order_then_health(tmp_path: Path, http_server: LocalHTTP) -> None:
    log = tmp_path / "log"
    plan = plan_with(
        tmp_path,
        f"""\
  commands:
    - "echo pulling; echo one >> {log}"
    - {{run: "echo two >> {log}", timeout: 30s}}
  health: [{{name: staging, url: "{http_server.url("/ok")}", contains: healthy}}]
""",
    )
    report = refresh_staging(plan, dry_run=False)
    assert report.status == "succeeded" and report.ok, report.error
    assert log.read_text() == "one\ntwo\n"
    assert [(c.exit_code, c.timeout_s) for c in report.commands] == [(0, 600.0), (0, 30.0)]
    assert report.commands[0].output == "pulling\n"
    assert all(c.seconds >= 0 for c in report.commands)
    assert report.health is not None and report.health.ok
    assert [p for _, p, _ in http_server.requests] == ["/ok"]


def test_stops_at_the_first_failing_command_with_its_output(
    tmp_path: Path, http_server: LocalHTTP
) -> None:
    marker = tmp_path / "after-failure"
    plan = plan_with(
        tmp_path,
        f"""\
  commands:
    - "echo first"
    - "echo 'image pull failed: manifest unknown' >&2; exit 3"
    - "touch {marker}"
  wait: 5s
  health: [{{name: staging, url: "{http_server.url("/ok")}"}}]
""",
    )
    started = time.monotonic()
    report = refresh_staging(plan, dry_run=False)
    assert time.monotonic() - started < 4  # no wait after a failure
    assert report.status == "failed" and not report.ok
    assert [c.exit_code for c in report.commands] == [0, 3]
    assert "image pull failed: manifest unknown" in report.commands[1].output
    assert report.error is not None and report.error.startswith("command 2 exited with 3")
    assert not marker.exists()
    assert report.health is None and http_server.requests == []
    markdown = report.to_markdown()
    assert "image pull failed" in markdown and f"touch {marker}" in markdown


def test_a_command_over_its_timeout_fails(tmp_path: Path) -> None:
    marker = tmp_path / "never"
    plan = plan_with(
        tmp_path,
        f"""\
  commands:
    - {{run: "sleep 5", timeout: 300ms}}
    - "touch {marker}"
""",
    )
    started = time.monotonic()
    report = refresh_staging(plan, dry_run=False)
    assert time.monotonic() - started < 4
    assert report.status == "failed"
    assert report.commands[0].exit_code is None
    assert report.error is not None and "timed out after 0.3s" in report.error
    assert not marker.exists()


def test_dry_run_runs_nothing(tmp_path: Path, http_server: LocalHTTP) -> None:
    marker = tmp_path / "ran"
    plan = plan_with(
        tmp_path,
        f"""\
  commands: ["touch {marker}", {{run: "echo second", timeout: 1m}}]
  wait: 30s
  health: [{{name: staging, url: "{http_server.url("/ok")}?token=s3cr3tvalue"}}]
""",
    )
    started = time.monotonic()
    report = refresh_staging(plan, dry_run=True)
    assert time.monotonic() - started < 2  # no wait either
    assert not marker.exists()
    assert http_server.requests == []
    assert report.status == "dry_run" and report.ok
    assert report.commands == [] and report.health is None
    assert [(h.command, h.timeout_s) for h in report.planned] == [
        (f"touch {marker}", 600.0),
        ("echo second", 60.0),
    ]
    assert report.wait_s == 30
    assert report.planned_health == [
        {"name": "staging", "method": "GET", "url": http_server.url("/ok") + "?token=***"}
    ]
    assert "s3cr3tvalue" not in json.dumps(report.to_json()) + report.to_markdown()


def test_health_runs_after_the_wait(tmp_path: Path, http_server: LocalHTTP) -> None:
    up = tmp_path / "service-up"
    plan = plan_with(
        tmp_path,
        f"""\
  commands: ["touch {up}"]
  wait: 400ms
  health: [{{name: staging, url: "{http_server.url("/gate" + str(up))}", retries: 2, backoff: 50ms}}]
""",
    )
    events: list[tuple[str, Any, float]] = []
    report = refresh_staging(
        plan,
        dry_run=False,
        on_event=lambda kind, data: events.append((kind, data, time.monotonic())),
    )
    assert report.status == "succeeded", report.error
    assert [kind for kind, _, _ in events] == [COMMAND_STARTED, COMMAND_DONE, WAITING, HEALTH_CHECK]
    command_done = events[1][2]
    first_request = http_server.requests[0][2]
    assert first_request - command_done >= 0.4
    assert report.waited_s is not None and report.waited_s >= 0.4
    assert events[3][1].ok and events[3][1].attempts == 1


def test_failing_health_fails_the_refresh(tmp_path: Path, http_server: LocalHTTP) -> None:
    plan = plan_with(
        tmp_path,
        f"""\
  commands: ["true"]
  health:
    - {{name: gateway, url: "{http_server.url("/ok")}"}}
    - {{name: api, url: "{http_server.url("/status/502")}"}}
""",
    )
    report = refresh_staging(plan, dry_run=False)
    assert report.status == "failed"
    assert report.error == "health check failed: api"
    assert report.health is not None
    assert [c.ok for c in report.health.checks] == [True, False]


def test_report_is_saved_privately(tmp_path: Path) -> None:
    plan = plan_with(tmp_path, '  commands: ["echo saved-output"]\n')
    report = refresh_staging(plan, dry_run=False)
    run_dir = tmp_path / "runs" / "refresh-1"
    path = report.save(run_dir)
    assert path == run_dir / "report.json"
    assert stat.S_IMODE(run_dir.stat().st_mode) == 0o700
    for name in ("report.json", "report.md"):
        assert stat.S_IMODE((run_dir / name).stat().st_mode) == 0o600
    data = json.loads(path.read_text())
    assert data["command"] == "refresh-staging"
    assert data["status"] == "succeeded"
    assert data["commands"][0]["output"] == "saved-output\n"
    assert data["commands"][0]["ok"] is True
    assert "saved-output" in (run_dir / "report.md").read_text()
    assert sorted(p.name for p in run_dir.iterdir()) == ["report.json", "report.md"]


def test_a_custom_runner_gets_command_and_timeout(tmp_path: Path) -> None:
    from mongo_promote.adapters.shell import HookResult

    calls: list[tuple[str, float]] = []

    def runner(command: str, timeout_s: float) -> HookResult:
        calls.append((command, timeout_s))
        return HookResult(command, 0, 0.0, "")

    plan = plan_with(tmp_path, '  commands: ["a", {run: b, timeout: 2s}]\n  timeout: 1m\n')
    assert refresh_staging(plan, dry_run=False, run_hook=runner).ok
    assert calls == [("a", 60.0), ("b", 2.0)]


def test_a_plan_without_a_runbook_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "promote.yaml"
    path.write_text(HEADER)
    with pytest.raises(UsageError) as info:
        refresh_staging(load_plan(path, env={}).plan, dry_run=True)
    assert info.value.exit_code == 2
    assert "staging_refresh" in info.value.message
