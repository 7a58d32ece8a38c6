"""`restore`: refuses without --yes when nobody can be asked; a missing --backup is a usage error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.integration.cli.helpers import orders_plan, seed_orders
from tests.integration.conftest import explain, invoke, snapshot

pytestmark = pytest.mark.integration


def test_restore_without_yes_and_without_a_terminal_changes_nothing(
    dbs: Any, tmp_path: Path
) -> None:
    seed_orders(dbs, source=0, target=3)
    plan = orders_plan(tmp_path, dbs)
    out = tmp_path / "dump"
    assert invoke(["backup", "--plan", str(plan), "--out", str(out)]).exit_code == 0
    dbs.target.Orders.insert_one({"_id": 99, "n": 99})
    before = snapshot(dbs.target)
    result = invoke(["restore", "--plan", str(plan), "--backup", str(out)])
    assert result.exit_code == 2, explain(result)
    assert "--yes" in result.stderr
    assert snapshot(dbs.target) == before
    restored = invoke(["restore", "--plan", str(plan), "--backup", str(out), "--yes"])
    assert restored.exit_code == 0, explain(restored)
    assert "restored 1 collection(s), 3 documents" in restored.stdout
    assert dbs.target.Orders.count_documents({}) == 3


def test_restore_needs_a_backup_directory(tmp_path: Path) -> None:
    result = invoke(["restore", "--plan", str(tmp_path / "promote.yaml"), "--yes"])
    assert result.exit_code == 2, explain(result)
    assert "--backup" in result.output
