"""${VAR} expansion: nested defaults, values never re-expanded, and loading without the URIs."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mongo_promote.domain.plan import bundled_plan_path, load_plan
from mongo_promote.errors import PlanError

PLAN = """\
version: 1
source: {uri: "${SRC_URI}", database: app}
target: {uri: "${DST_URI}", database: app}
health:
  - {name: gw, url: "${GW:-https://${HOST:-example.org}/health}"}
"""
URIS = {"SRC_URI": "mongodb://a:1", "DST_URI": "mongodb://b:1"}


def load(tmp_path: Path, env: dict[str, str], text: str = PLAN, **kw: bool) -> list[str]:
    path = tmp_path / "promote.yaml"
    path.write_text(text)
    return [c.url for c in load_plan(path, env=env, **kw).plan.health]


def test_nested_default(tmp_path: Path) -> None:
    assert load(tmp_path, URIS) == ["https://example.org/health"]
    assert load(tmp_path, {**URIS, "HOST": "h.test"}) == ["https://h.test/health"]
    used_as_it_is = load(tmp_path, {**URIS, "GW": "http://${HOST}"})
    assert used_as_it_is == ["http://${HOST}"]


def test_unterminated_default_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(PlanError) as err:
        load(tmp_path, URIS, PLAN.replace("example.org}", "example.org"))
    assert ":5" in str(err.value) and "unterminated" in str(err.value)


def test_uris_are_required_unless_the_command_never_connects(tmp_path: Path) -> None:
    with pytest.raises(PlanError) as err:
        load(tmp_path, {})
    assert "SRC_URI is not set" in str(err.value) and ":2" in str(err.value)
    assert load(tmp_path, {}, servers=False) == ["https://example.org/health"]
    path = tmp_path / "promote.yaml"
    plan = load_plan(path, env={}, servers=False).plan
    assert plan.source.uri.endswith(".invalid") and plan.target.uri != plan.source.uri


def shell(command: str, env: dict[str, str]) -> str:
    """A plan's command through sh, `ssh` made `echo ssh`."""
    echoed = command.replace("ssh ", "echo ssh ")
    return subprocess.run(
        ["/bin/sh", "-c", echoed], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_bundled_plan_freezes_over_ssh_to_a_remote_host_that_has_no_default() -> None:
    with pytest.raises(PlanError) as err:
        load_plan(bundled_plan_path(), env={}, servers=False)
    assert "freeze.start[0]" in str(err.value) and "MEESHY_REMOTE_HOST is not set" in str(err.value)
    host = {"MEESHY_REMOTE_HOST": "ops@h.invalid"}
    freeze = load_plan(bundled_plan_path(), env=host, servers=False).plan.freeze
    assert freeze is not None and freeze.max_window is not None
    start, end = freeze.start[0].command, freeze.end[0].command
    assert shell(start, host) == "ssh ops@h.invalid cd /opt/meeshy && docker compose stop gateway"
    assert shell(end, host) == "ssh ops@h.invalid cd /opt/meeshy && docker compose start gateway"


def test_bundled_plan_freeze_commands_can_be_replaced_by_whole_command_lines() -> None:
    """As in sh, a default that is not used needs none of its variables: no remote host."""
    local = {"MEESHY_FREEZE_START": "echo 'one two' && echo three", "MEESHY_FREEZE_END": "echo end"}
    loaded = load_plan(bundled_plan_path(), env=local, servers=False)
    freeze = loaded.plan.freeze
    assert freeze is not None and "${MEESHY_REMOTE_HOST}" in freeze.start[0].command
    assert shell(freeze.start[0].command, loaded.command_env({})) == "one two\nthree"
    assert shell(freeze.end[0].command, loaded.command_env({})) == "end"


def test_a_default_that_is_not_used_needs_none_of_its_variables(tmp_path: Path) -> None:
    text = PLAN.replace("${GW:-https://${HOST:-example.org}/health}", "${GW:-https://${HOST}/h}")
    assert load(tmp_path, {**URIS, "GW": "http://gw.test/h"}, text) == ["http://gw.test/h"]
    with pytest.raises(PlanError) as err:
        load(tmp_path, URIS, text)
    assert "HOST is not set" in str(err.value)


def test_bundled_plan_reads_the_remote_host(tmp_path: Path) -> None:
    """Commands keep their ${VAR} text for the shell: run them through sh with `ssh` -> `echo`."""
    plan = load_plan(
        bundled_plan_path(), env={"MEESHY_REMOTE_HOST": "x@h.invalid"}, servers=False
    ).plan
    commands = [*plan.hooks.after_cutover, *(h.command for h in plan.staging_refresh.steps)]
    assert len(commands) == 3 and all(
        "${MEESHY_REMOTE_HOST:-root@meeshy.me}" in c for c in commands
    )

    for command in commands:
        assert shell(command, {"MEESHY_REMOTE_HOST": "ops@h.invalid"}).startswith(
            "ssh ops@h.invalid cd "
        )
        assert shell(command, {}).startswith("ssh root@meeshy.me cd /opt/meeshy")
    assert shell(commands[0], {"MEESHY_RESTART_GATEWAY": "true"}) == ""
    urls = {c.name: c.url for c in plan.health}
    assert urls["gateway"] == "https://gate.meeshy.me/health"
    assert urls["frontend"] == "https://meeshy.me"
    conversations = next(c for c in plan.health if c.name == "conversations")
    assert conversations.max_latency_ms == 1000
