"""Connections to a plan's servers (every command opens them here), how long each waits for an
answer, capability detection, and a lost or silent server described in words."""

from __future__ import annotations

import re
import secrets
import socket
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from typing import Any
from urllib.parse import parse_qsl

import bson
import pymongo
from bson.codec_options import CodecOptions, DatetimeConversion
from bson.decimal128 import Decimal128
from bson.max_key import MaxKey
from bson.min_key import MinKey
from bson.raw_bson import RawBSONDocument
from pymongo import MongoClient, monitoring
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import (
    AutoReconnect,
    ConfigurationError,
    ConnectionFailure,
    InvalidURI,
    NetworkTimeout,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
)
from pymongo.uri_parser import parse_uri

from mongo_promote.checksum import ContentHash, collection_content_hash
from mongo_promote.console import human_duration
from mongo_promote.errors import ServerUnreachable, UsageError
from mongo_promote.redact import redact_text, redact_uri

DEFAULT_TIMEOUT_MS = 5000  # server selection and opening a connection
# Raw documents are sometimes looked into (a fold's match field): a date outside Python's range
# must then come back as DatetimeMS, not abort the run.
RAW = CodecOptions(
    document_class=RawBSONDocument, datetime_conversion=DatetimeConversion.DATETIME_AUTO
)

INDEX_KINDS = ("text", "2dsphere", "2d", "hashed")
COLLECTION_OPTIONS = ("validator", "capped", "collation")
_DUPLICATE_KEY = 11000
_TIME_LIMIT = 50  # MaxTimeMSExpired: a long operation's bound, as the server enforced it


@dataclass
class Capabilities:
    """What the server can do; steps choose a fallback when a feature is missing and say so.

    `probed` says where the flags come from: True, tried on scratch collections of the target
    (`probe_capabilities`, every command that writes); False, expected from buildInfo/hello
    alone (`detect_capabilities`, read-only commands and the dry-run). Steps decide on the
    flags only, never on `flavour`, which is shown to people.
    """

    version: str
    flavour: str  # "mongod" or "ferretdb": shown in messages, never decided on
    topology: str  # "standalone", "replicaset" or "sharded"
    rename_drop_target: bool
    full_bson: bool  # Decimal128, MinKey/MaxKey, nested arrays, NaN, -0.0, "." and "$" in keys
    collation: bool  # indexes keep a collation
    partial_indexes: bool
    sparse_indexes: bool = True
    ttl_indexes: bool = True
    hidden_indexes: bool = True
    index_kinds: list[str] = field(default_factory=lambda: list(INDEX_KINDS))
    create_keeps: list[str] = field(default_factory=lambda: list(COLLECTION_OPTIONS))
    coll_mod_validator: bool = True  # collMod sets a validator that is then enforced
    duplicate_key_details: bool = True  # a failing unique build names the index and the key
    duplicate_key_code: int | None = _DUPLICATE_KEY  # the code such a failure comes back with
    server: str = ""  # "MongoDB 7.0.12", "FerretDB v2.7.0", ...
    probed: bool = False
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lacks(self) -> list[str]:
        """What the fallbacks will be about, in words (the dry-run lists them as expected)."""
        missing = {
            "renameCollection dropTarget (cutover renames aside)": self.rename_drop_target,
            "every BSON type": self.full_bson,
            "index collation": self.collation,
            "partial indexes": self.partial_indexes,
            "sparse indexes": self.sparse_indexes,
            "TTL indexes": self.ttl_indexes,
            "hidden indexes": self.hidden_indexes,
            "collMod validators": self.coll_mod_validator,
            "duplicate-key details in index build errors": self.duplicate_key_details,
        }
        lacking = [what for what, has in missing.items() if not has]
        lacking += [f"{k} indexes" for k in INDEX_KINDS if k not in self.index_kinds]
        lacking += [f"create keeping {o}" for o in COLLECTION_OPTIONS if o not in self.create_keeps]
        return lacking


def _expected(flavour: str, major: int) -> dict[str, Any]:
    """What a server of this kind is known to do (TOOLS.md); only used when nothing may be written."""
    if flavour == "mongod":
        return {}
    if major >= 2:  # FerretDB v2 on PostgreSQL + DocumentDB
        return {
            "collation": False,
            "hidden_indexes": False,
            "create_keeps": [],
            "duplicate_key_details": False,
            "duplicate_key_code": 1,
        }
    return {  # FerretDB v1 (SQLite)
        "rename_drop_target": False,
        "full_bson": False,
        "collation": False,
        "partial_indexes": False,
        "sparse_indexes": False,
        "ttl_indexes": False,
        "hidden_indexes": False,
        "index_kinds": [],
        "create_keeps": ["capped"],
        "coll_mod_validator": False,
        "duplicate_key_details": False,
        "duplicate_key_code": 1,
    }


def detect_capabilities(client: MongoClient[Any]) -> Capabilities:
    """Read-only (buildInfo, hello): what the server is expected to do. Writes nothing."""
    build = client.admin.command("buildInfo")
    hello = client.admin.command("hello")
    ferret = build.get("ferretdb")
    flavour = "ferretdb" if ferret or "ferretdbFeatures" in build else "mongod"
    version = str(build.get("version", "unknown"))
    major = 1
    server = f"MongoDB {version}"
    if flavour == "ferretdb":
        ferret_version = str(ferret.get("version", "")) if isinstance(ferret, Mapping) else ""
        major = 2 if ferret_version.lstrip("v").startswith("2") else 1
        server = f"FerretDB {ferret_version or 'v1'} (reports {version})"
    topology = "standalone"
    if hello.get("msg") == "isdbgrid":
        topology = "sharded"
    elif hello.get("setName"):
        topology = "replicaset"
    return expected_capabilities(flavour, version, topology, major=major, server=server)


def expected_capabilities(
    flavour: str, version: str, topology: str = "standalone", *, major: int = 1, server: str = ""
) -> Capabilities:
    """What a server of this flavour (and FerretDB major version) is known to do, unprobed."""
    flags: dict[str, Any] = {
        "rename_drop_target": True,
        "full_bson": True,
        "collation": True,
        "partial_indexes": True,
        **_expected(flavour, major),
    }
    return Capabilities(version=version, flavour=flavour, topology=topology, server=server, **flags)


_PROBED: dict[tuple[Any, ...], Capabilities] = {}
_PROBED_LOCK = threading.Lock()


def probe_capabilities(client: MongoClient[Any], database: str) -> Capabilities:
    """What the server DOES, tried on scratch collections in `database` (the tool's own;
    always dropped again): renameCollection dropTarget, which options `create` keeps, collMod
    validators, which index options and kinds it keeps, how a duplicate key fails an index
    build, every BSON type byte for byte. Once per server per process."""
    expected = detect_capabilities(client)
    key = (tuple(sorted(client.nodes)), expected.server, expected.topology)
    with _PROBED_LOCK:
        if key not in _PROBED:
            _PROBED[key] = _probe(client, expected, database)
        return replace(_PROBED[key], notes=list(_PROBED[key].notes))


def _probe(client: MongoClient[Any], expected: Capabilities, database: str) -> Capabilities:
    scratch = _Scratch(client, database)
    try:
        found = scratch.run()
    except OperationFailure as exc:
        if exc.code not in _UNAUTHORIZED:
            raise
        note = (
            f"capabilities not probed (no write permission on the {database!r} database: "
            f"{_first_line(str(exc))}); expected from the server's version instead"
        )
        return replace(expected, notes=[*expected.notes, note])
    except PyMongoError as exc:
        cause = network_cause(exc)
        what = describe_network_failure(cause, [client]) if cause else _first_line(str(exc))
        raise ServerUnreachable(
            f"while probing the target's capabilities (production untouched): {what}"
        ) from None
    finally:
        scratch.clean()
    return replace(expected, probed=True, **found)


_UNAUTHORIZED = (13, 8000)  # Unauthorized; AtlasError (user lacks the privilege)


class _Scratch:
    """The probes themselves: each one a few commands on its own scratch collection."""

    def __init__(self, client: MongoClient[Any], database: str) -> None:
        self.client = client
        self.database = database
        network = bounds_of(client).network_s
        # each probe is a few documents: bounded apart, so one that a server (or a relay in
        # front of it) never answers ends in seconds, not at the network timeout
        self.bound = min(network or PROBE_TIMEOUT_S, PROBE_TIMEOUT_S)
        self.db = client.get_database(database)
        self.raw = client.get_database(database, codec_options=RAW)
        self.prefix = f"probe_{secrets.token_hex(4)}_"
        self.made: list[str] = []

    def name(self, what: str) -> str:
        self.made.append(self.prefix + what)
        return self.prefix + what

    def run(self) -> dict[str, Any]:
        # The first write shows whether we may write here at all (Unauthorized is raised).
        with pymongo.timeout(self.bound):
            self.db.create_collection(self.name("a"))
        with pymongo.timeout(self.bound):
            code, details = self.duplicate_key()
        return {
            "rename_drop_target": self.tried(self.drop_target),
            "full_bson": self.tried(self.full_bson, drops_connection=True),
            "collation": self.tried(lambda: self.index_kept("collation", {"locale": "fr"})),
            "partial_indexes": self.tried(
                lambda: self.index_kept("partialFilterExpression", {"x": {"$gt": 1}})
            ),
            "sparse_indexes": self.tried(lambda: self.index_kept("sparse", True)),
            "ttl_indexes": self.tried(lambda: self.index_kept("expireAfterSeconds", 3600)),
            "hidden_indexes": self.tried(lambda: self.index_kept("hidden", True)),
            "index_kinds": [k for k in INDEX_KINDS if self.tried(partial(self.kind, k))],
            "create_keeps": [o for o in COLLECTION_OPTIONS if self.tried(partial(self.keeps, o))],
            "coll_mod_validator": self.tried(self.coll_mod),
            "duplicate_key_code": code,
            "duplicate_key_details": details,
        }

    def tried(self, check: Callable[[], bool], *, drops_connection: bool = False) -> bool:
        """A refusal (OperationFailure) means no; a lost connection is raised, except where the
        probe itself is known to make a server hang up (FerretDB v1 on unknown BSON types; a
        relay in front of it may keep the connection open instead: the probe's bound ends that
        wait). Each probe has `self.bound`."""
        try:
            with pymongo.timeout(self.bound):
                return bool(check())
        except OperationFailure as exc:
            if exc.code in _UNAUTHORIZED:
                raise
            return False
        except AutoReconnect:
            if drops_connection:
                return False
            raise

    def drop_target(self) -> bool:
        a, b = self.name("rename_a"), self.name("rename_b")
        self.db[a].insert_one({"_id": 1, "side": "a"})
        self.db[b].insert_one({"_id": 1, "side": "b"})
        db = self.database
        self.client.admin.command("renameCollection", f"{db}.{a}", to=f"{db}.{b}", dropTarget=True)
        return self.db[b].find_one({"_id": 1}) == {"_id": 1, "side": "a"}

    def full_bson(self) -> bool:
        sent = RawBSONDocument(bson.encode(_FULL_BSON_SAMPLE))
        coll = self.raw[self.name("bson")]
        coll.insert_one(sent)
        back = coll.find_one({"_id": 1})
        return back is not None and bytes(back.raw) == bytes(sent.raw)

    def index_kept(self, option: str, value: Any) -> bool:
        coll = self.db[self.name(f"ix_{option}")]
        coll.create_index([("x", 1)], name="x_1", **{option: value})
        for ix in coll.list_indexes():
            if ix["name"] == "x_1":
                kept = ix.get(option)
                if isinstance(value, dict) and isinstance(kept, Mapping):
                    return all(kept.get(k) == v for k, v in value.items())
                return bool(kept == value)
        return False

    def kind(self, kind: str) -> bool:
        coll = self.db[self.name(f"kind_{kind}")]
        coll.create_index([("x", kind)], name="x_kind")
        return any(ix["name"] == "x_kind" for ix in coll.list_indexes())

    def keeps(self, option: str) -> bool:
        name = self.name(f"create_{option}")
        self.db.create_collection(name, **_CREATE_OPTIONS[option])
        return option in collection_options(self.db, name)

    def coll_mod(self) -> bool:
        name = self.name("collmod")
        self.db.create_collection(name)
        self.db.command("collMod", name, validator={"x": {"$exists": True}})
        if "validator" not in collection_options(self.db, name):
            return False
        try:
            self.db[name].insert_one({"y": 1})
        except OperationFailure:
            return True  # enforced
        return False

    def duplicate_key(self) -> tuple[int | None, bool]:
        """The code a unique build over duplicates fails with, and whether its message names
        the index and the repeated value."""
        coll = self.db[self.name("dup")]
        coll.insert_many([{"_id": 1, "k": "dup-probe-value"}, {"_id": 2, "k": "dup-probe-value"}])
        try:
            coll.create_index([("k", 1)], name="k_probe_unique", unique=True)
        except OperationFailure as exc:
            if exc.code in _UNAUTHORIZED:
                raise
            text = str(exc.details or exc)
            return exc.code, "k_probe_unique" in text and "dup-probe-value" in text
        return None, False  # built over duplicates: nothing to recognise

    def clean(self) -> None:
        """Every scratch collection goes, whatever happened (a probe that failed half-way too);
        a server that stopped answering is not waited for once per collection."""
        try:
            with pymongo.timeout(self.bound):
                present = self.db.list_collection_names(
                    filter={"name": {"$regex": f"^{self.prefix}"}}
                )
        except PyMongoError:
            present = self.made
        for name in sorted(set(present) | set(self.made)):
            try:
                with pymongo.timeout(self.bound):
                    self.db.drop_collection(name)
            except PyMongoError as exc:
                if network_cause(exc) is not None:
                    return  # the server is gone: the others cannot be dropped either


_CREATE_OPTIONS: dict[str, dict[str, Any]] = {
    "validator": {"validator": {"x": {"$exists": True}}},
    "capped": {"capped": True, "size": 4096},
    "collation": {"collation": {"locale": "fr"}},
}
_FULL_BSON_SAMPLE: dict[str, Any] = {
    "_id": 1,
    "d": Decimal128("1.10"),
    "lo": MinKey(),
    "hi": MaxKey(),
    "nan": float("nan"),
    "neg0": -0.0,
    "nested": [[1, 2], [3]],
    "sub": {"a.b": 1, "$c": 2},
}


def collection_options(db: Database[Any], name: str) -> dict[str, Any]:
    """The options listCollections shows for one collection: what the server kept."""
    for spec in db.list_collections(filter={"name": name}):
        return dict(spec.get("options", {}))
    return {}


def collection_uuids(db: Database[Any], names: list[str] | None = None) -> dict[str, str | None]:
    """Each collection of `db` (or of `names` that exist) with its `info.uuid` from one
    listCollections, as hex (None where the server gives none). A rename keeps the UUID; a
    collection dropped and created again, or another run's, has another one."""
    filter_ = {"name": {"$in": names}} if names is not None else {}
    found: dict[str, str | None] = {}
    for spec in db.list_collections(filter=filter_):
        if spec.get("type", "collection") != "collection":
            continue
        uuid = (spec.get("info") or {}).get("uuid")
        raw = getattr(uuid, "bytes", uuid)
        found[str(spec["name"])] = raw.hex() if isinstance(raw, bytes) and raw else None
    return found


NOT_CONNECTED = "not connected"  # Capabilities.flavour of a server a command never talks to


def not_connected() -> Capabilities:
    """The capabilities of a server left unconnected (a rollback reads nothing from the source)."""
    return Capabilities(
        version="",
        flavour=NOT_CONNECTED,
        topology="",
        rename_drop_target=False,
        full_bson=False,
        collation=False,
        partial_indexes=False,
        server=NOT_CONNECTED,
        notes=["not connected: this command reads nothing from it"],
    )


def unconnected(uri: str, *, role: str, bounds: Bounds | None = None) -> Client:
    """A client that has not connected (and will not, unless used): for a server the command
    does not need, so that it runs while that server is down."""
    try:
        return Client(
            uri,
            role=role,
            bounds=(bounds or Bounds()).for_uri(uri),
            connect=False,
            serverSelectionTimeoutMS=DEFAULT_TIMEOUT_MS,
        )
    except (InvalidURI, ConfigurationError) as exc:
        raise UsageError(
            f"{role} URI {redact_uri(uri)} is invalid: {redact_text(str(exc), uri)}"
        ) from None

# ---------------------------------------------------------------- how long a server is waited for

NETWORK_TIMEOUT_S = 120.0  # the default bound on one request's answer (--network-timeout)
# The bound of an operation that may rightly take longer (an index build, a counting scan, a
# sorted read): the network timeout plus the collection's data at a slow server's pace.
LONG_BYTES_PER_S = 1024 * 1024
LONG_S_PER_DOCUMENT = 0.001
PROBE_TIMEOUT_S = 30.0  # each capability probe: a few documents on a scratch collection
_URI_TIMEOUTS = ("sockettimeoutms", "timeoutms")


@dataclass(frozen=True)
class Bounds:
    """How long the tool waits for a server.

    `network_s` bounds every request's answer (pymongo's `socketTimeoutMS`: a connection that
    stays open and answers nothing ends there, while a long copy, one reply after another,
    is never cut). A URI's own `socketTimeoutMS` or `timeoutMS` is honoured instead (`origin`
    says which; 0 there means no bound, None here). Operations that may rightly take longer
    get `long_operation(size, documents)`: the plan's `long_operation_timeout` when it sets
    one, else derived from the collection's size. Server selection and connecting keep their
    own 5 s (`DEFAULT_TIMEOUT_MS`).
    """

    network_s: float | None = NETWORK_TIMEOUT_S
    long_s: float | None = None
    origin: str = "default"  # "default", "--network-timeout or the plan", "the URI's timeoutMS", ...

    def long_operation(self, size: int, documents: int) -> float:
        if self.long_s is not None:
            return self.long_s
        base = self.network_s or NETWORK_TIMEOUT_S
        return round(base + size / LONG_BYTES_PER_S + documents * LONG_S_PER_DOCUMENT, 1)

    @property
    def from_uri(self) -> bool:
        return self.origin.startswith("the URI")

    def describe(self) -> str:
        if self.network_s is None:
            return f"no bound ({self.origin} is 0)"
        return f"{human_duration(self.network_s)} ({self.origin})"

    def for_uri(self, uri: str) -> Bounds:
        """These bounds, or the URI's own timeout when it names one (honoured as given)."""
        query = uri.split("?", 1)[1] if "?" in uri else ""
        given = {k.lower(): v for k, v in parse_qsl(query)}
        for key in _URI_TIMEOUTS:
            if key in given:
                try:
                    ms = float(given[key])
                except ValueError:
                    return self  # the driver says what is wrong with it
                name = "socketTimeoutMS" if key == "sockettimeoutms" else "timeoutMS"
                return replace(self, network_s=ms / 1000 or None, origin=f"the URI's {name}")
        return self


def bounds_of(client: MongoClient[Any]) -> Bounds:
    """The bounds a client was opened with (`connect`); the defaults for any other client."""
    return client.bounds if isinstance(client, Client) else Bounds()


def long_operation(
    coll: Collection[Any], *, size: int | None = None, documents: int | None = None
) -> AbstractContextManager[None]:
    """The bound of one operation on `coll` that may rightly take longer than a request's answer
    (an index build, a counting scan, a sorted read's first reply, a lookup that scans): pymongo's
    client-side operation timeout for that block only, also sent to the server as maxTimeMS."""
    return pymongo.timeout(operation_bound(coll, size=size, documents=documents))


def operation_bound(
    coll: Collection[Any], *, size: int | None = None, documents: int | None = None
) -> float:
    """`Bounds.long_operation` of the client `coll` belongs to, for the collection's size and
    count (asked of the server, one collStats, when not given)."""
    if size is None or documents is None:
        stored, stored_size = collection_stats(coll.database, coll.name)
        size = stored_size if size is None else size
        documents = (stored or 0) if documents is None else documents
    return bounds_of(coll.database.client).long_operation(size, documents)


def collection_stats(db: Database[Any], name: str) -> tuple[int | None, int]:
    """The server's stored document count (None when it gives none) and uncompressed data size
    (0 when it can't tell), from one `collStats`: metadata, no scan of the data. A counting
    scan is what `count_documents` is, and on FerretDB v1 it reads every document: 21 s of a
    92 s run at scale 10 went to counting the two sides' collections that way."""
    try:
        stats = db.command("collStats", name)
    except OperationFailure:
        return None, 0
    count = stats.get("count")
    return (int(count) if isinstance(count, int | float) else None), int(stats.get("size", 0))


# FerretDB v2.7 advertises maxWriteBatchSize 100,000 but refuses an insert of more than 25,000
# documents ("Write batch sizes must be between 1 and 25000"): a batch of small documents sized
# by bytes alone can hold more (a restore's 8 MB of 22-byte documents: 29,493 seen at scale 100).
MAX_BATCH_DOCS = 10_000


def raw_batches(
    docs: Iterable[RawBSONDocument], batch_bytes: int
) -> Iterator[tuple[list[RawBSONDocument], int]]:
    """Documents grouped until their raw size reaches `batch_bytes` or MAX_BATCH_DOCS of them
    (and the batch's bytes): few round trips, bounded memory, no insert a server refuses."""
    batch: list[RawBSONDocument] = []
    size = 0
    for doc in docs:
        batch.append(doc)
        size += len(doc.raw)
        if size >= batch_bytes or len(batch) >= MAX_BATCH_DOCS:
            yield batch, size
            batch, size = [], 0
    if batch:
        yield batch, size


REPLY_BYTES = 1024 * 1024  # what a streaming read asks the server for per reply (steps/copy.py)


def docs_per_reply(size: int, count: int | None, reply_bytes: int = REPLY_BYTES) -> int:
    """A cursor's batch_size for replies of about `reply_bytes` (a collection of `size` bytes in
    `count` documents): memory bounded by bytes, not by a count of documents of any size (the
    server's own cap is 16 MB a reply, per cursor, and several cursors read at once)."""
    average = size // count if count else 0
    if average <= 0:
        return 1_000
    return max(101, min(100_000, reply_bytes // average))


def reply_batch(coll: Collection[Any], reply_bytes: int = REPLY_BYTES) -> int:
    """`docs_per_reply` for `coll`, from its collStats (one round trip, no scan)."""
    count, size = collection_stats(coll.database, coll.name)
    return docs_per_reply(size, count, reply_bytes)


def content_hash(coll: Collection[Any], *, each: Callable[[bytes], None] | None = None) -> ContentHash:
    """`collection_content_hash` read in replies of about REPLY_BYTES (`reply_batch`): what the
    steps hash is bounded in memory by bytes, whatever its documents' size (a count of 10,000
    documents was up to the server's 16 MB a reply, per reader, with four readers at once)."""
    return collection_content_hash(coll, batch_size=reply_batch(coll), each=each)


def first_reply_bounded(
    cursor: Iterable[Any], coll: Collection[Any], **sizes: int
) -> Iterator[Any]:
    """A sorted cursor's documents, its first reply under `long_operation` (the server sorts
    everything before it answers: FerretDB v1 in memory), the rest under the network timeout."""
    it = iter(cursor)
    with long_operation(coll, **sizes):
        first = next(it, _NOTHING)
    if first is _NOTHING:
        return
    yield first
    yield from it


_NOTHING = object()


class Asked(monitoring.CommandListener):
    """What a client asked each server and got no answer to: names the operation a lost or
    silent connection interrupted (pymongo's command monitoring, a few dict operations each)."""

    def __init__(self) -> None:
        self._asked: dict[tuple[Any, int], tuple[str, str]] = {}
        # the latest requests that got no answer at all (a server's refusals are not kept):
        # command, namespace, seconds waited, address
        self.failures: deque[tuple[str, str, float, Any]] = deque(maxlen=16)

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        target = event.command.get(event.command_name)
        namespace = event.database_name
        if isinstance(target, str):  # a collection, or a whole namespace (renameCollection)
            namespace = target if event.database_name == "admin" else f"{namespace}.{target}"
        self._asked[(event.connection_id, event.request_id)] = (event.command_name, namespace)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self._asked.pop((event.connection_id, event.request_id), None)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        command, namespace = self._asked.pop(
            (event.connection_id, event.request_id), (event.command_name, event.database_name)
        )
        # no answer (a refusal carries the server's code), or the server's own time limit (50)
        if (event.failure or {}).get("code", _TIME_LIMIT) == _TIME_LIMIT:
            self.failures.append(
                (command, namespace, event.duration_micros / 1e6, event.connection_id)
            )

    def last_failed(self, address: tuple[str, int] | None) -> tuple[str, str, float] | None:
        for command, namespace, seconds, where in reversed(self.failures):
            if address is None or tuple(where) == tuple(address):
                return command, namespace, seconds
        return None


class Client(MongoClient[Any]):
    """A connection to one of the plan's servers (`connect`): its role, its URI redacted, its
    bounds, and what it asked that got no answer (`Asked`)."""

    def __init__(self, uri: str, *, role: str, bounds: Bounds, **options: Any) -> None:
        self.role = role
        self.shown = redact_uri(uri)
        self.bounds = bounds
        self.asked = Asked()
        super().__init__(uri, event_listeners=[self.asked], **options)


def connect(
    uri: str,
    *,
    role: str,
    timeout_ms: int = DEFAULT_TIMEOUT_MS,
    bounds: Bounds | None = None,
) -> Client:
    """A client that has proven it can talk to the server, or ServerUnreachable (exit 3) in seconds.

    Every request it sends waits at most `bounds.network_s` for its answer (the URI's own
    socketTimeoutMS or timeoutMS, when it gives one, instead)."""
    if refused := _refused_everywhere(uri):
        raise ServerUnreachable(f"cannot reach the {role} server {redact_uri(uri)}: {refused}")
    bounds = (bounds or Bounds()).for_uri(uri)
    own: dict[str, Any] = {}
    if not bounds.from_uri:
        own["socketTimeoutMS"] = int(bounds.network_s * 1000) if bounds.network_s else 0
    try:
        client = Client(
            uri,
            role=role,
            bounds=bounds,
            serverSelectionTimeoutMS=timeout_ms,
            connectTimeoutMS=timeout_ms,
            appname="mongo-promote",
            **own,
        )
        client.admin.command("ping")
    except OperationFailure as exc:
        client.close()
        raise ServerUnreachable(
            f"{role} server {redact_uri(uri)} refused: {redact_text(server_error(exc), uri)}"
        ) from None
    except (InvalidURI, ConfigurationError) as exc:
        raise UsageError(
            f"{role} URI {redact_uri(uri)} is invalid: {redact_text(str(exc), uri)}"
        ) from None
    except PyMongoError as exc:
        client.close()
        raise ServerUnreachable(
            f"cannot reach the {role} server {redact_uri(uri)} within {timeout_ms / 1000:g}s: "
            f"{redact_text(_first_line(str(exc)), uri)}"
        ) from None
    return client


# ---------------------------------------------------------------- a lost or silent server, in words


def network_cause(exc: BaseException) -> PyMongoError | None:
    """The pymongo error behind `exc` when it is a lost connection or a timeout (a request
    unanswered within its bound, on the client or as the server's maxTimeMS), else None."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return None
        if isinstance(seen, PyMongoError):
            return seen if isinstance(seen, ConnectionFailure) or seen.timeout else None
        seen = seen.__cause__ or seen.__context__
    return None


# what pymongo says of a request it gave up because its monitor found the server silent
_GIVEN_UP = ("pool paused", "interrupted", "operation cancelled")
_ADDRESS = re.compile(r"^\[?([\w.\-:]+?)\]?:(\d+): ")


def describe_network_failure(cause: PyMongoError, clients: Iterable[MongoClient[Any]]) -> str:
    """Which server (URI redacted), what it was asked, how long it was waited for and the bound:
    one line for the operator. `clients`: the command's own (`connect`), to tell which side."""
    mine = [c for c in clients if isinstance(c, Client)]
    address = _address(cause)
    client = next((c for c in mine if address in _addresses(c)), None)
    if client is None:
        client = next((c for c in mine if c.asked.failures), mine[0] if mine else None)
    server = f"the {client.role} server {client.shown}" if client else "a server"
    bound = client.bounds.describe() if client else "?"
    asked = client.asked.last_failed(address) if client else None
    what = f"`{asked[0]}` on {asked[1]}" if asked else "a request"
    waited = human_duration(asked[2]) if asked else None
    after = f" after {waited}" if waited else ""
    text = str(cause)
    if isinstance(cause, ServerSelectionTimeoutError):
        return f"cannot reach {server}: no answer within {DEFAULT_TIMEOUT_MS / 1000:g}s"
    if isinstance(cause, NetworkTimeout):
        return f"{server} did not answer {what}: waited {waited or 'its bound'} (network timeout {bound})"
    if cause.timeout:  # a long operation's own bound, also the server's maxTimeMS
        return f"{server} did not finish {what} within its bound{after}"
    if any(word in text.lower() for word in _GIVEN_UP):
        return (
            f"{server} stopped answering: {what} was given up{after} (the driver's heartbeat to "
            f"it timed out; network timeout {bound})"
        )
    return (
        f"lost the connection to {server} during {what}{after} "
        f"({type(cause).__name__}: {_first_line(redact_text(text))})"
    )


def _address(cause: PyMongoError) -> tuple[str, int] | None:
    found = _ADDRESS.match(str(cause))
    return (found.group(1), int(found.group(2))) if found else None


def _addresses(client: MongoClient[Any]) -> set[Any]:
    return set(client.topology_description.server_descriptions())


def _refused_everywhere(uri: str) -> str | None:
    """Every host of a plain URI refuses the TCP connection outright: a final answer, so there is
    no point waiting out the driver's server selection. Anything else (a timeout, a name that does
    not resolve, `mongodb+srv://`, a socket path) is left to the driver and its timeout."""
    if uri.startswith("mongodb+srv://"):
        return None
    try:
        nodes = parse_uri(uri, validate=False, warn=True)["nodelist"]
    except (InvalidURI, ConfigurationError, ValueError):
        return None  # the driver says what is wrong with it
    refused = []
    for host, port in nodes:
        try:
            with socket.create_connection((host, port), timeout=1):
                return None
        except ConnectionRefusedError:
            refused.append(f"{host}:{port}")
        except OSError:
            return None
    return f"connection refused by {', '.join(refused)}" if refused else None


def server_error(exc: BaseException) -> str:
    """A server's refusal as one line: its message and code name (`Authentication failed.
    (AuthenticationFailed)`), never the driver's `full error: {...}` dict."""
    if isinstance(exc, OperationFailure):
        details = exc.details or {}
        message = str(details.get("errmsg") or exc).split(", full error:")[0]
        name = details.get("codeName") or (f"code {exc.code}" if exc.code is not None else "")
        return " ".join(message.split()) + (f" ({name})" if name else "")
    return " ".join(_first_line(str(exc)).split())


def _first_line(text: str) -> str:
    return text.split(", Timeout:")[0].split(" (configured timeouts")[0].split("\n")[0]


def refuse_sharded(caps: Capabilities, role: str) -> None:
    if caps.topology == "sharded":
        raise UsageError(
            f"the {role} is a sharded cluster (mongos); this version of mongo-promote does not "
            "promote sharded collections yet"
        )
