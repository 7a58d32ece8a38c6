"""MongoDB's own tools as peers, proven by running them: mongorestore loads our backups, `restore` loads
mongodump's directories and archives, bsondump reads every .bson we write, and mongosh reads the promoted
production the way the seed's runbook checks it.

Where a server refuses what a tool sends, the test asserts the documented way round it, chosen by what the
server was seen to do (the `probed` fixture), never by its name: FerretDB v1 refuses the legacy `ns` index
option that mongorestore always adds, so there the data is restored with --noIndexRestore and the indexes are
checked against the metadata files instead.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from bson import Binary, Decimal128, Int64, MaxKey, MinKey, ObjectId, Timestamp, json_util
from pymongo import ASCENDING, DESCENDING
from pymongo.database import Database
from typer.testing import CliRunner

from mongo_promote.adapters.dump import iter_dump_collections, verify_dump
from mongo_promote.adapters.servers import find_tool
from mongo_promote.checksum import collection_content_hash
from mongo_promote.cli import app
from mongo_promote.demo.generator import generate
from tests.integration.conftest import explain, invoke, json_out, write_plan

pytestmark = [pytest.mark.integration, pytest.mark.peers]

TOOLS_HINT = (
    "run scripts/install-tools (with MONGO_TOOLS_SRC naming a mongo-tools source archive where the Go "
    "module proxy refuses the module), or install your distribution's mongodb-database-tools"
)
PLAN = 'collections: {include: ["re:.*"]}\n'


@pytest.fixture(scope="module")
def mongosh() -> Path:
    path = find_tool("mongosh")
    if path is None:
        pytest.fail(
            "mongosh is not installed: run scripts/install-tools (scripts/test does)", pytrace=False
        )
    return path


@pytest.fixture(scope="module")
def tools() -> dict[str, Path]:
    """mongodump, mongorestore and bsondump from scripts/install-tools (or PATH); missing ones fail, never skip."""
    found = {name: find_tool(name) for name in ("mongodump", "mongorestore", "bsondump")}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} not installed: {TOOLS_HINT}", pytrace=False)
    return {name: path for name, path in found.items() if path is not None}


def tool(tools: dict[str, Path], name: str, *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(tools[name]), *args], capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, f"{name} {' '.join(args)} failed:\n{proc.stderr[-3000:]}"
    return proc


T0 = dt.datetime(2025, 3, 4, 5, 6, 7, 891000)


def typed(i: int, full_bson: bool) -> dict[str, Any]:
    """Keys out of order and every BSON type the server keeps byte for byte."""
    doc: dict[str, Any] = {
        "_id": ObjectId(f"{i:024x}"),
        "zeta": i,
        "alpha": Int64(i * 10**12),
        "ratio": i / 7,
        "name": f"Zoé {i} 会議",
        "when": T0 + dt.timedelta(days=i),
        "blob": Binary(bytes(range(i % 17))),
        "uuid": Binary(bytes(16), 4),
        "ts": Timestamp(1_700_000_000 + i, 1),
        "nested": {"b": [1, {"c": None}], "a": True},
        "none": None,
    }
    if full_bson:
        doc.update(
            price=Decimal128(f"{i}.10"),
            lo=MinKey(),
            hi=MaxKey(),
            grid=[[i, 1], [2]],
            neg0=-0.0,
            dotted={"a.b": i, "$c": 1},
        )
    return doc


def seed(dbs: Any, probed: Any) -> None:
    """Meeshy's data on both sides, plus typed documents, an empty collection and indexes of each kind."""
    generate(dbs.source, dbs.target, seed=5, scale=0.05)
    for db in (dbs.source, dbs.target):
        db.Typed.insert_many([typed(i, probed.full_bson) for i in range(60)])
        db.Typed.create_index([("when", DESCENDING), ("name", ASCENDING)], name="when_name")
        db.Typed.create_index([("zeta", ASCENDING)], name="uniq_zeta", unique=True)
        db.create_collection("Empty")
        db.Empty.create_index([("k", ASCENDING)], name="k_1")


def app_collections(db: Database[Any]) -> list[str]:
    return sorted(n for n in db.list_collection_names() if not n.startswith("system."))


def content_hashes(db: Database[Any], names: list[str]) -> dict[str, str]:
    return {name: collection_content_hash(db[name]).hexdigest() for name in names}


_IGNORED_INDEX_FIELDS = {"v", "ns"}


def index_set(specs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Index name -> its definition (key as an ordered list), without the version and legacy `ns`."""
    return {
        str(spec["name"]): {
            k: (list(v.items()) if k == "key" else v)
            for k, v in dict(spec).items()
            if k not in _IGNORED_INDEX_FIELDS
        }
        for spec in specs
    }


def server_indexes(db: Database[Any], name: str) -> dict[str, dict[str, Any]]:
    return index_set(list(db[name].list_indexes()))


def drop_later(request: pytest.FixtureRequest, db: Database[Any]) -> Database[Any]:
    request.addfinalizer(lambda: db.client.drop_database(db.name))
    return db


# ---------------------------------------------------------------- our backup -> mongorestore


@pytest.mark.capability("index_ns_option")
def test_mongorestore_restores_our_backup(
    dbs: Any, probed: Any, tools: dict[str, Path], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    seed(dbs, probed)
    plan = write_plan(tmp_path / "plan.yaml", dbs.servers, dbs.name, PLAN)
    out = tmp_path / "backup"
    result = invoke(["backup", "--plan", str(plan), "--out", str(out), "--json"])
    assert result.exit_code == 0, explain(result)
    names = app_collections(dbs.target)
    manifest = {e.name: e.content_hash for e in verify_dump(out).collections}
    assert sorted(manifest) == names
    restored = drop_later(request, dbs.servers.source[f"r_{dbs.name}"])

    args = ["--uri", dbs.servers.source_uri, "--gzip", "--dir", str(out), "--nsInclude", f"{dbs.name}.*",
            "--nsFrom", f"{dbs.name}.*", "--nsTo", f"{restored.name}.*"]  # fmt: skip
    if (
        not probed.index_ns_option
    ):  # the server refuses the `ns` option mongorestore puts on every index
        args.append("--noIndexRestore")
    tool(tools, "mongorestore", *args)

    assert app_collections(restored) == names
    assert content_hashes(restored, names) == content_hashes(dbs.target, names) == manifest
    dumped = {c.name: c for c in iter_dump_collections(out) if c.database == dbs.name}
    for name in names:
        in_metadata = index_set(dumped[name].metadata()["indexes"])
        assert in_metadata == server_indexes(dbs.target, name), name
        if probed.index_ns_option:
            assert server_indexes(restored, name) == in_metadata, name
        else:
            assert list(server_indexes(restored, name)) == ["_id_"], name


# ---------------------------------------------------------------- mongodump -> our restore


def restore_with_us(dbs: Any, backup: Path, tmp_path: Path) -> dict[str, Any]:
    plan = write_plan(tmp_path / "plan.yaml", dbs.servers, dbs.name, PLAN)
    result = invoke(["restore", "--plan", str(plan), "--backup", str(backup), "--yes", "--json"])
    assert result.exit_code == 0, explain(result)
    return json_out(result)


def assert_target_is_source(dbs: Any, names: list[str]) -> None:
    assert content_hashes(dbs.target, names) == content_hashes(dbs.source, names)
    for name in names:
        assert server_indexes(dbs.target, name) == server_indexes(dbs.source, name), name


def test_restore_loads_a_mongodump_gzip_directory(
    dbs: Any, probed: Any, tools: dict[str, Path], tmp_path: Path
) -> None:
    seed(dbs, probed)
    dbs.target.Typed.delete_many({"zeta": {"$lt": 30}})  # production differs before the restore
    names = app_collections(dbs.source)
    dump = tmp_path / "mongodump"
    tool(
        tools,
        "mongodump",
        "--uri",
        dbs.servers.source_uri,
        "--db",
        dbs.name,
        "--gzip",
        "--out",
        str(dump),
    )
    assert (dump / dbs.name / "Typed.bson.gz").is_file()

    restored = restore_with_us(dbs, dump, tmp_path)

    assert (
        restored["verified"] is False
    )  # mongodump writes no manifest: counts checked after loading
    assert sorted(restored["collections"]) == names
    assert_target_is_source(dbs, names)


@pytest.mark.parametrize("compressed", [False, True], ids=["archive", "archive-gzip"])
def test_restore_loads_a_mongodump_archive(
    dbs: Any, probed: Any, tools: dict[str, Path], tmp_path: Path, compressed: bool
) -> None:
    seed(dbs, probed)
    dbs.target.drop_collection("Typed")
    names = app_collections(dbs.source)
    archive = tmp_path / "dump.archive"
    args = ["--uri", dbs.servers.source_uri, "--db", dbs.name, f"--archive={archive}"]
    tool(tools, "mongodump", *args, *(["--gzip"] if compressed else []))

    restored = restore_with_us(dbs, archive, tmp_path)

    assert sorted(restored["collections"]) == names
    assert restored["documents"] == sum(dbs.source[n].count_documents({}) for n in names)
    assert_target_is_source(dbs, names)


def test_restore_refuses_a_truncated_archive(
    dbs: Any, probed: Any, tools: dict[str, Path], tmp_path: Path
) -> None:
    for db in (dbs.source, dbs.target):  # enough documents that the cut falls inside them
        db.Typed.insert_many([typed(i, probed.full_bson) for i in range(300)])
    archive = tmp_path / "dump.archive"
    tool(
        tools,
        "mongodump",
        "--uri",
        dbs.servers.source_uri,
        "--db",
        dbs.name,
        f"--archive={archive}",
    )
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size * 2 // 3])
    before = content_hashes(dbs.target, app_collections(dbs.target))
    plan = write_plan(tmp_path / "plan.yaml", dbs.servers, dbs.name, PLAN)

    result = invoke(["restore", "--plan", str(plan), "--backup", str(archive), "--yes", "--json"])

    assert result.exit_code == 1, explain(result)
    assert "truncated" in result.stderr
    assert content_hashes(dbs.target, app_collections(dbs.target)) == before


# ---------------------------------------------------------------- bsondump reads what we write


@pytest.mark.parametrize("compressed", [False, True], ids=["bson", "bson-gz"])
def test_bsondump_reads_every_bson_file_we_write(
    dbs: Any, probed: Any, tools: dict[str, Path], tmp_path: Path, compressed: bool
) -> None:
    seed(dbs, probed)
    plan = write_plan(
        tmp_path / "plan.yaml",
        dbs.servers,
        dbs.name,
        PLAN + f"backup: {{gzip: {str(compressed).lower()}}}\n",
    )
    out = tmp_path / "backup"
    result = invoke(["backup", "--plan", str(plan), "--out", str(out), "--json"])
    assert result.exit_code == 0, explain(result)
    files = sorted(out.rglob("*.bson.gz" if compressed else "*.bson"))
    assert len(files) == len(app_collections(dbs.target))
    for path in files:
        plain = path
        if compressed:  # bsondump reads plain .bson: un-gzip ours first, as a user would
            plain = tmp_path / "plain" / path.name.removesuffix(".gz")
            plain.parent.mkdir(exist_ok=True)
            with gzip.open(path) as src, open(plain, "wb") as dst:
                shutil.copyfileobj(src, dst)
        name = path.name.split(".bson")[0]
        proc = tool(tools, "bsondump", "--type=json", str(plain))
        lines = proc.stdout.splitlines()
        ids = sorted(str(json_util.loads(line)["_id"]) for line in lines)
        assert ids == sorted(str(d["_id"]) for d in dbs.target[name].find({}, {"_id": 1})), name
        assert f"{len(lines)} objects found" in proc.stderr


# ---------------------------------------------------------------- mongosh


def shell(mongosh: Path, uri: str, database: str, script: str) -> Any:
    uri = uri.rstrip("/") + f"/{database}"
    proc = subprocess.run(
        [str(mongosh), uri, "--quiet", "--norc", "--eval", f"EJSON.stringify({script})"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_mongosh_sees_the_promotion_as_the_runbook_checks_it(
    dbs: Any, tmp_path: Path, mongosh: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = generate(dbs.source, dbs.target, seed=11, scale=0.1)
    for key, value in {
        "STAGING_MONGO_URI": dbs.servers.source_uri,
        "PROD_MONGO_URI": dbs.servers.target_uri,
        "STAGING_DB": dbs.name,
        "PROD_DB": dbs.name,
    }.items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(
        app,
        ["run", "--plan", "meeshy", "--yes", "--no-hooks", "--state-dir", str(tmp_path)],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    target = dbs.servers.target_uri
    # "Compter documents" from the runbook, on both sides.
    count_all = "Object.fromEntries(db.getCollectionNames().map(c => [c, db[c].countDocuments()]))"
    source_counts = shell(mongosh, dbs.servers.source_uri, dbs.name, count_all)
    target_counts = shell(mongosh, target, dbs.name, count_all)
    copied = [n for n in source_counts if n[0].isupper() and n != "MessageTranslation"]
    assert copied and all(target_counts[n] == source_counts[n] for n in copied)
    # "Vérifier que translations existe"
    folded = shell(
        mongosh, target, dbs.name, "db.Message.countDocuments({translations: {$exists: true}})"
    )
    assert folded == manifest["translations"]["messages_with_translations"]
    # "Vérifier index"
    names = shell(mongosh, target, dbs.name, "db.ConversationMember.getIndexes().map(i => i.name)")
    assert "idx_member_user_active_conv" in names
    staging = shell(
        mongosh,
        target,
        dbs.name,
        "db.MessageAttachment.countDocuments({fileUrl: /staging\\.meeshy\\.me/})",
    )
    assert staging == 0
