"""`run` and `run --dry-run`: options reach `api.run`/`api.dry_run`; refusals map to exit 2 and 3."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.cli.helpers import UNREACHABLE, orders_plan, seed_orders
from tests.integration.conftest import explain, invoke, snapshot

pytestmark = pytest.mark.integration


def test_dry_run_lists_the_copy_and_writes_nothing(dbs: Any, tmp_path: Path) -> None:
    seed_orders(dbs, source=5, target=2)
    plan = orders_plan(tmp_path, dbs)
    before = snapshot(dbs.target)
    result = invoke(["run", "--plan", str(plan), "--dry-run", "--json"])
    assert result.exit_code == 0, explain(result)
    data = json.loads(result.stdout)
    assert data["status"] == "dry_run" and data["run_id"] is None
    assert data["actions"]["documents_to_copy"] == 5
    assert "Orders" in json.dumps(data["actions"])
    assert snapshot(dbs.target) == before
    assert not (tmp_path / "backups").exists()


def test_run_without_yes_and_without_a_terminal_refuses_with_exit_2(
    dbs: Any, tmp_path: Path
) -> None:
    seed_orders(dbs, source=5, target=2)
    before = snapshot(dbs.target)
    result = invoke(["run", "--plan", str(orders_plan(tmp_path, dbs))])
    assert result.exit_code == 2, explain(result)
    assert "--yes" in result.stderr
    assert snapshot(dbs.target) == before


def test_run_yes_promotes_and_reports_in_json(dbs: Any, tmp_path: Path) -> None:
    seed_orders(dbs, source=5, target=2)
    result = invoke(["run", "--plan", str(orders_plan(tmp_path, dbs)), "--yes", "--json"])
    assert result.exit_code == 0, explain(result)
    data = json.loads(result.stdout)
    assert data["validation"]["passed"] is True and Path(data["report"]).exists()
    assert sorted(d["n"] for d in dbs.target.Orders.find()) == [0, 1, 2, 3, 4]


def test_run_against_an_unreachable_source_exits_3(dbs: Any, tmp_path: Path) -> None:
    plan = orders_plan(tmp_path, dbs)
    result = invoke(["run", "--plan", str(plan), "--yes", "--source-uri", UNREACHABLE])
    assert result.exit_code == 3, explain(result)
    assert "s3cretPW" not in result.output


def test_run_rejects_an_out_of_range_worker_count_as_usage(tmp_path: Path) -> None:
    result = invoke(["run", "--plan", str(tmp_path / "none.yaml"), "--workers", "0"])
    assert result.exit_code == 2, explain(result)
