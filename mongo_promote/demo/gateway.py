"""The demo's stand-in for Meeshy's gateway and frontend: an HTTP server on 127.0.0.1 (a free port,
a thread of its own) that answers 200 to every GET, so the bundled plan's health gate runs for real
against something local and passes. Stopped when the demo ends."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Healthy(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"status": "ok", "demo": true}\n'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return  # quiet: the gate's own lines say what it asked


@contextmanager
def local_gateway() -> Iterator[str]:
    """`http://127.0.0.1:<port>` answering 200 for the block's duration."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Healthy)
    thread = threading.Thread(target=server.serve_forever, name="demo-gateway", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
