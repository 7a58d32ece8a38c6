"""Copy into shadows and index rebuilds against real servers: bytes, options, indexes, failures."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bson
import pytest
from bson import Binary, Decimal128, Int64, ObjectId, Regex, Timestamp
from bson.raw_bson import RawBSONDocument
from pymongo import IndexModel
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import OperationFailure

from mongo_promote.adapters.mongo import (
    RAW,
    collection_stats,
    detect_capabilities,
    expected_capabilities,
)
from mongo_promote.checksum import collection_content_hash
from mongo_promote.console import Output
from mongo_promote.domain.analysis import CollectionAction, analyse
from mongo_promote.domain.inventory import counted, take_inventory
from mongo_promote.domain.plan import IndexSpec, load_plan
from mongo_promote.errors import Interrupted, OperationFailed
from mongo_promote.state.context import RunContext, RunPaths, new_run_id
from mongo_promote.steps import copy as copy_step
from mongo_promote.steps import indexes as indexes_step
from mongo_promote.steps.copy import CopyResult, copy_all, copy_collection, create_shadow
from mongo_promote.steps.indexes import IndexBuildFailed, build_indexes, index_models
from mongo_promote.steps.validate import indexes as validate_indexes

MakeCtx = Callable[..., RunContext]


# ---------------------------------------------------------------- helpers


@pytest.fixture
def make_ctx(dbs: Any, tmp_path: Path) -> MakeCtx:
    """A RunContext over the test's databases, from a real plan file (plus extra YAML)."""

    def make(extra_yaml: str = "") -> RunContext:
        path = tmp_path / "promote.yaml"
        path.write_text(
            "version: 1\n"
            f'source: {{uri: "{dbs.servers.source_uri}", database: {dbs.name}}}\n'
            f'target: {{uri: "{dbs.servers.target_uri}", database: {dbs.name}}}\n' + extra_yaml
        )
        run_id = new_run_id()
        return RunContext(
            loaded=load_plan(path, env={}),
            run_id=run_id,
            source_client=dbs.servers.source,
            target_client=dbs.servers.target,
            source_caps=detect_capabilities(dbs.servers.source),
            target_caps=dbs.servers.caps,
            out=Output(quiet=True),
            paths=RunPaths.under(tmp_path, run_id),
            workers=3,
        )

    return make


def actions_of(ctx: RunContext) -> dict[str, CollectionAction]:
    inventory = take_inventory(ctx.plan, ctx.source_db, ctx.target_db)
    return analyse(ctx.plan, inventory).by_name()


def raw_docs(coll: Collection[Any]) -> list[bytes]:
    return sorted(bytes(d.raw) for d in coll.with_options(codec_options=RAW).find())


def many_types(n: int, full_bson: bool) -> list[dict[str, Any]]:
    """Documents with keys out of alphabetical order and most BSON types the server stores."""
    base = dt.datetime(2024, 5, 17, 9, 30, 12, 345000, tzinfo=dt.UTC)
    docs = []
    for i in range(n):
        doc: dict[str, Any] = {
            "_id": ObjectId(),
            "zeta": i,
            "alpha": Int64(2**40 + i),
            "ratio": i / 7,
            "when": base + dt.timedelta(minutes=i),
            "blob": Binary(bytes([i % 256]) * 40),
            "uuid": Binary.from_uuid(uuid.UUID(int=i + 1)),
            "ref": ObjectId(),
            "nothing": None,
            "flag": i % 2 == 0,
            "text": f"héllo wörld ✓ 你好 Привет #{i}",
            "nested": {"y": [1, "two", {"z": 3.5}], "b": {"deep": {"deeper": i}}},
            "pattern": Regex("^ab.*", "i"),
            "ts": Timestamp(1_700_000_000, i + 1),
        }
        if full_bson:
            doc["money"] = Decimal128("12.345")
            doc["matrix"] = [[1, 2], [3, 4]]
        docs.append(doc)
    return docs


def snapshot(db: Database[Any]) -> dict[str, Any]:
    """Everything a copy could disturb on the source: content, indexes, options."""
    return {
        name: (
            collection_content_hash(db[name]).hexdigest(),
            sorted((ix["name"], dict(ix["key"])) for ix in db[name].list_indexes()),
            db[name].options(),
        )
        for name in db.list_collection_names()
    }


def index_map(coll: Collection[Any]) -> dict[str, tuple[list[tuple[str, Any]], bool]]:
    return {
        ix["name"]: (list(ix["key"].items()), bool(ix.get("unique")))
        for ix in coll.with_options(codec_options=bson.CodecOptions()).list_indexes()
    }


# ---------------------------------------------------------------- counts


@pytest.mark.integration
def test_counts_are_the_servers_stored_count_and_a_scan_settles_a_disagreement(
    dbs: Any, make_ctx: MakeCtx, monkeypatch: pytest.MonkeyPatch
) -> None:
    coll = dbs.source["Counted"]
    coll.insert_many([{"i": i} for i in range(250)])
    coll.delete_many({"i": {"$lt": 10}})
    assert collection_stats(dbs.source, "Counted")[0] == 240
    ctx = make_ctx()
    info = take_inventory(ctx.plan, ctx.source_db, ctx.target_db).source.by_name()["Counted"]
    assert info.count == 240

    scans: list[str] = []
    scan = Collection.count_documents

    def spy(self: Collection[Any], *args: Any, **kwargs: Any) -> int:
        scans.append(self.name)
        return scan(self, *args, **kwargs)

    monkeypatch.setattr(Collection, "count_documents", spy)
    assert counted(coll, 240) == 240
    assert scans == []  # the stored count agreed: nothing read
    assert counted(coll, 241) == 240  # it does not: the scan decides
    assert scans == ["Counted"]
    assert counted(dbs.source["NeverCreated"], 3) == 0


# ---------------------------------------------------------------- copy


@pytest.mark.integration
def test_copy_is_byte_identical_hashed_and_leaves_source_untouched(
    dbs: Any, make_ctx: MakeCtx
) -> None:
    dbs.source["Things"].insert_many(many_types(300, dbs.servers.has("full_bson")))
    ctx = make_ctx()
    before = snapshot(dbs.source)
    calls: list[tuple[int, int]] = []

    result = copy_collection(
        ctx,
        actions_of(ctx)["Things"],
        progress=lambda d, b: calls.append((d, b)),
        batch_bytes=8192,
    )

    shadow = dbs.target[ctx.shadow_name("Things")]
    assert result.shadow == shadow.name and result.count == 300
    assert raw_docs(shadow) == raw_docs(dbs.source["Things"])
    assert result.content_hash == collection_content_hash(dbs.source["Things"]).hexdigest()
    assert result.bytes == sum(map(len, raw_docs(dbs.source["Things"])))
    assert len(calls) > 1 and calls[-1] == (300, result.bytes)
    one = shadow.find_one({"zeta": 7})
    assert list(one) == list(many_types(1, dbs.servers.has("full_bson"))[0])
    assert list(one["nested"]) == ["y", "b"]
    assert snapshot(dbs.source) == before


@pytest.mark.integration
@pytest.mark.capability("create_keeps_capped")
def test_capped_collection_keeps_its_options_and_natural_order(dbs: Any, make_ctx: MakeCtx) -> None:
    dbs.source.create_collection("Events", capped=True, size=65536, max=500)
    dbs.source["Events"].insert_many([{"_id": 100 - i, "n": i} for i in range(50)])
    ctx = make_ctx()
    # As a source that keeps them lists them (a source on a server that drops them shows none).
    capped = {"capped": True, "size": 65536, "max": 500}
    action = dataclasses.replace(actions_of(ctx)["Events"], source_options=capped)

    result = copy_collection(ctx, action, batch_bytes=256)

    shadow = dbs.target[result.shadow]
    options = shadow.options()
    if dbs.servers.has("create_keeps_capped"):
        assert options["capped"] is True and options["size"] == 65536 and options["max"] == 500
    else:  # the server accepted `capped` and dropped it: the run must say so
        assert "capped" not in options
        assert "Events: collection option capped" in " | ".join(ctx.fallbacks)
    assert [d["n"] for d in shadow.find()] == list(range(50))


def options_action(name: str, options: dict[str, Any]) -> CollectionAction:
    return CollectionAction(
        name=name,
        action="create",
        source_count=0,
        source_size=0,
        target_count=None,
        target_size=None,
        source_indexes=[],
        source_options=options,
    )


@pytest.mark.integration
@pytest.mark.capability("create_keeps_validator", "create_keeps_collation", "coll_mod_validator")
def test_refused_collection_options_fall_back_and_say_so(dbs: Any, make_ctx: MakeCtx) -> None:
    ctx = make_ctx()
    validator = {"$jsonSchema": {"bsonType": "object", "required": ["name"]}}
    action = options_action(
        "Strict",
        {
            "validator": validator,
            "validationLevel": "strict",
            "validationAction": "error",
            "collation": {"locale": "fr", "strength": 2},
        },
    )

    shadow = create_shadow(ctx, action)

    options = dbs.target[shadow].options()
    notes = " | ".join(ctx.fallbacks)
    if dbs.servers.has("create_keeps_validator"):
        assert options["validator"] == validator
    elif dbs.servers.has("coll_mod_validator") and "validator" in options:
        assert options["validator"] == validator  # set again with collMod, and said so
        assert "Strict: collection option validator, validationLevel, validationAction set" in notes
    else:  # refused, or accepted and dropped (and collMod refuses `required`): said so
        assert "validator" not in options
        assert "Strict: collection option validator, validationLevel, validationAction not" in notes
    if dbs.servers.has("create_keeps_collation"):
        assert options["collation"]["locale"] == "fr"
    else:
        assert "collation" not in options
        assert "Strict: collection option collation not carried over" in notes
    # The shadow is recreated from nothing on a second attempt (resume after a crash).
    dbs.target[shadow].insert_one({"name": "left over"})
    assert create_shadow(ctx, action) == shadow
    assert dbs.target[shadow].count_documents({}) == 0


@pytest.mark.integration
@pytest.mark.capability("create_keeps_validator", "coll_mod_validator")
def test_a_validator_create_drops_is_set_with_coll_mod_and_enforced(
    dbs: Any, make_ctx: MakeCtx
) -> None:
    dbs.source["Loose"].insert_many([{"_id": 1, "name": "a"}, {"_id": 2}])  # 2 breaks the rule
    ctx = make_ctx()
    validator = {"name": {"$exists": True}}
    action = dataclasses.replace(
        actions_of(ctx)["Loose"],
        source_options={"validator": validator, "validationLevel": "strict"},
    )

    result = copy_collection(ctx, action)

    shadow = dbs.target[result.shadow]
    assert raw_docs(shadow) == raw_docs(dbs.source["Loose"])  # staging's data copied as it is
    notes = " | ".join(ctx.fallbacks)
    if dbs.servers.has("create_keeps_validator") or dbs.servers.has("coll_mod_validator"):
        assert shadow.options()["validator"] == validator
        with pytest.raises(OperationFailure):  # and production enforces it
            shadow.insert_one({"_id": 3})
        assert ("set with collMod" in notes) == (not dbs.servers.has("create_keeps_validator"))
    else:
        assert "validator" not in shadow.options()
        assert "Loose: collection option validator, validationLevel not carried over" in notes


@pytest.mark.integration
def test_cancel_stops_a_copy_between_batches(dbs: Any, make_ctx: MakeCtx) -> None:
    dbs.source["Big"].insert_many([{"_id": i, "pad": "x" * 200} for i in range(400)])
    ctx = make_ctx()

    def cancel_after_first(docs: int, _bytes: int) -> None:
        ctx.cancel.set()

    with pytest.raises(Interrupted):
        copy_collection(ctx, actions_of(ctx)["Big"], progress=cancel_after_first, batch_bytes=4096)

    copied = dbs.target[ctx.shadow_name("Big")].count_documents({})
    assert 0 < copied < 400
    assert dbs.source["Big"].count_documents({}) == 400


@pytest.mark.integration
def test_copy_all_copies_each_collection_and_reports_in_the_callers_thread(
    dbs: Any, make_ctx: MakeCtx
) -> None:
    for i, name in enumerate(["Alpha", "Beta", "Gamma", "Delta"]):
        dbs.source[name].insert_many([{"_id": j, "v": name} for j in range(20 * (i + 1))])
    ctx = make_ctx()
    before = snapshot(dbs.source)
    actions = actions_of(ctx)
    finished: list[str] = []

    results = copy_all(
        ctx,
        [a for a in actions.values() if a.name != "Delta"],
        on_done=lambda r: finished.append(r.name),
    )

    assert [r.name for r in results] == ["Alpha", "Beta", "Gamma"]  # the actions' order
    assert sorted(finished) == ["Alpha", "Beta", "Gamma"]
    for r in results:
        assert raw_docs(dbs.target[r.shadow]) == raw_docs(dbs.source[r.name])
    assert ctx.shadow_name("Delta") not in dbs.target.list_collection_names()
    assert snapshot(dbs.source) == before


@pytest.mark.integration
def test_copy_all_cancels_the_others_and_raises_the_first_failure(
    dbs: Any, make_ctx: MakeCtx, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ["Good", "Bad", "Slow"]:
        dbs.source[name].insert_many([{"_id": j, "pad": "y" * 100} for j in range(200)])
    ctx = make_ctx()
    real = copy_step.copy_collection

    def flaky(ctx: RunContext, action: CollectionAction, **kw: Any) -> CopyResult:
        if action.name == "Bad":
            raise OperationFailed("Bad broke")
        return real(ctx, action, **kw, batch_bytes=1024)

    monkeypatch.setattr(copy_step, "copy_collection", flaky)

    with pytest.raises(OperationFailed, match="Bad broke"):
        copy_all(ctx, list(actions_of(ctx).values()))
    assert ctx.cancel.is_set()


# ---------------------------------------------------------------- indexes


@pytest.mark.integration
def test_source_and_declared_indexes_are_rebuilt_on_the_shadow(dbs: Any, make_ctx: MakeCtx) -> None:
    users = dbs.source["User"]
    users.insert_many(
        [
            {"_id": i, "email": f"u{i}@x.io", "owner": i % 3, "date": i, "status": "a"}
            for i in range(30)
        ]
    )
    users.create_index("email", unique=True)
    users.create_index([("owner", 1), ("date", -1)], name="by_owner_date")
    ctx = make_ctx("indexes:\n  User:\n    - {keys: {status: 1, date: -1}}\n")
    action = actions_of(ctx)["User"]
    copied = copy_collection(ctx, action)

    result = build_indexes(ctx, action, copied.shadow)

    assert sorted(result.built) == ["by_owner_date", "email_1", "status_1_date_-1"]
    assert result.skipped == []
    shadow = index_map(dbs.target[copied.shadow])
    assert shadow == {
        "_id_": ([("_id", 1)], False),
        "email_1": ([("email", 1)], True),
        "by_owner_date": ([("owner", 1), ("date", -1)], False),
        "status_1_date_-1": ([("status", 1), ("date", -1)], False),
    }
    assert sorted(index_map(users)) == ["_id_", "by_owner_date", "email_1"]  # source untouched


@pytest.mark.integration
def test_unique_index_on_duplicate_data_names_collection_index_and_key(
    dbs: Any, make_ctx: MakeCtx
) -> None:
    dbs.source["Coupon"].insert_many(
        [{"_id": 1, "code": "X-42"}, {"_id": 2, "code": "OK-1"}, {"_id": 3, "code": "X-42"}]
    )
    yaml = "indexes:\n  Coupon:\n    - {keys: {code: 1}, name: code_unique, unique: true}\n"
    ctx = make_ctx(yaml)
    action = actions_of(ctx)["Coupon"]
    copied = copy_collection(ctx, action)

    with pytest.raises(IndexBuildFailed) as info:
        build_indexes(ctx, action, copied.shadow)

    message = info.value.message
    assert "Coupon" in message and "code_unique" in message and '"X-42"' in message
    assert isinstance(info.value, OperationFailed) and info.value.exit_code == 1


# ---------------------------------------------------------------- index_models (no server)


FERRET = expected_capabilities("ferretdb", "7.0.42")
MONGOD = expected_capabilities("mongod", "7.0.12", "replicaset")

SOURCE_SPECS: list[dict[str, Any]] = [
    {"v": 2, "key": {"_id": 1}, "name": "_id_"},
    {"v": 2, "key": {"a": 1, "b": -1}, "name": "ab", "background": True, "ns": "db.c"},
    {
        "v": 2,
        "key": {"a": 1},
        "name": "a_part",
        "unique": True,
        "partialFilterExpression": {"x": 1},
    },
    {"v": 2, "key": {"s": 1}, "name": "s_sparse", "sparse": True},
    {"v": 2, "key": {"t": 1}, "name": "t_ttl", "expireAfterSeconds": 60},
    {"v": 2, "key": {"_fts": "text", "_ftsx": 1}, "name": "body_text", "weights": {"body": 1}},
    {"v": 2, "key": {"n": 1}, "name": "n_fr", "collation": {"locale": "fr"}},
]


def test_index_models_keep_everything_a_full_mongod_supports() -> None:
    declared = [IndexSpec(keys={"k": 1, "j": -1})]
    as_listed = [dict(RawBSONDocument(bson.encode(s))) for s in SOURCE_SPECS]  # like inventory
    models, skipped = index_models(as_listed, declared, MONGOD)
    docs = {m.document["name"]: m.document for m in models}
    assert skipped == []
    assert sorted(docs) == ["a_part", "ab", "body_text", "k_1_j_-1", "n_fr", "s_sparse", "t_ttl"]
    assert "v" not in docs["ab"] and "ns" not in docs["ab"] and "background" not in docs["ab"]
    assert docs["a_part"]["partialFilterExpression"] == {"x": 1} and docs["a_part"]["unique"]
    assert docs["body_text"]["weights"] == {"body": 1}
    assert list(docs["k_1_j_-1"]["key"].items()) == [("k", 1), ("j", -1)]


def test_index_models_drop_what_ferretdb_lacks_and_say_why() -> None:
    models, skipped = index_models(SOURCE_SPECS, [], FERRET)
    docs = {m.document["name"]: m.document for m in models}
    assert sorted(docs) == ["a_part", "ab", "n_fr", "s_sparse", "t_ttl"]
    assert docs["a_part"].keys() == {"key", "name"}  # no filter, so no uniqueness either
    assert "sparse" not in docs["s_sparse"] and "expireAfterSeconds" not in docs["t_ttl"]
    assert "collation" not in docs["n_fr"]
    text = "\n".join(skipped)
    expected = ["'body_text' not built", "partialFilterExpression dropped", "without unique"]
    expected += ["sparse dropped", "expireAfterSeconds dropped", "collation dropped"]
    assert [e for e in expected if e not in text] == []


def test_declared_index_with_a_source_name_or_keys_is_not_built_twice() -> None:
    declared = [
        IndexSpec(keys={"a": 1, "b": -1}, name="other"),
        IndexSpec(keys={"q": 1}, name="ab"),
    ]
    models, skipped = index_models(SOURCE_SPECS[:2], declared, MONGOD)
    assert [(m.document["name"], dict(m.document["key"])) for m in models] == [("ab", {"q": 1})]
    assert any("'other' not built" in s for s in skipped)
    assert any("replaces the source's" in s for s in skipped)


@pytest.mark.parametrize("key_value", [{"code": "X-42"}, None])
def test_mongod_duplicate_key_error_is_read_from_the_message(key_value: Any) -> None:
    errmsg = (
        "Index build failed: 5d3f: Collection db.Coupon__promote_x ( 12ab ) :: caused by :: "
        "E11000 duplicate key error collection: db.Coupon__promote_x index: code_unique dup key: "
        '{ code: "X-42" }'
    )
    details = {"ok": 0, "errmsg": errmsg, "code": 11000, "codeName": "DuplicateKey"}
    if key_value:
        details["keyValue"] = key_value
    error = OperationFailure(errmsg, 11000, details)
    models = [
        IndexModel([("a", 1)], name="a_1"),
        IndexModel([("code", 1)], name="code_unique", unique=True),
    ]

    failed = indexes_step._failure(None, "Coupon", models, error)  # type: ignore[arg-type]

    assert isinstance(failed, IndexBuildFailed)
    assert "unique index code_unique on Coupon" in failed.message
    assert '{ code: "X-42" }' in failed.message


@pytest.mark.integration
def test_shadows_are_written_with_majority_on_a_replica_set(dbs: Any, make_ctx: MakeCtx) -> None:
    dbs.source["Acked"].insert_many([{"_id": i} for i in range(10)])
    ctx = make_ctx()
    ctx.target_caps = dataclasses.replace(ctx.target_caps, topology="replicaset")
    assert ctx.target_db.write_concern.document == {"w": "majority"}

    result = copy_collection(ctx, actions_of(ctx)["Acked"])

    assert result.count == 10
    assert dbs.target[result.shadow].count_documents({}) == 10


# ---------------------------------------------------------------- fitting and checking options


FERRET2 = expected_capabilities("ferretdb", "7.0.77", major=2)


def test_index_models_on_ferretdb_v2_keep_partial_sparse_ttl_and_drop_collation() -> None:
    hidden = {"v": 2, "key": {"h": 1}, "name": "h_hidden", "hidden": True}
    models, skipped = index_models([*SOURCE_SPECS, hidden], [], FERRET2)
    docs = {m.document["name"]: m.document for m in models}
    assert sorted(docs) == ["a_part", "ab", "body_text", "n_fr", "s_sparse", "t_ttl"]
    assert docs["a_part"]["partialFilterExpression"] == {"x": 1} and docs["a_part"]["unique"]
    assert docs["s_sparse"]["sparse"] and docs["t_ttl"]["expireAfterSeconds"] == 60
    assert "collation" not in docs["n_fr"]
    text = "\n".join(skipped)
    assert "'n_fr': collation dropped" in text and "'h_hidden' not built" in text


def test_compare_indexes_names_each_option_an_index_lost() -> None:
    planned = [
        {"name": "email_1", "key": {"email": 1}, "unique": True},
        {"name": "p", "key": {"a": 1}, "partialFilterExpression": {"x": {"$gt": 1}}},
        {"name": "s", "key": {"s": 1}, "sparse": True},
        {"name": "t", "key": {"t": 1}, "expireAfterSeconds": 60},
        {"name": "c", "key": {"c": 1}, "collation": {"locale": "fr"}},
        {"name": "gone", "key": {"g": 1}},
    ]
    exact = [
        {"v": 2, "name": "_id_", "key": {"_id": 1}},
        {"v": 2, "name": "email_1", "key": {"email": 1.0}, "unique": True},
        {"v": 2, "name": "p", "key": {"a": Int64(1)}, "partialFilterExpression": {"x": {"$gt": 1}}},
        {"v": 2, "name": "s", "key": {"s": 1}, "sparse": True},
        {"v": 2, "name": "t", "key": {"t": 1}, "expireAfterSeconds": Int64(60)},
        {"name": "c", "key": {"c": 1}, "collation": {"locale": "fr", "strength": 3}},
        {"name": "gone", "key": {"g": 1}},
    ]
    assert validate_indexes.compare_indexes(planned, exact) == []

    lost = [
        {"name": "email_1", "key": {"email": 1}},
        {"name": "p", "key": {"a": 1}},
        {"name": "s", "key": {"s": 1}},
        {"name": "t", "key": {"t": 1}, "expireAfterSeconds": 3600},
        {"name": "c", "key": {"c": 1}},
    ]
    problems = validate_indexes.compare_indexes(planned, lost)
    assert [p.split(":")[0] for p in problems] == ["email_1", "p", "s", "t", "c", "gone"]
    assert "unique is False, planned True" in problems[0]
    assert "gone: missing" in problems[-1]


@pytest.mark.integration
@pytest.mark.capability("partial_indexes", "sparse_indexes", "ttl_indexes")
def test_partial_sparse_and_ttl_indexes_reach_the_shadow_and_are_verified(
    dbs: Any, make_ctx: MakeCtx
) -> None:
    dbs.source["Session"].insert_many(
        [{"_id": i, "user": i, "token": f"t{i}" if i % 2 else None, "at": i} for i in range(20)]
    )
    yaml = (
        "indexes:\n  Session:\n"
        "    - {keys: {user: 1}, name: active_user, unique: true,"
        " partialFilterExpression: {token: {$type: string}}}\n"
        "    - {keys: {token: 1}, name: token_sparse, sparse: true}\n"
        "    - {keys: {at: 1}, name: at_ttl, expireAfterSeconds: 3600}\n"
    )
    ctx = make_ctx(yaml)
    action = actions_of(ctx)["Session"]
    copied = copy_collection(ctx, action)
    build_indexes(ctx, action, copied.shadow)
    shadow = dbs.target[copied.shadow]

    listed = {ix["name"]: ix for ix in shadow.list_indexes()}
    notes = " | ".join(ctx.fallbacks)
    for capability, name, option in [
        ("partial_indexes", "active_user", "partialFilterExpression"),
        ("sparse_indexes", "token_sparse", "sparse"),
        ("ttl_indexes", "at_ttl", "expireAfterSeconds"),
    ]:
        if dbs.servers.has(capability):
            assert option in listed[name], name
        else:
            assert option not in listed[name] and f"'{name}': {option} dropped" in notes
    if dbs.servers.has("partial_indexes"):
        assert listed["active_user"]["unique"]
    check = validate_indexes.index_check(ctx, action, shadow)
    assert check.passed, check.detail


@pytest.mark.integration
def test_validation_fails_when_a_shadow_index_lost_unique(dbs: Any, make_ctx: MakeCtx) -> None:
    dbs.source["Member"].insert_many([{"_id": i, "email": f"m{i}@x.io"} for i in range(10)])
    dbs.source["Member"].create_index("email", unique=True, name="email_u")
    ctx = make_ctx()
    action = actions_of(ctx)["Member"]
    copied = copy_collection(ctx, action)
    build_indexes(ctx, action, copied.shadow)
    shadow = dbs.target[copied.shadow]
    assert validate_indexes.index_check(ctx, action, shadow).passed

    # A path that drops `unique` (a server that ignores it, a hand-made index): same name, no unique.
    shadow.drop_index("email_u")
    shadow.create_index("email", name="email_u")
    check = validate_indexes.index_check(ctx, action, shadow)

    assert not check.passed
    assert "email_u: unique is False, planned True" in check.detail
