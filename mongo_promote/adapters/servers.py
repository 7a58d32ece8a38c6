"""Local MongoDB-compatible servers (FerretDB v1, FerretDB v2 on PostgreSQL + DocumentDB, or mongod) for the demo
and the tests, each on free 127.0.0.1 ports with its own temporary directories."""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from mongo_promote.adapters.shell import process_alive
from mongo_promote.errors import OperationFailed, UsageError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 60.0
ROLES = ("staging", "production")

# ferretdb: FerretDB v1 on SQLite, the light default. documentdb: FerretDB v2 on PostgreSQL 15 with the DocumentDB
# extension, much closer to mongod. mongod: a real MongoDB server (MONGO_PROMOTE_MONGOD or `mongod` on PATH).
ENGINES = ("ferretdb", "documentdb", "mongod")
DEFAULT_ENGINE = "ferretdb"
PG_MAJOR = 15
PG_USER = "postgres"

INSTALL_HINT = "run `scripts/install-tools` (see the README's install section)"
DOCUMENTDB_HINT = (
    f"the documentdb engine needs PostgreSQL {PG_MAJOR} with the DocumentDB extension and FerretDB v2: run "
    "`scripts/install-tools` as root with MONGO_PROMOTE_VENDOR set to the directory of the DocumentDB, pg_cron, "
    "pgvector and mongo-c-driver source archives (see the README's install section)"
)

# postgresql.conf for a DocumentDB server (see the README); fsync and synchronous_commit off: these are
# disposable test servers, never anyone's data.
DOCUMENTDB_SETTINGS = {
    "shared_preload_libraries": "'pg_cron,pg_documentdb_core,pg_documentdb'",
    "cron.database_name": "'postgres'",
    "cron.log_run": "off",
    "documentdb.enableSchemaValidation": "true",
    "documentdb.enableBypassDocumentValidation": "true",
    "documentdb.enableCompact": "true",
    "documentdb.enableLetAndCollationForQueryMatch": "true",
    "documentdb.enableNowSystemVariable": "true",
    "documentdb.enableSortbyIdPushDownToPrimaryKey": "true",
    "documentdb.enableUserCrud": "true",
    "documentdb.maxUserLimit": "100",
    "documentdb_core.enableCollation": "on",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}


@dataclass
class LocalServer:
    """One server we started; enough to find, check and stop it from another process."""

    role: str
    kind: str  # the engine: "ferretdb", "documentdb" or "mongod"
    port: int
    data_dir: str
    pid: int  # the process that speaks the wire protocol (mongod or FerretDB)
    log: str
    pg_dir: str = (
        ""  # documentdb: the PostgreSQL cluster's own temp directory (owned by its OS user)
    )
    pg_port: int = 0

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    @property
    def pg_data(self) -> Path:
        return Path(self.pg_dir) / "data"

    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except OSError:
            return False
        return _responds(self.uri, timeout_ms=5000)

    def pids(self) -> list[int]:
        """Every process of this server (for CPU accounting): FerretDB or mongod, and PostgreSQL's."""
        found = [self.pid]
        with contextlib.suppress(OSError, ValueError, IndexError):
            postmaster = int((self.pg_data / "postmaster.pid").read_text().split()[0])
            found.append(postmaster)
            found += _children(postmaster)
        return found


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


def check_engine(engine: str) -> str:
    if engine not in ENGINES:
        raise UsageError(f"unknown engine {engine!r}: choose one of {', '.join(ENGINES)}")
    return engine


def server_binary(engine: str = DEFAULT_ENGINE) -> tuple[str, Path]:
    """The wire-protocol binary of an engine, or UsageError (exit 2) saying how to get it."""
    check_engine(engine)
    if engine == "mongod":
        explicit = os.environ.get("MONGO_PROMOTE_MONGOD") or shutil.which("mongod")
        if not explicit:
            raise UsageError(
                "the mongod engine needs mongod on PATH (or MONGO_PROMOTE_MONGOD set to it)"
            )
        return "mongod", Path(explicit)
    name = "ferretdb2" if engine == "documentdb" else "ferretdb"
    binary = find_tool(name)
    if binary is None:
        hint = DOCUMENTDB_HINT if engine == "documentdb" else INSTALL_HINT
        raise UsageError(f"no {name} binary for the {engine} engine: {hint}")
    if engine == "documentdb":
        _check_documentdb_installed()
    return engine, binary


def pg_bindir() -> Path:
    """PostgreSQL's programs: $MONGO_PROMOTE_PG_BIN, else Debian's /usr/lib/postgresql/15/bin."""
    explicit = os.environ.get("MONGO_PROMOTE_PG_BIN")
    return Path(explicit) if explicit else Path(f"/usr/lib/postgresql/{PG_MAJOR}/bin")


def _check_documentdb_installed() -> None:
    bindir = pg_bindir()
    for program in ("initdb", "pg_ctl", "psql", "pg_config"):
        if not (bindir / program).is_file():
            raise UsageError(
                f"no PostgreSQL {PG_MAJOR} program {bindir / program}: {DOCUMENTDB_HINT}"
            )
    sharedir = subprocess.run(
        [str(bindir / "pg_config"), "--sharedir"], capture_output=True, text=True, check=False
    ).stdout.strip()
    if not (Path(sharedir) / "extension" / "documentdb.control").is_file():
        raise UsageError(f"PostgreSQL {PG_MAJOR} has no DocumentDB extension: {DOCUMENTDB_HINT}")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(PG_USER)
        except KeyError:
            raise UsageError(
                f"running as root, PostgreSQL must run as the `{PG_USER}` OS user, which does not exist"
            ) from None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _command(kind: str, binary: Path, port: int, data_dir: Path, pg_port: int = 0) -> list[str]:
    common = [
        f"--listen-addr=127.0.0.1:{port}",
        f"--state-dir={data_dir}",
        "--telemetry=disable",  # no traffic ever leaves loopback
        "--debug-addr=-",  # no HTTP debug listener
        "--log-level=error",
    ]
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
    if kind == "documentdb":
        return [
            str(binary),
            f"--postgresql-url=postgres://{PG_USER}@127.0.0.1:{pg_port}/postgres",
            "--no-auth",
            *common,
        ]
    return [str(binary), "--handler=sqlite", f"--sqlite-url=file:{data_dir}/", *common]


def start_server(
    role: str, data_dir: Path, *, engine: str = DEFAULT_ENGINE, attempts: int = 3
) -> LocalServer:
    """Start on a free loopback port; retry with another port if one was taken in between."""
    kind, binary = server_binary(engine)
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / f"{kind}.log"
    last_error = ""
    for _ in range(attempts):
        pg_dir, pg_port = "", 0
        if kind == "documentdb":
            pg_dir, pg_port = _start_postgres(role)
        port = free_port()
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                _command(kind, binary, port, data_dir, pg_port),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        server = LocalServer(
            role, kind, port, str(data_dir), proc.pid, str(log_path), pg_dir, pg_port
        )
        if _wait_ready(server, proc):
            return server
        last_error = _tail(log_path)
        stop_server(server, remove_data=False)
    raise OperationFailed(f"{kind} for {role} did not start: {last_error}")


# ------------------------------------------------------------------ PostgreSQL + DocumentDB


def _pg_user() -> pwd.struct_passwd | None:
    """The OS user PostgreSQL runs as: `postgres` when we are root (it refuses root), else ourselves."""
    return pwd.getpwnam(PG_USER) if os.geteuid() == 0 else None


def _as_pg_user(argv: list[str]) -> list[str]:
    user = _pg_user()
    return ["runuser", "-u", user.pw_name, "--", *argv] if user else argv


def _pg_temp_parent() -> str:
    """A temp directory PostgreSQL's OS user can reach (pytest's own temp dirs are private to root)."""
    parent = Path(tempfile.gettempdir()).resolve()
    if _pg_user() is None:
        return str(parent)
    for directory in (parent, *parent.parents):
        if not directory.stat().st_mode & stat.S_IXOTH:
            return "/tmp"
    return str(parent)


def _start_postgres(role: str) -> tuple[str, int]:
    """A fresh PostgreSQL cluster with DocumentDB on a free loopback port: (its temp dir, its port)."""
    bindir = pg_bindir()
    pg_dir = Path(tempfile.mkdtemp(prefix=f"mongo-promote-pg-{role}-", dir=_pg_temp_parent()))
    user = _pg_user()
    if user:
        os.chown(pg_dir, user.pw_uid, user.pw_gid)
    data, log = pg_dir / "data", pg_dir / "postgresql.log"
    try:
        _pg_run(
            [str(bindir / "initdb"), "-D", str(data), "-U", PG_USER, "--auth=trust", "--locale=C.UTF-8",
             "--encoding=UTF8", "--no-sync"],
            "initdb",
        )  # fmt: skip
        last_error = ""
        for _ in range(3):
            port = free_port()
            settings = {
                "listen_addresses": "'127.0.0.1'",
                "port": str(port),
                "unix_socket_directories": f"'{pg_dir}'",
                **DOCUMENTDB_SETTINGS,
            }
            with open(data / "postgresql.auto.conf", "w") as conf:
                conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
            # Trust, and only on loopback: the cluster is reachable from this machine alone.
            (data / "pg_hba.conf").write_text(
                "local all all trust\nhost all all 127.0.0.1/32 trust\n"
            )
            try:
                _pg_run(
                    [
                        str(bindir / "pg_ctl"),
                        "start",
                        "-D",
                        str(data),
                        "-l",
                        str(log),
                        "-w",
                        "-t",
                        "60",
                    ],
                    "pg_ctl start",
                )
            except OperationFailed as exc:
                last_error = f"{exc} {_tail(log)}"
                continue
            _pg_run(
                [str(bindir / "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", PG_USER, "-d", "postgres",
                 "-v", "ON_ERROR_STOP=1", "-qc", "CREATE EXTENSION IF NOT EXISTS documentdb CASCADE"],
                "CREATE EXTENSION documentdb",
            )  # fmt: skip
            return str(pg_dir), port
        raise OperationFailed(f"PostgreSQL for {role} did not start: {last_error}")
    except BaseException:
        _stop_postgres(str(pg_dir))
        raise


def _pg_run(argv: list[str], what: str) -> None:
    if argv[0].endswith("/psql"):
        proc = subprocess.run(
            argv, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL
        )
    else:
        proc = subprocess.run(
            _as_pg_user(argv), capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL
        )
    if proc.returncode != 0:
        detail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-5:])
        raise OperationFailed(f"{what} failed (exit {proc.returncode}): {detail}")


def _stop_postgres(pg_dir: str) -> None:
    """pg_ctl stop (fast), then the whole temp directory goes; a stuck postmaster is killed."""
    if not pg_dir:
        return
    data = Path(pg_dir) / "data"
    if (data / "postmaster.pid").exists():
        proc = subprocess.run(
            _as_pg_user(
                [
                    str(pg_bindir() / "pg_ctl"),
                    "stop",
                    "-D",
                    str(data),
                    "-m",
                    "fast",
                    "-w",
                    "-t",
                    "30",
                ]
            ),
            capture_output=True,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        if proc.returncode != 0:
            with contextlib.suppress(OSError, ValueError, IndexError):
                os.kill(int((data / "postmaster.pid").read_text().split()[0]), signal.SIGKILL)
    shutil.rmtree(pg_dir, ignore_errors=True)


def _children(pid: int) -> list[int]:
    with contextlib.suppress(OSError):
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        return [int(p) for p in text.split()]
    return []


# ------------------------------------------------------------------ process plumbing


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
    from pymongo import MongoClient  # the driver: not for `servers --help`
    from pymongo.errors import PyMongoError

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
            if not process_alive(pid):
                return
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)


def stop_server(server: LocalServer, *, remove_data: bool = True) -> None:
    """FerretDB (or mongod) first, then its PostgreSQL; their temporary directories go with them."""
    try:
        _terminate(server.pid)
    finally:
        _stop_postgres(server.pg_dir)
        if remove_data:
            shutil.rmtree(server.data_dir, ignore_errors=True)


# ------------------------------------------------------------------ a pair kept across commands


def default_state_dir() -> Path:
    return Path(
        os.environ.get("MONGO_PROMOTE_SERVERS_DIR", Path.cwd() / ".mongo-promote" / "servers")
    )


DEMO_STATE_DIR = Path("mongo-promote-demo")  # `demo`'s default --state-dir (relative to cwd)


def known_state_dirs() -> list[Path]:
    """Where `servers stop` and `status` look without --state-dir: `servers start`'s default
    (or MONGO_PROMOTE_SERVERS_DIR), where `demo --keep` leaves its pair (./mongo-promote-demo,
    or $MONGO_PROMOTE_STATE_DIR), each once."""
    places = [default_state_dir(), Path.cwd() / DEMO_STATE_DIR / "servers"]
    if os.environ.get("MONGO_PROMOTE_STATE_DIR"):
        places.append(Path(os.environ["MONGO_PROMOTE_STATE_DIR"]) / "servers")
    return list(dict.fromkeys(p.absolute() for p in places))


def _state_file(state_dir: Path) -> Path:
    return state_dir / "servers.json"


def read_pair(state_dir: Path) -> list[LocalServer]:
    try:
        data = json.loads(_state_file(state_dir).read_text())
    except (OSError, ValueError):
        return []
    known = {f.name for f in fields(LocalServer)}
    return [
        LocalServer(**{k: v for k, v in entry.items() if k in known})
        for entry in data.get("servers", [])
    ]


def start_pair(state_dir: Path, engine: str = DEFAULT_ENGINE) -> list[LocalServer]:
    """Start staging and production (or return them if they already run on that engine): `servers start`."""
    check_engine(engine)
    running = [s for s in read_pair(state_dir) if s.kind == engine and s.alive()]
    if len(running) == len(ROLES):
        return running
    stop_pair(state_dir)
    servers: list[LocalServer] = []
    try:
        for role in ROLES:
            servers.append(start_server(role, state_dir / role, engine=engine))
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
def temporary_pair(
    base_dir: Path, engine: str = DEFAULT_ENGINE
) -> Iterator[tuple[LocalServer, LocalServer]]:
    """Two servers for the length of a block (tests, demo without --keep); always stopped after."""
    check_engine(engine)
    servers: list[LocalServer] = []
    try:
        for role in ROLES:
            servers.append(start_server(role, base_dir / role, engine=engine))
        yield servers[0], servers[1]
    finally:
        for server in servers:
            stop_server(server)
