"""`seed`: fills both servers and writes its manifest; an unreachable server exits 3."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.integration.cli.helpers import UNREACHABLE
from tests.integration.conftest import explain, invoke

pytestmark = pytest.mark.integration


def test_seed_json_is_the_manifest_and_the_summary_goes_to_stderr(dbs: Any) -> None:
    args = ["seed", "--source-uri", dbs.servers.source_uri, "--target-uri", dbs.servers.target_uri]
    result = invoke([*args, "--database", dbs.name, "--scale", "0.05", "--seed", "5", "--json"])
    assert result.exit_code == 0, explain(result)
    manifest = json.loads(result.stdout)
    assert manifest["source"]["collections"]["Message"] == dbs.source.Message.count_documents({})
    # the types only some servers keep are used where the probe found both servers keep them
    assert manifest["full_bson"] == dbs.servers.has("full_bson")
    assert "seeded scale 0.05 (seed 5): staging" in result.stderr


def test_seed_with_an_unreachable_server_exits_3(dbs: Any) -> None:
    args = ["seed", "--source-uri", UNREACHABLE, "--target-uri", dbs.servers.target_uri]
    result = invoke([*args, "--database", dbs.name, "--scale", "0.05"])
    assert result.exit_code == 3, explain(result)
    assert "s3cretPW" not in result.output


def test_seed_needs_both_uris() -> None:
    result = invoke(["seed", "--source-uri", "mongodb://127.0.0.1:1/"])
    assert result.exit_code == 2, explain(result)
    assert "--target-uri" in result.output
