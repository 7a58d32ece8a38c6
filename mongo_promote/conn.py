"""Connections to a plan's servers (every command opens them here), capability detection, URI redaction."""

from __future__ import annotations

import re
import socket
import threading
import urllib.parse
from collections.abc import Iterable
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

_SCHEME = re.compile(r"(?i)mongodb(?:\+srv)?://")
# A URI inside free text runs to the next blank or quote (hosts are comma-separated, no blanks).
_URI_IN_TEXT = re.compile(r"(?i)mongodb(?:\+srv)?://[^\s\"'`<>]+")
_HOST_LIST = re.compile(r"[A-Za-z0-9._\-:\[\],%]+")
_SECRET_OPTIONS = ("password", "authMechanismProperties", "tlsCertificateKeyFilePassword")
_SECRET_OPTION = re.compile(r"(?i)((?:^|[?&;])(?:" + "|".join(_SECRET_OPTIONS) + r")=)[^&;]*")
_MIN_SECRET = 3  # shorter "secrets" are not scrubbed out of free text: they would shred it


@dataclass(frozen=True)
class _UriParts:
    """A URI cut where the driver cuts it: scheme, userinfo (as written), the rest."""

    scheme: str
    userinfo: str | None
    rest: str
    password: str | None  # decoded by the driver, or the raw text when the driver refused the URI


def _split_uri(uri: str) -> _UriParts | None:
    """Cut with pymongo's own parser; a URI it refuses (unescaped `@`, `/`) falls back to the last
    `@` followed by something shaped like a host list, so a password is hidden either way."""
    scheme_match = _SCHEME.match(uri)
    if not scheme_match:
        return None
    scheme, body = uri[: scheme_match.end()], uri[scheme_match.end() :]
    try:
        # Parse as mongodb:// so that an SRV name never triggers a DNS lookup.
        parsed = parse_uri("mongodb://" + body, validate=False, warn=True, normalize=False)
    except (InvalidURI, ConfigurationError, ValueError, TypeError):
        parsed = None
    host_part = body.partition("/")[0]
    if parsed is not None and body.rfind("@") == host_part.rfind("@"):
        # (an "@" further on means a password with an unescaped "/" or "?": the fallback below)
        if "@" not in host_part:
            return _UriParts(scheme, None, body, None)
        userinfo, _, hosts = host_part.rpartition("@")
        return _UriParts(scheme, userinfo, hosts + body[len(host_part) :], parsed.get("password"))
    for at in reversed([i for i, c in enumerate(body) if c == "@"]):
        after = re.split(r"[/?]", body[at + 1 :], maxsplit=1)[0]
        if after and _HOST_LIST.fullmatch(after):
            userinfo = body[:at]
            password = userinfo.partition(":")[2] if ":" in userinfo else None
            return _UriParts(scheme, userinfo, body[at + 1 :], password or None)
    if "@" in body:  # no host after any "@": hide everything up to the last one
        userinfo, _, rest = body.rpartition("@")
        return _UriParts(scheme, userinfo, rest, userinfo.partition(":")[2] or None)
    return _UriParts(scheme, None, body, None)


def redact_uri(uri: str) -> str:
    """Keep what helps debugging (scheme, user, hosts, database, options) and hide every secret:
    the password (escaped or not) and the options `password`, `authMechanismProperties`,
    `tlsCertificateKeyFilePassword`."""
    parts = _split_uri(uri)
    if parts is None:
        return _SECRET_OPTION.sub(r"\1***", uri)
    shown = parts.scheme
    if parts.userinfo is not None:
        user, colon, _ = parts.userinfo.partition(":")
        shown += f"{user}:***@" if colon else f"{user}@"
    rest = parts.rest
    if "?" in rest:
        head, _, query = rest.partition("?")
        rest = head + "?" + _SECRET_OPTION.sub(r"\1***", query)
    return shown + rest


def uri_secrets(uri: str) -> list[str]:
    """Every form in which this URI's secrets could show up in text: the password as written,
    decoded and re-escaped, and the values of the secret options."""
    parts = _split_uri(uri)
    if parts is None:
        return []
    found: set[str] = set()
    if parts.userinfo and ":" in parts.userinfo:
        written = parts.userinfo.partition(":")[2]
        found.add(written)
        found.add(urllib.parse.unquote(written))
    if parts.password:
        found |= {
            parts.password,
            urllib.parse.quote(parts.password, safe=""),
            urllib.parse.quote_plus(parts.password),
        }
    query = parts.rest.partition("?")[2]
    for m in _SECRET_OPTION.finditer(query):
        value = query[m.end(1) : m.end()]
        found |= {value, urllib.parse.unquote(value)}
    return sorted((s for s in found if len(s) >= _MIN_SECRET), key=len, reverse=True)


_KNOWN_SECRETS: set[str] = set()
_KNOWN_LOCK = threading.Lock()


def _forms(secret: str) -> set[str]:
    if len(secret) < _MIN_SECRET:
        return set()
    return {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)}


def remember_secrets(*values: str) -> None:
    """Secrets of this process (URI passwords, plan variables' values) that every later
    redact_text hides, whoever calls it: console, journal, report, exceptions, hook output."""
    with _KNOWN_LOCK:
        for value in values:
            if value:
                _KNOWN_SECRETS.update(_forms(value))


def redact_text(text: str, *uris: str, secrets: Iterable[str] = ()) -> str:
    """Scrub a message (from a driver, a hook, an exception): every URI in it is redacted, and
    the secrets of `uris`, the extra `secrets` and every remembered secret are hidden wherever
    they appear, as written or percent-encoded."""
    with _KNOWN_LOCK:
        hidden = set(_KNOWN_SECRETS)
    for uri in uris:
        if uri:
            text = text.replace(uri, redact_uri(uri))
            hidden.update(uri_secrets(uri))
    for secret in secrets:
        if secret:
            hidden |= _forms(secret)
    text = _URI_IN_TEXT.sub(lambda m: redact_uri(m.group(0)), text)
    for secret in sorted(hidden, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def redact_data(value: Any) -> Any:
    """`value` (dicts, lists, strings) with every string passed through redact_text."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: redact_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_data(v) for v in value]
    return value


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
