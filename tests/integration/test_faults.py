"""Faults on real servers over loopback: a TCP proxy (written here, 127.0.0.1 only) that cuts every
connection mid-copy and mid-cutover, the target killed and restarted on its data mid-copy, a writer
inserting into production for the whole run, and a resume racing a live run. Each ends with no
production write lost silently, a documented exit code and message, and `--resume` or `rollback`
reaching an exact state."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from mongo_promote.adapters import servers as servers_module
from mongo_promote.adapters.servers import LocalServer, start_server, stop_server
from mongo_promote.steps import copy as copy_step
from mongo_promote.steps import cutover as cutover_step
from tests.conftest import bounded_client, engine_under_test
from tests.integration.conftest import (
    SAFE_ENV,
    by_kept_collection,
    environment_without_uris,
    explain,
    invoke,
    journal_events,
    live_part,
    run_artifacts,
    snapshot,
)
from tests.integration.test_run_safety import PEOPLE_PLAN, seed_small

pytestmark = pytest.mark.integration

MAX_CONNECTIONS = 64


class Proxy:
    """A TCP relay on 127.0.0.1 to `upstream_port`: `cut()` closes every open connection,
    `down` refuses new ones, `stall()` keeps every connection open (new ones too) and lets
    nothing through either way, as a tunnel whose far side died; `heal()` undoes both. With
    `sticky`, a connection the server closes stays open on the client's side, silent.
    `upstream_port` can change (a restarted server)."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.down = threading.Event()
        self.flowing = threading.Event()
        self.flowing.set()
        # a relay that keeps the client's connection open when the server closes it
        self.sticky = False
        self._stop = threading.Event()
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(MAX_CONNECTIONS)
        self._listener.settimeout(0.2)
        self.port = int(self._listener.getsockname()[1])
        self._thread = threading.Thread(target=self._accept, name="proxy", daemon=True)
        self._thread.start()

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                continue
            if self.down.is_set() or len(self._conns) >= MAX_CONNECTIONS:
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=2)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._conns.update((client, upstream))
            for a, b, from_server in ((client, upstream, False), (upstream, client, True)):
                threading.Thread(target=self._pump, args=(a, b, from_server), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket, from_server: bool) -> None:
        try:
            while data := a.recv(65536):
                self.flowing.wait()  # stalled: held here, nothing passes
                if self._stop.is_set():
                    break
                try:
                    b.sendall(data)
                except OSError:
                    if self.sticky and not from_server:
                        continue  # the server hung up: what the client sends vanishes
                    raise
        except OSError:
            pass
        finally:
            if self.sticky and from_server and not self._stop.is_set():
                self._close(a)  # the server hung up and the client is not told
            else:
                self._close(a, b)

    def _close(self, *socks: socket.socket) -> None:
        for s in socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                s.close()
            with self._lock:
                self._conns.discard(s)

    def cut(self) -> None:
        """Every connection through the proxy ends now; new ones are refused until `up()`."""
        self.down.set()
        with self._lock:
            conns = list(self._conns)
        self._close(*conns)

    def up(self) -> None:
        self.down.clear()

    def stall(self) -> None:
        """From now on nothing passes, either way; connections stay open and new ones are
        accepted (a client sees a server that never answers, not a refusal or a reset)."""
        self.flowing.clear()

    def heal(self) -> None:
        """As a tunnel restarted: the connections of the stall (or cut) are closed, what they
        held is lost, and new connections are relayed again."""
        self.cut()
        self.flowing.set()
        self.up()

    def stop(self) -> None:
        self._stop.set()
        self.flowing.set()
        self.cut()
        self._listener.close()
        self._thread.join(timeout=5)


@contextlib.contextmanager
def proxied(port: int) -> Iterator[Proxy]:
    proxy = Proxy(port)
    try:
        yield proxy
    finally:
        proxy.stop()


def plan_via(path: Path, source_uri: str, target_uri: str, database: str) -> Path:
    path.write_text(
        "version: 1\n"
        f'source: {{uri: "{source_uri}", database: {database}}}\n'
        f'target: {{uri: "{target_uri}", database: {database}}}\n'
        'hooks: {after_cutover: ["echo restarted"]}\n' + PEOPLE_PLAN
    )
    return path


def run_args(plan: Path, state: Path, *extra: str) -> list[str]:
    return ["run", "--plan", str(plan), "--state-dir", str(state), "--json", "--yes", *extra]


def rollback_args(plan: Path, state: Path, run_id: str) -> list[str]:
    return ["rollback", "--plan", str(plan), "--state-dir", str(state), "--json", "--yes",
            "--run", run_id]  # fmt: skip


def port_of(uri: str) -> int:
    return int(uri.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])


def only_run(state: Path) -> str:
    (run_dir,) = (state / "runs").iterdir()
    return run_dir.name


def expected_after(
    before: dict[str, list[bytes]], source: dict[str, list[bytes]]
) -> dict[str, Any]:
    return {**before, "People": source["People"], "Orders": source["Orders"]}


def assert_promoted(
    after: dict[str, list[bytes]], before: dict[str, list[bytes]], source: dict[str, list[bytes]]
) -> None:
    """Production promoted exactly, and each collection it replaced kept byte for byte."""
    assert live_part(after) == expected_after(before, source)
    kept = {c: before[c] for c in ("People", "Orders") if c in before}
    assert by_kept_collection(after) == kept


# ---------------------------------------------------------------- the proxy cuts every connection


def test_connections_cut_mid_copy_exit_3_with_the_resume_command_and_resume_is_exact(
    servers: Any, fresh_name: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = fresh_name()
    seed_small(servers, name)
    target = servers.target[name]
    before, source = snapshot(target), snapshot(servers.source[name])
    with proxied(port_of(servers.target_uri)) as proxy:
        plan = plan_via(tmp_path / "plan.yaml", servers.source_uri, proxy.uri, name)
        original = copy_step.copy_collection
        copies: list[str] = []

        def copy_then_cut(ctx: Any, action: Any, **kwargs: Any) -> Any:
            copies.append(action.name)
            if len(copies) == 2:
                proxy.cut()  # the second collection's copy meets a dead network
            return original(ctx, action, **kwargs)

        monkeypatch.setattr(copy_step, "copy_collection", copy_then_cut)
        failed = invoke(run_args(plan, tmp_path, "--workers", "1"))
        monkeypatch.setattr(copy_step, "copy_collection", original)

        assert failed.exit_code == 3, explain(failed)
        run_id = only_run(tmp_path)
        err = " ".join(failed.stderr.split())
        # how the driver met the cut depends on timing (the request's own socket, or its monitor
        # first, pausing the pool, or a new connection refused): each is named, exit 3
        lost = ("lost the connection to", "stopped answering", "cannot reach")
        assert any(w in err for w in lost) and f"run --resume {run_id}" in err, err
        assert "production untouched" in err and "Traceback" not in failed.stderr
        assert snapshot(target, live_only=True) == before

        proxy.heal()
        resumed = invoke(run_args(plan, tmp_path, "--resume", run_id))

    assert resumed.exit_code == 0, explain(resumed)
    assert_promoted(snapshot(target), before, source)
    assert run_artifacts(target) == []


@pytest.mark.parametrize("then", ["resume", "rollback"])
def test_connections_cut_mid_cutover_exit_3_and_resume_or_rollback_is_exact(
    servers: Any, fresh_name: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, then: str
) -> None:
    name = fresh_name()
    seed_small(servers, name)
    target = servers.target[name]
    before, source = snapshot(target), snapshot(servers.source[name])
    with proxied(port_of(servers.target_uri)) as proxy:
        plan = plan_via(tmp_path / "plan.yaml", servers.source_uri, proxy.uri, name)
        original = cutover_step.rename
        renames: list[str] = []

        def rename_then_cut(ctx: Any, old: str, new: str, **kwargs: Any) -> None:
            original(ctx, old, new, **kwargs)
            renames.append(old)
            if len(renames) == 1:
                proxy.cut()  # after the first rename of the cutover

        monkeypatch.setattr(cutover_step, "rename", rename_then_cut)
        failed = invoke(run_args(plan, tmp_path))
        monkeypatch.setattr(cutover_step, "rename", original)

        assert failed.exit_code == 3, explain(failed)
        run_id = only_run(tmp_path)
        err = " ".join(failed.stderr.split())
        assert "lost the connection" in err and "Traceback" not in failed.stderr
        assert f"run --resume {run_id}" in err and f"rollback --run {run_id}" in err
        proxy.heal()
        if then == "resume":
            done = invoke(run_args(plan, tmp_path, "--resume", run_id))
            assert done.exit_code == 0, explain(done)
            assert_promoted(snapshot(target), before, source)
        else:
            done = invoke(rollback_args(plan, tmp_path, run_id))
            assert done.exit_code == 0, explain(done)
            assert snapshot(target, live_only=True) == before
    assert run_artifacts(target) == []


# ---------------------------------------------------------------- the target killed and restarted


@pytest.mark.timeout(400)  # a server of its own, killed and started again
def test_target_killed_and_restarted_mid_copy_then_resume_is_exact(
    servers: Any, fresh_name: Any, tmp_path: Path
) -> None:
    name = fresh_name()
    data_dir = tmp_path / "target-data"
    server: LocalServer = start_server("production", data_dir, engine=engine_under_test())
    client: MongoClient[Any] = bounded_client(server.uri)
    try:
        seed = servers.source[name]
        seed.People.insert_many([{"_id": i, "email": f"u{i}@x.org"} for i in range(12)])
        seed.Orders.insert_many([{"_id": i, "pad": "x" * 2000, "n": i} for i in range(3000)])
        client[name].People.insert_many(
            [{"_id": 100 + i, "email": f"o{i}@x.org"} for i in range(3)]
        )
        client[name].old_sessions.insert_many([{"_id": i} for i in range(4)])
        before, source = snapshot(client[name]), snapshot(seed)
        with proxied(server.port) as proxy:
            plan = plan_via(tmp_path / "plan.yaml", servers.source_uri, proxy.uri, name)
            state = tmp_path / "state"
            state.mkdir()
            proc = subprocess.Popen(
                [sys.executable, "-m", "mongo_promote", *run_args(plan, state)],
                env={**environment_without_uris(), **SAFE_ENV},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                text=True,
            )
            try:
                _wait_for_journal(state, lambda ev: any(e.get("key") == "copy" for e in ev))
                proxy.cut()
                os.kill(server.pid, signal.SIGKILL)
                _, stderr = proc.communicate(timeout=120)
            finally:
                if proc.poll() is None:
                    proc.kill()
            assert proc.returncode == 3, stderr[-3000:]
            run_id = only_run(state)
            assert f"run --resume {run_id}" in " ".join(stderr.split())
            assert "Traceback" not in stderr

            server = restart_on_its_data(server)  # same data, a new port
            client.close()
            client = bounded_client(server.uri)
            assert snapshot(client[name], live_only=True) == before  # production untouched
            proxy.upstream_port = server.port
            proxy.heal()
            resumed = invoke(run_args(plan, state, "--resume", run_id))
            assert resumed.exit_code == 0, explain(resumed)
        assert_promoted(snapshot(client[name]), before, source)
    finally:
        client.close()
        stop_server(server)
        servers.source.drop_database(name)


def _ferretdb_table(collection: str) -> str:
    """The SQLite table FerretDB v1 stores `collection` in: its name lowercased and the
    FNV-1a 32-bit hash of the name (internal/backends/sqlite/metadata/registry.go)."""
    h = 0x811C9DC5
    for byte in collection.encode():
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return f"{collection.lower()}_{h:08x}"


@pytest.mark.timeout(300)  # a FerretDB v1 server of its own
def test_a_shadow_name_the_target_kept_storage_for_is_created_beside_and_renamed(
    servers: Any, fresh_name: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FerretDB v1 killed between creating a collection's SQLite table and recording it keeps
    the table and lists no collection: every create of that name then fails "table already
    exists" (seen in CI: the resume after the target was killed mid-copy). The leftover is made
    here as the kill leaves it, a table in the server's file that its registry does not know;
    the run creates the shadow under another name, renames it, says so, and promotes exactly."""
    import sqlite3

    name, run_id = fresh_name(), "20261207-020000-beef"
    monkeypatch.setattr("mongo_promote.state.context.new_run_id", lambda *a: run_id)
    data_dir = tmp_path / "target-data"
    server = start_server("production", data_dir, engine="ferretdb")
    client: MongoClient[Any] = bounded_client(server.uri)
    try:
        seed = servers.source[name]
        seed.People.insert_many([{"_id": i, "email": f"u{i}@x.org"} for i in range(12)])
        seed.Orders.insert_many([{"_id": i, "n": i} for i in range(300)])
        client[name].People.insert_many([{"_id": 100, "email": "o@x.org"}])
        before, source = snapshot(client[name]), snapshot(seed)
        leftover = _ferretdb_table(f"Orders__promote_{run_id}")
        with contextlib.closing(sqlite3.connect(data_dir / f"{name}.sqlite", timeout=30)) as db:
            db.execute(f'CREATE TABLE "{leftover}" (_ferretdb_sqlite_json TEXT)')
            db.commit()
        assert f"Orders__promote_{run_id}" not in client[name].list_collection_names()

        plan = plan_via(tmp_path / "plan.yaml", servers.source_uri, server.uri, name)
        state = tmp_path / "state"
        result = invoke(run_args(plan, state))
        assert result.exit_code == 0, explain(result)
        assert only_run(state) == run_id
        assert "created as Orders__1__promote_" in " ".join(result.output.split())
        assert_promoted(snapshot(client[name]), before, source)
    finally:
        client.close()
        stop_server(server)
        servers.source.drop_database(name)


def restart_on_its_data(server: LocalServer) -> LocalServer:
    """The wire-protocol server again on the data it was killed on (DocumentDB: its PostgreSQL
    kept running; FerretDB v1 and mongod: the same data directory)."""
    if server.kind != "documentdb":
        return start_server(server.role, Path(server.data_dir), engine=server.kind)
    kind, binary = servers_module.server_binary("documentdb")
    port = servers_module.free_port()
    with open(server.log, "ab") as log:
        proc = subprocess.Popen(
            servers_module._command(kind, binary, port, Path(server.data_dir), server.pg_port),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    again = dataclasses.replace(server, port=port, pid=proc.pid)
    assert servers_module._wait_ready(again, proc), "the server did not come back"
    return again


def _wait_for_journal(state: Path, ready: Any, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for journal in (state / "runs").glob("*/journal.jsonl"):
            if ready(journal_events(journal)):
                return
        time.sleep(0.01)
    raise AssertionError("the run did not get there in time")


# ---------------------------------------------------------------- a writer for the whole run


def test_a_writer_inserting_into_production_for_the_whole_run_loses_nothing(
    servers: Any, fresh_name: Any, tmp_path: Path
) -> None:
    name = fresh_name()
    seed_small(servers, name)
    plan = plan_via(tmp_path / "plan.yaml", servers.source_uri, servers.target_uri, name)
    writes: list[int] = []
    stop = threading.Event()

    def writer() -> None:
        client = bounded_client(servers.target_uri)
        try:
            n = 0
            while not stop.is_set():
                n += 1
                client[name].People.insert_one({"_id": f"w{n}", "email": f"w{n}@writer.org"})
                writes.append(n)
                time.sleep(0.02)
        finally:
            client.close()

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        result = invoke(run_args(plan, tmp_path))
    finally:
        stop.set()
        thread.join(timeout=10)
    people = {d["_id"] for d in servers.target[name].People.find({}, {"_id": 1})}
    written = {f"w{n}" for n in writes}
    assert written, "the writer wrote nothing while the run ran"
    if result.exit_code == 0:  # only if no write came between the backup and the rename
        pytest.fail(
            "a writer for the whole run must make the drift guard stop it:\n" + explain(result)
        )
    assert result.exit_code == 1, explain(result)
    assert "People" in result.stderr and "changed since its backup" in " ".join(
        result.stderr.split()
    )
    assert written <= people, f"{len(written - people)} production write(s) lost"
    assert run_artifacts(servers.target[name]) == []


# ---------------------------------------------------------------- a resume racing the live run


def test_a_resume_racing_the_live_run_is_refused_with_exit_4(
    servers: Any, fresh_name: Any, tmp_path: Path
) -> None:
    name = fresh_name()
    seed_small(servers, name)
    before, source = snapshot(servers.target[name]), snapshot(servers.source[name])
    plan = plan_via(tmp_path / "plan.yaml", servers.source_uri, servers.target_uri, name)
    plan.write_text(
        plan.read_text().replace(
            'hooks: {after_cutover: ["echo restarted"]}',
            'hooks: {before_cutover: ["sleep 8"], after_cutover: ["echo restarted"]}',
        )
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "mongo_promote", *run_args(plan, tmp_path)],
        env={**environment_without_uris(), **SAFE_ENV},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        _wait_for_journal(
            tmp_path, lambda ev: any(e.get("key") == "hook:before_cutover:0" for e in ev)
        )
        run_id = only_run(tmp_path)
        racing = invoke(run_args(plan, tmp_path, "--resume", run_id))
        stdout, stderr = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert racing.exit_code == 4, explain(racing)
    assert "this very run: it is still alive" in " ".join(racing.stderr.split())
    assert proc.returncode == 0, stderr[-3000:]
    assert json_out_text(stdout)["status"] == "succeeded"
    assert_promoted(snapshot(servers.target[name]), before, source)


def json_out_text(stdout: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(stdout)
    return data
