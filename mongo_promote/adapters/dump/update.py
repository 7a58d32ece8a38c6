"""Replacing collections of a finished dump in place, for a write freeze's catch-up (issue 17).

A collection's new files are written and read back beside the dump, in `<dump>.catchup/staged/`;
then, under the INCOMPLETE marker, the dump's files of that collection move to
`<dump>.catchup/superseded/` (the first time only: what stays aside is the original backup's),
the new ones move in, and the manifest is rewritten. The marker names the collections whose files
and manifest entry may disagree; it goes once none does, so a crash in between leaves a dump
that readers refuse until the catch-up is done again. Everything is 0700/0600, like the dump.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import uuid as uuidlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mongo_promote.adapters.dump.manifest import INCOMPLETE_NAME, CollectionEntry, Manifest
from mongo_promote.adapters.dump.names import collection_file_stem, encode_metadata
from mongo_promote.adapters.dump.reader import BSON_SUFFIXES
from mongo_promote.adapters.dump.streams import fsync_dir
from mongo_promote.adapters.dump.verify import verify_collection
from mongo_promote.adapters.dump.writer import FileStyle, write_collection_files
from mongo_promote.files import private_dir, write_private

SIDE_SUFFIX = ".catchup"


def side_dir(root: Path) -> Path:
    """`<dump>.catchup/`: beside the dump (same file system: files move by rename), never in it
    (mongorestore would take any directory inside for a database)."""
    root = Path(root)
    return root.with_name(root.name + SIDE_SUFFIX)


@dataclass(frozen=True)
class Staged:
    """A collection's new files, written and waiting beside the dump."""

    entry: CollectionEntry  # file paths relative to the dump root, as they will be once moved in
    root: Path  # where the files are now (`<dump>.catchup/staged`)


class DumpUpdate:
    """Replaces collections of the finished dump at `root`; `stage` may run on several threads
    at once, `commit` serialises itself."""

    def __init__(
        self, root: Path, *, gzip: bool, encrypt_to: Sequence[str] = (), fsync: bool = True
    ) -> None:
        self.root = Path(root)
        self.manifest = Manifest.load(self.root)  # ManifestMissing: not a finished dump of ours
        self.style = FileStyle.of(gzip=gzip, encrypt_to=encrypt_to, fsync=fsync)
        self.side = side_dir(self.root)
        self._lock = threading.Lock()

    def stage(
        self,
        database: str,
        name: str,
        raw_docs: Iterable[bytes],
        *,
        options: dict[str, Any],
        indexes: list[dict[str, Any]],
        uuid: bytes | str | uuidlib.UUID | None = None,
    ) -> Staged:
        """Write `raw_docs` as the collection's new files beside the dump, hashing them on the
        way (the entry's content hash tells whether anything changed)."""
        staged = self.side / "staged"
        private_dir(self.side)
        metadata = encode_metadata(name, options=options, indexes=indexes, uuid=uuid)
        entry = write_collection_files(staged, database, name, raw_docs, metadata, self.style)
        return Staged(entry, staged)

    def discard(self, staged: Staged) -> None:
        """The collection had not changed after all: its staged files go."""
        for digest in staged.entry.files:
            (staged.root / digest.path).unlink(missing_ok=True)

    def commit(self, staged: Staged) -> CollectionEntry:
        """Read the staged files back against their entry, then put them in place of the
        collection's files and record them in the manifest."""
        verify_collection(staged.root, staged.entry)
        entry = staged.entry
        with self._lock:
            self._mark(entry.name, pending=True)
            old = self.manifest.collection(entry.database, entry.name)
            for digest in old.files if old else []:
                self._set_aside(digest.path)
            for digest in entry.files:
                os.replace(staged.root / digest.path, self.root / digest.path)
            if self.style.fsync:
                fsync_dir(self.root / entry.database)
            self.manifest.collections = [
                c
                for c in self.manifest.collections
                if (c.database, c.name) != (entry.database, entry.name)
            ] + [entry]
            self.manifest.save(self.root)
            self._mark(entry.name, pending=False)
        return entry

    def settle(self, database: str, name: str) -> None:
        """The collection turned out unchanged: if an interrupted commit left it pending, its
        files must match the manifest again (read back) before the marker may go."""
        with self._lock:
            if name not in self._pending():
                return
            entry = self.manifest.collection(database, name)
            if entry is not None:
                verify_collection(self.root, entry)
            self._mark(name, pending=False)

    def _set_aside(self, relative: str) -> None:
        """The dump's file moves aside, unless an earlier catch-up kept the original already."""
        current, kept = self.root / relative, self.side / "superseded" / relative
        if not current.exists():
            return
        if kept.exists():
            current.unlink()
            return
        private_dir(kept.parent)
        os.replace(current, kept)

    # ------------------------------------------------------------ the INCOMPLETE marker

    def _pending(self) -> list[str]:
        marker = self.root / INCOMPLETE_NAME
        if not marker.exists():
            return []
        try:
            names = json.loads(marker.read_text() or "{}").get("catching_up", [])
        except ValueError:
            return []
        return [str(n) for n in names]

    def _mark(self, name: str, *, pending: bool) -> None:
        names = [n for n in self._pending() if n != name] + ([name] if pending else [])
        marker = self.root / INCOMPLETE_NAME
        if names:
            write_private(marker, json.dumps({"catching_up": sorted(names)}) + "\n")
        else:
            marker.unlink(missing_ok=True)
        if self.style.fsync:
            fsync_dir(self.root)


def documents_file(root: Path, entry: CollectionEntry) -> Path:
    """The file holding a collection's documents in the dump at `root`."""
    return Path(root) / next(f.path for f in entry.files if f.path.endswith(BSON_SUFFIXES))


def superseded_documents(root: Path, database: str, name: str) -> Path | None:
    """The original backup's documents of a collection a catch-up replaced (None: never replaced,
    or the side directory is gone)."""
    directory = side_dir(root) / "superseded" / database
    stem = collection_file_stem(name)
    for suffix in BSON_SUFFIXES:
        path = directory / f"{stem}{suffix}"
        if path.is_file():
            return path
    return None


def remove_side(root: Path) -> None:
    """Once what was caught up has been counted: the original files and any staging go."""
    shutil.rmtree(side_dir(root), ignore_errors=True)
