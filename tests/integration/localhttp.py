"""A real HTTP server on 127.0.0.1 for the health-check tests: answers by path, records every request."""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# Paths the server knows:
#   /ok             200 "service healthy"
#   /status/N       N with body "status N"
#   /slow/MS        waits MS milliseconds, then 200 "service healthy"
#   /body           200 "under maintenance" (the wrong body)
#   /flaky/KEY/N    503 for the first N requests of KEY, then 200 "service healthy"
#   /redirect       302 to /ok
#   /gate/FILE      200 when FILE exists on disk, else 503 (a service a command brings up)
#   /up/...         200 "service healthy", whatever follows (a healthy application's every URL)


@dataclass
class LocalHTTP:
    """The running server: its base URL and what it has seen."""

    port: int
    requests: list[tuple[str, str, float]] = field(default_factory=list)  # method, path, monotonic
    counts: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base + path


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    state: LocalHTTP

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (timeout test) leaves a broken pipe: expected, not noise."""


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def do_POST(self) -> None:
        self._answer(send_body=True)

    def _answer(self, *, send_body: bool) -> None:
        state = self.server.state
        path = self.path.split("?", 1)[0]
        with state.lock:
            state.requests.append((self.command, path, time.monotonic()))
            state.counts[path] += 1
            seen = state.counts[path]
        parts = path.strip("/").split("/")
        status, body, headers = 404, "not found", {}
        if parts[0] in ("ok", "up"):
            status, body = 200, "service healthy"
        elif parts[0] == "status":
            status, body = int(parts[1]), f"status {parts[1]}"
        elif parts[0] == "slow":
            time.sleep(int(parts[1]) / 1000)
            status, body = 200, "service healthy"
        elif parts[0] == "body":
            status, body = 200, "under maintenance"
        elif parts[0] == "flaky":
            status, body = (503, "starting") if seen <= int(parts[2]) else (200, "service healthy")
        elif parts[0] == "redirect":
            status, body, headers = 302, "moved", {"Location": "/ok"}
        elif parts[0] == "gate":
            from pathlib import Path

            up = Path("/" + "/".join(parts[1:])).exists()
            status, body = (200, "service healthy") if up else (503, "down")
        data = body.encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            if send_body:
                self.wfile.write(data)
        except OSError:
            pass


@contextmanager
def serve() -> Iterator[LocalHTTP]:
    """A fresh server on a free loopback port, shut down whatever the test did."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.state = LocalHTTP(port=server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield server.state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released): connecting is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
