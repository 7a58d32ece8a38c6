"""Writing a dump that mongorestore accepts, collection by collection, then its manifest (last)."""

from __future__ import annotations

import shutil
import threading
import uuid as uuidlib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import IO, Any

from mongo_promote.adapters.dump import encryption
from mongo_promote.adapters.dump.errors import DumpDiskFull, DumpExists, DumpFormatError
from mongo_promote.adapters.dump.manifest import (
    INCOMPLETE_NAME,
    MANIFEST_NAME,
    CollectionEntry,
    FileDigest,
    Manifest,
)
from mongo_promote.adapters.dump.names import (
    check_database_name,
    collection_file_stem,
    encode_metadata,
)
from mongo_promote.adapters.dump.streams import CHUNK, INT32, MIN_DOC, atomic_write, fsync_dir
from mongo_promote.checksum import ContentHash
from mongo_promote.files import private_dir


def _check_raw_document(raw: bytes, index: int, namespace: str) -> None:
    """Refuse anything that is not exactly one BSON document: a backup must restore as written."""
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise TypeError(f"{namespace}: document #{index} is {type(raw).__name__}, not raw bytes")
    size = len(raw)
    if size < MIN_DOC or INT32.unpack_from(raw)[0] != size or raw[-1] != 0:
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
        if pending >= CHUNK:
            out.write(b"".join(batch))
            batch.clear()
            pending = 0
    if batch:
        out.write(b"".join(batch))


class FileStyle:
    """How a dump's files are written: gzip, age recipients (parsed), fsync."""

    def __init__(self, gzip: bool, recipients: list[Any] | None, fsync: bool = True) -> None:
        self.gzip, self.recipients, self.fsync = gzip, recipients, fsync

    @classmethod
    def of(cls, *, gzip: bool, encrypt_to: Sequence[str] = (), fsync: bool = True) -> FileStyle:
        recipients = encryption.parse_recipients(encrypt_to) if encrypt_to else None
        return cls(gzip, recipients, fsync)

    def filename(self, filename: str) -> str:
        """`Message.bson` -> `Message.bson.gz` (gzip), `....age` (encrypted)."""
        return (
            filename + (".gz" if self.gzip else "") + (encryption.SUFFIX if self.recipients else "")
        )


def write_collection_files(
    root: Path,
    database: str,
    name: str,
    raw_docs: Iterable[bytes],
    metadata: bytes,
    style: FileStyle,
) -> CollectionEntry:
    """One collection's two files under `root/<database>/` (each atomically, 0600), hashing
    every document on the way; its manifest entry (file paths relative to the dump root)."""
    private_dir(root / database)
    stem = collection_file_stem(name)
    content = ContentHash()
    ns = f"{database}.{name}"

    def write(filename: str, produce: Callable[[Any], object]) -> FileDigest:
        filename = style.filename(filename)
        tally = atomic_write(
            root / database / filename,
            produce,
            gz=style.gzip,
            fsync=style.fsync,
            recipients=style.recipients,
        )
        path = f"{database}/{filename}"
        return FileDigest(path=path, size=tally.size, sha256=tally.sha256.hexdigest())

    bson_file = write(f"{stem}.bson", lambda out: _write_documents(out, raw_docs, content, ns))
    meta_file = write(f"{stem}.metadata.json", lambda out: out.write(metadata))
    return CollectionEntry(
        database, name, content.count, content.bytes, content.hexdigest(), [bson_file, meta_file]
    )


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
        self._style = FileStyle.of(gzip=gzip, encrypt_to=encrypt_to, fsync=fsync)
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
        check_database_name(database)
        collection_file_stem(name)  # a name no file can hold is refused before anything is written
        metadata = encode_metadata(name, options=options, indexes=indexes, uuid=uuid, type=type)
        self._claim(database, name)
        entry = None
        try:
            entry = self._write_files(database, name, raw_docs, metadata)
        finally:
            self._settle(database, name, entry)
        return entry

    def _write_files(
        self, database: str, name: str, raw_docs: Iterable[bytes], metadata: bytes
    ) -> CollectionEntry:
        db_dir = self.root / database
        if not db_dir.exists():
            with self._lock:
                self._created_dirs.add(db_dir)
        return write_collection_files(
            self.root,
            database,
            name,
            raw_docs,
            metadata,
            self._style,
        )

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
                    fsync_dir(self.root)
                self._finished = True
            return self.manifest
