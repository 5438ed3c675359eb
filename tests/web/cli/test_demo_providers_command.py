"""`aftersales demo --providers` in a process of its own, as .ci/demo starts it for a newcomer:
the demo's data, the app served with its scheduler, and the demo's payment provider beside it.
Approving the refund that waits for finance ends, without anything else done, in the provider's
signed callback paying it; the console says what happened.
"""
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

from click.testing import CliRunner

from engine import demo
from tests.conftest import ROOT
from web.cli import main


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Console:
    """The command's output, collected by a thread as it comes."""

    def __init__(self, stream):
        self.lines: list[str] = []
        self.thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            self.lines.append(line)

    def text(self) -> str:
        return "".join(self.lines)


def wait_for(check, what: str, seconds: float = 60.0):
    deadline = time.monotonic() + seconds
    while True:
        try:
            found = check()
        except OSError:
            found = None
        if found:
            return found
        assert time.monotonic() < deadline, f"no {what} within {seconds:g} s"
        time.sleep(0.2)


def api(base: str, method: str, path: str, body=None, token: str | None = None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(base + path, method=method, headers=headers,
                                     data=json.dumps(body).encode() if body is not None else None)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_the_demo_with_providers_pays_an_approved_refund_by_signed_callback(tmp_path):
    port, providers_port = free_port(), free_port()
    env = dict(os.environ, AFTERSALES_DATABASE_URL=f"sqlite:///{tmp_path / 'demo.sqlite'}")
    env.pop("AFTERSALES_SECRET_KEY", None)
    base = f"http://127.0.0.1:{port}"
    with subprocess.Popen([sys.executable, "-m", "web.cli", "demo", "--providers",
                           "--port", str(port), "--providers-port", str(providers_port),
                           "--delay", "0.2"], cwd=ROOT, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as server:
        console = Console(server.stdout)
        try:
            wait_for(lambda: api(base, "GET", "/api/openapi.json")[0] == 200, "app")
            wait_for(lambda: "demo providers on" in console.text(), "providers' banner")
            assert f"demo providers on http://127.0.0.1:{providers_port}" in console.text()
            assert f"they call back {base}/api/messages" in console.text()

            token = api(base, "POST", "/api/auth/token",
                        {"username": "fin_1", "password": demo.PASSWORD})[1]["token"]
            [task] = api(base, "GET", "/api/tasks", token=token)[1]["items"]
            assert task["bpmn_id"] == "approve_refund"
            number = task["request_number"]
            done = api(base, "POST", f"/api/tasks/{task['task_id']}/complete", {"data": {
                "refund_approved": True, "refund_amount": 399, "refund_note": "ok"}}, token)
            assert done[0] == 200, done

            def paid():
                items = api(base, "GET", f"/api/requests/{number}/payments",
                            token=token)[1]["items"]
                return [p for p in items if p["status"] == "paid"]
            [payment] = wait_for(paid, "payment paid by the provider's callback")
            assert payment["amount"] == "399.00" and payment["reference"].startswith("DEMO-RF-")
            wait_for(lambda: f"refund_result for {number} sent, signed as payment: the platform "
                             "answered 200" in console.text(), "callback told on the console")
            unsigned = urllib.request.Request(f"http://127.0.0.1:{providers_port}/payment",
                                              data=b"{}", method="POST")
            try:
                urllib.request.urlopen(unsigned, timeout=10)
                refused = None
            except urllib.error.HTTPError as err:
                refused = err.code
            assert refused == 401
        finally:
            server.send_signal(signal.SIGTERM)
            assert server.wait(timeout=30) == 0, console.text()


def test_a_providers_port_already_taken_is_refused_before_anything_is_done(tmp_path,
                                                                           monkeypatch):
    database = tmp_path / "demo.sqlite"
    monkeypatch.setenv("AFTERSALES_DATABASE_URL", f"sqlite:///{database}")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(main, ["demo", "--providers", "--providers-port", str(port)])
    assert result.exit_code == 1
    assert f"port {port} on 127.0.0.1 cannot be used" in result.output
    assert "--providers-port" in result.output and not database.exists()
