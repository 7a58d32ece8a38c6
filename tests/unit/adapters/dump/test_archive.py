"""The mongodump archive reader on archives built here by the spec (mongo-tools common/archive/spec.md)."""

from __future__ import annotations

import gzip
import json
import struct
from pathlib import Path

import bson
import pytest

from mongo_promote.adapters.dump import DumpFormatError
from mongo_promote.adapters.dump.archive import MAGIC, Archive, archive_collections, is_archive

TERMINATOR = struct.pack("<I", 0xFFFFFFFF)


def metadata(name: str, indexes: list[dict[str, object]]) -> str:
    return json.dumps(
        {"options": {}, "indexes": indexes, "collectionName": name, "type": "collection"}
    )


def build(
    segments: list[tuple[str, list[bytes]]],
    *,
    collections: tuple[str, ...] = ("A", "B", "Empty"),
    eof: tuple[str, ...] = ("A", "B", "Empty"),
) -> bytes:
    """An archive of database `d`: prelude, then the given segments in order, then the EOF blocks."""
    out = [struct.pack("<I", MAGIC)]
    out.append(
        bson.encode(
            {
                "concurrent_collections": 4,
                "version": "0.1",
                "server_version": "7.0",
                "tool_version": "x",
            }
        )
    )
    for name in collections:
        index = [
            {"v": 2, "key": {"_id": 1}, "name": "_id_"},
            {"v": 2, "key": {"k": -1}, "name": f"{name}_k"},
        ]
        out.append(
            bson.encode(
                {
                    "db": "d",
                    "collection": name,
                    "metadata": metadata(name, index),
                    "size": 0,
                    "type": "",
                }
            )
        )
    out.append(TERMINATOR)
    for name, docs in segments:
        out.append(bson.encode({"db": "d", "collection": name, "EOF": False, "CRC": bson.Int64(0)}))
        out.extend(docs)
        out.append(TERMINATOR)
    for name in eof:
        out.append(bson.encode({"db": "d", "collection": name, "EOF": True, "CRC": bson.Int64(7)}))
        out.append(TERMINATOR)
    return b"".join(out)


def docs(prefix: str, n: int) -> list[bytes]:
    return [bson.encode({"_id": f"{prefix}{i}", "k": i, "pad": "x" * i}) for i in range(n)]


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzip"])
def test_interleaved_segments_come_back_per_collection_in_order(
    tmp_path: Path, compressed: bool
) -> None:
    a, b = docs("a", 7), docs("b", 5)
    data = build([("A", a[:3]), ("B", b[:2]), ("A", a[3:]), ("B", b[2:])])
    path = tmp_path / "x.archive"
    path.write_bytes(gzip.compress(data) if compressed else data)

    assert is_archive(path)
    found = {c.name: c for c in archive_collections(path)}

    assert sorted(found) == ["A", "B", "Empty"]
    assert list(found["A"].iter_raw()) == a
    assert list(found["B"].iter_raw()) == b
    assert list(found["Empty"].iter_raw()) == []
    assert [ix["name"] for ix in found["A"].metadata()["indexes"]] == ["_id_", "A_k"]
    assert found["B"].database == "d"


def test_a_directory_or_other_file_is_not_an_archive(tmp_path: Path) -> None:
    (tmp_path / "plain.bson").write_bytes(b"".join(docs("a", 2)))
    assert not is_archive(tmp_path)
    assert not is_archive(tmp_path / "plain.bson")
    assert not is_archive(tmp_path / "missing")


@pytest.mark.parametrize("cut", [0.3, 0.6, 0.97])
def test_a_truncated_archive_is_refused_before_anything_is_read(tmp_path: Path, cut: float) -> None:
    data = build([("A", docs("a", 20)), ("B", docs("b", 20))])
    path = tmp_path / "x.archive"
    path.write_bytes(data[: int(len(data) * cut)])
    with pytest.raises(DumpFormatError, match=r"truncated|before the EOF block"):
        Archive(path)


def test_missing_eof_block_and_bad_lengths_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.archive"
    path.write_bytes(build([("A", docs("a", 3))], eof=("B",)))
    with pytest.raises(DumpFormatError, match=r"before the EOF block of d\.A"):
        Archive(path)
    data = bytearray(build([("A", docs("a", 3))]))
    bad = data.index(docs("a", 3)[1])
    data[bad : bad + 4] = struct.pack("<I", 3)  # not a BSON length, not a terminator
    path.write_bytes(bytes(data))
    with pytest.raises(DumpFormatError, match="neither a BSON length nor an archive terminator"):
        Archive(path)
