"""`demo`: the library's demo sequence end to end, with no MEESHY_* variable set (its hooks run
local commands), its output short (80 lines before its summary), its report.md one screen before
its details; and its usage errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.conftest import SAFE_ENV, explain, invoke

pytestmark = pytest.mark.integration

NO_MEESHY_VARIABLES = dict.fromkeys(SAFE_ENV, None)  # as on a fresh machine


def test_demo_runs_every_stage_points_at_nothing_and_fits(tmp_path: Path) -> None:
    state = tmp_path / "demo"
    result = invoke(
        ["demo", "--scale", "0.1", "--seed", "3", "--state-dir", str(state)],
        env=NO_MEESHY_VARIABLES,  # type: ignore[arg-type]
    )
    assert result.exit_code == 0, explain(result)
    stages = [f"STEP demo {n}" for n in range(1, 7)]
    positions = [result.stdout.find(s) for s in stages]
    assert -1 not in positions and positions == sorted(positions), positions
    assert "seeded scale 0.1 (seed 3)" in result.stdout
    assert "validation passed: " in result.stdout
    assert "servers stopped (use --keep to leave them running)" in result.stdout
    [run_dir] = (state / "runs").iterdir()
    report = json.loads((run_dir / "report.json").read_text())
    assert report["status"] == "succeeded", report["status"]
    # the hooks ran, locally: no variable pointed anywhere
    [hook] = report["hooks"]
    assert hook["ok"] and "demo: here production would restart its gateway" in hook["output"]
    assert "not set" not in result.output and "refuses without them" not in result.output
    # the health gate ran against the demo's local gateway, and passed; the stand-in is stopped
    gate = report["health_gate"]
    assert (gate["mode"], gate["passed"]) == ("rollback", True)
    urls = {c["url"] for c in gate["checks"]}
    assert len(gate["checks"]) == 3 and all(u.startswith("http://127.0.0.1:") for u in urls)
    assert "health check gateway: ok" in result.stdout
    assert report["freeze"]["held"] is True  # the demo's writer obeys the freeze
    # summary last, and everything before it in 80 lines
    lines = result.stdout.splitlines()
    summary = lines.index(next(x for x in lines if x.startswith(f"run {run_dir.name}: succeeded")))
    assert summary <= 80, "\n".join(lines[:summary])
    assert f"report: {run_dir / 'report.md'}" in lines[summary:]
    # report.md: its summary fits a screen, then the timeline, then collapsed details
    md = (run_dir / "report.md").read_text().splitlines()
    timeline, details = md.index("## Timeline"), md.index("<details>")
    assert timeline <= 25 and details <= 60, "\n".join(md[:details])
    assert md[timeline + 2 : timeline + 4] == ["```mermaid", "gantt"]
    assert "    section workers" in md and "    cutover window :crit, " in "\n".join(md)


def test_demo_rejects_a_scale_that_is_not_a_number() -> None:
    result = invoke(["demo", "--scale", "lots"])
    assert result.exit_code == 2, explain(result)
