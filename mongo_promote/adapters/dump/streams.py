"""Reader and writer of mongodump's directory layout, plus our verified manifest (DESIGN.md §6).

Layout, as `mongodump [--gzip] --out DIR` writes it and `mongorestore [--gzip] --dir DIR` reads it
(mongo-tools: mongodump/prepare.go, mongodump/metadata_dump.go, mongorestore/filepath.go):

    DIR/<db>/<escaped coll>.bson[.gz]           concatenated raw BSON documents
    DIR/<db>/<escaped coll>.metadata.json[.gz]  options, indexes, uuid, collectionName, type
    DIR/manifest.json                           ours: sizes, sha256, counts and content hashes

File names escape the collection name like Go's url.PathEscape; names longer than 238 escaped
bytes are cut to 208 bytes + "%24" + base64url(sha1(name)), and the real name is then read from the
metadata's collectionName. Metadata is canonical Extended JSON, as mongodump marshals it
(bson.MarshalExtJSON(meta, canonical=true, escapeHTML=false)). Documents are never decoded: the
bytes that come in are the bytes written, and the bytes read back.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import json
import os
import shutil
import struct
import threading
import urllib.parse
import uuid as uuidlib
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import bson
from bson import json_util
from bson.binary import UuidRepresentation
from bson.codec_options import CodecOptions
from bson.errors import InvalidBSON
from bson.json_util import JSONMode, JSONOptions

from mongo_promote import __version__
from mongo_promote.adapters.dump import encryption
from mongo_promote.checksum import ContentHash
from mongo_promote.errors import OperationFailed, UsageError
from mongo_promote.files import is_disk_full, open_private, private_dir

MANIFEST_NAME = "manifest.json"
INCOMPLETE_NAME = "INCOMPLETE"  # present while a dump is being written; removed after the manifest
_MAX_METADATA = 16 * 1024 * 1024  # a metadata file decompressing to more is refused (gzip bomb)
FORMAT_VERSION = 1
TOOL_NAME = f"mongo-promote {__version__}"

_CHUNK = 1 << 20  # read and write granularity: large enough to amortise per-call overhead
_MIN_DOC = 5  # int32 length + terminating NUL: the empty document
_MAX_DOC = 16 * 1024 * 1024 + 16 * 1024  # server's internal maximum (user docs: 16 MiB)
_LONG_STEM = 238  # mongodump: longest escaped name before truncation
_MAX_FILENAME = 255  # bytes, on the file systems mongodump targets
_TRUNCATED_PREFIX = 208
_PATH_SAFE = "$&+:=@"  # what Go's url.PathEscape leaves alone besides [A-Za-z0-9-_.~]
_INT32 = struct.Struct("<i")
_GZIP_LEVEL = 1  # fastest: 4x less CPU than level 6 (mongodump's), files about 18% larger

# Write canonical like mongodump; accept uuid.UUID as well as Binary subtype 4 when encoding.
_DUMP_JSON = JSONOptions(
    json_mode=JSONMode.CANONICAL, uuid_representation=UuidRepresentation.STANDARD
)
# Decode UUIDs to Binary: pymongo's default codec (UNSPECIFIED) can send those back to a server.
_LOAD_JSON = JSONOptions(json_mode=JSONMode.CANONICAL)


class DumpFormatError(OperationFailed):
    """A dump file is malformed (bad length prefix, truncated document, corrupt gzip, bad JSON)."""

    def __init__(self, message: str, *, path: Path | str | None = None, offset: int | None = None):
        super().__init__(message)
        self.path = path
        self.offset = offset


class DumpVerificationError(OperationFailed):
    """A dump does not match its manifest; `.problems` lists every mismatch, one per line."""

    def __init__(self, root: Path, problems: list[str]) -> None:
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            f"backup {root} failed verification ({len(problems)} problem(s)):\n{lines}"
        )
        self.root = root
        self.problems = problems


class ManifestMissing(OperationFailed):
    """The directory has no manifest.json: a plain mongodump dump, or one we never finished."""


class DumpExists(UsageError):
    """The output directory already holds a dump (or other files): a backup never overwrites one."""


class DumpIncomplete(OperationFailed):
    """A dump whose writing never finished (its INCOMPLETE marker is still there): not restorable."""


class DumpDiskFull(OperationFailed):
    """The disk filled up while a dump was written; the partial dump was removed."""


class DumpEncrypted(UsageError):
    """The dump is encrypted (age) and no identity was given to read it."""


# ---------------------------------------------------------------------------------------------
# Manifest


@dataclass
class FileDigest:
    """One file of the dump, as it must be found again before anything is restored from it."""

    path: str  # relative to the dump root, with "/" separators
    size: int
    sha256: str


@dataclass
class CollectionEntry:
    """What a collection's files must contain: count, raw BSON bytes and content hash."""

    database: str
    name: str
    count: int
    bytes: int
    content_hash: str
    files: list[FileDigest] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CollectionEntry:
        files = [FileDigest(**_known_fields(FileDigest, f)) for f in data["files"]]
        return cls(**{**_known_fields(cls, data), "files": files})


def _known_fields(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """Fields this version knows; extra ones (added later, same format) are ignored."""
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Manifest:
    """Our record of a dump, written last so that its presence means the dump is complete."""

    tool: str = TOOL_NAME
    run_id: str | None = None
    created_at: str = field(default_factory=_utc_now)  # when the dump started, ISO 8601 UTC
    server_version: str | None = None
    collections: list[CollectionEntry] = field(default_factory=list)
    format: int = FORMAT_VERSION
    # {"scheme": "age", "recipients": [...]} when every file is encrypted (files end in .age);
    # sizes and sha256 are then those of the encrypted files
    encryption: dict[str, Any] | None = None

    def collection(self, database: str, name: str) -> CollectionEntry | None:
        """The entry for one collection, or None when the dump does not hold it."""
        for entry in self.collections:
            if (entry.database, entry.name) == (database, name):
                return entry
        return None

    def to_json(self) -> str:
        """Sorted and indented, so that two dumps of the same data diff cleanly."""
        data = asdict(self)
        data["collections"] = sorted(data["collections"], key=lambda c: (c["database"], c["name"]))
        for coll in data["collections"]:
            coll["files"] = sorted(coll["files"], key=lambda f: f["path"])
        return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        """Parse a manifest; a malformed or newer-format one is a DumpFormatError."""
        try:
            data = json.loads(text)
            if data.get("format") != FORMAT_VERSION:
                raise DumpFormatError(f"unsupported manifest format {data.get('format')!r}")
            colls = [CollectionEntry.from_dict(c) for c in data["collections"]]
            return cls(**{**_known_fields(cls, data), "collections": colls})
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise DumpFormatError(f"malformed {MANIFEST_NAME}: {exc}") from exc

    def save(self, root: Path) -> Path:
        """Write DIR/manifest.json atomically (a reader never sees half a manifest)."""
        path = Path(root) / MANIFEST_NAME
        _atomic_write(path, lambda out: out.write(self.to_json().encode()), fsync=True)
        return path

    @classmethod
    def load(cls, root: Path) -> Manifest:
        path = Path(root) / MANIFEST_NAME
        if not path.is_file():
            raise ManifestMissing(f"{root} has no {MANIFEST_NAME}")
        try:
            return cls.from_json(path.read_text(encoding="utf-8"))
        except DumpFormatError as exc:
            raise DumpFormatError(f"{path}: {exc.message}", path=path) from exc


# ---------------------------------------------------------------------------------------------
# Names and metadata


def collection_file_stem(name: str) -> str:
    """File name (without extension) mongodump gives a collection: escaped, long names shortened."""
    if name in ("", ".", "..") or "\x00" in name:
        raise ValueError(f"collection name {name!r} cannot be dumped")
    escaped = urllib.parse.quote(name, safe=_PATH_SAFE)
    if len(escaped) <= _LONG_STEM:
        return escaped
    digest = hashlib.sha1(name.encode()).digest()  # mongodump's naming, not security
    return (
        escaped[:_TRUNCATED_PREFIX] + "%24" + base64.urlsafe_b64encode(digest).decode().rstrip("=")
    )


def _check_database_name(database: str) -> None:
    if database in ("", ".", "..") or any(c in database for c in "/\\\x00"):
        raise ValueError(f"database name {database!r} cannot be dumped")


def _uuid_hex(value: bytes | str | uuidlib.UUID | None) -> str | None:
    """mongodump's form of a collection UUID: 32 lowercase hex digits (hex.EncodeToString)."""
    if value is None:
        return None
    if isinstance(value, uuidlib.UUID):
        return value.hex
    if isinstance(value, bytes | bytearray):
        if len(value) != 16:
            raise ValueError(f"collection uuid must be 16 bytes, got {len(value)}")
        return bytes(value).hex()
    return uuidlib.UUID(value).hex


def _check_indexes(indexes: list[dict[str, Any]]) -> None:
    """mongorestore needs a key document and a string name on every index (metadata.go)."""
    for spec in indexes:
        if not isinstance(spec.get("name"), str) or not spec.get("key"):
            raise ValueError(f"index spec needs 'key' and a string 'name': {spec!r}")


def encode_metadata(
    name: str,
    *,
    options: dict[str, Any],
    indexes: list[dict[str, Any]],
    uuid: bytes | str | uuidlib.UUID | None = None,
    type: str = "collection",
) -> bytes:
    """The .metadata.json bytes mongodump would write (same fields, order and JSON dialect)."""
    _check_indexes(indexes)
    doc: dict[str, Any] = {"options": dict(options), "indexes": list(indexes)}
    uuid_hex = _uuid_hex(uuid)
    if uuid_hex:
        doc["uuid"] = uuid_hex
    doc["collectionName"] = name
    doc["type"] = type
    text = json_util.dumps(doc, json_options=_DUMP_JSON, separators=(",", ":"), ensure_ascii=False)
    return text.encode()


def decode_metadata(data: bytes, *, default_name: str, path: Path | str = "") -> dict[str, Any]:
    """Parse metadata written by us or any mongodump; missing fields get mongorestore's defaults.

    Returns {"options", "indexes", "uuid" (hex or None), "type", "collectionName"}, with BSON
    types restored (Int32 vs Int64 vs double, dates, binaries, regexes) by bson.json_util.
    """
    doc: dict[str, Any] = {}
    if data.strip():  # mongorestore skips an empty metadata file
        try:
            doc = json_util.loads(data.decode("utf-8"), json_options=_LOAD_JSON)
        except (ValueError, TypeError, KeyError) as exc:
            raise DumpFormatError(f"{path}: invalid metadata JSON: {exc}", path=path) from exc
        if not isinstance(doc, dict):
            raise DumpFormatError(f"{path}: metadata is not a JSON object", path=path)
    return {
        "options": doc.get("options") or {},
        "indexes": doc.get("indexes") or [],
        "uuid": doc.get("uuid") or None,
        "type": doc.get("type") or "collection",
        "collectionName": doc.get("collectionName") or default_name,
    }


# ---------------------------------------------------------------------------------------------
# Low-level I/O


class _Tally:
    """sha256 and size of the bytes that went through a file, on their way to or from disk."""

    def __init__(self) -> None:
        self.sha256 = hashlib.sha256()
        self.size = 0

    def see(self, data: bytes) -> None:
        self.sha256.update(data)
        self.size += len(data)


class _HashingWriter:
    """Passes writes through to a file while tallying what reaches the disk."""

    def __init__(self, raw: IO[bytes], tally: _Tally) -> None:
        self._raw = raw
        self._tally = tally
        self.error: OSError | None = None  # kept: the age encryptor reports only "failed"

    def write(self, data: bytes) -> int:
        self._tally.see(data)
        try:
            return self._raw.write(data)
        except OSError as exc:
            self.error = exc
            raise

    def flush(self) -> None:
        self._raw.flush()


class _HashingReader:
    """Passes reads through from a file while tallying the bytes on disk."""

    def __init__(self, raw: IO[bytes], tally: _Tally) -> None:
        self._raw = raw
        self._tally = tally

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        self._tally.see(data)
        return data

    def drain(self) -> None:
        """Tally whatever the decompressor left unread, so the digest covers the whole file."""
        while self.read(_CHUNK):
            pass


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _temp_path(path: Path) -> Path:
    """`<name>.tmp` beside the file; a hashed name when a long mongodump name leaves no room."""
    tmp = f"{path.name}.tmp"
    if len(os.fsencode(tmp)) > _MAX_FILENAME:
        tmp = f".{hashlib.sha256(os.fsencode(path.name)).hexdigest()[:32]}.tmp"
    return path.with_name(tmp)


def _atomic_write(
    path: Path,
    produce: Callable[[Any], object],
    *,
    gz: bool = False,
    fsync: bool = True,
    recipients: list[Any] | None = None,
) -> FileDigest:
    """Write `path` (0600) through `produce(stream)` via path.tmp + rename: no half file ever exists.

    The stream gzips when `gz`, then encrypts to age `recipients` when given. Returns the digest
    of the bytes on disk (compressed, encrypted ones), computed while writing. A full disk
    raises DumpDiskFull.
    """
    tmp = _temp_path(path)
    tally = _Tally()
    try:
        with open_private(tmp, "wb") as raw:
            tap = _HashingWriter(raw, tally)
            if recipients:
                sink = encryption.EncryptingWriter(tap, recipients)
                try:
                    _produce(sink, produce, gz)
                except BaseException:
                    sink.abort()
                    raise
                sink.close()
            else:
                _produce(tap, produce, gz)
            raw.flush()
            if fsync:
                os.fsync(raw.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        cause = tap_error(exc, locals().get("tap"))
        if cause is not None:
            raise DumpDiskFull(
                f"disk full while writing {path}: {cause.strerror}",
            ) from cause
        raise
    if fsync:
        _fsync_dir(path.parent)
    return FileDigest(path=path.name, size=tally.size, sha256=tally.sha256.hexdigest())


def tap_error(exc: BaseException, tap: _HashingWriter | None) -> OSError | None:
    """The disk-full error behind `exc`, also when the encryptor thread met it and only said so."""
    for candidate in (exc, exc.__cause__, exc.__context__, tap.error if tap else None):
        if isinstance(candidate, OSError) and is_disk_full(candidate):
            return candidate
    return None


def _produce(out: Any, produce: Callable[[Any], object], gz: bool) -> None:
    if gz:
        with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=_GZIP_LEVEL, mtime=0) as z:
            produce(z)
    else:
        produce(out)


def _is_encrypted(path: Path) -> bool:
    return path.name.endswith(encryption.SUFFIX)


def _is_gzip(path: Path) -> bool:
    return path.name.removesuffix(encryption.SUFFIX).endswith(".gz")


@contextlib.contextmanager
def _plain_stream(
    path: Path, tally: _Tally | None = None, identities: list[Any] | None = None
) -> Iterator[Any]:
    """The file's plaintext as a stream (decrypted, gunzipped); `tally` sees the bytes on disk."""
    with open(path, "rb") as raw:
        source: Any = _HashingReader(raw, tally) if tally else raw
        with contextlib.ExitStack() as stack:
            stream = source
            if _is_encrypted(path):
                if not identities:
                    raise DumpEncrypted(
                        f"{path} is encrypted (age): pass the identity file (restore --identity)"
                    )
                stream = stack.enter_context(encryption.decrypting_reader(source, identities))
            if _is_gzip(path):
                stream = stack.enter_context(gzip.GzipFile(fileobj=stream, mode="rb"))
            yield stream
        if isinstance(source, _HashingReader):
            source.drain()


def _read_file_bytes(
    path: Path, identities: list[Any] | None = None, *, limit: int = _MAX_METADATA
) -> bytes:
    """A whole small file (metadata), decrypted and gunzipped as needed, refused beyond `limit`
    bytes once decompressed (a gzip bomb stops there, memory stays bounded)."""
    with _plain_stream(path, identities=identities) as stream:
        chunks, size = [], 0
        for chunk in _read_chunks(stream, path):
            size += len(chunk)
            if size > limit:
                raise DumpFormatError(
                    f"{path}: decompresses to more than {limit // (1024 * 1024)} MiB: refused "
                    "(a metadata file is a few KB; this looks like a gzip bomb)",
                    path=path,
                )
            chunks.append(chunk)
    return b"".join(chunks)


def _read_chunks(stream: Any, path: Path) -> Iterator[bytes]:
    while True:
        try:
            chunk = stream.read(_CHUNK)
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise DumpFormatError(f"{path}: corrupt gzip data: {exc}", path=path) from exc
        except encryption.DecryptionFailed as exc:
            raise DumpFormatError(
                f"{path}: cannot decrypt (wrong identity, or the file is damaged): {exc}", path=path
            ) from exc
        if not chunk:
            return
        yield chunk


def _where(path: Path, offset: int) -> str:
    stream = "uncompressed offset" if _is_gzip(path) else "offset"
    return f"{path}: {stream} {offset}"


def _split_documents(chunks: Iterable[bytes], path: Path) -> Iterator[bytes]:
    """Cut a byte stream into BSON documents by their int32 length prefix, checking each frame."""
    pending = bytearray()
    start = 0  # stream offset of pending[0]
    for chunk in chunks:
        pending += chunk
        pos = 0
        with memoryview(pending) as view:
            while len(pending) - pos >= 4:
                size = _INT32.unpack_from(view, pos)[0]
                if not _MIN_DOC <= size <= _MAX_DOC:
                    raise DumpFormatError(
                        f"{_where(path, start + pos)}: invalid document length {size}",
                        path=path,
                        offset=start + pos,
                    )
                if len(pending) - pos < size:
                    break
                if view[pos + size - 1] != 0:
                    raise DumpFormatError(
                        f"{_where(path, start + pos)}: document of {size} bytes lacks its "
                        "terminating NUL (corrupt)",
                        path=path,
                        offset=start + pos,
                    )
                yield bytes(view[pos : pos + size])
                pos += size
        del pending[:pos]
        start += pos
    if pending:
        raise DumpFormatError(
            f"{_where(path, start)}: truncated document ({len(pending)} trailing bytes)",
            path=path,
            offset=start,
        )


def _iter_file_documents(
    path: Path,
    tally: _Tally | None = None,
    identities: list[Any] | None = None,
    *,
    check_bson: bool = False,
    max_bytes: int | None = None,
) -> Iterator[bytes]:
    """Stream documents from a .bson[.gz][.age] file; `tally` sees the file's bytes on disk.

    One pass serves both checks of a verification: the file's sha256 and its documents.
    `check_bson` decodes each document (for dumps no manifest vouches for): invalid BSON is a
    DumpFormatError naming the file and offset. Past `max_bytes` of documents (what the manifest
    says) reading stops: a decompression bomb is refused, not expanded.
    """
    with _plain_stream(path, tally, identities) as stream:
        offset = 0
        for raw in _split_documents(_read_chunks(stream, path), path):
            if check_bson:
                _check_bson(raw, path, offset)
            offset += len(raw)
            if max_bytes is not None and offset > max_bytes:
                raise DumpFormatError(
                    f"{_where(path, offset)}: more documents than the manifest's {max_bytes} "
                    "bytes: refused",
                    path=path,
                    offset=offset,
                )
            yield raw


_CHECK_CODEC: CodecOptions[dict[str, Any]] = CodecOptions(
    unicode_decode_error_handler="surrogateescape"
)


def _check_bson(raw: bytes, path: Path, offset: int) -> None:
    try:
        bson.decode(raw, codec_options=_CHECK_CODEC)
    except (InvalidBSON, ValueError, OverflowError, TypeError, IndexError) as exc:
        raise DumpFormatError(
            f"{_where(path, offset)}: invalid BSON document: {exc}", path=path, offset=offset
        ) from None


def _check_raw_document(raw: bytes, index: int, namespace: str) -> None:
    """Refuse anything that is not exactly one BSON document: a backup must restore as written."""
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise TypeError(f"{namespace}: document #{index} is {type(raw).__name__}, not raw bytes")
    size = len(raw)
    if size < _MIN_DOC or _INT32.unpack_from(raw)[0] != size or raw[-1] != 0:
        raise DumpFormatError(f"{namespace}: document #{index} is not one BSON document")


def _write_documents(
    out: IO[bytes], raw_docs: Iterable[bytes], content: ContentHash, ns: str
) -> None:
    """Copy raw documents to `out` in ~1 MiB writes, hashing each one on the way."""
    batch: list[bytes] = []
    pending = 0
    for index, raw in enumerate(raw_docs):
        _check_raw_document(raw, index, ns)
        content.add(raw)
        batch.append(raw)
        pending += len(raw)
        if pending >= _CHUNK:
            out.write(b"".join(batch))
            batch.clear()
            pending = 0
    if batch:
        out.write(b"".join(batch))


# ---------------------------------------------------------------------------------------------
# Writer


class DumpWriter:
    """Writes a dump that mongorestore accepts, collection by collection, then its manifest.

    Each file is written to *.tmp and renamed, and the manifest is written last: a dump
    directory with a manifest.json is complete. Leaving the `with` block normally finishes the
    dump; leaving it on an exception does not, so a failed dump never looks verified: its
    INCOMPLETE marker stays and readers refuse it. A full disk removes the partial dump.
    Directories are 0700 and files 0600; with `encrypt_to` (age recipients) every file is an
    age file named `<name>.age` and the manifest's sizes and sha256 are the encrypted files'.
    write_collection may be called from several threads for different collections.
    """

    def __init__(
        self,
        root: Path,
        *,
        gzip: bool = True,
        run_id: str | None = None,
        server_version: str | None = None,
        fsync: bool = True,
        encrypt_to: Sequence[str] = (),
    ) -> None:
        self.root = Path(root)
        self._refuse_existing()
        self._recipients = encryption.parse_recipients(encrypt_to) if encrypt_to else None
        self._created_root = not self.root.exists()
        private_dir(self.root)
        (self.root / INCOMPLETE_NAME).touch(mode=0o600)
        self.gzip = gzip
        self.fsync = fsync
        self.manifest = Manifest(run_id=run_id, server_version=server_version)
        if encrypt_to:
            self.manifest.encryption = {"scheme": "age", "recipients": list(encrypt_to)}
        self._created_dirs: set[Path] = set()
        self._lock = threading.Lock()
        self._names: set[tuple[str, str]] = set()
        self._in_flight = 0
        self._finished = False

    def __enter__(self) -> DumpWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None and not self._finished:
            self.finish()
        elif isinstance(exc, DumpDiskFull):
            self._remove_partial()
            exc.message += f"; the partial backup in {self.root} was removed"
            exc.args = (exc.message,)

    def _refuse_existing(self) -> None:
        """A backup goes to a new (or empty) directory, or continues our own unfinished one."""
        if (self.root / MANIFEST_NAME).exists():
            raise DumpExists(
                f"{self.root} already holds a finished dump ({MANIFEST_NAME}): a backup never "
                "overwrites one; choose another directory (backup --out DIR)"
            )
        if self.root.exists() and not self.root.is_dir():
            raise DumpExists(f"{self.root} exists and is not a directory")
        ours = (self.root / INCOMPLETE_NAME).exists()
        if self.root.is_dir() and not ours and any(self.root.iterdir()):
            raise DumpExists(
                f"{self.root} is not empty and is not an unfinished backup of ours: "
                "choose a new directory (backup --out DIR)"
            )

    def _remove_partial(self) -> None:
        """Free the space a dump that cannot finish took: everything it wrote goes."""
        if self._created_root:
            shutil.rmtree(self.root, ignore_errors=True)
            return
        for directory in self._created_dirs:
            shutil.rmtree(directory, ignore_errors=True)
        (self.root / INCOMPLETE_NAME).unlink(missing_ok=True)

    def _claim(self, database: str, name: str) -> None:
        with self._lock:
            if self._finished:
                raise RuntimeError(f"dump {self.root} is already finished")
            if (database, name) in self._names:
                raise ValueError(f"{database}.{name} was already written to {self.root}")
            self._names.add((database, name))
            self._in_flight += 1

    def _settle(self, database: str, name: str, entry: CollectionEntry | None) -> None:
        """Record a written collection, or release its name so that it can be retried."""
        with self._lock:
            self._in_flight -= 1
            if entry is None:
                self._names.discard((database, name))
            else:
                self.manifest.collections.append(entry)

    def write_collection(
        self,
        database: str,
        name: str,
        raw_docs: Iterable[bytes],
        *,
        options: dict[str, Any],
        indexes: list[dict[str, Any]],
        uuid: bytes | str | uuidlib.UUID | None = None,
        type: str = "collection",
    ) -> CollectionEntry:
        """Stream one collection's documents and metadata to disk; return its manifest entry.

        `options` and `indexes` are what pymongo's list_collections()/list_indexes() return;
        they are stored as-is so mongorestore recreates the collection and its indexes.
        Only plain collections are supported: mongodump stores views and time series apart.
        If writing fails, the collection may be written again (its files are replaced).
        """
        if type != "collection":
            raise ValueError(f"{database}.{name}: dumping a {type!r} is not supported")
        _check_database_name(database)
        stem = collection_file_stem(name)
        metadata = encode_metadata(name, options=options, indexes=indexes, uuid=uuid, type=type)
        self._claim(database, name)
        entry = None
        try:
            entry = self._write_files(database, name, stem, raw_docs, metadata)
        finally:
            self._settle(database, name, entry)
        return entry

    def _write_files(
        self, database: str, name: str, stem: str, raw_docs: Iterable[bytes], metadata: bytes
    ) -> CollectionEntry:
        db_dir = self.root / database
        if not db_dir.exists():
            with self._lock:
                self._created_dirs.add(db_dir)
        private_dir(db_dir)
        content = ContentHash()
        ns = f"{database}.{name}"
        bson_file = self._write(
            database, f"{stem}.bson", lambda out: _write_documents(out, raw_docs, content, ns)
        )
        meta_file = self._write(database, f"{stem}.metadata.json", lambda out: out.write(metadata))
        files = [bson_file, meta_file]
        return CollectionEntry(
            database, name, content.count, content.bytes, content.hexdigest(), files
        )

    def _write(self, database: str, filename: str, produce: Callable[[Any], object]) -> FileDigest:
        if self.gzip:
            filename += ".gz"
        if self._recipients:
            filename += encryption.SUFFIX
        digest = _atomic_write(
            self.root / database / filename,
            produce,
            gz=self.gzip,
            fsync=self.fsync,
            recipients=self._recipients,
        )
        digest.path = f"{database}/{filename}"
        return digest

    def finish(self) -> Manifest:
        """Write manifest.json (last, atomically); calling it again returns the same manifest."""
        with self._lock:
            if self._in_flight:
                raise RuntimeError(f"{self._in_flight} collections are still being written")
            if not self._finished:
                try:
                    self.manifest.save(self.root)
                except DumpDiskFull:
                    self._remove_partial()
                    raise
                (self.root / INCOMPLETE_NAME).unlink(missing_ok=True)
                if self.fsync:
                    _fsync_dir(self.root)
                self._finished = True
            return self.manifest


# ---------------------------------------------------------------------------------------------
# Reader


@dataclass
class DumpCollection:
    """One collection found in a dump directory (ours or mongodump's)."""

    database: str
    name: str
    bson_path: Path
    metadata_path: Path | None
    identities: list[Any] | None = field(default=None, repr=False)
    # decode every document while reading: no manifest vouches for the bytes (a mongodump dump)
    check_bson: bool = False

    @property
    def gzip(self) -> bool:
        return _is_gzip(self.bson_path)

    def metadata(self) -> dict[str, Any]:
        """Options, indexes, uuid, type, collectionName; mongorestore's defaults if no file."""
        data = _read_file_bytes(self.metadata_path, self.identities) if self.metadata_path else b""
        return decode_metadata(data, default_name=self.name, path=self.metadata_path or "")

    def iter_raw(self) -> Iterator[bytes]:
        """Stream the documents' raw bytes in file order; damage raises DumpFormatError."""
        return _iter_file_documents(
            self.bson_path, identities=self.identities, check_bson=self.check_bson
        )


def _skipped(name: str) -> bool:
    """System collections and mongodump's $admin.* side files are not restored by default."""
    return name.startswith(("system.", "$"))


_BSON_SUFFIXES = (".bson.gz.age", ".bson.age", ".bson.gz", ".bson")


def _metadata_for(db_dir: Path, stem: str, bson_path: Path) -> Path | None:
    """The metadata beside a .bson file: same compression (and encryption) first, as mongorestore
    pairs them."""
    suffix = encryption.SUFFIX if _is_encrypted(bson_path) else ""
    names = [f"{stem}.metadata.json.gz{suffix}", f"{stem}.metadata.json{suffix}"]
    for candidate in names if _is_gzip(bson_path) else reversed(names):
        path = db_dir / candidate
        if path.is_file():
            _refuse_link(path)
            return path
    return None


def _refuse_link(path: Path) -> None:
    if path.is_symlink():
        raise DumpFormatError(f"{path}: a symbolic link in a dump is refused", path=path)


def _check_name(name: str, where: Path) -> str:
    """An empty name or one holding NUL (no server has one) is refused. A name such as
    `../../x` is legal in MongoDB and stays a name: files are only ever found by listing the
    dump's own directories (never built from names), symlinks are refused, and manifest paths
    that would leave the directory are refused."""
    if not name or "\x00" in name:
        raise DumpFormatError(f"{where}: refused collection name {name!r}", path=where)
    return name


def _name_from_stem(
    stem: str, metadata_path: Path | None, db_dir: Path, identities: list[Any] | None
) -> str:
    """Undo mongodump's file naming; a shortened name is recovered from the metadata."""
    if len(stem) == _LONG_STEM and "%24" in stem:
        if metadata_path is None:
            raise DumpFormatError(f"{db_dir / stem}: shortened file name and no metadata file")
        data = _read_file_bytes(metadata_path, identities)
        name = str(decode_metadata(data, default_name="", path=metadata_path)["collectionName"])
        return _check_name(name, metadata_path)
    try:
        return _check_name(urllib.parse.unquote(stem, errors="strict"), db_dir / stem)
    except UnicodeDecodeError as exc:
        raise DumpFormatError(f"{db_dir / stem}: file name is not an escaped name") from exc


def _bson_stems(db_dir: Path) -> dict[str, Path]:
    stems: dict[str, Path] = {}
    for path in db_dir.iterdir():
        for suffix in _BSON_SUFFIXES:
            if path.name.endswith(suffix) and (path.is_file() or path.is_symlink()):
                _refuse_link(path)
                stem = path.name[: -len(suffix)]
                if stem in stems:
                    raise DumpFormatError(f"{db_dir / stem}: several .bson files for one name")
                stems[stem] = path
                break
    return stems


def _iter_database(
    db_dir: Path, identities: list[Any] | None, check_bson: bool
) -> Iterator[DumpCollection]:
    stems = _bson_stems(db_dir)
    found = []
    for stem, bson_path in stems.items():
        metadata_path = _metadata_for(db_dir, stem, bson_path)
        name = _name_from_stem(stem, metadata_path, db_dir, identities)
        if not _skipped(name):
            found.append(
                DumpCollection(db_dir.name, name, bson_path, metadata_path, identities, check_bson)
            )
    yield from sorted(found, key=lambda c: c.name)


def _refuse_incomplete(root: Path) -> None:
    if (root / INCOMPLETE_NAME).exists():
        raise DumpIncomplete(
            f"{root} is an unfinished backup (its {INCOMPLETE_NAME} marker is there: writing "
            "it failed or was interrupted): it cannot be restored"
        )


def iter_dump_collections(root: Path, *, identity: Path | None = None) -> Iterator[DumpCollection]:
    """Every collection with data in a dump directory, sorted by database then name.

    Top-level files (oplog.bson, manifest.json, prelude.json) and system collections are
    skipped, as mongorestore does by default. Views and time series (metadata without a
    <name>.bson file) are not listed. An encrypted dump needs the age `identity` file to be read.
    Documents of a dump without our manifest are decoded as they are read (invalid BSON is a
    DumpFormatError with file and offset); ours are vouched for by the manifest's hashes.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"dump directory {root} does not exist")
    _refuse_incomplete(root)
    identities = encryption.load_identities(identity) if identity else None
    check_bson = not (root / MANIFEST_NAME).is_file()
    for db_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        _refuse_link(db_dir)
        yield from _iter_database(db_dir, identities, check_bson)


# ---------------------------------------------------------------------------------------------
# Verification


def _file_tally(path: Path) -> _Tally:
    tally = _Tally()
    with open(path, "rb") as raw:
        _HashingReader(raw, tally).drain()
    return tally


def _compare(problems: list[str], label: str, what: str, found: object, expected: object) -> None:
    if found != expected:
        problems.append(f"{label}: {what} is {found}, manifest says {expected}")


def _check_bson_file(
    path: Path,
    label: str,
    entry: CollectionEntry,
    problems: list[str],
    identities: list[Any] | None,
) -> _Tally:
    """Re-read every document: count, raw bytes and content hash must match the manifest.

    An encrypted file read without an identity is checked by size and sha256 only.
    """
    if _is_encrypted(path) and not identities:
        return _file_tally(path)
    tally, content = _Tally(), ContentHash()
    try:
        content.update_many(
            _iter_file_documents(path, tally, identities, max_bytes=max(entry.bytes, 0))
        )
    except DumpFormatError as exc:
        problems.append(f"{label}: unreadable: {exc.message}")
        return _file_tally(path)
    _compare(problems, label, "document count", content.count, entry.count)
    _compare(problems, label, "BSON byte count", content.bytes, entry.bytes)
    _compare(problems, label, "content hash", content.hexdigest(), entry.content_hash)
    return tally


def _check_metadata_file(
    path: Path, label: str, digest: FileDigest, problems: list[str], identities: list[Any] | None
) -> _Tally:
    """The file's sha256 is checked first, streaming; only a file that matches is decompressed
    (with a size cap) and parsed."""
    tally = _file_tally(path)
    if tally.size != digest.size or tally.sha256.hexdigest() != digest.sha256:
        return tally
    if _is_encrypted(path) and not identities:
        return tally
    try:
        decode_metadata(_read_file_bytes(path, identities), default_name="", path=label)
    except DumpFormatError as exc:
        problems.append(f"{label}: unreadable: {exc.message}")
    return tally


def _resolve(root: Path, relative: str) -> Path | None:
    """The file a manifest path names, or None if it points outside the dump (or is hostile)."""
    parts = relative.split("/")
    if not relative or "\x00" in relative or relative.startswith("/") or ".." in parts:
        return None
    path = (root / relative).resolve()
    return path if path.is_relative_to(root.resolve()) else None


def _check_file(
    root: Path,
    digest: FileDigest,
    entry: CollectionEntry,
    problems: list[str],
    identities: list[Any] | None,
) -> None:
    label = digest.path
    path = _resolve(root, digest.path)
    if path is None:
        shown = label.replace("\x00", "\\0")
        problems.append(f"{shown}: path leaves the dump directory")
        return
    if not path.is_file():
        problems.append(f"{label}: file missing")
        return
    if label.endswith(_BSON_SUFFIXES):
        tally = _check_bson_file(path, label, entry, problems, identities)
    else:
        tally = _check_metadata_file(path, label, digest, problems, identities)
    _compare(problems, label, "size", tally.size, digest.size)
    _compare(problems, label, "sha256", tally.sha256.hexdigest(), digest.sha256)


def _check_entry(
    root: Path, entry: CollectionEntry, problems: list[str], identities: list[Any] | None
) -> None:
    if not any(f.path.endswith(_BSON_SUFFIXES) for f in entry.files):
        problems.append(f"{entry.database}.{entry.name}: manifest lists no .bson file")
    for digest in entry.files:
        _check_file(root, digest, entry, problems, identities)


def _check_unlisted(
    root: Path, manifest: Manifest, problems: list[str], identity: Path | None
) -> None:
    """A collection in the directory but not in the manifest would be restored unverified."""
    listed = {(c.database, c.name) for c in manifest.collections}
    try:
        for coll in iter_dump_collections(root, identity=identity):
            if (coll.database, coll.name) not in listed:
                rel = coll.bson_path.relative_to(root).as_posix()
                problems.append(f"{rel}: {coll.database}.{coll.name} is not in the manifest")
    except (DumpFormatError, DumpEncrypted) as exc:
        problems.append(exc.message)


def verify_dump(root: Path, *, identity: Path | None = None) -> Manifest:
    """Check a dump against its manifest before anything is restored from it.

    Every file's size and sha256, and every collection's count, byte count and content hash
    are recomputed (one read per file). An encrypted dump is checked by size and sha256 of the
    encrypted files without decrypting; with the age `identity` file, its contents too.
    All mismatches are collected into one DumpVerificationError; a directory without
    manifest.json raises ManifestMissing and the caller decides whether an unverified mongodump
    directory is acceptable; an unfinished one raises DumpIncomplete.
    """
    root = Path(root)
    _refuse_incomplete(root)
    manifest = Manifest.load(root)
    identities = encryption.load_identities(identity) if identity else None
    problems: list[str] = []
    for entry in manifest.collections:
        _check_entry(root, entry, problems, identities)
    _check_unlisted(root, manifest, problems, identity)
    if problems:
        raise DumpVerificationError(root, problems)
    return manifest
