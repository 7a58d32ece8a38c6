"""Backups, restores and rollback through the CLI, on real servers, compared byte for byte.

MongoDB's own mongodump/mongorestore cannot be installed on this machine (the Go module proxy
refuses github.com/mongodb/mongo-tools), so the "mongodump --gzip directory" here is written by
our DumpWriter in mongodump's layout and stripped of our manifest.json.
"""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path
from typing import Any

import bson
import pytest
from bson import Binary, Int64, ObjectId, Timestamp
from pymongo import ASCENDING, DESCENDING

from mongo_promote.adapters.dump import DumpWriter, verify_dump
from mongo_promote.demo.generator import NEW_IN_SOURCE
from mongo_promote.domain.plan import bundled_plan_path
from mongo_promote.state.context import new_run_id
from tests.integration.conftest import (
    explain,
    index_specs,
    invoke,
    json_out,
    lock_doc,
    meeshy_env,
    run_artifacts,
    seed_meeshy,
    snapshot,
    write_plan,
)

pytestmark = pytest.mark.integration

PLAN = 'collections: {include: ["People", "Orders"], legacy: ["re:^old_"]}\n'
T0 = dt.datetime(2025, 3, 4, 5, 6, 7, 891000)


def many_types(i: int) -> dict[str, Any]:
    """Keys out of order and the BSON types FerretDB v1 stores."""
    return {
        "_id": ObjectId(f"{i:024x}"),
        "zeta": i,
        "alpha": Int64(i * 10**12),
        "ratio": i / 7,
        "name": f"Zoé {i} 会議",
        "when": T0 + dt.timedelta(days=i),
        "blob": Binary(bytes(range(i % 17))),
        "uuid": Binary(bytes(16), 4),
        "ts": Timestamp(1_700_000_000 + i, 1),
        "nested": {"b": [1, {"c": None}], "a": True},
        "tags": ["x", "y"][: i % 3],
        "none": None,
    }


def seed_target(servers: Any, name: str) -> None:
    target = servers.target[name]
    target.People.insert_many([{"_id": i, "email": f"p{i}@example.org"} for i in range(20)])
    target.People.create_index([("email", ASCENDING)], unique=True, name="uniq_email")
    target.Orders.insert_many([many_types(i) for i in range(40)])
    target.Orders.create_index([("when", DESCENDING), ("name", ASCENDING)], name="when_name")
    target.old_sessions.insert_many([{"_id": i, "user": i} for i in range(4)])
    target.create_collection("Log", capped=True, size=1 << 20)
    target.Log.insert_many([{"_id": i, "line": f"entry {i}"} for i in range(10)])
    servers.source[name].People.insert_one({"_id": 1, "email": "staging@example.org"})


def change_target(servers: Any, name: str) -> None:
    target = servers.target[name]
    target.People.update_one({"_id": 3}, {"$set": {"email": "changed@example.org"}})
    target.People.delete_many({"_id": {"$gte": 15}})
    target.People.insert_one({"_id": 99, "email": "new@example.org"})
    target.People.drop_index("uniq_email")
    target.drop_collection("Orders")
    target.drop_collection("Log")
    target.create_collection("Log")  # same name, no longer capped
    target.Log.insert_one({"_id": 0, "line": "rewritten"})


def touched(servers: Any, name: str, *, live_only: bool = False) -> tuple[Any, ...]:
    """Everything a restore could write: the database (documents, indexes, options), its lock
    (`live_only`: the application's collections only, none the tool keeps)."""
    db = servers.target[name]
    names = [n for n in sorted(db.list_collection_names()) if not live_only or "__" not in n]
    return (
        snapshot(db, live_only=live_only),
        index_specs(db, live_only=live_only),
        {n: db[n].options() for n in names},
        servers.target.mongo_promote.locks.find_one({"_id": name}),
    )


@pytest.fixture
def small(servers: Any, fresh_name: Any, tmp_path: Path) -> tuple[str, Path]:
    name = fresh_name()
    seed_target(servers, name)
    return name, write_plan(tmp_path / "plan.yaml", servers, name, PLAN)


@pytest.mark.capability("create_keeps_capped")
def test_backup_verifies_and_restore_brings_the_target_back(
    servers: Any, small: tuple[str, Path], tmp_path: Path
) -> None:
    name, plan = small
    before = touched(servers, name)
    out = tmp_path / "dump"

    result = invoke(["backup", "--plan", str(plan), "--out", str(out), "--json"])

    assert result.exit_code == 0, explain(result)
    assert touched(servers, name) == before  # a backup only reads
    manifest = verify_dump(out)
    entries = {e.name: e for e in manifest.collections if e.database == name}
    assert {n: e.count for n, e in entries.items()} == {
        "People": 20,
        "Orders": 40,
        "old_sessions": 4,
        "Log": 10,
    }
    for coll in entries:  # mongodump's layout
        assert (out / name / f"{coll}.bson.gz").is_file()
        assert (out / name / f"{coll}.metadata.json.gz").is_file()
    dumped = gzip.decompress((out / name / "Orders.bson.gz").read_bytes())
    assert sorted(bson.decode_all(dumped), key=lambda d: d["_id"]) == sorted(
        servers.target[name].Orders.find(), key=lambda d: d["_id"]
    )

    change_target(servers, name)
    assert touched(servers, name) != before
    result = invoke(["restore", "--plan", str(plan), "--backup", str(out), "--yes", "--json"])

    assert result.exit_code == 0, explain(result)
    restored = json_out(result)
    assert restored["verified"] is True
    assert sorted(restored["collections"]) == ["Log", "Orders", "People", "old_sessions"]
    # Capped where the server keeps the option at all (FerretDB v2 accepts it and drops it at create).
    assert servers.target[name].Log.options().get("capped") is (
        True if servers.probed.create_keeps_capped else None
    )
    assert touched(servers, name) == before  # documents byte for byte, indexes, no lock left
    assert run_artifacts(servers.target[name]) == []


def test_restore_refuses_a_corrupted_dump(
    servers: Any, small: tuple[str, Path], tmp_path: Path
) -> None:
    name, plan = small
    out = tmp_path / "dump"
    result = invoke(["backup", "--plan", str(plan), "--out", str(out), "--json"])
    assert result.exit_code == 0, explain(result)
    change_target(servers, name)
    before = touched(servers, name)
    victim = out / name / "People.bson.gz"
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01
    victim.write_bytes(bytes(data))

    result = invoke(["restore", "--plan", str(plan), "--backup", str(out), "--yes", "--json"])

    assert result.exit_code == 1, explain(result)
    assert "People.bson.gz" in result.stderr
    assert touched(servers, name) == before
    assert run_artifacts(servers.target[name]) == []


def test_restore_accepts_a_mongodump_directory_without_manifest(
    servers: Any, small: tuple[str, Path], tmp_path: Path
) -> None:
    name, plan = small
    dump = tmp_path / "mongodump"
    things = [bson.encode(many_types(i)) for i in range(25)]
    people = [bson.encode({"_id": i, "email": f"dump{i}@example.org"}) for i in range(7)]
    id_index = {"v": 2, "key": {"_id": 1}, "name": "_id_"}
    with DumpWriter(dump, gzip=True, run_id=None) as writer:
        writer.write_collection(
            name,
            "Things",
            things,
            options={},
            indexes=[id_index, {"v": 2, "key": {"name": 1}, "name": "name_1", "unique": True}],
        )
        writer.write_collection(name, "People", people, options={}, indexes=[id_index])
    (dump / "manifest.json").unlink()
    untouched = snapshot(servers.target[name])["old_sessions"]

    result = invoke(["restore", "--plan", str(plan), "--backup", str(dump), "--yes", "--json"])

    assert result.exit_code == 0, explain(result)
    assert json_out(result)["verified"] is False
    after = snapshot(servers.target[name])
    assert after["Things"] == sorted(things)
    assert after["People"] == sorted(people)  # the live collection was replaced, not merged
    assert after["old_sessions"] == untouched
    assert after["Orders"]  # not in the dump: left alone
    indexes = index_specs(servers.target[name])
    assert ("name_1", (("name", 1),), True) in indexes["Things"]
    assert run_artifacts(servers.target[name]) == []


@pytest.mark.parametrize("keep", [True, False], ids=["keep-previous", "no-keep"])
def test_rollback_of_a_meeshy_run_brings_back_replaced_collections_and_removes_created_ones(
    servers: Any, fresh_name: Any, tmp_path: Path, keep: bool
) -> None:
    """The bundled plan keeps the previous collections: the rollback swaps them back and takes
    the created ones out (kept aside); with keep_previous false, as before: the replaced ones
    from the backup, the created ones dropped."""
    name = fresh_name("rb")
    seed_meeshy(servers, name, scale=0.2)
    env = meeshy_env(servers, name, tmp_path / "backups")
    before = touched(servers, name)
    plan = tmp_path / "meeshy.yaml"
    plan.write_text(
        bundled_plan_path()
        .read_text()
        .replace(
            "cutover: {keep_previous: true}", f"cutover: {{keep_previous: {str(keep).lower()}}}"
        )
    )
    common = ["--plan", str(plan), "--state-dir", str(tmp_path), "--yes", "--json"]

    ran = invoke(["run", *common], env)
    assert ran.exit_code == 0, explain(ran)
    run_id = json_out(ran)["run_id"]
    promoted = snapshot(servers.target[name], live_only=True)
    assert promoted != before[0] and set(NEW_IN_SOURCE) <= set(promoted)

    result = invoke(["rollback", *common], env)

    assert result.exit_code == 0, explain(result)
    out = json_out(result)
    if keep:
        assert out["dropped"] == [] and out["dir"] == "" and out["collections"] == []
        # the replaced ones swapped back; the created ones taken out, kept aside, not dropped
        assert "Message" in out["swapped"] and set(out["swapped"]) <= set(before[0])
        assert set(out["kept_aside"]) == set(out["swapped"]) | set(NEW_IN_SOURCE)
    else:
        assert sorted(out["dropped"]) == sorted(NEW_IN_SOURCE)
        assert out["dir"] == str(tmp_path / "backups" / run_id) and out["swapped"] == []
    # replaced collections byte-identical, created ones gone, legacy untouched, indexes back
    assert touched(servers, name, live_only=True) == _live(before)
    assert run_artifacts(servers.target[name]) == []


def _live(found: tuple[Any, ...]) -> tuple[Any, ...]:
    """`touched` of a state without tool collections, as `touched(live_only=True)` sees it."""
    snap, indexes, options, lock = found
    return (
        {n: v for n, v in snap.items() if "__" not in n},
        {n: v for n, v in indexes.items() if "__" not in n},
        {n: v for n, v in options.items() if "__" not in n},
        lock,
    )


def test_rollback_without_any_run_is_a_usage_error(
    servers: Any, small: tuple[str, Path], tmp_path: Path
) -> None:
    name, plan = small
    before = touched(servers, name)
    result = invoke(
        [
            "rollback",
            "--plan",
            str(plan),
            "--state-dir",
            str(tmp_path / "none"),
            "--yes",
            "--json",
            "--run",
            new_run_id(),
        ]
    )
    assert result.exit_code == 2, explain(result)
    assert touched(servers, name) == before


def test_restore_refuses_while_another_run_holds_the_lock(
    servers: Any, small: tuple[str, Path], tmp_path: Path
) -> None:
    name, plan = small
    out = tmp_path / "dump"
    result = invoke(["backup", "--plan", str(plan), "--out", str(out), "--json"])
    assert result.exit_code == 0, explain(result)
    change_target(servers, name)
    servers.target.mongo_promote.locks.insert_one(lock_doc(name, "other", dt.timedelta(minutes=9)))
    before = touched(servers, name)

    result = invoke(["restore", "--plan", str(plan), "--backup", str(out), "--yes", "--json"])

    assert result.exit_code == 4, explain(result)
    assert "other" in result.stderr
    assert touched(servers, name) == before


def test_restore_of_selected_collections_only(
    servers: Any, small: tuple[str, Path], tmp_path: Path
) -> None:
    name, plan = small
    out = tmp_path / "dump"
    assert invoke(["backup", "--plan", str(plan), "--out", str(out)]).exit_code == 0
    original = snapshot(servers.target[name])
    change_target(servers, name)
    changed = snapshot(servers.target[name])

    result = invoke(
        [
            "restore",
            "--plan",
            str(plan),
            "--backup",
            str(out),
            "--yes",
            "--json",
            "--collection",
            "Orders",
        ]
    )

    assert result.exit_code == 0, explain(result)
    assert json_out(result)["collections"] == ["Orders"]
    after = snapshot(servers.target[name])
    assert after == {**changed, "Orders": original["Orders"]}


def test_restore_loads_a_collection_of_many_tiny_documents(
    servers: Any, small: tuple[str, Path], tmp_path: Path
) -> None:
    """30,000 documents of 22 bytes fit in one batch sized by bytes, but FerretDB v2 refuses an
    insert of more than 25,000 documents: the restore's batches are capped in documents too (seen
    at Meeshy scale 100 with a writer, where a restore failed on 29,493)."""
    name, plan = small
    target = servers.target[name]
    target.Log.drop()
    target.create_collection("Log")
    for start in range(0, 30_000, 10_000):  # the seed's own inserts, under the server's cap
        target.Log.insert_many([{"_id": i} for i in range(start, start + 10_000)])
    out = tmp_path / "dump"
    result = invoke(["backup", "--plan", str(plan), "--out", str(out), "--json"])
    assert result.exit_code == 0, explain(result)
    target.Log.delete_many({"_id": {"$gte": 100}})

    result = invoke(["restore", "--plan", str(plan), "--backup", str(out), "--yes", "--json"])

    assert result.exit_code == 0, explain(result)
    assert target.Log.count_documents({}) == 30_000
    assert [d["_id"] for d in target.Log.find().sort("_id", -1).limit(1)] == [29_999]
