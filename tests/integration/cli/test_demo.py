"""`demo`: the library's demo sequence end to end at a tiny scale, and its usage errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.conftest import explain, invoke

pytestmark = pytest.mark.integration


def test_demo_runs_every_stage_and_stops_its_servers(tmp_path: Path) -> None:
    state = tmp_path / "demo"
    result = invoke(["demo", "--scale", "0.05", "--seed", "3", "--state-dir", str(state)])
    assert result.exit_code == 0, explain(result)
    stages = [f"STEP demo {n}" for n in range(1, 7)]
    positions = [result.stdout.find(s) for s in stages]
    assert -1 not in positions and positions == sorted(positions), positions
    assert "seeded scale 0.05 (seed 3)" in result.stdout
    assert "validation: passed" in result.stdout
    assert "servers stopped (use --keep to leave them running)" in result.stdout
    [run_dir] = (state / "runs").iterdir()
    report = json.loads((run_dir / "report.json").read_text())
    assert report["status"] == "succeeded", report["status"]
    assert f"run {run_dir.name}: succeeded; report {run_dir / 'report.json'}" in result.stdout


def test_demo_rejects_a_scale_that_is_not_a_number() -> None:
    result = invoke(["demo", "--scale", "lots"])
    assert result.exit_code == 2, explain(result)
