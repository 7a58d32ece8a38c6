"""Two blind spots closed: collection options a target does not keep (named by the dry-run,
refused by the run unless the plan accepts the loss, checked by validation), and parents an embed
would push past 16 MB (named by the dry-run, refused before any copy under `on_oversize: fail`,
or folded as far as they fit / left as they are under `skip_children` / `report`)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mongo_promote.adapters.servers import LocalServer, start_server, stop_server
from mongo_promote.domain.analysis import Actions
from mongo_promote.errors import OperationFailed
from mongo_promote.run.sequence import new_state
from mongo_promote.state.step import in_stages
from mongo_promote.steps.copy import create_shadow
from mongo_promote.steps.precheck import PrecheckStep
from mongo_promote.steps.validate.options import options_check
from tests.conftest import bounded_client, engine_under_test
from tests.integration.conftest import explain, invoke, json_out, run_artifacts, snapshot
from tests.integration.test_copy_indexes import (  # noqa: F401 (a fixture)
    MakeCtx,
    actions_of,
    make_ctx,
    options_action,
)
from tests.integration.test_run_safety import write_plan

pytestmark = pytest.mark.integration

# ---------------------------------------------------------------- collection options


@pytest.fixture
def other_engine_target(tmp_path: Path) -> Iterator[LocalServer]:
    """A target on the other engine than the session's: FerretDB v2 (drops `capped`) behind a
    FerretDB v1 source (keeps it), or FerretDB v1 (no validators) behind a v2 source (collMod
    gives it one): a source option the target cannot keep, on either engine."""
    other = "documentdb" if engine_under_test() == "ferretdb" else "ferretdb"
    server = start_server("production", tmp_path / "other-target", engine=other)
    try:
        yield server
    finally:
        stop_server(server)


def give_the_source_an_option(servers: Any, name: str) -> str:
    """`Log` with an option the session's source engine keeps; which one it is."""
    db = servers.source[name]
    if engine_under_test() == "ferretdb":
        db.create_collection("Log", capped=True, size=1 << 20)
        kept = "capped"
    else:
        db.create_collection("Log")
        db.command("collMod", "Log", validator={"level": {"$exists": True}})
        kept = "validator"
    assert kept in db.Log.options(), "the source engine did not keep it"
    db.Log.insert_many([{"_id": i, "level": "info"} for i in range(20)])
    return kept


def test_an_option_the_target_drops_is_named_refused_then_accepted_with_best_effort(
    servers: Any, fresh_name: Any, tmp_path: Path, other_engine_target: LocalServer
) -> None:
    name = fresh_name()
    option = give_the_source_an_option(servers, name)
    target = bounded_client(other_engine_target.uri)
    try:
        target[name].Log.insert_one({"_id": "old", "level": "debug"})
        before = snapshot(target[name])
        plan = tmp_path / "plan.yaml"
        body = "collections: {include: [Log]}\nhooks: {after_cutover: ['echo restarted']}\n"
        plan.write_text(
            f"version: 1\nsource: {{uri: '{servers.source_uri}', database: {name}}}\n"
            f"target: {{uri: '{other_engine_target.uri}', database: {name}}}\n" + body
        )
        common = ["--plan", str(plan), "--state-dir", str(tmp_path)]

        dry = invoke(["run", "--dry-run", *common])
        assert dry.exit_code == 0, explain(dry)
        said = " ".join(dry.stderr.split())
        assert f"Log: the target would not keep collection option(s) {option}" in said, said
        assert "the run refuses unless" in said

        refused = invoke(["run", "--yes", *common])
        assert refused.exit_code == 1, explain(refused)
        err = " ".join(refused.stderr.split())
        assert "refused before copying anything" in err and f"Log: {option}" in err, err
        assert "best_effort" in err
        assert snapshot(target[name]) == before and run_artifacts(target[name]) == []

        accepted = "include: [Log], options: {Log: best_effort}"
        plan.write_text(plan.read_text().replace("include: [Log]", accepted))
        done = invoke(["run", "--yes", "--json", *common])
        assert done.exit_code == 0, explain(done)
        report = json.loads(Path(json_out(done)["report"]).read_text())
        checks = [c for c in report["validation"]["checks"] if c["kind"] == "options"]
        assert checks and not checks[0]["passed"] and checks[0]["severity"] == "warning"
        assert option in checks[0]["detail"] and "best_effort accepts it" in checks[0]["detail"]
        assert report["preflight"]["option_losses"]["Log"]["policy"] == "best_effort"
        assert [d["_id"] for d in target[name].Log.find()] == list(range(20))
    finally:
        target.drop_database(name)
        target.close()


@pytest.mark.capability("create_keeps_validator", "create_keeps_collation", "create_keeps_capped")
def test_validation_holds_a_shadow_to_its_source_s_options(
    dbs: Any, make_ctx: MakeCtx  # noqa: F811
) -> None:
    """What the server kept is read back: an option missing fails (the plan's `best_effort`
    makes it a warning); options the server kept pass. Here the target is the session's own."""
    options = {
        "validator": {"$jsonSchema": {"bsonType": "object", "required": ["name"]}},
        "validationLevel": "strict",
        "collation": {"locale": "fr", "strength": 2},
        "capped": True,
        "size": 1 << 16,
    }
    exact, lenient = make_ctx(), make_ctx("collections: {options: {'re:Strict.*': best_effort}}\n")
    action = options_action("Strict", options)
    shadow = create_shadow(exact, action)
    kept = dbs.target[shadow].options()
    lost = [k for k in options if k not in kept]

    check = options_check(exact, action, dbs.target[shadow])
    assert check.passed is (not lost), (check, kept)
    if lost:  # neither engine keeps every one of these (v1: no validator nor collation)
        assert check.severity == "error" and all(k in check.detail for k in lost)
        assert "best_effort" in check.detail
        relaxed = options_check(lenient, action, dbs.target[shadow])
        assert not relaxed.passed and relaxed.severity == "warning"
    kept_only = options_action("Strict", {k: v for k, v in options.items() if k in kept})
    assert options_check(exact, kept_only, dbs.target[shadow]).passed
    dbs.target.drop_collection(shadow)


def test_the_precheck_refuses_options_the_probed_target_drops(
    dbs: Any, make_ctx: MakeCtx  # noqa: F811
) -> None:
    dbs.source.Events.insert_one({"_id": 1})
    wanted = {"collation": {"locale": "fr"}, "capped": True, "size": 4096}
    for policy, refused in (("exact", True), ("best_effort", False)):
        ctx = make_ctx(f"collections: {{options: {policy}}}\n")
        action = dataclasses.replace(actions_of(ctx)["Events"], source_options=wanted)
        analysis = Actions([action], [], [], 0)
        state = new_state(ctx, ["Events"], resumed=False)
        (step,) = in_stages([PrecheckStep(state, analysis)])
        (planned,) = step.plan(ctx)
        caps = ctx.target_caps  # the session's target, probed: v1 and v2 both lack collation
        assert "collation" not in caps.create_keeps
        if refused:
            with pytest.raises(OperationFailed) as info:
                step.apply(ctx, planned)
            assert "Events: collation" in info.value.message
        else:
            result = step.apply(ctx, planned)
            assert "collation" in result["option_losses"]["Events"]["options"]


# ---------------------------------------------------------------- a parent past 16 MB once folded

BIG = 16_500_000  # a parent under 16 MiB (16,777,216 bytes): room for one child of three
CHILD_TEXT = 200_000

EMBED = """\
collections:
  include: [Post, Tag]
transforms:
  - embed:
      from: Comment
      into: Post
      match: {from: postId, into: _id}
      key: {from: lang}
      as: comments
      fields: {text: text}
"""


def seed_posts(servers: Any, name: str) -> None:
    """Post 1 near 16 MB with three 200 KB comments (it cannot take them all), post 2 small."""
    source = servers.source[name]
    source.Post.insert_many([{"_id": 1, "body": "b" * BIG}, {"_id": 2, "body": "small"}])
    source.Comment.insert_many(
        [{"_id": 10 + k, "postId": 1, "lang": lang, "text": lang * CHILD_TEXT}
         for k, lang in enumerate(("a", "b", "c"))]
        + [{"_id": 20, "postId": 2, "lang": "fr", "text": "salut"}]
    )  # fmt: skip
    source.Tag.insert_many([{"_id": i} for i in range(3)])
    servers.target[name].Post.insert_one({"_id": 1, "body": "old"})


def plan_with(tmp_path: Path, servers: Any, name: str, policy: str | None) -> Path:
    body = EMBED + (f"      on_oversize: {policy}\n" if policy else "")
    return write_plan(tmp_path / "plan.yaml", servers, name, body)


@pytest.mark.timeout(300)
def test_the_dry_run_names_the_parent_and_the_run_refuses_before_copying_anything(
    servers: Any, fresh_name: Any, tmp_path: Path
) -> None:
    name = fresh_name()
    seed_posts(servers, name)
    plan = plan_with(tmp_path, servers, name, None)
    target = servers.target[name]
    before = snapshot(target)
    common = ["--plan", str(plan), "--state-dir", str(tmp_path)]

    dry = invoke(["run", "--dry-run", *common, "--json"])
    assert dry.exit_code == 0, explain(dry)
    (parent,) = json_out(dry)["actions"]["oversized"]["Comment"]
    assert parent["_id"] == 1 and parent["size"] > BIG and parent["size_after"] > 16 * 1024 * 1024
    assert parent["size_after"] - parent["size"] > 3 * CHILD_TEXT  # exact: three entries' worth
    said = " ".join(dry.stderr.split())
    assert "Post: 1 document(s) past 16 MB once Comment is folded in" in said
    assert "_id 1: 15.7 MB now, 16.3 MB after" in said, said

    refused = invoke(["run", "--yes", *common])
    assert refused.exit_code == 1, explain(refused)
    err = " ".join(refused.stderr.split())
    assert "refused before copying anything" in err and "_id 1" in err, err
    assert "on_oversize: skip_children" in err
    (run_dir,) = (tmp_path / "runs").iterdir()
    started = [
        e["key"] for e in map(json.loads, (run_dir / "journal.jsonl").read_text().splitlines())
        if e["event"] == "action_started"
    ]  # fmt: skip
    assert started == ["preflight", "precheck"], started  # no backup, no copy
    assert snapshot(target) == before and run_artifacts(target) == []


@pytest.mark.timeout(300)
@pytest.mark.parametrize("policy", ["skip_children", "report"])
def test_skip_children_and_report_write_what_fits_list_the_rest_and_validate(
    servers: Any, fresh_name: Any, tmp_path: Path, policy: str
) -> None:
    name = fresh_name()
    seed_posts(servers, name)
    plan = plan_with(tmp_path, servers, name, policy)
    common = ["--plan", str(plan), "--state-dir", str(tmp_path)]

    done = invoke(["run", "--yes", "--json", *common])
    assert done.exit_code == 0, explain(done)
    post = servers.target[name].Post.find_one({"_id": 1})
    kept = sorted(post.get("comments", {}))
    assert kept == (["a"] if policy == "skip_children" else []), kept
    assert servers.target[name].Post.find_one({"_id": 2})["comments"] == {"fr": {"text": "salut"}}
    report = json.loads(Path(json_out(done)["report"]).read_text())
    (embed,) = [t for t in report["transforms"] if "embed" in t]
    (listed,) = embed["oversized"]
    skipped = ["b", "c"] if policy == "skip_children" else ["a", "b", "c"]
    assert listed["_id"] == 1 and listed["skipped"] == skipped
    assert embed["oversize_parents"] == 1 and embed["oversize_skipped"] == len(skipped)
    assert report["validation"]["passed"]

    live = invoke(["validate", *common, "--json"])  # the reference applies the same rule
    assert live.exit_code == 0, explain(live)
