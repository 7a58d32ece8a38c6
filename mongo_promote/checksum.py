"""Order-independent content hashes of collections, computed over raw BSON bytes."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument

if TYPE_CHECKING:
    from pymongo.collection import Collection

RawBSON = bytes  # one encoded BSON document, exactly as the server sent it
_MODULUS = 1 << 256
_RAW_CODEC = CodecOptions(document_class=RawBSONDocument)


class ContentHash:
    """Multiset hash of a collection: the sum of per-document sha256 digests mod 2**256.

    Addition is commutative, so two collections holding the same documents hash alike
    whatever order a scan returns them in. The count is kept beside the sum so that the text
    form states it plainly.
    This detects accidental differences (lost, duplicated or altered documents); it is not
    meant to resist someone crafting collisions on purpose.
    """

    __slots__ = ("_sum", "bytes", "count")

    def __init__(self) -> None:
        self._sum = 0
        self.count = 0
        self.bytes = 0

    def add(self, raw: RawBSON) -> None:
        """Add one document's exact bytes (never decoded, so any type or key order counts)."""
        digest = hashlib.sha256(raw).digest()
        self._sum = (self._sum + int.from_bytes(digest, "big")) % _MODULUS
        self.count += 1
        self.bytes += len(raw)

    def update_many(self, raws: Iterable[RawBSON]) -> None:
        """Add many documents; a tight loop because this runs once per document copied."""
        sha256, from_bytes = hashlib.sha256, int.from_bytes
        total, count, size = self._sum, 0, 0
        for raw in raws:
            total += from_bytes(sha256(raw).digest(), "big")
            count += 1
            size += len(raw)
        self._sum = total % _MODULUS
        self.count += count
        self.bytes += size

    def hexdigest(self) -> str:
        """Stable text form `<count>:<64 hex>`, what manifests and reports store and compare."""
        return f"{self.count}:{self._sum:064x}"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ContentHash):
            return NotImplemented
        return (self._sum, self.count, self.bytes) == (other._sum, other.count, other.bytes)

    def __hash__(self) -> int:
        return hash((self._sum, self.count, self.bytes))

    def __repr__(self) -> str:
        return f"ContentHash({self.hexdigest()}, bytes={self.bytes})"


def hashed_count(hexdigest: str) -> int:
    """The document count a `ContentHash.hexdigest()` text states."""
    return int(hexdigest.split(":", 1)[0])


def collection_content_hash(
    coll: Collection,
    *,
    batch_size: int = 10_000,
    each: Callable[[RawBSON], None] | None = None,
) -> ContentHash:
    """Hash every document of `coll` as raw BSON, streaming, without decoding any of them.

    `each`, when given, sees every document's bytes on the same pass (a second check that
    needs no second read). Replies are capped at 16 MB by the server whatever `batch_size`
    asks. The collection's read preference and read concern are kept, so a caller can point
    this at a secondary to spare the primary.
    """
    raw_coll = coll.with_options(codec_options=_RAW_CODEC)
    result = ContentHash()
    with raw_coll.find({}, batch_size=batch_size) as cursor:
        raws = (bytes(doc.raw) for doc in cursor)
        result.update_many(raws if each is None else _seen(raws, each))
    return result


def _seen(raws: Iterable[RawBSON], each: Callable[[RawBSON], None]) -> Iterable[RawBSON]:
    for raw in raws:
        each(raw)
        yield raw
