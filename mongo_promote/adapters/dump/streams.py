"""A dump's files as streams: atomic 0600 writes through gzip and age, reads that tally size and sha256, BSON framing.

Documents are never decoded: the bytes that come in are the bytes written, and the bytes read back.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import struct
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import bson
from bson.codec_options import CodecOptions
from bson.errors import InvalidBSON
from isal import igzip

from mongo_promote.adapters.dump import encryption
from mongo_promote.adapters.dump.errors import DumpDiskFull, DumpEncrypted, DumpFormatError
from mongo_promote.files import is_disk_full, open_private

_MAX_METADATA = 16 * 1024 * 1024  # a metadata file decompressing to more is refused (gzip bomb)
CHUNK = 1 << 20  # read and write granularity: large enough to amortise per-call overhead
MIN_DOC = 5  # int32 length + terminating NUL: the empty document
_MAX_DOC = 16 * 1024 * 1024 + 16 * 1024  # server's internal maximum (user docs: 16 MiB)
_MAX_FILENAME = 255  # bytes, on the file systems mongodump targets
INT32 = struct.Struct("<i")
# ISA-L's level 1 (isal.igzip): files as large as zlib's level 1 (about 18% larger than level 6,
# mongodump's) for a quarter of its CPU; the standard gzip format, read back with the standard
# library's zlib (`_plain_stream`), so every verified backup is proven readable by gzip -d
_GZIP_LEVEL = 1


class Tally:
    """sha256 and size of the bytes that went through a file, on their way to or from disk."""

    def __init__(self) -> None:
        self.sha256 = hashlib.sha256()
        self.size = 0

    def see(self, data: bytes) -> None:
        self.sha256.update(data)
        self.size += len(data)


class _HashingWriter:
    """Passes writes through to a file while tallying what reaches the disk."""

    def __init__(self, raw: IO[bytes], tally: Tally) -> None:
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


class HashingReader:
    """Passes reads through from a file while tallying the bytes on disk."""

    def __init__(self, raw: IO[bytes], tally: Tally) -> None:
        self._raw = raw
        self._tally = tally

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        self._tally.see(data)
        return data

    def drain(self) -> None:
        """Tally whatever the decompressor left unread, so the digest covers the whole file."""
        while self.read(CHUNK):
            pass


def fsync_dir(directory: Path) -> None:
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


def atomic_write(
    path: Path,
    produce: Callable[[Any], object],
    *,
    gz: bool = False,
    fsync: bool = True,
    recipients: list[Any] | None = None,
) -> Tally:
    """Write `path` (0600) through `produce(stream)` via path.tmp + rename: no half file ever exists.

    The stream gzips when `gz`, then encrypts to age `recipients` when given. Returns the size
    and sha256 of the bytes on disk (compressed, encrypted ones), computed while writing. A full disk
    raises DumpDiskFull.
    """
    tmp = _temp_path(path)
    tally = Tally()
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
        fsync_dir(path.parent)
    return tally


def tap_error(exc: BaseException, tap: _HashingWriter | None) -> OSError | None:
    """The disk-full error behind `exc`, also when the encryptor thread met it and only said so."""
    for candidate in (exc, exc.__cause__, exc.__context__, tap.error if tap else None):
        if isinstance(candidate, OSError) and is_disk_full(candidate):
            return candidate
    return None


def _produce(out: Any, produce: Callable[[Any], object], gz: bool) -> None:
    if gz:
        with igzip.IGzipFile(fileobj=out, mode="wb", compresslevel=_GZIP_LEVEL, mtime=0) as z:
            produce(z)
    else:
        produce(out)


def is_encrypted(path: Path) -> bool:
    return path.name.endswith(encryption.SUFFIX)


def is_gzip(path: Path) -> bool:
    return path.name.removesuffix(encryption.SUFFIX).endswith(".gz")


@contextlib.contextmanager
def _plain_stream(
    path: Path, tally: Tally | None = None, identities: list[Any] | None = None
) -> Iterator[Any]:
    """The file's plaintext as a stream (decrypted, gunzipped); `tally` sees the bytes on disk."""
    with open(path, "rb") as raw:
        source: Any = HashingReader(raw, tally) if tally else raw
        with contextlib.ExitStack() as stack:
            stream = source
            if is_encrypted(path):
                if not identities:
                    raise DumpEncrypted(
                        f"{path} is encrypted (age): pass the identity file (restore --identity)"
                    )
                stream = stack.enter_context(encryption.decrypting_reader(source, identities))
            if is_gzip(path):
                stream = stack.enter_context(gzip.GzipFile(fileobj=stream, mode="rb"))
            yield stream
        if isinstance(source, HashingReader):
            source.drain()


def read_file_bytes(
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
            chunk = stream.read(CHUNK)
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
    stream = "uncompressed offset" if is_gzip(path) else "offset"
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
                size = INT32.unpack_from(view, pos)[0]
                if not MIN_DOC <= size <= _MAX_DOC:
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


def iter_file_documents(
    path: Path,
    tally: Tally | None = None,
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
