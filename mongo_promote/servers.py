"""Local MongoDB-compatible servers (a real mongod when there is one, else FerretDB) for the demo and tests."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from pymongo import MongoClient
from pymongo.errors import PyMongoError

from mongo_promote.errors import OperationFailed, UsageError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_S = 60.0
ROLES = ("staging", "production")


@dataclass
class LocalServer:
    """One server process we started; enough to find, check and stop it from another process."""

    role: str
    kind: str  # "mongod" or "ferretdb"
    port: int
    data_dir: str
    pid: int
    log: str

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except OSError:
            return False
        return _responds(self.uri, timeout_ms=1500)


def tool_dirs() -> list[Path]:
    """Where install-tools puts binaries: $MONGO_PROMOTE_TOOLS, the checkout's .tools/bin, ./.tools/bin."""
    dirs = [Path(p) for p in [os.environ.get("MONGO_PROMOTE_TOOLS", "")] if p]
    dirs += [PROJECT_ROOT / ".tools" / "bin", Path.cwd() / ".tools" / "bin"]
    return dirs


def find_tool(name: str) -> Path | None:
    for directory in tool_dirs():
        candidate = directory / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(name)
    return Path(found) if found else None


def server_binary() -> tuple[str, Path]:
    """A real mongod is preferred: it has every feature FerretDB lacks."""
    explicit = os.environ.get("MONGO_PROMOTE_MONGOD")
    if explicit:
        return "mongod", Path(explicit)
    mongod = shutil.which("mongod")
    if mongod:
        return "mongod", Path(mongod)
    ferretdb = find_tool("ferretdb")
    if ferretdb:
        return "ferretdb", ferretdb
    raise UsageError(
        "no server binary: install FerretDB with `scripts/install-tools`, "
        "or put mongod on PATH (or set MONGO_PROMOTE_MONGOD)"
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _command(kind: str, binary: Path, port: int, data_dir: Path) -> list[str]:
    if kind == "mongod":
        return [
            str(binary),
            "--dbpath",
            str(data_dir),
            "--port",
            str(port),
            "--bind_ip",
            "127.0.0.1",
            "--quiet",
        ]
    return [
        str(binary),
        "--handler=sqlite",
        f"--sqlite-url=file:{data_dir}/",
        f"--listen-addr=127.0.0.1:{port}",
        f"--state-dir={data_dir}",
        "--telemetry=disable",
        "--debug-addr=-",
        "--log-level=error",
    ]


def start_server(role: str, data_dir: Path, *, attempts: int = 3) -> LocalServer:
    """Start on a free loopback port; retry with another port if one was taken in between."""
    kind, binary = server_binary()
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / f"{kind}.log"
    last_error = ""
    for _ in range(attempts):
        port = free_port()
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                _command(kind, binary, port, data_dir),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        server = LocalServer(role, kind, port, str(data_dir), proc.pid, str(log_path))
        if _wait_ready(server, proc):
            return server
        _terminate(proc.pid)
        last_error = _tail(log_path)
    raise OperationFailed(f"{kind} for {role} did not start: {last_error}")


def _wait_ready(server: LocalServer, proc: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if _responds(server.uri, timeout_ms=500):
            return True
        time.sleep(0.1)
    return False


def _responds(uri: str, *, timeout_ms: int) -> bool:
    client: MongoClient[dict[str, object]] = MongoClient(
        uri, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms
    )
    try:
        client.admin.command("ping")
        return True
    except PyMongoError:
        return False
    finally:
        client.close()


def _tail(path: Path, lines: int = 5) -> str:
    with contextlib.suppress(OSError):
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    return ""


def _terminate(pid: int, grace_s: float = 10.0) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                if os.waitpid(pid, os.WNOHANG)[0]:
                    return
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)


def stop_server(server: LocalServer, *, remove_data: bool = True) -> None:
    _terminate(server.pid)
    if remove_data:
        shutil.rmtree(server.data_dir, ignore_errors=True)


# ------------------------------------------------------------------ a pair kept across commands


def default_state_dir() -> Path:
    return Path(
        os.environ.get("MONGO_PROMOTE_SERVERS_DIR", Path.cwd() / ".mongo-promote" / "servers")
    )


def _state_file(state_dir: Path) -> Path:
    return state_dir / "servers.json"


def read_pair(state_dir: Path) -> list[LocalServer]:
    try:
        data = json.loads(_state_file(state_dir).read_text())
    except (OSError, ValueError):
        return []
    return [LocalServer(**entry) for entry in data.get("servers", [])]


def start_pair(state_dir: Path) -> list[LocalServer]:
    """Start staging and production (or return them if they already run): `servers start`."""
    running = [s for s in read_pair(state_dir) if s.alive()]
    if len(running) == len(ROLES):
        return running
    stop_pair(state_dir)
    servers: list[LocalServer] = []
    try:
        for role in ROLES:
            servers.append(start_server(role, state_dir / role))
    except BaseException:
        for server in servers:
            stop_server(server)
        raise
    state_dir.mkdir(parents=True, exist_ok=True)
    _state_file(state_dir).write_text(
        json.dumps({"servers": [asdict(s) for s in servers]}, indent=2)
    )
    return servers


def stop_pair(state_dir: Path) -> list[LocalServer]:
    servers = read_pair(state_dir)
    for server in servers:
        stop_server(server)
    with contextlib.suppress(FileNotFoundError):
        _state_file(state_dir).unlink()
    return servers


@contextlib.contextmanager
def temporary_pair(base_dir: Path) -> Iterator[tuple[LocalServer, LocalServer]]:
    """Two servers for the length of a block (tests, demo without --keep); always stopped after."""
    servers: list[LocalServer] = []
    try:
        for role in ROLES:
            servers.append(start_server(role, base_dir / role))
        yield servers[0], servers[1]
    finally:
        for server in servers:
            stop_server(server)
