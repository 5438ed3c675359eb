"""The adapters the outbox (engine/jobs/outbox.py) hands each operation to, builtin and http.

An adapter takes `(session, row, settings)` and returns `(result, reply)`: the row's result and
the message it sends back to the instance (a `Reply`, or None). Built-in adapters that write to
the database with the session (the payment ledger, staff notices) run so, inside the row's record
transaction.

Adapters that only talk to another system (HTTP providers, the notification gateways, SMTP) are
`Remote`: their `call` needs no database, so the dispatcher runs many at once in a thread pool,
outside any transaction, and then writes each answer with `record` in the row's own short
transaction. `prepare` reads, beforehand, what a call needs from the database (a customer's
contact). A Remote is still an adapter: called with a session it does all three in turn.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable

from sqlalchemy.orm import Session

from engine import clock, integrations, money, notifications, payments, signatures, staff_digest
from engine.models import Outbox

MAX_ANSWER = 1024 * 1024
# What a provider answers when it takes a call and sends the result later, by callback.
ACCEPTED = frozenset({"accepted", "processing", "queued"})


class Reply:
    """A message an adapter sends back to the instance (`message_id`: how the instance knows
    it again; the outbox row's key when None)."""

    def __init__(self, name: str, payload: dict, message_id: str | None = None):
        self.name, self.payload, self.message_id = name, payload, message_id


def _nothing_to_prepare(session: Session, row: Outbox, settings) -> None:
    return None


@dataclass(frozen=True)
class Remote:
    """An adapter whose effect happens on another system.

    `call(plan, row, settings)` -> the other side's answer: no session, safe to run in a worker
    thread (it only reads the row's loaded fields); `record(session, row, answer, settings)` ->
    (result, reply); `prepare(session, row, settings)` -> the plan the call needs.
    """

    call: Callable[[Any, Outbox, Any], Any]
    record: Callable[[Session, Outbox, Any, Any], tuple[dict, Reply | None]]
    prepare: Callable[[Session, Outbox, Any], Any] = _nothing_to_prepare

    def __call__(self, session: Session, row: Outbox, settings) -> tuple[dict, Reply | None]:
        return self.record(session, row, self.call(self.prepare(session, row, settings), row,
                                                   settings), settings)


def post_json(settings, url: str, body: dict, idempotency_key: str):
    """POST `body` as JSON with the Idempotency-Key header, signed with the platform's
    outgoing secret (engine/signatures.py), waiting at most `settings.outbox_timeout` seconds
    for each step of the exchange; the provider's JSON answer."""
    raw = json.dumps(body).encode()
    request = urllib.request.Request(url, data=raw, method="POST",
                                     headers={"Content-Type": "application/json",
                                              "Idempotency-Key": idempotency_key,
                                              **signatures.outgoing_headers(settings, raw)})
    try:
        with urllib.request.urlopen(request, timeout=settings.outbox_timeout) as response:
            return json.loads(response.read(MAX_ANSWER))
    except urllib.error.HTTPError as err:
        err.close()         # its answer's socket: the outbox keeps the error as the outcome
        raise


# ------------------------------------------------------------------ payments

def _settled(session: Session, row: Outbox, kind: str, status: str, *, reference=None,
             provider_status=None) -> tuple[dict, Reply]:
    entry = payments.settle(session, row.idempotency_key, status, reference=reference,
                            provider_status=provider_status)
    result = payments.result_of(entry)
    return result, Reply(payments.RESULT_MESSAGES[kind], result,
                         payments.reply_id(row.idempotency_key))


def _builtin_payment(kind: str):
    """The demo's payment provider: pays at once what the ledger holds (a real provider is
    the HTTP adapter below)."""
    def adapter(session: Session, row: Outbox, settings) -> tuple[dict, Reply | None]:
        return _settled(session, row, kind, "paid", reference=f"{kind[:3].upper()}-{row.id:08d}")
    return adapter


def _http_payment(kind: str) -> Remote:
    """A payment provider over HTTP: POST {kind, request_no, idempotency_key, amount, currency}
    with the Idempotency-Key header. Its answer {status: paid|failed, reference} settles it;
    any other status (accepted, processing) leaves it pending until the provider's callback
    (engine.payments.receive_result). An answer naming another amount than the ledger's settles
    nothing and makes the row an incident, as such a callback does (payments.hold_other_amount)."""
    def call(plan, row: Outbox, settings):
        return post_json(settings, integrations.http_url(settings, row.operation), {
            "kind": kind, "request_no": row.business_key, "idempotency_key": row.idempotency_key,
            "amount": money.text(row.payload["amount"]), "currency": money.CURRENCY},
            row.idempotency_key)

    def record(session: Session, row: Outbox, answer, settings) -> tuple[dict, Reply | None]:
        status = answer.get("status") if isinstance(answer, dict) else None
        reference = answer.get("reference") if isinstance(answer, dict) else None
        reference = reference if isinstance(reference, str) else None
        if status in payments.SETTLED:
            held = payments.hold_other_amount(session, payments.by_key(session, row.idempotency_key),
                                              answer.get("amount"), status, "amount")
            if held is not None:
                return {"held": held.message}, None
            return _settled(session, row, kind, status, reference=reference,
                            provider_status=str(status))
        payments.note_provider(session, row.idempotency_key, reference=reference,
                               provider_status=str(status))
        return answer if isinstance(answer, dict) else {"answer": answer}, None
    return Remote(call, record)


# ------------------------------------------------------------------ other operations

def _post_operation(plan, row: Outbox, settings):
    return post_json(settings, integrations.http_url(settings, row.operation), {
        "operation": row.operation, "request_no": row.business_key,
        "idempotency_key": row.idempotency_key, "payload": row.payload}, row.idempotency_key)


def _operation_answer(session: Session, row: Outbox, answer, settings) -> tuple[dict, Reply | None]:
    """An answer {status: accepted} means the result comes later as the contract's callback
    message (naming `idempotency_key`); any other object is the result itself."""
    if not isinstance(answer, dict):
        raise ValueError(f"the provider answered {type(answer).__name__}, not a JSON object")
    result = integrations.contract(row.operation).result
    if answer.get("status") in ACCEPTED or result is None:
        return answer, None
    return answer, Reply(result, answer)


# Any other operation over HTTP: POST {operation, request_no, idempotency_key, payload}.
_http_call = Remote(_post_operation, _operation_answer)


def off(session: Session, row: Outbox, settings) -> tuple[dict, Reply | None]:
    """Nothing is called: another system acts on its own and calls back with the result."""
    return {"adapter": "off"}, None


def _book_pickup(session: Session, row: Outbox, settings) -> tuple[dict, Reply | None]:
    # The built-in courier books the next day's morning slot (a real courier API replaces this).
    start = (clock.now() + timedelta(days=1)).replace(hour=1, minute=0, second=0, microsecond=0)
    result = {"slot_start": start.isoformat(), "slot_end": (start + timedelta(hours=3)).isoformat(),
              "booking": f"PK-{row.id:08d}"}
    return result, Reply("pickup_booked", result)


def _ship(session: Session, row: Outbox, settings) -> tuple[dict, Reply | None]:
    return {"tracking_no": f"SF{row.id:010d}"}, None


def _as_sent(session: Session, row: Outbox, answer: dict, settings) -> tuple[dict, None]:
    return answer, None


BUILTIN = {"payment.refund": _builtin_payment("refund"),
           "payment.clawback": _builtin_payment("clawback"),
           "courier.book_pickup": _book_pickup, "shipping.ship": _ship,
           # Email over SMTP, SMS and WeChat gateways (engine/notifications.py); staff
           # notices wait for their department's digest (engine/staff_digest.py).
           "notify.customer": Remote(notifications.send, _as_sent, notifications.prepare),
           "notify.staff": staff_digest.notice}
HTTP = {"payment.refund": _http_payment("refund"), "payment.clawback": _http_payment("clawback"),
        "courier.book_pickup": _http_call, "shipping.ship": _http_call,
        "notify.customer": _http_call, "notify.staff": _http_call}
