"""Connections to a plan's servers (every command opens them here), capability detection, URI redaction."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo import MongoClient
from pymongo.errors import ConfigurationError, InvalidURI, OperationFailure, PyMongoError
from pymongo.uri_parser import parse_uri

from mongo_promote.errors import ServerUnreachable, UsageError

DEFAULT_TIMEOUT_MS = 5000
RAW = CodecOptions(document_class=RawBSONDocument)

# userinfo of a mongodb URI: everything between the scheme and the last "@" before the host list.
_USERINFO = re.compile(r"(mongodb(?:\+srv)?://)([^@/]*)@")
_PASSWORD_PARAMS = re.compile(
    r"(?i)((?:password|authMechanismProperties|tlsCertificateKeyFilePassword)=)[^&]*"
)


def redact_uri(uri: str) -> str:
    """Keep what helps debugging (user, hosts, database) and hide the password."""

    def hide(m: re.Match[str]) -> str:
        user = m.group(2).split(":", 1)[0]
        return f"{m.group(1)}{user}:***@" if ":" in m.group(2) else m.group(0)

    return _PASSWORD_PARAMS.sub(r"\1***", _USERINFO.sub(hide, uri))


def redact_text(text: str, *uris: str) -> str:
    """Scrub any of these URIs, and any password they carry, out of a message from a driver."""
    for uri in uris:
        if not uri:
            continue
        text = text.replace(uri, redact_uri(uri))
        password = _password_of(uri)
        if password:
            text = text.replace(password, "***")
    return _USERINFO.sub(lambda m: redact_uri(m.group(0)), text)


def _password_of(uri: str) -> str | None:
    m = _USERINFO.match(uri)
    if m and ":" in m.group(2):
        return m.group(2).split(":", 1)[1] or None
    return None


def same_server(uri_a: str, uri_b: str) -> bool:
    """Two URIs reach the same deployment when their host lists overlap (after normalising names)."""
    return bool(_hosts(uri_a) & _hosts(uri_b))


def _hosts(uri: str) -> set[str]:
    try:
        nodes = parse_uri(uri, validate=False, warn=True, connect_timeout=1)["nodelist"]
    except (InvalidURI, ConfigurationError, ValueError):
        return {uri}
    return {f"{_canonical_host(h)}:{p}" for h, p in nodes}


def _canonical_host(host: str) -> str:
    host = host.lower()
    return "127.0.0.1" if host in ("localhost", "::1", "[::1]") else host


@dataclass
class Capabilities:
    """What the server can do; steps choose a fallback when a feature is missing and say so."""

    version: str
    flavour: str  # "mongod" or "ferretdb"
    topology: str  # "standalone", "replicaset" or "sharded"
    rename_drop_target: bool
    full_bson: bool  # Decimal128, MinKey/MaxKey, nested arrays, NaN, "." and "$" in keys
    collation: bool
    partial_indexes: bool
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def detect_capabilities(client: MongoClient[Any]) -> Capabilities:
    build = client.admin.command("buildInfo")
    hello = client.admin.command("hello")
    ferret = "ferretdb" in build or "ferretdbFeatures" in build
    topology = "standalone"
    if hello.get("msg") == "isdbgrid":
        topology = "sharded"
    elif hello.get("setName"):
        topology = "replicaset"
    caps = Capabilities(
        version=str(build.get("version", "unknown")),
        flavour="ferretdb" if ferret else "mongod",
        topology=topology,
        rename_drop_target=not ferret,
        full_bson=not ferret,
        collation=not ferret,
        partial_indexes=not ferret,
    )
    if ferret:
        caps.notes.append(
            "FerretDB: renameCollection without dropTarget (cutover renames the live "
            "collection aside first), no collation, partial, sparse or TTL indexes"
        )
    return caps


def connect(uri: str, *, role: str, timeout_ms: int = DEFAULT_TIMEOUT_MS) -> MongoClient[Any]:
    """A client that has proven it can talk to the server, or ServerUnreachable (exit 3) in seconds."""
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


def _first_line(text: str) -> str:
    return text.split(", Timeout:")[0].split(" (configured timeouts")[0].split("\n")[0]


def refuse_sharded(caps: Capabilities, role: str) -> None:
    if caps.topology == "sharded":
        raise UsageError(
            f"the {role} is a sharded cluster (mongos); this version of mongo-promote does not "
            "promote sharded collections yet"
        )
