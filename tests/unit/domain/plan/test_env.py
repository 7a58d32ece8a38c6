"""${VAR} expansion: nested defaults, values never re-expanded, and loading without the URIs."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mongo_promote.domain.plan import bundled_plan_path, load_plan
from mongo_promote.errors import MissingVariables, PlanError

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
    """Unset, the host is missing for the freeze (the run refuses it), never a default."""
    unset = load_plan(bundled_plan_path(), env={}, servers=False)
    assert [m.field for m in unset.missing_for("freeze")] == ["freeze.start[0]", "freeze.end[0]"]
    assert {m.name for m in unset.missing_for("freeze")} == {"MEESHY_REMOTE_HOST"}
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
    assert not loaded.missing_for("freeze")
    assert shell(freeze.start[0].command, loaded.command_env({})) == "one two\nthree"
    assert shell(freeze.end[0].command, loaded.command_env({})) == "end"


def test_a_default_that_is_not_used_needs_none_of_its_variables(tmp_path: Path) -> None:
    text = PLAN.replace("${GW:-https://${HOST:-example.org}/health}", "${GW:-https://${HOST}/h}")
    assert load(tmp_path, {**URIS, "GW": "http://gw.test/h"}, text) == ["http://gw.test/h"]
    path = tmp_path / "promote.yaml"
    unset = load_plan(path, env=URIS)  # a health URL: missing for `health`, not a plan error
    assert [m.name for m in unset.missing_for("health")] == ["HOST"]


def test_the_bundled_plan_points_at_no_production_host_unless_told(tmp_path: Path) -> None:
    """Commands keep their ${VAR} text for the shell (run here through sh with `ssh` -> `echo`);
    no ssh destination and no URL has a default: unset, they are recorded as missing."""
    loaded = load_plan(bundled_plan_path(), env={}, servers=False)
    plan = loaded.plan
    commands = [*plan.hooks.after_cutover, *(h.command for h in plan.staging_refresh.steps)]
    assert len(commands) == 3 and all("${MEESHY_REMOTE_HOST}" in c for c in commands)
    assert "meeshy.me'" not in " ".join(commands) and "root@" not in " ".join(commands)
    missing = {(m.name, m.scope) for m in loaded.missing}
    assert missing == {
        ("MEESHY_REMOTE_HOST", "freeze"),
        ("MEESHY_REMOTE_HOST", "hooks"),
        ("MEESHY_REMOTE_HOST", "staging_refresh"),
        ("MEESHY_GATEWAY_URL", "health"),
        ("MEESHY_FRONTEND_URL", "health"),
        ("MEESHY_STAGING_GATEWAY_URL", "staging_refresh"),
    }
    assert all(c.url.startswith("https://") and ".unset.invalid" in c.url for c in plan.health)

    for command in commands:
        assert shell(command, {"MEESHY_REMOTE_HOST": "ops@h.invalid"}).startswith(
            "ssh ops@h.invalid cd "
        )
    assert shell(commands[0], {"MEESHY_RESTART_GATEWAY": "true"}) == ""
    told = load_plan(
        bundled_plan_path(),
        env={"MEESHY_RESTART_GATEWAY": "true", "MEESHY_GATEWAY_URL": "https://gw.test"},
        servers=False,
    )
    assert not told.missing_for("hooks")  # the restart command replaced: no host needed
    urls = {c.name: c.url for c in told.plan.health}
    assert urls["gateway"] == "https://gw.test/health"
    conversations = next(c for c in plan.health if c.name == "conversations")
    assert conversations.max_latency_ms == 1000


def test_a_command_needing_unset_variables_is_refused_only_where_it_is_needed(
    tmp_path: Path,
) -> None:
    text = PLAN + (
        "hooks:\n"
        '  before_backup: ["notify ${CHANNEL}"]\n'
        '  after_cutover: ["ssh ${HOST} restart", "${RESTART:-ssh ${HOST2} r}"]\n'
    )
    path = tmp_path / "promote.yaml"
    path.write_text(text)
    loaded = load_plan(path, env=URIS)
    assert [m.name for m in loaded.missing_for("hooks")] == ["CHANNEL", "HOST", "HOST2"]
    with pytest.raises(MissingVariables) as err:
        loaded.require("hooks", doing="run", otherwise="--no-hooks")
    message = err.value.message
    assert err.value.exit_code == 2 and "\n" not in message
    for name, line in (("CHANNEL", 7), ("HOST", 8), ("HOST2", 8)):
        assert f"{name} (hooks." in message and f"line {line}" in message
    loaded.require("health", doing="health")  # its URL has defaults: nothing missing
    set_ = load_plan(path, env={**URIS, "CHANNEL": "c", "HOST": "h", "RESTART": "true"})
    assert set_.missing == ()
