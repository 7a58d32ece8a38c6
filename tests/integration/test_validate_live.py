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


def test_validate_catches_a_changed_translation(promoted: tuple[Any, Path]) -> None:
    dbs, plan = promoted
    dbs.target.Parent.update_one({"n": 1}, {"$set": {"texts.fr.text": "tampered"}})
    result = validate(plan)
    assert result.exit_code == 1
    failed = [c for c in json.loads(result.stdout)["checks"] if not c["passed"]]
    assert [(c["kind"], c["collection"]) for c in failed] == [("content", "Parent")]


def test_validate_catches_a_changed_plain_collection(promoted: tuple[Any, Path]) -> None:
    dbs, plan = promoted
    dbs.target.Plain.update_one({"i": 3}, {"$set": {"i": 33}})
    result = validate(plan)
    assert result.exit_code == 1
    failed = {
        (c["kind"], c["collection"]) for c in json.loads(result.stdout)["checks"] if not c["passed"]
    }
    assert failed == {("checksum", "Plain")}


def test_validate_catches_a_missing_document(promoted: tuple[Any, Path]) -> None:
    dbs, plan = promoted
    dbs.target.Plain.delete_one({"i": 0})
    failed = {c["kind"] for c in json.loads(validate(plan).stdout)["checks"] if not c["passed"]}
    assert failed == {"count", "checksum"}
