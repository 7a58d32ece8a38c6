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


def test_bundled_plan_reads_the_remote_host(tmp_path: Path) -> None:
    """Commands keep their ${VAR} text for the shell: run them through sh with `ssh` -> `echo`."""
    plan = load_plan(bundled_plan_path(), env={}, servers=False).plan
    commands = [*plan.hooks.after_cutover, *(h.command for h in plan.staging_refresh.steps)]
    assert len(commands) == 3 and all(
        "${MEESHY_REMOTE_HOST:-root@meeshy.me}" in c for c in commands
    )

    def shell(command: str, env: dict[str, str]) -> str:
        echoed = command.replace("ssh ", "echo ssh ")
        return subprocess.run(
            ["/bin/sh", "-c", echoed], env=env, capture_output=True, text=True, check=True
        ).stdout.strip()

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
