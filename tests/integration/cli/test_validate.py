"""`validate`: differences on the live target exit 1 with a table; an unreachable side exits 3."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.cli.helpers import UNREACHABLE, orders_plan, seed_orders
from tests.integration.conftest import explain, invoke

pytestmark = pytest.mark.integration


def test_validate_exits_1_when_the_target_differs(dbs: Any, tmp_path: Path) -> None:
    seed_orders(dbs, source=4, target=3)
    plan = orders_plan(tmp_path, dbs)
    result = invoke(["validate", "--plan", str(plan)])
    assert result.exit_code == 1, explain(result)
    assert "validation FAILED: " in result.stdout
    assert "validation found differences" in result.stderr and "Orders" in result.stderr
    as_json = invoke(["validate", "--plan", str(plan), "--json"])
    data = json.loads(as_json.stdout)  # one document: the report, the error inside it
    assert as_json.exit_code == 1 and data["passed"] is False
    assert data["error"]["code"] == "validation_failed" and data["error"]["exit"] == 1


def test_validate_passes_on_an_identical_target(dbs: Any, tmp_path: Path) -> None:
    seed_orders(dbs, source=4, target=0)
    dbs.target.Orders.insert_many(list(dbs.source.Orders.find()))
    result = invoke(["validate", "--plan", str(orders_plan(tmp_path, dbs))])
    assert result.exit_code == 0, explain(result)
    assert "validation passed: " in result.stdout


def test_validate_with_an_unreachable_target_exits_3(dbs: Any, tmp_path: Path) -> None:
    plan = orders_plan(tmp_path, dbs)
    result = invoke(["validate", "--plan", str(plan), "--target-uri", UNREACHABLE])
    assert result.exit_code == 3, explain(result)
