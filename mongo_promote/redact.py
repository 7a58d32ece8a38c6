"""Redaction, the one place: URIs (mongodb:// and http(s)://) and every known secret out of text."""

from __future__ import annotations

import re
import threading
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

_HTTP_USERINFO = re.compile(r"(?i)(https?://)([^@/\s]+)@")
_HTTP_SCHEME = re.compile(r"(?i)https?://")
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
    from pymongo.errors import ConfigurationError, InvalidURI  # the driver: only with a URI to cut
    from pymongo.uri_parser import parse_uri

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
    """Scrub a message (from a driver, a hook, an exception, an HTTP client): every URI in it is
    redacted (mongodb:// and http(s):// userinfo), and the secrets of `uris` (mongodb:// URIs,
    or http(s) URLs: their password and query values), the extra `secrets` and every remembered
    secret are hidden wherever they appear, as written or percent-encoded."""
    with _KNOWN_LOCK:
        hidden = set(_KNOWN_SECRETS)
    for uri in uris:
        if not uri:
            continue
        if _HTTP_SCHEME.match(uri):
            text = text.replace(uri, redact_url(uri))
            hidden.update(_secrets_of(uri))
        else:
            text = text.replace(uri, redact_uri(uri))
            hidden.update(uri_secrets(uri))
    for secret in secrets:
        if secret:
            hidden |= _forms(secret)
    text = _URI_IN_TEXT.sub(lambda m: redact_uri(m.group(0)), text)
    text = _HTTP_USERINFO.sub(lambda m: redact_url(m.group(0)).removesuffix("/"), text)
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
    from pymongo.errors import ConfigurationError, InvalidURI
    from pymongo.uri_parser import parse_uri

    try:
        nodes = parse_uri(uri, validate=False, warn=True, connect_timeout=1)["nodelist"]
    except (InvalidURI, ConfigurationError, ValueError):
        return {uri}
    return {f"{_canonical_host(h)}:{p}" for h, p in nodes}


def _canonical_host(host: str) -> str:
    host = host.lower()
    return "127.0.0.1" if host in ("localhost", "::1", "[::1]") else host


# ---------------------------------------------------------------- http(s) URLs


def redact_url(url: str) -> str:
    """An http(s) URL fit to print: the password (or a lone token user) and query values hidden.

    `redact_uri` knows mongodb:// URIs only; this is its counterpart for the health URLs.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return _HTTP_USERINFO.sub(r"\1***@", url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user, has_password, _ = userinfo.partition(":")
        netloc = f"{user}:***@{host}" if has_password else f"***@{host}"
    query = "&".join(
        f"{quote(name, safe='')}=***" for name, _ in parse_qsl(parts.query, keep_blank_values=True)
    )
    fragment = "***" if parts.fragment else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, fragment))


def _secrets_of(url: str) -> list[str]:
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    found: list[str] = []
    if "@" in parts.netloc:
        userinfo = parts.netloc.rsplit("@", 1)[0]
        user, _, password = userinfo.partition(":")
        found += [password] if password else [user]
    found += [v for _, v in parse_qsl(parts.query) if len(v) >= 4]
    if len(parts.fragment) >= 4:
        found.append(parts.fragment)
    return sorted(found, key=len, reverse=True)
