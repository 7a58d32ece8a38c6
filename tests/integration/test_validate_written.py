"""Validation from what the copy proved: transformed documents held to the decoded reference as they
pass, the content hash of the documents written, one raw read of each shadow. A wrong byte edit
and a shadow changed after its copy must both stop the run before cutover, naming the document."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mongo_promote.domain.transforms import stream
from mongo_promote.steps.validate import content as validate_content
from mongo_promote.steps.validate import references as validate_references
from mongo_promote.steps.validate import step as validate_step
from tests.integration.conftest import explain, invoke, json_out, run_artifacts, snapshot
from tests.integration.test_transforms_server import existing_plan, oid, seed_existing

pytestmark = pytest.mark.integration


def run(plan: Path, state: Path) -> Any:
    return invoke(["run", "--plan", str(plan), "--state-dir", str(state), "--json", "--yes"])


def failed_checks(state: Path) -> list[dict[str, Any]]:
    (path,) = state.rglob("report.json")
    report = json.loads(path.read_text())
    return [c for c in report["validation"]["checks"] if not c["passed"]]


def journal(state: Path) -> list[dict[str, Any]]:
    (path,) = state.rglob("journal.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_clean_run_reads_each_shadow_once_and_fingerprints_it_from_validation(
    dbs: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_existing(dbs.source)
    plan = existing_plan(tmp_path, dbs, "latest")
    reads: list[str] = []
    hashing = validate_content.content_hash

    def counting(coll: Any, **kwargs: Any) -> Any:
        started = [
            e.get("key") for e in journal(tmp_path / "state") if e["event"] == "action_started"
        ]
        reads.append(f"{coll.name} (after {started[-1]})")
        return hashing(coll, **kwargs)

    monkeypatch.setattr(validate_content, "content_hash", counting)

    result = run(plan, tmp_path / "state")

    assert result.exit_code == 0, explain(result)
    # read once, as soon as it was copied: during the copy, before its indexes were built
    parent = [r for r in reads if r.startswith("Parent__")]
    assert len(parent) == 1 and parent[0].endswith(" (after copy)"), reads
    report = json.loads(Path(json_out(result)["report"]).read_text())
    (content,) = [c for c in report["validation"]["checks"] if c["kind"] == "content"]
    # both parents were transformed and held to the reference; 4 of 5 child entries got through
    assert "2 transformed documents held to transform(source)" in content["detail"]
    assert "the target holds exactly the 2 documents written" in content["detail"]
    hashes = report["validation"]["hashes"]
    events = journal(tmp_path / "state")
    (copied,) = [e for e in events if e["event"] == "copied"]
    assert copied["verification"]["checked"] == 2 and copied["verification"]["mismatched"] == 0
    assert hashes["Parent"] == copied["output_hash"] != copied["content_hash"]
    (fingerprint,) = [e for e in events if e["event"] == "cutover_fingerprint"]
    assert fingerprint["content_hash"] == hashes["Parent"]
    assert hashes["Parent"].startswith("2:")


def test_a_wrong_byte_edit_is_caught_by_the_copys_verification(
    dbs: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in the raw-bytes fold (here: an entry's text altered) never reaches production."""
    seed_existing(dbs.source)
    plan = existing_plan(tmp_path, dbs, "latest")
    dbs.target.Parent.insert_one({"_id": oid(9), "live": True})
    before = snapshot(dbs.target)
    original = stream.with_map

    def corrupting(data: bytes, field: str, values: Any, **kwargs: Any) -> Any:
        values = {k: {**v, "text": v["text"] + "!"} if k == "es" else v for k, v in values.items()}
        return original(data, field, values, **kwargs)

    monkeypatch.setattr(stream, "with_map", corrupting)

    result = run(plan, tmp_path / "state")

    assert result.exit_code == 1, explain(result)
    assert "production untouched" in result.stderr
    (content,) = failed_checks(tmp_path / "state")
    assert (content["kind"], content["collection"]) == ("content", "Parent")
    assert "1 differ" in content["detail"]
    assert content["samples"][0]["_id"] == str(oid(1))
    assert "texts" in content["samples"][0]["problem"]
    assert snapshot(dbs.target) == before
    assert run_artifacts(dbs.target) == []


def test_a_shadow_changed_after_its_copy_fails_validation_naming_the_document(
    dbs: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_existing(dbs.source)
    plan = existing_plan(tmp_path, dbs, "latest")
    before = snapshot(dbs.target)
    original = validate_step.read_back
    changed: list[str] = []

    def tamper_then_read(ctx: Any, name: str) -> Any:
        if name == "Parent":  # after its copy, before validation reads it back
            shadow = ctx.shadow_name("Parent")
            dbs.target[shadow].update_one({"_id": oid(2)}, {"$set": {"n": 99}})
            changed.append(shadow)
        return original(ctx, name)

    monkeypatch.setattr(validate_step, "read_back", tamper_then_read)

    result = run(plan, tmp_path / "state")

    assert changed, "the run no longer reads the shadows back through read_back"
    assert result.exit_code == 1, explain(result)
    assert "production untouched" in result.stderr
    (content,) = failed_checks(tmp_path / "state")
    assert (content["kind"], content["collection"]) == ("content", "Parent")
    assert "differs from the documents written" in content["detail"]
    assert [s["_id"] for s in content["samples"]] == [str(oid(2))]
    assert "n" in content["samples"][0]["problem"]
    assert snapshot(dbs.target) == before
    assert run_artifacts(dbs.target) == []


REFERENCES_PLAN = """\
collections: {include: [Orders, People, Tags]}
validate:
  references:
    - {from: Orders.person, to: People._id, on_dangling: %s}
    - {from: Tags.people, to: People._id, on_dangling: warn}
"""


@pytest.mark.parametrize("on_dangling", ["warn", "fail"])
def test_references_are_merged_in_order_and_dangling_ones_named(
    servers: Any,
    fresh_name: Any,
    tmp_path: Path,
    on_dangling: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two sorted reads merged (no per-batch `$in`); an array value, which the server does not
    sort as the merge compares, goes the lookup way and gives the same kind of answer."""
    from tests.integration.conftest import write_plan

    name = fresh_name()
    source = servers.source[name]
    people = [oid(i) for i in range(1, 2001)]
    source.People.insert_many([{"_id": p, "n": i} for i, p in enumerate(people)])
    orders = [{"_id": i, "person": people[i % 2000]} for i in range(5000)]
    orders += [
        {"_id": 9001, "person": oid(90001)},  # dangling
        {"_id": 9002, "person": oid(90001)},  # the same dangling value again: counted once
        {"_id": 9003, "person": oid(1)},
        {"_id": 9004, "person": None},  # no reference
        {"_id": 9005},  # no reference
        {"_id": 9006, "person": "not-an-id"},  # dangling, another type
    ]
    source.Orders.insert_many(orders)
    source.Tags.insert_many([{"_id": 1, "people": [oid(1), oid(2)]}, {"_id": 2, "people": oid(3)}])
    plan = write_plan(tmp_path / "plan.yaml", servers, name, REFERENCES_PLAN % on_dangling)
    looked_up: list[str] = []
    lookup = validate_references._dangling_by_lookup

    def recorded(referencing: Any, from_field: str, *args: Any) -> Any:
        looked_up.append(from_field)
        return lookup(referencing, from_field, *args)

    monkeypatch.setattr(validate_references, "_dangling_by_lookup", recorded)

    result = run(plan, tmp_path / "state")

    assert result.exit_code == (1 if on_dangling == "fail" else 0), explain(result)
    (path,) = (tmp_path / "state").rglob("report.json")
    checks = json.loads(path.read_text())["validation"]["checks"]
    orders_check, tags_check = [c for c in checks if c["kind"] == "references"]
    assert orders_check["collection"] == "Orders.person -> People._id"
    assert not orders_check["passed"]
    assert orders_check["detail"] == "2 dangling of 2002 references checked"
    assert sorted(map(str, orders_check["samples"])) == sorted([str(oid(90001)), "not-an-id"])
    assert orders_check["severity"] == ("error" if on_dangling == "fail" else "warning")
    # the array is one value the lookup cannot find; oid(3) is found
    assert tags_check["detail"] == "1 dangling of 2 references checked"
    assert tags_check["severity"] == "warning"
    assert looked_up == ["people"]  # Orders went the merge way


def test_counts_only_validation_reads_back_only_the_transformed_shadows(
    dbs: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_existing(dbs.source)
    dbs.source.Other.insert_many([{"_id": i, "v": i} for i in range(5)])
    plan = existing_plan(tmp_path, dbs, "latest")
    text = plan.read_text().replace("include: [Parent]", "include: [Parent, Other]")
    plan.write_text(text + "validate: {checksums: false}\n")
    reads: list[str] = []
    hashing = validate_content.content_hash

    def counting(coll: Any, **kwargs: Any) -> Any:
        reads.append(coll.name.split("__")[0])
        return hashing(coll, **kwargs)

    monkeypatch.setattr(validate_content, "content_hash", counting)

    result = run(plan, tmp_path / "state")

    assert result.exit_code == 0, explain(result)
    # the transformed shadow is read back (its content check needs it), the plain one is only
    # counted: with checksums off nothing would read it
    assert reads == ["Parent"]
    report = json.loads(Path(json_out(result)["report"]).read_text())
    kinds = {(c["kind"], c["collection"]) for c in report["validation"]["checks"]}
    assert ("count", "Other") in kinds and ("checksum", "Other") not in kinds
    assert dbs.target.Other.count_documents({}) == 5
