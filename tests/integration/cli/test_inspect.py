"""`inspect`: the options reach `api.inspect`, and its failures map to their exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.cli.helpers import UNREACHABLE, orders_plan, seed_orders
from tests.integration.conftest import explain, invoke

pytestmark = pytest.mark.integration


def test_inspect_json_counts_what_is_there(dbs: Any, tmp_path: Path) -> None:
    seed_orders(dbs, source=3, target=1)
    result = invoke(["inspect", "--plan", str(orders_plan(tmp_path, dbs)), "--json"])
    assert result.exit_code == 0, explain(result)
    data = json.loads(result.stdout)
    assert [(c["name"], c["count"], c["class"]) for c in data["source"]["collections"]] == [
        ("Orders", 3, "copy")
    ]
    assert [c["count"] for c in data["target"]["collections"]] == [1]


def test_inspect_with_an_unreachable_target_exits_3_and_hides_the_password(
    dbs: Any, tmp_path: Path
) -> None:
    plan = orders_plan(tmp_path, dbs)
    result = invoke(["inspect", "--plan", str(plan), "--target-uri", UNREACHABLE, "--json"])
    assert result.exit_code == 3, explain(result)
    error = json.loads(result.stdout)["error"]  # the error, as JSON: no half result
    assert error["code"] == "unreachable" and error["exit"] == 3
    assert f"error: {error['message']}" == result.stderr.strip().splitlines()[-1]
    assert "s3cretPW" not in result.output
    assert "admin:***@127.0.0.1:1" in result.stderr


def test_inspect_with_an_invalid_plan_exits_2_naming_file_and_line(tmp_path: Path) -> None:
    plan = tmp_path / "broken.yaml"
    plan.write_text("version: 1\nsource: {uri: 'mongodb://a:1', database: x}\ntarget: [oops]\n")
    result = invoke(["inspect", "--plan", str(plan)])
    assert result.exit_code == 2, explain(result)
    assert "broken.yaml:3" in result.stderr and "target" in result.stderr
