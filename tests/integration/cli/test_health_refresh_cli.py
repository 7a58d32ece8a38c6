"""`health` and `refresh-staging` through the real CLI, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import invoke
from tests.integration.localhttp import LocalHTTP, serve

# URIs from variables nobody sets: health and refresh-staging never connect, so they must not care.
HEADER = """\
version: 1
source: {uri: "${OPS_TEST_UNSET_SOURCE_URI}", database: app}
target: {uri: "${OPS_TEST_UNSET_TARGET_URI}", database: app}
"""


@pytest.fixture
def http_server() -> Iterator[LocalHTTP]:
    with serve() as server:
        yield server


def plan(tmp_path: Path, body: str) -> str:
    path = tmp_path / "promote.yaml"
    path.write_text(HEADER + body)
    return str(path)


def test_health_table_and_exit_codes(tmp_path: Path, http_server: LocalHTTP) -> None:
    good = plan(tmp_path, f'health: [{{name: up, url: "{http_server.url("/ok")}"}}]\n')
    result = invoke(["health", "-p", good])
    assert result.exit_code == 0, result.output
    assert "up" in result.output and "200" in result.output
    bad = plan(
        tmp_path,
        f'health: [{{name: down, url: "http://u:hunter2pw@127.0.0.1:{http_server.port}/status/500"}}]\n',
    )
    result = invoke(["health", "-p", bad])
    assert result.exit_code == 1
    assert "status 500, expected 200" in result.output
    assert "hunter2pw" not in result.output


def test_health_json(tmp_path: Path, http_server: LocalHTTP) -> None:
    path = plan(tmp_path, f'health: [{{name: up, url: "{http_server.url("/ok")}"}}]\n')
    result = invoke(["health", "-p", path, "--json"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["ok"] is True and data["checks"][0]["status"] == 200


def test_refresh_staging_dry_run_and_failure(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    path = plan(
        tmp_path,
        f'staging_refresh:\n  commands: ["touch {marker}", "echo boom >&2; exit 2"]\n',
    )
    result = invoke(["refresh-staging", "-p", path, "--dry-run"])
    assert result.exit_code == 0, result.output
    assert f"touch {marker}" in result.output and not marker.exists()
    result = invoke(["refresh-staging", "-p", path])
    assert result.exit_code == 1
    assert marker.exists() and "boom" in result.output
    reports = list((tmp_path / "runs").glob("refresh-*/report.json"))
    assert len(reports) == 1 and json.loads(reports[0].read_text())["status"] == "failed"


def test_refresh_staging_json(tmp_path: Path) -> None:
    path = plan(tmp_path, 'staging_refresh:\n  commands: ["echo pulled"]\n')
    result = invoke(["refresh-staging", "-p", path, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["status"] == "succeeded" and data["commands"][0]["output"].strip() == "pulled"
    result = invoke(["refresh-staging", "-p", path, "--json", "--dry-run"])
    assert json.loads(result.stdout)["status"] == "dry_run"


def test_commands_that_connect_still_need_the_uris(tmp_path: Path) -> None:
    path = plan(tmp_path, "")
    result = invoke(["inspect", "-p", path])
    assert result.exit_code == 2
    assert "promote.yaml:2" in result.output and "OPS_TEST_UNSET_SOURCE_URI" in result.output


def test_meeshy_refresh_dry_run_needs_no_uris() -> None:
    result = invoke(
        ["refresh-staging", "--plan", "meeshy", "--dry-run"],
        env={"STAGING_MONGO_URI": None, "PROD_MONGO_URI": None},  # type: ignore[dict-item]
    )
    assert result.exit_code == 0, result.output
    # the command as the shell will get it: the variable is expanded there (see test_plan_env)
    assert "ssh ${MEESHY_REMOTE_HOST} 'cd /opt/meeshy/staging" in result.output


def test_health_prints_each_attempt_as_it_goes_and_takes_retries(
    tmp_path: Path, http_server: LocalHTTP
) -> None:
    """Issue 19: `health` with the gateway down was silent for minutes, then one table."""
    url = http_server.url("/status/503")
    path = plan(tmp_path, f'health: [{{name: gateway, url: "{url}", retries: 10, backoff: 50ms}}]\n')
    result = invoke(["health", "-p", path, "--retries", "2"])
    assert result.exit_code == 1, result.output
    attempts = [line for line in result.stdout.splitlines() if line.startswith("gateway: attempt")]
    assert attempts == [
        "gateway: attempt 1/3 FAIL status 503, expected 200; next attempt in 0.05s",
        "gateway: attempt 2/3 FAIL status 503, expected 200; next attempt in 0.1s",
        "gateway: attempt 3/3 FAIL status 503, expected 200",
    ]
    assert result.stdout.index(attempts[-1]) < result.stdout.index("health checks")  # then the table
    assert http_server.counts["/status/503"] == 3  # --retries 2, not the plan's 10
    once = invoke(["health", "-p", path, "--retries", "0", "--json"])
    data = json.loads(once.stdout)
    assert once.exit_code == 1 and data["checks"][0]["attempts"] == 1
    assert data["error"]["code"] == "failed" and data["schema_version"] == 1


def test_bundled_health_needs_its_urls_set_and_never_guesses_production() -> None:
    unset = {"MEESHY_GATEWAY_URL": None, "MEESHY_FRONTEND_URL": None}
    result = invoke(["health", "--plan", "meeshy"], unset)  # type: ignore[arg-type]
    assert result.exit_code == 2, result.output
    line = result.stderr.strip()
    assert "MEESHY_GATEWAY_URL (health[0].url, line " in line and "MEESHY_FRONTEND_URL" in line
    assert "gateway: attempt" not in result.output and "meeshy.me" not in result.output
