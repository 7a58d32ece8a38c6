"""Verifying a dump against its manifest before anything is restored from it: every file, every collection."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mongo_promote.adapters.dump import encryption
from mongo_promote.adapters.dump.errors import (
    DumpEncrypted,
    DumpFormatError,
    DumpVerificationError,
)
from mongo_promote.adapters.dump.manifest import CollectionEntry, FileDigest, Manifest
from mongo_promote.adapters.dump.names import decode_metadata
from mongo_promote.adapters.dump.reader import (
    BSON_SUFFIXES,
    iter_dump_collections,
    refuse_incomplete,
)
from mongo_promote.adapters.dump.streams import (
    HashingReader,
    Tally,
    is_encrypted,
    iter_file_documents,
    read_file_bytes,
)
from mongo_promote.checksum import ContentHash


def _file_tally(path: Path) -> Tally:
    tally = Tally()
    with open(path, "rb") as raw:
        HashingReader(raw, tally).drain()
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
) -> Tally:
    """Re-read every document: count, raw bytes and content hash must match the manifest.

    An encrypted file read without an identity is checked by size and sha256 only.
    """
    if is_encrypted(path) and not identities:
        return _file_tally(path)
    tally, content = Tally(), ContentHash()
    try:
        content.update_many(
            iter_file_documents(path, tally, identities, max_bytes=max(entry.bytes, 0))
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
) -> Tally:
    """The file's sha256 is checked first, streaming; only a file that matches is decompressed
    (with a size cap) and parsed."""
    tally = _file_tally(path)
    if tally.size != digest.size or tally.sha256.hexdigest() != digest.sha256:
        return tally
    if is_encrypted(path) and not identities:
        return tally
    try:
        decode_metadata(read_file_bytes(path, identities), default_name="", path=label)
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
    if label.endswith(BSON_SUFFIXES):
        tally = _check_bson_file(path, label, entry, problems, identities)
    else:
        tally = _check_metadata_file(path, label, digest, problems, identities)
    _compare(problems, label, "size", tally.size, digest.size)
    _compare(problems, label, "sha256", tally.sha256.hexdigest(), digest.sha256)


def _check_entry(
    root: Path, entry: CollectionEntry, problems: list[str], identities: list[Any] | None
) -> None:
    if not any(f.path.endswith(BSON_SUFFIXES) for f in entry.files):
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


def verify_collection(root: Path, entry: CollectionEntry) -> None:
    """One collection's files under `root` against its manifest entry: every document read back
    (count, bytes, content hash), every file's size and sha256 (an encrypted file: those two
    only). A write freeze's catch-up checks what it wrote this way before the files go in."""
    problems: list[str] = []
    _check_entry(Path(root), entry, problems, None)
    if problems:
        raise DumpVerificationError(Path(root), problems)


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
    refuse_incomplete(root)
    manifest = Manifest.load(root)
    identities = encryption.load_identities(identity) if identity else None
    problems: list[str] = []
    for entry in manifest.collections:
        _check_entry(root, entry, problems, identities)
    _check_unlisted(root, manifest, problems, identity)
    if problems:
        raise DumpVerificationError(root, problems)
    return manifest
