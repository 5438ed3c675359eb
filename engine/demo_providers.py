"""The demo's payment provider and courier: a small HTTP server on loopback that plays the other
side of the platform's http adapters, so that a newcomer sees the whole loop of an external
operation (engine/integrations.py) — the platform's signed call, the provider's "accepted", and
the result coming back later as a signed callback.

- `POST /payment` takes `payment.refund` and `payment.clawback` as the platform's http payment
  adapter sends them (`{kind, request_no, idempotency_key, amount}`), answers
  `{"status": "accepted", "reference": ...}` and, `delay` seconds later, posts
  `refund_result` / `clawback_result` `{status: paid, amount, reference, idempotency_key}` to the
  platform's `POST /api/messages` as the `payment` machine user.
- `POST /courier` takes `courier.book_pickup` (`{operation, request_no, idempotency_key,
  payload}`), answers `{"status": "accepted", "booking": ...}`, calls back `pickup_booked` with
  the next morning's slot after `delay`, and `picked_up` after `pickup_delay` more.
- `GET /payment/statement?date=` lists the payments it made, for the daily reconciliation
  (engine/reconciliation.py): all of them, whatever the date (a demo runs for hours, and a
  payment of another day that agrees with the ledger is no disagreement).

Like a real provider it checks the platform's signature on every call (X-Aftersales-Signature
under the platform's outgoing secret, engine/signatures.py) and refuses a call without a good one
(401); it signs each callback with the calling machine user's client secret and sends that user's
bearer token. A call repeated with the same idempotency key gets the first answer again and no
second callback, so nothing is paid twice. It uses the standard library only (http.server,
urllib), so the engine stays free of web frameworks.
"""
from __future__ import annotations

import heapq
import itertools
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

from engine import clock, signatures

MAX_BODY = 64 * 1024
CALLBACK_ATTEMPTS = 5          # a platform that does not answer yet is tried again, 1, 2, 4... s
CALLBACK_TIMEOUT = 10.0        # seconds per callback
REFERENCE = {"refund": "RF", "clawback": "CB"}


@dataclass(frozen=True)
class Client:
    """How a provider calls the platform back: as machine user `username`, with its bearer
    token and its client secret (engine/client_secrets.py)."""

    username: str
    token: str
    secret: str


class Refused(Exception):
    """A call the provider will not take: `status` and the message it answers with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class DemoProviders:
    """The payment provider and the courier, serving on `host`:`port` (0: a free port) in a
    thread from construction until `stop()`. `call_back(platform_url, clients)` says where the
    platform is and as whom each side calls it ("payment", "courier"); until then calls are
    refused (503). `say(line)` hears what happens, for the console."""

    def __init__(self, outgoing_secret: str, *, host: str = "127.0.0.1", port: int = 0,
                 delay: float = 2.0, pickup_delay: float = 10.0,
                 say: Callable[[str], None] = lambda line: None):
        self.outgoing_secret, self.delay, self.pickup_delay, self.say = \
            outgoing_secret, delay, pickup_delay, say
        self.platform_url: str | None = None
        self.clients: dict[str, Client] = {}
        self.answers: dict[str, dict] = {}       # idempotency key -> the first answer
        self.payments: list[dict] = []           # what the statement lists
        self.callbacks: list[dict] = []          # {name, correlation, status}, as sent
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        self._queue = _Queue()
        self.server = _Server((host, port), _handler(self))
        self.url = f"http://{host}:{self.server.server_port}"
        self._threads = [threading.Thread(target=self.server.serve_forever, daemon=True,
                                          name="demo-providers"),
                         threading.Thread(target=self._queue.run, daemon=True,
                                          name="demo-provider-callbacks")]
        for thread in self._threads:
            thread.start()

    @property
    def payment_url(self) -> str:
        return self.url + "/payment"

    @property
    def courier_url(self) -> str:
        return self.url + "/courier"

    def settings(self, adapters: dict | None = None, http_urls: dict | None = None) -> dict:
        """The engine.config.Settings fields that send payments and courier bookings here
        (http adapters with this server's URLs), over the `adapters` and `http_urls` chosen
        otherwise."""
        return {"payment_adapter": "http", "payment_http_url": self.payment_url,
                "adapters": {**(adapters or {}), "payment.refund": "http",
                             "payment.clawback": "http", "courier.book_pickup": "http"},
                "http_urls": {**(http_urls or {}), "payment": self.payment_url,
                              "courier": self.courier_url}}

    def call_back(self, platform_url: str, clients: dict[str, Client]) -> None:
        self.platform_url, self.clients = platform_url.rstrip("/"), dict(clients)

    def stop(self) -> None:
        """Stop serving and drop the callbacks not sent yet."""
        self._queue.stop()
        self.server.shutdown()
        self.server.server_close()
        for thread in self._threads:
            thread.join()

    # ------------------------------------------------------------ the calls it takes

    def take(self, method: str, path: str, headers, raw: bytes) -> dict | list:
        """The answer to one call of the platform. Raises Refused."""
        header = headers.get(signatures.HEADER)
        if not header:
            raise Refused(401, f"unsigned call refused: send {signatures.HEADER} signed with "
                               "the platform's outgoing secret")
        try:
            signatures.verify([self.outgoing_secret], raw, header)
        except signatures.BadSignature as err:
            raise Refused(401, f"the platform's signature was refused: {err}") from None
        if self.platform_url is None:
            raise Refused(503, "the demo providers do not know where the platform is yet")
        url = urllib.parse.urlsplit(path)
        if method == "GET" and url.path == "/payment/statement":
            return list(self.payments)
        if method != "POST" or url.path not in ("/payment", "/courier"):
            raise Refused(404, f"no {method} {url.path} here: POST /payment or /courier")
        body = _json_object(raw)
        key = body.get("idempotency_key")
        if not isinstance(key, str) or not key or not isinstance(body.get("request_no"), str):
            raise Refused(422, "a call names its request_no and its idempotency_key")
        with self._lock:
            if key in self.answers:               # the same call again: the same answer
                return self.answers[key]
            take = self._payment if url.path == "/payment" else self._booking
            answer = self.answers[key] = take(body, key)
        return answer

    def _payment(self, body: dict, key: str) -> dict:
        kind, amount = body.get("kind"), body.get("amount")
        if kind not in ("refund", "clawback") or not isinstance(amount, str):
            raise Refused(422, "a payment is {kind: refund|clawback, amount: \"12.50\"}")
        reference = f"DEMO-{REFERENCE[kind]}-{next(self._numbers):06d}"
        self.say(f"payment provider: {kind} of {amount} for {body['request_no']} accepted "
                 f"({reference}); paying it, the result follows in {self.delay:g} s")
        self.payments.append({"idempotency_key": key, "reference": reference, "status": "paid",
                              "amount": amount})
        self._later(self.delay, "payment", f"{kind}_result", body["request_no"], {
            "status": "paid", "amount": amount, "reference": reference,
            "idempotency_key": key})
        return {"status": "accepted", "reference": reference}

    def _booking(self, body: dict, key: str) -> dict:
        if body.get("operation") != "courier.book_pickup":
            raise Refused(422, "the courier takes courier.book_pickup only")
        booking = f"DEMO-PK-{next(self._numbers):06d}"
        start = (clock.now() + timedelta(days=1)).replace(hour=1, minute=0, second=0,
                                                          microsecond=0)
        self.say(f"courier: pickup for {body['request_no']} accepted ({booking}); the slot "
                 f"follows in {self.delay:g} s, the pickup {self.pickup_delay:g} s after")
        self._later(self.delay, "courier", "pickup_booked", body["request_no"], {
            "slot_start": start.isoformat(), "slot_end": (start + timedelta(hours=3)).isoformat(),
            "booking": booking, "idempotency_key": key})
        self._later(self.delay + self.pickup_delay, "courier", "picked_up", body["request_no"],
                    {"waybill": booking.replace("PK", "SF"), "courier": "demo courier"},
                    message_id=f"picked_up:{key}", stamp="picked_up_at")
        return {"status": "accepted", "booking": booking}

    # ------------------------------------------------------------ the callbacks it sends

    def _later(self, seconds: float, sender: str, name: str, correlation: str, payload: dict,
               message_id: str | None = None, stamp: str | None = None) -> None:
        def send():
            body = {"name": name, "correlation": correlation,
                    "payload": dict(payload, **({stamp: clock.now().isoformat()} if stamp
                                                else {}))}
            if message_id is not None:
                body["message_id"] = message_id
            self._send(sender, body)
        self._queue.put(seconds, send)

    def _send(self, sender: str, body: dict) -> None:
        """POST one callback to the platform, signed as `sender`; a platform that is not
        there, or answers 5xx, is tried again a few times."""
        client = self.clients.get(sender)
        if client is None:
            self.say(f"{sender}: no client credentials; {body['name']} not sent")
            return
        raw = json.dumps(body).encode()
        for attempt in range(CALLBACK_ATTEMPTS):
            status, answer = _post(self.platform_url + "/api/messages", raw, {
                "Authorization": f"Bearer {client.token}",
                signatures.HEADER: signatures.sign(client.secret, raw)})
            if status is not None and status < 500:
                break
            if not self._queue.wait(2 ** attempt):
                return                                       # stopped
        with self._lock:
            self.callbacks.append({"name": body["name"], "correlation": body["correlation"],
                                   "status": status})
        self.say(f"{sender}: {body['name']} for {body['correlation']} sent, signed as "
                 f"{client.username}: the platform answered {status} {answer}")


def _json_object(raw: bytes) -> dict:
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise Refused(400, "the body must be a JSON object")
    return body


def _post(url: str, raw: bytes, headers: dict) -> tuple[int | None, str]:
    """(status, the answer's text) of a JSON POST; (None, why) when nobody answered."""
    request = urllib.request.Request(url, data=raw, method="POST",
                                     headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=CALLBACK_TIMEOUT) as response:
            return response.status, response.read(2000).decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        with err:           # its answer's socket, held as long as the error lives otherwise
            return err.code, err.read(2000).decode("utf-8", "replace")
    except OSError as err:
        return None, str(err)


class _Server(ThreadingHTTPServer):
    # The dispatcher calls providers many at a time: more connections than socketserver's
    # default backlog of 5 would be reset.
    request_queue_size = 128
    daemon_threads = True


def _handler(providers: DemoProviders):
    class Handler(BaseHTTPRequestHandler):
        def _serve(self):
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                return self._answer(413, {"error": f"bodies are at most {MAX_BODY} bytes"})
            raw = self.rfile.read(length) if length else b""
            try:
                self._answer(200, providers.take(self.command, self.path, self.headers, raw))
            except Refused as err:
                self._answer(err.status, {"error": str(err)})

        def _answer(self, status: int, body) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        do_GET = do_POST = _serve

        def log_message(self, *args):        # what happens is told through `say`
            pass
    return Handler


class _Queue:
    """Callbacks due after a delay, run one at a time by one thread, in due order."""

    def __init__(self):
        self._due: list = []
        self._order = itertools.count()
        self._changed = threading.Condition()
        self._stopped = False

    def put(self, seconds: float, job: Callable[[], None]) -> None:
        with self._changed:
            heapq.heappush(self._due, (time.monotonic() + seconds, next(self._order), job))
            self._changed.notify()

    def wait(self, seconds: float) -> bool:
        """Sleep `seconds` unless stopped first; False when stopped."""
        with self._changed:
            return not self._changed.wait_for(lambda: self._stopped, timeout=seconds)

    def stop(self) -> None:
        with self._changed:
            self._stopped = True
            self._changed.notify_all()

    def run(self) -> None:
        while True:
            with self._changed:
                while not self._stopped and (
                        not self._due or self._due[0][0] > time.monotonic()):
                    self._changed.wait(self._due[0][0] - time.monotonic() if self._due else None)
                if self._stopped:
                    return
                _, _, job = heapq.heappop(self._due)
            job()
