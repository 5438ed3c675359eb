"""A real HTTP server on 127.0.0.1 for tests of the platform's HTTP adapters (providers, the
shop): every request is recorded, and `answer(method, path, body)` says what to reply."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

from engine import signatures


class Received:
    """One request the server got: method, path, headers, the raw body and its JSON (or None)."""

    def __init__(self, method: str, path: str, headers, raw: bytes):
        self.method, self.path, self.headers, self.raw = method, path, headers, raw
        try:
            self.json = json.loads(raw) if raw else None
        except ValueError:
            self.json = None


class _Server(ThreadingHTTPServer):
    # As a provider's server would: a dispatcher opens dozens of connections at once, more than
    # socketserver's default backlog of 5 (the surplus would be reset).
    request_queue_size = 128


class LocalServer:
    """Serves in a thread until `stop()`; `url` is its base. `answer(received)` returns
    (status, body): a body that is not bytes is sent as JSON."""

    def __init__(self, answer: Callable[[Received], tuple[int, object]]):
        self.answer = answer
        self.received: list[Received] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                got = Received(self.command, self.path, dict(self.headers),
                               self.rfile.read(length) if length else b"")
                server.received.append(got)
                status, body = server.answer(got)
                raw = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = do_PUT = _serve

            def log_message(self, *args):
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def asked(self) -> list[str]:
        """The path (with its query) of every request, in order."""
        return [got.path for got in self.received]

    @property
    def signatures(self) -> list[str | None]:
        """The X-Aftersales-Signature header of every request (None where it had none)."""
        return [got.headers.get(signatures.HEADER) for got in self.received]

    def stop(self) -> None:
        if not self.thread.is_alive():
            return
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()
