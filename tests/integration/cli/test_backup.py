"""`backup`: a verified dump where --out says; an unreachable target exits 3 and writes nothing."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.integration.cli.helpers import UNREACHABLE, orders_plan, seed_orders
from tests.integration.conftest import explain, invoke

pytestmark = pytest.mark.integration


def test_backup_writes_a_verified_dump_where_out_says(dbs: Any, tmp_path: Path) -> None:
    seed_orders(dbs, source=0, target=3)
    out = tmp_path / "dump"
    result = invoke(["backup", "--plan", str(orders_plan(tmp_path, dbs)), "--out", str(out)])
    assert result.exit_code == 0, explain(result)
    assert re.search(f"backup [0-9-a-f]+ written and verified: {re.escape(str(out))} ", result.stdout)
    manifest = json.loads((out / "manifest.json").read_text())
    assert [c["name"] for c in manifest["collections"]] == ["Orders"]


def test_backup_of_an_unreachable_target_exits_3(dbs: Any, tmp_path: Path) -> None:
    out = tmp_path / "dump"
    plan = orders_plan(tmp_path, dbs)
    result = invoke(["backup", "--plan", str(plan), "--target-uri", UNREACHABLE, "--out", str(out)])
    assert result.exit_code == 3, explain(result)
    assert not out.exists()
