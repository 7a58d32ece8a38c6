"""Issue 19, "two verdicts for one fact": after the cutover, documents the application added or
changed are warnings in every row that sees them (changes, count, checksum, content), so the
README's 24-hour cron line (`validate`) exits 0 on a healthy production that takes writes; a
document the source has and production lost still fails (exit 1)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.cli.conftest import Promoted
from tests.integration.conftest import explain, json_out

pytestmark = pytest.mark.integration


def rows(data: dict[str, Any], collection: str) -> dict[str, tuple[bool, str, str]]:
    return {
        c["kind"]: (c["passed"], c["severity"], c["detail"])
        for c in data["checks"]
        if c["collection"] == collection
    }


def test_the_applications_writes_are_warnings_in_every_row_and_exit_0(promoted: Promoted) -> None:
    target = promoted.dbs.target
    target.Parent.update_one({}, {"$set": {"n": 42}})  # the application edits a transformed one
    target.Plain.update_one({"i": 1}, {"$set": {"seen": True}})  # and a plain one
    target.Plain.insert_one({"i": 99})  # and adds one
    result = promoted.cli("validate", "--json")
    assert result.exit_code == 0, explain(result)
    data = json_out(result)
    assert data["passed"] is True and "error" not in data
    parent, plain = rows(data, "Parent"), rows(data, "Plain")
    for kind in ("changes", "content"):
        passed, severity, detail = parent[kind]
        assert (passed, severity) == (False, "warning"), parent
        assert "changed since cutover: 0 added, 1 changed" in detail
    for kind in ("changes", "count", "checksum"):
        passed, severity, detail = plain[kind]
        assert (passed, severity) == (False, "warning"), plain
        assert "changed since cutover: 1 added, 1 changed" in detail
    table = promoted.cli("validate")
    assert table.exit_code == 0, explain(table)
    assert "validation passed: " in table.stdout and "warning(s), 0 failed" in table.stdout
    assert "changed since cutover" in table.stdout and "FAILED" not in table.stdout


def test_a_document_production_lost_fails(promoted: Promoted) -> None:
    promoted.dbs.target.Plain.delete_one({"i": 2})
    promoted.dbs.target.Plain.insert_one({"i": 99})  # writes elsewhere do not hide it
    result = promoted.cli("validate", "--json")
    assert result.exit_code == 1, explain(result)
    data = json_out(result)
    assert data["error"]["code"] == "validation_failed"
    plain = rows(data, "Plain")
    assert plain["changes"][:2] == (False, "error") and "1 missing" in plain["changes"][2]
    assert plain["checksum"][:2] == (False, "error")  # not explained: a document is missing
