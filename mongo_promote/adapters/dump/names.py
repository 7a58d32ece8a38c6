"""Names and metadata as mongodump writes them: escaped file names (long ones shortened) and .metadata.json.

File names escape the collection name like Go's url.PathEscape; names longer than 238 escaped
bytes are cut to 208 bytes + "%24" + base64url(sha1(name)), and the real name is then read from the
metadata's collectionName. Metadata is canonical Extended JSON, as mongodump marshals it
(bson.MarshalExtJSON(meta, canonical=true, escapeHTML=false)).
"""

from __future__ import annotations

import base64
import hashlib
import urllib.parse
import uuid as uuidlib
from pathlib import Path
from typing import Any

from bson import json_util
from bson.binary import UuidRepresentation
from bson.json_util import JSONMode, JSONOptions

from mongo_promote.adapters.dump.errors import DumpFormatError

LONG_STEM = 238  # mongodump: longest escaped name before truncation
_TRUNCATED_PREFIX = 208
_PATH_SAFE = "$&+:=@"  # what Go's url.PathEscape leaves alone besides [A-Za-z0-9-_.~]

# Write canonical like mongodump; accept uuid.UUID as well as Binary subtype 4 when encoding.
_DUMP_JSON = JSONOptions(
    json_mode=JSONMode.CANONICAL, uuid_representation=UuidRepresentation.STANDARD
)
# Decode UUIDs to Binary: pymongo's default codec (UNSPECIFIED) can send those back to a server.
_LOAD_JSON = JSONOptions(json_mode=JSONMode.CANONICAL)


def collection_file_stem(name: str) -> str:
    """File name (without extension) mongodump gives a collection: escaped, long names shortened."""
    if name in ("", ".", "..") or "\x00" in name:
        raise ValueError(f"collection name {name!r} cannot be dumped")
    escaped = urllib.parse.quote(name, safe=_PATH_SAFE)
    if len(escaped) <= LONG_STEM:
        return escaped
    digest = hashlib.sha1(name.encode()).digest()  # mongodump's naming, not security
    return (
        escaped[:_TRUNCATED_PREFIX] + "%24" + base64.urlsafe_b64encode(digest).decode().rstrip("=")
    )


def check_database_name(database: str) -> None:
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
