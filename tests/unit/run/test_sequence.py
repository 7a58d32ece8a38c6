"""What each step plans, with no server: the action lists the dry-run prints and the run journals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mongo_promote.adapters.mongo import Capabilities, expected_capabilities
from mongo_promote.cli.render.plan import plan_list
from mongo_promote.console import Output
from mongo_promote.domain.analysis import analyse
from mongo_promote.domain.inventory import CollectionInfo, Inventory, SideInventory
from mongo_promote.domain.plan import IndexSpec, load_plan
from mongo_promote.run.dryrun import PlannedAction
from mongo_promote.run.runner import plan_actions
from mongo_promote.run.sequence import new_state, promotion_steps, restore_steps
from mongo_promote.state.context import RunContext, RunPaths
from mongo_promote.state.step import Step, in_stages
from mongo_promote.steps.cleanup import Candidate, cleanup_steps
from mongo_promote.steps.cutover import CutoverStep
from mongo_promote.steps.indexes import index_models, planned_index_names
from mongo_promote.steps.restore import Dump
from mongo_promote.steps.swap import Swap

PLAN = """\
version: 1
source: {uri: "mongodb://a:1", database: app}
target: {uri: "mongodb://b:1", database: app}
collections: {include: ["People", "Orders"]}
indexes:
  People:
    - {keys: {email: 1}, unique: true, name: uniq_email}
    - {keys: {team: 1}, partialFilterExpression: {active: true}, name: active_team}
hooks:
  before_backup: ["echo bb"]
  before_cutover: [{run: "echo bc", timeout: 10s}]
  after_cutover: ["echo one", "echo two"]
  on_failure: ["echo failed"]
backup: {dir: /somewhere/backups}
"""

MONGOD = expected_capabilities("mongod", "7.0.0")
FERRET = expected_capabilities("ferretdb", "7.0.42")


FREEZE = """\
freeze:
  start: ["touch /tmp/x", {run: "sleep 1", timeout: 5s}]
  end: ["rm -f /tmp/x"]
  max_window: 30s
"""


def context(
    tmp_path: Path, caps: Capabilities, extra: str = "", *, plan: str = PLAN
) -> RunContext:
    path = tmp_path / "promote.yaml"
    path.write_text(plan + extra)
    loaded = load_plan(path, env={})
    return RunContext(
        loaded=loaded,
        run_id="20250101-000000-abcd",
        source_client=None,  # type: ignore[arg-type]  # planning never talks to a server
        target_client=None,  # type: ignore[arg-type]
        source_caps=caps,
        target_caps=caps,
        out=Output(quiet=True),
        paths=RunPaths.of(loaded, None, "20250101-000000-abcd"),
    )


def info(name: str, **extra: Any) -> CollectionInfo:
    return CollectionInfo(name, "copy", 5, 50, ["_id_"], {}, True, True, **extra)


SOURCE_INDEXES = [
    {"v": 2, "key": {"_id": 1}, "name": "_id_"},
    {"v": 2, "key": {"when": -1}, "name": "when_-1", "expireAfterSeconds": 60},
]


def run_steps(ctx: RunContext, *, hooks: bool = True) -> list[Step]:
    inv = Inventory(
        SideInventory("s", "app", [info("People", index_specs=SOURCE_INDEXES), info("Orders")]),
        SideInventory("t", "app", [info("People"), info("old")]),
    )
    analysis = analyse(ctx.plan, inv)
    state = new_state(ctx, [a.name for a in analysis.collections], resumed=False)
    return promotion_steps(ctx, state, analysis, allow_target_drift=False, run_hooks=hooks)


def keys(ctx: RunContext, *, hooks: bool = True) -> list[str]:
    return [p.action.key for p in plan_actions(ctx, run_steps(ctx, hooks=hooks))]


def test_a_run_plans_every_step_in_order_on_mongod(tmp_path: Path) -> None:
    assert keys(context(tmp_path, MONGOD)) == [
        "preflight",
        "precheck",
        "hook:before_backup:0",
        "backup",
        "copy",
        "indexes:People",
        "indexes:Orders",
        "validate",
        "drift-guard",
        "hook:before_cutover:0",
        "cutover:People",
        "cutover:Orders",
        "hook:after_cutover:0",
        "hook:after_cutover:1",
        "post-checks",
        "hook:on_failure:0",
    ]


def test_with_a_freeze_the_frozen_section_follows_validation_in_the_decided_order(
    tmp_path: Path,
) -> None:
    ctx = context(tmp_path, MONGOD, plan=PLAN + FREEZE)
    assert keys(ctx) == [
        "preflight",
        "precheck",
        "hook:before_backup:0",
        "backup",
        "copy",
        "indexes:People",
        "indexes:Orders",
        "validate",
        "pre-pass",
        "freeze:start",
        "catch-up",
        "hook:before_cutover:0",
        "cutover:People",
        "cutover:Orders",
        "post-checks",
        "freeze:end",
        "hook:after_cutover:0",
        "hook:after_cutover:1",
        "caught-up",
        "freeze-held",  # keep_previous (the default): did the freeze hold
        "hook:on_failure:0",
    ]
    planned = {p.action.key: p.action.description for p in plan_actions(ctx, run_steps(ctx))}
    assert "`touch /tmp/x` (timeout 300 s); then `sleep 1` (timeout 5 s)" in planned["freeze:start"]
    assert "`rm -f /tmp/x`" in planned["freeze:end"]
    assert "max_window (30 s)" in planned["pre-pass"]
    assert "compared with the catch-up's read" in planned["cutover:People"]


def test_no_hooks_skips_the_freeze_commands_and_says_the_application_is_not_stopped(
    tmp_path: Path,
) -> None:
    ctx = context(tmp_path, FERRET, plan=PLAN + FREEZE)
    planned = {
        p.action.key: p.action.description for p in plan_actions(ctx, run_steps(ctx, hooks=False))
    }
    assert (
        "skip 2 freeze.start command(s) (--no-hooks): the application is NOT stopped"
        in planned["freeze:start"]
    )
    assert planned["freeze:end"].startswith("skip 1 freeze.end command(s) (--no-hooks)")
    assert "catch-up" in planned and "drift-guard" not in planned


def test_without_a_freeze_nothing_of_it_is_planned(tmp_path: Path) -> None:
    found = keys(context(tmp_path, MONGOD))
    assert not {"pre-pass", "freeze:start", "catch-up", "freeze:end", "caught-up"} & set(found)
    steps = run_steps(context(tmp_path, MONGOD))
    (cutover,) = [s for s in steps if isinstance(s, CutoverStep)]
    assert not cutover.frozen


def test_without_drop_target_the_asides_are_dropped_and_no_hooks_is_one_action(
    tmp_path: Path,
) -> None:
    found = keys(context(tmp_path, FERRET, "cutover: {keep_previous: false}\n"), hooks=False)
    assert found[found.index("cutover:Orders") + 1 :] == [
        "cutover:asides",
        "hooks:after_cutover",
        "post-checks",
        "hooks:on_failure",
    ]
    assert found[2] == "hooks:before_backup" and "hooks:before_cutover" in found


@pytest.mark.parametrize("caps", [MONGOD, FERRET], ids=["mongod", "ferretdb"])
def test_keep_previous_keeps_every_replaced_collection_and_drops_nothing(
    tmp_path: Path, caps: Capabilities
) -> None:
    """The default: two renames on every server (dropTarget or not), nothing dropped after."""
    ctx = context(tmp_path, caps)
    planned = plan_actions(ctx, run_steps(ctx))
    cutover = [p.action for p in planned if p.action.key.startswith("cutover")]
    assert [a.key for a in cutover] == ["cutover:People", "cutover:Orders"]
    assert all(f"kept as <name>__prev_{ctx.run_id}" in a.description for a in cutover)
    assert planned[0].step.checks["keep_previous"] is True  # type: ignore[attr-defined]


def test_the_health_gate_comes_last_and_the_dry_run_says_what_it_does(tmp_path: Path) -> None:
    extra = "health: [{name: gw, url: 'http://127.0.0.1:9/health', retries: 2}]\n"
    for mode, then in (
        ("report", "exit 1, production stays cut over"),
        ("rollback", "rolled back"),
    ):
        ctx = context(tmp_path, MONGOD, extra + f"health_gate: {mode}\n")
        planned = plan_actions(ctx, run_steps(ctx))
        gate = planned[-2]  # the on_failure hook is listed last
        assert (gate.action.key, gate.step.number) == ("health-gate", 10)
        assert f"health gate ({mode}): 1 check(s) (gw)" in gate.action.description
        assert then in gate.action.description
    ctx = context(tmp_path, MONGOD, extra)  # health_gate: off (the default)
    assert "health-gate" not in [p.action.key for p in plan_actions(ctx, run_steps(ctx))]


def test_the_backup_goes_where_the_plan_says_under_the_run_id(tmp_path: Path) -> None:
    ctx = context(tmp_path, MONGOD)
    assert ctx.paths.backup_dir == Path("/somewhere/backups/20250101-000000-abcd")
    assert ctx.paths.journal == tmp_path / "runs" / ctx.run_id / "journal.jsonl"
    assert ctx.paths.report_json.parent == ctx.paths.report_md.parent == ctx.run_dir


def test_cutover_describes_the_rename_the_server_allows(tmp_path: Path) -> None:
    for caps, words in ((MONGOD, "atomic rename"), (FERRET, "renamed aside")):
        ctx = context(tmp_path, caps)
        (step,) = in_stages([], [CutoverStep(new_state(ctx, ["A"], resumed=False), ["A"])])
        (first, *rest) = step.plan(ctx)
        assert (first.key, first.step, first.collection) == ("cutover:A", 2, "A")
        assert words in first.description
        assert [a.key for a in rest] == ([] if caps is MONGOD else ["cutover:asides"])


@pytest.mark.parametrize("caps", [MONGOD, FERRET], ids=["mongod", "ferretdb"])
def test_index_planning_keeps_source_and_declared_indexes_and_fits_the_server(
    caps: Capabilities,
) -> None:
    declared = [
        IndexSpec.model_validate({"keys": {"email": 1}, "unique": True, "name": "uniq_email"}),
        IndexSpec.model_validate(
            {"keys": {"team": 1}, "partialFilterExpression": {"a": 1}, "unique": True, "name": "t"}
        ),
        IndexSpec.model_validate({"keys": {"when": -1}, "name": "dup_of_source"}),
    ]
    models, notes = index_models(SOURCE_INDEXES, declared, caps)
    by_name = {m.document["name"]: m.document for m in models}

    assert list(by_name) == ["when_-1", "uniq_email", "t"]  # _id_ is the server's own
    assert by_name["uniq_email"]["unique"] is True
    assert any("dup_of_source" in n and "same keys" in n for n in notes)
    if caps is MONGOD:
        assert by_name["when_-1"]["expireAfterSeconds"] == 60
        assert by_name["t"]["partialFilterExpression"] == {"a": 1} and by_name["t"]["unique"]
    else:
        assert "expireAfterSeconds" not in by_name["when_-1"]
        assert "partialFilterExpression" not in by_name["t"] and "unique" not in by_name["t"]
        assert any("partialFilterExpression dropped" in n for n in notes)


def test_planned_index_names_are_the_names_built(tmp_path: Path) -> None:
    ctx = context(tmp_path, FERRET)
    inv = Inventory(SideInventory("s", "app", [info("People", index_specs=SOURCE_INDEXES)]),
                    SideInventory("t", "app", []))  # fmt: skip
    (people,) = analyse(ctx.plan, inv).collections
    names = planned_index_names(people, ctx.plan.indexes["People"], ctx.target_caps)
    assert names == ["when_-1", "uniq_email", "active_team"]


PREFLIGHT = "preflight: plan valid, both servers reachable, capabilities detected"
POST_CHECKS = "post-checks: the live collections hold what the shadows held"


def numbered(steps: list[Step]) -> list[tuple[int, str]]:
    return [(s.number, s.title) for s in steps]


def test_a_step_is_numbered_by_its_stage_in_run_order(tmp_path: Path) -> None:
    """The numbers `STEP n: title` prints, which DESIGN.md's commands and the README name."""
    assert numbered(run_steps(context(tmp_path, MONGOD))) == [
        (1, PREFLIGHT),
        (1, "pre-checks: collection options kept, folded parents within 16 MB"),
        (2, "before_backup hooks"),
        (2, "backup the target"),
        (3, "copy into shadows, transforming on the way"),
        (4, "build indexes on the shadows"),
        (5, "validate the shadows against the source"),
        (6, "drift guard: production unchanged since its backup?"),
        (7, "before_cutover hooks"),
        (7, "cutover: 2 rename(s), one per collection"),
        (8, "after_cutover hooks"),
        (9, POST_CHECKS),
        (9, "on_failure hooks"),  # listed last, under the last number
    ]


def test_restore_rollback_and_cleanup_number_their_stages(tmp_path: Path) -> None:
    ctx = context(tmp_path, MONGOD)
    state = new_state(ctx, [], resumed=False)
    dump = Dump(tmp_path, "app", None, [])
    restore = [
        (1, PREFLIGHT),
        (2, "backup the target"),
        (3, "load the backup into shadows"),
        (4, "build indexes on the shadows"),
        (5, "cutover: 0 rename(s), one per collection"),
        (6, "drop the collections the rolled-back run created"),
        (7, POST_CHECKS),
    ]
    assert numbered(restore_steps(ctx, state, dump, present=["People"], drop=[])) == restore
    rollback = restore_steps(ctx, state, dump, present=["People"], drop=["People"], artifacts=["x"])
    assert numbered(rollback) == restore
    swaps = [Swap("People", "People__undone_x", "People__prev_y")]
    instant = restore_steps(
        ctx, state, None, present=["People"], drop=[], swaps=swaps, rollback=True
    )
    assert numbered(instant) == [(1, PREFLIGHT), (2, "swap back: 1 collection(s), renames only")]
    mixed = restore_steps(
        ctx, state, dump, present=["People", "Made"], drop=["Made"], swaps=swaps, rollback=True
    )
    assert numbered(mixed) == [
        *restore[:5],
        (6, "swap back: 1 collection(s), renames only"),
        (7, "drop the collections the rolled-back run created"),
    ]
    chosen = [Candidate("old", 1, 10, "1:ab", "1:ab", forced=False)]
    assert numbered(cleanup_steps(ctx, state, chosen)) == [
        (1, PREFLIGHT),
        (2, "backup the target"),
        (3, "check the backup against the run's backup"),
        (4, "drop the legacy, replaced and kept collections (backed up)"),
    ]


def test_the_dry_run_prints_one_heading_per_stage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ctx = context(tmp_path, MONGOD)
    planned = plan_actions(ctx, run_steps(ctx))
    plan_list(Output(), [PlannedAction(p.step.number, p.step.title, p.action) for p in planned])
    headings = [line for line in capsys.readouterr().out.splitlines() if line.startswith("STEP")]
    assert headings == [
        f"STEP {n}: {title}"
        for n, title in [
            (1, PREFLIGHT),
            (2, "before_backup hooks"),  # the backup's action follows under it
            (3, "copy into shadows, transforming on the way"),
            (4, "build indexes on the shadows"),
            (5, "validate the shadows against the source"),
            (6, "drift guard: production unchanged since its backup?"),
            (7, "before_cutover hooks"),  # the cutover's actions follow under it
            (8, "after_cutover hooks"),
            (9, POST_CHECKS),  # the on_failure hooks' action follows under it
        ]
    ]


def test_reordering_stages_renumbers_every_step() -> None:
    class Named:
        number = 0

        def __init__(self, title: str) -> None:
            self.title = title

    a, b, c, d = (Named(t) for t in "abcd")
    steps = in_stages([b], [a, c], listed_last=[d])  # type: ignore[list-item]
    assert [(s.number, s.title) for s in steps] == [(1, "b"), (2, "a"), (2, "c"), (2, "d")]


def test_with_a_freeze_the_gate_comes_last_and_without_kept_collections_no_held_check(
    tmp_path: Path,
) -> None:
    """The order of issue 17: ... post-checks, freeze.end, after_cutover, then the health gate;
    the freeze-held check needs the previous collections kept (keep_previous)."""
    gated = 'health: [{name: gw, url: "http://127.0.0.1:9/"}]\nhealth_gate: report\n'
    ctx = context(tmp_path, MONGOD, plan=PLAN + FREEZE + gated)
    assert keys(ctx)[-7:] == [
        "freeze:end",
        "hook:after_cutover:0",
        "hook:after_cutover:1",
        "caught-up",
        "freeze-held",
        "health-gate",
        "hook:on_failure:0",  # listed last, run only on failure
    ]
    unkept_plan = PLAN + FREEZE + gated + "cutover: {keep_previous: false}\n"
    unkept = context(tmp_path, MONGOD, plan=unkept_plan)
    assert "freeze-held" not in keys(unkept) and "health-gate" in keys(unkept)
