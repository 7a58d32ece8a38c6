"""What the cleanup and history CLI tests share: a real run to act after."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId

from tests.integration.conftest import explain, invoke, json_out


@dataclass
class Promoted:
    dbs: Any
    plan: Path
    state: Path
    run_id: str

    def cli(self, *args: str) -> Any:
        return invoke([*args, "--plan", str(self.plan), "--state-dir", str(self.state)])


@pytest.fixture
def promoted(dbs: Any, tmp_path: Path) -> Promoted:
    plan = tmp_path / "promote.yaml"
    plan.write_text(f"""\
version: 1
source: {{uri: "{dbs.servers.source_uri}", database: {dbs.name}}}
target: {{uri: "{dbs.servers.target_uri}", database: {dbs.name}}}
collections:
  include: [Parent, Plain]
  exclude: [legacy_notes]                  # excluded AND legacy: cleanup still drops it
  legacy: [old_calls, "re:^legacy_.*$"]
transforms:
  - embed:
      from: Child
      into: Parent
      match: {{from: parentId, into: _id}}
      key: {{from: lang}}
      as: texts
      fields: {{text: text}}
      keep_source: false
cleanup: {{min_age: 48h}}
hooks: {{after_cutover: ["echo cut over"]}}
""")
    p1 = ObjectId()
    dbs.source.Parent.insert_one({"_id": p1, "n": 1})
    dbs.source.Child.insert_one({"parentId": p1, "lang": "fr", "text": "bonjour"})
    dbs.source.Plain.insert_many([{"i": i} for i in range(3)])
    dbs.target.Parent.insert_one({"_id": p1, "old": True})
    dbs.target.Child.insert_many(
        [{"parentId": p1, "lang": "en", "text": f"old {i}"} for i in range(4)]
    )
    dbs.target.old_calls.insert_many([{"call": i, "at": f"2024-01-0{i + 1}"} for i in range(3)])
    dbs.target.old_calls.create_index([("call", 1)], name="legacy_call")
    dbs.target.legacy_notes.insert_one({"note": "keep me until cleanup"})
    dbs.target.Unrelated.insert_one({"stays": True})  # unmatched: never touched
    state = tmp_path / "state"
    result = invoke(["run", "--plan", str(plan), "--state-dir", str(state), "--yes", "--json"])
    assert result.exit_code == 0, explain(result)
    return Promoted(dbs, plan, state, json_out(result)["run_id"])
