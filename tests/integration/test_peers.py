"""mongosh, MongoDB's own shell, reads the promoted production the way the seed's runbook checks it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mongo_promote.cli import app
from mongo_promote.demo.generator import generate
from mongo_promote.servers import find_tool

pytestmark = [pytest.mark.integration, pytest.mark.peers]


@pytest.fixture(scope="module")
def mongosh() -> Path:
    path = find_tool("mongosh")
    if path is None:
        pytest.skip("mongosh is not installed: run scripts/install-tools (scripts/test does)")
    return path


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
