"""The run report: both files written, every section a reader needs, the console tables."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from mongo_promote.cli.render.plan import describe_effect
from mongo_promote.cli.render.summary import summary_table
from mongo_promote.state.report import RunReport, freeze_line, render_markdown


def report() -> RunReport:
    r = RunReport(
        run_id="20250101-000000-abcd",
        plan="/p/promote.yaml",
        plan_fingerprint="f00",
        source={"uri": "mongodb://u:***@s", "database": "app"},
        target={"uri": "mongodb://t", "database": "app"},
    )
    r.collection("Message").update(action="replace", source_count=1200, bytes=4096)
    r.cutover.append({"collection": "Message", "method": "rename aside", "window_ms": 1.5})
    r.error = "boom"
    return r


def text_of(table: object) -> str:
    console = Console(width=200, record=True)
    console.print(table)
    return console.export_text()


def test_save_writes_json_and_markdown_atomically(tmp_path: Path) -> None:
    r = report()
    r.status = "failed"
    json_path, md_path = (
        tmp_path / "runs" / "x" / "report.json",
        tmp_path / "runs" / "x" / "report.md",
    )

    r.save(json_path, md_path)

    data = json.loads(json_path.read_text())
    assert data["status"] == "failed" and data["collections"]["Message"]["source_count"] == 1200
    assert not json_path.with_suffix(".json.tmp").exists()
    assert md_path.read_text() == render_markdown(r)


def test_markdown_and_summary_say_status_error_and_each_collection() -> None:
    r = report()
    md = render_markdown(r)
    assert md.startswith("# mongo-promote run 20250101-000000-abcd: running\n")
    assert "| status | **running** |" in md and "| error | boom |" in md
    assert "| Message | replace | 1,200 |" in md and "<summary>Cutover (1)</summary>" in md
    assert "mongodb://u:***@s" in md
    table = text_of(summary_table(r))
    assert "run 20250101-000000-abcd: running" in table and "4.0 KB" in table


def test_describe_effect_of_an_embed_and_a_rewrite() -> None:
    embed = {"embed": "C", "into": "P", "children_read": 1500, "folded": 10, "parents_updated": 4}
    assert describe_effect(embed).startswith("C -> P: 1,500 children, 10 (parent, key) pairs")
    rewrite = {"rewrite": "F", "find": "a", "documents_changed": 2, "documents_scanned": 9}
    assert describe_effect(rewrite) == "F: 2 of 9 documents, 0 occurrence(s) of 'a'"


def test_markdown_reads_top_down_summary_then_timeline_then_collapsed_details() -> None:
    r = report()
    r.finished_at = "2025-01-01T00:00:09+00:00"
    r.started_at = "2025-01-01T00:00:00+00:00"
    r.steps = [
        {"number": 1, "title": "preflight: x", "started_at": r.started_at,
         "finished_at": "2025-01-01T00:00:01+00:00", "seconds": 1.0},
        {"number": 3, "title": "copy", "started_at": "2025-01-01T00:00:01+00:00",
         "finished_at": None, "seconds": None},
    ]  # fmt: skip
    r.timeline = [
        {"step": 3, "lane": "copy_0", "label": "Message",
         "started_at": "2025-01-01T00:00:01+00:00", "finished_at": "2025-01-01T00:00:04+00:00"},
        {"step": 3, "lane": "copy_0", "label": "User",
         "started_at": "2025-01-01T00:00:04+00:00", "finished_at": "2025-01-01T00:00:05+00:00"},
        {"step": 3, "lane": "copy", "label": "",
         "started_at": "2025-01-01T00:00:01+00:00", "finished_at": None},
    ]  # fmt: skip
    r.windows = {"cutover": ["2025-01-01T00:00:06+00:00", "2025-01-01T00:00:07+00:00"]}
    r.attempts = [{"started_at": r.started_at, "outcome": "failed"}, {"outcome": "succeeded"}]
    md = render_markdown(r)
    lines = md.splitlines()
    timeline, details = lines.index("## Timeline"), lines.index("<details>")
    assert timeline < details and timeline < 30
    assert "after 2 attempts (failed, succeeded)" in md
    gantt = lines[timeline : lines.index("```", timeline + 3)]
    assert gantt[:4] == ["## Timeline", "", "```mermaid", "gantt"]
    assert "    1 preflight :1735689600000, 1735689601000" in gantt
    assert "    3 copy :crit, 1735689601000, 1735689609000" in gantt  # never finished
    assert "    copy_0 (2 collections) :1735689601000, 1735689605000" in gantt
    assert "    cutover window :crit, 1735689606000, 1735689607000" in gantt
    assert not any(line.startswith("```json") for line in lines[:details])
def test_the_freeze_in_one_line_window_estimate_and_caught_up_writes() -> None:
    caught = {
        "Message": {"inserted": 12, "changed": 0, "deleted": 1, "documents_before": 9},
        "Orders": {"inserted": None, "documents_before": 5, "documents_at_freeze": 7},
    }
    line = freeze_line(
        {
            "started_at": "t0",
            "ended_at": "t1",
            "window_s": 2.345,
            "estimate_s": 3.1,
            "caught_up": caught,
        }
    )
    assert line == (
        "write freeze window 2.35 s (estimated 3.1 s); caught up Message (12 inserted, 0 changed, "
        "1 deleted), Orders (5 -> 7 documents)"
    )
    quiet = freeze_line(
        {"started_at": "t0", "window_s": 1.0, "caught_up": {}, "skipped": "--no-hooks"}
    )
    assert "not stopped" in quiet and quiet.endswith("no write to catch up")
    kept = freeze_line({"started_at": "t0", "kept": "a rename's guard stopped it"})
    assert kept.startswith("write freeze NOT ended (the application is still stopped)")
    assert freeze_line({"estimate_s": 70.0}) == "write freeze: not started (estimated 70 s)"
