"""Helpers for the end-to-end tests: byte snapshots, CLI invocation, seeded Meeshy data, safe env.

Nothing here may ever reach beyond 127.0.0.1: the bundled Meeshy plan's `after_cutover` hook
would `ssh root@meeshy.me` unless MEESHY_RESTART_GATEWAY is set, so every test session sets it
(and the gateway URL) to harmless local values before any test runs.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.database import Database
from typer.testing import CliRunner, Result

from mongo_promote.adapters.mongo import RAW
from mongo_promote.cli import app
from mongo_promote.demo.generator import generate
from mongo_promote.domain.names import (
    ASIDE_INFIX,
    RECREATED_INFIX,
    SHADOW_INFIX,
    is_tool_collection,
    kept,
)
from tests.integration.localhttp import serve

Snapshot = dict[str, list[bytes]]

SAFE_ENV = {
    # The bundled plan runs this after cutover; unset it would be `ssh root@meeshy.me ...`.
    "MEESHY_RESTART_GATEWAY": "echo gateway-restart",
    # Health checks would otherwise go to https://gate.meeshy.me, https://meeshy.me and
    # https://gate.staging.meeshy.me (port 9: discard, nothing listens). The session fixture
    # below points the gateway and the frontend at a local server that answers 200.
    "MEESHY_GATEWAY_URL": "http://127.0.0.1:9",
    "MEESHY_FRONTEND_URL": "http://127.0.0.1:9",
    "MEESHY_STAGING_GATEWAY_URL": "http://127.0.0.1:9",
    # The ssh destination of the hooks and staging_refresh (root@meeshy.me): a reserved name
    # that never resolves, should a test ever run one of those commands for real.
    "MEESHY_REMOTE_HOST": "nobody@meeshy-host.invalid",
    # The bundled plan's write freeze would ssh there to stop and start the gateway: a freeze
    # that stops nothing (tests/integration/test_freeze.py runs real ones with a writer).
    "MEESHY_FREEZE_START": "echo freeze-start",
    "MEESHY_FREEZE_END": "echo freeze-end",
}


@pytest.fixture(scope="session", autouse=True)
def _never_leave_localhost() -> Iterator[None]:
    """SAFE_ENV in the environment, the Meeshy gateway and frontend URLs pointed at a local HTTP
    server that answers 200 (the bundled plan's health gate then passes: a test that wants it to
    fail points MEESHY_GATEWAY_URL elsewhere)."""
    with serve() as http, pytest.MonkeyPatch.context() as mp:
        SAFE_ENV["MEESHY_GATEWAY_URL"] = SAFE_ENV["MEESHY_FRONTEND_URL"] = http.url("/up")
        for key, value in SAFE_ENV.items():
            mp.setenv(key, value)
        yield


# ---------------------------------------------------------------- snapshots


def is_run_artifact(name: str) -> bool:
    """What a run must not leave behind: shadows, asides dropped after success, re-created names."""
    return SHADOW_INFIX in name or ASIDE_INFIX in name or RECREATED_INFIX in name


def kept_collections(db: Database[Any]) -> dict[str, str]:
    """The collections the tool keeps until cleanup (previous, kept aside), by their own name:
    the application's name each was kept from."""
    found = (kept(n) for n in db.list_collection_names())
    return {k.name: k.collection for k in found if k is not None}


def by_kept_collection(snap: Snapshot) -> dict[str, list[bytes]]:
    """The kept collections of a snapshot by the name they were kept from (what two runs' kept
    collections are compared by: their names hold their own run ids)."""
    return {k.collection: docs for n, docs in snap.items() if (k := kept(n)) is not None}


def live_part(snap: Snapshot) -> Snapshot:
    """The application's collections of a snapshot (no tool collection)."""
    return {n: docs for n, docs in snap.items() if not is_tool_collection(n)}


def snapshot(db: Database[Any], *, live_only: bool = False) -> Snapshot:
    """Every collection (or only the application's live ones: no tool collection, not even a
    kept one) as its documents' raw bytes, sorted."""
    raw = db.client.get_database(db.name, codec_options=RAW)
    return {
        name: sorted(bytes(doc.raw) for doc in raw[name].find())
        for name in sorted(raw.list_collection_names())
        if not (live_only and is_tool_collection(name))
    }


def server_snapshot(client: MongoClient[Any]) -> dict[str, Snapshot]:
    """Every database of a server, including the tool's own `mongo_promote`."""
    return {name: snapshot(client[name]) for name in sorted(client.list_database_names())}


def footprint(servers: Any, name: str) -> tuple[Any, ...]:
    """What a run on database `name` could write: both sides' `name`, the tool's database on the
    target (lock, run records), and the list of databases (a new one would show)."""
    return (
        sorted(servers.source.list_database_names()),
        sorted(servers.target.list_database_names()),
        snapshot(servers.source[name]),
        snapshot(servers.target[name]),
        index_specs(servers.target[name], live_only=False),
        snapshot(servers.target.mongo_promote),
    )


def index_specs(db: Database[Any], *, live_only: bool = True) -> dict[str, list[tuple[Any, ...]]]:
    """Indexes of every collection: (name, key, unique), sorted by name."""
    found = {}
    for name in sorted(db.list_collection_names()):
        if live_only and is_tool_collection(name):
            continue
        found[name] = sorted(
            (ix["name"], tuple(ix["key"].items()), bool(ix.get("unique", False)))
            for ix in db[name].list_indexes()
        )
    return found


def run_artifacts(db: Database[Any]) -> list[str]:
    return sorted(n for n in db.list_collection_names() if is_run_artifact(n))


# ---------------------------------------------------------------- CLI


def invoke(args: list[str], env: dict[str, str] | None = None) -> Result:
    """The real CLI in-process; stdin is not a terminal, as in CI."""
    return CliRunner().invoke(app, args, env={**SAFE_ENV, **(env or {})})


def json_out(result: Result) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(result.stdout)
    except ValueError as exc:  # pragma: no cover - shown when a command misbehaves
        raise AssertionError(
            f"stdout is not JSON (exit {result.exit_code}):\n{result.stdout}\n{result.stderr}"
        ) from exc
    return data


def explain(result: Result) -> str:
    raised = f"\nraised: {result.exception!r}" if result.exception and result.exit_code != 0 else ""
    return (
        f"exit {result.exit_code}{raised}\nstdout:\n{result.stdout[-4000:]}"
        f"\nstderr:\n{result.stderr[-4000:]}"
    )


# ---------------------------------------------------------------- databases and data


def lock_doc(name: str, run_id: str, lease: dt.timedelta) -> dict[str, Any]:
    """A lock as another run of the tool would hold it, its lease ending `lease` from now."""
    now = dt.datetime.now(dt.UTC)
    return {
        "_id": name,
        "run_id": run_id,
        "host": "elsewhere",
        "pid": 4242,
        "acquired_at": now - dt.timedelta(minutes=5),
        "lease_expires_at": now + lease,
    }


@pytest.fixture
def fresh_name(servers: Any) -> Iterator[Any]:
    """A factory of database names unused on both servers; all of them dropped afterwards."""
    names: list[str] = []

    def make(prefix: str = "t") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        names.append(name)
        return name

    yield make
    for name in names:
        servers.source.drop_database(name)
        servers.target.drop_database(name)
        servers.target.mongo_promote.locks.delete_many({"_id": name})


# Indexes added on top of the generator's data, so that "source indexes are carried over" and
# "legacy collections keep theirs" can fail.
SOURCE_INDEXES = {
    "Message": [([("senderId", 1), ("createdAt", -1)], "src_message_sender_created")],
    "MessageAttachment": [([("messageId", 1)], "src_attachment_message")],
}
TARGET_LEGACY_INDEXES = {"call_sessions": [([("conversation_id", 1)], "legacy_call_conv")]}


def seed_meeshy(servers: Any, name: str, *, scale: float = 1, seed: int = 42) -> dict[str, Any]:
    """The generator's Meeshy data in database `name` on both servers, plus a few indexes."""
    manifest = generate(servers.source[name], servers.target[name], seed=seed, scale=scale)
    for side, wanted in ((servers.source, SOURCE_INDEXES), (servers.target, TARGET_LEGACY_INDEXES)):
        for coll, indexes in wanted.items():
            for keys, index_name in indexes:
                side[name][coll].create_index(keys, name=index_name)
    return manifest


def meeshy_env(servers: Any, name: str, backups: Path) -> dict[str, str]:
    """Environment for `--plan meeshy` against database `name` on the fixture servers."""
    return {
        **SAFE_ENV,
        "STAGING_MONGO_URI": servers.source_uri,
        "PROD_MONGO_URI": servers.target_uri,
        "STAGING_DB": name,
        "PROD_DB": name,
        "MEESHY_BACKUP_DIR": str(backups),
    }


def write_plan(path: Path, servers: Any, database: str, body: str) -> Path:
    """A small plan of our own: no hook that could leave the machine."""
    path.write_text(
        "version: 1\n"
        f'source: {{uri: "{servers.source_uri}", database: {database}}}\n'
        f'target: {{uri: "{servers.target_uri}", database: {database}}}\n'
        'hooks: {after_cutover: ["echo restarted"]}\n' + body
    )
    return path


# ---------------------------------------------------------------- one Meeshy promotion


@dataclass
class MeeshyRun:
    """A scale-1 Meeshy promotion through the CLI (dry-run first), with snapshots around it."""

    name: str
    manifest: dict[str, Any]
    state_dir: Path
    env: dict[str, str]
    source_before: Snapshot
    target_before: Snapshot
    target_indexes_before: dict[str, list[tuple[Any, ...]]]
    servers_before_dry_run: tuple[dict[str, Snapshot], dict[str, Snapshot]]
    servers_after_dry_run: tuple[dict[str, Snapshot], dict[str, Snapshot]]
    files_after_dry_run: list[Path]
    dry_run: Result
    run: Result
    source_after: Snapshot
    target_after: Snapshot
    extra: dict[str, Any] = field(default_factory=dict)


@pytest.fixture(scope="session")
def meeshy_run(servers: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MeeshyRun]:
    name = f"meeshy_{uuid.uuid4().hex[:8]}"
    state_dir = tmp_path_factory.mktemp("meeshy-run")
    env = meeshy_env(servers, name, state_dir / "backups")
    manifest = seed_meeshy(servers, name)
    source_before = snapshot(servers.source[name])
    target_before = snapshot(servers.target[name])
    target_indexes_before = index_specs(servers.target[name])
    common = ["--plan", "meeshy", "--state-dir", str(state_dir), "--json"]

    before_dry = (server_snapshot(servers.source), server_snapshot(servers.target))
    dry = invoke(["run", "--dry-run", *common], env)
    after_dry = (server_snapshot(servers.source), server_snapshot(servers.target))
    files = sorted(state_dir.rglob("*"))

    result = invoke(["run", "--yes", *common], env)
    try:
        yield MeeshyRun(
            name=name,
            manifest=manifest,
            state_dir=state_dir,
            env=env,
            source_before=source_before,
            target_before=target_before,
            target_indexes_before=target_indexes_before,
            servers_before_dry_run=before_dry,
            servers_after_dry_run=after_dry,
            files_after_dry_run=files,
            dry_run=dry,
            run=result,
            source_after=snapshot(servers.source[name]),
            target_after=snapshot(servers.target[name]),
        )
    finally:
        servers.source.drop_database(name)
        servers.target.drop_database(name)
        servers.target.mongo_promote.locks.delete_many({"_id": name})


def journal_events(path: Path) -> list[dict[str, Any]]:
    """A journal's records, up to a line a kill may have torn."""
    events = []
    for line in path.read_text().splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            break
    return events


def kill_when_journalled(
    args: list[str], env: dict[str, str], state: Path, ready: Callable[[list[dict[str, Any]]], bool]
) -> str:
    """Run the CLI in a process of its own (cwd `state`) and SIGKILL it as soon as one journal
    under `state/runs` satisfies `ready`; that run's id. Its output goes to state/std*.txt."""
    logs = (state / "stdout.txt", state / "stderr.txt")
    with open(logs[0], "wb") as out, open(logs[1], "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mongo_promote", *args],
            env={**environment_without_uris(), **env},
            cwd=state,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
        )
        try:
            run_id = _wait_until(proc, state, logs, ready)
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    return run_id


def _wait_until(
    proc: subprocess.Popen[bytes],
    state: Path,
    logs: tuple[Path, Path],
    ready: Callable[[list[dict[str, Any]]], bool],
) -> str:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(
                f"ended (exit {proc.returncode}) before it could be killed:\n"
                + "".join(p.read_text()[-2000:] for p in logs)
            )
        for journal in (state / "runs").glob("*/journal.jsonl"):
            if ready(journal_events(journal)):
                return journal.parent.name
        time.sleep(0.01)
    raise AssertionError(f"{proc.args}: not ready in time")


def environment_without_uris() -> dict[str, str]:
    """os.environ for a subprocess, minus anything that could point it at another server."""
    drop = ("STAGING_MONGO_URI", "PROD_MONGO_URI", "STAGING_DB", "PROD_DB")
    return {k: v for k, v in os.environ.items() if k not in drop}
