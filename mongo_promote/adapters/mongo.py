"""Connections to a plan's servers (every command opens them here), capability detection, URI redaction."""

from __future__ import annotations

import secrets
import socket
import threading
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from typing import Any

import bson
from bson.codec_options import CodecOptions, DatetimeConversion
from bson.decimal128 import Decimal128
from bson.max_key import MaxKey
from bson.min_key import MinKey
from bson.raw_bson import RawBSONDocument
from pymongo import MongoClient
from pymongo.database import Database
from pymongo.errors import (
    AutoReconnect,
    ConfigurationError,
    InvalidURI,
    OperationFailure,
    PyMongoError,
)
from pymongo.uri_parser import parse_uri

from mongo_promote.errors import ServerUnreachable, UsageError
from mongo_promote.redact import redact_text, redact_uri

DEFAULT_TIMEOUT_MS = 5000
# Raw documents are sometimes looked into (a fold's match field): a date outside Python's range
# must then come back as DatetimeMS, not abort the run.
RAW = CodecOptions(
    document_class=RawBSONDocument, datetime_conversion=DatetimeConversion.DATETIME_AUTO
)

INDEX_KINDS = ("text", "2dsphere", "2d", "hashed")
COLLECTION_OPTIONS = ("validator", "capped", "collation")
_DUPLICATE_KEY = 11000


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
        raise ServerUnreachable(
            f"lost the target server while probing its capabilities: {_first_line(str(exc))}"
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
        self.db = client.get_database(database)
        self.raw = client.get_database(database, codec_options=RAW)
        self.prefix = f"probe_{secrets.token_hex(4)}_"
        self.made: list[str] = []

    def name(self, what: str) -> str:
        self.made.append(self.prefix + what)
        return self.prefix + what

    def run(self) -> dict[str, Any]:
        # The first write shows whether we may write here at all (Unauthorized is raised).
        self.db.create_collection(self.name("a"))
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

    @staticmethod
    def tried(check: Callable[[], bool], *, drops_connection: bool = False) -> bool:
        """A refusal (OperationFailure) means no; a lost connection is raised, except where the
        probe itself is known to make a server hang up (FerretDB v1 on unknown BSON types)."""
        try:
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
        """Every scratch collection goes, whatever happened (a probe that failed half-way too)."""
        try:
            present = self.db.list_collection_names(filter={"name": {"$regex": f"^{self.prefix}"}})
        except PyMongoError:
            present = self.made
        for name in set(present) | set(self.made):
            with suppress(PyMongoError):
                self.db.drop_collection(name)


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


def unconnected(uri: str, *, role: str) -> MongoClient[Any]:
    """A client that has not connected (and will not, unless used): for a server the command
    does not need, so that it runs while that server is down."""
    try:
        return MongoClient(uri, connect=False, serverSelectionTimeoutMS=DEFAULT_TIMEOUT_MS)
    except (InvalidURI, ConfigurationError) as exc:
        raise UsageError(
            f"{role} URI {redact_uri(uri)} is invalid: {redact_text(str(exc), uri)}"
        ) from None


def connect(uri: str, *, role: str, timeout_ms: int = DEFAULT_TIMEOUT_MS) -> MongoClient[Any]:
    """A client that has proven it can talk to the server, or ServerUnreachable (exit 3) in seconds."""
    if refused := _refused_everywhere(uri):
        raise ServerUnreachable(f"cannot reach the {role} server {redact_uri(uri)}: {refused}")
    try:
        client: MongoClient[Any] = MongoClient(
            uri,
            serverSelectionTimeoutMS=timeout_ms,
            connectTimeoutMS=timeout_ms,
            socketTimeoutMS=max(timeout_ms * 60, 300_000),
            appname="mongo-promote",
        )
        client.admin.command("ping")
    except OperationFailure as exc:
        client.close()
        raise ServerUnreachable(
            f"{role} server {redact_uri(uri)} refused: {redact_text(str(exc), uri)}"
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


def _first_line(text: str) -> str:
    return text.split(", Timeout:")[0].split(" (configured timeouts")[0].split("\n")[0]


def refuse_sharded(caps: Capabilities, role: str) -> None:
    if caps.topology == "sharded":
        raise UsageError(
            f"the {role} is a sharded cluster (mongos); this version of mongo-promote does not "
            "promote sharded collections yet"
        )
