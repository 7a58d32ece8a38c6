"""The plain-copy case: generic documents this project never tuned for, copied with no transform.

Five collections of varied shapes and sizes (nested documents, arrays of values and of
documents, strings short and long, integers, 64-bit integers, doubles, booleans, nulls, dates,
ObjectIds, binary; `_id`s of three types), with secondary indexes on staging. Production holds
an older generation of the same collections (half as many documents, other values). Promoted
with `bench/plain-plan.yaml`: every collection copied as it is, checksums and the drift guard
on, so `mongo-promote run` and the Database Tools do the same copy.

Deterministic (one seed), streaming (batches of about 1 MB), and only what FerretDB v1 stores:
no Decimal128, no array directly inside an array, no `.`/`$` in keys, no NUL, no NaN.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import bson
from bson import Binary, Int64, ObjectId
from pymongo import ASCENDING, DESCENDING
from pymongo.database import Database

PLAN = Path(__file__).resolve().parent / "plain-plan.yaml"
DB, PRISTINE = "bench_plain", "bench_pristine_plain"
BATCH_BYTES, BATCH_DOCS = 1 << 20, 10_000  # FerretDB v2.7 refuses inserts of > 25,000 documents
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
Doc = dict[str, Any]

WORDS = (
    "alpha beta gamma delta river stone cloud north paper signal orange window garden copper "
    "silent market vector harbor little eastern quartz ledger meadow engine violet summit "
    "lantern cobalt rapid border timber anchor velvet crystal planet hollow ember canyon "
    "müller café niño straße 東京 данные"
).split()
KINDS = ("login", "logout", "view", "click", "search", "upload", "share", "error", "purchase")
COUNTRIES = ("FR", "DE", "ES", "IT", "JP", "BR", "US", "CA", "NG", "IN", "SE", "PL")


def _oid(tag: int, i: int) -> ObjectId:
    """Unique per (tag, i), time-ordered like a driver's: 4-byte time, 5-byte tag, 3-byte counter."""
    return ObjectId(
        struct.pack(">IBI", 1_704_067_200 + i // 64, tag, i >> 24)
        + (i & 0xFFFFFF).to_bytes(3, "big")
    )


def _text(r: random.Random, words: int) -> str:
    return " ".join(r.choice(WORDS) for _ in range(words))


def _when(r: random.Random, days: int = 700) -> datetime:
    return EPOCH + timedelta(seconds=r.randrange(days * 86_400), milliseconds=r.randrange(1000))


def _event(r: random.Random, i: int) -> Doc:
    """Small (about 150 B): an application event; some carry tags or a nested `meta`."""
    doc: Doc = {
        "_id": _oid(1, i),
        "at": _when(r),
        "kind": r.choice(KINDS),
        "actor": _oid(3, r.randrange(1 << 20)),
        "seq": i,
        "ok": r.random() > 0.05,
    }
    if r.random() < 0.4:
        doc["tags"] = [r.choice(WORDS) for _ in range(r.randrange(1, 5))]
    if r.random() < 0.3:
        doc["meta"] = {
            "ip": f"10.{r.randrange(256)}.{r.randrange(256)}.{r.randrange(256)}",
            "agent": _text(r, 3),
            "ms": r.randrange(2000),
        }
    return doc


def _reading(r: random.Random, i: int) -> Doc:
    """Tiny (about 80 B): a sensor reading with a 64-bit integer `_id`."""
    return {
        "_id": Int64(10_000_000_000 + i),
        "sensor": r.randrange(500),
        "t": _when(r, 30),
        "v": round(r.gauss(20, 8), 3),
        "q": r.randrange(4),
    }


def _account(r: random.Random, i: int) -> Doc:
    """Medium (about 600 B): nested address with a GeoJSON point, roles, preferences, history."""
    first, last = r.choice(WORDS).title(), r.choice(WORDS).title()
    doc: Doc = {
        "_id": _oid(3, i),
        "email": f"user{i}@example.org",
        "name": {"first": first, "last": last, "display": f"{first} {last[0]}."},
        "address": {
            "street": f"{r.randrange(1, 300)} {_text(r, 2)} street",
            "city": r.choice(WORDS).title(),
            "zip": f"{r.randrange(100_000):05d}",
            "country": r.choice(COUNTRIES),
            "geo": {"type": "Point", "coordinates": [r.uniform(-180, 180), r.uniform(-85, 85)]},
        },
        "created": _when(r),
        "roles": r.sample(("reader", "writer", "admin", "billing", "support"), r.randrange(1, 4)),
        "prefs": {
            "mail": r.random() < 0.5,
            "sms": r.random() < 0.2,
            "lang": r.choice(COUNTRIES).lower(),
            "theme": r.choice(("dark", "light", None)),
        },
        "score": r.random() * 100,
        "balance": Int64(r.randrange(-(10**6), 10**12)),
        "history": [
            {"at": _when(r), "what": r.choice(KINDS), "n": r.randrange(100)}
            for _ in range(r.randrange(6))
        ],
    }
    if r.random() < 0.25:
        doc["bio"] = _text(r, r.randrange(10, 60))
    if r.random() < 0.1:
        doc["deleted_at"] = None
    return doc


def _order(r: random.Random, i: int) -> Doc:
    """From 300 B to 3 KB: a string `_id`, 1 to 15 line items, each with nested options."""
    items: list[dict[str, Any]] = [
        {
            "sku": f"SKU-{r.randrange(50_000):06d}",
            "qty": r.randrange(1, 9),
            "price": round(r.uniform(0.5, 900), 2),
            "options": {"color": r.choice(WORDS), "size": r.choice(("S", "M", "L", "XL"))},
        }
        for _ in range(r.randrange(1, 16))
    ]
    doc: Doc = {
        "_id": f"ORD-{i:09d}",
        "account": _oid(3, r.randrange(1 << 20)),
        "placed": _when(r),
        "status": r.choice(("new", "paid", "shipped", "delivered", "cancelled")),
        "items": items,
        "total": round(sum(x["qty"] * x["price"] for x in items), 2),
        "shipping": {
            "method": r.choice(("post", "courier", "pickup")),
            "eta_days": r.randrange(1, 20),
            "tracking": f"{r.getrandbits(48):012x}",
        },
    }
    if r.random() < 0.2:
        doc["notes"] = _text(r, r.randrange(5, 40))
    return doc


def _article(r: random.Random, i: int) -> Doc:
    """Large (1 to 8 KB): long text in sections, references, a small binary digest."""
    sections = [
        {
            "heading": _text(r, 4),
            "text": _text(r, r.randrange(30, 220)),
            "refs": [_oid(5, r.randrange(1 << 20)) for _ in range(r.randrange(4))],
        }
        for _ in range(r.randrange(1, 6))
    ]
    return {
        "_id": _oid(5, i),
        "title": _text(r, r.randrange(3, 10)),
        "authors": [_oid(3, r.randrange(1 << 20)) for _ in range(r.randrange(1, 4))],
        "published": _when(r) if r.random() < 0.8 else None,
        "revision": r.randrange(1, 40),
        "sections": sections,
        "digest": Binary(r.randbytes(32)),
        "attachments": [
            {"name": f"{r.choice(WORDS)}.pdf", "bytes": r.randrange(10**7)}
            for _ in range(r.randrange(3))
        ],
    }


# collection -> (share of the documents, generator, secondary indexes on it)
COLLECTIONS: dict[str, tuple[float, Callable[[random.Random, int], Doc], list[Any]]] = {
    "events": (0.45, _event, [([("kind", ASCENDING), ("at", DESCENDING)], {})]),
    "readings": (0.20, _reading, [([("sensor", ASCENDING), ("t", ASCENDING)], {})]),
    "accounts": (0.15, _account, [([("email", ASCENDING)], {"unique": True})]),
    "orders": (0.15, _order, [([("account", ASCENDING), ("placed", DESCENDING)], {})]),
    "articles": (0.05, _article, [([("published", DESCENDING)], {})]),
}


def counts(docs: int) -> dict[str, int]:
    """Documents per collection for `docs` in total (the last one takes the rounding)."""
    names = list(COLLECTIONS)
    out = {n: int(docs * COLLECTIONS[n][0]) for n in names[:-1]}
    out[names[-1]] = docs - sum(out.values())
    return out


def _stream(name: str, n: int, seed: int) -> Iterator[bytes]:
    r = random.Random(f"{seed}:{name}")
    make = COLLECTIONS[name][1]
    for i in range(n):
        yield bson.encode(make(r, i))


def _fill(db: Database[Any], name: str, n: int, seed: int) -> None:
    from bson.raw_bson import RawBSONDocument

    db.drop_collection(name)
    batch: list[RawBSONDocument] = []
    size = 0
    for raw in _stream(name, n, seed):
        batch.append(RawBSONDocument(raw))
        size += len(raw)
        if size >= BATCH_BYTES or len(batch) >= BATCH_DOCS:
            db[name].insert_many(batch, ordered=False)
            batch, size = [], 0
    if batch:
        db[name].insert_many(batch, ordered=False)
    for keys, options in COLLECTIONS[name][2]:
        db[name].create_index(keys, **options)


def generate(
    source: Database[Any], production: Database[Any], docs: int, seed: int = 42
) -> dict[str, Any]:
    """Staging gets `docs` documents in total; production an older half with other values."""
    staging, older = counts(docs), counts(docs // 2)
    for name in COLLECTIONS:
        _fill(source, name, staging[name], seed)
        _fill(production, name, older[name], seed + 1)
    return {"source": staging, "target": older}


def secondary_indexes() -> dict[str, list[dict[str, Any]]]:
    """The staging collections' secondary indexes as the harness passes them to mongosh."""
    return {
        name: [
            {"keys": dict(keys), "name": "_".join(f"{k}_{d}" for k, d in keys), **options}
            for keys, options in spec[2]
        ]
        for name, spec in COLLECTIONS.items()
    }
