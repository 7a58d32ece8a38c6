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
    kind = type(value)
    if kind is ObjectId:  # the usual id, first: this runs for every child and every parent
        return (7, value.binary)
    if kind is str:
        return (3, value)
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
    if type(doc) is dict and "." not in path:  # the usual case, once per child field: fast
        return (True, doc[path]) if path in doc else (False, None)
    node: Any = doc
    for part in path.split("."):
        if isinstance(node, dict | Mapping):
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
_INT32 = struct.Struct("<i").unpack_from


Location = tuple[int, int, int, int]  # (type, element start, element end, value start)
_UNSET: Any = object()


def locate(data: bytes, field: str) -> Location | None:
    """Where the top-level element `field` stands in a BSON document's bytes (None: absent).

    Names are compared as bytes where they stand (nothing decoded, nothing copied): this walk
    runs for every document a fold touches."""
    key = field.encode("utf-8") + b"\x00"
    if key not in data:  # its name's bytes occur nowhere: certainly absent, no walk
        return None
    pos, last = 4, len(data) - 1
    while pos < last:
        kind = data[pos]
        if data.startswith(key, pos + 1):
            value_start = pos + 1 + len(key)
            return kind, pos, _value_end(data, value_start, kind), value_start
        pos = _value_end(data, data.index(b"\x00", pos + 1) + 1, kind)
    return None


def with_map(
    data: bytes, field: str, values: Mapping[str, Any], *, at: Location | None = _UNSET
) -> tuple[bytes, str]:
    """Set `field.<key>` for each key in a BSON document's bytes, as `$set` would.

    Returns the new bytes and what happened: "added" (no such field), "merged" (into an existing
    sub-document, its other entries byte for byte), "null" (a null replaced by the map), or
    "non_map" (any other value: bytes returned unchanged). `at` is `locate(data, field)` when
    the caller has it already.
    """
    found = locate(data, field) if at is _UNSET else at
    if found is None:
        end = len(data) - 1
        return _splice(data, end, end, _encoded({field: dict(values)})[field]), "added"
    kind, start, end, value_start = found
    if kind == _EMBEDDED_DOC:
        inner = set_elements(data[value_start:end], _encoded(values))
        return _splice(data, start, end, bytes([kind]) + _cstring(field) + inner), "merged"
    if kind == _NULL:
        return _splice(data, start, end, _encoded({field: dict(values)})[field]), "null"
    return data, "non_map"


def _splice(data: bytes, start: int, end: int, element_bytes: bytes) -> bytes:
    """The document with bytes [start, end) replaced by one element's bytes."""
    return _document(data[4:start] + element_bytes + data[end:-1])


def element(data: bytes, field: str, *, at: Location | None = _UNSET) -> tuple[bool, Any]:
    """(found, decoded value) of one top-level field of a BSON document; the rest stays bytes."""
    found = locate(data, field) if at is _UNSET else at
    if found is None:
        return False, None
    _, start, end, _ = found
    return True, bson.decode(_document(data[start:end]), codec_options=CODEC)[field]


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
    if kind == 0x02 or kind == 0x0D or kind == 0x0E:  # string, code, symbol: int32 length + bytes
        return pos + 4 + _INT32(data, pos)[0]
    size = _FIXED_SIZE.get(kind)
    if size is not None:
        return pos + size
    if kind == 0x03 or kind == 0x04 or kind == 0x0F:  # document, array, code w/ scope: int32 total
        return pos + _INT32(data, pos)[0]
    if kind == 0x05:  # binary: int32 length + subtype + bytes
        return pos + 5 + _INT32(data, pos)[0]
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
