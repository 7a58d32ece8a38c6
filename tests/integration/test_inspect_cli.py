"""Foundation on real servers: seed, `inspect --json` against the generator's manifest, exit codes, redaction."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mongo_promote.cli import app
from mongo_promote.demo.generator import LEGACY_COLLECTIONS, NEW_IN_SOURCE, generate

pytestmark = pytest.mark.integration
runner = CliRunner()


def invoke(*args: str, env: dict[str, str] | None = None) -> Any:
    return runner.invoke(app, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def seeded(dbs: Any) -> tuple[Any, dict[str, Any]]:
    manifest = generate(dbs.source, dbs.target, seed=7, scale=0.2)
    return dbs, manifest


def meeshy_env(dbs: Any) -> dict[str, str]:
    return {
        "STAGING_MONGO_URI": dbs.servers.source_uri,
        "PROD_MONGO_URI": dbs.servers.target_uri,
        "STAGING_DB": dbs.name,
        "PROD_DB": dbs.name,
    }


def test_inspect_json_equals_the_generators_manifest(seeded: tuple[Any, dict[str, Any]]) -> None:
    dbs, manifest = seeded
    result = invoke("inspect", "--plan", "meeshy", "--json", env=meeshy_env(dbs))
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    for side in ("source", "target"):
        found = {c["name"]: c["count"] for c in data[side]["collections"]}
        assert found == manifest[side]["collections"]
        assert data[side]["database"] == dbs.name
    source = {c["name"]: c for c in data["source"]["collections"]}
    target = {c["name"]: c for c in data["target"]["collections"]}
    assert source["MessageTranslation"]["class"] == "embed_source"
    assert source["Message"]["class"] == "copy"
    assert target["MessageAttachment_backup_urls"]["class"] == "excluded"
    assert {
        target[n]["class"] for n in LEGACY_COLLECTIONS if n != "MessageAttachment_backup_urls"
    } == {"legacy"}
    for name in NEW_IN_SOURCE:
        assert source[name]["in_source"] and not source[name]["in_target"]
    assert target["call_sessions"]["in_target"] and not target["call_sessions"]["in_source"]
    assert source["Message"]["in_target"] and source["Message"]["indexes"] == ["_id_"]
    assert all(c["size"] > 0 for c in data["source"]["collections"])


@pytest.mark.capability("create_keeps_capped")
def test_inspect_on_data_it_has_never_seen(dbs: Any, tmp_path: Path) -> None:
    """Not the generator's shapes: capped options, an extra index, a view, odd names."""
    dbs.source.create_collection("Orders", capped=True, size=65536)
    dbs.source.Orders.insert_many([{"n": i} for i in range(7)])
    dbs.source.Orders.create_index([("n", -1)], name="n_desc")
    dbs.source.create_collection("lower_case_thing").insert_one({"a": 1})
    dbs.target.create_collection("Orders").insert_many([{"n": 1}, {"n": 2}])
    dbs.target.create_collection("Orders__promote_20260101-000000-abcd").insert_one({"x": 1})
    plan = tmp_path / "promote.yaml"
    plan.write_text(
        f"version: 1\nsource: {{uri: '{dbs.servers.source_uri}', database: {dbs.name}}}\n"
        f"target: {{uri: '{dbs.servers.target_uri}', database: {dbs.name}}}\n"
        "collections: {include: ['re:^[A-Z].*'], legacy: ['re:^[a-z_]+$']}\n"
    )
    result = invoke("inspect", "--plan", str(plan), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    source = {c["name"]: c for c in data["source"]["collections"]}
    target = {c["name"]: c for c in data["target"]["collections"]}
    assert source["Orders"]["count"] == 7 and target["Orders"]["count"] == 2
    # What the server holds: FerretDB v2 accepts `capped` at create and keeps nothing of it.
    assert source["Orders"]["options"].get("capped") is (
        True if dbs.servers.probed.create_keeps_capped else None
    )
    assert set(source["Orders"]["indexes"]) == {"_id_", "n_desc"}
    assert source["lower_case_thing"]["class"] == "legacy"
    assert "Orders__promote_20260101-000000-abcd" not in target  # a run's shadow, not the app's


def test_unreachable_server_exits_3_quickly_and_hides_the_password(dbs: Any) -> None:
    env = meeshy_env(dbs) | {"PROD_MONGO_URI": "mongodb://admin:s3cretPW@127.0.0.1:1/"}
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "mongo_promote", "inspect", "--plan", "meeshy"],
        capture_output=True,
        text=True,
        env=_env(env),
        timeout=60,
    )
    assert time.monotonic() - started < 10
    assert proc.returncode == 3, proc.stderr
    assert "s3cretPW" not in proc.stdout + proc.stderr
    assert "admin:***@127.0.0.1:1" in proc.stderr


def test_password_never_printed_on_success(seeded: tuple[Any, dict[str, Any]]) -> None:
    """A reachable server with credentials in its URI: the inventory shows the URI redacted."""
    dbs, _ = seeded
    # FerretDB without auth accepts (ignores) credentials only for PLAIN; use an option instead.
    uri = dbs.servers.target_uri.rstrip("/") + "/?appname=x&tlsCertificateKeyFilePassword=s3cretPW"
    result = invoke(
        "inspect", "--plan", "meeshy", "--json", "--target-uri", uri, env=meeshy_env(dbs)
    )
    assert "s3cretPW" not in result.output
    if result.exit_code == 0:
        assert "tlsCertificateKeyFilePassword=***" in json.loads(result.stdout)["target"]["uri"]


def test_invalid_plan_exits_2_before_connecting(tmp_path: Path) -> None:
    plan = tmp_path / "promote.yaml"
    plan.write_text(
        "version: 1\nsource: {uri: 'mongodb://a:1', database: x}\ntarget: {uri: '${NOPE}', database: x}\n"
    )
    result = invoke("inspect", "--plan", str(plan))
    assert result.exit_code == 2
    assert "promote.yaml:3" in result.output and "NOPE" in result.output


def test_seed_command_and_its_manifest(dbs: Any, tmp_path: Path) -> None:
    manifest_path = tmp_path / "manifest.json"
    result = invoke(
        "seed",
        "--source-uri",
        dbs.servers.source_uri,
        "--target-uri",
        dbs.servers.target_uri,
        "--database",
        dbs.name,
        "--scale",
        "0.1",
        "--seed",
        "3",
        "--manifest",
        str(manifest_path),
    )
    assert result.exit_code == 0, result.output
    manifest = json.loads(manifest_path.read_text())
    counts = {n: dbs.source[n].count_documents({}) for n in dbs.source.list_collection_names()}
    assert counts == manifest["source"]["collections"]
    assert manifest["translations"]["total"] == dbs.source.MessageTranslation.count_documents({})


def test_servers_start_status_stop(tmp_path: Path) -> None:
    state = str(tmp_path / "servers")
    started = _cli("servers", "start", "--state-dir", state, "--json")
    assert started.returncode == 0, started.stderr
    uris = json.loads(started.stdout)
    try:
        assert uris["source_uri"].startswith("mongodb://127.0.0.1:")
        assert uris["source_uri"] != uris["target_uri"]
        status = _cli("servers", "status", "--state-dir", state, "--json")
        assert status.returncode == 0 and json.loads(status.stdout)["running"] is True
        again = _cli("servers", "start", "--state-dir", state, "--json")
        assert json.loads(again.stdout) == uris  # idempotent: the same servers
    finally:
        stopped = _cli("servers", "stop", "--state-dir", state)
    assert stopped.returncode == 0
    after = _cli("servers", "status", "--state-dir", state, "--json")
    assert after.returncode == 1 and json.loads(after.stdout)["running"] is False


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mongo_promote", *args], capture_output=True, text=True, timeout=120
    )


def _env(extra: dict[str, str]) -> dict[str, str]:
    import os

    return {**os.environ, **extra}
