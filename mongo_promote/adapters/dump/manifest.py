"""Our manifest.json beside a dump: each collection's count, bytes and content hash, each file's size and sha256."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mongo_promote import __version__
from mongo_promote.adapters.dump.errors import DumpFormatError, ManifestMissing
from mongo_promote.adapters.dump.streams import atomic_write

MANIFEST_NAME = "manifest.json"
INCOMPLETE_NAME = "INCOMPLETE"  # present while a dump is being written; removed after the manifest
FORMAT_VERSION = 1
TOOL_NAME = f"mongo-promote {__version__}"


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
        atomic_write(path, lambda out: out.write(self.to_json().encode()), fsync=True)
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
