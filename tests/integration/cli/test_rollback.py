"""`rollback`: with no run to undo it is a usage error; after a run it brings the target back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.cli.helpers import orders_plan, seed_orders
from tests.integration.conftest import explain, invoke, snapshot

pytestmark = pytest.mark.integration


def test_rollback_with_no_run_exits_2_and_names_where_it_looked(dbs: Any, tmp_path: Path) -> None:
    plan = orders_plan(tmp_path, dbs)
    result = invoke(["rollback", "--plan", str(plan), "--yes", "--state-dir", str(tmp_path / "s")])
    assert result.exit_code == 2, explain(result)
    assert "no run to roll back" in result.stderr and str(tmp_path / "s") in result.stderr


def test_rollback_after_a_run_brings_the_target_back(dbs: Any, tmp_path: Path) -> None:
    seed_orders(dbs, source=5, target=2)
    plan = orders_plan(tmp_path, dbs)
    before = snapshot(dbs.target)
    assert invoke(["run", "--plan", str(plan), "--yes"]).exit_code == 0
    assert snapshot(dbs.target) != before
    refused = invoke(["rollback", "--plan", str(plan)])
    assert refused.exit_code == 2, explain(refused)
    result = invoke(["rollback", "--plan", str(plan), "--yes", "--json"])
    assert result.exit_code == 0, explain(result)
    assert json.loads(result.stdout)["swapped"] == ["Orders"]  # its previous one, put back
    assert snapshot(dbs.target, live_only=True) == before
