"""Shared fixtures: real servers over TCP for the whole session, and fresh databases for each test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.database import Database

from mongo_promote.conn import Capabilities, detect_capabilities
from mongo_promote.servers import temporary_pair


@dataclass
class Servers:
    source_uri: str
    target_uri: str
    source: MongoClient[Any]
    target: MongoClient[Any]
    caps: Capabilities


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    """Two real servers: the ones named by MONGO_PROMOTE_TEST_*_URI, else a local pair we start."""
    src = os.environ.get("MONGO_PROMOTE_TEST_SOURCE_URI")
    tgt = os.environ.get("MONGO_PROMOTE_TEST_TARGET_URI")
    if src and tgt:
        yield _connect(src, tgt)
        return
    with temporary_pair(tmp_path_factory.mktemp("servers")) as (staging, production):
        pair = _connect(staging.uri, production.uri)
        try:
            yield pair
        finally:
            pair.source.close()
            pair.target.close()


def _connect(src: str, tgt: str) -> Servers:
    source: MongoClient[Any] = MongoClient(src, serverSelectionTimeoutMS=10_000)
    target: MongoClient[Any] = MongoClient(tgt, serverSelectionTimeoutMS=10_000)
    return Servers(src, tgt, source, target, detect_capabilities(target))


@dataclass
class Databases:
    """A test's own pair of databases (same name on both servers, like Meeshy's `meeshy`)."""

    name: str
    source: Database[Any]
    target: Database[Any]
    servers: Servers


@pytest.fixture
def dbs(servers: Servers) -> Iterator[Databases]:
    name = f"t_{uuid.uuid4().hex[:10]}"
    pair = Databases(name, servers.source[name], servers.target[name], servers)
    try:
        yield pair
    finally:
        servers.source.drop_database(name)
        servers.target.drop_database(name)
        servers.target.drop_database(f"{name}_promote")
