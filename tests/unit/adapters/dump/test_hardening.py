"""Hostile and broken dumps, full disks, private files and age encryption: the dump reader and writer (adapters/dump/) fail typed and safe."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap
import zlib
from collections.abc import Iterator
from pathlib import Path

import bson
import pytest
from pyrage import x25519

from mongo_promote.adapters.dump import (
    INCOMPLETE_NAME,
    MANIFEST_NAME,
    DumpDiskFull,
    DumpEncrypted,
    DumpExists,
    DumpFormatError,
    DumpVerificationError,
    DumpWriter,
    iter_dump_collections,
    verify_dump,
)

DOCS = [bson.encode({"_id": i, "text": "x" * 50}) for i in range(100)]


def write(root: Path, database: str = "app", **kwargs: object) -> Path:
    with DumpWriter(root, fsync=False, **kwargs) as writer:  # type: ignore[arg-type]
        writer.write_collection(database, "Message", DOCS, options={}, indexes=[_ID_INDEX])
    return root


_ID_INDEX = {"v": 2, "key": {"_id": 1}, "name": "_id_"}


def _gzip_bomb(size: int) -> bytes:
    """`size` zero bytes, compressed ~1000:1, streamed so the test itself stays small."""
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(1 << 20)
    parts = [z.compress(block) for _ in range(size >> 20)]
    return b"".join(parts) + z.flush()


# --------------------------------------------------------------------------- hostile dumps


def test_a_gzip_bomb_as_metadata_is_refused_without_expanding_it(tmp_path: Path) -> None:
    db = tmp_path / "dump" / "app"
    db.mkdir(parents=True)
    (db / "Message.bson.gz").write_bytes(gzip.compress(b"".join(DOCS)))
    bomb = _gzip_bomb(64 << 20)  # 64 MiB of zeros in ~64 KB
    assert len(bomb) < 200_000
    (db / "Message.metadata.json.gz").write_bytes(bomb)
    (coll,) = iter_dump_collections(tmp_path / "dump")
    with pytest.raises(DumpFormatError, match="gzip bomb") as refused:
        coll.metadata()
    assert "Message.metadata.json.gz" in refused.value.message


def test_a_gzip_bomb_as_documents_is_refused_at_once(tmp_path: Path) -> None:
    db = tmp_path / "dump" / "app"
    db.mkdir(parents=True)
    (db / "Message.bson.gz").write_bytes(_gzip_bomb(64 << 20))
    (coll,) = iter_dump_collections(tmp_path / "dump")
    with pytest.raises(DumpFormatError, match="offset 0: invalid document length 0"):
        next(coll.iter_raw())


def test_a_bson_bomb_beyond_the_manifest_is_refused(tmp_path: Path) -> None:
    root = write(tmp_path / "dump")
    path = root / "app" / "Message.bson.gz"
    path.write_bytes(gzip.compress(b"".join(DOCS * 50)))  # valid documents, far more of them
    problems = _problems(root)
    assert any("more documents than the manifest" in p for p in problems), problems


def test_names_that_look_like_paths_stay_names_and_nul_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "dump"
    db = root / "app"
    db.mkdir(parents=True)
    (db / "..%2F..%2Fetc%2Fpasswd.bson").write_bytes(b"".join(DOCS))
    (coll,) = iter_dump_collections(root)  # a legal MongoDB name, read from this file only
    assert coll.name == "../../etc/passwd" and coll.bson_path.parent == db
    assert list(coll.iter_raw()) == DOCS
    (db / "..%2F..%2Fetc%2Fpasswd.bson").unlink()
    (db / "%00evil.bson").write_bytes(b"".join(DOCS))
    with pytest.raises(DumpFormatError, match="refused collection name"):
        list(iter_dump_collections(root))
    with pytest.raises(ValueError, match="cannot be dumped"):
        write(tmp_path / "out", database="../etc")


def test_manifest_paths_that_escape_are_refused(tmp_path: Path) -> None:
    root = write(tmp_path / "dump")
    data = json.loads((root / MANIFEST_NAME).read_text())
    for hostile in ("/etc/passwd", "app/../../x.bson", "app/\x00.bson"):
        data["collections"][0]["files"][0]["path"] = hostile
        (root / MANIFEST_NAME).write_text(json.dumps(data))
        assert any("path leaves the dump directory" in p for p in _problems(root)), hostile


def test_a_symlink_in_a_dump_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "secret.bson"
    outside.write_bytes(b"".join(DOCS))
    db = tmp_path / "dump" / "app"
    db.mkdir(parents=True)
    (db / "Message.bson").symlink_to(outside)
    with pytest.raises(DumpFormatError, match="symbolic link"):
        list(iter_dump_collections(tmp_path / "dump"))


def test_invalid_bson_in_a_mongodump_dump_names_file_and_offset(tmp_path: Path) -> None:
    db = tmp_path / "dump" / "app"
    db.mkdir(parents=True)
    bad = bytearray(bson.encode({"s": "hello"}))
    bad[4] = 0x7F  # an element type that does not exist, inside a well-framed document
    (db / "Message.bson").write_bytes(b"".join(DOCS[:3]) + bytes(bad))
    (coll,) = iter_dump_collections(tmp_path / "dump")
    with pytest.raises(DumpFormatError) as refused:
        list(coll.iter_raw())
    offset = sum(len(d) for d in DOCS[:3])
    assert f"Message.bson: offset {offset}: invalid BSON document" in refused.value.message
    assert refused.value.offset == offset and refused.value.exit_code == 1


def test_a_truncated_bson_file_names_file_and_offset(tmp_path: Path) -> None:
    db = tmp_path / "dump" / "app"
    db.mkdir(parents=True)
    data = b"".join(DOCS[:2])
    (db / "Message.bson").write_bytes(data[:-7])
    (coll,) = iter_dump_collections(tmp_path / "dump")
    with pytest.raises(DumpFormatError, match=f"offset {len(DOCS[0])}: truncated document"):
        list(coll.iter_raw())


def test_invalid_utf8_is_not_invalid_bson(tmp_path: Path) -> None:
    db = tmp_path / "dump" / "app"
    db.mkdir(parents=True)
    raw = bytearray(bson.encode({"s": "abc"}))
    raw[raw.index(b"abc")] = 0xFF  # a string the server may well hold
    (db / "Message.bson").write_bytes(bytes(raw))
    (coll,) = iter_dump_collections(tmp_path / "dump")
    assert list(coll.iter_raw()) == [bytes(raw)]


# --------------------------------------------------------------------------- writing


def test_backup_out_onto_an_existing_dump_or_directory_is_refused(tmp_path: Path) -> None:
    root = write(tmp_path / "dump")
    with pytest.raises(DumpExists, match="already holds a finished dump"):
        DumpWriter(root)
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(DumpExists, match="not empty"):
        DumpWriter(other)
    assert (other / "notes.txt").read_text() == "mine"
    (tmp_path / "empty").mkdir()
    write(tmp_path / "empty")  # an empty directory is fine


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_every_file_and_directory_of_a_dump_is_private(tmp_path: Path, umask_022: None) -> None:
    root = write(tmp_path / "backups" / "run1")
    for path in [tmp_path / "backups", *root.rglob("*"), root]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))


_FULL_DISK_SCRIPT = textwrap.dedent(
    """
    import resource, sys
    from pathlib import Path
    import bson
    from mongo_promote.adapters.dump import DumpWriter, DumpDiskFull
    resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))
    root = Path(sys.argv[1])
    docs = (bson.encode({"_id": i, "pad": bytes(range(256)) * 8}) for i in range(2000))
    recipients = sys.argv[2:]  # with age recipients the encryptor thread meets the full disk
    try:
        with DumpWriter(root, gzip=False, fsync=False, encrypt_to=recipients) as writer:
            writer.write_collection("app", "Big", docs, options={}, indexes=[])
    except DumpDiskFull as exc:
        print("DISKFULL", exc.exit_code, exc.message)
    """
)


@pytest.mark.parametrize("encrypted", [False, True])
def test_disk_full_is_typed_and_removes_the_partial_backup(tmp_path: Path, encrypted: bool) -> None:
    """RLIMIT_FSIZE in a child process: writes past 200 KB fail like a full disk (EFBIG)."""
    root = tmp_path / "backups" / "run1"
    recipients = [str(x25519.Identity.generate().to_public())] if encrypted else []
    done = subprocess.run(
        [sys.executable, "-c", _FULL_DISK_SCRIPT, str(root), *recipients],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("DISKFULL 1 disk full while writing"), done.stdout
    assert "partial backup" in done.stdout and "removed" in done.stdout
    assert "Traceback" not in done.stderr
    assert not root.exists()


def test_disk_full_on_a_tiny_tmpfs(tmp_path: Path) -> None:
    """A real ENOSPC where a tmpfs can be mounted (root); elsewhere the file size limit again."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        test_disk_full_is_typed_and_removes_the_partial_backup(tmp_path, encrypted=False)
        return
    try:
        (mount / "keep.txt").write_text("the user's file")
        docs = [bson.encode({"_id": i, "pad": os.urandom(2048)}) for i in range(400)]
        with (
            pytest.raises(DumpDiskFull, match="removed"),
            DumpWriter(mount / "run1", gzip=False, fsync=False) as writer,
        ):
            writer.write_collection("app", "Big", docs, options={}, indexes=[])
        assert sorted(p.name for p in mount.iterdir()) == ["keep.txt"]
    finally:
        subprocess.run(["umount", str(mount)], check=False)


# --------------------------------------------------------------------------- age encryption


@pytest.fixture
def age_key(tmp_path: Path) -> tuple[str, Path]:
    identity = x25519.Identity.generate()
    key = tmp_path / "key.txt"
    key.write_text(f"# created: test\n# public key: {identity.to_public()}\n{identity}\n")
    key.chmod(0o600)
    return str(identity.to_public()), key


def test_an_encrypted_dump_keeps_the_layout_and_is_verified_without_the_key(
    tmp_path: Path, age_key: tuple[str, Path]
) -> None:
    recipient, key = age_key
    root = write(tmp_path / "dump", encrypt_to=[recipient])
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert files == [
        "app/Message.bson.gz.age",
        "app/Message.metadata.json.gz.age",
        MANIFEST_NAME,
    ]
    assert b"xxxxxxxxxx" not in (root / "app" / "Message.bson.gz.age").read_bytes()
    manifest = verify_dump(root)  # sha256 of the encrypted files, no key needed
    assert manifest.encryption == {"scheme": "age", "recipients": [recipient]}
    assert verify_dump(root, identity=key).collections[0].count == len(DOCS)  # contents too

    (coll,) = iter_dump_collections(root, identity=key)
    assert coll.bson_path.name.endswith(".age") and list(coll.iter_raw()) == DOCS
    assert coll.metadata()["indexes"] == [_ID_INDEX]
    (locked,) = iter_dump_collections(root)
    with pytest.raises(DumpEncrypted, match="--identity"):
        list(locked.iter_raw())

    # a damaged encrypted file fails its sha256 without any key
    path = root / "app" / "Message.bson.gz.age"
    data = bytearray(path.read_bytes())
    data[-100] ^= 1
    path.write_bytes(bytes(data))
    assert any("sha256" in p for p in _problems(root))


def test_the_standard_age_tool_decrypts_a_backup_file(
    tmp_path: Path, age_key: tuple[str, Path]
) -> None:
    age = shutil.which("age")
    assert age, "the age binary is installed by scripts/install-tools (Debian package age)"
    recipient, key = age_key
    root = write(tmp_path / "dump", encrypt_to=[recipient])
    done = subprocess.run(
        [age, "-d", "-i", str(key), str(root / "app" / "Message.bson.gz.age")],
        capture_output=True,
        check=True,
    )
    assert gzip.decompress(done.stdout) == b"".join(DOCS)


def test_encrypted_writing_keeps_memory_flat(tmp_path: Path, age_key: tuple[str, Path]) -> None:
    """40 MB of documents go through the encryptor with no more than a few MB held at once."""
    import tracemalloc

    recipient, key = age_key
    docs = (bson.encode({"_id": i, "pad": os.urandom(4000)}) for i in range(10_000))
    tracemalloc.start()
    with DumpWriter(tmp_path / "dump", fsync=False, gzip=False, encrypt_to=[recipient]) as w:
        w.write_collection("app", "Big", docs, options={}, indexes=[])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 16 << 20, peak
    assert verify_dump(tmp_path / "dump", identity=key).collections[0].count == 10_000


def _problems(root: Path) -> list[str]:
    with pytest.raises(DumpVerificationError) as info:
        verify_dump(root)
    return info.value.problems


def test_an_incomplete_marker_is_refused_by_verify(tmp_path: Path) -> None:
    root = write(tmp_path / "dump")
    (root / INCOMPLETE_NAME).touch()
    with pytest.raises(Exception, match="unfinished backup"):
        verify_dump(root)
