"""URI redaction and server identity: pure functions, no server."""

from __future__ import annotations

import pytest

from mongo_promote.conn import redact_text, redact_uri, same_server


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
