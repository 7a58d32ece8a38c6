"""`mongo-promote validate` after a run: passes on what the run built, catches any later change."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from typer.testing import CliRunner

from mongo_promote.cli import app

pytestmark = pytest.mark.integration
runner = CliRunner()


def write_plan(tmp_path: Path, dbs: Any) -> Path:
    plan = tmp_path / "promote.yaml"
    plan.write_text(f"""\
version: 1
source: {{uri: "{dbs.servers.source_uri}", database: {dbs.name}}}
target: {{uri: "{dbs.servers.target_uri}", database: {dbs.name}}}
collections: {{include: [Parent, Plain]}}
transforms:
  - embed:
      from: Child
      into: Parent
      match: {{from: parentId, into: _id}}
      key: {{from: [lang, language]}}
      as: texts
      fields:
        text: {{from: [text, content]}}
        createdAt: {{from: createdAt, default: $now}}
hooks: {{after_cutover: ["echo cut over"]}}
""")
    return plan


@pytest.fixture
def promoted(dbs: Any, tmp_path: Path) -> tuple[Any, Path]:
    p1, p2, ghost = ObjectId(), ObjectId(), ObjectId()
    dbs.source.Parent.insert_many(
        [{"_id": p1, "n": 1}, {"_id": p2, "n": 2, "texts": {"de": {"text": "hallo"}}}]
    )
    dbs.source.Child.insert_many([
        {"parentId": p1, "lang": "fr", "text": "bonjour", "createdAt": dt.datetime(2025, 1, 1)},
        {"parentId": p1, "language": "en", "content": "hello"},  # no createdAt: $now
        {"parentId": p2, "lang": "fr", "text": "salut"},
        {"parentId": ghost, "lang": "fr", "text": "orphan"},
    ])  # fmt: skip
    dbs.source.Plain.insert_many([{"i": i} for i in range(5)])
    dbs.target.Parent.insert_one({"_id": p1, "old": True})
    plan = write_plan(tmp_path, dbs)
    result = runner.invoke(
        app, ["run", "--plan", str(plan), "--yes", "--json"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["validation"]["passed"] is True
    return dbs, plan


def validate(plan: Path) -> Any:
    return runner.invoke(app, ["validate", "--plan", str(plan), "--json"], catch_exceptions=False)


def test_validate_passes_after_the_run_with_the_runs_own_now(promoted: tuple[Any, Path]) -> None:
    dbs, plan = promoted
    parent = dbs.target.Parent.find_one({"n": 1})
    assert parent["texts"]["fr"] == {"text": "bonjour", "createdAt": dt.datetime(2025, 1, 1)}
    now = parent["texts"]["en"]["createdAt"]  # the run's $now
    assert dbs.target.Parent.find_one({"n": 2})["texts"]["fr"]["createdAt"] == now
    assert set(dbs.target.Parent.find_one({"n": 2})["texts"]) == {"de", "fr"}  # existing key kept
    assert "old" not in parent
    result = validate(plan)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["passed"] is True


def flagged(result: Any) -> set[tuple[str, str, str]]:
    """(kind, collection, severity) of every check that did not pass."""
    checks = json.loads(result.stdout)["checks"]
    return {(c["kind"], c["collection"], c["severity"]) for c in checks if not c["passed"]}


def test_validate_catches_a_changed_translation(promoted: tuple[Any, Path]) -> None:
    """After the cutover an edit reads as the application's: found, named, a warning (issue 19)."""
    dbs, plan = promoted
    dbs.target.Parent.update_one({"n": 1}, {"$set": {"texts.fr.text": "tampered"}})
    result = validate(plan)
    assert result.exit_code == 0
    assert flagged(result) == {("content", "Parent", "warning"), ("changes", "Parent", "warning")}


def test_validate_catches_a_changed_plain_collection(promoted: tuple[Any, Path]) -> None:
    dbs, plan = promoted
    dbs.target.Plain.update_one({"i": 3}, {"$set": {"i": 33}})
    result = validate(plan)
    assert result.exit_code == 0
    assert flagged(result) == {("checksum", "Plain", "warning"), ("changes", "Plain", "warning")}


def test_validate_catches_a_missing_document(promoted: tuple[Any, Path]) -> None:
    dbs, plan = promoted
    dbs.target.Plain.delete_one({"i": 0})
    failed = {c["kind"] for c in json.loads(validate(plan).stdout)["checks"] if not c["passed"]}
    assert failed == {"count", "checksum", "changes"}  # changes: the document is "missing"


def test_validate_reports_changes_since_cutover(promoted: tuple[Any, Path]) -> None:
    dbs, plan = promoted
    added = dbs.target.Plain.insert_one({"i": 100, "written": "after cutover"}).inserted_id
    gone = dbs.target.Plain.find_one({"i": 0})["_id"]
    dbs.target.Plain.delete_one({"_id": gone})
    dbs.target.Parent.update_one({"n": 2}, {"$set": {"edited": True}})
    result = validate(plan)
    assert result.exit_code == 1  # a document the source has is missing from production
    data = json.loads(result.stdout)
    plain, parent = data["changes"]["Plain"], data["changes"]["Parent"]
    assert (plain["added"], plain["changed"], plain["missing"]) == (1, 0, 1)
    assert plain["samples"]["added"] == [str(added)]
    assert plain["samples"]["missing"] == [str(gone)]
    assert (parent["added"], parent["changed"], parent["missing"]) == (0, 1, 0)
    assert ("changes", "Plain", "error") in flagged(result)  # a missing document fails
    assert ("changes", "Parent", "warning") in flagged(result)  # an edit is the application's


def test_validate_reports_only_writes_as_added_and_passes_the_changes_check(
    promoted: tuple[Any, Path],
) -> None:
    dbs, plan = promoted
    data = json.loads(validate(plan).stdout)
    assert data["changes"]["Plain"] == {
        "added": 0,
        "changed": 0,
        "missing": 0,
        "unchanged": 5,
        "samples": {},
    }
    dbs.target.Plain.insert_one({"i": 101})
    result = validate(plan)
    data = json.loads(result.stdout)
    assert data["changes"]["Plain"]["added"] == 1
    changes = {c["collection"]: c for c in data["checks"] if c["kind"] == "changes"}
    assert changes["Parent"]["passed"] and changes["Plain"]["severity"] == "warning"
    # the count and checksum differ, but only by the application's new document: warnings
    plain = {c["kind"]: c for c in data["checks"] if c["collection"] == "Plain"}
    assert not plain["count"]["passed"] and plain["count"]["severity"] == "warning"
    assert "changed since cutover: 1 added, 0 changed" in plain["checksum"]["detail"]
    assert result.exit_code == 0 and data["passed"] is True


def test_url_audit_finds_a_staging_url_in_a_field_no_rewrite_lists(
    dbs: Any, tmp_path: Path
) -> None:
    dbs.source.Attachment.insert_many([
        {"n": 1, "fileUrl": "https://staging.example.com/a.png"},
        {"n": 2, "fileUrl": "https://cdn.example.com/b.png",
         "meta": {"links": ["https://x.org", "https://staging.example.com/c"]}},  # not rewritten
    ])  # fmt: skip
    dbs.target.legacy_urls.insert_one({"backup": {"url": "https://staging.example.com/old"}})
    plan = tmp_path / "promote.yaml"
    plan.write_text(f"""\
version: 1
source: {{uri: "{dbs.servers.source_uri}", database: {dbs.name}}}
target: {{uri: "{dbs.servers.target_uri}", database: {dbs.name}}}
collections: {{include: [Attachment], legacy: [legacy_urls]}}
transforms:
  - rewrite: {{collection: Attachment, fields: [fileUrl], find: staging.example.com, replace: example.com}}
hooks: {{after_cutover: ["echo cut over"]}}
""")
    result = runner.invoke(app, ["run", "--plan", str(plan), "--yes"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    result = validate(plan)
    assert result.exit_code == 0, result.output  # the audit warns; the rewrite itself is complete
    audit = {f["collection"]: f for f in json.loads(result.stdout)["url_audit"]}
    assert set(audit) == {"Attachment", "legacy_urls"}
    assert audit["Attachment"]["paths"] == {"meta.links.1": 1}
    assert audit["Attachment"]["documents"] == 1 and audit["Attachment"]["class"] == "copy"
    assert audit["legacy_urls"]["paths"] == {"backup.url": 1}
    assert audit["legacy_urls"]["class"] == "legacy"
    sample = audit["Attachment"]["samples"][0]
    assert sample["path"] == "meta.links.1"
    assert sample["_id"] == str(dbs.target.Attachment.find_one({"n": 2})["_id"])
