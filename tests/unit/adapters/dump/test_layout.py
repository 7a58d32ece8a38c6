"""Unit tests of the mongodump-compatible dump reader/writer and its manifest, no server needed."""

from __future__ import annotations

import gzip
import json
import tempfile
import threading
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import bson
import pytest
from bson.binary import Binary
from bson.decimal128 import Decimal128
from bson.int64 import Int64
from bson.objectid import ObjectId
from bson.regex import Regex
from hypothesis import given, settings
from hypothesis import strategies as st

from mongo_promote.adapters.dump import (
    INCOMPLETE_NAME,
    MANIFEST_NAME,
    DumpExists,
    DumpFormatError,
    DumpIncomplete,
    DumpVerificationError,
    DumpWriter,
    Manifest,
    ManifestMissing,
    collection_file_stem,
    iter_dump_collections,
    verify_dump,
)
from mongo_promote.checksum import ContentHash

# --- strategies: every BSON type the brief names, nested ---------------------------------------

_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=16)
_keys = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"))
_ms_datetimes = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)).map(
    lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000)
)
_decimals = st.builds(
    lambda coefficient, exponent: Decimal128(f"{coefficient}E{exponent}"),
    st.integers(-(10**34) + 1, 10**34 - 1),
    st.integers(-6176, 6111),
)
_scalars = st.one_of(
    _text,
    st.integers(-(2**31), 2**31 - 1),  # encoded as int32
    st.integers(-(2**63), 2**63 - 1).map(Int64),
    st.floats(allow_nan=False),
    st.booleans(),
    st.none(),
    _ms_datetimes,
    st.binary(min_size=12, max_size=12).map(ObjectId),
    st.builds(Binary, st.binary(max_size=24), st.sampled_from([0, 5, 128])),
    _decimals,
)
_values = st.recursive(
    _scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_keys, children, max_size=4),
    max_leaves=16,
)
raw_documents = st.dictionaries(_keys, _values, max_size=6).map(bson.encode)

_ID_INDEX = {"v": 2, "key": {"_id": 1}, "name": "_id_"}


def write_dump(
    root: Path, colls: dict[str, list[bytes]], *, gz: bool = True, **kw: Any
) -> Manifest:
    with DumpWriter(root, gzip=gz, fsync=False, run_id="r1", server_version="7.0.0") as writer:
        for name, docs in colls.items():
            writer.write_collection("meeshy", name, docs, options={}, indexes=[_ID_INDEX], **kw)
    return writer.finish()


def read_back(root: Path) -> dict[str, list[bytes]]:
    return {c.name: list(c.iter_raw()) for c in iter_dump_collections(root)}


def problems_of(root: Path) -> list[str]:
    with pytest.raises(DumpVerificationError) as info:
        verify_dump(root)
    return info.value.problems


# --- round trips ------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.lists(raw_documents, max_size=25), st.booleans())
def test_documents_round_trip_byte_for_byte(raws: list[bytes], gz: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "dump"
        manifest = write_dump(root, {"Message": raws}, gz=gz)
        assert read_back(root) == {"Message": raws}
        entry = manifest.collections[0]
        expected = ContentHash()
        expected.update_many(raws)
        assert (entry.count, entry.bytes, entry.content_hash) == (
            len(raws),
            sum(map(len, raws)),
            expected.hexdigest(),
        )
        assert verify_dump(root) == Manifest.load(root)


@pytest.mark.parametrize("gz", [True, False])
def test_documents_spanning_read_chunks(tmp_path: Path, gz: bool) -> None:
    """Documents larger than the 1 MiB read chunk, and many small ones around them."""
    big = [bson.encode({"_id": i, "blob": Binary(bytes([i]) * (1_500_000 + i))}) for i in range(3)]
    small = [bson.encode({"_id": 100 + i, "s": "x" * (i % 300)}) for i in range(5000)]
    raws = small[:2000] + big[:1] + small[2000:] + big[1:]
    write_dump(tmp_path / "d", {"Attachment": raws}, gz=gz)
    assert read_back(tmp_path / "d") == {"Attachment": raws}
    verify_dump(tmp_path / "d")


def test_empty_collection_is_dumped(tmp_path: Path) -> None:
    manifest = write_dump(tmp_path / "d", {"Empty": []})
    assert read_back(tmp_path / "d") == {"Empty": []}
    assert manifest.collections[0].count == 0
    verify_dump(tmp_path / "d")


def test_layout_is_mongodumps(tmp_path: Path) -> None:
    write_dump(tmp_path / "gz", {"Message": [bson.encode({"a": 1})]})
    write_dump(tmp_path / "plain", {"Message": [bson.encode({"a": 1})]}, gz=False)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.*")) == [
        "gz/manifest.json",
        "gz/meeshy/Message.bson.gz",
        "gz/meeshy/Message.metadata.json.gz",
        "plain/manifest.json",
        "plain/meeshy/Message.bson",
        "plain/meeshy/Message.metadata.json",
    ]
    assert (
        gzip.decompress((tmp_path / "gz/meeshy/Message.bson.gz").read_bytes())
        == (tmp_path / "plain/meeshy/Message.bson").read_bytes()
    )


# --- metadata -----------------------------------------------------------------------------------

_OPTIONS: dict[str, Any] = {
    "capped": True,
    "size": Int64(1_048_576),
    "max": 5000,
    "validator": {
        "$jsonSchema": {
            "bsonType": "object",
            "required": ["conversationId", "createdAt"],
            "properties": {
                "content": {"bsonType": "string", "maxLength": 10000},
                "createdAt": {"bsonType": "date"},
                "score": {"bsonType": ["double", "null"], "minimum": 0.5},
            },
        },
        "status": {"$in": ["sent", "read"]},
        "kind": {"$type": "string"},
    },
    "validationLevel": "moderate",
    "validationAction": "error",
    "collation": {"locale": "fr", "strength": 2, "caseLevel": False, "version": "57.1"},
}
_INDEXES: list[dict[str, Any]] = [
    _ID_INDEX,
    {
        "v": 2,
        "key": {"conversationId": 1, "isDeleted": 1, "createdAt": -1},
        "name": "idx_message_conv_notdeleted_created",
        "unique": False,
    },
    {
        "v": 2,
        "key": {"senderId": 1},
        "name": "sender_partial",
        "partialFilterExpression": {"isDeleted": False, "at": {"$gt": datetime(2024, 1, 2)}},
        "collation": {"locale": "en", "strength": 1},
    },
    {"v": 2, "key": {"expiresAt": 1}, "name": "ttl", "expireAfterSeconds": 3600},
    {"v": 2, "key": {"_fts": "text", "_ftsx": 1}, "name": "text", "weights": {"content": 1}},
]


def _typed(value: Any) -> Any:
    """A value with its exact Python (hence BSON) types spelled out, to compare strictly."""
    if isinstance(value, dict):
        return [(k, _typed(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [_typed(v) for v in value]
    return (type(value).__name__, value)


@pytest.mark.parametrize("gz", [True, False])
def test_metadata_round_trips_options_and_indexes(tmp_path: Path, gz: bool) -> None:
    collection_uuid = uuid.uuid4()
    with DumpWriter(tmp_path, gzip=gz, fsync=False) as writer:
        writer.write_collection(
            "meeshy", "Message", [], options=_OPTIONS, indexes=_INDEXES, uuid=collection_uuid
        )
    [coll] = iter_dump_collections(tmp_path)
    meta = coll.metadata()
    assert _typed(meta["options"]) == _typed(_OPTIONS)  # values, key order and types
    assert _typed(meta["indexes"]) == _typed(_INDEXES)
    assert meta["uuid"] == collection_uuid.hex
    assert (meta["type"], meta["collectionName"]) == ("collection", "Message")


def test_metadata_json_is_what_mongodump_writes(tmp_path: Path) -> None:
    """Canonical extended JSON, compact, fields in mongodump's Metadata struct order."""
    with DumpWriter(tmp_path, gzip=False, fsync=False) as writer:
        writer.write_collection(
            "meeshy",
            "Message",
            [],
            options={"capped": True, "size": 4096},
            indexes=[_ID_INDEX],
            uuid=b"\x01" * 16,
        )
    text = (tmp_path / "meeshy" / "Message.metadata.json").read_text()
    assert text == (
        '{"options":{"capped":true,"size":{"$numberInt":"4096"}},'
        '"indexes":[{"v":{"$numberInt":"2"},"key":{"_id":{"$numberInt":"1"}},"name":"_id_"}],'
        '"uuid":"01010101010101010101010101010101","collectionName":"Message","type":"collection"}'
    )


@pytest.mark.parametrize(
    "given_uuid",
    [
        uuid.UUID("47d0f1f9-ed46-407f-bada-3cab9bb84644"),
        "47d0f1f9-ed46-407f-bada-3cab9bb84644",
        "47d0f1f9ed46407fbada3cab9bb84644",
        uuid.UUID("47d0f1f9-ed46-407f-bada-3cab9bb84644").bytes,
        Binary(uuid.UUID("47d0f1f9-ed46-407f-bada-3cab9bb84644").bytes, 4),
    ],
)
def test_uuid_is_stored_as_32_hex(tmp_path: Path, given_uuid: Any) -> None:
    with DumpWriter(tmp_path, fsync=False) as writer:
        writer.write_collection("db", "c", [], options={}, indexes=[], uuid=given_uuid)
    [coll] = iter_dump_collections(tmp_path)
    assert coll.metadata()["uuid"] == "47d0f1f9ed46407fbada3cab9bb84644"


def test_index_without_name_is_refused(tmp_path: Path) -> None:
    with DumpWriter(tmp_path, fsync=False) as writer, pytest.raises(ValueError, match="name"):
        writer.write_collection("db", "c", [], options={}, indexes=[{"key": {"a": 1}}])


# --- names -------------------------------------------------------------------------------------


def test_file_stem_escapes_like_go_url_path_escape() -> None:
    assert collection_file_stem("Message") == "Message"
    assert collection_file_stem("cafés") == "caf%C3%A9s"
    assert collection_file_stem("a b/c%d;e,f?g") == "a%20b%2Fc%25d%3Be%2Cf%3Fg"
    assert collection_file_stem("x$&+:=@-_.~") == "x$&+:=@-_.~"


def test_long_names_are_shortened_like_mongodump() -> None:
    name = "a" * 300
    stem = collection_file_stem(name)
    assert len(stem) == 238 and stem.startswith("a" * 208 + "%24")


_names = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\x00"),
    min_size=1,
    max_size=300,
).filter(lambda n: n not in (".", "..") and not n.startswith(("system.", "$")))


@settings(max_examples=40, deadline=None)
@given(st.lists(_names, min_size=1, max_size=4, unique=True))
def test_any_collection_name_is_found_again(names: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_dump(root, {name: [bson.encode({"n": name})] for name in names})
        assert sorted(read_back(root)) == sorted(names)
        verify_dump(root)


# --- verification ------------------------------------------------------------------------------


@pytest.fixture
def dump(tmp_path: Path) -> Path:
    root = tmp_path / "backup"
    docs = [bson.encode({"_id": ObjectId(), "i": i, "t": "message " * 20}) for i in range(200)]
    write_dump(root, {"Message": docs, "Conversation": docs[:10]})
    return root


def test_verify_passes_on_a_fresh_dump(dump: Path) -> None:
    manifest = verify_dump(dump)
    assert [(c.name, c.count) for c in manifest.collections] == [
        ("Conversation", 10),
        ("Message", 200),
    ]
    assert manifest.run_id == "r1" and manifest.server_version == "7.0.0"


def test_verify_names_a_file_with_one_changed_byte(dump: Path) -> None:
    path = dump / "meeshy" / "Message.bson.gz"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    problems = problems_of(dump)
    assert any(p.startswith("meeshy/Message.bson.gz: sha256") for p in problems)
    assert all(p.startswith("meeshy/Message.bson.gz") for p in problems)


def test_verify_names_a_deleted_file(dump: Path) -> None:
    (dump / "meeshy" / "Conversation.metadata.json.gz").unlink()
    assert problems_of(dump) == ["meeshy/Conversation.metadata.json.gz: file missing"]


def test_verify_reports_an_edited_manifest_count(dump: Path) -> None:
    data = json.loads((dump / MANIFEST_NAME).read_text())
    data["collections"][1]["count"] = 199
    (dump / MANIFEST_NAME).write_text(json.dumps(data))
    assert problems_of(dump) == ["meeshy/Message.bson.gz: document count is 200, manifest says 199"]


def test_verify_reports_every_problem_at_once(dump: Path) -> None:
    (dump / "meeshy" / "Conversation.bson.gz").unlink()
    path = dump / "meeshy" / "Message.metadata.json.gz"
    path.write_bytes(path.read_bytes() + b"\0")
    problems = problems_of(dump)
    assert "meeshy/Conversation.bson.gz: file missing" in problems
    assert any(p.startswith("meeshy/Message.metadata.json.gz: size") for p in problems)


def test_verify_reports_a_collection_missing_from_the_manifest(dump: Path) -> None:
    (dump / "meeshy" / "Intruder.bson.gz").write_bytes(gzip.compress(bson.encode({"a": 1})))
    assert problems_of(dump) == ["meeshy/Intruder.bson.gz: meeshy.Intruder is not in the manifest"]


def test_verify_refuses_paths_outside_the_dump(dump: Path) -> None:
    data = json.loads((dump / MANIFEST_NAME).read_text())
    data["collections"][0]["files"][0]["path"] = "../../etc/passwd"
    (dump / MANIFEST_NAME).write_text(json.dumps(data))
    assert "../../etc/passwd: path leaves the dump directory" in problems_of(dump)


def test_verify_without_manifest_raises_manifest_missing(dump: Path) -> None:
    (dump / MANIFEST_NAME).unlink()
    with pytest.raises(ManifestMissing):
        verify_dump(dump)


def test_manifest_of_an_unknown_format_is_refused(dump: Path) -> None:
    data = json.loads((dump / MANIFEST_NAME).read_text())
    data["format"] = 2
    (dump / MANIFEST_NAME).write_text(json.dumps(data))
    with pytest.raises(DumpFormatError, match="format 2"):
        verify_dump(dump)


def test_manifest_json_round_trips(dump: Path) -> None:
    manifest = Manifest.load(dump)
    assert Manifest.from_json(manifest.to_json()) == manifest
    assert manifest.created_at.endswith("Z")


def test_manifest_fields_added_later_are_ignored(dump: Path) -> None:
    data = json.loads((dump / MANIFEST_NAME).read_text())
    data["added_later"] = 1
    data["collections"][0]["added_later"] = 2
    data["collections"][0]["files"][0]["added_later"] = 3
    assert Manifest.from_json(json.dumps(data)) == Manifest.load(dump)


# --- damaged files ------------------------------------------------------------------------------


def _plain_dump(root: Path, docs: list[bytes]) -> Path:
    write_dump(root, {"Message": docs}, gz=False)
    return root / "meeshy" / "Message.bson"


def test_truncated_bson_raises_naming_the_file(tmp_path: Path) -> None:
    docs = [bson.encode({"_id": i}) for i in range(3)]
    path = _plain_dump(tmp_path, docs)
    path.write_bytes(path.read_bytes()[:-3])
    [coll] = iter_dump_collections(tmp_path)
    with pytest.raises(DumpFormatError, match=r"Message\.bson: offset 28: truncated") as info:
        list(coll.iter_raw())
    assert info.value.path == path and info.value.offset == 2 * len(docs[0])


def test_bad_length_prefix_raises_naming_the_file(tmp_path: Path) -> None:
    path = _plain_dump(tmp_path, [bson.encode({"_id": 1})])
    path.write_bytes(b"\xff\xff\xff\x7f" + path.read_bytes()[4:])
    [coll] = iter_dump_collections(tmp_path)
    with pytest.raises(DumpFormatError, match=r"Message\.bson: offset 0: invalid document length"):
        list(coll.iter_raw())


def test_truncated_gzip_raises_naming_the_file(tmp_path: Path) -> None:
    write_dump(tmp_path, {"Message": [bson.encode({"_id": i}) for i in range(100)]})
    path = tmp_path / "meeshy" / "Message.bson.gz"
    path.write_bytes(path.read_bytes()[:-10])
    [coll] = iter_dump_collections(tmp_path)
    with pytest.raises(DumpFormatError, match=r"Message\.bson\.gz"):
        list(coll.iter_raw())


# --- writer safety ------------------------------------------------------------------------------


def test_writer_refuses_bytes_that_are_not_one_document(tmp_path: Path) -> None:
    two_docs = bson.encode({"a": 1}) + bson.encode({"b": 2})
    with DumpWriter(tmp_path, fsync=False) as writer, pytest.raises(DumpFormatError):
        writer.write_collection("db", "c", [two_docs], options={}, indexes=[])


def test_failed_dump_leaves_no_manifest_and_no_temp_files(tmp_path: Path) -> None:
    def docs() -> Any:
        yield bson.encode({"a": 1})
        raise ConnectionError("cursor lost")

    with pytest.raises(ConnectionError), DumpWriter(tmp_path, fsync=False) as writer:
        writer.write_collection("db", "c", docs(), options={}, indexes=[])
    assert not (tmp_path / MANIFEST_NAME).exists()
    # no temp file left; the INCOMPLETE marker says the dump is not restorable
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == [INCOMPLETE_NAME]
    with pytest.raises(DumpIncomplete):
        list(iter_dump_collections(tmp_path))


def test_failed_collection_can_be_written_again(tmp_path: Path) -> None:
    def broken() -> Any:
        yield bson.encode({"a": 1})
        raise ConnectionError("cursor lost")

    good = [bson.encode({"a": 1}), bson.encode({"a": 2})]
    with DumpWriter(tmp_path, fsync=False) as writer:
        with pytest.raises(ConnectionError):
            writer.write_collection("db", "c", broken(), options={}, indexes=[])
        writer.write_collection("db", "c", good, options={}, indexes=[])
        with pytest.raises(ValueError, match="already written"):
            writer.write_collection("db", "c", good, options={}, indexes=[])
    assert [list(c.iter_raw()) for c in iter_dump_collections(tmp_path)] == [good]
    verify_dump(tmp_path)


def test_writer_never_overwrites_a_finished_dump(dump: Path) -> None:
    with pytest.raises(DumpExists, match="already holds a finished dump") as refused:
        DumpWriter(dump)
    assert refused.value.exit_code == 2


def test_collections_can_be_written_from_threads(tmp_path: Path) -> None:
    colls = {f"C{i}": [bson.encode({"_id": j, "c": i}) for j in range(300)] for i in range(8)}
    with DumpWriter(tmp_path, fsync=False) as writer:
        threads = [
            threading.Thread(
                target=writer.write_collection,
                args=("meeshy", name, docs),
                kwargs={"options": {}, "indexes": []},
            )
            for name, docs in colls.items()
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert read_back(tmp_path) == colls
    assert len(verify_dump(tmp_path).collections) == 8


# --- directories written by mongodump ------------------------------------------------------------

# Metadata as mongodump 100.x writes it (bson.MarshalExtJSON canonical, Go map order for options).
_MONGODUMP_META = (
    '{"indexes":[{"v":{"$numberInt":"2"},"key":{"_id":{"$numberInt":"1"}},"name":"_id_"},'
    '{"v":{"$numberInt":"2"},"key":{"conversationId":{"$numberInt":"1"},'
    '"createdAt":{"$numberInt":"-1"}},"name":"conv_created","background":true}],'
    '"uuid":"47d0f1f9ed46407fbada3cab9bb84644","collectionName":"Message","type":"collection",'
    '"options":{"validator":{"$jsonSchema":{"bsonType":"object",'
    '"properties":{"n":{"bsonType":"long","minimum":{"$numberLong":"5"}}}}},'
    '"validationLevel":"strict","collation":{"locale":"fr","strength":{"$numberInt":"2"}}}}'
)
_OLD_META = (  # mongodump 3.x-4.x: no collectionName/type, "ns" in index specs
    '{"options":{},"indexes":[{"v":{"$numberInt":"2"},"key":{"_id":{"$numberInt":"1"}},'
    '"name":"_id_","ns":"test.cafés"}],"uuid":"47d0f1f9ed46407fbada3cab9bb84644"}'
)


def _mongodump_dir(root: Path, gz: bool) -> dict[str, list[bytes]]:
    """Lay out files by hand exactly as `mongodump [--gzip] --out root` does."""

    def put(rel: str, data: bytes) -> None:
        path = root / (rel + (".gz" if gz else ""))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress(data) if gz else data)

    long_name = "L" * 250
    docs = {
        "Message": [
            bson.encode({"_id": ObjectId(), "n": Int64(i), "r": Regex("^a")}) for i in range(5)
        ],
        "cafés": [bson.encode({"_id": 1, "prix": Decimal128("9.99")})],
        long_name: [bson.encode({"_id": "long"})],
        "NoMeta": [bson.encode({"_id": 2})],
    }
    put("meeshy/Message.bson", b"".join(docs["Message"]))
    put("meeshy/Message.metadata.json", _MONGODUMP_META.encode())
    put("meeshy/caf%C3%A9s.bson", b"".join(docs["cafés"]))
    put("meeshy/caf%C3%A9s.metadata.json", _OLD_META.encode())
    stem = collection_file_stem(long_name)
    put(f"meeshy/{stem}.bson", b"".join(docs[long_name]))
    put(f"meeshy/{stem}.metadata.json", json.dumps({"collectionName": long_name}).encode())
    put("meeshy/NoMeta.bson", b"".join(docs["NoMeta"]))
    put("meeshy/system.views.bson", bson.encode({"_id": "meeshy.v"}))
    put(
        "meeshy/Shown.metadata.json",
        b'{"options":{"viewOn":"Message","pipeline":[]},"type":"view"}',
    )
    put("admin/system.version.bson", bson.encode({"_id": "featureCompatibilityVersion"}))
    put("admin/system.version.metadata.json", b'{"options":{},"indexes":[]}')
    (root / "oplog.bson").write_bytes(b"")
    return docs


@pytest.mark.parametrize("gz", [True, False])
def test_reads_a_mongodump_directory_without_manifest(tmp_path: Path, gz: bool) -> None:
    docs = _mongodump_dir(tmp_path, gz)
    colls = {c.name: c for c in iter_dump_collections(tmp_path)}
    assert set(colls) == set(docs)
    assert {name: list(c.iter_raw()) for name, c in colls.items()} == docs
    meta = colls["Message"].metadata()
    assert [ix["name"] for ix in meta["indexes"]] == ["_id_", "conv_created"]
    assert list(meta["indexes"][1]["key"].items()) == [("conversationId", 1), ("createdAt", -1)]
    minimum = meta["options"]["validator"]["$jsonSchema"]["properties"]["n"]["minimum"]
    assert isinstance(minimum, Int64) and minimum == 5
    assert meta["options"]["collation"] == {"locale": "fr", "strength": 2}
    assert meta["uuid"] == "47d0f1f9ed46407fbada3cab9bb84644"
    old = colls["cafés"].metadata()
    assert (old["type"], old["collectionName"], old["options"]) == ("collection", "cafés", {})
    assert colls["NoMeta"].metadata_path is None
    assert colls["NoMeta"].metadata() == {
        "options": {},
        "indexes": [],
        "uuid": None,
        "type": "collection",
        "collectionName": "NoMeta",
    }
    with pytest.raises(ManifestMissing):
        verify_dump(tmp_path)


def test_both_compressed_and_plain_files_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "c.bson").write_bytes(b"")
    (tmp_path / "db" / "c.bson.gz").write_bytes(gzip.compress(b""))
    with pytest.raises(DumpFormatError, match="both"):
        list(iter_dump_collections(tmp_path))
