"""What a server close to mongod (FerretDB v2 + DocumentDB) lets a run do, asserted where the probe
finds it and the reported fallback where it does not: the atomic cutover, every BSON type byte for
byte through backup, copy, fold, rewrite, validation, restore and rollback."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import threading
import time
from pathlib import Path
from typing import Any

import bson
import pytest
from bson import (
    Binary,
    Code,
    DBRef,
    Decimal128,
    Int64,
    MaxKey,
    MinKey,
    ObjectId,
    Regex,
    Timestamp,
)
from bson.datetime_ms import DatetimeMS
from bson.raw_bson import RawBSONDocument

from mongo_promote.adapters import mongo as conn
from mongo_promote.adapters.dump import iter_dump_collections
from mongo_promote.adapters.mongo import Capabilities, detect_capabilities
from mongo_promote.domain.names import ASIDE_INFIX, TOOL_DATABASE
from mongo_promote.domain.transforms.bsonbytes import CODEC
from tests.integration.conftest import (
    explain,
    invoke,
    json_out,
    run_artifacts,
    snapshot,
    write_plan,
)

pytestmark = pytest.mark.integration


def report_of(state: Path, run_id: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((state / "runs" / run_id / "report.json").read_text())
    return data


def no_probe_left(servers: Any) -> None:
    left = [n for n in servers.target[TOOL_DATABASE].list_collection_names() if "probe_" in n]
    assert left == [], left


# ---------------------------------------------------------------- the atomic cutover


CUTOVER_PLAN = 'collections: {include: ["People", "Orders"]}\n'


@pytest.mark.capability("drop_target")
def test_cutover_is_one_atomic_rename_where_the_probe_finds_drop_target(
    servers: Any, probed: Any, fresh_name: Any, tmp_path: Path
) -> None:
    name = fresh_name("atomic")
    source, target = servers.source[name], servers.target[name]
    source.People.insert_many([{"_id": i, "n": i} for i in range(50)])
    source.Orders.insert_many([{"_id": i, "p": i % 5} for i in range(80)])
    target.People.insert_many([{"_id": 100 + i, "old": True} for i in range(5)])
    target.Orders.insert_many([{"_id": 500 + i, "old": True} for i in range(5)])
    # nothing kept: the cutover is then one dropTarget rename where the server has it
    plan = write_plan(
        tmp_path / "plan.yaml", servers, name, CUTOVER_PLAN + "cutover: {keep_previous: false}\n"
    )
    seen: set[str] = set()
    stop = threading.Event()

    def watch() -> None:  # every name the target shows while the run goes on
        while not stop.is_set():
            seen.update(target.list_collection_names())
            time.sleep(0.002)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        result = invoke(
            ["run", "--plan", str(plan), "--state-dir", str(tmp_path), "--yes", "--json"]
        )
    finally:
        stop.set()
        watcher.join(timeout=10)

    assert result.exit_code == 0, explain(result)
    report = report_of(tmp_path, json_out(result)["run_id"])
    caps = report["capabilities"]["target"]
    assert caps["probed"] is True and caps["rename_drop_target"] == probed.drop_target
    methods = {c["collection"]: c["method"] for c in report["cutover"]}
    fallbacks = " | ".join(report["fallbacks"])
    if probed.drop_target:
        assert methods == {"People": "rename dropTarget", "Orders": "rename dropTarget"}
        assert [n for n in seen if ASIDE_INFIX in n] == []  # never an aside, not for a moment
        assert "dropTarget" not in fallbacks
    else:
        assert methods == {"People": "rename aside", "Orders": "rename aside"}
        assert "renameCollection dropTarget unsupported" in fallbacks
    assert snapshot(target, live_only=True) == snapshot(source)
    assert run_artifacts(target) == []
    no_probe_left(servers)


def test_the_dry_run_says_fallbacks_are_expected_not_probed(
    servers: Any, probed: Any, fresh_name: Any, tmp_path: Path
) -> None:
    name = fresh_name("dry")
    servers.source[name].People.insert_one({"_id": 1})
    plan = write_plan(tmp_path / "plan.yaml", servers, name, CUTOVER_PLAN)
    databases = sorted(servers.target.list_database_names())
    tool_db = snapshot(servers.target.mongo_promote)

    result = invoke(["run", "--dry-run", "--plan", str(plan), "--state-dir", str(tmp_path)])

    assert result.exit_code == 0, explain(result)
    text = " ".join((result.stdout + result.stderr).split())
    if probed.drop_target and probed.full_bson and probed.partial_indexes:
        assert "renameCollection dropTarget" not in text
    else:
        assert "fallbacks, expected from buildInfo (`run` probes them)" in text
        assert "renameCollection dropTarget" in text or probed.drop_target
    assert sorted(servers.target.list_database_names()) == databases
    assert snapshot(servers.target.mongo_promote) == tool_db  # no probe on a dry-run


# ---------------------------------------------------------------- every BSON type


OLD_DATE = dt.datetime(1901, 12, 13, 20, 45, 52, 1000, tzinfo=dt.UTC)


def typed_values(full_bson: bool) -> dict[str, Any]:
    """One field per BSON type (and edge value) the server keeps; all of mongod's with full_bson."""
    values: dict[str, Any] = {
        "oid": ObjectId("65f0a1b2c3d4e5f601234567"),
        "i32": 2**31 - 1,
        "i32min": -(2**31),
        "i64": Int64(2**63 - 1),
        "i64min": Int64(-(2**63)),
        "huge": 1.7976931348623157e308,
        "tiny": 5e-324,
        "text": "Zoé 会議 ✓ \U0001f600",
        "empty": "",
        "yes": True,
        "none": None,
        "moon": dt.datetime(1969, 7, 20, 20, 17, 40, tzinfo=dt.UTC),
        "old": OLD_DATE,
        "ts": Timestamp(1_700_000_000, 7),
        "regex": Regex("^ab.*$", "imx"),
        "bin0": Binary(bytes(range(32))),
        "uuid4": Binary(bytes(range(16)), 4),
        "md5": Binary(bytes(16), 5),
        "user": Binary(b"\x01\x02", 0x80),
        "doc": {"z": 1, "a": {"deep": [1, {"x": "y"}]}},
        "list": [1, "two", 3.5, None, {"k": "v"}],
        "hollow": {"empty_list": [], "empty_doc": {}},
    }
    if full_bson:
        values.update(
            dec=Decimal128("1.10"),
            dec_neg0=Decimal128("-0"),
            dec_nan=Decimal128("NaN"),
            dec_inf=Decimal128("-Infinity"),
            lo=MinKey(),
            hi=MaxKey(),
            nan=float("nan"),
            inf=float("inf"),
            neg0=-0.0,
            grid=[[1, [2, [3]]], []],
            keys={"a.b": 1, "$c": 2, "": 3},
            code=Code("function () { return 1; }"),
            scoped=Code("x + 1", {"x": 1}),
            ref=DBRef("Other", ObjectId("65f0a1b2c3d4e5f601234568"), "elsewhere"),
            uuid3=Binary(bytes(range(16)), 3),
            far_past=DatetimeMS(-(2**62)),
        )
    return values


def raw(doc: dict[str, Any]) -> RawBSONDocument:
    return RawBSONDocument(bson.encode(doc, codec_options=CODEC))


BSON_PLAN = """\
collections: {include: ["Typed", "Card", "CardNote"]}
transforms:
  - embed:
      from: CardNote
      into: Card
      match: {from: cardId, into: _id}
      key: {from: lang}
      as: notes
      fields:
        text: text
        value: value
  - rewrite: {collection: Card, fields: [url], find: "staging.example", replace: "example"}
"""


def seed_typed(servers: Any, name: str, full_bson: bool) -> None:
    values = typed_values(full_bson)
    source, target = servers.source[name], servers.target[name]
    source.Typed.insert_many([raw({"_id": i, **values, "n": i}) for i in range(12)])
    source.Card.insert_many(
        [raw({"_id": i, "url": f"https://staging.example/c/{i}", **values}) for i in range(6)]
    )
    # One note per card and language (no duplicate to settle); no null (a fold skips nulls).
    kept = [v for v in values.values() if v is not None]
    source.CardNote.insert_many(
        [
            raw(
                {
                    "_id": 100 + i,
                    "cardId": i // 8,
                    "lang": f"l{i % 8}",
                    "text": f"n{i}",
                    "value": kept[i % len(kept)],
                }
            )
            for i in range(48)  # every value of the table folded in at least once
        ]
    )
    target.Typed.insert_many([raw({"_id": 1000 + i, **values, "before": True}) for i in range(4)])
    target.Card.insert_many([raw({"_id": 2000, "url": "https://example/old", **values})])


def sorted_raw(coll: Any) -> list[bytes]:
    return sorted(bytes(d.raw) for d in coll.with_options(codec_options=bson.CodecOptions(
        document_class=RawBSONDocument)).find())  # fmt: skip


@pytest.mark.capability("full_bson")
def test_every_bson_type_goes_through_run_restore_and_rollback_byte_for_byte(
    servers: Any, probed: Any, fresh_name: Any, tmp_path: Path
) -> None:
    name = fresh_name("types")
    seed_typed(servers, name, probed.full_bson)
    source, target = servers.source[name], servers.target[name]
    plan = write_plan(tmp_path / "plan.yaml", servers, name, BSON_PLAN)
    before = snapshot(target)
    common = ["--plan", str(plan), "--state-dir", str(tmp_path), "--yes", "--json"]

    ran = invoke(["run", *common])

    assert ran.exit_code == 0, explain(ran)
    run_id = json_out(ran)["run_id"]
    report = report_of(tmp_path, run_id)
    assert report["status"] == "succeeded" and report["validation"]["passed"]
    assert report["capabilities"]["target"]["full_bson"] == probed.full_bson
    # copy: untouched documents arrive byte for byte
    assert sorted_raw(target.Typed) == sorted_raw(source.Typed)
    # fold and rewrite: everything but the two transformed fields is the source's, byte for byte
    plain_source = source.with_options(codec_options=CODEC)
    notes = {d["_id"]: d for d in plain_source.CardNote.find()}
    for doc in target.with_options(codec_options=CODEC).Card.find():
        original = plain_source.Card.find_one({"_id": doc["_id"]})
        assert doc["url"] == original["url"].replace("staging.example", "example")
        folded = doc.pop("notes")
        expected = {
            n["lang"]: {"text": n["text"], "value": n["value"]}
            for n in sorted(notes.values(), key=lambda n: n["_id"])
            if n["cardId"] == doc["_id"]
        }
        assert bson.encode(folded, codec_options=CODEC) == bson.encode(
            expected, codec_options=CODEC
        )
        doc["url"] = original["url"]
        assert bson.encode(doc, codec_options=CODEC) == bson.encode(original, codec_options=CODEC)
    # backup: what production held, byte for byte
    backup_dir = tmp_path / "backups" / run_id
    dumped = {c.name: sorted(c.iter_raw()) for c in iter_dump_collections(backup_dir)}
    assert dumped["Typed"] == before["Typed"] and dumped["Card"] == before["Card"]

    # restore of that backup: production as it was, byte for byte
    restored = invoke(
        ["restore", "--plan", str(plan), "--backup", str(backup_dir), "--yes", "--json"]
    )
    assert restored.exit_code == 0, explain(restored)
    after_restore = snapshot(target, live_only=True)
    assert after_restore["Typed"] == before["Typed"] and after_restore["Card"] == before["Card"]

    # a second run, then its rollback: the same bytes again
    again = invoke(["run", *common])
    assert again.exit_code == 0, explain(again)
    assert sorted_raw(target.Typed) == sorted_raw(source.Typed)
    rolled = invoke(["rollback", *common])
    assert rolled.exit_code == 0, explain(rolled)
    after = snapshot(target, live_only=True)
    assert after["Typed"] == before["Typed"] and after["Card"] == before["Card"]
    assert run_artifacts(target) == []
    no_probe_left(servers)
    lacks = Capabilities(**report["capabilities"]["target"]).lacks()
    assert ("every BSON type" in lacks) == (not probed.full_bson)  # the report says which


# ---------------------------------------------------------------- the tool's own probe


def test_the_tools_probe_matches_what_the_server_does_and_leaves_nothing(
    servers: Any, probed: Any
) -> None:
    expected = detect_capabilities(servers.target)
    found = conn._probe(servers.target, expected, TOOL_DATABASE)  # uncached: tried right now

    assert found.probed and not expected.probed
    assert found.rename_drop_target == probed.drop_target
    assert found.full_bson == probed.full_bson
    assert found.partial_indexes == probed.partial_indexes
    assert found.sparse_indexes == probed.sparse_indexes
    assert found.ttl_indexes == probed.ttl_indexes
    assert ("validator" in found.create_keeps) == probed.create_keeps_validator
    assert ("capped" in found.create_keeps) == probed.create_keeps_capped
    assert ("collation" in found.create_keeps) == probed.create_keeps_collation
    assert found.coll_mod_validator == probed.coll_mod_validator
    # What the dry-run expects from buildInfo alone is what the probe finds on this engine.
    assert dataclasses.replace(found, probed=False) == expected
    no_probe_left(servers)
    assert conn.probe_capabilities(servers.target, TOOL_DATABASE) == conn.probe_capabilities(
        servers.target, TOOL_DATABASE
    )
