"""Encryption at rest of backup files for age recipients (pyrage), streamed so memory stays flat.

A file written here is a standard age file: `age -d -i KEY FILE` decrypts it. pyrage pulls its
input from a reader and pushes output to a writer, so each direction runs pyrage in a helper
thread joined to the caller by an OS pipe: the caller writes plaintext (or reads it) in chunks
and never holds a whole file in memory.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from mongo_promote.errors import UsageError

SUFFIX = ".age"

Recipient = Any  # pyrage.x25519.Recipient (pyrage ships no type stubs)
Identity = Any  # pyrage.x25519.Identity


def parse_recipients(texts: Sequence[str]) -> list[Recipient]:
    """`age1...` public keys; a malformed one is a UsageError naming it."""
    from pyrage import x25519  # loaded only when a backup is encrypted

    recipients = []
    for text in texts:
        try:
            recipients.append(x25519.Recipient.from_str(text.strip()))
        except Exception as exc:  # pyrage.RecipientError and friends
            raise UsageError(f"not an age recipient: {text!r} ({exc})") from None
    return recipients


def load_identities(path: Path) -> list[Identity]:
    """The `AGE-SECRET-KEY-1...` lines of an identity file (as `age-keygen -o FILE` writes it)."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read the identity file {path}: {exc}") from None
    from pyrage import x25519

    identities = []
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            identities.append(x25519.Identity.from_str(line))
        except Exception:
            raise UsageError(
                f"{path}:{number}: not an age identity (AGE-SECRET-KEY-1...)"
            ) from None
    if not identities:
        raise UsageError(f"{path} holds no age identity")
    return identities


class EncryptingWriter:
    """A write-only stream whose bytes reach `out` encrypted to `recipients` (one age file).

    close() finishes the age file; abort() stops without raising (the caller discards the file).
    """

    def __init__(self, out: IO[bytes] | Any, recipients: Sequence[Recipient]) -> None:
        read_fd, write_fd = os.pipe()
        self._reader = os.fdopen(read_fd, "rb")
        self._writer = os.fdopen(write_fd, "wb")
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._encrypt, args=(out, list(recipients)), name="age-encrypt", daemon=True
        )
        self._thread.start()

    def _encrypt(self, out: Any, recipients: list[Recipient]) -> None:
        import pyrage

        try:
            pyrage.encrypt_io(self._reader, out, recipients)
        except BaseException as exc:
            self._error = exc
        finally:
            self._reader.close()  # a writer still writing gets EPIPE instead of blocking

    def write(self, data: bytes) -> int:
        try:
            return self._writer.write(data)
        except BrokenPipeError:
            self._writer_closed()
            self._thread.join()
            raise self._failure() from None

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer_closed()
        self._thread.join()
        if self._error is not None:
            raise self._failure()

    def abort(self) -> None:
        self._writer_closed()
        self._thread.join()

    def _writer_closed(self) -> None:
        with contextlib.suppress(OSError):
            self._writer.close()

    def _failure(self) -> OSError:
        """The writer `out` keeps its own OSError (ENOSPC...); pyrage only says it failed."""
        return OSError(f"age encryption failed: {self._error}")


@contextlib.contextmanager
def decrypting_reader(source: IO[bytes] | Any, identities: Sequence[Identity]) -> Iterator[Any]:
    """A read-only stream of the plaintext of the age file `source`, decrypted as it is read.

    A wrong key or damaged file raises OSError from the stream's reads' end (the caller maps it).
    """
    read_fd, write_fd = os.pipe()
    reader = os.fdopen(read_fd, "rb")
    writer = os.fdopen(write_fd, "wb")
    failure: list[BaseException] = []

    def decrypt() -> None:
        import pyrage

        try:
            pyrage.decrypt_io(source, writer, list(identities))
        except BaseException as exc:
            failure.append(exc)
        finally:
            with contextlib.suppress(OSError):
                writer.close()

    thread = threading.Thread(target=decrypt, name="age-decrypt", daemon=True)
    thread.start()
    checked = _CheckedReader(reader, thread, failure)
    try:
        yield checked
    finally:
        reader.close()  # unblocks a decryptor still writing (EPIPE)
        thread.join()


class _CheckedReader:
    """Reads the plaintext; at end of stream, a decryption failure is raised instead of EOF."""

    def __init__(self, reader: IO[bytes], thread: threading.Thread, failure: list[BaseException]):
        self._reader = reader
        self._thread = thread
        self._failure = failure

    def read(self, n: int = -1) -> bytes:
        data = self._reader.read(n)
        if not data or (n is not None and n > 0 and len(data) < n):
            self._thread.join()
            if self._failure:
                raise DecryptionFailed(str(self._failure[0]))
        return data

    def readable(self) -> bool:
        return True


class DecryptionFailed(OSError):
    """The age file could not be decrypted (no matching identity, or the file is damaged)."""
