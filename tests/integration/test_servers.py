"""`servers start --engine …` and temporary_pair: servers on loopback with their own directories, gone after."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mongo_promote.adapters.servers import LocalServer, read_pair, temporary_pair
from tests.conftest import engine_under_test

pytestmark = pytest.mark.integration


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mongo_promote", *args],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, **(env or {})},
    )


def running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) is not running.
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state != "Z"


def footprint(server: LocalServer) -> tuple[list[int], list[Path]]:
    dirs = [Path(server.data_dir)] + ([Path(server.pg_dir)] if server.pg_dir else [])
    return server.pids(), dirs


def test_servers_start_on_the_test_engine_and_stop_leaves_nothing(tmp_path: Path) -> None:
    engine = engine_under_test()
    state = tmp_path / "servers"
    started = cli("servers", "start", "--engine", engine, "--state-dir", str(state), "--json")
    assert started.returncode == 0, started.stderr
    pair = read_pair(state)
    try:
        assert [s.kind for s in pair] == [engine, engine]
        uris = json.loads(started.stdout)
        assert (
            uris["source_uri"].startswith("mongodb://127.0.0.1:")
            and uris["source_uri"] != uris["target_uri"]
        )
        pids = [pid for s in pair for pid in footprint(s)[0]]
        dirs = [d for s in pair for d in footprint(s)[1]]
        assert all(running(pid) for pid in pids) and all(d.is_dir() for d in dirs)
        if engine == "documentdb":  # PostgreSQL too: its own port, on loopback, its own directory
            assert all(s.pg_port and s.pg_port != s.port for s in pair)
            assert len(pids) > 2
        again = cli("servers", "start", "--engine", engine, "--state-dir", str(state), "--json")
        assert json.loads(again.stdout) == uris  # idempotent: the same servers
    finally:
        stopped = cli("servers", "stop", "--state-dir", str(state))
    assert stopped.returncode == 0, stopped.stderr
    assert not any(running(pid) for pid in pids)
    assert not any(d.exists() for d in dirs)


def test_temporary_pair_is_stopped_and_removed_when_the_block_fails(tmp_path: Path) -> None:
    seen: list[tuple[list[int], list[Path]]] = []
    with (
        pytest.raises(RuntimeError),
        temporary_pair(tmp_path / "pair", engine=engine_under_test()) as pair,
    ):
        seen.extend(footprint(server) for server in pair)
        assert all(running(pid) for pids, _ in seen for pid in pids)
        raise RuntimeError("a failing test")
    assert len(seen) == 2
    for pids, dirs in seen:
        assert not any(running(pid) for pid in pids), pids
        assert not any(d.exists() for d in dirs), dirs


def test_unknown_engine_is_a_usage_error(tmp_path: Path) -> None:
    result = cli("servers", "start", "--engine", "sqlite", "--state-dir", str(tmp_path))
    assert result.returncode == 2
    assert "ferretdb, documentdb, mongod" in result.stderr


def test_documentdb_engine_missing_says_how_to_install_it(tmp_path: Path) -> None:
    result = cli(
        "servers",
        "start",
        "--engine",
        "documentdb",
        "--state-dir",
        str(tmp_path),
        env={"MONGO_PROMOTE_PG_BIN": str(tmp_path / "no-postgresql")},
    )
    assert result.returncode == 2, result.stderr
    assert "scripts/install-tools" in result.stderr and "MONGO_PROMOTE_VENDOR" in result.stderr
    assert "Traceback" not in result.stderr
