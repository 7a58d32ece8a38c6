"""What a run does to each collection, decided from an inventory alone (no server)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mongo_promote.domain.analysis import analyse, default_index_name
from mongo_promote.domain.inventory import CollectionInfo, Inventory, SideInventory
from mongo_promote.domain.plan import Plan, load_plan

PLAN = """\
version: 1
source: {uri: "mongodb://a:1", database: app}
target: {uri: "mongodb://b:1", database: app}
collections:
  include: ["re:^[A-Z][a-z]+$"]
  exclude: ["Secret"]
  legacy: ["re:old_.*"]
transforms:
  - embed:
      from: Child
      into: Parent
      match: {from: parentId, into: _id}
      key: {from: [lang]}
      as: kids
      fields: {text: text}
  - rewrite: {collection: Files, fields: [url], find: "a.example", replace: "b.example"}
indexes:
  Parent:
    - {keys: {owner: 1, when: -1}}
    - {keys: {name: 1}, name: by_name}
"""


def plan_of(tmp_path: Path) -> Plan:
    path = tmp_path / "promote.yaml"
    path.write_text(PLAN)
    return load_plan(path, env={}).plan


def info(name: str, count: int, size: int, **extra: Any) -> CollectionInfo:
    return CollectionInfo(name, "copy", count, size, ["_id_"], {}, True, True, **extra)


def inventory(source: list[CollectionInfo], target: list[CollectionInfo]) -> Inventory:
    return Inventory(SideInventory("s", "app", source), SideInventory("t", "app", target))


def test_each_copied_collection_is_replaced_or_created_and_the_rest_left_alone(
    tmp_path: Path,
) -> None:
    plan = plan_of(tmp_path)
    inv = inventory(
        [
            info("Parent", 10, 1000),
            info("Files", 3, 30),
            info("Child", 40, 400),
            info("Secret", 1, 1),
        ],
        [info("Parent", 7, 700), info("old_logs", 5, 50), info("Lonely", 2, 20)],
    )

    actions = analyse(plan, inv)

    assert [a.name for a in actions.collections] == ["Parent", "Files"]
    assert actions.replaced == ["Parent"] and actions.created == ["Files"]
    parent = actions.by_name()["Parent"]
    assert (parent.source_count, parent.target_count) == (10, 7)
    assert parent.transforms == ["embed Child as kids.<lang>"]
    assert parent.declared_indexes == ["owner_1_when_-1", "by_name"]
    assert actions.by_name()["Files"].transforms == ["rewrite 'a.example' -> 'b.example' in url"]
    left = {x.name: (x.cls, x.where) for x in actions.left_alone}
    assert left == {
        "Child": ("embed_source", "source only"),
        "Secret": ("excluded", "source only"),
        "old_logs": ("legacy", "target only"),
        "Lonely": ("copy", "target only"),
    }
    # the backup holds every target collection, whatever the run does to it
    assert actions.backup == ["Lonely", "Parent", "old_logs"]
    assert actions.backup_bytes == 770


def test_default_index_name_is_mongodb_s() -> None:
    assert default_index_name({"a": 1, "b": -1}) == "a_1_b_-1"
    assert default_index_name([("loc", "2dsphere")]) == "loc_2dsphere"
