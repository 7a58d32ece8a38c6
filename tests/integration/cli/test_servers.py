"""`servers status|stop` when nothing runs: exit 1 and 0, with the documented lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.conftest import explain, invoke

pytestmark = pytest.mark.integration


def test_status_without_servers_exits_1(tmp_path: Path) -> None:
    result = invoke(["servers", "status", "--state-dir", str(tmp_path)])
    assert result.exit_code == 1, explain(result)
    assert f"no local servers (looked in {tmp_path}): `mongo-promote servers start`" in (
        result.stdout
    )
    as_json = invoke(["servers", "status", "--state-dir", str(tmp_path), "--json"])
    assert as_json.exit_code == 1
    assert json.loads(as_json.stdout) == {"schema_version": 1, "running": False}


def test_stop_without_servers_says_so(tmp_path: Path) -> None:
    result = invoke(["servers", "stop", "--state-dir", str(tmp_path)])
    assert result.exit_code == 0, explain(result)
    assert f"no local servers running (looked in {tmp_path})" in result.stdout


def test_an_unknown_subcommand_is_a_usage_error() -> None:
    assert invoke(["servers", "restart"]).exit_code == 2
