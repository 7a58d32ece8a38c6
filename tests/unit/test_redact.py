"""URI redaction and server identity: pure functions, no server."""

from __future__ import annotations

import pytest

from mongo_promote.redact import redact_text, redact_uri, same_server


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("mongodb://admin:s3cret@db:27017/meeshy", "mongodb://admin:***@db:27017/meeshy"),
        (
            "mongodb+srv://u:p%40ss@cluster.example/x?retryWrites=true",
            "mongodb+srv://u:***@cluster.example/x?retryWrites=true",
        ),
        ("mongodb://db:27017/", "mongodb://db:27017/"),
        (
            "mongodb://user@db/?authMechanism=MONGODB-X509",
            "mongodb://user@db/?authMechanism=MONGODB-X509",
        ),
        (
            "mongodb://db/?tlsCertificateKeyFilePassword=zz&w=1",
            "mongodb://db/?tlsCertificateKeyFilePassword=***&w=1",
        ),
    ],
)
def test_redact_uri(uri: str, expected: str) -> None:
    assert redact_uri(uri) == expected


def test_redact_text_removes_bare_password_too() -> None:
    uri = "mongodb://admin:hunter22@db:27017"
    text = f"could not connect to {uri}: auth failed for admin/hunter22"
    scrubbed = redact_text(text, uri)
    assert "hunter22" not in scrubbed and "admin:***@db" in scrubbed


def test_same_server() -> None:
    assert same_server("mongodb://localhost:1", "mongodb://127.0.0.1:1")
    assert same_server("mongodb://a:1,b:2", "mongodb://b:2")
    assert not same_server("mongodb://a:1", "mongodb://a:2")


# ---------------------------------------------------------------- secrets with special characters

import urllib.parse  # noqa: E402

from hypothesis import assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from mongo_promote.redact import uri_secrets  # noqa: E402

_SPECIAL = st.text(
    alphabet=st.sampled_from(list("abcXYZ019@/:%?#&=+!$ ~[],;'\"")), min_size=6, max_size=24
)
_USER = st.text(alphabet=st.sampled_from(list("abcdefuser_-.")), min_size=1, max_size=10)


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("mongodb://admin:P%40ss%2Fw0rd@h", "mongodb://admin:***@h"),
        ("mongodb://admin:P@ssw0rd@h", "mongodb://admin:***@h"),
        ("mongodb://admin:P/ss:w@h:27017/db", "mongodb://admin:***@h:27017/db"),
        (
            "mongodb://u:pw%3Ax@a:1,b:2,c:3/db?replicaSet=rs&authSource=admin",
            "mongodb://u:***@a:1,b:2,c:3/db?replicaSet=rs&authSource=admin",
        ),
        (
            "mongodb+srv://u:p%2Fq@cluster0.example.net/db?authMechanismProperties="
            "AWS_SESSION_TOKEN:tok&password=zzz",
            "mongodb+srv://u:***@cluster0.example.net/db?authMechanismProperties=***&password=***",
        ),
    ],
)
def test_redact_uri_special_characters(uri: str, expected: str) -> None:
    assert redact_uri(uri) == expected


def test_redact_text_finds_uris_in_free_text_and_hides_decoded_passwords() -> None:
    uri = "mongodb://admin:P%40ss%2Fw0rd@h:27017/db"
    text = (
        "connecting to mongodb+srv://x:s3cr3tt@c.example.net/db failed; "
        f"tried {uri} with password P@ss/w0rd (sent as P%40ss%2Fw0rd)"
    )
    out = redact_text(text, uri)
    for secret in ("s3cr3tt", "P@ss/w0rd", "P%40ss%2Fw0rd"):
        assert secret not in out
    assert "mongodb+srv://x:***@c.example.net/db" in out and "admin:***@h:27017" in out


def test_redact_text_hides_extra_secrets_in_every_form() -> None:
    out = redact_text("token=a b/c and a%20b%2Fc and a+b%2Fc", secrets=["a b/c"])
    assert out == "token=*** and *** and ***"


def _visible_elsewhere(secret: str, *parts: str) -> bool:
    forms = {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)}
    return any(f in p for f in forms for p in parts)


@settings(max_examples=500, deadline=None)
@given(user=_USER, password=_SPECIAL, host=st.sampled_from(["db", "h1:1,h2:2", "c.example.net"]))
def test_escaped_password_never_shown(user: str, password: str, host: str) -> None:
    assume(not _visible_elsewhere(password, user, host, "mongodb", "admin"))
    for scheme in ("mongodb://", "mongodb+srv://"):
        uri = f"{scheme}{user}:{urllib.parse.quote_plus(password)}@{host}/app?authSource=admin"
        for shown in (redact_uri(uri), redact_text(f"error at {uri}: bad", uri)):
            assert not _visible_elsewhere(password, shown), shown
            assert f"{user}:***@" in shown


@settings(max_examples=500, deadline=None)
@given(user=_USER, password=_SPECIAL)
def test_unescaped_password_never_shown(user: str, password: str) -> None:
    assume(not _visible_elsewhere(password, user, "mongodb://", "@db/app"))
    assume(password.strip() == password and not any(c in password for c in " \"'"))
    uri = f"mongodb://{user}:{password}@db/app"
    assert password in uri_secrets(uri)
    for shown in (redact_uri(uri), redact_text(f"error at {uri}: bad", uri)):
        assert password not in shown, shown


def test_a_refused_connection_everywhere_is_final_at_once() -> None:
    """Exit 3 without waiting out server selection when every host says no; anything else waits."""
    import socket
    import time

    from mongo_promote.adapters.mongo import _refused_everywhere, connect
    from mongo_promote.errors import ServerUnreachable

    with socket.socket() as probe:  # a port nobody listens on (bound, never listening)
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
        with socket.create_server(("127.0.0.1", 0)) as server:
            alive = server.getsockname()[1]
            assert _refused_everywhere(f"mongodb://u:pw@127.0.0.1:{dead}/") == (
                f"connection refused by 127.0.0.1:{dead}"
            )
            # one host answering is enough to let the driver decide
            assert _refused_everywhere(f"mongodb://127.0.0.1:{dead},127.0.0.1:{alive}/") is None
        assert _refused_everywhere("mongodb+srv://u:pw@cluster.example.invalid/") is None
        started = time.monotonic()
        try:
            connect(f"mongodb://u:pw@127.0.0.1:{dead}/", role="target")
        except ServerUnreachable as exc:
            assert "pw" not in exc.message and "refused" in exc.message
        else:
            raise AssertionError("connect() reached a port nobody listens on")
        assert time.monotonic() - started < 2
