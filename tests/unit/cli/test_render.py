"""cli/render: each table and line a person reads, built from a plain result (no server)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from rich.console import Console
from rich.table import Table

from mongo_promote import api
from mongo_promote.cli.render import checks, cleanup, dryrun, plan, summary
from mongo_promote.console import Output
from mongo_promote.domain.analysis import Actions, CollectionAction, LeftAlone
from mongo_promote.domain.plan import Hook
from mongo_promote.state.history import RunEntry
from mongo_promote.state.report import RunReport, RunSummary
from mongo_promote.state.step import Action
from mongo_promote.steps.validate import Check


def cells(table: Table) -> dict[str, list[str]]:
    return {str(col.header): [str(cell) for cell in col.cells] for col in table.columns}


def text_of(table: Table) -> str:
    console = Console(width=200, record=True)
    console.print(table)
    return console.export_text()


def a_dry_run(*, lock: str | None = None) -> api.DryRun:
    message = CollectionAction(
        "Message", "replace", 1200, 4096, 1000, 2048, [], {}, ["embed MessageTranslation"], ["ix"]
    )
    user = CollectionAction("User", "create", 3, 100, None, None, [], {})
    analysis = Actions(
        [message, user],
        [LeftAlone("old_calls", "legacy", "only in target", "cleanup drops it later")],
        ["Message"],
        2048,
    )
    planned = [
        api.PlannedAction(1, "preflight", Action(1, "preflight", "check both servers")),
        api.PlannedAction(3, "copy", Action(3, "copy", "copy 2 collection(s)")),
        api.PlannedAction(3, "copy", Action(3, "copy:more", "and read them back")),
    ]
    embed = {"embed": "MessageTranslation", "into": "Message", "children_read": 5, "folded": 4}
    summary = api.PlanSummary(
        "mongodb://h/ database 'm'",
        ["User"],
        ["Message"],
        ["old_calls"],
        "/s/backups/r-1",
        2048,
        "after_cutover `ssh ${HOST} restart` (2m)",
    )
    bounds = {
        "network": {"source": "2m (the default)", "target": "30s (the URI's socketTimeoutMS)"},
        "network_s": {"source": 120, "target": 30},
        "long_operations": {"Message": 250.0, "User": 120.0},
        "long_operations_set_by_plan": False,
    }
    losses = {"Message": {"options": ["collation"], "policy": "exact"}}
    return api.DryRun(
        summary, analysis, planned, [embed], {}, lock, ["dropTarget"], False, losses, bounds
    )


def indexes(*names: str, built: int = 0) -> list[api.PlannedAction]:
    return [
        api.PlannedAction(
            4, "indexes", Action(4, f"indexes:{n}", f"{n}: build {built} index(es)", n)
        )
        for n in names
    ]


def test_the_actions_table_has_a_row_per_collection_and_per_one_left_alone() -> None:
    result = a_dry_run()
    got = cells(dryrun.actions_table(result.analysis.collections, result.analysis.left_alone))
    assert got["collection"] == ["Message", "User", "old_calls"]
    assert got["action"] == ["replace", "create", "leave alone (legacy)"]
    assert got["source docs"] == ["1,200", "3", ""]
    assert got["target docs now"] == ["1,000", "-", ""]
    assert got["transforms"] == ["embed MessageTranslation", "", "only in target"]


def test_the_dry_run_prints_steps_table_effects_lock_and_fallbacks_in_order(
    capsys: pytest.CaptureFixture[str],
) -> None:
    dryrun.dry_run(Output(), a_dry_run(lock="run 1 (host h)"))
    shown = capsys.readouterr()
    lines = shown.out.splitlines()
    assert lines[:4] == [
        "Plan: 1 to create, 1 to replace, 1 left alone in mongodb://h/ database 'm'",
        "  backup: to /s/backups/r-1 (about 2.0 KB before compression)",
        "  hooks: after_cutover `ssh ${HOST} restart` (2m)",
        "STEP 1: preflight",
    ]
    assert lines[4:7] == ["  - check both servers", "STEP 3: copy", "  - copy 2 collection(s)"]
    order = [
        "leave alone (legacy)",
        "expected: MessageTranslation -> Message: 5 children, 4 (parent, key) pairs",
        "bounds: network timeout: source 2m (the default), target 30s (the URI's "
        "socketTimeoutMS); index builds, counting scans, sorted reads (from each size): "
        "Message 4m10s, User 2m",
        "fallbacks, expected from buildInfo",
        "dry-run: nothing was written",
    ]
    at = [shown.out.index(text) for text in order]
    assert at == sorted(at)
    assert "the lock is held now: run 1 (host h); `run` would exit 4" in shown.err


def test_identical_actions_are_grouped_naming_a_few_collections_and_all_with_verbose(
    capsys: pytest.CaptureFixture[str],
) -> None:
    names = [f"C{i}" for i in range(24)]
    planned = indexes(*names) + indexes("Message", built=1)
    assert plan.grouped(planned) == [
        ("build 0 index(es)", names),
        ("Message: build 1 index(es)", []),
    ]
    plan.plan_list(Output(), planned)
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "STEP 4: indexes",
        "  - 24 collections: build 0 index(es) (C0, C1, C2, C3, … 20 more)",
        "  - Message: build 1 index(es)",
    ]
    plan.plan_list(Output(verbose=True), planned)
    assert ", ".join(names) in capsys.readouterr().out


def a_report() -> RunReport:
    report = RunReport("20250101-000000-abcd", "p.yaml", "f00", {}, {}, status="succeeded")
    report.started_at, report.finished_at = "2025-01-01T00:00:00+00:00", "2025-01-01T00:00:04+00:00"
    report.collection("Message").update(action="replace", source_count=1200, bytes=4096)
    report.collection("Attachment").update(action="create", copy_seconds=1.5, check="ok")
    report.collection("User").update(action="replace", target_count_after=3, check="FAILED count")
    report.steps = [{"number": 3, "title": "copy into shadows: all", "seconds": 2.5}]
    report.undo = "mongo-promote rollback --run 20250101-000000-abcd --plan /p.yaml"
    return report


def test_the_run_summary_shows_steps_totals_and_only_the_rows_not_ok(
    capsys: pytest.CaptureFixture[str],
) -> None:
    report = a_report()
    got = cells(summary.summary_table(report))
    assert got["collection"] == ["Attachment", "Message", "User"]
    assert got["source"] == ["-", "1,200", "-"] and got["bytes"] == ["-", "4.0 KB", "-"]
    assert got["copy s"] == ["1.50", "-", "-"] and got["check"] == ["ok", "-", "FAILED count"]
    summary.run_summary(Output(), RunSummary(report, "/runs/x/report.md"))
    out = capsys.readouterr().out
    assert out.startswith("run 20250101-000000-abcd: succeeded in 4.0 s")
    assert "3 copy into shadows" in out and "2.5" in out
    assert (
        "3 collection(s): 2 replace, 1 create; 3 documents, 4.0 KB written; 1 collection(s) not ok"
        in out
    )
    assert "User" in out and "Attachment" not in out and "Message" not in out.split("not ok")[1]
    assert out.index("User") < out.index("report: /runs/x/report.md")
    assert out.rstrip().endswith(f"to undo: {report.undo}")
    summary.run_summary(Output(verbose=True), RunSummary(report, "/runs/x/report.md"))
    assert "Attachment" in capsys.readouterr().out


def test_a_run_whose_post_checks_failed_still_shows_its_summary_before_the_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    report = RunReport("r-1", "p.yaml", "f00", {}, {}, status="post_checks_failed")
    report.collection("Message")["action"] = "replace"
    failed = api.PostChecksFailed("post-cutover checks failed", RunSummary(report, "r.md"))
    with pytest.raises(api.PostChecksFailed), summary.summary_on_failure(Output()):
        raise failed
    assert "run r-1: post checks failed" in capsys.readouterr().out


def test_the_cleanup_table_names_each_collection_and_its_guard() -> None:
    now = datetime(2025, 1, 3, tzinfo=UTC)
    age = api.AgeGuard(now - timedelta(hours=50), timedelta(hours=48), now, False)
    found = [
        api.Candidate("old_calls", 1500, 2048, "h1", "h1", False),
        api.Candidate("old_users", 2, 10, "h2", "h3", False),
    ]
    table = cleanup.candidates_table(found, age)
    got = cells(table)
    assert got["collection"] == ["old_calls", "old_users"]
    assert got["documents"] == ["1,500", "2"]
    assert got["guard"][0] == "unchanged since the run's backup"
    assert got["guard"][1].startswith("changed since the run's backup: refused")
    assert "cleanup after run: cutover 50h00m ago" in text_of(table)


def test_cleanup_says_a_dry_run_wrote_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    result = api.CleanupResult("r-1", api.Status.DRY_RUN, {}, [])
    cleanup.cleaned(Output(), result, json_out=False)
    assert capsys.readouterr().out.strip() == "dry-run: nothing was written"


def test_the_history_table_links_the_runs_and_never_cuts_an_id_at_80_columns() -> None:
    first, second = "20250101-000000-abcd", "refresh-20250101-000500-ef01"
    attempts = [{"outcome": "failed"}, {"outcome": "succeeded"}]
    entries = [
        RunEntry(
            first,
            "run",
            "succeeded",
            "2025-01-01T00:00:00+00:00",
            12.34,
            "/b/r-1",
            attempts=attempts,
        ),
        RunEntry(second, "rollback", "cut_over_hook_failed", None, None, None, acted_on=first),
    ]
    entries[0].acted_on_by.append({"command": "rollback", "run_id": second})
    table = cleanup.history_table(entries)
    got = cells(table)
    assert got["run"] == [first, second]
    assert got["status"] == ["succeeded (2 attempts: failed, succeeded)", "cut over hook failed"]
    assert got["started"] == ["01-01 00:00", "-"]
    assert got["took"] == ["12.3s", "-"]
    assert got["links"] == [f"rollback {second}", f"undoes {first}"]
    console = Console(width=80, record=True)
    console.print(table)
    shown = console.export_text()
    assert first in shown and second in shown
    assert cleanup.current_line({"A": first, "B": first}) == (
        f"production holds now: run {first} (2 collection(s))"
    )


def test_the_staging_refresh_plan_shows_commands_as_written(
    capsys: pytest.CaptureFixture[str],
) -> None:
    report = api.RefreshReport(
        dry_run=True,
        planned=[Hook("refresh", "docker compose pull [red]x", 30)],
        wait_s=5,
        planned_health=[{"name": "gw", "method": "GET", "url": "https://g/health"}],
    )
    checks.refresh_plan(Output(), report)
    out = capsys.readouterr().out.splitlines()
    assert out[1] == "  1. docker compose pull [red]x   (timeout 30s)"
    assert out[2:] == ["then wait 5s", "then check gw: GET https://g/health"]


def test_validation_shows_its_totals_then_only_the_checks_not_ok(
    capsys: pytest.CaptureFixture[str],
) -> None:
    report = api.ValidationReport(
        [
            Check("count", "Message", True, "10 = 10"),
            Check("references", "Message", False, "2 dangling", severity="warning"),
            Check("checksum", "User", False, "differs"),
        ]
    )
    assert cells(checks.validation_table(report.checks))["result"] == ["ok", "warning", "FAILED"]
    checks.validation(Output(), report)
    out = capsys.readouterr().out
    assert out.startswith("validation FAILED: 3 checks, 1 ok, 1 warning(s), 1 failed")
    assert "2 dangling" in out and "differs" in out and "10 = 10" not in out
    checks.validation(Output(verbose=True), report)
    assert "10 = 10" in capsys.readouterr().out
