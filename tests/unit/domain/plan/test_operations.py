"""Plan sections for operations: hooks at every stage, health checks, the staging refresh runbook."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from mongo_promote.domain.plan import HOOK_STAGES, Hook, Plan, load_plan
from mongo_promote.errors import PlanError

HEADER = """\
version: 1
source: {uri: "mongodb://a:1", database: app}
target: {uri: "mongodb://b:1", database: app}
"""


def load(tmp_path: Path, extra: str) -> Plan:
    path = tmp_path / "promote.yaml"
    path.write_text(HEADER + textwrap.dedent(extra))
    return load_plan(path, env={}).plan


def test_defaults_without_any_section(tmp_path: Path) -> None:
    plan = load(tmp_path, "")
    for stage in HOOK_STAGES:
        assert plan.hooks.stage(stage) == []
    assert plan.hooks.timeout == timedelta(minutes=5)
    assert plan.hooks.after_cutover == []
    assert plan.health == []
    assert plan.staging_refresh is None
    assert plan.cleanup.min_age == timedelta(hours=48)


def test_todays_shape_only_after_cutover_still_loads(tmp_path: Path) -> None:
    plan = load(
        tmp_path,
        """\
        hooks:
          after_cutover: ["systemctl restart gateway"]
          timeout: 2m
        cleanup: {min_age: 72h}
        """,
    )
    assert plan.hooks.after_cutover == ["systemctl restart gateway"]
    assert plan.hooks.stage("after_cutover") == [
        Hook("after_cutover", "systemctl restart gateway", 120.0)
    ]
    assert plan.hooks.before_backup == plan.hooks.on_failure == []
    assert plan.cleanup.min_age == timedelta(hours=72)


def test_every_stage_with_strings_and_per_hook_timeouts(tmp_path: Path) -> None:
    plan = load(
        tmp_path,
        """\
        hooks:
          before_backup: "echo backing up"
          before_cutover:
            - "./maintenance on"
            - {run: "./drain-queue", timeout: 30s}
          after_cutover: [{run: "./restart gateway"}, "./maintenance off"]
          on_failure: [{run: "./page oncall", timeout: 500ms}]
        """,
    )
    hooks = plan.hooks
    assert hooks.stage("before_backup") == [Hook("before_backup", "echo backing up", 300.0)]
    assert hooks.stage("before_cutover") == [
        Hook("before_cutover", "./maintenance on", 300.0),
        Hook("before_cutover", "./drain-queue", 30.0),
    ]
    assert [h.command for h in hooks.stage("after_cutover")] == [
        "./restart gateway",
        "./maintenance off",
    ]
    assert hooks.after_cutover == ["./restart gateway", "./maintenance off"]
    assert hooks.before_cutover == ["./maintenance on", "./drain-queue"]
    assert hooks.on_failure == ["./page oncall"]
    assert hooks.stage("on_failure")[0].timeout_s == 0.5
    with pytest.raises(ValueError, match="unknown hook stage"):
        hooks.stage("after_backup")


def test_health_check_fields_and_defaults(tmp_path: Path) -> None:
    plan = load(
        tmp_path,
        """\
        health:
          - {name: gateway, url: "https://gate.example/health"}
          - name: api
            url: "http://api.example/v1?x=1"
            method: head
            expect_status: 204
            max_latency_ms: 1000
            retries: 10
            backoff: 250ms
            timeout: 2s
            verify: false
          - {name: body, url: "https://x.example/", contains: "ok", method: POST}
        """,
    )
    gateway, api, body = plan.health
    assert (gateway.method, gateway.expect_status, gateway.contains) == ("GET", 200, None)
    assert (gateway.max_latency_ms, gateway.retries, gateway.verify) == (None, 0, True)
    assert (gateway.backoff, gateway.timeout) == (timedelta(seconds=1), timedelta(seconds=5))
    assert (api.method, api.expect_status, api.max_latency_ms, api.retries) == (
        "HEAD",
        204,
        1000,
        10,
    )
    assert (api.backoff, api.timeout, api.verify) == (
        timedelta(milliseconds=250),
        timedelta(seconds=2),
        False,
    )
    assert (body.method, body.contains) == ("POST", "ok")


def test_staging_refresh_steps_with_default_and_override(tmp_path: Path) -> None:
    plan = load(
        tmp_path,
        """\
        staging_refresh:
          commands:
            - "docker compose pull"
            - {run: "docker compose up -d", timeout: 3m}
          wait: 30s
          timeout: 15m
          health: [{name: staging, url: "https://staging.example/health", retries: 10}]
        """,
    )
    runbook = plan.staging_refresh
    assert runbook is not None
    assert runbook.steps == [
        Hook("staging_refresh", "docker compose pull", 900.0),
        Hook("staging_refresh", "docker compose up -d", 180.0),
    ]
    assert runbook.wait == timedelta(seconds=30)
    assert runbook.health[0].retries == 10


@pytest.mark.parametrize(
    ("extra", "line", "field", "needle"),
    [
        ("hooks:\n  before_deploy: [x]\n", 5, "hooks.before_deploy", "unknown key"),
        ("hooks:\n  after_cutover_: [x]\n", 5, "hooks.after_cutover_", "unknown key"),
        (
            "hooks:\n  on_failure:\n    - {run: x, timout: 1s}\n",
            6,
            "hooks.on_failure[0].timout",
            "unknown key",
        ),
        (
            "hooks:\n  before_cutover:\n    - {run: x, timeout: soon}\n",
            6,
            "hooks.before_cutover[0].timeout",
            "duration",
        ),
        (
            "hooks:\n  before_backup:\n    - ok\n    - 42\n",
            7,
            "hooks.before_backup[1]",
            "a command is a string",
        ),
        (
            "hooks:\n  after_cutover:\n    - {timeout: 1s}\n",
            6,
            "hooks.after_cutover[0].run",
            "missing",
        ),
        ("hooks:\n  after_cutover: ['']\n", 5, "hooks.after_cutover[0].run", "at least 1"),
        ("hooks:\n  timeout: 0s\n", 5, "hooks.timeout", "positive"),
        ("health:\n  - {name: g, url: 'http://x', method: FETCH}\n", 5, "health[0].method", "get"),
        (
            "health:\n  - {name: g, url: 'http://x', method: HEAD, contains: ok}\n",
            5,
            "health[0]",
            "no body",
        ),
        ("health:\n  - {name: g, url: 'http://x', retries: -1}\n", 5, "health[0].retries", "0"),
        (
            "health:\n  - {name: g, url: 'http://x', expect_status: 700}\n",
            5,
            "health[0].expect_status",
            "599",
        ),
        (
            "health:\n  - {name: g, url: 'http://x', max_latency_ms: 0}\n",
            5,
            "health[0].max_latency_ms",
            "greater than 0",
        ),
        ("health:\n  - {name: g, url: 'http://x', verify: maybe}\n", 5, "health[0].verify", "bool"),
        (
            "health:\n  - {name: g, url: 'http://x', backoff: fast}\n",
            5,
            "health[0].backoff",
            "duration",
        ),
        (
            "health:\n  - {name: g, url: 'http://x', timeout: 0}\n",
            5,
            "health[0].timeout",
            "positive",
        ),
        (
            "health:\n  - {name: g, url: 'http://x', interval: 3s}\n",
            5,
            "health[0].interval",
            "unknown",
        ),
        (
            "health:\n  - {name: g, url: 'http://x', contains: ''}\n",
            5,
            "health[0].contains",
            "least",
        ),
        ("health:\n  - {url: 'http://x'}\n", 5, "health[0].name", "missing"),
        (
            "staging_refresh:\n  commands:\n    - {run: x, shell: bash}\n",
            6,
            "staging_refresh.commands[0].shell",
            "unknown key",
        ),
        ("staging_refresh:\n  wait: -5\n", 5, "staging_refresh.wait", "negative"),
        ("staging_refresh:\n  timeout: later\n", 5, "staging_refresh.timeout", "duration"),
        (
            "staging_refresh:\n  health:\n    - {name: s, url: 'gopher://x'}\n",
            6,
            "staging_refresh.health[0].url",
            "pattern",
        ),
        ("staging_refresh:\n  command: [x]\n", 5, "staging_refresh.command", "unknown key"),
    ],
)
def test_invalid_operation_sections_name_file_line_and_field(
    tmp_path: Path, extra: str, line: int, field: str, needle: str
) -> None:
    path = tmp_path / "promote.yaml"
    path.write_text(HEADER + extra)
    with pytest.raises(PlanError) as info:
        load_plan(path, env={})
    err = info.value
    assert err.exit_code == 2
    assert (err.line, err.field) == (line, field), err.message
    assert needle in err.message.lower(), err.message
    assert f"promote.yaml:{line}:" in err.message
