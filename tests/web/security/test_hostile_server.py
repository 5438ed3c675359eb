"""Hostile input against a real `aftersales serve`: each case is refused with a clean 4xx while
the server answers GET /api/health within a second, and `aftersales audit verify` passes
afterwards (the in-process suite, test_hostile_input.py, runs every case; this one shows the
server itself, with gunicorn and its threads, stays up)."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

from tests.conftest import ROOT

HEALTH_LIMIT = 1.0
ENV_KEY = "a test key that nobody published, 40+ chars long"


def http(base: str, method: str, path: str, body: bytes | None = None, token: str | None = None,
         content_type: str = "application/json", timeout: float = 30) -> tuple[int, dict]:
    """(status, JSON body) of one request to the server."""
    headers = {"Content-Type": content_type}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(base + path, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


@pytest.fixture
def server(world, db_url, tmp_path):
    """A served app on the world's database: its base URL (the in-process app has only
    written the world; the server is the one that answers)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = dict(os.environ, AFTERSALES_DATABASE_URL=db_url, AFTERSALES_SECRET_KEY=ENV_KEY,
               AFTERSALES_ARCHIVE_DIR=str(tmp_path / "archive"))
    base = f"http://127.0.0.1:{port}"
    with subprocess.Popen([sys.executable, "-m", "web.cli", "serve", "--port", str(port),
                           "--no-scheduler"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL) as process:
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if http(base, "GET", "/api/health", timeout=2) == (200, {"status": "ok"}):
                        break
                except OSError:
                    pass
                assert process.poll() is None and time.monotonic() < deadline, \
                    "the server did not answer its health check within 30 s"
                time.sleep(0.2)
            yield base, env
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)


def nested(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


def filing(reason_json: str, **fields) -> bytes:
    rest = "".join(f', {json.dumps(k)}: {v}' for k, v in fields.items())
    return ('{"order_id": "O-1001", "type": "complaint", "reason": %s%s}'
            % (reason_json, rest)).encode("utf-8", "surrogatepass")


CASES = [
    ("100,000 levels of lists", "POST", "/api/requests", filing(nested(100_000)), 400),
    ("items nested 600 deep", "POST", "/api/requests", filing('"r"', items=nested(600)), 422),
    ("NaN", "POST", "/api/requests", filing("NaN"), 422),
    ("1e999", "POST", "/api/requests", filing("1e999"), 422),
    ("a lone surrogate", "POST", "/api/requests", filing('"\\ud800"'), 422),
    ("NUL in a key", "POST", "/api/requests", filing('"r"', **{"\\u0000": 1}), 422),
    ("a 900 KB string", "POST", "/api/requests", filing(json.dumps("x" * 900_000)), 422),
    ("NUL in a query", "GET", "/api/requests?customer_id=%00", None, 422),
    ("NUL in a path", "GET", "/api/orders/O%001", None, 422),
    ("items: ['x']", "POST", "/api/requests", filing('"r"', items='["x"]'), 422),
]


@pytest.mark.timing
def test_a_served_app_refuses_hostile_input_and_stays_healthy(server):
    base, env = server
    status, answer = http(base, "POST", "/api/auth/token",
                          json.dumps({"username": "alice", "password": "correct horse battery"})
                          .encode())
    assert status == 200, answer
    token = answer["token"]
    status, filed = http(base, "POST", "/api/requests", filing('"does not work"'), token)
    assert status == 201, filed
    slowest = {}
    for name, method, path, body, expected in CASES:
        outcome: dict = {}
        sender = threading.Thread(target=lambda: outcome.update(
            answer=http(base, method, path, body, token)))
        sender.start()
        worst = 0.0
        while True:
            began = time.monotonic()
            assert http(base, "GET", "/api/health", timeout=5)[0] == 200
            worst = max(worst, time.monotonic() - began)
            if not sender.is_alive():
                break
            time.sleep(0.02)
        sender.join()
        status, answer = outcome["answer"]
        assert status == expected, (name, status, answer)
        assert set(answer) == {"error"} and answer["error"]["message"], (name, answer)
        slowest[name] = worst
    assert {n: s for n, s in slowest.items() if s >= HEALTH_LIMIT} == {}
    verified = subprocess.run([sys.executable, "-m", "web.cli", "audit", "verify"], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=120)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.startswith("ok: 1 instance(s)"), verified.stdout
