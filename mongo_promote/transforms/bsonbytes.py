"""BSON helpers shared by the transforms: the codec, server ordering, dotted paths, byte editing."""

from __future__ import annotations

import calendar
import datetime as dt
import struct
from collections.abc import Iterator, Mapping
from typing import Any

import bson
from bson.codec_options import CodecOptions, DatetimeConversion
from bson.datetime_ms import DatetimeMS
from bson.decimal128 import Decimal128
from bson.errors import InvalidDocument
from bson.objectid import ObjectId
from bson.timestamp import Timestamp

from mongo_promote.errors import OperationFailed

# How documents a transform reads are decoded: aware UTC datetimes (so `$now` compares with stored
# values) and out-of-range dates kept as DatetimeMS instead of failing the run. The fold, the
# rewrite and the validator all decode with it, so they compare like with like.
CODEC: CodecOptions[dict[str, Any]] = CodecOptions(
    tz_aware=True, datetime_conversion=DatetimeConversion.DATETIME_AUTO
)

# Reports show a few examples, never an unbounded list.
SAMPLE_LIMIT = 20


# ---------------------------------------------------------------- values


def bson_time(moment: dt.datetime) -> dt.datetime:
    """A datetime exactly as it reads back from BSON (aware UTC, millisecond precision)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    moment = moment.astimezone(dt.UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def bson_key(value: Any) -> tuple[int, Any]:
    """A hashable key that orders values like MongoDB does across types (null < numbers < strings
    < objects < arrays < binary < ObjectId < bool < dates < timestamps < regex).

    Grouping and tie-breaking both use it, so 1 and 1.0 are one parent (as on the server) while
    True and 1 are not.
    """
    if value is None:
        return (1, 0)
    if isinstance(value, bool):
        return (8, value)
    if isinstance(value, int | float):
        return (2, value)
    if isinstance(value, Decimal128):
        return (2, value.to_decimal())
    if isinstance(value, str):
        return (3, value)
    if isinstance(value, ObjectId):
        return (7, value.binary)
    if isinstance(value, dt.datetime):
        return (9, _millis(value))
    if isinstance(value, DatetimeMS):
        return (9, int(value))
    if isinstance(value, Timestamp):
        return (10, (value.time, value.inc))
    rank = 4 if isinstance(value, Mapping) else 5 if isinstance(value, list) else 6
    try:
        return (rank, bson.encode({"v": value}))
    except (TypeError, ValueError, InvalidDocument):
        return (rank, repr(value).encode())


def before(key: tuple[int, Any], other: tuple[int, Any]) -> bool:
    """`key < other` for two `bson_key`s; False when Python cannot compare them (trust the server)."""
    try:
        return bool(key < other)
    except TypeError:
        return False


def _millis(moment: dt.datetime) -> int:
    """Naive datetimes are UTC, as BSON encodes them."""
    return calendar.timegm(moment.utctimetuple()) * 1000 + moment.microsecond // 1000


def get_path(doc: Mapping[str, Any], path: str) -> tuple[bool, Any]:
    """(found, value) of a dotted path: through sub-documents by name, into arrays by index only.

    Works on decoded documents and on RawBSONDocument alike (each step decodes one field).
    """
    node: Any = doc
    for part in path.split("."):
        if isinstance(node, Mapping):
            if part not in node:
                return False, None
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False, None
    return True, node


# ---------------------------------------------------------------- byte editing

_FIXED_SIZE = {0x01: 8, 0x06: 0, 0x07: 12, 0x08: 1, 0x09: 8, 0x0A: 0, 0x10: 4, 0x11: 8, 0x12: 8}
_FIXED_SIZE.update({0x13: 16, 0x7F: 0, 0xFF: 0})
_EMBEDDED_DOC, _NULL = 0x03, 0x0A


def with_map(data: bytes, field: str, values: Mapping[str, Any]) -> tuple[bytes, str]:
    """Set `field.<key>` for each key in a BSON document's bytes, as `$set` would.

    Returns the new bytes and what happened: "added" (no such field), "merged" (into an existing
    sub-document, its other entries byte for byte), "null" (a null replaced by the map), or
    "non_map" (any other value: bytes returned unchanged).
    """
    for name, kind, _start, end, value_start in bson_elements(data):
        if name != field:
            continue
        if kind == _EMBEDDED_DOC:
            inner = set_elements(data[value_start:end], _encoded(values))
            return set_elements(data, {field: bytes([kind]) + _cstring(field) + inner}), "merged"
        if kind == _NULL:
            return set_elements(data, _encoded({field: dict(values)})), "null"
        return data, "non_map"
    return set_elements(data, _encoded({field: dict(values)})), "added"


def element(data: bytes, field: str) -> tuple[bool, Any]:
    """(found, decoded value) of one top-level field of a BSON document; the rest stays bytes."""
    for name, _kind, start, end, _ in bson_elements(data):
        if name == field:
            return True, bson.decode(_document(data[start:end]), codec_options=CODEC)[field]
    return False, None


def bson_elements(data: bytes) -> Iterator[tuple[str, int, int, int, int]]:
    """(name, type, element start, element end, value start) of each top-level element."""
    pos, last = 4, len(data) - 1
    while pos < last:
        kind = data[pos]
        name_end = data.index(b"\x00", pos + 1)
        value_start = name_end + 1
        end = _value_end(data, value_start, kind)
        yield data[pos + 1 : name_end].decode("utf-8"), kind, pos, end, value_start
        pos = end


def _value_end(data: bytes, pos: int, kind: int) -> int:
    if kind in _FIXED_SIZE:
        return pos + _FIXED_SIZE[kind]
    if kind in (0x02, 0x0D, 0x0E):  # string, code, symbol: int32 length + bytes
        return pos + 4 + _int32(data, pos)
    if kind in (0x03, 0x04, 0x0F):  # document, array, code with scope: int32 total length
        return pos + _int32(data, pos)
    if kind == 0x05:  # binary: int32 length + subtype + bytes
        return pos + 5 + _int32(data, pos)
    if kind == 0x0B:  # regex: two C strings
        return data.index(b"\x00", data.index(b"\x00", pos) + 1) + 1
    if kind == 0x0C:  # DBPointer: string + 12-byte id
        return pos + 4 + _int32(data, pos) + 12
    raise OperationFailed(f"unknown BSON type 0x{kind:02x} in a document being transformed")


def set_elements(data: bytes, elements: Mapping[str, bytes]) -> bytes:
    """Replace the named elements where they stand and append the others, in the given order."""
    pending = dict(elements)
    parts: list[bytes] = []
    copied = 4
    for name, _, start, end, _ in bson_elements(data):
        if name in pending:
            parts += [data[copied:start], pending.pop(name)]
            copied = end
    parts += [data[copied:-1], *pending.values()]
    return _document(b"".join(parts))


def _encoded(values: Mapping[str, Any]) -> dict[str, bytes]:
    """Each entry as its own BSON element bytes."""
    return {
        name: bson.encode({name: value}, codec_options=CODEC)[4:-1]
        for name, value in values.items()
    }


def _document(elements: bytes) -> bytes:
    return struct.pack("<i", len(elements) + 5) + elements + b"\x00"


def _cstring(text: str) -> bytes:
    return text.encode("utf-8") + b"\x00"


def _int32(data: bytes, pos: int) -> int:
    return int(struct.unpack_from("<i", data, pos)[0])


# ---------------------------------------------------------------- reporting


def jsonable(value: Any) -> Any:
    """Plain JSON types: ids and dates become strings, containers are walked."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return str(value)
