"""A write freeze's catch-up replacing collections of a finished dump: new files verified and moved
in, the original kept aside (the first time only), the manifest rewritten, and a crash in between
leaving a dump that readers refuse until the catch-up is done again."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import bson
import pytest
from pyrage import x25519

from mongo_promote.adapters.dump import (
    INCOMPLETE_NAME,
    DumpIncomplete,
    DumpUpdate,
    DumpWriter,
    Manifest,
    iter_dump_collections,
    iter_file_documents,
    remove_side,
    side_dir,
    superseded_documents,
    verify_dump,
)
from mongo_promote.adapters.dump import update as update_module

ID_INDEX = {"v": 2, "key": {"_id": 1}, "name": "_id_"}


def docs(*ids: int, tag: str = "v1") -> list[bytes]:
    return [bson.encode({"_id": i, "tag": tag}) for i in ids]


def dump(root: Path, **collections: list[bytes]) -> Path:
    with DumpWriter(root, run_id="r1") as writer:
        for name, raws in collections.items():
            writer.write_collection("db", name, raws, options={}, indexes=[ID_INDEX])
    return root


def stage(update: DumpUpdate, name: str, raws: list[bytes]) -> Any:
    return update.stage("db", name, iter(raws), options={}, indexes=[ID_INDEX])


def contents(root: Path) -> dict[str, list[bytes]]:
    return {c.name: list(c.iter_raw()) for c in iter_dump_collections(root)}


def test_a_changed_collection_is_replaced_and_its_original_kept_aside(tmp_path: Path) -> None:
    root = dump(tmp_path / "b", A=docs(1, 2), B=docs(3))
    original = (root / "db" / "A.bson.gz").read_bytes()
    update = DumpUpdate(root, gzip=True)

    staged = stage(update, "A", docs(1, 2, 9, tag="v2"))
    assert (root / "db" / "A.bson.gz").read_bytes() == original  # nothing moved yet
    entry = update.commit(staged)

    assert entry.count == 3 and verify_dump(root).collection("db", "A") == entry
    assert contents(root) == {"A": docs(1, 2, 9, tag="v2"), "B": docs(3)}
    kept = superseded_documents(root, "db", "A")
    assert kept is not None and kept.read_bytes() == original
    assert superseded_documents(root, "db", "B") is None
    assert not (root / INCOMPLETE_NAME).exists()
    assert oct(os.stat(side_dir(root)).st_mode & 0o777) == "0o700"


def test_an_unchanged_collection_is_discarded_and_leaves_the_dump_alone(tmp_path: Path) -> None:
    root = dump(tmp_path / "b", A=docs(1, 2))
    before = Manifest.load(root)
    update = DumpUpdate(root, gzip=True)
    staged = stage(update, "A", docs(2, 1))  # the same documents, another order
    assert staged.entry.content_hash == before.collections[0].content_hash
    update.discard(staged)
    update.settle("db", "A")
    assert Manifest.load(root) == before and superseded_documents(root, "db", "A") is None
    assert not any((side_dir(root) / "staged").rglob("*.gz"))


def test_a_second_catch_up_keeps_the_first_original_aside(tmp_path: Path) -> None:
    root = dump(tmp_path / "b", A=docs(1))
    original = (root / "db" / "A.bson.gz").read_bytes()
    DumpUpdate(root, gzip=True).commit(stage(DumpUpdate(root, gzip=True), "A", docs(1, 2)))
    update = DumpUpdate(root, gzip=True)
    update.commit(stage(update, "A", docs(1, 2, 3)))
    kept = superseded_documents(root, "db", "A")
    assert kept is not None and kept.read_bytes() == original
    assert list(iter_file_documents(kept)) == docs(1)
    assert contents(root)["A"] == docs(1, 2, 3)
    remove_side(root)
    assert not side_dir(root).exists() and verify_dump(root).collection("db", "A")


def test_a_crash_between_the_files_and_the_manifest_is_refused_until_done_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = dump(tmp_path / "b", A=docs(1), B=docs(2))
    update = DumpUpdate(root, gzip=True)
    staged = stage(update, "A", docs(1, 5))

    def crash(self: Manifest, where: Path) -> Path:
        raise OSError("killed")

    monkeypatch.setattr(Manifest, "save", crash)
    with pytest.raises(OSError, match="killed"):
        update.commit(staged)
    monkeypatch.undo()
    with pytest.raises(DumpIncomplete):
        list(iter_dump_collections(root))

    again = DumpUpdate(root, gzip=True)  # the resumed catch-up reads A again
    again.commit(stage(again, "A", docs(1, 5)))
    assert contents(root)["A"] == docs(1, 5) and not (root / INCOMPLETE_NAME).exists()
    assert list(iter_file_documents(superseded_documents(root, "db", "A"))) == docs(1)


def test_a_pending_collection_found_unchanged_is_checked_before_the_marker_goes(
    tmp_path: Path,
) -> None:
    """The manifest was saved but the marker not removed: the files match, settle clears it."""
    root = dump(tmp_path / "b", A=docs(1))
    update = DumpUpdate(root, gzip=True)
    update.commit(stage(update, "A", docs(1, 2)))
    update._mark("A", pending=True)  # as a crash right after the manifest would leave it
    with pytest.raises(DumpIncomplete):
        verify_dump(root)
    DumpUpdate(root, gzip=True).settle("db", "A")
    assert verify_dump(root).collection("db", "A").count == 2


def test_an_encrypted_dump_is_caught_up_encrypted(tmp_path: Path) -> None:
    identity = x25519.Identity.generate()
    recipient = str(identity.to_public())
    root = tmp_path / "b"
    with DumpWriter(root, run_id="r1", encrypt_to=[recipient]) as writer:
        writer.write_collection("db", "A", docs(1), options={}, indexes=[ID_INDEX])
    update = DumpUpdate(root, gzip=True, encrypt_to=[recipient])
    entry = update.commit(stage(update, "A", docs(1, 2)))
    assert [f.path for f in entry.files] == ["db/A.bson.gz.age", "db/A.metadata.json.gz.age"]
    assert verify_dump(root).collection("db", "A") == entry  # sizes and sha256, no key needed
    assert superseded_documents(root, "db", "A") is not None
    assert update_module.SIDE_SUFFIX in side_dir(root).name
