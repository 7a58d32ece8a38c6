"""Shared fixtures: real servers over TCP for the whole session (the engine MONGO_PROMOTE_TEST_ENGINE names),
what those servers can do (probed, never guessed from their name), and fresh databases for each test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from typing import Any

import bson
import pytest
from bson.codec_options import CodecOptions
from bson.decimal128 import Decimal128
from bson.max_key import MaxKey
from bson.min_key import MinKey
from bson.raw_bson import RawBSONDocument
from pymongo import MongoClient
from pymongo.database import Database
from pymongo.errors import PyMongoError

from mongo_promote.adapters.mongo import Capabilities, probe_capabilities
from mongo_promote.adapters.servers import DEFAULT_ENGINE, ENGINES, temporary_pair
from mongo_promote.domain.names import TOOL_DATABASE
from mongo_promote.errors import PromoteError

ENGINE_VARIABLE = "MONGO_PROMOTE_TEST_ENGINE"


def engine_under_test() -> str:
    """The engine the session's servers run: MONGO_PROMOTE_TEST_ENGINE, default FerretDB v1."""
    engine = os.environ.get(ENGINE_VARIABLE, DEFAULT_ENGINE)
    if engine not in ENGINES:
        raise pytest.UsageError(f"{ENGINE_VARIABLE}={engine!r}: choose one of {', '.join(ENGINES)}")
    return engine


def pytest_report_header(config: pytest.Config) -> str:
    external = os.environ.get("MONGO_PROMOTE_TEST_SOURCE_URI")
    return f"mongo-promote test engine: {'servers named by MONGO_PROMOTE_TEST_*_URI' if external else engine_under_test()}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """With MONGO_PROMOTE_FORBID_SKIPS=1 (CI) a skipped test is a failed one: nothing passes by not running."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.skipped and os.environ.get("MONGO_PROMOTE_FORBID_SKIPS") == "1":
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = (
            f"skipped, and skips are forbidden here (MONGO_PROMOTE_FORBID_SKIPS=1): {reason}"
        )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "capability(name): exercises a server capability (see Probed); the test asserts the capable "
        "behaviour where the server has it and the fallback where it does not, so it never skips",
    )


# ---------------------------------------------------------------- what the server does (probed)


@dataclass(frozen=True)
class Probed:
    """Server behaviours the tests branch on, each found by trying it on scratch collections."""

    drop_target: bool  # renameCollection with dropTarget: true (the atomic cutover)
    full_bson: bool  # Decimal128, MinKey/MaxKey, NaN, -0.0, nested arrays, "." and "$" in keys, kept byte for byte
    index_ns_option: bool  # createIndexes accepts the legacy `ns` option that mongorestore adds
    partial_indexes: bool  # partialFilterExpression kept in listIndexes
    sparse_indexes: bool
    ttl_indexes: bool
    create_keeps_validator: bool  # create(validator=...) is stored (v2 accepts and drops it)
    create_keeps_capped: bool
    create_keeps_collation: bool
    coll_mod_validator: bool  # collMod sets a validator that is listed and enforced
    accepts_any_credentials: (
        bool  # a server without auth lets any user/password in (FerretDB v1 with PLAIN)
    )

    def has(self, name: str) -> bool:
        if name not in {f.name for f in fields(self)}:
            raise AssertionError(f"no probed capability {name!r}")
        return bool(getattr(self, name))


def _tried(action: Any) -> bool:
    try:
        return bool(action())
    except PyMongoError:
        return False


def probe(client: MongoClient[Any]) -> Probed:
    """Try each behaviour in a scratch database of `client`, which is dropped afterwards."""
    db = client[f"probe_{uuid.uuid4().hex[:10]}"]
    raw = db.with_options(codec_options=CodecOptions(document_class=RawBSONDocument))
    try:

        def drop_target() -> bool:
            db.a.insert_one({"_id": 1, "side": "a"})
            db.b.insert_one({"_id": 1, "side": "b"})
            client.admin.command(
                "renameCollection", f"{db.name}.a", to=f"{db.name}.b", dropTarget=True
            )
            return db.b.find_one({"_id": 1}) == {"_id": 1, "side": "a"}

        def full_bson() -> bool:
            doc = {
                "_id": 1,
                "d": Decimal128("1.10"),
                "lo": MinKey(),
                "hi": MaxKey(),
                "nan": float("nan"),
                "neg0": -0.0,
                "nested": [[1, 2], [3]],
                "sub": {"a.b": 1, "$c": 2},
            }
            sent = RawBSONDocument(bson.encode(doc))
            raw.full.insert_one(sent)
            back = raw.full.find_one({"_id": 1})
            return back is not None and bytes(back.raw) == bytes(sent.raw)

        def index_ns_option() -> bool:
            db.command(
                "createIndexes",
                "ns",
                indexes=[{"key": {"x": 1}, "name": "x_1", "ns": f"{db.name}.ns"}],
            )
            return True

        def index_kept(option: str, value: Any) -> bool:
            coll = db[f"ix_{option}"]
            coll.create_index([("x", 1)], name="x_1", **{option: value})
            return any(ix.get(option) == value for ix in coll.list_indexes())

        def create_keeps(option: str, **options: Any) -> bool:
            db.create_collection(f"c_{option}", **options)
            listed = next(db.list_collections(filter={"name": f"c_{option}"}))
            return option in listed.get("options", {})

        def coll_mod_validator() -> bool:
            db.create_collection("collmod")
            db.command("collMod", "collmod", validator={"x": {"$exists": True}})
            try:
                db.collmod.insert_one({"y": 1})
            except PyMongoError:
                return (
                    "validator" in next(db.list_collections(filter={"name": "collmod"}))["options"]
                )
            return False

        return Probed(
            drop_target=_tried(drop_target),
            full_bson=_tried(full_bson),
            index_ns_option=_tried(index_ns_option),
            partial_indexes=_tried(
                lambda: index_kept("partialFilterExpression", {"x": {"$gt": 1}})
            ),
            sparse_indexes=_tried(lambda: index_kept("sparse", True)),
            ttl_indexes=_tried(lambda: index_kept("expireAfterSeconds", 3600)),
            create_keeps_validator=_tried(
                lambda: create_keeps("validator", validator={"x": {"$exists": True}})
            ),
            create_keeps_capped=_tried(lambda: create_keeps("capped", capped=True, size=1 << 16)),
            create_keeps_collation=_tried(
                lambda: create_keeps("collation", collation={"locale": "fr"})
            ),
            coll_mod_validator=_tried(coll_mod_validator),
            accepts_any_credentials=_tried(lambda: _accepts_any_credentials(client)),
        )
    finally:
        client.drop_database(db.name)


def _accepts_any_credentials(client: MongoClient[Any]) -> bool:
    host, port = client.address or ("127.0.0.1", 0)
    uri = f"mongodb://probe:not-a-password@{host}:{port}/?authMechanism=PLAIN"
    other: MongoClient[Any] = MongoClient(uri, serverSelectionTimeoutMS=5000)
    try:
        return bool(other.admin.command("ping").get("ok"))
    finally:
        other.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A capability marker must name a probed behaviour (a typo would silently test nothing)."""
    known = {f.name for f in fields(Probed)}
    for item in items:
        for mark in item.iter_markers("capability"):
            unknown = set(mark.args) - known
            if unknown:
                raise pytest.UsageError(f"{item.nodeid}: unknown capability {sorted(unknown)}")


# ---------------------------------------------------------------- servers


@dataclass
class Servers:
    source_uri: str
    target_uri: str
    source: MongoClient[Any]
    target: MongoClient[Any]
    caps: Capabilities  # what the tool itself probes (conn.probe_capabilities), as a run does
    engine: str = "external"
    probed: Probed | None = None  # what the target server was seen to do

    def has(self, capability: str) -> bool:
        assert self.probed is not None
        return self.probed.has(capability)


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    """Two real servers: the ones named by MONGO_PROMOTE_TEST_*_URI, else a local pair on the test engine.

    A pair we start is stopped and its directories removed when the session ends, however it ends.
    An engine that is not installed fails the tests that need servers, saying how to install it.
    """
    src = os.environ.get("MONGO_PROMOTE_TEST_SOURCE_URI")
    tgt = os.environ.get("MONGO_PROMOTE_TEST_TARGET_URI")
    if src and tgt:
        pair = _connect(src, tgt, "external")
        try:
            yield pair
        finally:
            pair.source.close()
            pair.target.close()
        return
    engine = engine_under_test()
    try:
        started = temporary_pair(tmp_path_factory.mktemp("servers"), engine=engine)
        staging, production = started.__enter__()
    except PromoteError as exc:
        pytest.fail(
            f"cannot start the {engine} test servers ({ENGINE_VARIABLE}={engine}): {exc}",
            pytrace=False,
        )
    try:
        pair = _connect(staging.uri, production.uri, engine)
        try:
            yield pair
        finally:
            pair.source.close()
            pair.target.close()
    finally:
        started.__exit__(None, None, None)


@pytest.fixture(scope="session")
def credential_servers(
    servers: Servers, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Servers]:
    """Servers that let a URI carry a user and password (the secrets tests need one in the URI):
    the session's pair when it accepts any credentials, else a FerretDB v1 pair started for them
    (an engine with real authentication refuses an unknown user; redaction is what is tested)."""
    if servers.has("accepts_any_credentials"):
        yield servers
        return
    try:
        started = temporary_pair(tmp_path_factory.mktemp("credential-servers"), engine="ferretdb")
        staging, production = started.__enter__()
    except PromoteError as exc:
        pytest.fail(f"cannot start FerretDB v1 for the credentials tests: {exc}", pytrace=False)
    try:
        pair = _connect(staging.uri, production.uri, "ferretdb")
        assert pair.has("accepts_any_credentials"), "FerretDB v1 refused a user it never had"
        try:
            yield pair
        finally:
            pair.source.close()
            pair.target.close()
    finally:
        started.__exit__(None, None, None)


# The tests' own clients wait at most this long for any answer: a server that stops answering
# fails the test that met it, with its traceback, instead of hanging the session (issue 18).
TEST_SOCKET_TIMEOUT_MS = 120_000


def bounded_client(uri: str) -> MongoClient[Any]:
    """A client for a test's own reads and writes, every request bounded."""
    return MongoClient(
        uri, serverSelectionTimeoutMS=10_000, socketTimeoutMS=TEST_SOCKET_TIMEOUT_MS
    )


def _connect(src: str, tgt: str, engine: str) -> Servers:
    source, target = bounded_client(src), bounded_client(tgt)
    return Servers(src, tgt, source, target, probe_capabilities(target, TOOL_DATABASE), engine, probe(target))


_PROBED: dict[str, Any] = {}


@pytest.fixture(scope="session")
def probed(servers: Servers) -> Probed:
    """What the target server does; capability tests branch on it instead of on the engine's name."""
    assert servers.probed is not None
    _PROBED.update(engine=servers.engine, **asdict(servers.probed))
    return servers.probed


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _PROBED:
        shown = ", ".join(f"{k}={v}" for k, v in _PROBED.items())
        terminalreporter.write_line(f"server capabilities probed: {shown}")


@dataclass
class Databases:
    """A test's own pair of databases (same name on both servers, like Meeshy's `meeshy`)."""

    name: str
    source: Database[Any]
    target: Database[Any]
    servers: Servers


@pytest.fixture
def dbs(servers: Servers, probed: Probed) -> Iterator[Databases]:
    name = f"t_{uuid.uuid4().hex[:10]}"
    pair = Databases(name, servers.source[name], servers.target[name], servers)
    try:
        yield pair
    finally:
        servers.source.drop_database(name)
        servers.target.drop_database(name)
        servers.target.drop_database(f"{name}_promote")
