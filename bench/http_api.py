"""Throughput over HTTP: the JSON API under gunicorn, one client, durable SQLite.

The server is `gunicorn "web:create_app()"` with one worker and 8 threads (as `aftersales serve`
runs it, without the background scheduler: the benchmark itself sends the payment provider's
message, so no outbox delivery may race it). The client drives refund-first after-sales
requests end to end, each request one HTTP call and one transaction:

  customer   POST /api/requests                       (starts aftersales_request)
  finance    GET  /api/tasks?department=finance        POST /api/tasks/{id}/complete
  payment    POST /api/messages  refund_result
  customer   POST /api/requests/{no}/shipped
  warehouse  GET  /api/tasks?department=warehouse      POST /api/tasks/{id}/complete
  customer   POST /api/requests/{no}/rating

The API starts only after-sales requests (there is no route that starts an arbitrary process),
so the one-step and two-step workloads have no HTTP figure.

Usage: python -m bench.http_api --n 100
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import http.client
import io
import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

from bench.common import BPMN_DIR, ROOT, platform, rate
from engine import client_secrets, clock, orders, signatures, users
from web.cli.operations import WORKER_TMP_DIR

PASSWORD = "benchmark password"
FAST_HASH = "pbkdf2:sha256:1000"     # logins are not what is measured
PEOPLE = {"alice": ("customer", None, "C001"), "finance_1": ("staff", "finance", None),
          "warehouse_1": ("staff", "warehouse", None), "payment": ("payment", None, None)}


class Client:
    """Calls the API as its users, each thread over a kept-alive connection of its own (as a
    browser or a provider's HTTP client does)."""

    def __init__(self, port: int):
        self.port = port
        self.tokens: dict[str, str] = {}
        self.secrets: dict[str, str] = {}      # machine callers sign their bodies
        self.calls = 0
        self._local = threading.local()
        self._opened: list[http.client.HTTPConnection] = []

    def _connection(self) -> http.client.HTTPConnection:
        if getattr(self._local, "conn", None) is None:
            self._local.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            self._opened.append(self._local.conn)
        return self._local.conn

    def close(self) -> None:
        for conn in self._opened:
            conn.close()

    def call(self, method: str, path: str, body=None, as_: str | None = None) -> dict:
        headers = {"Content-Type": "application/json"}
        raw = None if body is None else json.dumps(body).encode()
        if as_ is not None:
            headers["Authorization"] = f"Bearer {self.tokens[as_]}"
        if as_ in self.secrets:
            headers[signatures.HEADER] = signatures.sign(self.secrets[as_], raw or b"",
                                                         at=self.server_time())
        try:
            response = self._send(method, path, raw, headers)
        except (http.client.RemoteDisconnected, ConnectionError):   # the server closed it
            self._local.conn.close()
            self._local.conn = None
            response = self._send(method, path, raw, headers)
        data = response.read()
        self.calls += 1
        if response.status >= 400:
            raise RuntimeError(f"{method} {path} -> {response.status}: {data[:300]!r}")
        return json.loads(data) if data else {}

    def _send(self, method, path, raw, headers) -> http.client.HTTPResponse:
        conn = self._connection()
        conn.request(method, path, body=raw, headers=headers)
        return conn.getresponse()

    @staticmethod
    def server_time() -> datetime:
        """The server's clock, not this process's (which the tests may have frozen)."""
        return datetime.now(timezone.utc)

    def resend(self, sent: list) -> None:
        """Send requests as InApp kept them (method, path, body, headers), reading each answer
        whatever it is."""
        for method, path, raw, headers in sent:
            self._send(method, path, raw, headers).read()

    def login(self, username: str) -> None:
        self.tokens[username] = self.call("POST", "/api/auth/token",
                                          {"username": username, "password": PASSWORD})["token"]

    def open_task(self, department: str, number: str, as_: str) -> str:
        items = self.call("GET", f"/api/tasks?department={department}&per_page=100", as_=as_)["items"]
        [task] = [t for t in items if t["request_number"] == number]
        return task["task_id"]


class InApp(Client):
    """The same calls made to the Flask app as a WSGI callable in this process: no gunicorn,
    socket or HTTP parsing. (Not werkzeug's test client: its environ builder and cookie jar
    would be measured with the app.) With `sent` a list, each request is kept in it as sent."""

    def __init__(self, app):
        super().__init__(port=0)
        self.app = app
        self.sent: list | None = None

    server_time = staticmethod(clock.now)        # the app's clock is this process's

    def _send(self, method, path, raw, headers) -> _Answer:
        if self.sent is not None:
            self.sent.append((method, path, raw, headers))
        route, _, query = path.partition("?")
        environ = {"REQUEST_METHOD": method, "PATH_INFO": route, "QUERY_STRING": query,
                   "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80", "REMOTE_ADDR": "127.0.0.1",
                   "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http",
                   "wsgi.input": io.BytesIO(raw or b""), "wsgi.errors": sys.stderr,
                   "wsgi.version": (1, 0), "wsgi.multithread": True, "wsgi.multiprocess": False,
                   "wsgi.run_once": False, "CONTENT_LENGTH": str(len(raw or b""))}
        for name, value in headers.items():
            key = name.upper().replace("-", "_")
            environ[key if key == "CONTENT_TYPE" else f"HTTP_{key}"] = value
        status = []
        body = b"".join(self.app(environ, lambda line, _headers, _exc=None: status.append(line)))
        return _Answer(int(status[0].split()[0]), body)


@dataclasses.dataclass
class _Answer:
    """What Client.call reads of an answer (as of an http.client.HTTPResponse)."""
    status: int
    body: bytes

    def read(self) -> bytes:
        return self.body


def refund_first(c: Client, i: int) -> None:
    filed = c.call("POST", "/api/requests", {"order_id": f"O-B{i}", "type": "return_refund",
                                             "reason": "too small"}, as_="alice")
    number = filed["number"]
    task = c.open_task("finance", number, "finance_1")
    c.call("POST", f"/api/tasks/{task}/complete",
           {"data": {"refund_approved": True, "refund_amount": 120.0, "refund_note": "ok"}},
           as_="finance_1")
    # The provider got the payment's idempotency key with the refund; it answers with it.
    [payment] = c.call("GET", f"/api/requests/{number}/payments", as_="finance_1")["items"]
    c.call("POST", "/api/messages", {"name": "refund_result", "correlation": number,
                                     "payload": {"status": "paid", "reference": f"RF-{i}",
                                                 "idempotency_key": payment["idempotency_key"]}},
           as_="payment")
    c.call("POST", f"/api/requests/{number}/shipped", {"tracking_no": f"SF{i:010d}", "carrier": "SF"},
           as_="alice")
    task = c.open_task("warehouse", number, "warehouse_1")
    c.call("POST", f"/api/tasks/{task}/complete",
           {"data": {"inspection_passed": True, "goods_condition": "as_new", "inspection_note": ""}},
           as_="warehouse_1")
    c.call("POST", f"/api/requests/{number}/rating", {"score": 5}, as_="alice")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(port: int, proc, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("gunicorn did not start listening")


def available() -> bool:
    try:
        import web  # noqa: F401
        return hasattr(web, "create_app")
    except ImportError:
        return False


def prepare(p, n: int) -> str:
    """Deploy bpmn/, add the benchmark's people and orders O-B-1 .. O-B{n-1}; returns the
    payment provider's signing secret."""
    p.deploy(BPMN_DIR)
    with p.sessions.begin() as session:
        for name, (role, department, customer_id) in PEOPLE.items():
            users.create_user(session, name, PASSWORD, role, department, customer_id,
                              method=FAST_HASH)
        payment_secret = client_secrets.ensure(session, "payment")
        # Filed by the server at its own time (this process's clock may be frozen): the
        # order was delivered 7 days before that, inside the 15-day return window.
        now = datetime.now(timezone.utc)
        order = {"customer_id": "C001", "category": "apparel", "currency": "CNY",
                 "paid_amount": "120.00", "shipping_address": "Shanghai",
                 "paid_at": (now - timedelta(days=10)).isoformat(),
                 "delivered_at": (now - timedelta(days=7)).isoformat(),
                 "warranty_until": (now + timedelta(days=300)).isoformat(),
                 "items": [{"sku": "TSHIRT-M", "name": "T-shirt", "quantity": 1,
                            "unit_price": "120.00"}]}
        for i in range(-1, n):       # the checks PUT /api/orders applies
            orders.upsert(session, f"O-B{i}", order)
    return payment_secret


def server_env(p, **extra) -> dict:
    """The environment of the platform's processes on `p`'s database, with a secret key of this
    run's own (the app refuses to start without one)."""
    return dict(os.environ, AFTERSALES_DATABASE_URL=p.url,
                AFTERSALES_ATTACHMENTS_DIR=str(p.folder / "attachments"),
                AFTERSALES_SECRET_KEY=secrets.token_urlsafe(48), **extra)


@contextlib.contextmanager
def gunicorn(target: str, env: dict, workers: int = 1, threads: int = 8):
    """gunicorn serving the WSGI app `target` (`workers` workers of `threads` threads) on a
    free port; yields (port, the master process)."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--threads", str(threads),
         "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
         *(["--worker-tmp-dir", WORKER_TMP_DIR] if WORKER_TMP_DIR else []), target],
        cwd=ROOT, env=env)
    try:
        _wait_for(port, server)
        yield port, server
    finally:
        stop(server)


@contextlib.contextmanager
def served(p, payment_secret: str, workers: int = 1, env: dict | None = None,
           threads: int = 8):
    """gunicorn (`workers` workers of `threads` threads) on `p`'s database; yields a Client
    signed in as every one of PEOPLE, with `.server` the gunicorn master process."""
    with gunicorn("web:create_app()", env or server_env(p), workers, threads) as (port, server):
        c = Client(port)
        try:
            c.server = server
            signed_in(c, payment_secret)
            yield c
        finally:
            c.close()


def signed_in(c: Client, payment_secret: str) -> Client:
    """`c` signed in as every one of PEOPLE, the payment provider's calls signed."""
    c.secrets["payment"] = payment_secret
    for name in PEOPLE:
        c.login(name)
    return c


def stop(process) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def measure(n: int) -> dict:
    """{"refund_first": instances/s, "http_calls_per_s", "calls"} with a durable database."""
    with platform(durable=True) as p, served(p, prepare(p, n)) as c:
        refund_first(c, -1)                      # warm up the worker's caches
        c.calls = 0
        t0 = time.perf_counter()
        for i in range(n):
            refund_first(c, i)
        seconds = time.perf_counter() - t0
    return {"refund_first": rate(n, seconds), "http_calls_per_s": rate(c.calls, seconds),
            "calls": c.calls}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100, help="after-sales requests to drive")
    args = parser.parse_args(argv)
    r = measure(args.n)
    print(f"refund-first over HTTP: {r['refund_first']:.1f} requests/s "
          f"({r['calls']} calls, {r['http_calls_per_s']:.0f} calls/s)")


if __name__ == "__main__":
    main()
