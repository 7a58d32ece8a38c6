"""Backups on disk: mongodump's directory layout with our verified manifest (DESIGN.md §6), mongodump
archives, age encryption.

Layout, as `mongodump [--gzip] --out DIR` writes it and `mongorestore [--gzip] --dir DIR` reads it
(mongo-tools: mongodump/prepare.go, mongodump/metadata_dump.go, mongorestore/filepath.go):

    DIR/<db>/<escaped coll>.bson[.gz]           concatenated raw BSON documents
    DIR/<db>/<escaped coll>.metadata.json[.gz]  options, indexes, uuid, collectionName, type
    DIR/manifest.json                           ours: sizes, sha256, counts and content hashes

Modules: `names` (file names, metadata), `manifest`, `streams` (atomic private writes, hashed
reads, BSON framing), `writer`, `reader`, `verify`, `update` (a freeze's catch-up replacing
collections of a finished dump), `errors`; `archive` (mongodump --archive files) and `encryption`
(age). What the rest of the package uses is importable from here.
"""

from mongo_promote.adapters.dump.errors import (
    DumpDiskFull,
    DumpEncrypted,
    DumpExists,
    DumpFormatError,
    DumpIncomplete,
    DumpVerificationError,
    ManifestMissing,
)
from mongo_promote.adapters.dump.manifest import (
    INCOMPLETE_NAME,
    MANIFEST_NAME,
    CollectionEntry,
    FileDigest,
    Manifest,
)
from mongo_promote.adapters.dump.names import (
    collection_file_stem,
    decode_metadata,
    encode_metadata,
)
from mongo_promote.adapters.dump.reader import DumpCollection, iter_dump_collections
from mongo_promote.adapters.dump.streams import iter_file_documents
from mongo_promote.adapters.dump.update import (
    DumpUpdate,
    Staged,
    documents_file,
    remove_side,
    side_dir,
    superseded_documents,
)
from mongo_promote.adapters.dump.verify import verify_collection, verify_dump
from mongo_promote.adapters.dump.writer import DumpWriter

__all__ = [
    "INCOMPLETE_NAME",
    "MANIFEST_NAME",
    "CollectionEntry",
    "DumpCollection",
    "DumpDiskFull",
    "DumpEncrypted",
    "DumpExists",
    "DumpFormatError",
    "DumpIncomplete",
    "DumpUpdate",
    "DumpVerificationError",
    "DumpWriter",
    "FileDigest",
    "Manifest",
    "ManifestMissing",
    "Staged",
    "collection_file_stem",
    "decode_metadata",
    "documents_file",
    "encode_metadata",
    "iter_dump_collections",
    "iter_file_documents",
    "remove_side",
    "side_dir",
    "superseded_documents",
    "verify_collection",
    "verify_dump",
]
