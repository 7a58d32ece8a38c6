"""Reading a dump directory, ours or mongodump's: which collections it holds, their metadata and raw documents."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mongo_promote.adapters.dump import encryption
from mongo_promote.adapters.dump.errors import DumpFormatError, DumpIncomplete
from mongo_promote.adapters.dump.manifest import INCOMPLETE_NAME, MANIFEST_NAME
from mongo_promote.adapters.dump.names import LONG_STEM, decode_metadata
from mongo_promote.adapters.dump.streams import (
    is_encrypted,
    is_gzip,
    iter_file_documents,
    read_file_bytes,
)


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
        return is_gzip(self.bson_path)

    def metadata(self) -> dict[str, Any]:
        """Options, indexes, uuid, type, collectionName; mongorestore's defaults if no file."""
        data = read_file_bytes(self.metadata_path, self.identities) if self.metadata_path else b""
        return decode_metadata(data, default_name=self.name, path=self.metadata_path or "")

    def iter_raw(self) -> Iterator[bytes]:
        """Stream the documents' raw bytes in file order; damage raises DumpFormatError."""
        return iter_file_documents(
            self.bson_path, identities=self.identities, check_bson=self.check_bson
        )


def _skipped(name: str) -> bool:
    """System collections and mongodump's $admin.* side files are not restored by default."""
    return name.startswith(("system.", "$"))


BSON_SUFFIXES = (".bson.gz.age", ".bson.age", ".bson.gz", ".bson")


def _metadata_for(db_dir: Path, stem: str, bson_path: Path) -> Path | None:
    """The metadata beside a .bson file: same compression (and encryption) first, as mongorestore
    pairs them."""
    suffix = encryption.SUFFIX if is_encrypted(bson_path) else ""
    names = [f"{stem}.metadata.json.gz{suffix}", f"{stem}.metadata.json{suffix}"]
    for candidate in names if is_gzip(bson_path) else reversed(names):
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
    if len(stem) == LONG_STEM and "%24" in stem:
        if metadata_path is None:
            raise DumpFormatError(f"{db_dir / stem}: shortened file name and no metadata file")
        data = read_file_bytes(metadata_path, identities)
        name = str(decode_metadata(data, default_name="", path=metadata_path)["collectionName"])
        return _check_name(name, metadata_path)
    try:
        return _check_name(urllib.parse.unquote(stem, errors="strict"), db_dir / stem)
    except UnicodeDecodeError as exc:
        raise DumpFormatError(f"{db_dir / stem}: file name is not an escaped name") from exc


def _bson_stems(db_dir: Path) -> dict[str, Path]:
    stems: dict[str, Path] = {}
    for path in db_dir.iterdir():
        for suffix in BSON_SUFFIXES:
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


def refuse_incomplete(root: Path) -> None:
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
    refuse_incomplete(root)
    identities = encryption.load_identities(identity) if identity else None
    check_bson = not (root / MANIFEST_NAME).is_file()
    for db_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        _refuse_link(db_dir)
        yield from _iter_database(db_dir, identities, check_bson)
