"""Reader of mongodump's `--archive` format (plain or `--gzip`), so that `restore` loads an archive file as it
loads a dump directory.

The format (mongo-tools common/archive/spec.md, parser.go, prelude.go):

    archive   = magic (0x8199e26d, little-endian) header-doc collection-metadata-doc* terminator
                (namespace-segment | namespace-eof)*
    segment   = {db, collection, EOF: false, CRC: 0} document+ terminator
    eof       = {db, collection, EOF: true, CRC: <CRC-64-ECMA of all the namespace's documents>} terminator
    terminator = 0xffffffff

A namespace's documents may be split over many segments interleaved with other namespaces' (mongodump dumps
collections in parallel). One pass indexes where each namespace's segments lie in the (uncompressed) stream and
checks the framing, that every namespace with data ends with its EOF block, and that nothing follows the
archive; a collection's documents are then streamed from those places, never decoded. The CRC-64 is not
recomputed (pure Python would read about 1 MB/s); the documents read are counted and compared with what the
shadow holds after loading, as for a dump directory without manifest.
"""

from __future__ import annotations

import gzip
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

import bson

from mongo_promote.adapters.dump.errors import DumpFormatError
from mongo_promote.adapters.dump.names import decode_metadata
from mongo_promote.adapters.dump.reader import DumpCollection

MAGIC = 0x8199E26D
_MAGIC_BYTES = struct.pack("<I", MAGIC)
_TERMINATOR = 0xFFFFFFFF
_INT32 = struct.Struct("<I")
_MIN_DOC = 5
_MAX_DOC = 16 * 1024 * 1024 + 16 * 1024
_GZIP_MAGIC = b"\x1f\x8b"


def _open(path: Path) -> IO[bytes]:
    with open(path, "rb") as probe:
        gz = probe.read(2) == _GZIP_MAGIC
    return cast(IO[bytes], gzip.open(path, "rb")) if gz else open(path, "rb")


def is_archive(path: Path) -> bool:
    """A file (not a directory) that starts, once un-gzipped, with the archive's magic number."""
    if not path.is_file():
        return False
    try:
        with _open(path) as stream:
            return stream.read(4) == _MAGIC_BYTES
    except (OSError, EOFError):
        return False


class _Reader:
    """Documents and terminators of an archive stream, with the offset of each in the uncompressed bytes."""

    def __init__(self, stream: IO[bytes], path: Path) -> None:
        self.stream, self.path, self.pos = stream, path, 0

    def _exact(self, n: int, what: str) -> bytes:
        data = self.stream.read(n)
        if len(data) != n:
            raise DumpFormatError(
                f"{self.path}: archive truncated at byte {self.pos + len(data)} (reading {what})",
                path=self.path,
                offset=self.pos + len(data),
            )
        self.pos += n
        return data

    def next(self, what: str, *, eof_ok: bool = False) -> bytes | None:
        """The next document's bytes, None for a terminator, b"" at a clean end (when eof_ok)."""
        head = self.stream.read(4)
        if not head and eof_ok:
            return b""
        if len(head) != 4:
            raise DumpFormatError(
                f"{self.path}: archive truncated at byte {self.pos} (reading {what})",
                path=self.path,
                offset=self.pos,
            )
        (size,) = _INT32.unpack(head)
        start = self.pos
        self.pos += 4
        if size == _TERMINATOR:
            return None
        if not _MIN_DOC <= size <= _MAX_DOC:
            raise DumpFormatError(
                f"{self.path}: byte {start}: {size} is neither a BSON length nor an archive terminator "
                f"(reading {what})",
                path=self.path,
                offset=start,
            )
        doc = head + self._exact(size - 4, what)
        if doc[-1] != 0:
            raise DumpFormatError(
                f"{self.path}: byte {start}: BSON document does not end with NUL (reading {what})",
                path=self.path,
                offset=start,
            )
        return doc

    def skip_to(self, offset: int) -> None:
        if offset < self.pos:
            raise AssertionError("archive offsets are read in order")
        if self.stream.seekable():
            self.stream.seek(offset)
            self.pos = offset
            return
        while self.pos < offset:  # gzip: read and drop
            self._exact(min(1 << 20, offset - self.pos), "a skipped segment")


@dataclass
class _Namespace:
    database: str
    name: str
    metadata: str
    type: str
    segments: list[tuple[int, int]] = field(default_factory=list)  # [start, end) of documents
    count: int = 0
    ended: bool = False


def _decode(doc: bytes, path: Path, what: str) -> dict[str, Any]:
    try:
        return bson.decode(doc)
    except Exception as exc:  # bson raises several types for malformed input
        raise DumpFormatError(f"{path}: malformed {what}: {exc}", path=path) from None


class Archive:
    """An archive file, indexed: its header and, per namespace, metadata and where its documents lie."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.header: dict[str, Any] = {}
        self.namespaces: dict[tuple[str, str], _Namespace] = {}
        with _open(self.path) as stream:
            self._index(_Reader(stream, self.path))

    def _index(self, reader: _Reader) -> None:
        if reader.stream.read(4) != _MAGIC_BYTES:
            raise DumpFormatError(f"{self.path} is not a mongodump archive (no magic number)")
        reader.pos = 4
        header = reader.next("the archive header")
        if not header:
            raise DumpFormatError(f"{self.path}: archive has no header")
        self.header = _decode(header, self.path, "archive header")
        while (doc := reader.next("the collection list")) is not None:
            meta = _decode(doc, self.path, "collection metadata")
            key = (str(meta.get("db", "")), str(meta.get("collection", "")))
            self.namespaces[key] = _Namespace(
                key[0], key[1], str(meta.get("metadata", "")), str(meta.get("type", ""))
            )
        while (doc := reader.next("a namespace header", eof_ok=True)) != b"":
            if doc is None:
                raise DumpFormatError(
                    f"{self.path}: byte {reader.pos - 4}: two terminators in a row", path=self.path
                )
            head = _decode(doc, self.path, "namespace header")
            key = (str(head.get("db", "")), str(head.get("collection", "")))
            ns = self.namespaces.get(key)
            if ns is None:  # data for a namespace the prelude does not list (e.g. system.buckets.*)
                ns = self.namespaces[key] = _Namespace(key[0], key[1], "", "")
            if ns.ended:
                raise DumpFormatError(
                    f"{self.path}: data for {key[0]}.{key[1]} after its EOF block"
                )
            if head.get("EOF"):
                ns.ended = True
                if reader.next(f"the end of {key[0]}.{key[1]}") is not None:
                    raise DumpFormatError(f"{self.path}: EOF block of {key[0]}.{key[1]} holds data")
                continue
            start = reader.pos
            while reader.next(f"documents of {key[0]}.{key[1]}") is not None:
                ns.count += 1
            ns.segments.append((start, reader.pos - 4))
        for ns in self.namespaces.values():
            if ns.segments and not ns.ended:
                raise DumpFormatError(
                    f"{self.path}: archive ends before the EOF block of {ns.database}.{ns.name} "
                    "(truncated?)"
                )

    def collections(self) -> list[ArchiveCollection]:
        """Every regular collection in the archive (views, time series, system.* left out), sorted."""
        found = [
            ArchiveCollection(ns.database, ns.name, self.path, None, archive=self)
            for ns in self.namespaces.values()
            if ns.type in ("", "collection") and not ns.name.startswith(("system.", "$"))
        ]
        return sorted(found, key=lambda c: (c.database, c.name))

    def iter_raw(self, database: str, name: str) -> Iterator[bytes]:
        ns = self.namespaces[(database, name)]
        if not ns.segments:
            return
        with _open(self.path) as stream:
            reader = _Reader(stream, self.path)
            for start, end in ns.segments:
                reader.skip_to(start)
                while reader.pos < end:
                    doc = reader.next(f"documents of {database}.{name}")
                    if not doc:
                        raise DumpFormatError(f"{self.path}: archive changed while being read")
                    yield doc


@dataclass
class ArchiveCollection(DumpCollection):
    """One collection of an archive, read like one of a dump directory (`restore` takes either)."""

    archive: Archive | None = None

    @property
    def gzip(self) -> bool:
        return False

    def metadata(self) -> dict[str, Any]:
        assert self.archive is not None
        text = self.archive.namespaces[(self.database, self.name)].metadata
        return decode_metadata(
            text.encode(),
            default_name=self.name,
            path=f"{self.bson_path}:{self.database}.{self.name}",
        )

    def iter_raw(self) -> Iterator[bytes]:
        assert self.archive is not None
        return self.archive.iter_raw(self.database, self.name)


def archive_collections(path: Path) -> list[ArchiveCollection]:
    return Archive(path).collections()
